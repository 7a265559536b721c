//! Every kind of bad input yields its own `DataError` variant, and the
//! message names the file at fault.

mod common;

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use common::{
    gzip, header, idx, small_dataset, write, write_dataset, Split, TempDir, TEST_IMAGES,
    TEST_LABELS, TRAIN_IMAGES, TRAIN_LABELS,
};
use gradlab_data::{load, read_idx, read_idx_ndim, DataError};

const HUGE: u32 = 4_000_000_000;

fn assert_names(err: &DataError, path: &Path) {
    let msg = err.to_string();
    let shown = path.display().to_string();
    assert!(msg.contains(&shown), "{msg:?} does not name {shown}");
}

/// Writes a valid small dataset whose files end in `suffix`, replaces the
/// file `name` with `bytes` (compressed when `suffix` is ".gz") and loads
/// it, which must fail.
fn load_with(tag: &str, suffix: &str, name: &str, bytes: &[u8]) -> (DataError, PathBuf) {
    let dir = TempDir::new(tag);
    small_dataset(dir.path(), suffix);
    let path = write(dir.path(), &format!("{name}{suffix}"), bytes);
    let err = load(dir.path()).unwrap_err();
    assert_names(&err, &path);
    (err, path)
}

#[test]
fn missing_directory() {
    let dir = TempDir::new("missing-dir");
    let path = dir.join("no-such-dir");
    let err = load(&path).unwrap_err();
    assert!(matches!(err, DataError::MissingDir { .. }), "{err:?}");
    assert_names(&err, &path);
}

#[test]
fn directory_that_is_a_file() {
    let dir = TempDir::new("dir-is-file");
    let path = write(dir.path(), "plain-file", b"not a directory");
    let err = load(&path).unwrap_err();
    assert!(matches!(err, DataError::MissingDir { .. }), "{err:?}");
    assert_names(&err, &path);
}

#[test]
fn missing_file_lists_the_names_tried() {
    let dir = TempDir::new("missing-file");
    small_dataset(dir.path(), "");
    fs::remove_file(dir.join(TEST_LABELS)).unwrap();
    let err = load(dir.path()).unwrap_err();
    assert!(
        matches!(&err, DataError::MissingFile { name, .. } if name == TEST_LABELS),
        "{err:?}"
    );
    assert_names(&err, &dir.join(TEST_LABELS));
    assert_names(&err, &dir.join(format!("{TEST_LABELS}.gz")));
}

