//! An op defined outside the autodiff crate: softplus, y = ln(1 + eˣ).
//! Its backward is checked against finite differences, then it is the
//! activation of an MLP that the trainer fits to points inside a circle.
//!
//! ```text
//! cargo run --release --example custom_op
//! ```

use gradlab::autodiff::{gradient_check, Backward, Examples, Graph, Op, ParamStore, Var};
use gradlab::data::{Dataset, Targets};
use gradlab::layers::{LayerError, Linear, Mode, Model, Module, Sequential};
use gradlab::tensor::{rng, Tensor};
use gradlab::train::{FitOptions, TrainConfig, Trainer};

/// Softplus, y = ln(1 + eˣ), elementwise: a smooth ReLU.
///
/// **Derivative.** ∂y/∂x = eˣ/(1 + eˣ) = σ(x), so ∂L/∂x = dY ⊙ σ(x).
/// Computed as max(x, 0) + ln(1 + e^(−|x|)), which never overflows.
pub struct Softplus;

impl Op for Softplus {
    type Saved = ();

    fn name(&self) -> String {
        "softplus".into()
    }

    /// Each element on its own: examples stay apart.
    fn examples(&self, batched: &[bool]) -> Examples {
        Examples::rowwise(batched)
    }

    fn forward(&self, x: &[&Tensor], y: &mut Tensor, _: &mut ()) {
        y.assign(x[0]);
        y.map_inplace(|v| v.max(0.0) + (-v.abs()).exp().ln_1p());
    }

    fn backward(&self, cx: &mut Backward, _: &mut ()) {
        let (x, dy) = (cx.x[0].data(), cx.dy.data());
        cx.add(0, |i| dy[i] / (1.0 + (-x[i]).exp()));
    }
}

/// `g.softplus(x)`, as the built-in ops are called.
pub trait SoftplusExt {
    /// ln(1 + eˣ), elementwise.
    fn softplus(&mut self, x: Var) -> Var;
}

impl SoftplusExt for Graph<'_, '_> {
    fn softplus(&mut self, x: Var) -> Var {
        self.apply(Softplus, &[x])
    }
}

/// A layer that applies softplus.
pub struct SoftplusLayer;

impl Module for SoftplusLayer {
    fn forward(&self, g: &mut Graph, x: Var, _: Mode) -> Var {
        g.softplus(x)
    }

    fn params(&self) -> Vec<gradlab::autodiff::ParamId> {
        Vec::new()
    }
}

/// Softplus's backward against central differences (step 1e-2) of
/// L = Σ c ⊙ softplus(x) for random x and c: the worst element's
/// |analytic − numeric| / (1 + |numeric|).
pub fn gradient_error() -> f32 {
    let mut params = ParamStore::new();
    params.add("x", Tensor::uniform(&[5, 7], -4.0, 4.0, &mut rng(1)));
    gradient_check(&mut params, 1e-2, |g, x| g.softplus(x[0])).error()
}

/// MLP 2-32-32-2 with softplus after each hidden layer, weights from `seed`.
pub fn model(seed: u64) -> Result<Model, LayerError> {
    let (mut params, mut r) = (ParamStore::new(), rng(seed));
    let mut net = Sequential::new();
    net.push(Linear::new(&mut params, "l0", 2, 32, true, &mut r)?);
    net.push(SoftplusLayer);
    net.push(Linear::new(&mut params, "l1", 32, 32, true, &mut r)?);
    net.push(SoftplusLayer);
    net.push(Linear::new(&mut params, "l2", 32, 2, true, &mut r)?);
    Ok(Model::new("softplus mlp 2-32-32-2", net, params))
}

/// `n` points uniform in [−2, 2]², labelled 1 inside the circle of radius
/// 1.2 about the origin, else 0.
pub fn circle(n: usize, seed: u64) -> Dataset {
    let x = Tensor::uniform(&[n, 2], -2.0, 2.0, &mut rng(seed));
    let inside = x
        .data()
        .chunks_exact(2)
        .map(|p| usize::from(p[0] * p[0] + p[1] * p[1] < 1.44));
    let labels = inside.collect();
    Dataset::from_tensors(x, Targets::Classes(labels)).expect("finite points, one label each")
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    gradlab::cli::end_quietly_on_closed_pipe();
    println!(
        "softplus backward against finite differences: max error {:.1e}",
        gradient_error()
    );
    let config = TrainConfig {
        optimizer: "adam(lr=3e-3)".into(),
        batch_size: 32,
        epochs: 30,
        ..TrainConfig::default()
    };
    let mut trainer = Trainer::with_model(config, model(0)?, circle(2000, 10), circle(1000, 11))?;
    let history = trainer.fit(&FitOptions::default(), &mut |_| {})?;
    let last = history.last().expect("at least one epoch");
    let accuracy = last.test_accuracy.expect("a classification");
    println!(
        "{}: test accuracy {:.1} % after {} epochs",
        trainer.model.name,
        100.0 * accuracy,
        last.epoch
    );
    Ok(())
}
