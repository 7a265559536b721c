//! `cargo run --example mnist` as a user meets it: every bad flag, file or
//! situation ends in a one-line error and a non-zero status (never a panic
//! or a hang), Ctrl-C saves and resumes exactly, and a resumed run keeps
//! its settings.
//!
//! The tests run the example's binary, which `cargo test` builds next to
//! them (`target/<profile>/examples/mnist`).

mod cli;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use cli::{
    assert_error, example_binary, finish, interrupt_after, s, sha256_of_model, stderr, stdout, temp,
};

/// A quick run: 512 examples, MLP 784-16-10, one epoch, one thread.
const QUICK: [&str; 10] = [
    "--limit",
    "512",
    "--hidden",
    "16",
    "--batch-size",
    "64",
    "--epochs",
    "1",
    "--threads",
    "1",
];

fn mnist(args: &[&str]) -> Command {
    let mut c = Command::new(example_binary("mnist"));
    c.args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::null());
    c
}

/// Runs the example with `args` after `QUICK` (later flags win).
fn run(args: &[&str]) -> Output {
    mnist(&[&QUICK[..], args].concat()).output().unwrap()
}

/// Writes an IDX file of unsigned bytes.
fn write_idx(path: &Path, dims: &[u32], data: &[u8]) {
    let mut bytes = vec![0, 0, 8, dims.len() as u8];
    for d in dims {
        bytes.extend_from_slice(&d.to_be_bytes());
    }
    bytes.extend_from_slice(data);
    std::fs::write(path, bytes).unwrap();
}

/// A dataset directory: `n` training and `n / 4` test images of `side`²
/// pixels (the test images `test_side`²), pixels and labels from `seed`.
fn idx_dataset(tag: &str, n: u32, side: u32, test_side: u32, seed: u8) -> PathBuf {
    let dir = temp(tag);
    std::fs::create_dir_all(&dir).unwrap();
    let mut x = u32::from(seed) | 1;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        x
    };
    for (split, count, side) in [("train", n, side), ("t10k", n / 4, test_side)] {
        let pixels: Vec<u8> = (0..count * side * side).map(|_| next() as u8).collect();
        let labels: Vec<u8> = (0..count).map(|_| (next() % 10) as u8).collect();
        write_idx(
            &dir.join(format!("{split}-images-idx3-ubyte")),
            &[count, side, side],
            &pixels,
        );
        write_idx(
            &dir.join(format!("{split}-labels-idx1-ubyte")),
            &[count],
            &labels,
        );
    }
    dir
}

