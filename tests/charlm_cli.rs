//! `cargo run --example charlm` as a user meets it, on a small text and a
//! small GPT: evaluations in nats and bits, a sample of the length asked,
//! Ctrl-C saves and the resumed run is the uninterrupted one, a finished run
//! resumed only samples, a private run reports ε, and every bad flag or file
//! is a one-line error with status 1.

mod cli;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use cli::{
    assert_error, example_binary, interrupt_after, s, sha256_of_model, stderr, stdout, temp,
};

/// A GPT of 1 layer, 16 wide, 2 heads, context 16; one epoch of windows in
/// batches of 16, evaluated every 10 steps; one thread.
const SMALL: [&str; 16] = [
    "--context",
    "16",
    "--layers",
    "1",
    "--width",
    "16",
    "--heads",
    "2",
    "--batch-size",
    "16",
    "--epochs",
    "1",
    "--eval-every",
    "10",
    "--threads",
    "1",
];

/// A text of 6 000 characters (its own file for each test `tag`).
fn text(tag: &str) -> PathBuf {
    let path = temp(&format!("{tag}.txt"));
    let words = [
        "the ", "cat ", "sat ", "on ", "a ", "mat", ". ", "Then ", "it ", "slept", ".\n",
    ];
    let body: String = (0..3000usize)
        .map(|i| words[(i * 7 + i / 11) % words.len()])
        .collect::<String>()
        .chars()
        .take(6000)
        .collect();
    std::fs::write(&path, body).unwrap();
    path
}

fn charlm(args: &[&str]) -> Command {
    let mut c = Command::new(example_binary("charlm"));
    c.args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::null());
    c
}

/// Runs the example on `text` with `SMALL` and then `args` (later flags
/// win).
fn run(text: &Path, args: &[&str]) -> Output {
    charlm(&[&["--text", s(text)], &SMALL[..], args].concat())
        .output()
        .unwrap()
}

#[test]
fn a_run_prints_its_evaluations_and_a_sample() {
    let t = text("quick");
    let o = run(&t, &["--sample", "120", "--prompt", "The"]);
    let out = stdout(&o);
    assert!(o.status.success(), "{}", stderr(&o));
    // 6 000 characters: 5 400 for training, ⌊5 399/16⌋ = 337 windows, 22
    // steps; evaluations after steps 10, 20 and 22.
    let evals: Vec<&str> = out.lines().filter(|l| l.starts_with("step")).collect();
    assert_eq!(evals.len(), 3, "{out}");
    assert!(evals[2].starts_with("step     22/22"), "{out}");
    assert!(evals.iter().all(|l| l.contains("nats (")), "{out}");
    assert!(out.contains("337 / 37 windows"), "{out}");
    assert!(out.contains("bits per character"), "{out}");
    // The sample: the prompt, then 120 characters of the text's alphabet.
    let sample = out.split("seed 0) ──\n").nth(1).expect("a sample");
    let sample = sample.strip_suffix('\n').unwrap();
    assert_eq!(sample.chars().count(), 3 + 120, "{sample:?}");
    assert!(sample.starts_with("The"));
    let alphabet = std::fs::read_to_string(&t).unwrap();
    assert!(sample.chars().all(|c| alphabet.contains(c)), "{sample:?}");
}

