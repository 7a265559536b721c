//! Tabular data from a CSV file: a header row, one example per row, numeric
//! features and one target column.

use std::cell::Cell;
use std::io::{self, Read};
use std::path::Path;

use flate2::read::MultiGzDecoder;
use gradlab_tensor::Tensor;

use crate::dataset::{within_bounds, MAX_CLASSES};
use crate::{DataError, Dataset, Targets};

/// The longest line a CSV file may have, in bytes (16 MiB: a million
/// features of 16 characters). A longer one — a file that is not a table, a
/// stream without newlines — is refused before it fills the memory.
pub const MAX_LINE_BYTES: u64 = 16 << 20;

/// What the target column of a CSV file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargetKind {
    /// Class indices 0, 1, 2, …: a classification.
    Classes,
    /// Real numbers: a regression.
    Values,
}

impl Dataset {
    /// Reads a CSV file whose first line names the columns: the column
    /// called `target` holds each row's class index or value (as `kind`
    /// says), every other column is a feature. Cells may be padded with
    /// spaces; features and values are numbers of magnitude at most
    /// [`MAX_MAGNITUDE`](crate::MAX_MAGNITUDE), class indices whole numbers below
    /// [`MAX_CLASSES`]. A path ending in `.gz` is gzip-decompressed as it is
    /// read. The features keep their names ([`Dataset::feature_names`]), so
    /// that a trainer can tell a test file whose columns come in another
    /// order.
    ///
    /// Errors name the file, and for a cell its line and column: a missing
    /// file or one that is not a regular file (a pipe or a device, which
    /// might never end), an empty file, a header without feature columns or
    /// without the target column, a row with another number of fields than
    /// the header, a cell that is not a value of its column, a line longer
    /// than [`MAX_LINE_BYTES`] (found with bounded memory), text that is not
    /// UTF-8, corrupt gzip data, and a file without rows.
    ///
    /// ```
    /// use gradlab_data::{Dataset, TargetKind};
    ///
    /// let path = std::env::temp_dir().join("gradlab-doc-iris.csv");
    /// std::fs::write(&path, "petal_length,petal_width,species\n1.4,0.2,0\n4.7,1.4,1\n")?;
    /// let data = Dataset::from_csv(&path, "species", TargetKind::Classes)?;
    /// assert_eq!((data.len(), data.num_features(), data.classes()), (2, 2, Some(2)));
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_csv(
        path: impl AsRef<Path>,
        target: &str,
        kind: TargetKind,
    ) -> Result<Dataset, DataError> {
        let path = path.as_ref();
        // Checked before opening: opening a pipe waits for its writer.
        let meta = std::fs::metadata(path).map_err(|e| DataError::io(path, e))?;
        if !meta.is_file() {
            return Err(DataError::NotAFile {
                path: path.to_path_buf(),
            });
        }
        let file = std::fs::File::open(path).map_err(|e| DataError::io(path, e))?;
        let gzip = path
            .extension()
            .is_some_and(|ext| ext.eq_ignore_ascii_case("gz"));
        let (failed, too_long) = (Cell::new(false), Cell::new(None));
        let file = Tracked {
            file,
            failed: &failed,
        };
        // A csv error is one of the file's own read errors, the decoder's
        // complaint about the gzip data, a line past the bound, or the
        // text's own fault: the cells record which.
        let error = |e: csv::Error| {
            let path = path.to_path_buf();
            let line = e.position().map_or(1, |p| p.line());
            if let Some(line) = too_long.get() {
                return DataError::CsvLineTooLong {
                    path,
                    line,
                    limit: MAX_LINE_BYTES,
                };
            }
            match e.kind() {
                csv::ErrorKind::Io(_) => {}
                csv::ErrorKind::Utf8 { .. } => {
                    return DataError::CsvNotText {
                        path,
                        line,
                        hint: if gzip {
                            ""
                        } else {
                            " (a gzip-compressed file is read as such when its name ends in .gz)"
                        },
                    }
                }
                _ => {
                    return DataError::Csv {
                        path,
                        reason: e.to_string(),
                    }
                }
            }
            let csv::ErrorKind::Io(source) = e.into_kind() else {
                unreachable!("matched above")
            };
            if failed.get() || !gzip {
                DataError::Io { path, source }
            } else {
                DataError::CorruptGzip { path, source }
            }
        };
        if gzip {
            let text = LineLimit::new(MultiGzDecoder::new(file), &too_long);
            read_table(text, path, target, kind, &error)
        } else {
            let text = LineLimit::new(io::BufReader::new(file), &too_long);
            read_table(text, path, target, kind, &error)
        }
    }
}