#[test]
fn a_quick_run_succeeds() {
    let o = run(&[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("test accuracy"), "{}", stdout(&o));
}

#[test]
fn zero_epochs_is_an_error() {
    assert_error(&run(&["--epochs", "0"]), &["--epochs must be at least 1"]);
}

#[test]
fn test_images_of_another_size_are_an_error() {
    let dir = idx_dataset("sizes", 64, 28, 14, 1);
    assert_error(
        &run(&["--data-dir", s(&dir)]),
        &["28×28", "14×14", "one image size"],
    );
}

#[test]
fn a_model_too_large_for_memory_is_refused_before_allocating() {
    assert_error(
        &run(&["--hidden", "100000000"]),
        &[
            "the model needs about",
            "79500000010 parameters",
            "more than the",
        ],
    );
}

#[test]
fn a_batch_larger_than_the_data_is_an_error() {
    assert_error(
        &run(&["--limit", "5000", "--batch-size", "10000"]),
        &["batch size 10000", "5000 training examples (after --limit)"],
    );
}

#[test]
fn thread_counts_above_the_cores_are_capped() {
    let o = run(&["--threads", "100000"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("warning: --threads 100000 is more than the"));
    assert_error(&run(&["--threads", "0"]), &["--threads must be at least 1"]);
}

#[test]
fn a_broken_stdout_pipe_ends_quietly() {
    let mut child = mnist(&[&QUICK[..], &["--epochs", "3", "--limit", "2048"]].concat())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    assert!(first.starts_with("gradlab"), "{first}");
    drop(out); // `| head -1`
    let (status, err) = finish(child);
    assert!(status.success(), "{status}: {err}");
    assert!(!err.contains("panicked") && !err.contains("error"), "{err}");
}

#[test]
fn an_unwritable_save_directory_fails_before_training() {
    let file = temp("unwritable");
    std::fs::write(&file, b"not a directory").unwrap();
    let target = file.join("run");
    let o = run(&["--save", s(&target)]);
    assert_error(&o, &[s(&target)]);
    assert!(!stdout(&o).contains("epoch 1/"), "{}", stdout(&o));
}

#[test]
fn bad_log_files_are_errors() {
    let missing = temp("log-folder").join("log.csv");
    assert_error(
        &run(&["--log", s(&missing)]),
        &["log.csv", "does not exist"],
    );
    let existing = temp("log-exists");
    std::fs::write(&existing, "keep me\n").unwrap();
    assert_error(&run(&["--log", s(&existing)]), &["the file exists"]);
    assert_eq!(std::fs::read_to_string(&existing).unwrap(), "keep me\n");
}

#[test]
fn resuming_with_other_settings_is_an_error() {
    let dir = temp("conflicts");
    let o = run(&["--save", s(&dir)]);
    assert!(o.status.success(), "{}", stderr(&o));
    for (flag, given, saved) in [
        ("--hidden", "32", "16"),
        ("--optimizer", "adam(lr=1e-3)", "adam(lr=0.003"),
        ("--batch-size", "32", "64"),
        ("--activation", "tanh", "relu"),
        ("--dropout", "0.5", "0"),
        ("--seed", "7", "0"),
        ("--limit", "1000", "512"),
    ] {
        let o = mnist(&["--resume", s(&dir), flag, given]).output().unwrap();
        let shown = if flag == "--optimizer" {
            "adam(lr=0.001"
        } else {
            given
        };
        assert_error(&o, &[flag, shown, saved, "differs from the saved run"]);
    }
    // The same settings written otherwise are the same settings (the
    // default recipe warms up over 5 % of this 8-step run: 0 steps).
    let o = mnist(&[
        "--resume",
        s(&dir),
        "--optimizer",
        "adam(schedule=cosine,lr=0.003)",
        "--threads",
        "1",
    ])
    .output()
    .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let o = mnist(&["--resume", s(&dir), "--optimizer", "foo"])
        .output()
        .unwrap();
    assert_error(&o, &["unknown optimizer 'foo'"]);
}

#[test]
fn a_resume_reloads_the_saved_data_and_refuses_other_data() {
    let data = idx_dataset("data", 512, 28, 28, 3);
    let dir = temp("saved-data");
    let o = run(&["--data-dir", s(&data), "--save", s(&dir), "--limit", "256"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = mnist(&["--resume", s(&dir), "--epochs", "2", "--threads", "1"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains(s(&data)), "{}", stdout(&o));
    let other = idx_dataset("other-data", 512, 28, 28, 4);
    let o = mnist(&["--resume", s(&dir), "--data-dir", s(&other)])
        .output()
        .unwrap();
    assert_error(&o, &["the training data", "differs from the saved run"]);
}

#[test]
fn an_edited_state_is_an_error() {
    let dir = temp("edited");
    assert!(run(&["--save", s(&dir)]).status.success());
    let step = std::fs::read_dir(&dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let state = step.join("state.json");
    let text = std::fs::read_to_string(&state).unwrap();
    std::fs::write(
        &state,
        text.replace("\"steps_done\": 8", "\"steps_done\": 3"),
    )
    .unwrap();
    let o = mnist(&["--resume", s(&dir)]).output().unwrap();
    assert_error(&o, &["state.json", "edited or damaged"]);
}

#[test]
fn diverging_runs_exit_with_the_reason() {
    for (spec, hint) in [
        ("sgd(lr=30)", "try a smaller learning rate"),
        ("rmsprop(lr=10)", "try a smaller learning rate"),
        ("adam(eps=0)", "eps=0"),
    ] {
        let dir = temp(&format!("diverge-{}", &spec[..3]));
        let o = run(&[
            "--optimizer",
            spec,
            "--hidden",
            "512,512",
            "--epochs",
            "3",
            "--save",
            s(&dir),
        ]);
        assert_error(&o, &["training diverged at step", "(epoch ", hint]);
    }
}

#[test]
fn extending_a_resumed_run_says_what_the_schedule_does() {
    let dir = temp("extend");
    assert!(run(&["--save", s(&dir)]).status.success());
    let o = mnist(&["--resume", s(&dir), "--epochs", "2", "--threads", "1"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("saved schedule of 8 steps") && err.contains("leave the weights as they are"),
        "{err}"
    );
}

/// Ctrl-C stops at a step boundary, saves, exits with 130 and says how to
/// resume; the resumed run ends with the weights of an uninterrupted one,
/// byte for byte.
#[test]
fn ctrl_c_saves_and_the_resumed_run_is_the_uninterrupted_one() {
    let args = [
        "--limit",
        "4096",
        "--hidden",
        "32",
        "--epochs",
        "6",
        "--threads",
        "1",
    ];
    let straight = temp("ctrlc-straight");
    let o = mnist(&[&args[..], &["--save", s(&straight), "--quiet"]].concat())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));

    let dir = temp("ctrlc");
    let (status, err) = interrupt_after(
        mnist(&[&args[..], &["--save", s(&dir)]].concat()),
        "epoch 1/",
    );
    assert_eq!(status.code(), Some(130), "{err}");
    assert!(
        err.contains("interrupted after step") && err.contains(&format!("--resume {}", s(&dir))),
        "{err}"
    );
    let o = mnist(&["--resume", s(&dir), "--threads", "1", "--quiet"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(sha256_of_model(&dir), sha256_of_model(&straight));
}

#[test]
fn bad_privacy_flags_are_errors() {
    for (args, message) in [
        (
            &["--dp-clip", "1"][..],
            "set up a private run, which needs --dp-noise or --dp-epsilon",
        ),
        (&["--dp-per-tensor"], "needs --dp-noise or --dp-epsilon"),
        (
            &["--dp-noise=-1"],
            "the noise multiplier σ must be a finite number ≥ 0, got -1",
        ),
        (
            &["--dp-noise", "NaN"],
            "the noise multiplier σ must be a finite number ≥ 0",
        ),
        (
            &["--dp-noise", "1", "--dp-clip", "0"],
            "the clipping bound C must be a number > 0",
        ),
        (
            &["--dp-noise", "1", "--dp-clip", "inf"],
            "∞ only without noise",
        ),
        (
            &["--dp-noise", "1", "--dp-delta", "2"],
            "δ must be in (0, 1), got 2",
        ),
        (
            &["--dp-epsilon", "0"],
            "the target ε must be a finite number > 0, got 0",
        ),
        (
            &["--dp-epsilon", "1e-9"],
            "no noise multiplier up to 1e6 reaches ε = 1e-9 at δ = 1e-5",
        ),
        (
            &["--optimizer", "adam_per_example", "--dp-noise", "1"],
            "adam_per_example reads the per-example squares",
        ),
    ] {
        assert_error(&run(args), &[message]);
    }
}

#[test]
fn a_private_run_reports_epsilon_and_resumes_with_its_own_settings() {
    let dir = temp("private");
    let o = run(&["--dp-noise", "1.1", "--dp-clip", "0.5", "--save", s(&dir)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    for part in [
        "privacy: DP-SGD · clip C = 0.5 (flat) · noise σ = 1.1 · δ = 1e-5",
        "Poisson sampling q = 1.250e-1",
        "epoch 1/1",
        "privacy spent   ε = ",
        "outside the guarantee",
    ] {
        assert!(out.contains(part), "{part:?} not in:\n{out}");
    }
    // ε after one epoch, as the accountant gives it for 8 steps at q = 1/8.
    let mut accountant = gradlab::optim::RdpAccountant::new();
    for _ in 0..8 {
        accountant.step(1.1, 0.125).unwrap();
    }
    let epsilon = accountant.spent(1e-5).unwrap().epsilon;
    let shown = format!("ε {}", gradlab::optim::significant(epsilon, 4));
    assert!(out.contains(&shown), "{shown} not in:\n{out}");

    let resume = |extra: &[&str]| {
        let args = [&["--resume", s(&dir), "--threads", "1"][..], extra].concat();
        mnist(&args).output().unwrap()
    };
    assert_error(
        &resume(&["--dp-epsilon", "3"]),
        &["--dp-epsilon chooses the noise of a new run"],
    );
    assert_error(
        &resume(&["--dp-noise", "2"]),
        &["--dp-noise", "2", "1.1", "differs from the saved run"],
    );
    assert_error(
        &resume(&["--dp-clip", "1"]),
        &["--dp-clip", "0.5", "differs from the saved run"],
    );
    // A run saved without privacy cannot be resumed as a private one.
    let plain = temp("not-private");
    assert!(run(&["--save", s(&plain)]).status.success());
    let o = mnist(&["--resume", s(&plain), "--dp-noise", "1"])
        .output()
        .unwrap();
    assert_error(&o, &["--dp-noise", "none (not private)"]);
}

/// The process id a run wrote into the lock file of `dir`, once it holds
/// the lock (`None` while it does not yet).
fn lock_holder(dir: &Path) -> Option<u32> {
    std::fs::read_to_string(dir.join(".lock"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Whether some process holds the lock of checkpoint directory `dir`.
fn locked(dir: &Path) -> bool {
    let Ok(file) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(dir.join(".lock"))
    else {
        return false;
    };
    match file.try_lock() {
        Ok(()) => false, // released when `file` drops
        Err(std::fs::TryLockError::WouldBlock) => true,
        Err(std::fs::TryLockError::Error(e)) => panic!("{e}"),
    }
}

fn signal(child: &Child, sig: &str) {
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args([sig, &pid])
        .status()
        .unwrap()
        .success());
}

/// Starts a run saving into `dir` and returns it stopped (SIGSTOP) while it
/// holds the directory's lock, or `None` if it finished before it could be
/// stopped (the caller then tries again with a fresh directory).
fn stopped_while_saving(args: &[&str], dir: &Path) -> Option<Child> {
    let mut child = mnist(&[args, &["--save", s(dir), "--quiet"]].concat())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    while lock_holder(dir) != Some(child.id()) {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the run ended ({status}) before it locked {}", s(dir));
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    signal(&child, "-STOP");
    // A stopped process keeps its locks; one that got past its last save
    // has let go already.
    if locked(dir) {
        Some(child)
    } else {
        signal(&child, "-CONT");
        let (status, err) = finish(child);
        assert!(status.success(), "{err}");
        None
    }
}

/// Two runs saving into one directory: the second is refused before it
/// trains, naming the directory and the first run's process, every time;
/// the first finishes and its directory resumes.
#[test]
fn a_second_run_saving_into_a_directory_is_refused() {
    let data = idx_dataset("two-writers", 512, 8, 8, 3);
    let run_args = |seed: &'static str| {
        vec![
            "--data-dir",
            s(&data),
            "--hidden",
            "8",
            "--batch-size",
            "16",
            "--epochs",
            "12",
            "--threads",
            "1",
            "--seed",
            seed,
        ]
    };
    let (mut refused, mut attempt) = (0, 0);
    while refused < 40 {
        attempt += 1;
        assert!(
            attempt < 400,
            "the first run kept finishing before it was stopped"
        );
        let second_seed = if refused % 2 == 0 { "1" } else { "2" };
        let dir = temp(&format!("two-writers-{attempt}"));
        let _ = std::fs::remove_dir_all(&dir);
        let Some(first) = stopped_while_saving(&run_args("1"), &dir) else {
            continue;
        };
        let second = mnist(&[&run_args(second_seed)[..], &["--save", s(&dir)]].concat())
            .output()
            .unwrap();
        assert_error(
            &second,
            &[
                s(&dir),
                &format!("another run (process {})", first.id()),
                "is saving into this checkpoint directory",
            ],
        );
        assert!(!stdout(&second).contains("epoch 1/"), "it trained");
        signal(&first, "-CONT");
        let (status, err) = finish(first);
        assert!(status.success(), "the first run: {err}");
        let o = mnist(&["--resume", s(&dir), "--epochs", "13", "--quiet"])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        refused += 1;
    }
}

#[test]
fn a_lock_left_by_a_killed_run_does_not_block_the_next() {
    let dir = temp("killed-holder");
    let _ = std::fs::remove_dir_all(&dir);
    let args = [
        &QUICK[..],
        &["--epochs", "200", "--limit", "256", "--batch-size", "16"],
    ]
    .concat();
    let first = stopped_while_saving(&args, &dir).expect("200 epochs outlast the test's polling");
    signal(&first, "-KILL");
    let (status, _) = finish(first);
    assert!(!status.success());
    assert!(!locked(&dir), "the lock dies with its process");
    // The next run saves there: it resumes the killed run's newest
    // checkpoint, or, if the kill came before the first, starts afresh.
    let saved_steps = std::fs::read_dir(&dir).unwrap().find_map(|e| {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        name.strip_prefix("step-")?.parse::<u64>().ok()
    });
    let o = if let Some(steps) = saved_steps {
        // 16 steps an epoch: resumed to where it is, it saves again.
        let epochs = (steps / 16).to_string();
        mnist(&["--resume", s(&dir), "--epochs", &epochs, "--quiet"])
    } else {
        mnist(&[&QUICK[..], &["--save", s(&dir), "--quiet"]].concat())
    }
    .output()
    .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("checkpoint"), "{}", stdout(&o));
}

#[test]
fn a_printed_checkpoint_path_resumes() {
    let dir = temp("resume-step");
    let o = run(&["--save", s(&dir)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let printed = stdout(&o)
        .lines()
        .find_map(|l| l.strip_prefix("checkpoint").map(|p| p.trim().to_string()))
        .expect("the summary names the checkpoint");
    assert!(printed.contains("step-000000008"), "{printed}");
    let o = mnist(&["--resume", &printed, "--epochs", "2", "--threads", "1"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("resuming"), "{out}");
    // It goes on saving into the directory that holds the checkpoint.
    assert!(
        out.contains(&format!(
            "checkpoint      {}",
            dir.join("step-000000016").display()
        )),
        "{out}"
    );
}

#[test]
fn a_complete_run_resumed_says_so_and_copies_its_checkpoint_on_request() {
    let dir = temp("complete");
    assert!(run(&["--save", s(&dir)]).status.success());
    let copy = temp("complete-copy");
    let o = mnist(&["--resume", s(&dir), "--save", s(&copy), "--threads", "1"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("the run is complete: it has trained all 1 epochs (8 steps)"),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "its checkpoint is saved into {} as well",
            s(&copy)
        )),
        "{err}"
    );
    assert!(stdout(&o).contains("(nothing to train)"), "{}", stdout(&o));
    assert!(!stdout(&o).contains("-0.0"), "{}", stdout(&o));
    assert_eq!(sha256_of_model(&copy), sha256_of_model(&dir));
}

#[test]
fn a_warmup_as_long_as_the_run_is_an_error_and_over_half_of_it_a_warning() {
    // QUICK is a run of 8 steps.
    assert_error(
        &run(&["--optimizer", "adam(lr=1e-3,warmup=8)"]),
        &[
            "bad value '8' for warmup of adam",
            "fewer steps than the run's 8",
        ],
    );
    assert_error(
        &run(&["--optimizer", "adam(lr=1e-3,warmup=1000000)"]),
        &["'1000000' for warmup", "the run's 8"],
    );
    let o = run(&["--optimizer", "adam(lr=1e-3,warmup=5)"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o)
            .contains("warning: the warm-up of 5 steps takes more than half of the run's 8 steps"),
        "{}",
        stderr(&o)
    );
    assert!(
        stdout(&o).contains("(warm-up: 5 of 8 steps)"),
        "the header says what warm-up runs: {}",
        stdout(&o)
    );
}

/// The test accuracy a run prints.
fn accuracy(o: &Output) -> f64 {
    assert!(o.status.success(), "{}", stderr(o));
    stdout(o)
        .lines()
        .find_map(|l| l.strip_prefix("test accuracy"))
        .and_then(|a| a.trim().trim_end_matches('%').parse().ok())
        .expect("a test accuracy")
}

/// A run of 16 steps: the default recipe warms up over 5 % of it (no step),
/// not over 100 steps it never reaches, and learns about what Adam at the
/// same rate learns.
#[test]
fn the_default_recipe_of_a_short_run_is_not_spent_warming_up() {
    let short = ["--limit", "1000", "--epochs", "1", "--threads", "1"];
    let o = mnist(&short).output().unwrap();
    assert!(
        !stdout(&o).contains("warm-up") && !stdout(&o).contains("warmup"),
        "{}",
        stdout(&o)
    );
    let default = accuracy(&o);
    let adam = accuracy(
        &mnist(&[&short[..], &["--optimizer", "adam(lr=3e-3)"]].concat())
            .output()
            .unwrap(),
    );
    // 72.66 % and 73.75 % (the 100-step warm-up gave 22 %).
    assert!(
        default > 70.0 && default > adam - 3.0,
        "{default} vs {adam}"
    );
}

#[test]
fn numbers_are_printed_to_a_few_significant_digits() {
    assert_error(
        &run(&["--dp-delta", "1e-300", "--dp-epsilon", "3"]),
        &["at δ = 1e-300 in 8 steps"],
    );
    let o = run(&["--dp-epsilon", "1e30"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("privacy spent   ε = 1e30 at δ = 1e-5"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn help_says_what_the_command_does() {
    let o = mnist(&["--help"]).output().unwrap();
    assert!(o.status.success());
    assert!(
        stdout(&o).starts_with(
            "Train a multi-layer perceptron or a convolutional network on MNIST with gradlab."
        ),
        "{}",
        stdout(&o)
    );
}

#[test]
fn a_raw_file_read_beside_its_gz_twin_is_named() {
    let dir = idx_dataset("twins", 64, 8, 8, 5);
    let labels = std::fs::read(dir.join("train-labels-idx1-ubyte")).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &labels).unwrap();
    let twin = dir.join("train-labels-idx1-ubyte.gz");
    std::fs::write(&twin, gz.finish().unwrap()).unwrap();
    let o = run(&["--data-dir", s(&dir), "--limit", "64", "--batch-size", "16"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(&format!(
            "note: read the raw IDX files; the compressed {} beside them was not read",
            s(&twin)
        )),
        "{}",
        stderr(&o)
    );
}

/// A quick CNN run: 256 examples, one epoch, one thread.
const QUICK_CNN: [&str; 10] = [
    "--model",
    "cnn",
    "--limit",
    "256",
    "--batch-size",
    "64",
    "--epochs",
    "1",
    "--threads",
    "1",
];

fn run_cnn(args: &[&str]) -> Output {
    mnist(&[&QUICK_CNN[..], args].concat()).output().unwrap()
}

#[test]
fn a_cnn_run_resumes_as_a_cnn_exactly() {
    let (split, whole) = (temp("cnn-split"), temp("cnn-whole"));
    // A constant rate, so that one epoch resumed to two is two epochs.
    let adam = ["--optimizer", "adam(lr=1e-3)"];
    let o = run_cnn(&[&adam[..], &["--save", s(&split)]].concat());
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("gradlab · cnn 1x28x28-10 (conv 5×5 ×32, batch norm, relu, max pool 2"),
        "{out}"
    );
    let o = mnist(&["--resume", s(&split), "--epochs", "2", "--threads", "1"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("resuming"), "{}", stdout(&o));
    let o = run_cnn(&[&adam[..], &["--save", s(&whole), "--epochs", "2"]].concat());
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(sha256_of_model(&split), sha256_of_model(&whole));
    let o = mnist(&["--resume", s(&split), "--model", "mlp"])
        .output()
        .unwrap();
    assert_error(&o, &["--model", "mlp", "cnn", "differs from the saved run"]);
}

#[test]
fn the_mlp_flags_are_errors_with_a_cnn() {
    for (flag, value) in [
        ("--hidden", "32"),
        ("--activation", "tanh"),
        ("--dropout", "0.1"),
    ] {
        assert_error(
            &run_cnn(&[flag, value]),
            &[flag, "shapes the MLP; --model cnn has its own architecture"],
        );
    }
}

/// A private CNN's checkpoint names its network, so a resumed run rebuilds
/// it: one epoch resumed to two gives the weights of two epochs, the
/// noise and the Poisson batches included.
#[test]
fn a_private_cnn_run_resumes_as_the_private_cnn_exactly() {
    let (split, whole) = (temp("dp-cnn-split"), temp("dp-cnn-whole"));
    let dp = [
        "--dp-noise",
        "1",
        "--batch-size",
        "128",
        "--optimizer",
        "sgd(lr=1)",
    ];
    let o = run_cnn(&[&dp[..], &["--save", s(&split)]].concat());
    assert!(o.status.success(), "{}", stderr(&o));
    let o = mnist(&["--resume", s(&split), "--epochs", "2", "--threads", "1"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("gradlab · scatter-cnn 81x7x7-10"),
        "{}",
        stdout(&o)
    );
    let o = run_cnn(&[&dp[..], &["--save", s(&whole), "--epochs", "2"]].concat());
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(sha256_of_model(&split), sha256_of_model(&whole));
}

#[test]
fn a_private_cnn_run_trains_the_private_cnn() {
    let o = run_cnn(&["--dp-noise", "1", "--limit", "512", "--batch-size", "256"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains(
            "gradlab · scatter-cnn 81x7x7-10 (the images' scattering transform, J = 2, L = 8; \
             then group norm, conv 3×3/2 ×32"
        ),
        "{out}"
    );
    assert!(out.contains("clip C = 0.4196 (flat)"), "{out}");
    assert!(out.contains("privacy spent   ε = "), "{out}");
}

#[test]
fn per_example_statistics_through_the_cnns_batch_norm_are_an_error_naming_it() {
    let o = run_cnn(&["--optimizer", "adam_per_example(eta0=1e-5)"]);
    assert_error(
        &o,
        &[
            "batch norm (batch statistics)",
            "depends on a statistic across examples",
        ],
    );
}
