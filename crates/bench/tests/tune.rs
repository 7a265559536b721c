//! A tiny `tune`: two optimizers, two studies of two trials each, on the
//! digits and the regression workloads (and MNIST's, shrunk). It is
//! deterministic, each study runs on its own seed, the report's times per
//! study and their medians are the ones worked out here from
//! `targets.csv`, and listing its jobs, running them and merging gives the
//! in-process sweep's files. Self-tuning runs each rule's benchmark
//! configuration once per study on 1.5× the budget.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use clap::Parser;
use gradlab_bench::cli::{Cli, Outcome};
use gradlab_bench::csv::{RUN_COLUMNS, TIMING_COLUMNS};
use gradlab_bench::experiments::tune::{candidates, point};
use gradlab_bench::report::num;
use gradlab_bench::workloads::{workload, workloads};
use gradlab_bench::{BenchError, Options};
use gradlab_optim::Optimizer;

const TINY: [&str; 17] = [
    "--experiment",
    "tune",
    "--only",
    "sgd,amsgrad",
    "--workloads",
    "digits,regression,mnist-deep-tanh",
    "--trials",
    "2",
    "--studies",
    "2",
    "--limit",
    "300",
    "--budget",
    "640",
    "--checkpoints",
    "4",
    "--quick",
];

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("gradlab-tune-{tag}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    d
}

fn cli(extra: &[&str]) -> Cli {
    let args = ["optim_bench"].iter().chain(&TINY).chain(extra);
    Cli::try_parse_from(args).unwrap()
}

fn sweep_into(dir: &Path) {
    let out = cli(&["--out", dir.to_str().unwrap()])
        .run(&mut |_| {})
        .unwrap();
    assert!(matches!(out, Outcome::Merged(_)), "{out:?}");
}

/// The rows of a CSV file as maps from column to field.
fn rows(dir: &Path, name: &str) -> Vec<BTreeMap<String, String>> {
    let mut reader = csv::Reader::from_path(dir.join(name)).unwrap();
    let header = reader.headers().unwrap().clone();
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            header
                .iter()
                .map(String::from)
                .zip(r.iter().map(String::from))
                .collect()
        })
        .collect()
}

/// `runs.csv` without its timing columns.
fn untimed_runs(dir: &Path) -> Vec<BTreeMap<String, String>> {
    let mut rows = rows(dir, "runs.csv");
    for r in &mut rows {
        assert_eq!(r.len(), RUN_COLUMNS.len());
        for c in TIMING_COLUMNS {
            r.remove(c);
        }
    }
    rows
}

/// `targets.csv` without its timing column.
fn untimed_targets(dir: &Path) -> Vec<BTreeMap<String, String>> {
    let mut rows = rows(dir, "targets.csv");
    for r in &mut rows {
        r.remove("train_s");
    }
    rows
}

