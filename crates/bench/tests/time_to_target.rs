//! Time to target on a hand-made curve: the first checkpoint at or above
//! each target, "not reached" and "diverged" as rows of `targets.csv`.

use gradlab_bench::csv::{targets, TARGET_COLUMNS};
use gradlab_bench::run::{Checkpoint, Metrics, Reached, RunRecord, RunSpec};
use gradlab_bench::{Options, Settings};

/// The settings of a sweep whose `--targets` are `targets`.
fn with_targets(targets: &[f64]) -> Settings {
    Options {
        experiment: vec!["all".into()],
        targets: Some(targets.to_vec()),
        ..Options::default()
    }
    .resolve()
    .unwrap()
}

fn metrics(accuracy: f64, seconds: f64) -> Option<Metrics> {
    Some(Metrics {
        train_loss: 0.5,
        test_loss: 0.4,
        test_accuracy: Some(accuracy),
        test_rmse: None,
        lr: 0.1,
        noise: None,
        train_seconds: seconds,
        epsilon: None,
    })
}

/// Checkpoints every 1000 examples (10 steps of 100): accuracy 0.95, 0.975,
/// 0.97, 0.981 after 1.0, 2.1, 3.0 and 4.2 s of training.
fn record(job: usize, diverged_after: Option<usize>) -> RunRecord {
    let curve = [(0.95, 1.0), (0.975, 2.1), (0.97, 3.0), (0.981, 4.2)];
    let checkpoints = curve
        .iter()
        .enumerate()
        .map(|(k, &(acc, secs))| Checkpoint {
            examples: 1000 * (k as u64 + 1),
            steps: 10 * (k as u64 + 1),
            metrics: match diverged_after {
                Some(d) if k >= d => None,
                _ => metrics(acc, secs),
            },
        })
        .collect();
    RunRecord {
        job,
        spec: RunSpec {
            experiment: "variants".into(),
            series: "sgd".into(),
            param: None,
            optimizer: "sgd(lr=0.1)".into(),
            batch_size: 100,
            seed: 0,
            loss_scale: 1.0,
            budget: 4000,
            checkpoints: 4,
            hidden: vec![8],
            privacy: None,
            workload: None,
            trial: None,
        },
        checkpoints,
        curve: Vec::new(),
        diverged_at: diverged_after.map(|d| 10 * d as u64 + 3),
    }
}

#[test]
fn the_first_checkpoint_at_or_above_the_target() {
    let r = record(0, None);
    let at = |examples, steps, train_seconds| {
        Some(Reached {
            examples,
            steps,
            train_seconds,
        })
    };
    assert_eq!(r.time_to(0.9), at(1000, 10, 1.0));
    assert_eq!(r.time_to(0.95), at(1000, 10, 1.0), "reaching is ≥");
    // 0.97 is first passed at the second checkpoint, not the third.
    assert_eq!(r.time_to(0.97), at(2000, 20, 2.1));
    assert_eq!(r.time_to(0.98), at(4000, 40, 4.2));
    assert_eq!(r.time_to(0.99), None);
    // A run that diverged after its second checkpoint keeps what it reached.
    let d = record(1, Some(2));
    assert_eq!(d.time_to(0.97), at(2000, 20, 2.1));
    assert_eq!(d.time_to(0.98), None);
}

#[test]
fn targets_csv_has_a_row_for_every_run_and_target() {
    let (a, b) = (record(0, None), record(1, Some(2)));
    let csv = targets(&[&a, &b], &with_targets(&[0.97, 0.98]));
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], TARGET_COLUMNS.join(","));
    let tail = |l: &str| l.split(',').skip(10).collect::<Vec<_>>().join(",");
    assert_eq!(
        lines[1..].iter().map(|l| tail(l)).collect::<Vec<_>>(),
        [
            "0.97,reached,2000,20,2.1",
            "0.98,reached,4000,40,4.2",
            "0.97,reached,2000,20,2.1",
            "0.98,diverged,,,",
        ]
    );
    let not = targets(&[&a], &with_targets(&[0.99]));
    assert!(not.ends_with(",0.99,not reached,,,\n"), "{not}");
}

#[test]
fn an_rmse_target_is_reached_at_or_below_it_and_targets_csv_takes_the_workloads() {
    // The same checkpoints read as RMSEs 0.95, 0.975, 0.97, 0.981 of the
    // regression workload: only the first is at or below 0.96.
    let mut r = record(0, None);
    r.spec.experiment = "tune".into();
    r.spec.workload = Some("regression".into());
    r.spec.trial = Some(0);
    for c in &mut r.checkpoints {
        let m = c.metrics.as_mut().unwrap();
        (m.test_rmse, m.test_accuracy) = (m.test_accuracy, None);
    }
    let first = Some(Reached {
        examples: 1000,
        steps: 10,
        train_seconds: 1.0,
    });
    assert_eq!(r.time_to(0.96), first);
    assert_eq!(r.time_to(0.95), first, "reaching is ≤");
    assert_eq!(r.time_to(0.9), None);
    assert_eq!(r.time_to(2.0), first);
    // targets.csv lists the workload's targets (full: RMSE 0.25, 0.17),
    // not --targets.
    let csv = targets(&[&r], &with_targets(&[0.5]));
    let rows: Vec<&str> = csv.lines().skip(1).collect();
    assert_eq!(rows.len(), 2);
    assert!(
        rows[0].starts_with("tune,0,sgd,,regression,0,"),
        "{}",
        rows[0]
    );
    assert!(rows[0].ends_with(",0.25,not reached,,,"), "{}", rows[0]);
    assert!(rows[1].ends_with(",0.17,not reached,,,"), "{}", rows[1]);
}
