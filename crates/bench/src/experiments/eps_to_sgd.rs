//! `eps-to-sgd`: the simplified Adam written with η = ε·η₀,
//! Φ ← Φ − η₀/(1 + √s/ε)·g̃, for ε from 10⁻⁸ to 10⁴, against SGD on the
//! averaged gradient (`sgd_ema`) with step η₀. As ε grows the factor tends
//! to 1 and the curves should approach SGD's.

use std::fmt::Write;

use crate::experiments::{
    budget, canonical, curve_gap, curve_series, final_cell, final_test_loss, group, loss_panel,
    mean_curve, run_spec, section, tuned, with_seeds, About, Experiment,
};
use crate::options::Settings;
use crate::plot;
use crate::report::{loss, num, pct, power, Section, Table};
use crate::run::{RunRecord, RunSpec};

/// The experiment.
#[derive(Debug)]
pub struct EpsToSgd;

/// The values of ε.
pub const EPSILONS: [f64; 6] = [1e-8, 1e-4, 1e-2, 1.0, 1e2, 1e4];

/// The name of the SGD series.
const SGD: &str = "sgd_ema";
/// The name of the Adam series.
const ADAM: &str = "adam_eta0";

impl Experiment for EpsToSgd {
    fn about(&self) -> About {
        About {
            name: "eps-to-sgd",
            title: "Adam with η = ε·η₀ tends to SGD",
            claim: "slide \"Decoupling η from ε\": with η = ε·η₀ the update is \
                    η₀/(1 + √s/ε)·g̃, which becomes SGD (on the averaged gradient) as ε → ∞; \
                    the optimal ε is sometimes large.",
            budget: (122880, 20480),
            checkpoints: (8, 4),
        }
    }

    /// `adam_eta0` for every ε and `sgd_ema`, both with step η₀ =
    /// `sgd_ema`'s tuned rate and the same gradient average N_g.
    fn plan(&self, settings: &Settings) -> Vec<RunSpec> {
        let sgd = tuned(SGD);
        let eta0 = sgd.rate();
        let run = |series, optimizer, param| RunSpec {
            param,
            ..run_spec(self, settings, series, optimizer, settings.batch_size)
        };
        let mut runs = Vec::new();
        if settings.keeps(ADAM) {
            for eps in EPSILONS {
                let spec = format!("{ADAM}(eta0={eta0:e},eps={eps:e},n_g=10,n_s=1000)");
                runs.push(run(ADAM, canonical(&spec), Some(eps)));
            }
        }
        if settings.keeps(SGD) {
            runs.push(run(SGD, sgd.spec(), None));
        }
        with_seeds(settings, runs)
    }

    /// The table, the plot and the reading.
    fn section(&self, settings: &Settings, records: &[&RunRecord]) -> Section {
        let mut s = section(self);
        let eta0 = tuned(SGD).rate();
        s.paragraph(&format!(
            "`adam_eta0(eta0={eta0},eps=ε,n_g=10,n_s=1000)` and `{}`, batch size {}, {} examples \
             seen. The lecture's η is ε·η₀: tiny for small ε, while for large ε the step is η₀·g̃ \
             wherever √s ≪ ε.",
            tuned(SGD).spec(),
            settings.batch_size,
            budget(self, settings)
        ));
        let sgd_runs: Vec<&RunRecord> = records
            .iter()
            .copied()
            .filter(|r| r.spec.series == SGD)
            .collect();
        let sgd_curve = (!sgd_runs.is_empty()).then(|| mean_curve(&sgd_runs));
        let sgd_loss = final_test_loss(&sgd_runs);
        let mut table = Table::new(&[
            "optimizer",
            "ε",
            "η = ε·η₀",
            "final test loss",
            "final test accuracy",
            "final test loss − SGD's",
            "mean curve gap to SGD",
        ]);
        let mut series = Vec::new();
        // ε, the final test loss and the curve gap to SGD of each Adam row.
        let mut rows = Vec::new();
        let groups = group(records, |r| (r.series.clone(), r.param.map(f64::to_bits)));
        for (i, ((name, _), runs)) in groups.iter().enumerate() {
            let (eps, final_loss) = (runs[0].spec.param, final_test_loss(runs));
            let gap = match (&sgd_curve, eps, final_loss) {
                (Some(sgd), Some(_), Some(_)) => Some(curve_gap(&mean_curve(runs), sgd)),
                _ => None,
            };
            let diff = match (eps, final_loss, sgd_loss) {
                (Some(_), Some(a), Some(b)) => num(a - b),
                _ => "–".into(),
            };
            table.row(vec![
                format!("`{name}`"),
                eps.map_or("–".into(), power),
                eps.map_or("–".into(), |e| num(e * eta0)),
                final_cell(runs, |m| m.test_loss, loss),
                final_cell(runs, |m| m.accuracy(), pct),
                diff,
                gap.map_or("–".into(), |g| format!("{} %", num(100.0 * g))),
            ]);
            let label = eps.map_or(format!("{SGD} (η₀)"), |e| format!("ε = {}", power(e)));
            series.push(curve_series(label, runs, i));
            if let Some(eps) = eps {
                rows.push((eps, final_loss, gap));
            }
        }
        s.table(
            "Final test metrics (mean over seeds) and the distance to SGD:",
            &table,
        );
        s.plot(
            "eps-to-sgd.svg",
            "training loss against examples seen for each ε and for SGD",
            plot::svg(
                "Adam with η = ε·η₀ against SGD",
                &[loss_panel(format!("η₀ = {}", num(eta0)), series)],
                1,
            ),
        );
        s.reading(&reading(&rows, sgd_loss));
        s
    }
}

fn reading(adam: &[(f64, Option<f64>, Option<f64>)], sgd_loss: Option<f64>) -> String {
    if adam.is_empty() {
        return "No adam_eta0 runs: `--only` excluded them.".into();
    }
    let mut text = String::new();
    let gaps: Vec<(f64, f64)> = adam.iter().filter_map(|r| Some((r.0, r.2?))).collect();
    if let (Some(first), Some(last)) = (gaps.first(), gaps.last()) {
        let monotone = gaps.windows(2).all(|w| w[1].1 <= w[0].1);
        let _ = write!(
            text,
            "As ε grows from {} to {}, the mean relative gap between the Adam and SGD curves goes \
             from {} % to {} %{}. ",
            power(first.0),
            power(last.0),
            num(100.0 * first.1),
            num(100.0 * last.1),
            if monotone {
                ", shrinking at every step of the grid: the curves approach SGD's"
            } else if last.1 < first.1 {
                ": smaller at the end, though not at every step of the grid"
            } else {
                ": the curves do not approach SGD's here"
            }
        );
    }
    let best = adam
        .iter()
        .filter_map(|r| Some((r.0, r.1?)))
        .min_by(|a, b| a.1.total_cmp(&b.1));
    let Some((eps, l)) = best else {
        return text + "Every adam_eta0 run diverged.";
    };
    let sgd = sgd_loss.map_or(String::new(), |s| format!(", SGD's {}", loss(s)));
    let _ = write!(
        text,
        "The best ε is {} (final test loss {}{sgd}).",
        power(eps),
        loss(l)
    );
    if eps >= 1.0 {
        text.push_str(
            " The optimum lies at a large ε, where the update is mostly SGD's: the slide's \
             remark that the optimal ε is sometimes large.",
        );
    }
    text
}
