//! `runs.csv` and `curves.csv`: every number of every run, for analysis
//! elsewhere.
//!
//! Numbers are written in Rust's shortest form that parses back to the same
//! value, so the files are exact; an empty field means "not measured" (after
//! a divergence, B_noise for an optimizer that does not ask for
//! per-example squares, ε for a run that is not private).

use crate::options::Settings;
use crate::run::{RunRecord, RunSpec};

/// The columns every file starts with: what the run was.
const RUN: [&str; 10] = [
    "experiment",
    "job",
    "series",
    "param",
    "workload",
    "trial",
    "optimizer",
    "batch_size",
    "seed",
    "loss_scale",
];

/// The columns of `runs.csv`: one row per run and checkpoint.
pub const RUN_COLUMNS: [&str; 24] = after_run([
    "budget",
    "checkpoint",
    "examples_seen",
    "steps",
    "status",
    "train_loss",
    "test_loss",
    "test_accuracy",
    "test_rmse",
    "lr",
    "b_noise",
    "epsilon",
    "wall_s",
    "examples_per_s",
]);

/// The columns of `runs.csv` that measure time, and so differ between two
/// runs of the same sweep; all the others are reproducible bit for bit.
pub const TIMING_COLUMNS: [&str; 2] = ["wall_s", "examples_per_s"];

/// The columns of `targets.csv`: one row per run and target accuracy, when
/// the run first reached it (`status` "reached"), or "not reached" by the
/// end of its budget, or "diverged" before reaching it. `train_s` (seconds
/// of training by then, evaluations excluded) is its one timing column.
pub const TARGET_COLUMNS: [&str; 15] =
    after_run(["target", "status", "examples_seen", "steps", "train_s"]);

/// The columns of `curves.csv`: one row per run and curve point.
pub const CURVE_COLUMNS: [&str; 13] = after_run(["examples_seen", "steps", "train_loss"]);

/// [`RUN`]'s columns, then `rest`.
const fn after_run<const N: usize, const M: usize>(rest: [&'static str; N]) -> [&'static str; M] {
    assert!(M == RUN.len() + N, "the columns add up");
    let mut columns = [""; M];
    let mut i = 0;
    while i < M {
        columns[i] = if i < RUN.len() {
            RUN[i]
        } else {
            rest[i - RUN.len()]
        };
        i += 1;
    }
    columns
}

fn opt(x: Option<f64>) -> String {
    x.map(|v| v.to_string()).unwrap_or_default()
}

/// The columns every row starts with: what the run was.
fn run_fields(job: usize, spec: &RunSpec) -> Vec<String> {
    vec![
        spec.experiment.clone(),
        job.to_string(),
        spec.series.clone(),
        opt(spec.param),
        spec.workload.clone().unwrap_or_default(),
        spec.trial.map_or(String::new(), |t| t.to_string()),
        spec.optimizer.clone(),
        spec.batch_size.to_string(),
        spec.seed.to_string(),
        spec.loss_scale.to_string(),
    ]
}

/// A CSV file of `columns` and `rows`, fields quoted where they must be
/// (optimizer specs hold commas).
fn table(columns: &[&str], rows: impl IntoIterator<Item = Vec<String>>) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    let write = |w: &mut csv::Writer<Vec<u8>>, r: &[String]| {
        w.write_record(r).expect("writing to memory cannot fail")
    };
    write(
        &mut w,
        &columns.iter().map(|c| c.to_string()).collect::<Vec<_>>(),
    );
    for r in rows {
        assert_eq!(r.len(), columns.len(), "a row of {} fields", r.len());
        write(&mut w, &r);
    }
    let bytes = w.into_inner().expect("writing to memory cannot fail");
    String::from_utf8(bytes).expect("every field is UTF-8")
}

/// `runs.csv` for `records`, in the order given.
pub fn runs(records: &[&RunRecord]) -> String {
    let rows = records.iter().flat_map(|r| {
        let head = run_fields(r.job, &r.spec);
        r.checkpoints.iter().enumerate().map(move |(k, c)| {
            let mut row = head.clone();
            row.extend([
                r.spec.budget.to_string(),
                (k + 1).to_string(),
                c.examples.to_string(),
                c.steps.to_string(),
            ]);
            match &c.metrics {
                Some(m) => row.extend([
                    "ok".to_string(),
                    m.train_loss.to_string(),
                    m.test_loss.to_string(),
                    opt(m.test_accuracy),
                    opt(m.test_rmse),
                    m.lr.to_string(),
                    opt(m.noise.map(|n| n.b_noise())),
                    opt(m.epsilon),
                    m.train_seconds.to_string(),
                    (c.examples as f64 / m.train_seconds).to_string(),
                ]),
                None => {
                    row.push("diverged".into());
                    row.resize(RUN_COLUMNS.len(), String::new());
                }
            }
            row
        })
    });
    table(&RUN_COLUMNS, rows)
}

/// `curves.csv` for `records`, in the order given.
pub fn curves(records: &[&RunRecord]) -> String {
    let rows = records.iter().flat_map(|r| {
        let head = run_fields(r.job, &r.spec);
        r.curve.iter().map(move |p| {
            let mut row = head.clone();
            row.extend([
                p.examples.to_string(),
                p.steps.to_string(),
                p.loss.to_string(),
            ]);
            row
        })
    });
    table(&CURVE_COLUMNS, rows)
}

/// The targets of run `spec`: its workload's (a held-out variant has its
/// workload's), or `--targets`.
fn targets_of(settings: &Settings, spec: &RunSpec) -> Vec<f64> {
    match spec.workload() {
        Some(w) => w.targets(settings.quick).to_vec(),
        None => settings.targets.clone(),
    }
}

/// `targets.csv` for `records` and the test accuracies `targets`, in the
/// order given.
pub fn targets(records: &[&RunRecord], settings: &Settings) -> String {
    let rows = records.iter().flat_map(|r| {
        let head = run_fields(r.job, &r.spec);
        targets_of(settings, &r.spec).into_iter().map(move |t| {
            let mut row = head.clone();
            row.push(t.to_string());
            match r.time_to(t) {
                Some(at) => row.extend([
                    "reached".to_string(),
                    at.examples.to_string(),
                    at.steps.to_string(),
                    at.train_seconds.to_string(),
                ]),
                None => {
                    let status = if r.diverged_at.is_some() {
                        "diverged"
                    } else {
                        "not reached"
                    };
                    row.push(status.into());
                    row.resize(TARGET_COLUMNS.len(), String::new());
                }
            }
            row
        })
    });
    table(&TARGET_COLUMNS, rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_are_quoted() {
        let csv = table(
            &["a", "b", "c"],
            [vec![
                "adam(lr=0.001,b1=0.9)".into(),
                "sgd".into(),
                "a\"b".into(),
            ]],
        );
        assert_eq!(csv, "a,b,c\n\"adam(lr=0.001,b1=0.9)\",sgd,\"a\"\"b\"\n");
    }
}
