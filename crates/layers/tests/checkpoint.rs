//! Weights round trip bitwise; every kind of damage is a clear error that
//! names the file and leaves the model unchanged.

use std::fs;
use std::path::{Path, PathBuf};

use gradlab_autodiff::Activation;
use gradlab_layers::{load_weights, save_weights, CheckpointError, Mlp, Module};

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("gradlab-ckpt-{tag}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    d
}

fn saved(tag: &str) -> (PathBuf, Mlp) {
    let dir = temp_dir(tag);
    let path = dir.join("model.safetensors");
    let mlp = Mlp::new(&[6, 5, 3], Activation::Tanh, 1).unwrap();
    save_weights(&path, &mlp.params, &[("note", "test".into())]).unwrap();
    (path, mlp)
}

fn assert_unchanged(mlp: &Mlp, fresh: &Mlp) {
    for ((_, _, a), (_, _, b)) in mlp.params.iter().zip(fresh.params.iter()) {
        assert_eq!(a, b, "a failed load must not change the model");
    }
}

#[test]
fn round_trip_is_bitwise() {
    let (path, mlp) = saved("roundtrip");
    let mut other = Mlp::new(&[6, 5, 3], Activation::Tanh, 2).unwrap();
    assert_ne!(
        other.params.get(mlp.net.params()[0]),
        mlp.params.get(mlp.net.params()[0])
    );
    let meta = load_weights(&path, &mut other.params).unwrap();
    assert_eq!(meta["note"], "test");
    for ((_, na, a), (_, nb, b)) in mlp.params.iter().zip(other.params.iter()) {
        assert_eq!(na, nb);
        assert_eq!(a.shape(), b.shape());
        assert!(a
            .data()
            .iter()
            .zip(b.data())
            .all(|(x, y)| x.to_bits() == y.to_bits()));
    }
    let names: Vec<&str> = mlp.params.iter().map(|(_, n, _)| n).collect();
    assert_eq!(
        names,
        [
            "layers.0.weight",
            "layers.0.bias",
            "layers.2.weight",
            "layers.2.bias"
        ]
    );
    assert_eq!(
        mlp.params.get(mlp.net.params()[0]).shape(),
        &[5, 6],
        "[out, in] like nn.Linear"
    );
}

fn load_err(path: &Path) -> CheckpointError {
    let mut mlp = Mlp::new(&[6, 5, 3], Activation::Tanh, 2).unwrap();
    let fresh = Mlp::new(&[6, 5, 3], Activation::Tanh, 2).unwrap();
    let err = load_weights(path, &mut mlp.params).unwrap_err();
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
    assert_unchanged(&mlp, &fresh);
    err
}

#[test]
fn truncated_file() {
    let (path, _) = saved("truncated");
    let bytes = fs::read(&path).unwrap();
    for keep in [4, 20, bytes.len() / 2, bytes.len() - 1] {
        fs::write(&path, &bytes[..keep]).unwrap();
        let err = load_err(&path);
        assert!(
            matches!(err, CheckpointError::Corrupt { .. }),
            "{keep}: {err}"
        );
    }
}

#[test]
fn flipped_bytes_in_header_and_data() {
    let (path, _) = saved("flipped");
    let bytes = fs::read(&path).unwrap();
    let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    // Every byte of the JSON header, flipped one at a time, is caught.
    for i in 8..8 + header_len {
        let mut b = bytes.clone();
        b[i] ^= 0x01;
        fs::write(&path, &b).unwrap();
        let mut mlp = Mlp::new(&[6, 5, 3], Activation::Tanh, 2).unwrap();
        let err = load_weights(&path, &mut mlp.params);
        assert!(
            err.is_err(),
            "flipping header byte {i} ({:?}) went unnoticed",
            bytes[i] as char
        );
    }
    let mut b = bytes.clone();
    b[8] ^= 0xff;
    fs::write(&path, &b).unwrap();
    assert!(matches!(load_err(&path), CheckpointError::Corrupt { .. }));
    let mut b = bytes.clone();
    let last = b.len() - 3;
    b[last] ^= 0x10;
    fs::write(&path, &b).unwrap();
    assert!(matches!(load_err(&path), CheckpointError::Checksum { .. }));
}

