//! A sweep's job list run by the engines a cluster has — a Slurm job array
//! (through `crates/bench/cluster/optim_bench.sbatch`), GNU parallel on
//! two local job slots and on two "machines" of an `--sshloginfile` — and
//! merged, against the same sweep run in one process: the same
//! `runs.csv` apart from its timing columns, the same `curves.csv`.
//!
//! The GNU parallel test needs the `parallel` program (`apt-get install
//! parallel`); it is ignored by `cargo test` and run by `.ci/run`, which
//! installs it.

mod cli;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use gradlab::bench::csv::TIMING_COLUMNS;
use gradlab::bench::jobs::OPTIM_BENCH;

/// A sweep of four runs: the variants experiment for two rules, two seeds,
/// on 300 training and 200 test examples, an MLP with one hidden layer
/// of 32.
const TINY: [&str; 18] = [
    "--experiment",
    "variants",
    "--only",
    "sgd,adam",
    "--seeds",
    "2",
    "--hidden",
    "32",
    "--limit",
    "300",
    "--test-limit",
    "200",
    "--batch-size",
    "32",
    "--budget",
    "320",
    "--checkpoints",
    "2",
];

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("gradlab-cluster-{tag}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    d
}

/// `optim_bench` with `args`, from the repository's root.
fn optim_bench(args: &[&str]) -> Output {
    let o = Command::new(cli::example_binary("optim_bench"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "optim_bench {args:?}: {}",
        cli::stderr(&o)
    );
    o
}

/// The sweep run in one process into `dir`.
fn in_process(dir: &Path) {
    let out = dir.to_str().unwrap();
    optim_bench(&[&TINY[..], &["--out", out]].concat());
}

/// The job list of the sweep into `out`, one command per line, each
/// calling the example's binary instead of `cargo run` (what a cluster
/// does after one build), written to `dir/jobs.txt`.
fn job_list(dir: &Path, out: &Path) -> PathBuf {
    let listed = optim_bench(
        &[
            &TINY[..],
            &[
                "--list-jobs",
                "--threads",
                "1",
                "--out",
                out.to_str().unwrap(),
            ],
        ]
        .concat(),
    );
    let binary = cli::example_binary("optim_bench");
    let lines: Vec<String> = cli::stdout(&listed)
        .lines()
        .map(|l| {
            let rest = l.strip_prefix(OPTIM_BENCH).expect("a listed command");
            format!("{}{rest}", binary.display())
        })
        .collect();
    assert_eq!(lines.len(), 4, "four runs");
    let path = dir.join("jobs.txt");
    fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

/// `runs.csv` without its timing columns.
fn untimed_runs(dir: &Path) -> Vec<Vec<String>> {
    let text = fs::read_to_string(dir.join("runs.csv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let keep: Vec<bool> = header.iter().map(|h| !TIMING_COLUMNS.contains(h)).collect();
    text.lines()
        .map(|l| {
            // No field of these runs holds a comma (the specs are quoted
            // only when they do).
            l.split(',')
                .zip(&keep)
                .filter(|(_, &k)| k)
                .map(|(f, _)| f.to_string())
                .collect()
        })
        .collect()
}

/// `merge` of `many`, then the same files as the one-process sweep `one`.
fn merged_equals(one: &Path, many: &Path) {
    optim_bench(&["merge", many.to_str().unwrap()]);
    assert_eq!(untimed_runs(one), untimed_runs(many));
    let curves = |d: &Path| fs::read_to_string(d.join("curves.csv")).unwrap();
    assert_eq!(curves(one), curves(many));
}

/// The Slurm script parses; array task k runs line k + 1 of the list, so
/// tasks 0 to N − 1 run the N listed jobs, task N is an error that says
/// so, and no task is needed twice: a resubmitted task whose run has its
/// file does not run again.
#[test]
fn a_slurm_array_runs_the_listed_jobs() {
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/bench/cluster/optim_bench.sbatch");
    let syntax = Command::new("bash")
        .arg("-n")
        .arg(&script)
        .output()
        .unwrap();
    assert!(syntax.status.success(), "bash -n: {}", cli::stderr(&syntax));
    let (dir, one) = (temp_dir("slurm"), temp_dir("slurm-one"));
    let out = dir.join("sweep");
    let jobs = job_list(&dir, &out);
    let task = |k: usize| {
        Command::new("bash")
            .arg(&script)
            .arg(&jobs)
            .env("SLURM_ARRAY_TASK_ID", k.to_string())
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .unwrap()
    };
    for k in 0..4 {
        let o = task(k);
        assert!(o.status.success(), "task {k}: {}", cli::stderr(&o));
        assert!(
            out.join(format!("runs/{k:05}.json")).is_file(),
            "task {k} wrote its run"
        );
    }
    let past = task(4);
    assert!(!past.status.success());
    assert!(
        cli::stderr(&past).contains("has no line 5 (4 jobs, tasks 0 to 3)"),
        "{}",
        cli::stderr(&past)
    );
    let before = fs::read_to_string(out.join("runs/00002.json")).unwrap();
    assert!(task(2).status.success());
    assert_eq!(
        fs::read_to_string(out.join("runs/00002.json")).unwrap(),
        before
    );
    in_process(&one);
    merged_equals(&one, &out);
    for d in [dir, one] {
        fs::remove_dir_all(d).unwrap();
    }
}

/// `parallel -j2` on this machine, then on two "machines" of an
/// `--sshloginfile`, each reached through a stand-in for `ssh` that runs
/// the command here (as ssh would run it there), one job slot each: both
/// runs of the list, merged, equal the sweep run in one process.
#[test]
#[ignore = "needs GNU parallel (apt-get install parallel); .ci/run runs it"]
fn gnu_parallel_runs_the_listed_jobs() {
    let (dir, one) = (temp_dir("parallel"), temp_dir("parallel-one"));
    in_process(&one);
    let ssh = dir.join("fake-ssh");
    fs::write(
        &ssh,
        concat!(
            "#!/usr/bin/env bash\n",
            "# ssh HOST [--] COMMAND…: COMMAND, here.\n",
            "echo \"$1\" >> \"$(dirname \"$0\")/hosts-used\"\n",
            "shift\n",
            "[[ \"${1:-}\" == -- ]] && shift\n",
            // sshd gives the remote command a login environment; GNU
            // parallel's remote wrapper runs the job with $SHELL and, where
            // it is unset, runs nothing and still exits with success.
            "export SHELL=/bin/bash\n",
            "exec bash -c \"$*\"\n",
        ),
    )
    .unwrap();
    Command::new("chmod").arg("+x").arg(&ssh).status().unwrap();
    let machines = dir.join("machines");
    let ssh = ssh.display();
    fs::write(&machines, format!("1/{ssh} machine-a\n1/{ssh} machine-b\n")).unwrap();
    for (tag, args) in [
        ("local", vec!["-j2".to_string()]),
        (
            "ssh",
            vec!["--sshloginfile".to_string(), machines.display().to_string()],
        ),
    ] {
        let out = dir.join(tag);
        let jobs = job_list(&dir, &out);
        let o = Command::new("parallel")
            .arg("--will-cite")
            .args(&args)
            .stdin(fs::File::open(&jobs).unwrap())
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .expect("GNU parallel is installed");
        assert!(o.status.success(), "parallel {args:?}: {}", cli::stderr(&o));
        merged_equals(&one, &out);
    }
    let used = fs::read_to_string(dir.join("hosts-used")).unwrap();
    let mut hosts: Vec<&str> = used.lines().collect();
    hosts.sort_unstable();
    hosts.dedup();
    assert_eq!(hosts, ["machine-a", "machine-b"], "both machines ran jobs");
    for d in [dir, one] {
        fs::remove_dir_all(d).unwrap();
    }
}
