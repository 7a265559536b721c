//! `runs.csv` and `curves.csv`: every number of every run, for analysis
//! elsewhere.
//!
//! Numbers are written in Rust's shortest form that parses back to the same
//! value, so the files are exact; an empty field means "not measured" (after
//! a divergence, B_noise for an optimizer that does not ask for
//! per-example squares, ε for a run that is not private).

use std::fmt::Write;

use crate::run::{RunRecord, RunSpec};

/// The columns of `runs.csv`: one row per run and checkpoint.
pub const RUN_COLUMNS: [&str; 21] = [
    "experiment",
    "job",
    "series",
    "param",
    "optimizer",
    "batch_size",
    "seed",
    "loss_scale",
    "budget",
    "checkpoint",
    "examples_seen",
    "steps",
    "status",
    "train_loss",
    "test_loss",
    "test_accuracy",
    "lr",
    "b_noise",
    "epsilon",
    "wall_s",
    "examples_per_s",
];

/// The columns of `runs.csv` that measure time, and so differ between two
/// runs of the same sweep; all the others are reproducible bit for bit.
pub const TIMING_COLUMNS: [&str; 2] = ["wall_s", "examples_per_s"];

/// The columns of `curves.csv`: one row per run and curve point.
pub const CURVE_COLUMNS: [&str; 11] = [
    "experiment",
    "job",
    "series",
    "param",
    "optimizer",
    "batch_size",
    "seed",
    "loss_scale",
    "examples_seen",
    "steps",
    "train_loss",
];

/// A field, quoted if it holds a comma or a quote (optimizer specs do).
fn field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn opt(x: Option<f64>) -> String {
    x.map(|v| v.to_string()).unwrap_or_default()
}

/// The columns every row starts with: what the run was.
fn run_fields(job: usize, spec: &RunSpec) -> String {
    format!(
        "{},{},{},{},{},{},{},{}",
        spec.experiment.name(),
        job,
        field(&spec.series),
        opt(spec.param),
        field(&spec.optimizer),
        spec.batch_size,
        spec.seed,
        spec.loss_scale
    )
}

/// `runs.csv` for `records`, in the order given.
pub fn runs(records: &[&RunRecord]) -> String {
    let mut out = RUN_COLUMNS.join(",") + "\n";
    for r in records {
        let head = run_fields(r.job, &r.spec);
        for (k, c) in r.checkpoints.iter().enumerate() {
            let _ = write!(
                out,
                "{head},{},{},{},{},",
                r.spec.budget,
                k + 1,
                c.examples,
                c.steps
            );
            match &c.metrics {
                Some(m) => {
                    let b_noise = m.noise.map(|n| n.b_noise());
                    let _ = writeln!(
                        out,
                        "ok,{},{},{},{},{},{},{},{}",
                        m.train_loss,
                        m.test_loss,
                        m.test_accuracy,
                        m.lr,
                        opt(b_noise),
                        opt(m.epsilon),
                        m.train_seconds,
                        c.examples as f64 / m.train_seconds
                    );
                }
                None => {
                    let _ = writeln!(out, "diverged,,,,,,,,");
                }
            }
        }
    }
    out
}

/// `curves.csv` for `records`, in the order given.
pub fn curves(records: &[&RunRecord]) -> String {
    let mut out = CURVE_COLUMNS.join(",") + "\n";
    for r in records {
        let head = run_fields(r.job, &r.spec);
        for p in &r.curve {
            let _ = writeln!(out, "{head},{},{},{}", p.examples, p.steps, p.loss);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_are_quoted() {
        assert_eq!(field("adam(lr=0.001,b1=0.9)"), "\"adam(lr=0.001,b1=0.9)\"");
        assert_eq!(field("sgd"), "sgd");
        assert_eq!(field("a\"b"), "\"a\"\"b\"");
    }
}