#[test]
fn mismatched_model() {
    let (path, _) = saved("mismatch");
    let mut wider = Mlp::new(&[6, 7, 3], Activation::Tanh, 2).unwrap();
    let err = load_weights(&path, &mut wider.params).unwrap_err();
    assert!(
        matches!(err, CheckpointError::Shape { ref name, .. } if name == "layers.0.weight"),
        "{err}"
    );
    let mut deeper = Mlp::new(&[6, 5, 5, 3], Activation::Tanh, 2).unwrap();
    let err = load_weights(&path, &mut deeper.params).unwrap_err();
    assert!(
        matches!(err, CheckpointError::Shape { ref name, .. } if name == "layers.2.weight"),
        "{err}"
    );
    let mut other_names = Mlp::new(&[6, 5, 3], Activation::Tanh, 2).unwrap();
    other_names.params = gradlab_autodiff::ParamStore::new();
    other_names
        .params
        .add("encoder.weight", gradlab_tensor::Tensor::zeros(&[5, 6]));
    let err = load_weights(&path, &mut other_names.params).unwrap_err();
    assert!(
        matches!(err, CheckpointError::Missing { ref name, .. } if name == "encoder.weight"),
        "{err}"
    );
    let mut shallower = Mlp::new(&[6, 3], Activation::Tanh, 2).unwrap();
    let err = load_weights(&path, &mut shallower.params).unwrap_err();
    assert!(
        matches!(
            err,
            CheckpointError::Shape { .. } | CheckpointError::Unexpected { .. }
        ),
        "{err}"
    );
}

#[test]
fn missing_file_and_foreign_file() {
    let dir = temp_dir("missing");
    let err = load_err(&dir.join("nothing.safetensors"));
    assert!(matches!(err, CheckpointError::Io { .. }), "{err}");
    // A valid safetensors file that gradlab did not write.
    let path = dir.join("foreign.safetensors");
    let data = [0u8; 8];
    let view =
        safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![2], &data).unwrap();
    fs::write(&path, safetensors::serialize([("x", view)], None).unwrap()).unwrap();
    assert!(matches!(load_err(&path), CheckpointError::Version { .. }));
}

#[test]
fn atomic_write_leaves_no_temporary_files() {
    let (path, mlp) = saved("atomic");
    save_weights(&path, &mlp.params, &[]).unwrap();
    let names: Vec<String> = fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["model.safetensors"]);
}

/// safetensors writes its metadata in `HashMap` order, which changes from
/// one process (and one map) to the next; gradlab's files do not.
#[test]
fn the_same_weights_give_the_same_bytes() {
    let mlp = Mlp::new(&[6, 5, 3], Activation::Tanh, 1).unwrap();
    let meta: Vec<(&str, String)> = ["config", "run", "note", "a", "z", "m"]
        .iter()
        .map(|k| (*k, format!("value of {k}")))
        .collect();
    let first = gradlab_layers::encode_weights(&mlp.params, &meta);
    for _ in 0..20 {
        assert!(gradlab_layers::encode_weights(&mlp.params, &meta) == first);
    }
    let dir = temp_dir("bytes");
    let path = dir.join("model.safetensors");
    save_weights(&path, &mlp.params, &meta).unwrap();
    assert!(fs::read(&path).unwrap() == first);
    // Still a valid file whose header lists the metadata in key order.
    let mut other = Mlp::new(&[6, 5, 3], Activation::Tanh, 2).unwrap();
    let read = load_weights(&path, &mut other.params).unwrap();
    assert_eq!(read["z"], "value of z");
    let header_len = u64::from_le_bytes(first[..8].try_into().unwrap()) as usize;
    let header = std::str::from_utf8(&first[8..8 + header_len]).unwrap();
    let keys = [
        "\"a\"",
        "\"checksum\"",
        "\"config\"",
        "\"format\"",
        "\"m\"",
        "\"note\"",
    ];
    let at: Vec<usize> = keys.iter().map(|k| header.find(k).unwrap()).collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "{header}");
}
