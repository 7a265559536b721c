//! Every example binary ends quietly when the reader of its output goes
//! away (`… | head -1`): exit status 0, no panic, no backtrace. Each runs
//! twice: once read for one line, as `head -1` does, and once into a pipe
//! closed before it starts, so that a write meets the closed pipe whatever
//! the timing.
//!
//! The binaries are the ones `cargo test` builds beside this test
//! (`target/<profile>/examples/`).

mod cli;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

/// Runs example `name` with `args`, reads one line of its output and closes
/// the pipe; returns its exit status and stderr.
fn read_one_line(name: &str, args: &[&str]) -> (std::process::ExitStatus, String) {
    let mut child = Command::new(cli::example_binary(name))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    assert!(!first.is_empty(), "{name} printed nothing");
    drop(out);
    cli::finish(child)
}

/// Runs example `name` with `args` writing into a pipe whose reader has
/// gone already, so that its first line meets the closed pipe whatever the
/// timing; returns its exit status and stderr.
fn read_nothing(name: &str, args: &[&str]) -> (std::process::ExitStatus, String) {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let o = Command::new(cli::example_binary(name))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    (o.status, String::from_utf8_lossy(&o.stderr).into_owned())
}

#[test]
fn every_example_ends_quietly_on_a_closed_pipe() {
    let jobs = std::env::temp_dir().join(format!("gradlab-pipe-jobs-{}", std::process::id()));
    let jobs = jobs.to_str().unwrap();
    let cases: [(&str, Vec<&str>); 9] = [
        (
            "charlm",
            vec![
                "--text",
                "datasets/austen/README.md",
                "--context",
                "16",
                "--layers",
                "1",
                "--width",
                "16",
                "--heads",
                "2",
                "--batch-size",
                "4",
                "--epochs",
                "3",
                "--eval-every",
                "5",
                "--threads",
                "1",
            ],
        ),
        (
            "mnist",
            vec![
                "--limit",
                "2048",
                "--hidden",
                "16",
                "--epochs",
                "3",
                "--threads",
                "1",
            ],
        ),
        (
            "train_csv",
            vec![
                "--train",
                "datasets/digits/train.csv",
                "--target",
                "digit",
                "--epochs",
                "30",
            ],
        ),
        (
            "optim_bench",
            vec![
                "--experiment",
                "lr-sweep",
                "--quick",
                "--list-jobs",
                "--out",
                jobs,
            ],
        ),
        ("optim_bench", vec!["--help"]),
        ("custom_loop", vec![]),
        ("custom_op", vec![]),
        ("tape_tour", vec![]),
        ("custom_optimizer", vec![]),
    ];
    for (name, args) in &cases {
        for (status, err) in [read_one_line(name, args), read_nothing(name, args)] {
            assert_eq!(status.code(), Some(0), "{name} {args:?}: {err}");
            assert!(!err.contains("panicked"), "{name} {args:?}: {err}");
        }
    }
    let _ = std::fs::remove_dir_all(jobs);
}
