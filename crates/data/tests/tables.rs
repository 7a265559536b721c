//! Tabular data: CSV files (the shipped digits, and every malformed file as
//! an error naming the file, line and column), datasets from tensors,
//! splits and standardization.

mod common;

use std::path::{Path, PathBuf};

use common::TempDir;
use gradlab_data::{DataError, Dataset, TargetKind, Targets};
use gradlab_tensor::Tensor;

fn digits(split: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../../datasets/digits/{split}.csv"))
}

fn write(dir: &TempDir, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn the_digits_load_with_ten_classes() {
    let train = Dataset::from_csv(digits("train"), "digit", TargetKind::Classes).unwrap();
    let test = Dataset::from_csv(digits("test"), "digit", TargetKind::Classes).unwrap();
    assert_eq!((train.len(), test.len()), (1437, 360));
    assert_eq!((train.num_features(), train.classes()), (64, Some(10)));
    assert_eq!((test.num_features(), test.classes()), (64, Some(10)));
    // The first row of the source file is a 0 (scikit-learn's digits[0]).
    let (mut x, mut y) = (Tensor::default(), Targets::default());
    train.gather(&[0], &mut x, &mut y);
    assert_eq!(y.classes().unwrap(), [0]);
    assert_eq!(&x.data()[..8], [0.0, 0.0, 5.0, 13.0, 9.0, 1.0, 0.0, 0.0]);
    let mut counts = [0; 10];
    for &l in train.labels().unwrap().iter().chain(test.labels().unwrap()) {
        counts[l] += 1;
    }
    assert_eq!(counts, [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]);
}

#[test]
fn a_csv_reads_features_and_either_kind_of_target() {
    let dir = TempDir::new("csv-read");
    let path = write(&dir, "t.csv", "a, y ,b\n1, 2, 3\n4,5,6.5\n");
    let classes = Dataset::from_csv(&path, "y", TargetKind::Classes).unwrap();
    assert_eq!(classes.labels().unwrap(), [2, 5]);
    assert_eq!(classes.classes(), Some(6));
    let (mut x, mut y) = (Tensor::default(), Targets::default());
    classes.gather(&[1, 0], &mut x, &mut y);
    assert_eq!(x.data(), [4.0, 6.5, 1.0, 3.0]);
    let values = Dataset::from_csv(&path, "b", TargetKind::Values).unwrap();
    assert_eq!(values.target_width(), Some(1));
    values.gather(&[0, 1], &mut x, &mut y);
    assert_eq!(y.values().unwrap().data(), [3.0, 6.5]);
    assert_eq!(x.data(), [1.0, 2.0, 4.0, 5.0]);
}

/// The error of reading `text` with target column `y`, and its message,
/// which must name the file.
fn csv_error(text: &str, kind: TargetKind) -> (DataError, String) {
    let dir = TempDir::new("csv-bad");
    let path = write(&dir, "bad.csv", text);
    let err = Dataset::from_csv(&path, "y", kind).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    (err, msg)
}

#[test]
fn a_non_numeric_cell_names_its_line_and_column() {
    let (err, msg) = csv_error("a,b,y\n1,2,0\n3,x7,1\n", TargetKind::Classes);
    assert!(
        matches!(&err, DataError::CsvValue { line: 3, column: 2, name, value, .. } if name == "b" && value == "x7"),
        "{err:?}"
    );
    assert!(
        msg.contains("line 3, column 2 (\"b\"): \"x7\" is not a finite number"),
        "{msg}"
    );
    // A value that parses but is not finite is refused too: it would
    // silently poison training.
    let (_, msg) = csv_error("a,y\nnan,0\n", TargetKind::Classes);
    assert!(
        msg.contains("line 2, column 1 (\"a\"): \"nan\" is not a finite number"),
        "{msg}"
    );
    // An empty cell.
    let (_, msg) = csv_error("a,y\n1,0\n,1\n", TargetKind::Classes);
    assert!(msg.contains("line 3, column 1"), "{msg}");
}

#[test]
fn a_class_label_must_be_a_whole_number() {
    let (err, msg) = csv_error("a,y\n1,0\n2,1.5\n", TargetKind::Classes);
    assert!(
        matches!(
            err,
            DataError::CsvValue {
                line: 3,
                column: 2,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        msg.contains("is not a class index (a whole number ≥ 0)"),
        "{msg}"
    );
    let (_, msg) = csv_error("a,y\n1,-1\n", TargetKind::Classes);
    assert!(msg.contains("line 2, column 2"), "{msg}");
    // As a value, 1.5 is fine; a word is not.
    let (_, msg) = csv_error("a,y\n1,cat\n", TargetKind::Values);
    assert!(msg.contains("\"cat\" is not a finite number"), "{msg}");
}

#[test]
fn a_missing_target_column_lists_the_header() {
    let (err, msg) = csv_error("a,b,label\n1,2,0\n", TargetKind::Classes);
    assert!(matches!(err, DataError::CsvColumn { .. }), "{err:?}");
    assert!(
        msg.contains("line 1 (the header) has no column \"y\"; its columns are a, b, label"),
        "{msg}"
    );
    // A wide header is cut after ten names.
    let err = Dataset::from_csv(digits("train"), "label", TargetKind::Classes).unwrap_err();
    assert!(
        err.to_string().ends_with(
            "its columns are pixel_0_0, pixel_0_1, pixel_0_2, pixel_0_3, pixel_0_4, pixel_0_5, \
             pixel_0_6, pixel_0_7, pixel_1_0, pixel_1_1, … and 55 more (the last: digit)"
        ),
        "{err}"
    );
}

#[test]
fn a_ragged_row_names_its_line() {
    let (err, msg) = csv_error("a,b,y\n1,2,0\n3,4,1\n5,1\n", TargetKind::Classes);
    assert!(
        matches!(
            err,
            DataError::CsvRagged {
                line: 4,
                fields: 2,
                expected: 3,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        msg.contains("line 4 has 2 fields, but the header has 3"),
        "{msg}"
    );
    let (_, msg) = csv_error("a,y\n1,0,9\n", TargetKind::Classes);
    assert!(msg.contains("line 2 has 3 fields"), "{msg}");
}

#[test]
fn a_file_without_rows_or_at_all_is_an_error() {
    let (err, msg) = csv_error("a,y\n", TargetKind::Classes);
    assert!(matches!(err, DataError::CsvEmpty { .. }), "{err:?}");
    assert!(msg.contains("no rows after the header"), "{msg}");
    let missing = Path::new("/nonexistent/gradlab/data.csv");
    let err = Dataset::from_csv(missing, "y", TargetKind::Classes).unwrap_err();
    assert!(matches!(err, DataError::Io { .. }), "{err:?}");
    assert!(
        err.to_string().contains("/nonexistent/gradlab/data.csv"),
        "{err}"
    );
}

#[test]
fn datasets_from_tensors_check_their_shapes() {
    let x = Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[3, 2]);
    let err = Dataset::from_tensors(x.clone(), Targets::Classes(vec![0, 1])).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::TargetCount {
                examples: 3,
                targets: 2
            }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("3 feature rows but 2 targets"),
        "{err}"
    );
    let flat = Tensor::from_vec(vec![1.0, 2.0], &[2]);
    let err = Dataset::from_tensors(flat, Targets::Classes(vec![0, 1])).unwrap_err();
    assert!(
        err.to_string()
            .contains("the features have shape [2]; expected [examples, features]"),
        "{err}"
    );
    let y = Tensor::from_vec(vec![1.0, 2.0, 3.0], &[3]);
    let err = Dataset::from_tensors(x.clone(), Targets::Values(y)).unwrap_err();
    assert!(
        err.to_string().contains("the target values have shape [3]"),
        "{err}"
    );
    let mut bad = x.clone();
    bad.data_mut()[3] = f32::INFINITY;
    let err = Dataset::from_tensors(bad, Targets::Classes(vec![0, 1, 2])).unwrap_err();
    assert!(
        err.to_string()
            .contains("feature 1 of example 1 is not finite"),
        "{err}"
    );
    let y = Tensor::from_vec(vec![1.0, f32::NAN, 3.0], &[3, 1]);
    let err = Dataset::from_tensors(x.clone(), Targets::Values(y)).unwrap_err();
    assert!(
        err.to_string()
            .contains("target 0 of example 1 is not finite"),
        "{err}"
    );
    let err =
        Dataset::from_tensors(x.clone(), Targets::Classes(vec![0, usize::MAX, 1])).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::ClassTooLarge {
                example: 1,
                value: usize::MAX,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("the class of example 1 is 18446744073709551615"),
        "{err}"
    );
    let ok = Dataset::from_tensors(x, Targets::Values(Tensor::zeros(&[3, 2]))).unwrap();
    assert_eq!((ok.classes(), ok.target_width()), (None, Some(2)));
}

#[test]
fn a_split_is_seeded_and_keeps_every_example_once() {
    let n = 50;
    let x = Tensor::from_vec((0..n).map(|i| i as f32).collect(), &[n, 1]);
    let data = Dataset::from_tensors(x, Targets::Classes((0..n).map(|i| i % 3).collect())).unwrap();
    let (train, test) = data.split(0.2, 7).unwrap();
    assert_eq!((train.len(), test.len()), (40, 10));
    assert_eq!((train.classes(), test.classes()), (Some(3), Some(3)));
    let (mut x, mut y) = (Tensor::default(), Targets::default());
    let mut seen = vec![];
    for part in [&train, &test] {
        part.gather(&(0..part.len()).collect::<Vec<_>>(), &mut x, &mut y);
        for (&v, &label) in x.data().iter().zip(y.classes().unwrap()) {
            assert_eq!(label, v as usize % 3, "a feature row keeps its target");
            seen.push(v as usize);
        }
    }
    seen.sort();
    assert_eq!(seen, (0..n).collect::<Vec<_>>());
    assert_eq!(data.split(0.2, 7).unwrap(), (train.clone(), test));
    assert_ne!(data.split(0.2, 8).unwrap().0, train);
    for bad in [0.0, 1.0, -0.5, 0.01, f64::NAN] {
        let err = data.split(bad, 0).unwrap_err();
        assert!(matches!(err, DataError::Split { .. }), "{bad}: {err:?}");
    }
}

#[test]
fn standardization_centers_and_scales_every_feature() {
    let train = Dataset::from_csv(digits("train"), "digit", TargetKind::Classes).unwrap();
    let s = train.standardization();
    // The corner pixel is 0 in every image: centered, not scaled.
    assert_eq!((s.mean[0], s.std[0]), (0.0, 1.0));
    let train = train.standardize(s.clone()).unwrap();
    let (mut x, mut y) = (Tensor::default(), Targets::default());
    train.gather(&(0..train.len()).collect::<Vec<_>>(), &mut x, &mut y);
    let n = train.len() as f64;
    for j in 0..64 {
        let col = x.data().iter().skip(j).step_by(64).map(|&v| f64::from(v));
        let (sum, sq) = col.fold((0.0, 0.0), |(a, b), v| (a + v, b + v * v));
        let (mean, var) = (sum / n, sq / n - (sum / n).powi(2));
        assert!(mean.abs() < 1e-5, "feature {j}: mean {mean}");
        let want = if s.std[j] == 1.0 && s.mean[j] == 0.0 {
            0.0
        } else {
            1.0
        };
        assert!((var - want).abs() < 1e-4, "feature {j}: variance {var}");
    }
    // The test set takes the training set's statistics.
    let test = Dataset::from_csv(digits("test"), "digit", TargetKind::Classes).unwrap();
    let test = test.standardize(s.clone()).unwrap();
    assert_eq!(test.standardized(), Some(&s));
    // A standardization of another width, or with a zero deviation, is refused.
    let mut short = s.clone();
    short.mean.pop();
    let err = test.clone().standardize(short).unwrap_err();
    assert!(
        err.to_string()
            .contains("63 means and 64 deviations for 64 features"),
        "{err}"
    );
    let mut zero = s;
    zero.std[5] = 0.0;
    let err = test.standardize(zero).unwrap_err();
    assert!(
        err.to_string().contains("the deviation of feature 5 is 0"),
        "{err}"
    );
}

#[test]
fn a_gzipped_csv_reads_as_the_plain_one() {
    let dir = TempDir::new("csv-gz");
    let plain = digits("test");
    let gz = dir.join("test.csv.gz");
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut encoder, &std::fs::read(&plain).unwrap()).unwrap();
    std::fs::write(&gz, encoder.finish().unwrap()).unwrap();
    assert_eq!(
        Dataset::from_csv(&gz, "digit", TargetKind::Classes).unwrap(),
        Dataset::from_csv(&plain, "digit", TargetKind::Classes).unwrap()
    );
    // Compressed bytes under a plain name are not text, and the error says
    // what to do; damaged gzip data is corruption.
    let misnamed = dir.join("test.csv");
    std::fs::copy(&gz, &misnamed).unwrap();
    let err = Dataset::from_csv(&misnamed, "digit", TargetKind::Classes).unwrap_err();
    assert!(
        matches!(err, DataError::CsvNotText { line: 1, .. }),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("when its name ends in .gz"),
        "{err}"
    );
    let mut bytes = std::fs::read(&gz).unwrap();
    let n = bytes.len();
    bytes.truncate(n / 2);
    std::fs::write(&gz, &bytes).unwrap();
    let err = Dataset::from_csv(&gz, "digit", TargetKind::Classes).unwrap_err();
    assert!(matches!(err, DataError::CorruptGzip { .. }), "{err:?}");
}

#[test]
fn an_empty_file_a_header_of_the_target_alone_and_out_of_range_cells_are_errors() {
    let (err, msg) = csv_error("", TargetKind::Classes);
    assert!(matches!(err, DataError::CsvNoHeader { .. }), "{err:?}");
    assert!(msg.contains("the file is empty"), "{msg}");
    let (err, msg) = csv_error("y\n1\n2\n", TargetKind::Classes);
    assert!(matches!(err, DataError::CsvNoFeatures { .. }), "{err:?}");
    assert!(msg.contains("no column but the target \"y\""), "{msg}");
    // A label that is an id, not a class: named with its line and column.
    let (err, msg) = csv_error("a,y\n1,0\n2,1000000000\n", TargetKind::Classes);
    assert!(
        matches!(
            err,
            DataError::CsvValue {
                line: 3,
                column: 2,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(msg.contains("below 1048576"), "{msg}");
    // 1048575 is the largest class index.
    let dir = TempDir::new("csv-limits");
    let ok = write(&dir, "ok.csv", "a,y\n1,1048575\n");
    assert!(Dataset::from_csv(&ok, "y", TargetKind::Classes).is_ok());
    // Magnitudes whose squares overflow f32, as features and as values.
    for (text, line, column) in [
        ("a,y\n1,0\n3e38,1\n", 3, 1),
        ("a,y\n1,0\n-1.5e18,1\n", 3, 1),
    ] {
        let (err, msg) = csv_error(text, TargetKind::Classes);
        assert!(
            matches!(err, DataError::CsvValue { line: l, column: c, .. } if l == line && c == column),
            "{err:?}"
        );
        assert!(msg.contains("magnitude at most 1e18"), "{msg}");
    }
    let (_, msg) = csv_error("a,y\n1,2e20\n", TargetKind::Values);
    assert!(msg.contains("line 2, column 2"), "{msg}");
    let edge = write(&dir, "edge.csv", "a,y\n1e18,-1e18\n");
    assert!(Dataset::from_csv(&edge, "y", TargetKind::Values).is_ok());
    // In memory too.
    let x = Tensor::from_vec(vec![1.0, 2e18], &[2, 1]);
    let err = Dataset::from_tensors(x, Targets::Classes(vec![0, 1])).unwrap_err();
    assert!(
        err.to_string()
            .contains("feature 0 of example 1 is 2e18, above 1e18 in magnitude"),
        "{err}"
    );
}

#[test]
fn a_device_a_pipe_or_an_endless_line_is_refused_with_bounded_memory() {
    for path in ["/dev/zero", "/dev/null"] {
        let err = Dataset::from_csv(path, "y", TargetKind::Classes).unwrap_err();
        assert!(matches!(err, DataError::NotAFile { .. }), "{path}: {err:?}");
        assert!(err.to_string().starts_with(path), "{err}");
    }
    let dir = TempDir::new("csv-fifo");
    let fifo = dir.join("fifo.csv");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    // Opening a pipe would wait for a writer: it is refused before.
    let err = Dataset::from_csv(&fifo, "y", TargetKind::Classes).unwrap_err();
    assert!(matches!(err, DataError::NotAFile { .. }), "{err:?}");
    // A line past the bound, raw and compressed (a gzip bomb of one line).
    let limit = gradlab_data::csv::MAX_LINE_BYTES as usize;
    let long = format!("a,y\n1,0\n{}", "7".repeat(limit + 1));
    let raw = write(&dir, "long.csv", &long);
    let gz = dir.join("long.csv.gz");
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut encoder, long.as_bytes()).unwrap();
    std::fs::write(&gz, encoder.finish().unwrap()).unwrap();
    for path in [raw, gz] {
        let err = Dataset::from_csv(&path, "y", TargetKind::Classes).unwrap_err();
        assert!(
            matches!(err, DataError::CsvLineTooLong { line: 3, .. }),
            "{}: {err:?}",
            path.display()
        );
        assert!(
            err.to_string()
                .contains("line 3 is longer than 16777216 bytes"),
            "{err}"
        );
    }
}
