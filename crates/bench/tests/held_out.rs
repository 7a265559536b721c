//! Held-out variants: every built-in workload has variants drawn by a seed,
//! and `--held-out` runs each study's fastest trial of a finished `tune`
//! sweep (its `tuned.json`) again on them, on the study's seed.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use clap::Parser;
use gradlab_bench::cli::{Cli, Outcome};
use gradlab_bench::experiments::tune::candidates;
use gradlab_bench::tuned::{self, Tuned};
use gradlab_bench::workloads::{held_out, workload, workloads, Data};
use gradlab_bench::{BenchError, Options};

/// A tiny tune: two rules, two studies of two trials, on two workloads.
const TINY: [&str; 15] = [
    "--experiment",
    "tune",
    "--only",
    "sgd,adam",
    "--workloads",
    "digits,regression",
    "--trials",
    "2",
    "--studies",
    "2",
    "--budget",
    "640",
    "--checkpoints",
    "4",
    "--quick",
];

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("gradlab-held-out-{tag}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    d
}

fn sweep(extra: &[&str], out: &Path) {
    let args = ["optim_bench"].iter().chain(&TINY).chain(extra);
    let cli = Cli::try_parse_from(args.chain(&["--out", out.to_str().unwrap()])).unwrap();
    assert!(matches!(cli.run(&mut |_| {}).unwrap(), Outcome::Merged(_)));
}

/// The rows of a CSV file as maps from column to field.
fn rows(path: &Path) -> Vec<BTreeMap<String, String>> {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let header = reader.headers().unwrap().clone();
    let names = || header.iter().map(String::from);
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            names().zip(r.iter().map(String::from)).collect()
        })
        .collect()
}

/// Each workload's variant: named `{name}@{seed}`, its description the
/// workload's and what was drawn, the same for the same seed, several
/// over the seeds, with the workload's targets and budgets; and what each
/// draws changes what it should.
#[test]
fn every_workload_has_variants_drawn_by_a_seed() {
    for w in workloads() {
        let v = workload(&format!("{}@7", w.name)).unwrap();
        assert_eq!(v.name, format!("{}@7", w.name));
        assert!(
            v.about.starts_with(&format!("{} — held out: ", w.about)),
            "{}",
            v.about
        );
        assert!(v.variant.is_none());
        assert_eq!(workload(&v.name).unwrap().about, v.about);
        assert_eq!(
            (v.targets.clone(), v.full, v.quick),
            (w.targets.clone(), w.full, w.quick)
        );
        let drawn: BTreeSet<String> = (0..24).map(|s| held_out(&w, s).unwrap().about).collect();
        assert!(drawn.len() >= 2, "{}: {drawn:?}", w.name);
    }
    assert!(workload("mnist-mlp@seven").is_none());
    assert!(workload("no-such-workload@7").is_none());

    let mut no_mnist = || -> Result<Data, BenchError> { panic!("no MNIST here") };
    let sizes: BTreeSet<usize> = (0..24)
        .map(|s| (workload(&format!("digits@{s}")).unwrap().model)(64, 10, 0).unwrap())
        .map(|m| m.params.num_scalars())
        .collect();
    // 64-32-10, 64-128-10, 64-64-64-10.
    assert_eq!(sizes, BTreeSet::from([2_410, 8_970, 9_610]));
    let epsilons: BTreeSet<String> = (0..24)
        .map(|s| workload(&format!("mnist-private-cnn@{s}")).unwrap())
        .map(|v| v.private.unwrap().epsilon.to_string())
        .collect();
    assert_eq!(
        epsilons,
        BTreeSet::from(["2".into(), "4".into(), "8".into()])
    );
    let fashion = workload("fashion-cnn@1").unwrap();
    let base = workload("fashion-cnn").unwrap();
    let (part, all) = (
        fashion.data(fashion.quick, &mut no_mnist).unwrap(),
        base.data(base.quick, &mut no_mnist).unwrap(),
    );
    assert!(
        [15_000, 30_000].contains(&part.train.len()),
        "{}",
        part.train.len()
    );
    assert_eq!(part.test.len(), all.test.len());
}

