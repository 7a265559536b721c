//! # gradlab-autodiff
//!
//! Reverse-mode automatic differentiation on a tape, with per-example
//! gradients.
//!
//! ## Three lines
//!
//! ```
//! use gradlab_autodiff::{GradRequest, ParamStore, Tape};
//! use gradlab_tensor::Tensor;
//!
//! let mut params = ParamStore::new();
//! let w = params.add("w", Tensor::from_vec(vec![1.0, -2.0], &[2, 1]));
//! let x = Tensor::from_vec(vec![3.0, 4.0, 5.0, 6.0], &[2, 2]); // two examples
//! let t = Tensor::from_vec(vec![0.0, 0.0], &[2, 1]);
//!
//! let mut tape = Tape::new();
//! let mut g = tape.record(&params);                 // build a graph …
//! let (xv, wv) = (g.input(&x), g.param(w));
//! let y = g.matmul(xv, wv);                         // y_b = x_b · w
//! let loss = g.mse(y, &t);                          // ℓ_b = (y_b − t_b)²
//! g.backward(loss, GradRequest::Mean).unwrap();     // … differentiate it …
//! // … and read ĝ = (1/2) Σ_b 2 (y_b − t_b) x_b, with y = (−5, −7):
//! assert_eq!(tape.grad(w).unwrap().data(), &[-50.0, -62.0]);
//! ```
//!
//! ## The tape
//!
//! Every op appends a node to the [`Tape`] (a Wengert list): which op, which
//! earlier nodes it read, the value it computed, and what its backward needs
//! (a softmax, a dropout mask). A [`Var`] is just the index of a node. Since
//! nodes only point backwards, [`Graph::backward`] visits the list from the
//! loss to the start, and each node, when visited, has received the gradient
//! of everything that consumed it; it then passes `∂L/∂input` to its inputs
//! by the chain rule.
//!
//! An op is a struct implementing [`Op`]: its name, what it does to the
//! examples of a batch, its forward and its backward, side by side in one
//! file under [`ops`]. [`Graph::apply`] records any op, one defined outside
//! this crate as well as a built-in one (see the [`op`] module).
//!
//! Parameters live in a [`ParamStore`], and models hold their [`ParamId`]s.
//! [`Tape::record`] borrows the store for one graph; once the graph is
//! dropped, the gradients stay on the tape and the store is free to be
//! updated by an optimizer. The tape keeps every buffer across graphs, so a
//! training step that repeats the same ops allocates nothing after the first.
//!
//! ## Per-example gradients
//!
//! Losses are per example first: a loss op returns the `[B]` vector of
//! per-example losses ℓ_b, and `backward` takes that vector. **Convention:**
//! g_b = ∇ℓ_b is the gradient of example b's own loss — not of ℓ_b/B — and
//! the batch gradient is their mean, ĝ = (1/B) Σ_b g_b. (Libraries differ on
//! this: BackPACK's per-example gradients include the 1/B, Opacus's do not.)
//!
//! [`GradRequest`] says what to compute:
//! * `Mean`: ĝ, the usual backward.
//! * `MeanAndSquares`: ĝ and (1/B) Σ_b g_b², without materializing any g_b.
//!   For `y = x·W`, g_b = x_bᵀ δ_b and Σ_b (x_bᵀ δ_b)² = (x²)ᵀ(δ²): one more
//!   matmul on squared operands. For a bias it is Σ_b δ_b². This is what the
//!   lecture's batch-size-independent Adam needs (s estimates E g² = μ² + σ²).
//! * `PerExample`: ĝ, the mean of squares, and every g_b as a `[B, …]`
//!   tensor.
//! * `Norms`: ĝ and every ‖g_b‖, per parameter tensor and in total, without
//!   materializing any g_b: ‖x_bᵀ δ_b‖² = ‖x_b‖²·‖δ_b‖² (Goodfellow 2015).
//! * `Clipped(C)`: the clipped mean (1/B) Σ_b min(1, C/‖g_b‖)·g_b that
//!   DP-SGD needs, again without any g_b: the weight-gradient matmuls wait
//!   until the walk has every norm, then run once with the rows of δ
//!   scaled (Bu et al. 2022; see the `backward` module).
//!
//! This holds while examples do not interact. The tape tracks which values
//! belong to one example and which mix them (a sum over the batch, a product
//! contracting over it); if the loss depends on a mixing value, or a
//! parameter enters the graph through an op that does not give per-example
//! statistics (those that do: a matmul or linear layer with a batch — over
//! sequences too —, a row vector combined with a batch, a convolution, a
//! group or layer norm, an embedding), the per-example requests return a
//! [`BackwardError`] instead of wrong numbers.
//!
//! From ĝ and the mean of squares, [`Tape::noise_scale`] estimates the
//! gradient noise scale B_noise = tr(Σ)/|G|² (McCandlish et al. 2018).

mod backward;
mod context;
mod describe;
mod error;
pub mod gradcheck;
mod kernels;
mod noise;
pub mod op;
pub mod ops;
mod params;
mod recorded;
mod request;
mod stats;
mod tape;

pub use error::BackwardError;
pub use gradcheck::{gradient_check, GradientCheck};
pub use noise::NoiseScale;
pub use op::{Backward, Examples, Op, MAX_INPUTS};
pub use ops::activation::Activation;
pub use ops::arith::BinaryKind;
pub use params::{ParamId, ParamStore};
pub use request::{Clipping, GradRequest};
pub use tape::{Graph, Tape, Var};