/// Reads the table of `text`, the contents of the file `path`; `error`
/// turns the CSV reader's errors into the file's.
fn read_table(
    text: impl Read,
    path: &Path,
    target: &str,
    kind: TargetKind,
    error: &dyn Fn(csv::Error) -> DataError,
) -> Result<Dataset, DataError> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text);
    let header: Vec<String> = reader
        .headers()
        .map_err(error)?
        .iter()
        .map(str::to_string)
        .collect();
    if header.is_empty() || header == [""] {
        return Err(DataError::CsvNoHeader {
            path: path.to_path_buf(),
        });
    }
    let Some(t) = header.iter().position(|h| h == target) else {
        return Err(DataError::CsvColumn {
            path: path.to_path_buf(),
            column: target.to_string(),
            header,
        });
    };
    if header.len() == 1 {
        return Err(DataError::CsvNoFeatures {
            path: path.to_path_buf(),
            column: target.to_string(),
        });
    }
    let (mut features, mut labels, mut values) = (Vec::new(), Vec::new(), Vec::new());
    let mut record = csv::StringRecord::new();
    let mut line = 1;
    while reader.read_record(&mut record).map_err(error)? {
        line = record.position().map_or(line + 1, |p| p.line());
        if record.len() != header.len() {
            return Err(DataError::CsvRagged {
                path: path.to_path_buf(),
                line,
                fields: record.len(),
                expected: header.len(),
            });
        }
        for (j, cell) in record.iter().enumerate() {
            let bad = |expected| DataError::CsvValue {
                path: path.to_path_buf(),
                line,
                column: j + 1,
                name: header[j].clone(),
                value: cell.to_string(),
                expected,
            };
            if j == t && kind == TargetKind::Classes {
                labels.push(
                    cell.parse::<usize>()
                        .ok()
                        .filter(|&c| c < MAX_CLASSES)
                        .ok_or_else(|| bad(CLASS))?,
                );
                continue;
            }
            let v = cell
                .parse::<f32>()
                .ok()
                .filter(|&v| within_bounds(v))
                .ok_or_else(|| bad(NUMBER))?;
            if j == t {
                values.push(v);
            } else {
                features.push(v);
            }
        }
    }
    let n = labels.len().max(values.len());
    if n == 0 {
        return Err(DataError::CsvEmpty {
            path: path.to_path_buf(),
        });
    }
    let x = Tensor::from_vec(features, &[n, header.len() - 1]);
    let y = match kind {
        TargetKind::Classes => Targets::Classes(labels),
        TargetKind::Values => Targets::Values(Tensor::from_vec(values, &[n, 1])),
    };
    let names = header
        .iter()
        .enumerate()
        .filter(|&(j, _)| j != t)
        .map(|(_, name)| name.clone())
        .collect();
    Dataset::from_tensors(x, y)?.with_feature_names(names)
}

/// What a class cell must hold.
const CLASS: &str = "a class index (a whole number ≥ 0) below 1048576";
/// What a feature or value cell must hold.
const NUMBER: &str = "a finite number of magnitude at most 1e18";

/// A file that remembers whether a read of it failed.
struct Tracked<'a> {
    file: std::fs::File,
    failed: &'a Cell<bool>,
}

impl Read for Tracked<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let result = self.file.read(buf);
        if matches!(&result, Err(e) if e.kind() != io::ErrorKind::Interrupted) {
            self.failed.set(true);
        }
        result
    }
}

/// Text that fails once a line runs past [`MAX_LINE_BYTES`], recording
/// which line in `too_long`: the CSV reader would otherwise buffer a whole
/// line, however long.
struct LineLimit<'a, R> {
    inner: R,
    /// The line being read, from 1.
    line: u64,
    /// Bytes of it read so far.
    length: u64,
    too_long: &'a Cell<Option<u64>>,
}

impl<'a, R> LineLimit<'a, R> {
    fn new(inner: R, too_long: &'a Cell<Option<u64>>) -> Self {
        LineLimit {
            inner,
            line: 1,
            length: 0,
            too_long,
        }
    }
}

impl<R: Read> Read for LineLimit<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        for &byte in &buf[..n] {
            if byte == b'\n' {
                self.line += 1;
                self.length = 0;
            } else {
                self.length += 1;
                if self.length > MAX_LINE_BYTES {
                    self.too_long.set(Some(self.line));
                    return Err(io::Error::new(io::ErrorKind::InvalidData, "line too long"));
                }
            }
        }
        Ok(n)
    }
}
