//! Tiny sweeps on the real MNIST files: a few hundred examples, an MLP with
//! one hidden layer of 32, two runs.

use std::fs;
use std::path::{Path, PathBuf};

use clap::Parser;
use gradlab_bench::cli::{Cli, Outcome};
use gradlab_bench::csv::{CURVE_COLUMNS, RUN_COLUMNS, TARGET_COLUMNS, TIMING_COLUMNS};
use gradlab_bench::experiments::batch_size::RULES;
use gradlab_bench::experiments::bias_correction::{mean_errors, CORRECTIONS, N};
use gradlab_bench::experiments::tuned;
use gradlab_bench::{jobs, BenchError, Options};
use gradlab_optim::{registry, Correction, Optimizer};

/// The flags of the tiny sweep: the variants experiment restricted to two
/// optimizers and one seed, 300 training and 200 test examples.
const TINY: [&str; 18] = [
    "--experiment",
    "variants",
    "--only",
    "sgd,adam",
    "--seeds",
    "1",
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
    let d = std::env::temp_dir().join(format!("gradlab-bench-{tag}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    d
}

fn cli(extra: &[&str]) -> Cli {
    let args = ["optim_bench"].iter().chain(&TINY).chain(extra);
    Cli::try_parse_from(args).unwrap()
}

fn sweep_into(dir: &Path) -> jobs::Merged {
    match cli(&["--out", dir.to_str().unwrap()])
        .run(&mut |_| {})
        .unwrap()
    {
        Outcome::Merged(m) => m,
        other => panic!("expected a merged sweep, got {other:?}"),
    }
}

fn read(dir: &Path, name: &str) -> String {
    fs::read_to_string(dir.join(name)).unwrap()
}

/// The fields of a CSV line: specs are quoted and hold commas.
fn split_fields(line: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let (mut field, mut quoted) = (String::new(), false);
    for ch in line.chars() {
        match ch {
            '"' => quoted = !quoted,
            ',' if !quoted => fields.push(std::mem::take(&mut field)),
            _ => field.push(ch),
        }
    }
    fields.push(field);
    fields
}

/// `runs.csv` without its timing columns. Specs are quoted and hold commas,
/// so fields are split with the quotes in mind.
fn without_timing(csv: &str) -> Vec<Vec<String>> {
    let timing: Vec<usize> = TIMING_COLUMNS
        .iter()
        .map(|c| RUN_COLUMNS.iter().position(|r| r == c).unwrap())
        .collect();
    csv.lines()
        .map(|line| {
            let fields = split_fields(line);
            assert_eq!(fields.len(), RUN_COLUMNS.len(), "row {line}");
            fields
                .into_iter()
                .enumerate()
                .filter(|(i, _)| !timing.contains(i))
                .map(|(_, f)| f)
                .collect()
        })
        .collect()
}

#[test]
fn a_tiny_sweep_writes_every_file_with_its_columns() {
    let dir = temp_dir("tiny");
    let merged = sweep_into(&dir);
    assert_eq!((merged.runs, merged.diverged), (2, 0));

    let runs = read(&dir, "runs.csv");
    let mut lines = runs.lines();
    assert_eq!(lines.next().unwrap(), RUN_COLUMNS.join(","));
    // Two runs × two checkpoints, at 160 and 320 examples seen.
    let rows: Vec<Vec<String>> = without_timing(&runs).into_iter().skip(1).collect();
    assert_eq!(rows.len(), 4);
    let col = |name: &str| RUN_COLUMNS.iter().position(|c| *c == name).unwrap();
    let examples: Vec<&str> = rows
        .iter()
        .map(|r| r[col("examples_seen")].as_str())
        .collect();
    assert_eq!(examples, ["160", "320", "160", "320"]);
    assert!(rows.iter().all(|r| r[col("status")] == "ok"));
    assert_eq!(rows[0][col("optimizer")], tuned("sgd").spec());
    assert_eq!(rows[2][col("optimizer")], tuned("adam").spec());
    for r in &rows {
        let acc: f64 = r[col("test_accuracy")].parse().unwrap();
        assert!((0.0..=1.0).contains(&acc));
        assert!(
            r[col("b_noise")].is_empty(),
            "neither optimizer measures B_noise"
        );
    }

    let curves = read(&dir, "curves.csv");
    assert_eq!(curves.lines().next().unwrap(), CURVE_COLUMNS.join(","));
    // 10 steps of 32 per run; the geometric grid of 320^(j/40) examples
    // ends a point at every step from the first.
    assert_eq!(curves.lines().count(), 1 + 2 * 10);

    // targets.csv: a row per run and target, each target's row agreeing
    // with runs.csv's first checkpoint at or above it.
    let targets = read(&dir, "targets.csv");
    assert_eq!(targets.lines().next().unwrap(), TARGET_COLUMNS.join(","));
    let trow: Vec<Vec<String>> = targets.lines().skip(1).map(split_fields).collect();
    assert_eq!(
        trow.len(),
        2 * 3,
        "two runs × the default targets 0.97, 0.98, 0.983"
    );
    let tcol = |name: &str| TARGET_COLUMNS.iter().position(|c| *c == name).unwrap();
    for (k, t) in trow.iter().enumerate() {
        let target: f64 = t[tcol("target")].parse().unwrap();
        let run = &rows[2 * (k / 3)..2 * (k / 3) + 2];
        let first = run
            .iter()
            .find(|r| r[col("test_accuracy")].parse::<f64>().unwrap() >= target);
        match first {
            Some(r) => {
                assert_eq!(t[tcol("status")], "reached");
                assert_eq!(t[tcol("examples_seen")], r[col("examples_seen")]);
            }
            None => assert_eq!(t[tcol("status")], "not reached", "{t:?}"),
        }
    }

    let report = read(&dir, "report.md");
    assert!(report.contains("## Every optimizer at its tuned rate"));
    assert!(report.contains("![test accuracy against examples seen"));
    assert!(read(&dir, "variants.svg").starts_with("<svg"));
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn listed_jobs_then_merge_equal_the_in_process_sweep() {
    let (one, many) = (temp_dir("in-process"), temp_dir("jobs"));
    sweep_into(&one);

    let listed = cli(&["--list-jobs", "--out", many.to_str().unwrap()]);
    let Outcome::Listed {
        commands, merge, ..
    } = listed.run(&mut |_| {}).unwrap()
    else {
        panic!("--list-jobs lists");
    };
    assert_eq!(commands.len(), 2);
    assert!(merge.ends_with(&format!("merge {}", many.display())));
    let run = |command: &str| {
        let (prefix, args) = command.split_once(" -- ").unwrap();
        assert_eq!(prefix, "cargo run --release --example optim_bench");
        // As a shell reads the line: quoted words (`'sgd,adam'`) unquoted.
        let words = shlex::split(args).expect("the command is well quoted");
        let job =
            Cli::try_parse_from(["optim_bench".to_string()].into_iter().chain(words)).unwrap();
        assert!(matches!(job.run(&mut |_| {}).unwrap(), Outcome::Job { .. }));
    };
    let merge_cli = Cli::try_parse_from(["optim_bench", "merge", many.to_str().unwrap()]).unwrap();

    run(&commands[0]);
    let err = merge_cli.run(&mut |_| {}).unwrap_err();
    assert!(
        matches!(&err, BenchError::Merge(m) if m.contains("1 of 2 runs") && m.contains("jobs 1;")),
        "{err}"
    );
    run(&commands[1]);
    assert!(matches!(
        merge_cli.run(&mut |_| {}).unwrap(),
        Outcome::Merged(_)
    ));

    assert_eq!(
        without_timing(&read(&one, "runs.csv")),
        without_timing(&read(&many, "runs.csv"))
    );
    assert_eq!(read(&one, "curves.csv"), read(&many, "curves.csv"));
    // targets.csv, without its one timing column, the last.
    let untimed = |csv: String| -> Vec<Vec<String>> {
        csv.lines()
            .map(|l| {
                let mut f = split_fields(l);
                f.pop();
                f
            })
            .collect()
    };
    assert_eq!(
        untimed(read(&one, "targets.csv")),
        untimed(read(&many, "targets.csv"))
    );
    assert_eq!(read(&one, "variants.svg"), read(&many, "variants.svg"));
    for d in [one, many] {
        fs::remove_dir_all(d).unwrap();
    }
}

/// A sweep run again into its directory, and a listed job run again, run
/// only what has no file there: an interrupted sweep is finished by
/// running it again, and the files of finished runs stay as they were.
#[test]
fn runs_already_done_are_skipped() {
    let dir = temp_dir("skip");
    sweep_into(&dir);
    let first = read(&dir, "runs/00001.json");
    fs::remove_file(dir.join("runs/00000.json")).unwrap();
    let mut ran = Vec::new();
    let again = cli(&["--out", dir.to_str().unwrap()]);
    again
        .run(&mut |p| {
            if let jobs::Progress::Run { job, .. } = p {
                ran.push(job);
            }
        })
        .unwrap();
    assert_eq!(ran, [0], "only the run without a file runs again");
    assert_eq!(
        read(&dir, "runs/00001.json"),
        first,
        "a finished run's file stays"
    );
    let job = cli(&["--job", "1", "--out", dir.to_str().unwrap()]);
    let mut ran = 0;
    let outcome = job
        .run(&mut |p| ran += usize::from(matches!(p, jobs::Progress::Run { .. })))
        .unwrap();
    assert!(matches!(outcome, Outcome::Job { .. }));
    assert_eq!(ran, 0, "a listed job whose file is there does not run");
    assert_eq!(read(&dir, "runs/00001.json"), first);
    fs::remove_dir_all(dir).unwrap();
}

/// Two identical sweeps, and sweeps on 1 and 3 threads, write the same
/// `runs.csv` apart from its timing columns and the same `curves.csv`, byte
/// for byte.
#[test]
fn the_same_seeds_give_the_same_runs_for_any_thread_count() {
    let in_pool = |threads: usize, tag: &str| {
        let dir = temp_dir(tag);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| sweep_into(&dir));
        let files = (read(&dir, "runs.csv"), read(&dir, "curves.csv"));
        fs::remove_dir_all(&dir).unwrap();
        files
    };
    let (a, b, c) = (
        in_pool(1, "threads-1"),
        in_pool(3, "threads-3"),
        in_pool(3, "threads-3-again"),
    );
    assert_eq!(without_timing(&a.0), without_timing(&b.0));
    assert_eq!(without_timing(&b.0), without_timing(&c.0));
    assert_eq!(a.1, b.1, "curves.csv on 1 and 3 threads");
    assert_eq!(b.1, c.1, "curves.csv of two identical sweeps");
}

#[test]
fn a_job_out_of_range_and_a_foreign_directory_are_errors() {
    let dir = temp_dir("errors");
    let job = cli(&["--job", "2", "--out", dir.to_str().unwrap()]);
    let err = job.run(&mut |_| {}).unwrap_err();
    assert!(
        err.to_string()
            .contains("the sweep has 2 runs, numbered 0 to 1"),
        "{err}"
    );
    // A directory holds one sweep: once a job has written into it, another
    // sweep may not.
    let first = cli(&["--job", "0", "--out", dir.to_str().unwrap()]);
    assert!(matches!(
        first.run(&mut |_| {}).unwrap(),
        Outcome::Job { .. }
    ));
    let other = Cli::try_parse_from([
        "optim_bench",
        "--experiment",
        "bias-correction",
        "--out",
        dir.to_str().unwrap(),
    ])
    .unwrap();
    let err = other.run(&mut |_| {}).unwrap_err();
    assert!(err.to_string().contains("holds a different sweep"), "{err}");
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_quick_sweep_plans_every_experiment() {
    let options = Options {
        quick: true,
        ..Cli::try_parse_from(["optim_bench"]).unwrap().options
    };
    let settings = options.resolve().unwrap();
    let plan = jobs::plan(&settings).unwrap();
    let count = |e: &str| plan.iter().filter(|r| r.experiment == e).count();
    // 3 optimizers × 3 α; 6 ε + SGD; 5 rules × 4 B; 32 optimizers; 32 × 5 rates; × 2 seeds.
    assert_eq!(count("scale-invariance"), 18);
    assert_eq!(count("eps-to-sgd"), 14);
    assert_eq!(count("batch-size"), 40);
    assert_eq!(count("variants"), 64);
    assert_eq!(count("lr-sweep"), 320);
    // σ = 0 and 5 noise multipliers, × 2 seeds.
    assert_eq!(count("privacy"), 12);
    // 7 workloads × 32 optimizers × 3 studies × 2 trials, less the one
    // rule that reads per-example squares on the private workload.
    assert_eq!(count("tune"), 7 * 32 * 6 - 6);
    // 2 recipes × seeds 0–9.
    assert_eq!(count("speedrun"), 20);
    // Every batch size sees exactly the budget, and every checkpoint falls
    // on the same number of examples whatever the batch size (the speedrun
    // runs whole epochs and is compared in seconds).
    for r in plan.iter().filter(|r| r.experiment != "speedrun") {
        assert_eq!(r.budget % r.batch_size, 0, "{r:?}");
        assert_eq!(r.budget % (r.checkpoints * r.batch_size), 0, "{r:?}");
    }
}

#[test]
fn batch_size_rules_agree_at_the_reference_batch_size() {
    for t in registry::series() {
        assert_eq!(
            Optimizer::from_spec(&t.spec()).unwrap().to_string(),
            t.spec()
        );
    }
    let at = |spec: &str, b: usize| Optimizer::from_spec(spec).unwrap().learning_rate(b);
    let reference = at(&RULES[0].spec(128), 128);
    for rule in &RULES[..3] {
        let spec = rule.spec(128);
        assert!((at(&spec, 128) - reference).abs() <= 1e-9, "{spec}");
    }
    // The sqrt rule at 4× the batch size doubles η; the linear one
    // quadruples it.
    assert!((at(&RULES[1].spec(128), 512) / reference - 2.0).abs() < 1e-5);
    assert!((at(&RULES[2].spec(128), 512) / reference - 4.0).abs() < 1e-5);
}

#[test]
fn bias_correction_numbers_show_the_slides_claims() {
    let errs = mean_errors(&[0, 1, 2]);
    let get = |c: Correction| errs[CORRECTIONS.iter().position(|(k, _)| *k == c).unwrap()];
    let (none, cumulative, min_nt, published) = (
        get(Correction::None),
        get(Correction::Cumulative),
        get(Correction::MinNT),
        get(Correction::Published),
    );
    // None is biased toward 0 at the start; the others are not.
    assert!(none.0 > 0.5, "{none:?}");
    for other in [cumulative, min_nt, published] {
        assert!(other.0 < none.0 / 3.0, "{other:?} against {none:?}");
    }
    // While t ≤ N, 1/min(N, t) is 1/t: MinNT is the cumulative mean.
    assert_eq!(min_nt.0, cumulative.0);
    // MinNT and Published track the change within a few N; the cumulative
    // mean never gets there and ends midway between the two levels.
    for tracking in [min_nt, published] {
        assert!(tracking.1.is_some_and(|lag| lag < 3.0 * N), "{tracking:?}");
        assert!(tracking.2 < 0.2, "{tracking:?}");
    }
    assert_eq!(cumulative.1, None);
    assert!(cumulative.2 > 0.8, "{cumulative:?}");
}

gradlab_optim::hyperparameters! {
    /// Signum: SGD along the sign of a momentum, m ← βm + (1 − β)ĝ,
    /// Φ ← Φ − η·sign(m).
    struct Signum {
        /// η.
        lr: f64 = 1e-3, Positive;
        /// β.
        momentum: f64 = 0.9, Fraction;
    }
}

impl gradlab_optim::Rule for Signum {
    const NAME: &'static str = "test_signum";
    const STATE: &'static [&'static str] = &["m"];
    type State = [f32; 1];
    type Scalars = [f32; 2];

    fn learning_rate(&self) -> f64 {
        self.lr
    }

    fn scalars(&self, _t: u64, eta: f64) -> [f32; 2] {
        [eta as f32, self.momentum as f32]
    }

    fn update(&[eta, b]: &[f32; 2], phi: &mut f32, g: gradlab_optim::Gradient, [m]: &mut [f32; 1]) {
        *m = b * *m + (1.0 - b) * g.mean;
        *phi -= eta * gradlab_optim::sign(*m);
    }
}

#[test]
fn a_registered_rule_runs_in_the_benchmark() {
    gradlab_optim::register::<Signum>().unwrap();
    let dir = temp_dir("registered");
    let mut args = vec!["optim_bench"];
    args.extend(TINY.map(|a| {
        if a == "sgd,adam" {
            "sgd,test_signum"
        } else {
            a
        }
    }));
    args.extend(["--out", dir.to_str().unwrap()]);
    let outcome = Cli::try_parse_from(args).unwrap().run(&mut |_| {}).unwrap();
    assert!(matches!(outcome, Outcome::Merged(_)), "{outcome:?}");
    let runs = without_timing(&read(&dir, "runs.csv"));
    let spec = RUN_COLUMNS.iter().position(|&c| c == "optimizer").unwrap();
    let mut specs: Vec<&str> = runs[1..].iter().map(|r| r[spec].as_str()).collect();
    specs.dedup();
    assert_eq!(
        specs,
        [
            tuned("sgd").spec(),
            "test_signum(lr=0.001,momentum=0.9)".to_string()
        ]
    );
    assert!(read(&dir, "report.md").contains("test_signum"));
    let _ = fs::remove_dir_all(&dir);
}

/// `--on WORKLOAD`: the lecture's experiments train the workload's model on
/// its data — the digits' MLP 64-64-10 on the 8×8 digits here, every run
/// naming it, the report saying so — and an unknown workload is an error
/// that lists them.
#[test]
fn the_lecture_experiments_run_on_a_workload() {
    let dir = temp_dir("on");
    let args = [
        "--experiment",
        "scale-invariance",
        "--quick",
        "--seeds",
        "1",
    ];
    let tail = [
        "--on",
        "digits",
        "--budget",
        "320",
        "--out",
        dir.to_str().unwrap(),
    ];
    let cli = Cli::try_parse_from(["optim_bench"].iter().chain(&args).chain(&tail)).unwrap();
    assert!(matches!(cli.run(&mut |_| {}).unwrap(), Outcome::Merged(m) if m.runs == 9));
    let runs = read(&dir, "runs.csv");
    let mut lines = runs.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let at = header.iter().position(|&c| c == "workload").unwrap();
    assert!(
        lines.all(|l| l.split(',').nth(at) == Some("digits")),
        "{runs}"
    );
    let report = read(&dir, "report.md");
    assert!(
        report.contains("the workload `digits` (the 8×8 digits CSV"),
        "{report}"
    );
    fs::remove_dir_all(&dir).unwrap();
    let err = Options {
        experiment: vec!["variants".into()],
        on: Some("cifar".into()),
        ..Options::default()
    }
    .resolve()
    .unwrap_err()
    .to_string();
    assert!(
        err.starts_with("--on: no workload 'cifar'; the workloads are mnist-mlp"),
        "{err}"
    );
}
