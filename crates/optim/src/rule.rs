//! An element-wise update rule: what it declares, and nothing else.
//!
//! A rule ([`Rule`]) is its hyperparameters (declared once with
//! [`hyperparameters!`](macro@crate::hyperparameters)), its named state
//! tensors, the scalars of one step, and a kernel that reads as its
//! formula. Everything else — chunking over threads, wide-vector copies,
//! denormal flushing, clipping, L2 and decoupled weight decay, schedules,
//! warm-up, batch-size rules, creating and saving state — is the
//! [`Optimizer`](crate::Optimizer)'s, once for every rule. A rule that
//! needs a whole tensor at a time (a norm, a matrix function) is a
//! [`TensorRule`](crate::TensorRule) instead; every `Rule` is one too.
//!
//! A rule written outside this crate is registered with
//! [`register`](crate::register) and is then named by spec strings, saved in
//! checkpoints and run by the trainer exactly like a built-in one:
//!
//! ```
//! use gradlab_optim::{hyperparameters, register, Gradient, Optimizer, Param, Rule};
//! use gradlab_tensor::Tensor;
//!
//! hyperparameters! {
//!     /// SGD whose step is the sign of the gradient.
//!     pub struct SignSgd {
//!         /// η, the step size.
//!         lr: f64 = 0.01, Positive;
//!     }
//! }
//!
//! impl Rule for SignSgd {
//!     const NAME: &'static str = "my_sign_sgd";
//!     const STATE: &'static [&'static str] = &[];
//!     type State = [f32; 0];
//!     type Scalars = f32;
//!
//!     fn learning_rate(&self) -> f64 {
//!         self.lr
//!     }
//!     fn scalars(&self, _t: u64, eta: f64) -> f32 {
//!         eta as f32
//!     }
//!     // Φ ← Φ − η·sign(ĝ)
//!     fn update(&eta: &f32, phi: &mut f32, g: Gradient, _: &mut [f32; 0]) {
//!         *phi -= eta * gradlab_optim::sign(g.mean);
//!     }
//! }
//!
//! register::<SignSgd>()?;
//! let mut opt = Optimizer::from_spec("my_sign_sgd(lr=0.5)")?;
//! let mut w = Tensor::from_vec(vec![1.0, 1.0], &[2]);
//! let g = Tensor::from_vec(vec![3.0, -0.1], &[2]);
//! opt.step(&mut [Param::new(0, &mut w, &g)], 8);
//! assert_eq!(w.data(), &[0.5, 1.5]);
//! assert_eq!(opt.to_string(), "my_sign_sgd(lr=0.5)");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::batch_rule::BatchRule;
use crate::hyperparameters::Hyperparameters;
use crate::param::Statistics;
use crate::state::StateArray;

/// An element-wise update rule: its spec name, its state, the scalars of a
/// step and the kernel.
///
/// At step t with learning rate η_t (the rule's
/// [`learning_rate`](Rule::learning_rate) × schedule × batch-size rule), the
/// optimizer calls [`scalars`](Rule::scalars) once, then
/// [`update`](Rule::update) once per element of every parameter: Φ, its
/// gradient g (after clipping and L2 decay) and the rule's state elements,
/// which it stores back flushed out of the denormal range. With decoupled
/// weight decay λ, Φ has lost η_t·λ·Φ just before.
pub trait Rule: Hyperparameters + Send + Sync + 'static {
    /// The spec name, e.g. `"adam"`: lower case, digits and `_`.
    const NAME: &'static str;
    /// The names of the state tensors kept per parameter, in the order of
    /// [`State`](Rule::State), as checkpoints and
    /// [`Optimizer::moment`](crate::Optimizer::moment) name them.
    const STATE: &'static [&'static str];
    /// One element of each state tensor: `[f32; K]` for K = `STATE.len()`.
    type State: StateArray;
    /// The scalars of one step, computed once and read by every element (a
    /// few numbers: the optimizer copies them next to its loop, where the
    /// compiler keeps them in registers).
    type Scalars: Copy + Sync;

    /// The base learning rate (η, or η₀ where the rule is written with it),
    /// before the schedule and the batch-size rule.
    fn learning_rate(&self) -> f64;

    /// The scalars of step `t` (from 1) with learning rate `eta`.
    fn scalars(&self, t: u64, eta: f64) -> Self::Scalars;

    /// The rule for one element: update Φ and the state from g.
    ///
    /// Write it as the formula; the optimizer inlines it into loops it
    /// vectorizes, so keep it branch-free where the formula is.
    fn update(c: &Self::Scalars, phi: &mut f32, g: Gradient, state: &mut Self::State);

    /// What the few rules that need them declare beyond the kernel, read
    /// once when a spec is parsed. Default: [`Options::default`].
    fn options(&self) -> Options {
        Options::default()
    }
}

/// What a rule declares beyond its kernel, each with a default that leaves
/// a plain rule as it is.
#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    /// The gradient statistics the rule reads (default: ĝ alone).
    pub statistics: Statistics,
    /// The batch-size rule used unless the spec names one (default:
    /// [`BatchRule::Fixed`]).
    pub batch_rule: BatchRule,
    /// Each state tensor's value before the first step, in the order of
    /// the rule's state names (default: empty, all 0).
    pub initial_state: Vec<f32>,
    /// Hyperparameters that are each in range but do not go together:
    /// `Err((key, what it takes))` makes the spec an error naming that key.
    pub check: Result<(), (&'static str, String)>,
    /// Whether the optimizer's decoupled weight decay applies (default:
    /// yes). A rule that applies a decay of its own says no — one that
    /// recomputes Φ from its state each step, where the shrinking would be
    /// lost, or whose decay is not η·λ — and owns the key
    /// `decoupled_weight_decay` itself.
    pub decoupled_decay: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            statistics: Statistics::Mean,
            batch_rule: BatchRule::Fixed,
            initial_state: Vec::new(),
            check: Ok(()),
            decoupled_decay: true,
        }
    }
}

/// The gradient of one element as the kernel sees it: after clipping by the
/// global norm (factor c) and L2 decay (λ).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Gradient {
    /// g = c·ĝ + λΦ.
    pub mean: f32,
    /// (1/B) Σ_b (c·g_b + λΦ)², the per-example mean of squares of the same
    /// transformed gradient, for rules that read
    /// [`Statistics::MeanAndSquares`]; 0 otherwise.
    pub squares: f32,
}

/// The sign of x: −1, 0 or 1 (0 for ±0, NaN for NaN), as `jnp.sign` and
/// `torch.sign`. (`f32::signum` gives 1 for +0.)
#[inline(always)]
pub fn sign(x: f32) -> f32 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else {
        x
    }
}
