//! `train_csv` as a user meets it: every bad file is a one-line error with
//! exit status 1 that names the file (and the line and column of a bad
//! cell), never a panic, a hang or a run on nonsense.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn train_csv(args: &[&str]) -> Output {
    let exe = std::env::current_exe().unwrap();
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .unwrap()
        .join("examples")
        .join(format!("train_csv{}", std::env::consts::EXE_SUFFIX));
    Command::new(bin)
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn temp(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("gradlab-train-csv");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// Asserts a one-line error, status 1, containing every one of `parts`.
fn assert_error(o: &Output, parts: &[&str]) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.starts_with("error: "), "{err}");
    for p in parts {
        assert!(err.contains(p), "{p:?} not in: {err}");
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut encoder, bytes).unwrap();
    encoder.finish().unwrap()
}

#[test]
fn a_gzipped_csv_trains_as_the_plain_one() {
    let plain = "datasets/digits/train.csv";
    let gz = temp("digits.csv.gz", &gzip(&std::fs::read(plain).unwrap()));
    let run = |path: &str| {
        let o = train_csv(&["--train", path, "--target", "digit", "--epochs", "2"]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let out = String::from_utf8_lossy(&o.stdout).into_owned();
        out.lines().last().unwrap().to_string()
    };
    assert_eq!(run(gz.to_str().unwrap()), run(plain));
}

#[test]
fn every_bad_file_is_a_one_line_error() {
    let cases: Vec<(PathBuf, Vec<&str>)> = vec![
        (
            temp("empty.csv", b""),
            vec!["empty.csv", "the file is empty"],
        ),
        (
            temp("only.csv", b"y\n1\n2\n"),
            vec![
                "only.csv",
                "line 1 (the header) has no column but the target \"y\"",
            ],
        ),
        (
            temp("id.csv", b"a,y\n1,0\n2,1\n3,1000000000\n"),
            vec!["id.csv", "line 4, column 2 (\"y\")", "below 1048576"],
        ),
        (
            temp("huge.csv", b"a,y\n1,0\n3e38,1\n"),
            vec![
                "huge.csv",
                "line 3, column 1 (\"a\")",
                "magnitude at most 1e18",
            ],
        ),
        (
            temp("packed.csv", &gzip(b"a,y\n1,0\n")),
            vec!["packed.csv", "line 1 is not UTF-8 text", "ends in .gz"],
        ),
        (
            PathBuf::from("/dev/zero"),
            vec!["/dev/zero", "not a regular file"],
        ),
    ];
    for (path, parts) in cases {
        let o = train_csv(&["--train", path.to_str().unwrap(), "--target", "y"]);
        assert_error(&o, &parts);
    }
}
