//! What the training tests share: MNIST loaded once, small configs, temporary
//! directories, and the weights as bits.

#![allow(dead_code)] // each test binary uses its own part

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use gradlab_data::{Dataset, Mnist};
use gradlab_train::{Checkpoint, FitOptions, TrainConfig, Trainer};
use sha2::{Digest, Sha256};

/// The MNIST files that ship with gradlab, loaded once per test binary.
pub fn mnist() -> &'static Mnist {
    static DATA: OnceLock<Mnist> = OnceLock::new();
    DATA.get_or_init(|| {
        gradlab_data::load(concat!(env!("CARGO_MANIFEST_DIR"), "/../../datasets/mnist")).unwrap()
    })
}

/// The training set and the first `test` test examples.
pub fn data(test: usize) -> (Dataset, Dataset) {
    let m = mnist();
    (m.train.clone(), m.test.clone().limit(test))
}

/// A path of its own for the test `tag`, under Cargo's directory for test
/// files (so runs do not pile up in the system's), with nothing left there
/// by an earlier run: neither a directory or file of that name nor the log
/// beside it (`tag.csv`).
pub fn temp_dir(tag: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("gradlab-train-{tag}"));
    let _ = std::fs::remove_dir_all(&d);
    let _ = std::fs::remove_file(&d);
    let _ = std::fs::remove_file(d.with_extension("csv"));
    d
}

/// MLP 784-64-10 on the first `limit` examples, batches of 64, seed 3.
pub fn small(limit: usize, epochs: usize, optimizer: &str) -> TrainConfig {
    TrainConfig {
        hidden: vec![64],
        optimizer: optimizer.into(),
        batch_size: 64,
        epochs,
        seed: 3,
        limit: Some(limit),
        ..TrainConfig::default()
    }
}

/// Every weight's bits, parameter after parameter.
pub fn weights(t: &Trainer) -> Vec<u32> {
    t.model
        .params
        .iter()
        .flat_map(|(_, _, v)| v.data().iter().map(|x| x.to_bits()))
        .collect()
}

/// Options that save into `dir`.
pub fn save_in(dir: &Path) -> FitOptions {
    FitOptions {
        save: Some(dir.to_path_buf()),
        ..FitOptions::default()
    }
}

/// A run of `small(256, epochs, "adam")` on `data(100)`, saved in a
/// directory of its own for the test `tag`.
pub fn saved_run(tag: &str, epochs: usize) -> PathBuf {
    let dir = temp_dir(tag);
    let (train, test) = data(100);
    let mut t = Trainer::new(small(256, epochs, "adam"), train, test).unwrap();
    t.fit(&save_in(&dir), &mut |_| {}).unwrap();
    dir
}

/// The SHA-256 of each file of the newest checkpoint in `dir`, by name.
pub fn checkpoint_hashes(dir: &Path) -> Vec<(String, String)> {
    let latest = Checkpoint::latest(dir).unwrap();
    let mut files: Vec<(String, String)> = std::fs::read_dir(latest.path())
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let bytes = std::fs::read(e.path()).unwrap();
            let hash: String = Sha256::digest(&bytes)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            (e.file_name().to_string_lossy().into_owned(), hash)
        })
        .collect();
    files.sort();
    files
}
