//! The run's CSV log: one row per step, one per epoch.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::{EpochMetrics, StepInfo, TrainError};

/// The columns, in order. Step rows fill `train_loss` with the batch's loss
/// and leave the evaluation columns empty; epoch rows give the epoch's mean
/// training loss and the test metrics.
pub const COLUMNS: &str =
    "kind,epoch,step,batch_size,lr,train_loss,test_loss,test_accuracy,examples_per_s,b_noise";

/// A CSV file receiving a run's rows.
pub struct CsvLog {
    path: PathBuf,
    out: BufWriter<File>,
}

impl CsvLog {
    /// Creates `path` with a header, or appends to it when `resume`.
    pub fn open(path: &Path, resume: bool) -> Result<CsvLog, TrainError> {
        let io = |source| TrainError::Io {
            path: path.to_path_buf(),
            source,
        };
        let existed = path.exists();
        let file = if resume {
            OpenOptions::new().create(true).append(true).open(path)
        } else {
            File::create(path)
        }
        .map_err(io)?;
        let mut log = CsvLog {
            path: path.to_path_buf(),
            out: BufWriter::new(file),
        };
        if !(resume && existed) {
            log.write(format_args!("{COLUMNS}\n"))?;
        }
        Ok(log)
    }

    fn write(&mut self, row: std::fmt::Arguments) -> Result<(), TrainError> {
        self.out.write_fmt(row).map_err(|source| TrainError::Io {
            path: self.path.clone(),
            source,
        })
    }

    /// Appends a step row.
    pub fn step(&mut self, s: &StepInfo) -> Result<(), TrainError> {
        self.write(format_args!(
            "step,{},{},{},{:e},{},,,,\n",
            s.epoch, s.step, s.batch_size, s.lr, s.loss
        ))
    }

    /// Appends an epoch row and flushes the file.
    pub fn epoch(&mut self, m: &EpochMetrics) -> Result<(), TrainError> {
        let b_noise = m.b_noise.map(|b| b.to_string()).unwrap_or_default();
        self.write(format_args!(
            "epoch,{},{},,,{},{},{},{:.1},{}\n",
            m.epoch, m.steps, m.train_loss, m.test_loss, m.test_accuracy, m.examples_per_s, b_noise
        ))?;
        self.out.flush().map_err(|source| TrainError::Io {
            path: self.path.clone(),
            source,
        })
    }
}
