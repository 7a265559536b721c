//! A rule that takes whole tensors, in optax's shape: the state of a
//! tensor, and an update of every tensor at a step.
//!
//! An element-wise [`Rule`] is one of these, by the blanket implementation
//! below: its state is zeros (or its initial values) shaped like the
//! parameter, and its update runs its kernel over each tensor in the fused
//! element-wise pass. The rules that need more implement `TensorRule`
//! themselves: LAMB's trust ratio and Adafactor's factored moment read a
//! whole tensor, Muon orthogonalizes a matrix by Newton–Schulz on the
//! tensor crate's GEMM, Prodigy sums over every parameter before any
//! moves, Schedule-Free keeps numbers across steps and a point to evaluate
//! at that is not Φ. They are registered and driven like any other rule.

use gradlab_tensor::Tensor;

use crate::hyperparameters::Hyperparameters;
use crate::rule::{Options, Rule};
use crate::state::StateArray;
use crate::step::{Drive, TensorStep, Tensors};

/// An update rule over whole tensors: optax's `init` (the state of one
/// tensor) and `update` (one step of every tensor), with optional numbers
/// kept across all tensors and steps.
///
/// At step t with learning rate η_t the optimizer calls
/// [`scalars`](TensorRule::scalars) once, then [`update`](TensorRule::update)
/// with every parameter, each with its gradient statistics, the step's
/// transform (clipping, L2, decoupled decay) and its state.
pub trait TensorRule: Hyperparameters + Send + Sync + 'static {
    /// The spec name, e.g. `"lamb"`: lower case, digits and `_`.
    const NAME: &'static str;
    /// The names of the state tensors kept per parameter, in the order
    /// [`init`](TensorRule::init) makes them.
    const STATE: &'static [&'static str];
    /// The names of the numbers kept across all parameters and steps (a
    /// running weight sum, an estimate of the distance to the solution),
    /// saved in checkpoints. Default: none.
    const GLOBAL: &'static [&'static str] = &[];
    /// The name of the state tensor holding the parameters to evaluate and
    /// save, when they are not Φ, the point where gradients are taken
    /// (Schedule-Free trains at y and is evaluated at x). The trainer
    /// evaluates and saves the model at this tensor and rebuilds Φ with
    /// [`training_point`](TensorRule::training_point) when it resumes.
    /// Default: Φ.
    const EVALUATE_AT: Option<&'static str> = None;
    /// The scalars of one step, computed once.
    type Scalars: Copy + Sync;

    /// The base learning rate (η), before the schedule and the batch-size
    /// rule.
    fn learning_rate(&self) -> f64;

    /// What the rule declares beyond its update (the statistics it reads,
    /// its batch-size rule, a check of its keys, whether the optimizer's
    /// decoupled decay applies). Default: [`Options::default`].
    fn options(&self) -> Options {
        Options::default()
    }

    /// The state tensors of a parameter of value `value` before its first
    /// step, in the order of [`STATE`](TensorRule::STATE): of any shape
    /// (Adafactor keeps a matrix's row and column averages; an empty `[0]`
    /// for a tensor a shape does not use), or a copy of Φ.
    fn init(&self, value: &Tensor) -> Vec<Tensor>;

    /// The [`GLOBAL`](TensorRule::GLOBAL) numbers before the first step.
    /// Default: all 0.
    fn initial_global(&self) -> Vec<f64> {
        vec![0.0; Self::GLOBAL.len()]
    }

    /// The scalars of step `t` (from 1) with rate `eta`, updating the
    /// global numbers where they change with the step alone.
    fn scalars(&self, t: u64, eta: f64, global: &mut [f64]) -> Self::Scalars;

    /// One step of every parameter ([`Tensors::each`], once or more).
    fn update(&self, c: &Self::Scalars, tensors: &mut Tensors<'_>, global: &mut [f64]);

    /// Φ of a parameter from its saved evaluation point `saved` (the
    /// [`EVALUATE_AT`](TensorRule::EVALUATE_AT) tensor) and its state,
    /// computed exactly as the step computes it, so that a resumed run is
    /// bitwise the run that did not stop. Default: `saved` as it is.
    fn training_point(&self, saved: &mut [f32], state: &[Tensor]) {
        let _ = (saved, state);
    }
}

/// Every element-wise rule is a tensor rule: zeros (or its initial values)
/// shaped like the parameter, and its kernel over each tensor.
impl<R: Rule> TensorRule for R
where
    R::State: Drive,
{
    const NAME: &'static str = <R as Rule>::NAME;
    const STATE: &'static [&'static str] = <R as Rule>::STATE;
    type Scalars = <R as Rule>::Scalars;

    fn learning_rate(&self) -> f64 {
        Rule::learning_rate(self)
    }

    fn options(&self) -> Options {
        Rule::options(self)
    }

    fn init(&self, value: &Tensor) -> Vec<Tensor> {
        let initial = Rule::options(self).initial_state;
        (0..R::State::LEN)
            .map(|k| {
                let mut t = Tensor::zeros(value.shape());
                if let Some(&v) = initial.get(k) {
                    t.fill(v);
                }
                t
            })
            .collect()
    }

    fn scalars(&self, t: u64, eta: f64, _: &mut [f64]) -> Self::Scalars {
        Rule::scalars(self, t, eta)
    }

    fn update(&self, c: &Self::Scalars, tensors: &mut Tensors<'_>, _: &mut [f64]) {
        tensors.each(&mut |p: TensorStep<'_>| R::State::drive::<R>(p, c));
    }
}
