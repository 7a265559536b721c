//! The run's CSV log: one row per step, one per epoch.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::{EpochMetrics, StepInfo, TrainError};

/// The columns, in order. Step rows fill `train_loss` with the batch's loss
/// and leave the evaluation columns empty; epoch rows give the epoch's mean
/// training loss and the test metrics.
pub const COLUMNS: &str =
    "kind,epoch,step,batch_size,lr,train_loss,test_loss,test_accuracy,examples_per_s,b_noise,test_rmse,epsilon";

/// The header before the `epsilon` column: a log that starts with it is
/// continued with an empty `epsilon` cell added to its rows.
const WITHOUT_EPSILON: &str =
    "kind,epoch,step,batch_size,lr,train_loss,test_loss,test_accuracy,examples_per_s,b_noise,test_rmse";

/// A CSV file receiving a run's rows.
pub struct CsvLog {
    path: PathBuf,
    out: BufWriter<File>,
}

impl CsvLog {
    /// Creates the log of a new run at `path`, with a header. An existing
    /// file is an error (it may be another run's log), and so is a folder
    /// that does not exist.
    pub fn create(path: &Path) -> Result<CsvLog, TrainError> {
        check_folder(path)?;
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(|e| match e.kind() {
                io::ErrorKind::AlreadyExists => io_error(
                    path,
                    io::ErrorKind::AlreadyExists,
                    "the file exists, and a new run does not overwrite it; remove it or choose \
                     another file",
                ),
                _ => io_err(path, e),
            })?;
        let mut log = CsvLog::new(path, file);
        log.write(format_args!("{COLUMNS}\n"))?;
        Ok(log)
    }

    /// Continues the log of a run resumed after `steps` steps. Rows of
    /// later steps (written after the checkpoint and before the run was
    /// killed) and a last line cut short are dropped, so the log reads as if
    /// the run had never stopped. A missing file is created with a header; a
    /// file that is not a gradlab log is an error.
    pub fn resume(path: &Path, steps: u64) -> Result<CsvLog, TrainError> {
        check_folder(path)?;
        let text = match fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return CsvLog::create(path),
            Err(e) => return Err(io_err(path, e)),
        };
        let mut lines = text.split_inclusive('\n');
        let header = lines.next().map(str::trim_end);
        let widen = header == Some(WITHOUT_EPSILON);
        if header != Some(COLUMNS) && !widen {
            return Err(io_error(
                path,
                io::ErrorKind::InvalidData,
                "not a gradlab training log (its first line is not the header); choose another \
                 file",
            ));
        }
        let mut kept = format!("{COLUMNS}\n");
        for line in lines {
            let step = line.split(',').nth(2).and_then(|s| s.parse::<u64>().ok());
            if line.ends_with('\n') && step.is_some_and(|s| s <= steps) {
                match widen {
                    true => {
                        kept.push_str(line.trim_end_matches('\n'));
                        kept.push_str(",\n");
                    }
                    false => kept.push_str(line),
                }
            }
        }
        if kept.len() != text.len() {
            gradlab_layers::write_atomic(path, kept.as_bytes())?;
        }
        let file = OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(|e| io_err(path, e))?;
        Ok(CsvLog::new(path, file))
    }

    fn new(path: &Path, file: File) -> CsvLog {
        CsvLog {
            path: path.to_path_buf(),
            out: BufWriter::new(file),
        }
    }

    fn write(&mut self, row: std::fmt::Arguments) -> Result<(), TrainError> {
        self.out
            .write_fmt(row)
            .map_err(|source| io_err(&self.path, source))
    }

    /// Appends a step row.
    pub fn step(&mut self, s: &StepInfo) -> Result<(), TrainError> {
        self.write(format_args!(
            "step,{},{},{},{:e},{},,,,,,\n",
            s.epoch, s.step, s.batch_size, s.lr, s.loss
        ))
    }

    /// Appends an epoch row and flushes the file.
    pub fn epoch(&mut self, m: &EpochMetrics) -> Result<(), TrainError> {
        let cell = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
        self.write(format_args!(
            "epoch,{},{},,,{},{},{},{:.1},{},{},{}\n",
            m.epoch,
            m.steps,
            m.train_loss,
            m.test_loss,
            cell(m.test_accuracy),
            m.examples_per_s,
            cell(m.b_noise),
            cell(m.test_rmse),
            cell(m.epsilon)
        ))?;
        self.flush()
    }

    /// Writes the buffered rows to the file.
    pub fn flush(&mut self) -> Result<(), TrainError> {
        self.out
            .flush()
            .map_err(|source| io_err(&self.path, source))
    }
}

fn io_err(path: &Path, source: io::Error) -> TrainError {
    TrainError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn io_error(path: &Path, kind: io::ErrorKind, message: &str) -> TrainError {
    io_err(path, io::Error::new(kind, message))
}

/// A log's folder must exist: otherwise the operating system's "No such file
/// or directory" reads as if the log itself were missing.
fn check_folder(path: &Path) -> Result<(), TrainError> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() && !dir.is_dir() => Err(io_error(
            path,
            io::ErrorKind::NotFound,
            &format!("the folder {} does not exist", dir.display()),
        )),
        _ => Ok(()),
    }
}
