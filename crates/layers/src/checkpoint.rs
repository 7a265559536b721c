//! Weights on disk, as `.safetensors`.
//!
//! A weights file holds one f32 tensor per parameter, under the parameter's
//! name, plus string metadata: `format = "gradlab"`, `version`, and a
//! `checksum` (FNV-1a, 64 bits) of every tensor's bytes in name order, so that
//! a flipped bit in the data is caught as surely as a damaged header.
//! Tensors are row-major little-endian f32 exactly as PyTorch expects; a
//! [`Linear`](crate::Linear) weight is `[out, in]` like `nn.Linear.weight`.
//!
//! The same tensors and metadata always give the same bytes (the header's
//! keys are sorted), so two identical runs can be compared with `sha256sum`.
//!
//! Writes are atomic: the bytes go to a temporary file in the same directory,
//! which is flushed to disk and then renamed over the target, so a crash
//! leaves either the old file or the new one, never half of one. Loading
//! validates everything — format, version, checksum, names, dtypes, shapes —
//! before it changes a single parameter.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use gradlab_autodiff::ParamStore;
use gradlab_tensor::Tensor;
use safetensors::{Dtype, SafeTensors};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The version written into, and required of, gradlab's files.
pub const FORMAT_VERSION: &str = "1";

/// What can go wrong reading or writing a checkpoint. Every message names the
/// file.
#[derive(Debug, Error)]
pub enum CheckpointError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The file is not a readable safetensors file (truncated, damaged
    /// header, bad offsets).
    #[error("{path}: not a valid safetensors file ({reason}); the file is truncated or corrupt")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        reason: String,
    },
    /// The data does not match the checksum recorded in the header.
    #[error("{path}: checksum mismatch (header says {expected}, data gives {found}); the file is corrupt")]
    Checksum {
        /// The file.
        path: PathBuf,
        /// The recorded checksum.
        expected: String,
        /// The checksum of the data read.
        found: String,
    },
    /// The file was not written by gradlab, or by an incompatible version.
    #[error("{path}: format {found:?}, expected gradlab format version {FORMAT_VERSION:?}")]
    Version {
        /// The file.
        path: PathBuf,
        /// The format and version found.
        found: String,
    },
    /// A parameter of the model has no tensor in the file.
    #[error("{path}: no tensor named {name:?} (the file holds {found:?})")]
    Missing {
        /// The file.
        path: PathBuf,
        /// The parameter's name.
        name: String,
        /// The names in the file.
        found: Vec<String>,
    },
    /// The file holds a tensor the model has no parameter for.
    #[error("{path}: tensor {name:?} matches no parameter of the model (expected {expected:?})")]
    Unexpected {
        /// The file.
        path: PathBuf,
        /// The tensor's name.
        name: String,
        /// The model's parameter names.
        expected: Vec<String>,
    },
    /// A tensor's shape differs from its parameter's.
    #[error("{path}: tensor {name:?} has shape {found:?}, the model expects {expected:?}")]
    Shape {
        /// The file.
        path: PathBuf,
        /// The tensor's name.
        name: String,
        /// The model's shape.
        expected: Vec<usize>,
        /// The file's shape.
        found: Vec<usize>,
    },
    /// A tensor is not f32.
    #[error("{path}: tensor {name:?} has dtype {found}, expected F32")]
    Dtype {
        /// The file.
        path: PathBuf,
        /// The tensor's name.
        name: String,
        /// The dtype found.
        found: String,
    },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> CheckpointError + '_ {
    move |source| CheckpointError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes `bytes` to `path` atomically: temporary file, fsync, rename, and an
/// fsync of the directory so the rename itself is durable.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), CheckpointError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        // Not every platform can open a directory for syncing; the rename is
        // done either way.
        if let Ok(d) = File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(io_err(path))
}

