//! Tabular data from a CSV file: a header row, one example per row, numeric
//! features and one target column.

use std::path::Path;

use gradlab_tensor::Tensor;

use crate::{DataError, Dataset, Targets};

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
    /// spaces; features and values are finite numbers, class indices whole
    /// numbers ≥ 0. The features keep their names
    /// ([`Dataset::feature_names`]), so that a trainer can tell a test file
    /// whose columns come in another order.
    ///
    /// A missing file, a missing target column, a row with another number of
    /// fields than the header, a cell that is not a number of its column,
    /// and a file without rows are errors naming the file, and for a cell
    /// its line and column.
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
        let file = std::fs::File::open(path).map_err(|e| DataError::io(path, e))?;
        let mut reader = csv::ReaderBuilder::new()
            .flexible(true)
            .trim(csv::Trim::All)
            .from_reader(std::io::BufReader::new(file));
        let csv_err = |e: csv::Error| DataError::Csv {
            path: path.to_path_buf(),
            reason: e.to_string(),
        };
        let header: Vec<String> = reader
            .headers()
            .map_err(csv_err)?
            .iter()
            .map(str::to_string)
            .collect();
        let Some(t) = header.iter().position(|h| h == target) else {
            return Err(DataError::CsvColumn {
                path: path.to_path_buf(),
                column: target.to_string(),
                header,
            });
        };
        let (mut features, mut labels, mut values) = (Vec::new(), Vec::new(), Vec::new());
        let mut record = csv::StringRecord::new();
        let mut line = 1;
        while reader.read_record(&mut record).map_err(csv_err)? {
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
                            .map_err(|_| bad("a class index (a whole number ≥ 0)"))?,
                    );
                    continue;
                }
                let v = cell
                    .parse::<f32>()
                    .ok()
                    .filter(|v| v.is_finite())
                    .ok_or_else(|| bad("a finite number"))?;
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
}
