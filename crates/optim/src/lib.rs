//! # gradlab-optim
//!
//! The optimizers of the lecture "RMSProp and Adam" (TTIC 31230), each next
//! to its formula, plus what users of PyTorch expect beside them. Notation is
//! the lecture's: Φ the parameters, ĝ_t the batch-mean gradient at step t
//! (t = 1, 2, …), η the learning rate, N the length of a running average
//! (β = 1 − 1/N), B the batch size.
//!
//! ## The progression
//!
//! 1. **SGD** ([`Sgd`]): Φ ← Φ − η·ĝ. One η for every parameter.
//! 2. **Momentum.** Classical momentum ([`SgdMomentum`], PyTorch's, with
//!    Nesterov's variant) sums gradients, v ← μv + ĝ; the sum's weights add
//!    up to 1/(1 − μ), so the effective step is η/(1 − μ) and μ cannot be
//!    tuned without retuning η. An average of the gradients
//!    ([`SgdEma`]) has weights adding up to 1: momentum decoupled from the
//!    temperature.
//! 3. **RMSProp** ([`RmsProp`]): divide each parameter's step by √s, with s a
//!    running average of ĝ². Scaling every gradient by α scales √s by α too,
//!    so the update does not change: η is dimensionless.
//!    [`RmsPropMomentum`] is PyTorch's RMSprop with classical momentum.
//! 4. **Adam** ([`Adam`]; `adamw` is Adam with decoupled weight decay):
//!    RMSProp with an average of ĝ in the numerator, as published and as in
//!    `torch.optim`.
//! 5. **Bias correction** ([`RunningAverage`], [`Correction`]): an average
//!    started at 0 is biased toward 0 while t < N. The cumulative mean (1/t)
//!    has no bias but never forgets; the lecture's 1/min(N, t) is the exact
//!    mean for t ≤ N and the EMA afterwards; Adam divides by 1 − βᵗ.
//!    [`AdamLecture`] is Adam with the min(N, t) averages.
//! 6. **η = ε·η₀** ([`AdamEta0`]): Φ ← Φ − η₀/(1 + √s/ε)·g̃. ε can then
//!    grow without moving the step, and as ε → ∞ the rule becomes SGD on the
//!    averaged gradient, [`SgdEma`] with step η₀.
//! 7. **Batch-size rules** ([`BatchRule`]): s ≈ E ĝ² = μ² + σ²/B. When
//!    μ² ≫ σ²/B use η = B·η₀, as for SGD; when σ²/B ≫ μ², η = √B·η₀.
//! 8. **Per-example second moments** ([`AdamPerExample`]): average
//!    (1/B) Σ_b g_b² instead of ĝ², so s estimates E g² = μ² + σ² for every
//!    B; with η = B·η₀ the rule no longer depends on the batch size. It needs
//!    the [`Statistics::MeanAndSquares`] statistics from backward.
//!
//! Beyond the lecture: L2 and decoupled weight decay for every rule,
//! clipping by the global gradient norm, and learning-rate [`Schedule`]s
//! (constant, step, cosine, linear warm-up). Every rule that keeps a running
//! average takes its bias correction as a key (`correction=none`,
//! `cumulative`, `min_nt` or `published`): `adam(correction=min_nt)` is the
//! lecture's simplified Adam.
//!
//! The rules people compare the lecture's with, each following a named
//! reference implementation (its version and any deliberate difference in
//! the rule's docs): from `torch.optim`, [`AmsGrad`] (`adam(amsgrad=true)`),
//! [`Adagrad`], [`Adamax`], [`Nadam`] (and `nadamw`), [`Radam`],
//! [`Adadelta`], [`Adafactor`] and [`Muon`] (with AdamW for its non-matrix
//! parameters); from optax, [`AdaBelief`], [`Yogi`], [`SignSgd`],
//! [`Signum`], [`Lamb`], [`Lion`], [`ScheduleFreeAdamW`] and [`Prodigy`];
//! from their authors' code, [`AdEMAMix`] and [`Soap`]; from timm,
//! [`CautiousAdamW`]; from Distributed Shampoo, [`Shampoo`].
//!
//! ## How a rule is written
//!
//! Each rule is one file of [`rules`]: the slide's formula in its doc, its
//! hyperparameters declared once with [`hyperparameters!`] (the spec keys,
//! their defaults, ranges and the docs table come from there), and a
//! [`Rule`] whose element-wise kernel reads as the formula, line for line.
//! Adam's:
//!
//! ```text
//! fn update(c: &AdamScalars, phi: &mut f32, g: Gradient, [m, v]: &mut [f32; 2]) {
//!     *m = c.m.keep * *m + c.m.take * g.mean; // m ← β₁·m + (1 − β₁)·ĝ
//!     *v = c.v.keep * *v + c.v.take * g.mean * g.mean; // v ← β₂·v + (1 − β₂)·ĝ²
//!     *phi -= c.step * *m / (c.root * v.sqrt() + c.eps); // Φ ← Φ − η·m̂/(√v̂ + ε)
//! }
//! ```
//!
//! The [`Optimizer`] drives every rule the same way: it computes the step's
//! scalars once, then runs the kernel inside one vectorized, deterministic
//! parallel pass per parameter, with clipping, weight decay and denormal
//! flushing around it. A rule written in another crate is the same items and
//! one call to [`register`]; see [`rule`] and `examples/custom_optimizer.rs`
//! (Lion in about 40 lines). A rule that needs a whole tensor at a time is a
//! [`TensorRule`] — optax's shape: the state of a tensor
//! ([`TensorRule::init`]) and an update of every tensor of a step
//! ([`TensorRule::update`]), with optional numbers kept across all of them —
//! and every element-wise [`Rule`] is one too: LAMB's trust ratio,
//! Adafactor's factored moment, Muon's Newton–Schulz on the tensor crate's
//! GEMM, Prodigy's sums over every parameter before any moves and
//! Schedule-Free's point to evaluate at, which the trainer evaluates and
//! saves, are written that way.
//!
//! The optimizer knows nothing of autograd: a step is given the parameters
//! and their gradient statistics through [`Parameters`], a small view that
//! a list of [`Param`]s is, and that the trainer adapts a tape's gradients
//! to.
//!
//! ## Using an optimizer
//!
//! Every optimizer is built from a spec string, so a command line, a
//! benchmark sweep and a checkpoint name variants the same way:
//!
//! ```text
//! sgd(lr=0.1)                          sgd_momentum(lr=0.01,momentum=0.9,nesterov=true)
//! sgd_ema(lr=0.1,n_g=10)               rmsprop(lr=1e-3,n_s=100)
//! rmsprop_momentum(lr=1e-3,momentum=0.9)
//! adam(lr=1e-3,b1=0.9,b2=0.999,eps=1e-8)        adamw(lr=1e-3,weight_decay=0.01)
//! adam_lecture(lr=1e-3,n_g=10,n_s=1000)         adam_eta0(eta0=0.1,eps=1e-3)
//! adam_per_example(eta0=1e-5)                   adam(lr=1e-3,batch_rule=sqrt,clip_norm=1)
//! ```
//!
//! Keys left out take the defaults documented on each rule (`adam` alone is
//! PyTorch's Adam, a good optimizer for an MNIST MLP). The keys shared by all
//! rules are listed in [`spec`]; [`registry::names`] lists the rules. A training step asks for the gradient
//! statistics the optimizer needs, then hands over every parameter:
//!
//! ```
//! use gradlab_optim::{Optimizer, Param, Statistics};
//! use gradlab_tensor::Tensor;
//!
//! let mut opt = Optimizer::from_spec("adam(lr=0.01)")?;
//! assert_eq!(opt.statistics(), Statistics::Mean);
//! let mut w = Tensor::from_vec(vec![1.0, 2.0], &[2]);
//! let mut b = Tensor::from_vec(vec![0.5], &[1]);
//! let (gw, gb) = (Tensor::from_vec(vec![0.3, -0.2], &[2]), Tensor::from_vec(vec![0.1], &[1]));
//! opt.step(&mut [Param::new(0, &mut w, &gw), Param::new(1, &mut b, &gb)], 64);
//! // Adam's first step moves each parameter by about η against its gradient.
//! assert!((w.data()[0] - 0.99).abs() < 1e-6 && (w.data()[1] - 2.01).abs() < 1e-6);
//! assert_eq!(opt.steps(), 1);
//! assert_eq!(opt.to_string(), "adam(lr=0.01,b1=0.9,b2=0.999,eps=1e-8)");
//! # Ok::<(), gradlab_optim::SpecError>(())
//! ```
//!
//! [`Optimizer::state`] and [`Optimizer::from_state`] save and restore
//! everything (see [`state`] for the JSON and the tensor-file routes);
//! resuming gives bitwise the same run as not stopping.
//!
//! ## Speed and determinism
//!
//! A step is memory-bound, so each parameter's update is a single fused pass
//! over Φ, ĝ and the state, with everything that depends only on t (bias
//! corrections, the schedule) computed once per step. Large parameters are
//! split over rayon's threads in chunks of fixed size; the results are
//! bitwise identical for any number of threads. State tensors are created
//! the first time a parameter is seen; later steps do not allocate.