#[test]
fn a_tiny_tune_is_deterministic_and_scores_each_study() {
    let (a, b) = (temp_dir("a"), temp_dir("b"));
    sweep_into(&a);
    sweep_into(&b);
    assert_eq!(untimed_runs(&a), untimed_runs(&b));
    assert_eq!(untimed_targets(&a), untimed_targets(&b));
    assert_eq!(
        fs::read_to_string(a.join("curves.csv")).unwrap(),
        fs::read_to_string(b.join("curves.csv")).unwrap()
    );

    // 3 workloads × 2 optimizers × 2 studies × 2 trials, each with 4
    // checkpoints.
    let runs = untimed_runs(&a);
    assert_eq!(runs.len(), 3 * 2 * 4 * 4);
    let report = fs::read_to_string(a.join("report.md")).unwrap();
    let targets = untimed_targets(&a);
    for name in ["digits", "regression", "mnist-deep-tanh"] {
        let w = workload(name).unwrap();
        let rank = *w.quick_targets.last().unwrap();
        let table = &report[report.find(&format!("**{name}**")).unwrap()..];
        for series in ["sgd", "amsgrad"] {
            let trials: Vec<&BTreeMap<String, String>> = targets
                .iter()
                .filter(|r| r["workload"] == name && r["series"] == series)
                .filter(|r| r["target"].parse::<f64>().unwrap() == rank)
                .collect();
            // Trials 0 and 1 are study 0 on seed 0, trials 2 and 3 study 1
            // on seed 1, four distinct configurations.
            let mut seen: Vec<(&str, &str)> = trials
                .iter()
                .map(|r| (r["trial"].as_str(), r["seed"].as_str()))
                .collect();
            seen.sort_unstable();
            assert_eq!(seen, [("0", "0"), ("1", "0"), ("2", "1"), ("3", "1")]);
            let mut configs: Vec<&str> = trials.iter().map(|r| r["optimizer"].as_str()).collect();
            configs.sort_unstable();
            configs.dedup();
            assert_eq!(configs.len(), 4, "{name} {series}");
            if series == "amsgrad" {
                assert!(configs.iter().all(|c| c.contains("amsgrad=true")));
            }
            // Each study's fastest trial, and the median of the two: their
            // mean, or not reached when either study missed the target.
            let study = |seed: &str| {
                trials
                    .iter()
                    .filter(|r| r["seed"] == seed)
                    .filter_map(|r| r["examples_seen"].parse::<f64>().ok())
                    .fold(f64::INFINITY, f64::min)
            };
            let shown = |x: f64| {
                if x.is_finite() {
                    num(x)
                } else {
                    "not reached".into()
                }
            };
            let (s0, s1) = (study("0"), study("1"));
            let row = table
                .lines()
                .find(|l| l.starts_with(&format!("| {series} |")))
                .unwrap();
            let cells: Vec<&str> = row.split(" | ").collect();
            assert_eq!(
                cells[3],
                format!("{} / {}", shown(s0), shown(s1)),
                "{name} {series}: {row}"
            );
            assert_eq!(cells[4], shown((s0 + s1) / 2.0), "{name} {series}: {row}");
        }
    }
    assert!(report.contains("Performance profile by examples to target over 3 workloads"));
    assert!(report.contains("with its range over the studies"));
    assert!(fs::read_to_string(a.join("tune-profile.svg"))
        .unwrap()
        .starts_with("<svg"));
    for d in [a, b] {
        fs::remove_dir_all(d).unwrap();
    }
}