/// FNV-1a, as 16 hex digits, over everything the file says except the
/// checksum itself: the metadata in key order, then each tensor's name,
/// shape and bytes in name order.
fn checksum<'a>(
    meta: &HashMap<String, String>,
    tensors: impl Iterator<Item = (&'a str, &'a [usize], &'a [u8])>,
) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |bytes: &[u8]| {
        for &b in bytes {
            h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
        }
    };
    let mut keys: Vec<_> = meta.iter().filter(|(k, _)| *k != "checksum").collect();
    keys.sort();
    for (k, v) in keys {
        feed(k.as_bytes());
        feed(&[0]);
        feed(v.as_bytes());
        feed(&[0]);
    }
    let mut sorted: Vec<_> = tensors.collect();
    sorted.sort_by_key(|(n, _, _)| *n);
    for (name, shape, data) in sorted {
        feed(name.as_bytes());
        feed(&[0]);
        for d in shape {
            feed(&(*d as u64).to_le_bytes());
        }
        feed(data);
    }
    format!("{h:016x}")
}

/// The bytes of a `.safetensors` file holding named f32 tensors, given as
/// `(name, shape, row-major data)`, and string metadata, with gradlab's
/// format, version and checksum added. Equal inputs give equal bytes.
pub fn encode_tensors<'a>(
    tensors: impl IntoIterator<Item = (String, &'a [usize], &'a [f32])>,
    metadata: &[(&str, String)],
) -> Vec<u8> {
    let bytes: Vec<(String, Vec<u8>, Vec<usize>)> = tensors
        .into_iter()
        .map(|(n, shape, data)| {
            assert_eq!(
                shape.iter().product::<usize>(),
                data.len(),
                "tensor {n}: shape and data differ"
            );
            (
                n,
                data.iter().flat_map(|x| x.to_le_bytes()).collect(),
                shape.to_vec(),
            )
        })
        .collect();
    let mut meta: HashMap<String, String> = metadata
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    meta.insert("format".into(), "gradlab".into());
    meta.insert("version".into(), FORMAT_VERSION.into());
    let sum = checksum(
        &meta,
        bytes
            .iter()
            .map(|(n, b, s)| (n.as_str(), s.as_slice(), b.as_slice())),
    );
    meta.insert("checksum".into(), sum);
    let views = bytes.iter().map(|(n, b, s)| {
        let view = safetensors::tensor::TensorView::new(Dtype::F32, s.clone(), b)
            .expect("a tensor's byte length matches its shape");
        (n.clone(), view)
    });
    let file = safetensors::serialize(views, Some(meta))
        .expect("f32 tensors whose lengths match their shapes serialize");
    with_sorted_header(file)
}

/// A safetensors header, with every map in key order.
#[derive(Serialize, Deserialize)]
struct SortedHeader {
    #[serde(rename = "__metadata__", default)]
    metadata: BTreeMap<String, String>,
    #[serde(flatten)]
    tensors: BTreeMap<String, serde_json::Value>,
}

/// The file with its JSON header rewritten in key order.
///
/// `safetensors::serialize` writes the metadata in the iteration order of a
/// `HashMap`, which differs from process to process (safetensors issue
/// #584), so the same tensors would give different bytes. The data offsets
/// in the header count from the end of the header, so a header of another
/// length leaves them valid.
fn with_sorted_header(file: Vec<u8>) -> Vec<u8> {
    let len = u64::from_le_bytes(file[..8].try_into().expect("8 bytes")) as usize;
    let header: SortedHeader = serde_json::from_slice(&file[8..8 + len])
        .expect("safetensors writes a JSON header of string metadata and tensor entries");
    let mut json = serde_json::to_vec(&header).expect("a header serializes");
    // The data starts 8-byte aligned, as safetensors pads it.
    json.resize(json.len().next_multiple_of(8), b' ');
    let mut out = Vec::with_capacity(8 + json.len() + file.len() - 8 - len);
    out.extend_from_slice(&(json.len() as u64).to_le_bytes());
    out.extend_from_slice(&json);
    out.extend_from_slice(&file[8 + len..]);
    out
}

/// Writes named f32 tensors and string metadata to a `.safetensors` file
/// ([`encode_tensors`]), atomically.
pub fn write_tensors<'a>(
    path: &Path,
    tensors: impl IntoIterator<Item = (String, &'a [usize], &'a [f32])>,
    metadata: &[(&str, String)],
) -> Result<(), CheckpointError> {
    write_atomic(path, &encode_tensors(tensors, metadata))
}

