//! The `privacy` experiment on a tiny slice of MNIST: private runs record
//! the ε of the accountant at every checkpoint, the clipping-only runs ε =
//! ∞ (through their JSON files and back), and the report reads the table.

use std::fs;
use std::path::PathBuf;

use clap::Parser;
use gradlab_bench::cli::{Cli, Outcome};
use gradlab_bench::csv::RUN_COLUMNS;
use gradlab_bench::experiments::privacy::{DELTA, NOISE};
use gradlab_optim::RdpAccountant;

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("gradlab-bench-{tag}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    d
}

/// 1024 training examples at the quick recipe's expected batch of 256:
/// q = 1/4, 8 steps, evaluated after steps 4 and 8.
fn tiny(dir: &std::path::Path, extra: &[&str]) -> Cli {
    let args = [
        "optim_bench",
        "--experiment",
        "privacy",
        "--quick",
        "--seeds",
        "1",
        "--hidden",
        "32",
        "--limit",
        "1024",
        "--test-limit",
        "200",
        "--budget",
        "2048",
        "--checkpoints",
        "2",
        "--out",
        dir.to_str().unwrap(),
    ];
    Cli::try_parse_from(args.iter().chain(extra)).unwrap()
}

#[test]
fn private_runs_record_the_accountants_epsilon_at_every_checkpoint() {
    let dir = temp_dir("privacy");
    let merged = match tiny(&dir, &[]).run(&mut |_| {}).unwrap() {
        Outcome::Merged(m) => m,
        other => panic!("expected a merged sweep, got {other:?}"),
    };
    assert_eq!((merged.runs, merged.diverged), (1 + NOISE.len(), 0));

    let runs = fs::read_to_string(dir.join("runs.csv")).unwrap();
    let col = |name: &str| RUN_COLUMNS.iter().position(|c| *c == name).unwrap();
    let rows: Vec<Vec<&str>> = runs
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    assert_eq!(rows.len(), 2 * (1 + NOISE.len()));
    let mut last = f64::INFINITY;
    for row in &rows {
        let sigma: f64 = row[col("param")].parse().unwrap();
        let steps: u64 = row[col("steps")].parse().unwrap();
        let epsilon: f64 = row[col("epsilon")].parse().unwrap();
        assert_eq!(row[col("batch_size")], "256");
        if sigma == 0.0 {
            assert_eq!(row[col("epsilon")], "inf", "{row:?}");
            continue;
        }
        let mut accountant = RdpAccountant::new();
        for _ in 0..steps {
            accountant.step(sigma, 0.25).unwrap();
        }
        let expected = accountant.spent(DELTA).unwrap().epsilon;
        assert!(
            ((epsilon - expected) / expected).abs() < 1e-12,
            "σ = {sigma}, {steps} steps: {epsilon} against {expected}"
        );
        if steps == 8 {
            assert!(epsilon < last, "ε falls as σ grows");
            last = epsilon;
        }
    }

    // The report's table has a row per σ with ε = ∞ for clipping only.
    let report = fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(
        report.contains("## Accuracy against privacy (DP-SGD)"),
        "{report}"
    );
    assert!(report.contains("| 0 | inf |"), "{report}");
    assert!(dir.join("privacy.svg").is_file());

    // Merging the per-run files again reads ε = ∞ back from JSON.
    let merge = Cli::try_parse_from(["optim_bench", "merge", dir.to_str().unwrap()]).unwrap();
    assert!(matches!(
        merge.run(&mut |_| {}).unwrap(),
        Outcome::Merged(_)
    ));
    let again = fs::read_to_string(dir.join("runs.csv")).unwrap();
    let strip = |csv: &str| -> Vec<String> {
        csv.lines()
            .map(|l| {
                let f: Vec<&str> = l.split(',').collect();
                // Without the two timing columns at the end.
                f[..f.len() - 2].join(",")
            })
            .collect()
    };
    assert_eq!(strip(&runs), strip(&again));
    fs::remove_dir_all(&dir).unwrap();
}

/// The experiment's runs are `sgd`'s: `--only` without it leaves none,
/// and the section says so.
#[test]
fn without_sgd_the_experiment_has_no_runs() {
    let dir = temp_dir("privacy-only");
    match tiny(&dir, &["--only", "adam"]).run(&mut |_| {}).unwrap() {
        Outcome::Merged(m) => assert_eq!(m.runs, 0),
        other => panic!("expected a merged sweep, got {other:?}"),
    }
    let report = fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(report.contains("No run finished."), "{report}");
    fs::remove_dir_all(&dir).unwrap();
}
