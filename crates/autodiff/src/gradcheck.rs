//! Checking a backward against finite differences, for an op of your own
//! as for the built-in ones.
//!
//! For a graph y = f(θ) the check builds the scalar L = Σ_i c_i y_i with a
//! fixed random c, so every element of ∂L/∂y differs and a transposed or
//! mis-indexed gradient cannot pass, and compares the backward's ∂L/∂θ with
//! the central difference (L(θ + h·e_j) − L(θ − h·e_j)) / 2h for every
//! element j of every parameter.
//!
//! In f32, rounding L (|L| ≲ 50, ε ≈ 6e-8) puts an error of about
//! 6e-8·|L|/h on a difference, and truncation adds O(h²·f‴): with h = 1e-2
//! (1e-3 for sharply curved functions) a correct backward stays below
//! 2e-3 in [`GradientCheck::error`], and a wrong one (a sign, a missing
//! factor, a transposed index) is off by O(1).

use gradlab_tensor::{rng, Tensor};

use crate::{GradRequest, Graph, ParamId, ParamStore, Tape, Var};

/// The element where backward and the finite difference disagree most.
#[derive(Clone, Debug, PartialEq)]
pub struct GradientCheck {
    /// The parameter's name.
    pub param: String,
    /// The element's index in it.
    pub index: usize,
    /// ∂L/∂θ_j from backward.
    pub analytic: f32,
    /// ∂L/∂θ_j from the central difference.
    pub numeric: f32,
}

impl GradientCheck {
    /// |analytic − numeric| / (1 + |numeric|): an absolute error for small
    /// derivatives, a relative one for large.
    pub fn error(&self) -> f32 {
        (self.analytic - self.numeric).abs() / (1.0 + self.numeric.abs())
    }
}

/// Compares the gradient backward gives every parameter of `store` with
/// central differences of step `h`, for L = Σ c ⊙ `build(g, θ)`, where
/// `build` records a graph from the parameters' [`Var`]s (in the store's
/// order) and returns its output; returns the worst element. The store is
/// left as it was.
///
/// # Panics
/// If some parameter does not reach the output, or the store is empty.
pub fn gradient_check(
    store: &mut ParamStore,
    h: f32,
    build: impl Fn(&mut Graph, &[Var]) -> Var,
) -> GradientCheck {
    let ids: Vec<ParamId> = store.ids().collect();
    let mut tape = Tape::new();
    let out_shape = {
        let mut g = tape.record(store);
        let vars: Vec<Var> = ids.iter().map(|&id| g.param(id)).collect();
        let y = build(&mut g, &vars);
        g.value(y).shape().to_vec()
    };
    let c = Tensor::uniform(&out_shape, -1.0, 1.0, &mut rng(99));
    let loss = |store: &ParamStore, tape: &mut Tape, backward: bool| -> f32 {
        let mut g = tape.record(store);
        let vars: Vec<Var> = ids.iter().map(|&id| g.param(id)).collect();
        let y = build(&mut g, &vars);
        let cv = g.constant(&c);
        let z = g.mul(y, cv);
        let l = g.sum(z);
        if backward {
            g.backward(l, GradRequest::Mean)
                .expect("a scalar loss has a mean gradient");
        }
        g.value(l).item()
    };
    loss(store, &mut tape, true);
    let analytic: Vec<Tensor> = ids
        .iter()
        .map(|&id| match tape.grad(id) {
            Some(g) => g.clone(),
            None => panic!(
                "gradient_check: {} does not reach the output",
                store.name(id)
            ),
        })
        .collect();
    let mut worst: Option<GradientCheck> = None;
    for (k, &id) in ids.iter().enumerate() {
        for j in 0..store.get(id).len() {
            let orig = store.get(id).data()[j];
            store.get_mut(id).data_mut()[j] = orig + h;
            let up = loss(store, &mut tape, false);
            store.get_mut(id).data_mut()[j] = orig - h;
            let down = loss(store, &mut tape, false);
            store.get_mut(id).data_mut()[j] = orig;
            let here = GradientCheck {
                param: store.name(id).to_string(),
                index: j,
                analytic: analytic[k].data()[j],
                numeric: (up - down) / (2.0 * h),
            };
            // A NaN error is worse than any number, and stays the worst.
            let worse = |w: &GradientCheck| here.error() > w.error() || here.error().is_nan();
            if worst
                .as_ref()
                .is_none_or(|w| !w.error().is_nan() && worse(w))
            {
                worst = Some(here);
            }
        }
    }
    worst.expect("gradient_check: the store has no parameter")
}