/// Ctrl-C stops at a step boundary, saves, exits with 130 and says how to
/// resume; the resumed run ends with the weights of an uninterrupted one,
/// byte for byte, and a finished run resumed trains nothing.
#[test]
fn ctrl_c_saves_and_the_resumed_run_is_the_uninterrupted_one() {
    let t = text("ctrlc");
    let args = ["--epochs", "40", "--sample", "0"];
    let straight = temp("charlm-ctrlc-straight");
    let o = run(
        &t,
        &[&args[..], &["--save", s(&straight), "--quiet"]].concat(),
    );
    assert!(o.status.success(), "{}", stderr(&o));

    let dir = temp("charlm-ctrlc");
    let (status, err) = interrupt_after(
        charlm(&[&["--text", s(&t)], &SMALL[..], &args, &["--save", s(&dir)]].concat()),
        "step",
    );
    assert_eq!(status.code(), Some(130), "{err}");
    assert!(
        err.contains("interrupted after step") && err.contains(&format!("--resume {}", s(&dir))),
        "{err}"
    );
    let o = charlm(&["--resume", s(&dir), "--sample", "0", "--quiet"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(sha256_of_model(&dir), sha256_of_model(&straight));

    // Finished: nothing to train; it evaluates and samples.
    let o = charlm(&["--resume", s(&dir), "--sample", "30"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("nothing to train"), "{}", stderr(&o));
    assert!(!stdout(&o).contains("\nstep "), "{}", stdout(&o));
    assert!(stdout(&o).contains("── sample"), "{}", stdout(&o));
}

#[test]
fn a_private_run_reports_its_epsilon() {
    let t = text("private");
    let o = run(&t, &["--dp-epsilon", "4", "--epochs", "2", "--sample", "0"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("privacy: DP-SGD · clip C = 1"), "{out}");
    assert!(out.contains("Poisson sampling"), "{out}");
    // ε spent by the end is the target, at δ = 10⁻⁵.
    let spent = out
        .lines()
        .find(|l| l.starts_with("privacy spent"))
        .unwrap_or_else(|| panic!("{out}"));
    let eps: f64 = spent
        .split("ε = ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    assert!((eps - 4.0).abs() < 0.01, "{spent}");
}

#[test]
fn bad_flags_and_files_are_one_line_errors() {
    let t = text("bad");
    let not_utf8 = temp("bad-bytes.txt");
    std::fs::write(&not_utf8, [b'a', 0xff, b'b']).unwrap();
    let missing = temp("missing.txt");
    let cases: Vec<(Vec<&str>, Vec<&str>)> = vec![
        (
            vec!["--temperature", "0"],
            vec!["--temperature must be positive"],
        ),
        (
            vec!["--prompt", "Ω"],
            vec!["--prompt", "never occurs in the text"],
        ),
        (
            vec!["--prompt", ""],
            vec!["--prompt must hold at least one character"],
        ),
        (
            vec!["--heads", "3"],
            vec!["16 features do not split into 3 heads"],
        ),
        (vec!["--context", "6000"], vec!["CharText::split"]),
        (vec!["--validation", "1.5"], vec!["CharText::split"]),
        (
            vec!["--eval-every", "0"],
            vec!["--eval-every must be at least 1"],
        ),
        (
            vec!["--eval-windows", "0"],
            vec!["--eval-windows must be at least 1"],
        ),
        (
            vec!["--dp-clip", "1"],
            vec!["needs --dp-noise or --dp-epsilon"],
        ),
        (
            vec!["--batch-size", "1000"],
            vec!["larger than the 337 training examples"],
        ),
        (vec!["--threads", "0"], vec!["--threads must be at least 1"]),
        (vec!["--optimizer", "adamw(lr=-1)"], vec!["lr"]),
        (vec!["--text", s(&missing)], vec![s(&missing)]),
        (vec!["--text", s(&not_utf8)], vec![s(&not_utf8), "UTF-8"]),
    ];
    for (args, parts) in cases {
        let o = run(&t, &args);
        assert_error(&o, &parts);
    }
}

#[test]
fn a_resumed_run_keeps_its_settings_and_text() {
    let t = text("resume");
    let dir = temp("charlm-resume");
    let o = run(&t, &["--save", s(&dir), "--sample", "0", "--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let resume = |args: &[&str]| {
        charlm(&[&["--resume", s(&dir), "--sample", "0"], args].concat())
            .output()
            .unwrap()
    };
    assert_error(
        &resume(&["--width", "32"]),
        &["--width 32 differs from the saved run's 16"],
    );
    assert_error(&resume(&["--seed", "3"]), &["--seed 3 differs"]);
    assert_error(
        &resume(&["--dp-epsilon", "3"]),
        &["a resumed run keeps its own σ"],
    );
    // Another text: its characters are not the saved model's.
    let other = temp("resume-other.txt");
    std::fs::write(&other, "xyz ".repeat(2000)).unwrap();
    assert_error(
        &resume(&["--text", s(&other)]),
        &["4 distinct characters but the saved model reads"],
    );
    // The same characters in another order: the data is not the run's.
    let shuffled = temp("resume-shuffled.txt");
    let mut chars: Vec<char> = std::fs::read_to_string(&t).unwrap().chars().collect();
    chars.reverse();
    std::fs::write(&shuffled, chars.into_iter().collect::<String>()).unwrap();
    assert_error(&resume(&["--text", s(&shuffled)]), &["training data"]);
    // A checkpoint of another example's model.
    let mnist_run = temp("charlm-resume-mnist");
    let o = Command::new(example_binary("mnist"))
        .args([
            "--limit", "256", "--hidden", "8", "--epochs", "1", "--quiet",
        ])
        .args(["--threads", "1", "--save", s(&mnist_run)])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_error(
        &charlm(&["--resume", s(&mnist_run)]).output().unwrap(),
        &["is a run of the model \"mlp 784-8-10\", not of a GPT"],
    );
}
