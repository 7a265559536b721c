//! Your own model and data in the optimizer benchmark: a residual MLP
//! written outside gradlab, on the 8×8 digits shipped in `datasets/digits`,
//! registered as the workload `residual-digits`; `tune` then gives every
//! optimizer the same number of trials on it and ranks them by time to
//! target, as on the built-in workloads.
//!
//! ```text
//! cargo run --release --example tune_own_model
//! cargo run --release --example tune_own_model -- --experiment tune --quick \
//!     --workloads residual-digits,digits --only adam,lion,sgd_momentum
//! ```
//!
//! Without flags it runs `--experiment tune --quick --workloads
//! residual-digits --only sgd_momentum,adam,lion`; with flags, any of
//! `optim_bench`'s. A workload is a dataset, a model constructor (any
//! [`Module`]), a batch size, targets and budgets ([`Workload`]).

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use gradlab::autodiff::{Activation, Graph, ParamId, ParamStore, Var};
use gradlab::bench::workloads::{register, Budget, Goal, Workload};
use gradlab::bench::BenchError;
use gradlab::data::{Dataset, TargetKind};
use gradlab::layers::{LayerError, Linear, Mode, Model, Module};
use gradlab::tensor::rng;

/// The command that runs the benchmark with `residual-digits` registered:
/// the commands it lists run through this example, which knows the
/// workload.
pub const BENCH: &str = "cargo run --release --example tune_own_model --";

/// The flags of a run without any.
const DEFAULT: [&str; 7] = [
    "--experiment",
    "tune",
    "--quick",
    "--workloads",
    "residual-digits",
    "--only",
    "sgd_momentum,adam,lion",
];

/// A residual MLP: a stem, then blocks that each add a two-layer update to
/// the features they were given, then a linear head.
///
/// ```text
/// h₀ = relu(W_s x + b_s)
/// hₖ = hₖ₋₁ + W₂ relu(W₁ hₖ₋₁ + b₁) + b₂      (one per block)
/// logits = W_h h + b_h
/// ```
pub struct ResidualMlp {
    stem: Linear,
    blocks: Vec<[Linear; 2]>,
    head: Linear,
}

impl Module for ResidualMlp {
    fn forward(&self, g: &mut Graph, x: Var, mode: Mode) -> Var {
        let mut h = self.stem.forward(g, x, mode);
        for [inner, outer] in &self.blocks {
            let u = inner.forward(g, h, mode);
            let u = outer.forward(g, u, mode);
            // The skip connection: the block learns a change to h.
            h = g.add(h, u);
        }
        self.head.forward(g, h, mode)
    }

    fn params(&self) -> Vec<ParamId> {
        let blocks = self.blocks.iter().flatten();
        let layers = std::iter::once(&self.stem)
            .chain(blocks)
            .chain([&self.head]);
        layers.flat_map(Linear::params).collect()
    }
}

/// A residual MLP of `blocks` blocks of `width` units for `inputs` features
/// and `outputs` classes, its weights drawn from `seed`.
pub fn residual_mlp(
    inputs: usize,
    outputs: usize,
    width: usize,
    blocks: usize,
    seed: u64,
) -> Result<Model, LayerError> {
    let (mut params, mut r) = (ParamStore::new(), rng(seed));
    let mut linear = |name: &str, i, o| Linear::new(&mut params, name, i, o, true, &mut r);
    let stem = linear("stem", inputs, width)?.with_activation(Activation::Relu);
    let blocks = (0..blocks)
        .map(|k| {
            let inner = linear(&format!("block{k}.inner"), width, width)?;
            let outer = linear(&format!("block{k}.outer"), width, width)?;
            Ok([inner.with_activation(Activation::Relu), outer])
        })
        .collect::<Result<Vec<_>, LayerError>>()?;
    let head = linear("head", width, outputs)?;
    let name = format!("residual mlp {inputs}-{width}x{}-{outputs}", blocks.len());
    Ok(Model::new(name, ResidualMlp { stem, blocks, head }, params))
}

/// The workload: the digits, standardized, and a residual MLP of two
/// blocks of 64 units, with the built-in `digits` workload's batch size,
/// targets and budgets, so the two compare directly.
pub fn workload() -> Workload {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/digits");
    let read = move |file: &str| {
        Dataset::from_csv(dir.join(file), "digit", TargetKind::Classes).map_err(BenchError::from)
    };
    Workload {
        name: "residual-digits".into(),
        about: "the 8×8 digits CSV, standardized, a residual MLP 64-64×2-10 with ReLU (defined \
                in examples/tune_own_model.rs)"
            .into(),
        data: Some(Arc::new(move || {
            Ok((read("train.csv")?, read("test.csv")?))
        })),
        model: Arc::new(|inputs, outputs, seed| residual_mlp(inputs, outputs, 64, 2, seed)),
        standardize: true,
        batch_size: 32,
        private: None,
        goal: Goal::Accuracy,
        targets: vec![0.95, 0.965],
        quick_targets: vec![0.9, 0.95],
        full: Budget {
            examples: 28_800,
            checkpoints: 20,
            test: None,
        },
        quick: Budget {
            examples: 14_400,
            checkpoints: 10,
            test: None,
        },
        // No held-out variants: `--held-out` leaves it out.
        variant: None,
    }
}

fn main() -> ExitCode {
    gradlab::cli::end_quietly_on_closed_pipe();
    if let Err(e) = register(workload()) {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() {
        args = DEFAULT.map(String::from).to_vec();
    }
    gradlab::cli::bench(BENCH, args)
}