/// Self-tuning: no search, each rule's benchmark configuration once per
/// study (seeds 0 and 1), on 1.5× the budget at the same evaluation
/// interval (640 examples in 4 evaluations → 960 in 6).
#[test]
fn self_tuning_runs_the_benchmark_configuration_on_one_and_a_half_budgets() {
    let dir = temp_dir("self");
    let out = cli(&["--self-tuning", "--out", dir.to_str().unwrap()])
        .run(&mut |_| {})
        .unwrap();
    assert!(matches!(out, Outcome::Merged(m) if m.runs == 3 * 2 * 2));
    let runs = untimed_runs(&dir);
    assert_eq!(runs.len(), 3 * 2 * 2 * 6);
    let configured: BTreeMap<&str, String> = candidates(
        &Options {
            experiment: vec!["tune".into()],
            ..Options::default()
        }
        .resolve()
        .unwrap(),
    )
    .into_iter()
    .filter(|c| c.label == "sgd" || c.label == "amsgrad")
    .map(|c| {
        (
            if c.label == "sgd" { "sgd" } else { "amsgrad" },
            c.configured,
        )
    })
    .collect();
    assert_eq!(
        configured["amsgrad"],
        "adam(lr=0.003,b1=0.9,b2=0.999,eps=1e-8,amsgrad=true)"
    );
    for r in &runs {
        assert_eq!(r["optimizer"], configured[r["series"].as_str()]);
        assert_eq!(r["budget"], "960");
        assert!(r["seed"] == "0" || r["seed"] == "1");
    }
    // Six evaluations per run, the last at 960 examples (rounded up to a
    // whole step of the workload's batch, 32 to 128).
    let seen: Vec<u64> = runs
        .iter()
        .map(|r| r["examples_seen"].parse().unwrap())
        .collect();
    assert!(
        seen.chunks(6)
            .all(|c| (960..1024 + 1).contains(&c[5]) && c[4] < 960),
        "{seen:?}"
    );
    let report = fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(report.contains("Self-tuning: each optimizer at its benchmark configuration"));
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn listed_jobs_then_merge_equal_the_in_process_tune() {
    let (one, many) = (temp_dir("in-process"), temp_dir("jobs"));
    sweep_into(&one);
    let out = many.to_str().unwrap();
    let Outcome::Listed { commands, .. } = cli(&["--list-jobs", "--out", out])
        .run(&mut |_| {})
        .unwrap()
    else {
        panic!("--list-jobs lists");
    };
    let run = |command: &str| -> Result<Outcome, BenchError> {
        let (_, args) = command.split_once(" -- ").unwrap();
        let words = shlex::split(args).expect("the command is well quoted");
        Cli::try_parse_from(["optim_bench".to_string()].into_iter().chain(words))
            .unwrap()
            .run(&mut |_| {})
    };
    assert_eq!(commands.len(), 3 * 2 * 2 * 2);
    let past = commands[0].replace("--job 0 ", "--job 24 ");
    let err = run(&past).unwrap_err();
    assert!(
        matches!(&err, BenchError::Options(m) if m.contains("the sweep has 24 runs, numbered 0 to 23")),
        "{err}"
    );
    for c in &commands[..12] {
        assert!(matches!(run(c).unwrap(), Outcome::Job { .. }));
    }
    let merge = Cli::try_parse_from(["optim_bench", "merge", out]).unwrap();
    let err = merge.run(&mut |_| {}).unwrap_err();
    assert!(
        matches!(&err, BenchError::Merge(m) if m.contains("12 of 24 runs")),
        "{err}"
    );
    for c in &commands[12..] {
        assert!(matches!(run(c).unwrap(), Outcome::Job { .. }));
    }
    assert!(matches!(
        merge.run(&mut |_| {}).unwrap(),
        Outcome::Merged(_)
    ));
    assert_eq!(untimed_runs(&one), untimed_runs(&many));
    assert_eq!(untimed_targets(&one), untimed_targets(&many));
    for d in [one, many] {
        fs::remove_dir_all(d).unwrap();
    }
}

#[test]
fn every_candidate_draws_valid_distinct_trials_inside_its_space() {
    let settings = Options {
        experiment: vec!["tune".into()],
        ..Options::default()
    }
    .resolve()
    .unwrap();
    let all = candidates(&settings);
    // Every tuned entry, in its order; after them any rule another test of
    // this process has registered.
    let tuned: Vec<&str> = gradlab_optim::registry::series()
        .iter()
        .map(|t| t.label)
        .collect();
    let labels: Vec<&str> = all.iter().map(|c| c.label.as_str()).collect();
    assert_eq!(labels[..tuned.len()], tuned[..]);
    for c in &all {
        for w in &workloads() {
            let specs: Vec<String> = (0..10).map(|k| c.trial(w, k, 1000)).collect();
            for spec in &specs {
                let o = Optimizer::from_spec(spec).unwrap();
                for d in &c.dims {
                    if let Some(v) = o.hyperparameter(d.key) {
                        let v: f64 = v.parse().unwrap();
                        assert!((d.low..=d.high).contains(&v), "{spec}: {} outside", d.key);
                    }
                }
            }
            let mut unique = specs.clone();
            unique.sort();
            unique.dedup();
            assert_eq!(unique.len(), specs.len(), "{}: repeated trials", c.label);
        }
    }
    // A warm-up drawn longer than a short run is cut to one step less than
    // the run (fashion-cnn's quick runs have 40 steps; the spaces reach 100).
    let sf = all
        .iter()
        .find(|c| c.label == "schedule_free_adamw")
        .unwrap();
    let w = workload("fashion-cnn").unwrap();
    let warmups: Vec<f64> = (0..10)
        .map(|k| {
            let spec = sf.trial(&w, k, 40);
            Optimizer::from_spec(&spec).unwrap();
            let value = spec.split("warmup=").nth(1).unwrap();
            value[..value.find([',', ')']).unwrap()].parse().unwrap()
        })
        .collect();
    assert!(warmups.iter().all(|&x| x <= 39.0), "{warmups:?}");
    assert!(
        warmups.contains(&39.0),
        "some draws were longer: {warmups:?}"
    );
    // The Halton points fill the cube evenly: in one dimension, 16 points
    // fall one into each sixteenth (base 2 shifted by a constant).
    let xs = point(7, 0, 1);
    assert!((0.0..1.0).contains(&xs[0]));
    let mut bins = [0; 16];
    for k in 0..16 {
        bins[(point(7, k, 1)[0] * 16.0) as usize] += 1;
    }
    assert_eq!(bins, [1; 16]);
}

#[test]
fn the_workloads_load_their_data() {
    let settings = Options {
        experiment: vec!["tune".into()],
        ..Options::default()
    }
    .resolve()
    .unwrap();
    let mut mnist = || -> Result<gradlab_bench::workloads::Data, BenchError> {
        panic!("no MNIST workload here")
    };
    let digits = workload("digits").unwrap();
    let d = digits.data(digits.full, &mut mnist).unwrap();
    assert_eq!(
        (d.train.len(), d.test.len(), d.train.num_features()),
        (1437, 360, 64)
    );
    // Fashion-MNIST, its quick test set cut to 2 000 images, for the CNN.
    let fashion = workload("fashion-cnn").unwrap();
    let f = fashion.data(fashion.quick, &mut mnist).unwrap();
    assert_eq!(
        (f.train.len(), f.test.len(), f.train.num_features()),
        (60_000, 2_000, 784)
    );
    let cnn = (fashion.model)(784, 10, 0).unwrap();
    assert_eq!(cnn.name, "private-cnn 1x28x28-10");
    assert_eq!(cnn.params.num_scalars(), 26_106);
    let err = (fashion.model)(64, 10, 0).err().unwrap().to_string();
    assert!(
        err.contains("takes 28 × 28 images (784 features), got 64"),
        "{err}"
    );
    // Jane Austen by character: the first nine tenths in windows of 64 for
    // training, the quick test set cut to 128 windows of the last tenth.
    let gpt = workload("austen-gpt").unwrap();
    let g = gpt.data(gpt.quick, &mut mnist).unwrap();
    assert_eq!(
        (g.train.len(), g.test.len(), g.train.num_features()),
        (56_601, 128, 64)
    );
    assert_eq!(
        (g.train.classes(), g.train.positions()),
        (Some(81), Some(64))
    );
    let model = (gpt.model)(64, 81, 0).unwrap();
    assert_eq!(
        model.name,
        "gpt vocab 81 context 64 layers 2 heads 4 width 64"
    );
    assert_eq!(model.params.num_scalars(), 114_560);
    // The private CNN trains on the sweep's MNIST, at ε = 3.
    let private = workload("mnist-private-cnn").unwrap();
    assert!(private.data.is_none());
    assert_eq!(
        private.private.map(|p| (p.epsilon, p.delta)),
        Some((3.0, 1e-5))
    );
    let regression = workload("regression").unwrap();
    let a = regression.data(regression.full, &mut mnist).unwrap();
    let b = regression.data(regression.quick, &mut mnist).unwrap();
    assert_eq!(
        (a.train.len(), a.test.len(), a.train.num_features()),
        (8192, 2048, 16)
    );
    // The same seeded draw every time; targets of unit variance plus noise.
    let t = a.train.targets().values().unwrap().data().to_vec();
    assert_eq!(t, b.train.targets().values().unwrap().data());
    let var = t.iter().map(|&y| f64::from(y).powi(2)).sum::<f64>() / t.len() as f64;
    assert!((var - 1.01).abs() < 0.05, "variance {var}");
    assert!(settings.workloads == workloads());
}

gradlab_optim::hyperparameters! {
    /// Sign descent, registered by this test without a search space.
    pub struct Unsearched {
        /// η.
        lr: f64 = 1e-3, Positive;
    }
}

impl gradlab_optim::Rule for Unsearched {
    const NAME: &'static str = "unsearched_sign";
    const STATE: &'static [&'static str] = &[];
    type State = [f32; 0];
    type Scalars = f32;

    fn learning_rate(&self) -> f64 {
        self.lr
    }

    fn scalars(&self, _t: u64, eta: f64) -> f32 {
        eta as f32
    }

    fn update(&eta: &f32, phi: &mut f32, g: gradlab_optim::Gradient, _: &mut [f32; 0]) {
        *phi -= eta * gradlab_optim::sign(g.mean);
    }
}

