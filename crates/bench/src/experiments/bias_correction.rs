//! `bias-correction`: the optim crate's [`RunningAverage`] with each of the
//! four corrections, on a synthetic signal — a constant, then a step change,
//! with Gaussian noise — so that the truth is known at every step.
//!
//! No training is involved: the section is computed from the seeds alone,
//! in milliseconds, wherever the report is built.

use std::fmt::Write;

use gradlab_optim::{Correction, RunningAverage};
use gradlab_tensor::{rng, Tensor};

use crate::experiments::{section, summary, About, Experiment};
use crate::options::Settings;
use crate::plot::{self, Panel, Scale, Series, Style};
use crate::report::{num, OutputFile, Section, Table};
use crate::run::{RunRecord, RunSpec};
use crate::stats::mean;

/// The experiment.
#[derive(Debug)]
pub struct BiasCorrection;

/// The averages' length N.
pub const N: f64 = 20.0;
/// Steps of the signal.
pub const STEPS: usize = 300;
/// The level changes after this step.
pub const CHANGE: usize = 150;
/// The level before the change.
pub const BEFORE: f32 = 1.0;
/// The level after the change.
pub const AFTER: f32 = 3.0;
/// Standard deviation of the noise.
pub const NOISE: f32 = 0.5;

/// The corrections, in the lecture's order, with the names the tables use.
pub const CORRECTIONS: [(Correction, &str); 4] = [
    (Correction::None, "None (plain EMA)"),
    (Correction::Cumulative, "Cumulative (1/t)"),
    (Correction::MinNT, "MinNT (1/min(N, t))"),
    (Correction::Published, "Published (÷ (1 − βᵗ))"),
];

/// One noisy signal and the four averages of it.
#[derive(Clone, Debug, PartialEq)]
pub struct Trace {
    /// x_t, t = 1..=STEPS.
    pub signal: Vec<f32>,
    /// The noise-free level at each step.
    pub truth: Vec<f32>,
    /// The estimate x̃_t of each correction, in the order of
    /// [`CORRECTIONS`].
    pub estimates: [Vec<f32>; 4],
}

/// The signal of `seed` and its four running averages.
pub fn simulate(seed: u64) -> Trace {
    let noise = Tensor::normal(&[STEPS], 0.0, NOISE, &mut rng(seed));
    let truth: Vec<f32> = (1..=STEPS)
        .map(|t| if t <= CHANGE { BEFORE } else { AFTER })
        .collect();
    let signal: Vec<f32> = truth.iter().zip(noise.data()).map(|(l, e)| l + e).collect();
    let estimates = CORRECTIONS.map(|(correction, _)| {
        let avg = RunningAverage::new(N, correction).expect("N is a finite length ≥ 1");
        let mut stored = 0.0f32;
        signal
            .iter()
            .enumerate()
            .map(|(i, &x)| avg.update(i as u64 + 1, &mut stored, x))
            .collect()
    });
    Trace {
        signal,
        truth,
        estimates,
    }
}

/// How well one average follows the truth.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Errors {
    /// Mean |x̃_t − level| over the first N steps: the start-up bias.
    pub start: f64,
    /// Steps after the change until x̃ first covers 90 % of it, or `None`
    /// if it never does within the signal.
    pub lag: Option<usize>,
    /// Mean |x̃_t − level| over the last N steps: whether it tracks.
    pub end: f64,
}

/// The errors of each average of `trace`, in the order of [`CORRECTIONS`].
pub fn errors(trace: &Trace) -> [Errors; 4] {
    let n = N as usize;
    let err = |est: &[f32], range: std::ops::Range<usize>| {
        let e: Vec<f64> = range
            .map(|i| f64::from((est[i] - trace.truth[i]).abs()))
            .collect();
        mean(&e)
    };
    let target = BEFORE + 0.9 * (AFTER - BEFORE);
    trace.estimates.each_ref().map(|est| Errors {
        start: err(est, 0..n),
        lag: est[CHANGE..]
            .iter()
            .position(|&x| x >= target)
            .map(|i| i + 1),
        end: err(est, STEPS - n..STEPS),
    })
}

/// Each correction's errors, one per seed: at the start, the lag (`None`
/// if some seed never covered 90 % of the change) and at the end.
type SeedErrors = (Vec<f64>, Option<Vec<f64>>, Vec<f64>);

fn seed_errors(seeds: &[u64]) -> [SeedErrors; 4] {
    let all: Vec<[Errors; 4]> = seeds.iter().map(|&s| errors(&simulate(s))).collect();
    std::array::from_fn(|c| {
        let start: Vec<f64> = all.iter().map(|e| e[c].start).collect();
        let end: Vec<f64> = all.iter().map(|e| e[c].end).collect();
        let lags: Option<Vec<f64>> = all.iter().map(|e| e[c].lag.map(|l| l as f64)).collect();
        (start, lags, end)
    })
}

/// The errors of each correction averaged over `seeds` (the lag `None` if
/// some seed never covered 90 % of the change).
pub fn mean_errors(seeds: &[u64]) -> [(f64, Option<f64>, f64); 4] {
    means(&seed_errors(seeds))
}

fn means(errs: &[SeedErrors; 4]) -> [(f64, Option<f64>, f64); 4] {
    errs.each_ref()
        .map(|(start, lag, end)| (mean(start), lag.as_ref().map(|l| mean(l)), mean(end)))
}

impl Experiment for BiasCorrection {
    fn about(&self) -> About {
        About {
            name: "bias-correction",
            title: "Bias correction of running averages",
            claim: "slides \"Bias Correction\": the plain moving average started at 0 is biased \
                    toward 0 for t < N; the cumulative mean (1/t) is unbiased but fails to track \
                    a moving average for t ≫ N; the 1/min(N, t) form and the published Adam \
                    correction do both.",
            budget: (0, 0),
            checkpoints: (8, 4),
        }
    }

