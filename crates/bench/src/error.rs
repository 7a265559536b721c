//! Everything that can stop a sweep, a job or a merge.

use std::path::PathBuf;

use gradlab_data::DataError;
use gradlab_train::TrainError;
use thiserror::Error;

/// Why a sweep, a job or a merge could not complete. A run that diverges is
/// not an error: it is recorded as diverged and the sweep goes on.
#[derive(Debug, Error)]
pub enum BenchError {
    /// The dataset could not be loaded.
    #[error(transparent)]
    Data(#[from] DataError),
    /// A run could not be set up or failed for a reason other than
    /// divergence.
    #[error(transparent)]
    Train(#[from] TrainError),
    /// An option has no valid meaning.
    #[error("{0}")]
    Options(String),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A per-run or sweep file is not what this version writes.
    #[error("{path}: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        source: serde_json::Error,
    },
    /// The per-run files of a directory do not make up the sweep.
    #[error("{0}")]
    Merge(String),
}

impl BenchError {
    /// An I/O error on `path`.
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> BenchError {
        BenchError::Io {
            path: path.into(),
            source,
        }
    }
}
