//! What the command-line tests share: the example binaries `cargo test`
//! builds beside them, their outputs, one-line errors, scratch paths and
//! the checkpoints they write.
#![allow(dead_code)] // each test file uses its own part of this module

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};

use sha2::{Digest, Sha256};

/// The binary of example `name`, which `cargo test` builds next to the
/// tests (`target/<profile>/examples/<name>`).
pub fn example_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(Path::parent).unwrap();
    let bin = profile_dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.is_file(),
        "{} is missing: `cargo test` builds it; alone, run `cargo build --example {name}`",
        bin.display()
    );
    bin
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Asserts that `o` failed with status 1 and a one-line error containing
/// every one of `parts`.
pub fn assert_error(o: &Output, parts: &[&str]) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(1), "stderr: {err}");
    assert!(!err.contains("panicked"), "{err}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.starts_with("warning")).collect();
    assert_eq!(lines.len(), 1, "one line: {err}");
    assert!(lines[0].starts_with("error: "), "{err}");
    for p in parts {
        assert!(err.contains(p), "{p:?} not in: {err}");
    }
}

/// A fresh path for the test `tag`, under Cargo's directory for test files.
pub fn temp(tag: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("gradlab-cli-{tag}"));
    let _ = std::fs::remove_dir_all(&d);
    let _ = std::fs::remove_file(&d);
    d
}

pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Waits for `child` and returns its status and what it wrote to stderr.
pub fn finish(mut child: Child) -> (ExitStatus, String) {
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (child.wait().unwrap(), err)
}

/// The sha256 of the newest checkpoint's weights in checkpoint directory
/// `dir`.
pub fn sha256_of_model(dir: &Path) -> String {
    let step = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("step-")
        })
        .max()
        .unwrap();
    let bytes = std::fs::read(step.join("model.safetensors")).unwrap();
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Runs `command` until its standard output has printed a line starting
/// with `prefix`, then interrupts it (SIGINT, a Ctrl-C) and returns its
/// exit status and what it wrote to stderr.
pub fn interrupt_after(mut command: Command, prefix: &str) -> (ExitStatus, String) {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while !line.starts_with(prefix) {
        line.clear();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "no line starting with {prefix:?}"
        );
    }
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap()
        .success());
    finish(child)
}
