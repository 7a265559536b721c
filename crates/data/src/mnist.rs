//! Loading MNIST and datasets laid out like it (Fashion-MNIST, KMNIST) from
//! a directory of IDX files.

use std::io;
use std::path::{Path, PathBuf};

use crate::{DataError, Dataset};

/// The training and test splits of an MNIST-layout dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct Mnist {
    /// The training split (60 000 examples for MNIST).
    pub train: Dataset,
    /// The test split (10 000 examples for MNIST).
    pub test: Dataset,
}

/// Loads both splits from `dir`, which holds the four standard files
/// `train-images-idx3-ubyte`, `train-labels-idx1-ubyte`,
/// `t10k-images-idx3-ubyte` and `t10k-labels-idx1-ubyte`, each raw or
/// gzip-compressed with a `.gz` suffix. When both forms exist the raw one is
/// used, as it is faster to read.
///
/// Nothing about MNIST's sizes is assumed: any image size and example count
/// loads, provided the labels are digits 0–9 and both splits have the same
/// image size.
pub fn load(dir: impl AsRef<Path>) -> Result<Mnist, DataError> {
    let dir = dir.as_ref();
    match dir.metadata() {
        Ok(meta) if meta.is_dir() => {}
        Ok(_) => return Err(missing_dir(dir)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(missing_dir(dir)),
        Err(e) => return Err(DataError::io(dir, e)),
    }
    let (train_images, test_images) = (
        find(dir, "train-images-idx3-ubyte")?,
        find(dir, "t10k-images-idx3-ubyte")?,
    );
    let train = Dataset::from_files(&train_images, &find(dir, "train-labels-idx1-ubyte")?)?;
    let test = Dataset::from_files(&test_images, &find(dir, "t10k-labels-idx1-ubyte")?)?;
    let size = |d: &Dataset| (d.rows(), d.cols());
    if size(&train) != size(&test) {
        return Err(DataError::SizeMismatch {
            train_path: train_images,
            train: size(&train),
            test_path: test_images,
            test: size(&test),
        });
    }
    Ok(Mnist { train, test })
}

fn missing_dir(dir: &Path) -> DataError {
    DataError::MissingDir {
        path: dir.to_path_buf(),
    }
}

/// The raw file `dir/name` if it exists, else `dir/name.gz`.
fn find(dir: &Path, name: &str) -> Result<PathBuf, DataError> {
    let tried = vec![dir.join(name), dir.join(format!("{name}.gz"))];
    match tried.iter().find(|p| p.is_file()) {
        Some(p) => Ok(p.clone()),
        None => Err(DataError::MissingFile {
            dir: dir.to_path_buf(),
            name: name.to_owned(),
            tried,
        }),
    }
}