gradlab_optim::hyperparameters! {
    /// The same rule with a search space of its rate.
    pub struct Searched {
        /// η.
        lr: f64 = 1e-3, Positive;
    }
    search: [gradlab_optim::search::log("lr", 1e-5, 1e-2)];
}

impl gradlab_optim::Rule for Searched {
    const NAME: &'static str = "searched_sign";
    const STATE: &'static [&'static str] = &[];
    type State = [f32; 0];
    type Scalars = f32;

    fn learning_rate(&self) -> f64 {
        self.lr
    }

    fn scalars(&self, _t: u64, eta: f64) -> f32 {
        eta as f32
    }

    fn update(&eta: &f32, phi: &mut f32, g: gradlab_optim::Gradient, _: &mut [f32; 0]) {
        *phi -= eta * gradlab_optim::sign(g.mean);
    }
}

#[test]
fn a_rule_of_ones_own_is_tuned_over_its_declared_space_and_one_without_is_refused() {
    gradlab_optim::register::<Unsearched>().unwrap();
    gradlab_optim::register::<Searched>().unwrap();
    let options = |only: &str| Options {
        experiment: vec!["tune".into()],
        only: Some(vec![only.into()]),
        ..Options::default()
    };
    let err = options("unsearched_sign")
        .resolve()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("unsearched_sign declares no search space"),
        "{err}"
    );
    let settings = options("searched_sign").resolve().unwrap();
    let found = candidates(&settings);
    assert_eq!(found.len(), 1);
    assert_eq!(
        (found[0].label.as_str(), found[0].dims.len()),
        ("searched_sign", 1)
    );
    let w = workload("digits").unwrap();
    let spec = found[0].trial(&w, 3, 1000);
    let lr: f64 = Optimizer::from_spec(&spec)
        .unwrap()
        .hyperparameter("lr")
        .unwrap()
        .parse()
        .unwrap();
    assert!((1e-5..=1e-2).contains(&lr), "{spec}");
    // Without --only, the rule without a space is left out, not refused.
    let all = Options {
        experiment: vec!["tune".into()],
        ..Options::default()
    }
    .resolve()
    .unwrap();
    let labels: Vec<String> = candidates(&all).into_iter().map(|c| c.label).collect();
    assert!(labels.contains(&"searched_sign".to_string()));
    assert!(!labels.contains(&"unsearched_sign".to_string()));
}

