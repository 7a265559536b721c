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
    /// The `.gz` files that were not read because the raw file of the same
    /// name lies beside them (a loader says so: the two may differ).
    pub unread: Vec<PathBuf>,
}

/// Loads both splits from `dir`, which holds the four standard files
/// `train-images-idx3-ubyte`, `train-labels-idx1-ubyte`,
/// `t10k-images-idx3-ubyte` and `t10k-labels-idx1-ubyte`, each raw or
/// gzip-compressed with a `.gz` suffix. When both forms exist the raw one is
/// used, as it is faster to read, and the `.gz` one is listed in
/// [`Mnist::unread`].
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
    let mut unread = Vec::new();
    let mut find = |name| {
        let (path, twin) = find(dir, name)?;
        unread.extend(twin);
        Ok::<PathBuf, DataError>(path)
    };
    let train_images = find("train-images-idx3-ubyte")?;
    let train_labels = find("train-labels-idx1-ubyte")?;
    let test_images = find("t10k-images-idx3-ubyte")?;
    let test_labels = find("t10k-labels-idx1-ubyte")?;
    let train = Dataset::from_files(&train_images, &train_labels)?;
    let test = Dataset::from_files(&test_images, &test_labels)?;
    let size = |d: &Dataset| (d.rows(), d.cols());
    if size(&train) != size(&test) {
        return Err(DataError::SizeMismatch {
            train_path: train_images,
            train: size(&train),
            test_path: test_images,
            test: size(&test),
        });
    }
    Ok(Mnist {
        train,
        test,
        unread,
    })
}

fn missing_dir(dir: &Path) -> DataError {
    DataError::MissingDir {
        path: dir.to_path_buf(),
    }
}

/// The raw file `dir/name` if it exists, else `dir/name.gz`; with the
/// `.gz` file left unread beside a raw one, if there is one.
fn find(dir: &Path, name: &str) -> Result<(PathBuf, Option<PathBuf>), DataError> {
    let (raw, gz) = (dir.join(name), dir.join(format!("{name}.gz")));
    match (raw.is_file(), gz.is_file()) {
        (true, true) => Ok((raw, Some(gz))),
        (true, false) => Ok((raw, None)),
        (false, true) => Ok((gz, None)),
        (false, false) => Err(DataError::MissingFile {
            dir: dir.to_path_buf(),
            name: name.to_owned(),
            tried: vec![raw, gz],
        }),
    }
}