/// Named tensors and string metadata, as read from a file.
pub type TensorFile = (Vec<(String, Tensor)>, HashMap<String, String>);

/// Reads every tensor of a gradlab `.safetensors` file, validating format,
/// version, checksum and dtypes. Returns the tensors in name order and the
/// metadata.
pub fn read_tensors(path: &Path) -> Result<TensorFile, CheckpointError> {
    let bytes = fs::read(path).map_err(io_err(path))?;
    let corrupt = |e: safetensors::SafeTensorError| CheckpointError::Corrupt {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    let (_, header) = SafeTensors::read_metadata(&bytes).map_err(corrupt)?;
    let st = SafeTensors::deserialize(&bytes).map_err(corrupt)?;
    let meta = header.metadata().clone().unwrap_or_default();
    let found = |k: &str| meta.get(k).map(String::as_str).unwrap_or("none");
    if found("format") != "gradlab" || found("version") != FORMAT_VERSION {
        return Err(CheckpointError::Version {
            path: path.to_path_buf(),
            found: format!("{} {}", found("format"), found("version")),
        });
    }
    let mut views = st.tensors();
    views.sort_by(|a, b| a.0.cmp(&b.0));
    let sum = checksum(
        &meta,
        views.iter().map(|(n, v)| (n.as_str(), v.shape(), v.data())),
    );
    if sum != found("checksum") {
        return Err(CheckpointError::Checksum {
            path: path.to_path_buf(),
            expected: found("checksum").to_string(),
            found: sum,
        });
    }
    let mut out = Vec::with_capacity(views.len());
    for (name, view) in views {
        if view.dtype() != Dtype::F32 {
            return Err(CheckpointError::Dtype {
                path: path.to_path_buf(),
                name,
                found: format!("{:?}", view.dtype()),
            });
        }
        let data = view
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        out.push((name, Tensor::from_vec(data, view.shape())));
    }
    Ok((out, meta))
}

/// The bytes of a weights file holding every parameter of `store` under its
/// name ([`encode_tensors`]).
pub fn encode_weights(store: &ParamStore, metadata: &[(&str, String)]) -> Vec<u8> {
    let tensors = store
        .iter()
        .map(|(_, n, t)| (n.to_string(), t.shape(), t.data()));
    encode_tensors(tensors, metadata)
}

/// Saves every parameter of `store` under its name, atomically.
pub fn save_weights(
    path: &Path,
    store: &ParamStore,
    metadata: &[(&str, String)],
) -> Result<(), CheckpointError> {
    write_atomic(path, &encode_weights(store, metadata))
}

/// Loads weights into `store`. The file must hold exactly the store's
/// parameter names with the same shapes; on any error `store` is unchanged.
/// Returns the file's metadata.
pub fn load_weights(
    path: &Path,
    store: &mut ParamStore,
) -> Result<HashMap<String, String>, CheckpointError> {
    let (tensors, meta) = read_tensors(path)?;
    let mut by_name: HashMap<String, Tensor> = tensors.into_iter().collect();
    let expected: Vec<String> = store.iter().map(|(_, n, _)| n.to_string()).collect();
    let mut loaded = Vec::with_capacity(store.len());
    for (id, name, value) in store.iter() {
        let Some(t) = by_name.remove(name) else {
            let mut found: Vec<String> = by_name.keys().cloned().collect();
            found.sort();
            return Err(CheckpointError::Missing {
                path: path.to_path_buf(),
                name: name.to_string(),
                found,
            });
        };
        if t.shape() != value.shape() {
            return Err(CheckpointError::Shape {
                path: path.to_path_buf(),
                name: name.to_string(),
                expected: value.shape().to_vec(),
                found: t.shape().to_vec(),
            });
        }
        loaded.push((id, t));
    }
    if let Some(name) = by_name.into_keys().min() {
        return Err(CheckpointError::Unexpected {
            path: path.to_path_buf(),
            name,
            expected,
        });
    }
    for (id, t) in loaded {
        *store.get_mut(id) = t;
    }
    Ok(meta)
}
