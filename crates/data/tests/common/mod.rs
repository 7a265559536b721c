//! Helpers shared by the integration tests: fresh temporary directories and
//! writers for IDX files, well-formed or not.

// Each test binary compiles this module but uses only some of it.
#![allow(dead_code)]

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use flate2::write::GzEncoder;
use flate2::Compression;

/// A directory under the system temp dir, unique to this process and call,
/// removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!(
            "gradlab-data-test-{}-{tag}-{n}",
            std::process::id()
        ));
        // A leftover from a crashed run with a recycled pid must not leak in.
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn join(&self, name: impl AsRef<Path>) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// An IDX header: the magic number, then the dimension sizes.
pub fn header(magic: u32, dims: &[u32]) -> Vec<u8> {
    let mut bytes = magic.to_be_bytes().to_vec();
    for d in dims {
        bytes.extend_from_slice(&d.to_be_bytes());
    }
    bytes
}

/// A well-formed unsigned-byte IDX file.
pub fn idx(dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut bytes = header(0x0800 | dims.len() as u32, dims);
    bytes.extend_from_slice(data);
    bytes
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// Writes `bytes` to `dir/name`, gzip-compressed if `name` ends in `.gz`.
pub fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    if name.ends_with(".gz") {
        fs::write(&path, gzip(bytes)).unwrap();
    } else {
        fs::write(&path, bytes).unwrap();
    }
    path
}

/// A small split: `n` images of `rows × cols` with distinct, full-range
/// pixels and labels cycling through 0–9.
pub struct Split {
    pub n: u32,
    pub rows: u32,
    pub cols: u32,
    pub images: Vec<u8>,
    pub labels: Vec<u8>,
}

impl Split {
    pub fn new(n: u32, rows: u32, cols: u32, salt: u8) -> Split {
        let pixels = (n * rows * cols) as usize;
        Split {
            n,
            rows,
            cols,
            images: (0..pixels)
                .map(|i| (i as u8).wrapping_mul(37).wrapping_add(salt))
                .collect(),
            labels: (0..n).map(|i| ((i + u32::from(salt)) % 10) as u8).collect(),
        }
    }

    pub fn image_file(&self) -> Vec<u8> {
        idx(&[self.n, self.rows, self.cols], &self.images)
    }

    pub fn label_file(&self) -> Vec<u8> {
        idx(&[self.n], &self.labels)
    }
}

/// The standard file names, without `.gz`.
pub const TRAIN_IMAGES: &str = "train-images-idx3-ubyte";
pub const TRAIN_LABELS: &str = "train-labels-idx1-ubyte";
pub const TEST_IMAGES: &str = "t10k-images-idx3-ubyte";
pub const TEST_LABELS: &str = "t10k-labels-idx1-ubyte";

/// The four files of a small valid dataset, each with `suffix` ("" or
/// ".gz") appended to its name.
pub fn write_dataset(dir: &Path, train: &Split, test: &Split, suffix: &str) {
    write(dir, &format!("{TRAIN_IMAGES}{suffix}"), &train.image_file());
    write(dir, &format!("{TRAIN_LABELS}{suffix}"), &train.label_file());
    write(dir, &format!("{TEST_IMAGES}{suffix}"), &test.image_file());
    write(dir, &format!("{TEST_LABELS}{suffix}"), &test.label_file());
}

/// A small valid dataset: 7 training and 3 test images of 4 × 3 pixels.
pub fn small_dataset(dir: &Path, suffix: &str) -> (Split, Split) {
    let (train, test) = (Split::new(7, 4, 3, 0), Split::new(3, 4, 3, 5));
    write_dataset(dir, &train, &test, suffix);
    (train, test)
}