#[test]
fn the_benchmark_score_is_the_area_under_the_profile_to_r_max() {
    use gradlab_bench::experiments::tune::benchmark_score;
    // Fastest everywhere: ρ = 1 from τ = 1.
    assert_eq!(benchmark_score(&[1.0, 1.0, 1.0]), 1.0);
    // r = 2.5 on one workload of two: ρ = ½ on [1, 2.5), 1 on [2.5, 4]:
    // area ½·1.5 + 1·1.5 = 2.25, over 3.
    assert!((benchmark_score(&[1.0, 2.5]) - 0.75).abs() < 1e-12);
    // Beyond r_max = 4 or not reached counts as nothing.
    assert_eq!(benchmark_score(&[4.0, 7.0, f64::INFINITY]), 0.0);
    // (4 − 1.3)/3 = 0.9 and (4 − 3.4)/3 = 0.2, averaged.
    assert!((benchmark_score(&[1.3, 3.4]) - 0.55).abs() < 1e-12);
}

/// DP-SGD privatizes the mean gradient only: a rule that reads the
/// per-example squares is not run on the private workload, and counts
/// there as never reaching the target.
#[test]
fn a_rule_that_reads_per_example_squares_is_not_run_privately() {
    let options = Options {
        experiment: vec!["tune".into()],
        only: Some(vec!["adam_per_example".into(), "adam".into()]),
        workloads: Some(vec!["mnist-private-cnn".into(), "digits".into()]),
        quick: true,
        ..Options::default()
    };
    let settings = options.resolve().unwrap();
    let (private, digits) = (
        workload("mnist-private-cnn").unwrap(),
        workload("digits").unwrap(),
    );
    let runs: BTreeMap<(String, String), usize> = gradlab_bench::jobs::plan(&settings)
        .unwrap()
        .into_iter()
        .fold(BTreeMap::new(), |mut n, r| {
            *n.entry((r.workload.unwrap(), r.series)).or_default() += 1;
            n
        });
    let key = |w: &str, s: &str| (w.to_string(), s.to_string());
    assert_eq!(
        runs.get(&key("mnist-private-cnn", "adam_per_example")),
        None
    );
    assert_eq!(runs[&key("mnist-private-cnn", "adam")], 6);
    assert_eq!(runs[&key("digits", "adam_per_example")], 6);
    for c in candidates(&settings) {
        assert!(c.can_train(&digits));
        assert_eq!(
            c.can_train(&private),
            c.label != "adam_per_example",
            "{}",
            c.label
        );
    }
}