    /// None: the averages run on a simulated signal, not on training runs.
    fn plan(&self, _: &Settings) -> Vec<RunSpec> {
        Vec::new()
    }

    /// The table, the plot, the traces as CSV, and the reading.
    fn section(&self, settings: &Settings, _: &[&RunRecord]) -> Section {
        let mut s = section(self);
        s.paragraph(&format!(
            "Signal: x_t = {BEFORE} + noise for t ≤ {CHANGE}, then {AFTER} + noise up to \
             t = {STEPS}, the noise N(0, {NOISE}²) drawn from each seed; each average has \
             N = {N} (β = 1 − 1/N = {}). Errors are |x̃_t − level|, averaged over the steps \
             named and over {} seeds. No training: these are the optim crate's \
             `RunningAverage` updates themselves.",
            1.0 - 1.0 / N,
            settings.seeds.len()
        ));
        let errs = seed_errors(&settings.seeds);
        let mut table = Table::new(&[
            "correction",
            "error over the first N steps",
            "steps to cover 90 % of the change",
            "error over the last N steps",
        ]);
        for ((_, name), (start, lag, end)) in CORRECTIONS.iter().zip(&errs) {
            table.row(vec![
                name.to_string(),
                summary(start, num),
                lag.as_ref()
                    .map_or("not within the signal".into(), |l| summary(l, num)),
                summary(end, num),
            ]);
        }
        s.table(
            "Mean absolute error of each average over seeds (lower is better): mean ± the \
             half-width of its 95 % t-interval (standard deviation):",
            &table,
        );

        let trace = simulate(settings.seeds[0]);
        let steps = |values: &[f32]| -> Vec<(f64, f64)> {
            let points = values.iter().enumerate();
            points
                .map(|(i, &x)| ((i + 1) as f64, f64::from(x)))
                .collect()
        };
        let mut series = vec![
            Series::new("x_t", steps(&trace.signal), 7, Style::Markers),
            Series::new("level", steps(&trace.truth), 7, Style::Line),
        ];
        for (c, ((_, name), est)) in CORRECTIONS.iter().zip(&trace.estimates).enumerate() {
            series.push(Series::new(*name, steps(est), c, Style::Line));
        }
        let panel = Panel::new(
            format!("N = {N}, seed {}", settings.seeds[0]),
            ("step t", Scale::Linear),
            ("estimate x̃_t", Scale::Linear),
            series,
        );
        s.plot(
            "bias-correction.svg",
            "the four running averages of a noisy step signal",
            plot::svg("Bias correction: the four running averages", &[panel], 1),
        );
        s.files.push(OutputFile {
            name: "bias-correction.csv".into(),
            contents: traces_csv(&settings.seeds),
        });
        s.paragraph("The traces of every seed are in `bias-correction.csv`.");
        s.reading(&reading(&means(&errs)));
        s
    }
}

/// Every seed's signal and averages, one row per seed and step.
fn traces_csv(seeds: &[u64]) -> String {
    let mut out = String::from("seed,t,signal,level,none,cumulative,min_nt,published\n");
    for &seed in seeds {
        let tr = simulate(seed);
        for i in 0..STEPS {
            let e = &tr.estimates;
            let _ = writeln!(
                out,
                "{seed},{},{},{},{},{},{},{}",
                i + 1,
                tr.signal[i],
                tr.truth[i],
                e[0][i],
                e[1][i],
                e[2][i],
                e[3][i]
            );
        }
    }
    out
}

fn reading(errs: &[(f64, Option<f64>, f64); 4]) -> String {
    let [none, cumulative, min_nt, published] = *errs;
    // The error of a well-tracking N-step EMA is its noise, σ/√(2N − 1) in
    // standard deviation; 3× that is the line between tracking and not.
    let floor = f64::from(NOISE) / (2.0 * N - 1.0).sqrt();
    let tracks = |end: f64| end < 3.0 * floor;
    let lag = |l: Option<f64>| {
        l.map_or("does not cover 90 % of it within the signal".into(), |l| {
            format!("covers 90 % of it after {} steps", num(l))
        })
    };
    let mut text = format!(
        "Over the first N steps the plain EMA errs by {} on average, {} times MinNT's {} and \
         Published's {}: started at x̃₀ = 0, it returns about x₁/N at t = 1 and is {} toward \
         zero while t < N. ",
        num(none.0),
        num(none.0 / min_nt.0.max(f64::MIN_POSITIVE)),
        num(min_nt.0),
        num(published.0),
        if none.0 > 2.0 * min_nt.0 {
            "biased"
        } else {
            "not noticeably biased"
        },
    );
    let _ =
        write!(
        text,
        "The cumulative mean starts as well as MinNT ({}), but after the change it {} and over \
         the last N steps still errs by {}: it averages both levels, so it {}. ",
        num(cumulative.0),
        lag(cumulative.1),
        num(cumulative.2),
        if tracks(cumulative.2) { "tracks here nonetheless" } else { "fails to track" },
    );
    let _ = write!(
        text,
        "MinNT {} and errs by {} at the end, Published {} and errs by {} (an N-step average \
         of this noise has standard deviation {}): {}",
        lag(min_nt.1),
        num(min_nt.2),
        lag(published.1),
        num(published.2),
        num(floor),
        if tracks(min_nt.2) && tracks(published.2) && min_nt.0 < none.0 && published.0 < none.0 {
            "both start unbiased and track the change, as the slides say."
        } else {
            "the slides' claim that both start unbiased and track is not borne out here."
        }
    );
    text
}
