//! `tuned.json`: each study's fastest trial of a `tune` sweep, per workload
//! and optimizer, with its time to the ranking target — what `--held-out`
//! runs again on the workloads' held-out variants, and what their rankings
//! are compared with.

use std::fs;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::BenchError;

/// The file's name in a `tune` sweep's output directory.
pub const FILE: &str = "tuned.json";

/// One study's fastest trial.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tuned {
    /// The workload it was tuned on.
    pub workload: String,
    /// The optimizer's series label (`adamw`, `amsgrad`, …).
    pub optimizer: String,
    /// The study, which is also the seed of its trials.
    pub study: u64,
    /// The trial's index in the optimizer's search.
    pub trial: usize,
    /// The trial's configuration, a canonical spec.
    pub spec: String,
    /// Examples to the workload's ranking target (`None`: not reached).
    pub examples: Option<f64>,
    /// Seconds of training to it.
    pub seconds: Option<f64>,
}

/// `rows` as the file's text.
pub fn to_json(rows: &[Tuned]) -> String {
    serde_json::to_string_pretty(rows).expect("tuned rows serialize") + "\n"
}

/// The rows of the file at `path`.
pub fn read(path: &Path) -> Result<Vec<Tuned>, BenchError> {
    let text = fs::read_to_string(path).map_err(|e| BenchError::io(path, e))?;
    serde_json::from_str(&text).map_err(|source| BenchError::Json {
        path: path.to_path_buf(),
        source,
    })
}