/// The tuned sweep writes each study's fastest trial (the fewest examples
/// to the ranking target, as `targets.csv` has them); `--held-out` runs
/// exactly those, on their study's seed, on the variants, and reports how
/// the rankings move.
#[test]
fn held_out_runs_each_studys_fastest_trial_on_the_variants() {
    let (tuned_dir, held_dir) = (temp_dir("tuned"), temp_dir("held"));
    sweep(&[], &tuned_dir);
    let tuned = tuned::read(&tuned_dir.join(tuned::FILE)).unwrap();
    assert_eq!(tuned.len(), 2 * 2 * 2, "{tuned:?}");
    let targets = rows(&tuned_dir.join("targets.csv"));
    for t in &tuned {
        let rank = *workload(&t.workload).unwrap().quick_targets.last().unwrap();
        let trials: Vec<&BTreeMap<String, String>> = targets
            .iter()
            .filter(|r| r["workload"] == t.workload && r["series"] == t.optimizer)
            .filter(|r| r["seed"] == t.study.to_string())
            .filter(|r| r["target"].parse::<f64>().unwrap() == rank)
            .collect();
        assert_eq!(trials.len(), 2);
        let fastest = trials
            .iter()
            .filter_map(|r| r["examples_seen"].parse::<f64>().ok())
            .fold(f64::INFINITY, f64::min);
        assert_eq!(t.examples.unwrap_or(f64::INFINITY), fastest, "{t:?}");
        let mine = trials
            .iter()
            .find(|r| r["trial"] == t.trial.to_string())
            .unwrap();
        assert_eq!(mine["optimizer"], t.spec);
    }

    let path = tuned_dir.join(tuned::FILE);
    sweep(
        &["--held-out", path.to_str().unwrap(), "--variant-seed", "3"],
        &held_dir,
    );
    let runs = rows(&held_dir.join("runs.csv"));
    let last: Vec<&BTreeMap<String, String>> =
        runs.iter().filter(|r| r["checkpoint"] == "4").collect();
    assert_eq!(last.len(), tuned.len());
    for t in &tuned {
        let run = last
            .iter()
            .find(|r| {
                r["workload"] == format!("{}@3", t.workload)
                    && r["series"] == t.optimizer
                    && r["seed"] == t.study.to_string()
            })
            .unwrap_or_else(|| panic!("no run of {t:?}"));
        assert_eq!(run["optimizer"], t.spec);
        assert_eq!(run["trial"], t.trial.to_string());
    }
    // Each variant's targets are its workload's, in targets.csv as in the report.
    for name in ["digits", "regression"] {
        let variant = format!("{name}@3");
        let targets: Vec<f64> = rows(&held_dir.join("targets.csv"))
            .iter()
            .filter(|r| r["workload"] == variant && r["series"] == "sgd" && r["seed"] == "0")
            .map(|r| r["target"].parse().unwrap())
            .collect();
        assert_eq!(targets, workload(name).unwrap().quick_targets, "{variant}");
    }
    let report = fs::read_to_string(held_dir.join("report.md")).unwrap();
    assert!(report.contains("Held-out variants, drawn by seed 3"));
    assert!(report.contains("**digits@3**") && report.contains("How the rankings move"));
    assert!(
        !held_dir.join(tuned::FILE).exists(),
        "a held-out sweep tunes nothing"
    );
    for d in [tuned_dir, held_dir] {
        fs::remove_dir_all(d).unwrap();
    }
}

#[test]
fn held_out_options_are_checked() {
    let dir = temp_dir("options");
    fs::create_dir_all(&dir).unwrap();
    let good = dir.join("tuned.json");
    let row = |workload: &str| Tuned {
        workload: workload.into(),
        optimizer: "sgd".into(),
        study: 0,
        trial: 1,
        spec: "sgd(lr=0.1)".into(),
        examples: None,
        seconds: None,
    };
    fs::write(&good, tuned::to_json(&[row("digits")])).unwrap();
    let nowhere = dir.join("nowhere.json");
    let ghost = dir.join("ghost.json");
    fs::write(&ghost, tuned::to_json(&[row("ghost")])).unwrap();
    let options = |held: &Path, seed: Option<u64>, experiment: &str, self_tuning: bool| Options {
        experiment: vec![experiment.into()],
        held_out: Some(held.to_path_buf()),
        variant_seed: seed,
        self_tuning,
        ..Options::default()
    };
    let err = |o: Options| o.resolve().unwrap_err().to_string();
    assert_eq!(
        err(options(&good, None, "tune", false)),
        "--held-out and --variant-seed go together"
    );
    for (o, message) in [
        (
            options(&good, Some(1), "variants", false),
            "--held-out runs `--experiment tune` alone, without --self-tuning",
        ),
        (
            options(&good, Some(1), "tune", true),
            "--held-out runs `--experiment tune` alone, without --self-tuning",
        ),
        (
            options(&ghost, Some(1), "tune", false),
            "workload 'ghost' is not registered",
        ),
        (options(&nowhere, Some(1), "tune", false), "nowhere.json"),
    ] {
        let e = err(o);
        assert!(e.contains(message), "{e}");
    }
    let settings = options(&good, Some(1), "tune", false).resolve().unwrap();
    // The variants run the rules the tuned sweep ran, and report no other.
    let labels: Vec<String> = candidates(&settings).into_iter().map(|c| c.label).collect();
    assert_eq!(labels, ["sgd"]);
    assert_eq!(settings.held_out.unwrap().tuned, [row("digits")]);
    assert_eq!(settings.workloads, [workload("digits").unwrap()]);
    // The flags go back and forth through the job list's command lines.
    let o = options(&good, Some(1), "tune", false);
    let args = ["optim_bench".to_string()].into_iter().chain(o.to_args());
    let parsed = Cli::try_parse_from(args).unwrap();
    assert_eq!(parsed.options, o);
    fs::remove_dir_all(dir).unwrap();
}