#[test]
fn wrong_magic_is_shown_in_hex() {
    for suffix in ["", ".gz"] {
        let bytes = [header(0x0102_0803, &[7, 4, 3]), vec![0; 84]].concat();
        let (err, _) = load_with("magic", suffix, TRAIN_IMAGES, &bytes);
        assert!(
            matches!(
                err,
                DataError::BadMagic {
                    magic: 0x0102_0803,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("0x01020803"), "{err}");
    }
}

#[test]
fn unsupported_data_type() {
    // 0x0D is IDX's code for f32.
    let bytes = [header(0x0000_0D03, &[7, 4, 3]), vec![0; 4 * 84]].concat();
    let (err, _) = load_with("type", "", TRAIN_IMAGES, &bytes);
    assert!(
        matches!(err, DataError::UnsupportedType { code: 0x0D, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("0x0d"), "{err}");
}

#[test]
fn wrong_number_of_dimensions() {
    let flat_images = idx(&[7, 12], &Split::new(7, 4, 3, 0).images);
    let (err, _) = load_with("ndim-images", "", TRAIN_IMAGES, &flat_images);
    assert!(
        matches!(
            err,
            DataError::WrongDims {
                expected: 3,
                got: 2,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("expected an IDX file with 3"),
        "{err}"
    );

    let labels_2d = idx(&[7, 1], &[0, 1, 2, 3, 4, 5, 6]);
    let (err, _) = load_with("ndim-labels", ".gz", TRAIN_LABELS, &labels_2d);
    assert!(
        matches!(
            err,
            DataError::WrongDims {
                expected: 1,
                got: 2,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn read_idx_ndim_checks_the_header() {
    let dir = TempDir::new("ndim-direct");
    let path = write(dir.path(), "four-d", &idx(&[1, 2, 1, 2], &[1, 2, 3, 4]));
    let err = read_idx_ndim(&path, 3).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::WrongDims {
                expected: 3,
                got: 4,
                ..
            }
        ),
        "{err:?}"
    );
    assert_names(&err, &path);
    assert_eq!(read_idx_ndim(&path, 4).unwrap().dims, [1, 2, 1, 2]);
}

#[test]
fn huge_header_whose_size_overflows() {
    // 4e9³ bytes do not fit in a usize.
    for suffix in ["", ".gz"] {
        let bytes = [header(0x0803, &[HUGE, HUGE, HUGE]), vec![0; 16]].concat();
        let (err, _) = load_with("overflow", suffix, TRAIN_IMAGES, &bytes);
        assert!(matches!(err, DataError::Overflow { .. }), "{err:?}");
    }
}

#[test]
fn huge_header_claiming_more_than_the_file_holds() {
    // 4e9 × 4e9 = 1.6e19 bytes fits in a 64-bit usize, so only comparing with
    // the bytes present stops it — before any allocation of that size, which
    // would abort the process.
    let claimed = u64::from(HUGE) * u64::from(HUGE);
    for suffix in ["", ".gz"] {
        let bytes = [header(0x0803, &[HUGE, HUGE, 1]), vec![7; 100]].concat();
        let (err, _) = load_with("huge-3d", suffix, TRAIN_IMAGES, &bytes);
        assert!(
            matches!(err, DataError::Truncated { expected, got: 100, .. } if expected == claimed),
            "{err:?}"
        );

        let dir = TempDir::new("huge-2d");
        let bytes = [header(0x0802, &[HUGE, HUGE]), vec![7; 100]].concat();
        let path = write(dir.path(), &format!("huge{suffix}"), &bytes);
        let err = read_idx(&path).unwrap_err();
        assert!(
            matches!(err, DataError::Truncated { expected, got: 100, .. } if expected == claimed),
            "{err:?}"
        );
        assert_names(&err, &path);
    }
}

#[test]
fn truncated_data() {
    for suffix in ["", ".gz"] {
        let mut bytes = Split::new(7, 4, 3, 0).image_file();
        bytes.truncate(bytes.len() - 5);
        let (err, _) = load_with("truncated", suffix, TRAIN_IMAGES, &bytes);
        assert!(
            matches!(
                err,
                DataError::Truncated {
                    expected: 84,
                    got: 79,
                    ..
                }
            ),
            "{err:?}"
        );
    }
}

#[test]
fn truncated_header() {
    for suffix in ["", ".gz"] {
        // The magic and half of the three dimension sizes.
        let bytes = &Split::new(7, 4, 3, 0).image_file()[..10];
        let (err, _) = load_with("short-header", suffix, TRAIN_IMAGES, bytes);
        assert!(
            matches!(
                err,
                DataError::TruncatedHeader {
                    needed: 16,
                    got: 10,
                    ..
                }
            ),
            "{err:?}"
        );
    }
    let (err, _) = load_with("empty", "", TRAIN_LABELS, &[]);
    assert!(
        matches!(
            err,
            DataError::TruncatedHeader {
                needed: 4,
                got: 0,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn trailing_data() {
    for suffix in ["", ".gz"] {
        let bytes = [Split::new(7, 4, 3, 0).image_file(), vec![0; 3]].concat();
        let (err, _) = load_with("trailing", suffix, TRAIN_IMAGES, &bytes);
        assert!(
            matches!(err, DataError::TrailingData { expected: 84, .. }),
            "{err:?}"
        );
    }
}

#[test]
fn corrupt_gzip() {
    let dir = TempDir::new("corrupt-gz");
    let good = gzip(&Split::new(7, 4, 3, 0).image_file());
    let mut bad_crc = good.clone();
    let crc_at = bad_crc.len() - 8;
    bad_crc[crc_at] ^= 0xFF;
    let cases: [(&str, Vec<u8>); 5] = [
        ("not-gzip", b"this is not gzip data at all".to_vec()),
        ("cut-short", good[..good.len() / 2].to_vec()),
        ("bad-crc", bad_crc),
        (
            "garbage-after",
            [good.clone(), b"garbage".to_vec()].concat(),
        ),
        ("empty", Vec::new()),
    ];
    for (name, bytes) in cases {
        let path = dir.join(format!("{name}.gz"));
        fs::write(&path, bytes).unwrap();
        let err = read_idx(&path).unwrap_err();
        assert!(
            matches!(err, DataError::CorruptGzip { .. }),
            "{name}: {err:?}"
        );
        assert_names(&err, &path);
    }
}

#[test]
fn label_out_of_range_reports_the_first() {
    for suffix in ["", ".gz"] {
        let labels = idx(&[7], &[0, 1, 2, 10, 4, 200, 6]);
        let (err, _) = load_with("label", suffix, TRAIN_LABELS, &labels);
        assert!(
            matches!(
                err,
                DataError::BadLabel {
                    index: 3,
                    value: 10,
                    ..
                }
            ),
            "{err:?}"
        );
        let msg = err.to_string();
        assert!(msg.contains("label 10 at index 3"), "{msg}");
    }
}

#[test]
fn image_and_label_counts_disagree() {
    let dir = TempDir::new("count");
    small_dataset(dir.path(), "");
    let labels = write(dir.path(), TRAIN_LABELS, &idx(&[6], &[0, 1, 2, 3, 4, 5]));
    let err = load(dir.path()).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::CountMismatch {
                images: 7,
                labels: 6,
                ..
            }
        ),
        "{err:?}"
    );
    assert_names(&err, &labels);
    assert_names(&err, &dir.join(TRAIN_IMAGES));
}

#[test]
fn splits_with_images_of_two_sizes_are_an_error() {
    let dir = TempDir::new("sizes");
    let (train, test) = (Split::new(7, 4, 3, 0), Split::new(3, 2, 2, 5));
    write_dataset(dir.path(), &train, &test, "");
    let err = load(dir.path()).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::SizeMismatch {
                train: (4, 3),
                test: (2, 2),
                ..
            }
        ),
        "{err:?}"
    );
    assert_names(&err, &dir.join(TRAIN_IMAGES));
    assert_names(&err, &dir.join(TEST_IMAGES));
    assert!(err.to_string().contains("4×3"), "{err}");
}

#[test]
fn io_errors_name_the_path() {
    let dir = TempDir::new("io");
    let missing = dir.join("absent");
    let err = read_idx(&missing).unwrap_err();
    assert!(
        matches!(&err, DataError::Io { source, .. } if source.kind() == ErrorKind::NotFound),
        "{err:?}"
    );
    assert_names(&err, &missing);

    // Opening a directory succeeds on Unix; reading it fails. Through the
    // gzip decoder that failure is still an I/O error, not corrupt data.
    for name in ["a-directory", "a-directory.gz"] {
        let path = dir.join(name);
        fs::create_dir(&path).unwrap();
        let err = read_idx(&path).unwrap_err();
        assert!(matches!(err, DataError::Io { .. }), "{name}: {err:?}");
        assert_names(&err, &path);
    }
}

/// A byte flipped anywhere inside the deflate data is corruption, whatever
/// the damaged stream decodes to: fewer bytes, more, or as many.
#[test]
fn a_flipped_byte_is_corruption_not_a_size_mismatch() {
    let dir = TempDir::new("flipped-gz");
    let split = Split::new(200, 8, 8, 3);
    let good = gzip(&split.image_file());
    let path = dir.join("images.gz");
    // The 10-byte gzip header and the 8-byte trailer aside.
    for at in 10..good.len() - 8 {
        let mut bad = good.clone();
        bad[at] ^= 0x10;
        fs::write(&path, &bad).unwrap();
        match read_idx(&path) {
            Err(DataError::CorruptGzip { .. }) => {}
            // A flip the deflate format does not see and the data survives.
            Ok(idx) => assert_eq!(idx.data, split.images, "byte {at}"),
            Err(e) => panic!("byte {at}: {e:?}"),
        }
    }
}

#[test]
fn the_gz_file_a_raw_one_shadows_is_listed() {
    let dir = TempDir::new("both-forms");
    let (_, test) = small_dataset(dir.path(), "");
    assert!(load(dir.path()).unwrap().unread.is_empty());
    let gz = format!("{TEST_LABELS}.gz");
    write(dir.path(), &gz, &test.label_file());
    assert_eq!(load(dir.path()).unwrap().unread, [dir.join(&gz)]);
}