pub mod accountant;
pub mod average;
pub mod batch_rule;
mod denormal;
pub mod dp_sgd;
mod eigen;
pub mod gradient;
pub mod hyperparameters;
mod optimizer;
mod parallel;
pub mod param;
pub mod registry;
pub mod rule;
pub mod rules;
pub mod schedule;
pub mod search;
pub mod spec;
pub mod state;
pub mod step;
pub mod tensor_rule;

pub use accountant::{PrivacyError, RdpAccountant};
pub use average::{AverageError, Correction, RunningAverage, Weights};
pub use batch_rule::BatchRule;
pub use dp_sgd::GaussianMechanism;
pub use gradient::{clip_factor, global_norm};
pub use hyperparameters::{Flag, HyperValue, Hyperparameter, Hyperparameters, Quiet};
pub use optimizer::Optimizer;
pub use param::{Param, Parameters, Statistics};
pub use registry::{register, register_decoupled, search_space, series, RegistryError, Series};
pub use rule::{sign, Gradient, Options, Rule};
pub use rules::{
    AdEMAMix, AdaBelief, Adadelta, Adafactor, Adagrad, Adam, AdamEta0, AdamLecture, AdamPerExample,
    Adamax, AmsGrad, CautiousAdamW, Lamb, Lion, Muon, Nadam, Prodigy, Radam, RmsProp,
    RmsPropMomentum, ScheduleFreeAdamW, Sgd, SgdEma, SgdMomentum, Shampoo, SignSgd, Signum, Soap,
    Yogi,
};
pub use schedule::{Decay, Schedule};
pub use spec::{format_float, significant, Range, SpecError};
pub use state::{
    Global, Moment, OptimizerState, ParamShape, ParamState, StateArray, StateError, StateHeader,
};
pub use step::{Kernel, PerTensor, TensorStep, Tensors, Transform, Whole, Work};
pub use tensor_rule::TensorRule;
