//! What a dataset is, so that a resumed run can tell it got the same data.

use gradlab_data::Dataset;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// What a dataset is, for telling whether a resumed run got the same data.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataIdentity {
    /// Number of examples.
    pub examples: usize,
    /// Feature rows per example (image rows; 1 for tabular data).
    pub rows: usize,
    /// Feature columns per example.
    pub cols: usize,
    /// SHA-256 of the sizes, the features and the targets, in hex
    /// ([`Dataset::hash_into`]).
    pub sha256: String,
}

impl DataIdentity {
    /// The identity of `data`.
    pub fn of(data: &Dataset) -> DataIdentity {
        let mut h = Sha256::new();
        data.hash_into(&mut |bytes| h.update(bytes));
        DataIdentity {
            examples: data.len(),
            rows: data.rows(),
            cols: data.cols(),
            sha256: format!("{:x}", h.finalize()),
        }
    }

    pub(crate) fn describe(&self, source: Option<&str>) -> String {
        format!(
            "{} examples of {}×{}{} (sha256 {}…)",
            self.examples,
            self.rows,
            self.cols,
            source.map(|s| format!(" from {s}")).unwrap_or_default(),
            &self.sha256[..12]
        )
    }
}
