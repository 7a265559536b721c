//! The rule API: what an update rule declares, and nothing else.
//!
//! A rule ([`Rule`]) is its hyperparameters (declared once with
//! [`hyperparameters!`](macro@crate::hyperparameters)), its named state tensors,
//! the scalars of one step, and an element-wise kernel that reads as its
//! formula. Everything else — chunking over threads, wide-vector copies,
//! denormal flushing, clipping, L2 and decoupled weight decay, schedules,
//! warm-up, batch-size rules, creating and saving state — is the
//! [`Optimizer`](crate::Optimizer)'s, once for every rule.
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

use gradlab_tensor::Tensor;

use crate::batch_rule::BatchRule;
use crate::driver::StateArray;
use crate::hyperparameters::Hyperparameters;
use crate::param::GradRequest;
use crate::registry::DynRule;

/// An update rule: its spec name, its state, the scalars of a step and the
/// element-wise kernel.
///
/// The driver calls, at step t with learning rate η_t (the rule's
/// [`learning_rate`](Rule::learning_rate) × schedule × batch-size rule),
/// [`scalars`](Rule::scalars) once, then [`update`](Rule::update) once per
/// element of every parameter: Φ, its gradient g (after clipping and L2
/// decay) and the rule's state elements, which it stores back flushed out of
/// the denormal range. With decoupled weight decay λ, Φ has been multiplied
/// by 1 − η_t·λ just before.
pub trait Rule: Hyperparameters + Send + Sync + 'static {
    /// The spec name, e.g. `"adam"`: lower case, digits and `_`.
    const NAME: &'static str;
    /// The names of the state tensors kept per parameter, in the order of
    /// [`State`](Rule::State), as checkpoints and
    /// [`Optimizer::moment`](crate::Optimizer::moment) name them.
    const STATE: &'static [&'static str];
    /// The gradient statistics the rule reads: `Mean` (ĝ) or
    /// `MeanAndSquares` (ĝ and (1/B) Σ_b g_b²). A `PerExample` backward
    /// computes the squares too, and a rule asking for it reads the same.
    const REQUEST: GradRequest = GradRequest::Mean;
    /// The batch-size rule used unless the spec names one.
    const BATCH_RULE: BatchRule = BatchRule::Fixed;
    /// One element of each state tensor: `[f32; K]` for K = `STATE.len()`.
    type State: StateArray;
    /// The scalars of one step, computed once and read by every element (a
    /// few numbers: the driver copies them next to its loop, where the
    /// compiler keeps them in registers).
    type Scalars: Copy + Sync;

    /// The base learning rate (η, or η₀ where the rule is written with it),
    /// before the schedule and the batch-size rule.
    fn learning_rate(&self) -> f64;

    /// The scalars of step `t` (from 1) with learning rate `eta`.
    fn scalars(&self, t: u64, eta: f64) -> Self::Scalars;

    /// The rule for one element: update Φ and the state from g.
    ///
    /// Write it as the formula; the driver inlines it into loops it
    /// vectorizes, so keep it branch-free where the formula is.
    fn update(c: &Self::Scalars, phi: &mut f32, g: Gradient, state: &mut Self::State);

    /// Checks values that are each in range but do not go together, after
    /// the spec is parsed: `Err((key, what it takes))` makes the spec an
    /// error naming that key. Default: every combination is valid.
    fn check(&self) -> Result<(), (&'static str, String)> {
        Ok(())
    }

    /// The state elements of a parameter before its first step (default 0).
    fn initial_state(&self) -> Self::State {
        Self::State::ZERO
    }

    // The rules that are not element-wise declare more; every item below has
    // a default that leaves an element-wise rule as it is.

    /// The rule that runs instead of this one for these hyperparameters, if
    /// another: for a switch that changes what the rule keeps
    /// (`adam(amsgrad=true)` keeps a third tensor, so it runs as
    /// [`AmsGrad`](crate::AmsGrad), whose spec is still Adam's). Asked once,
    /// after the spec is parsed and checked. Default: this rule.
    fn variant(&self) -> Option<Variant> {
        None
    }

    /// Whether [`update_tensor`](Rule::update_tensor) takes the parameter of
    /// this shape as a whole, for rules that need the shape (a factored
    /// second moment, a matrix function of the momentum, a per-tensor trust
    /// ratio). Default: no parameter, every element goes through
    /// [`update`](Rule::update).
    fn whole_tensor(&self, shape: &[usize]) -> bool {
        let _ = shape;
        false
    }

    /// The update of one whole parameter, for the shapes
    /// [`whole_tensor`](Rule::whole_tensor) accepts. It receives the
    /// transformed gradient like the kernel; the driver applies decoupled
    /// decay before and flushes the state after. The default applies
    /// [`update`](Rule::update) to each element in turn.
    fn update_tensor(c: &Self::Scalars, p: WholeTensor<'_>) {
        let WholeTensor {
            value,
            grad,
            grad_sq,
            state,
            ..
        } = p;
        for i in 0..value.len() {
            let mut s = Self::State::load(state, i);
            let g = Gradient {
                mean: grad[i],
                squares: grad_sq.get(i).copied().unwrap_or(0.0),
            };
            Self::update(c, &mut value[i], g, &mut s);
            s.store(state, i);
        }
    }

    /// The shape of state tensor `state` (an index into
    /// [`STATE`](Rule::STATE)) for a parameter of shape `shape`. Default: the
    /// parameter's. A rule may keep other shapes (Adafactor's row and
    /// column averages; `[0]` for a tensor a shape does not use) only for
    /// parameters it takes as a whole ([`whole_tensor`](Rule::whole_tensor)).
    fn state_shape(&self, state: usize, shape: &[usize]) -> Vec<usize> {
        let _ = state;
        shape.to_vec()
    }

    /// The state tensors that start as a copy of the parameter instead of
    /// [`initial_state`](Rule::initial_state) (Schedule-Free's z and x,
    /// Prodigy's Φ₀).
    const FROM_PARAMETER: &'static [&'static str] = &[];
    /// The numbers the rule keeps across all parameters and steps, by name
    /// (Schedule-Free's running weight sum), saved in checkpoints; they
    /// start at [`initial_global`](Rule::initial_global) and are updated by
    /// [`step_global`](Rule::step_global) and [`finish`](Rule::finish).
    const GLOBAL: &'static [&'static str] = &[];

    /// The [`GLOBAL`](Rule::GLOBAL) numbers before the first step, in their
    /// order. Default: all 0.
    fn initial_global(&self) -> Vec<f64> {
        vec![0.0; Self::GLOBAL.len()]
    }

    /// Updates the [`GLOBAL`](Rule::GLOBAL) numbers at the start of a step
    /// with rate `eta`, and puts what the kernel needs from them into `c`
    /// (computed by [`scalars`](Rule::scalars) just before). Default: none.
    fn step_global(&self, eta: f64, global: &mut [f64], c: &mut Self::Scalars) {
        let _ = (eta, global, c);
    }

    /// How many sums over all parameters the step needs before it updates
    /// any (Prodigy's estimate of the distance to the solution): a rule with
    /// sums gets a first pass over every parameter,
    /// [`accumulate`](Rule::accumulate), then [`finish`](Rule::finish), then
    /// the usual update.
    const SUMS: usize = 0;

    /// The first pass over one parameter, for a rule with
    /// [`SUMS`](Rule::SUMS): adds its part to each sum (and may update the
    /// state). Φ is not to be changed here; the decoupled decay comes later.
    fn accumulate(c: &Self::Scalars, p: WholeTensor<'_>, sums: &mut [f64]) {
        let _ = (c, p, sums);
    }

    /// After the first pass: updates the global numbers from the sums over
    /// all parameters and puts what the update needs into `c`.
    fn finish(&self, global: &mut [f64], sums: &[f64], c: &mut Self::Scalars) {
        let _ = (global, sums, c);
    }

    /// The state tensor holding the parameters to evaluate and save, when
    /// they are not Φ, the point where gradients are taken (Schedule-Free
    /// trains at y and is evaluated at x). The trainer evaluates and saves
    /// the model at this tensor and rebuilds Φ from the state with
    /// [`training_point`](Rule::training_point) when it resumes.
    const EVALUATE_AT: Option<&'static str> = None;

    /// Φ of one element, from the saved evaluation point `saved` (the
    /// [`EVALUATE_AT`](Rule::EVALUATE_AT) tensor's element) and the state:
    /// computed exactly as the step computes it, so that a resumed run is
    /// bitwise the run that did not stop. Default: `saved`.
    fn training_point(&self, saved: f32, state: &Self::State) -> f32 {
        let _ = state;
        saved
    }

    /// Whether the optimizer's `decoupled_weight_decay` applies to the rule
    /// (Φ ← (1 − ηλ)·Φ before the kernel). A rule that applies a decay of
    /// its own says `false` — one that recomputes Φ from its state each step,
    /// where that shrinking would be lost (Schedule-Free), or one whose
    /// decay is not η·λ (Prodigy's is scaled by its estimate, Muon's halves
    /// have rates of their own) — and a spec giving the key is an error.
    const DECOUPLED_DECAY: bool = true;

    /// The search space a tuner draws this rule's hyperparameters from
    /// ([`search`](crate::search)): the base rate first, then the keys the
    /// rule is sensitive to, each with its range and scale. A key may be
    /// the rule's own or one of the optimizer's (`warmup`, `weight_decay`);
    /// registration checks that each range is one and its ends are values
    /// the key takes. Default: none, and a tuner refuses the rule.
    const SEARCH: &'static [crate::search::Dim] = &[];
}

