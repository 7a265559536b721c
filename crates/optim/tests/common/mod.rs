//! Helpers shared by the integration tests.

#![allow(dead_code)] // each test binary uses its own subset

use gradlab_optim::{Optimizer, Param};
use gradlab_tensor::{rng, Tensor};

/// One spec per optimizer, with its defaults (AMSGrad is a switch of
/// Adam's).
pub const ALL: [&str; 31] = [
    "sgd",
    "sgd_momentum",
    "sgd_ema",
    "rmsprop",
    "rmsprop_momentum",
    "adam",
    "adamw",
    "adam(amsgrad=true)",
    "adam_lecture",
    "adam_eta0",
    "adam_per_example",
    "adagrad",
    "adamax",
    "nadam",
    "nadamw",
    "radam",
    "adadelta",
    "adabelief",
    "yogi",
    "sign_sgd",
    "signum",
    "lamb",
    "lion",
    "ademamix",
    "cautious_adamw",
    "shampoo",
    "soap",
    "schedule_free_adamw",
    "muon",
    "adafactor",
    "prodigy",
];

/// `spec` with `keys` added: `adam` + `lr=1` is `adam(lr=1)`, and
/// `adam(amsgrad=true)` + `lr=1` is `adam(amsgrad=true,lr=1)`.
pub fn with_keys(spec: &str, keys: &str) -> String {
    match spec.strip_suffix(')') {
        Some(open) => format!("{open},{keys})"),
        None => format!("{spec}({keys})"),
    }
}

/// One step of `opt` on parameters with ids 0, 1, …, with per-example
/// squares when `grad_sq` is given.
pub fn step(
    opt: &mut Optimizer,
    values: &mut [Tensor],
    grads: &[Tensor],
    grad_sq: Option<&[Tensor]>,
    batch: usize,
) {
    let mut params: Vec<Param<'_>> = values
        .iter_mut()
        .zip(grads)
        .enumerate()
        .map(|(id, (v, g))| {
            let p = Param::new(id, v, g);
            match grad_sq {
                Some(q) => p.with_grad_sq(&q[id]),
                None => p,
            }
        })
        .collect();
    opt.step(&mut params, batch);
}

/// A deterministic problem on two parameters (shapes `[3, 2]` and `[2]`):
/// L(Φ) = ½ Σ h_i Φ_i² plus a gradient noise that depends only on the step,
/// and per-example squares ĝ² + σ² for a made-up per-example spread σ.
pub struct Noisy {
    pub values: Vec<Tensor>,
    curvature: Vec<Tensor>,
    t: u64,
}

impl Noisy {
    pub fn new() -> Noisy {
        let mut r = rng(11);
        let shapes: [&[usize]; 2] = [&[3, 2], &[2]];
        Noisy {
            values: shapes
                .iter()
                .map(|s| Tensor::normal(s, 0.0, 1.0, &mut r))
                .collect(),
            curvature: shapes
                .iter()
                .map(|s| Tensor::uniform(s, 0.5, 2.0, &mut r))
                .collect(),
            t: 0,
        }
    }

    /// ĝ and (1/B) Σ g_b² at the current Φ for the next step.
    pub fn grads(&mut self) -> (Vec<Tensor>, Vec<Tensor>) {
        self.t += 1;
        let mut r = rng(1000 + self.t);
        let grads: Vec<Tensor> = self
            .values
            .iter()
            .zip(&self.curvature)
            .map(|(v, h)| {
                let noise = Tensor::normal(v.shape(), 0.0, 0.3, &mut r);
                v.mul(h).add(&noise)
            })
            .collect();
        let squares = grads.iter().map(|g| g.map(|x| x * x + 0.5)).collect();
        (grads, squares)
    }

    /// Every weight's bits, parameter after parameter.
    pub fn bits(&self) -> Vec<u32> {
        self.values
            .iter()
            .flat_map(|v| v.data().iter().map(|x| x.to_bits()))
            .collect()
    }

    /// `n` steps of `opt`.
    pub fn run(&mut self, opt: &mut Optimizer, n: usize) {
        for _ in 0..n {
            let (g, q) = self.grads();
            step(opt, &mut self.values, &g, Some(&q), 16);
        }
    }
}

/// `|a − b| ≤ tol` for every pair, with a message naming the first miss.
pub fn assert_close(what: &str, got: &[f32], want: &[f32], tol: f32) {
    assert_eq!(got.len(), want.len(), "{what}: lengths differ");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= tol,
            "{what}[{i}]: got {g}, want {w} (tolerance {tol})"
        );
    }
}