/// A rule standing in for another, from [`Rule::variant`]. It keeps the
/// spec of the rule it stands for, so it must write the same keys.
pub struct Variant(pub(crate) Box<dyn DynRule>);

impl Variant {
    /// Rule `rule` in place of the one asked for.
    pub fn new<R: Rule>(rule: R) -> Variant {
        Variant(Box::new(rule))
    }
}

/// The gradient of one element as the kernel sees it: after clipping by the
/// global norm (factor c) and L2 decay (λ).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Gradient {
    /// g = c·ĝ + λΦ.
    pub mean: f32,
    /// (1/B) Σ_b (c·g_b + λΦ)², the per-example mean of squares of the same
    /// transformed gradient, for rules whose [`Rule::REQUEST`] is
    /// [`GradRequest::MeanAndSquares`]; 0 otherwise.
    pub squares: f32,
}

/// One parameter as a whole, for [`Rule::update_tensor`].
pub struct WholeTensor<'a> {
    /// Its shape.
    pub shape: &'a [usize],
    /// Φ, row-major.
    pub value: &'a mut [f32],
    /// g = c·ĝ + λΦ, element by element.
    pub grad: &'a [f32],
    /// The transformed per-example squares, or empty.
    pub grad_sq: &'a [f32],
    /// The rule's state tensors, in the order of [`Rule::STATE`], shaped
    /// as [`Rule::state_shape`] says.
    pub state: &'a mut [Tensor],
    /// The factor 1 − η_t·λ that Φ was just multiplied by (the decoupled
    /// weight decay; 1 without), for a rule that reads Φ as it was before
    /// the step.
    pub shrink: f32,
    /// Working memory, kept between steps and shared by all parameters.
    pub work: &'a mut Work,
}

/// Working memory for [`Rule::update_tensor`]: resize and use it as you
/// like. It is kept between steps, so once it has grown to the largest
/// parameter's needs, steps do not allocate.
#[derive(Clone, Debug, Default)]
pub struct Work {
    /// Single-precision numbers.
    pub f32s: Vec<f32>,
    /// Double-precision numbers (sums).
    pub f64s: Vec<f64>,
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
