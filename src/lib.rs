//! # gradlab
//!
//! A deep-learning mini-framework you can read in an afternoon and that trains
//! an MNIST classifier in seconds. This crate gathers the workspace's crates
//! under one name; each has its own documentation.
//!
//! * [`tensor`] — the `f32` tensor, elementwise ops, reductions, matmul.
//! * [`autodiff`] — the [`Op`](autodiff::Op) trait, the tape, backward,
//!   per-example gradients.
//! * [`layers`] — Linear, activations, Mlp, [`Model`](layers::Model),
//!   checkpoints of weights.
//! * [`optim`] — running averages and every optimizer of the lecture, and
//!   the rule API for your own.
//! * [`data`] — datasets from tensors, IDX files or CSV; seeded batches.
//! * [`train`] — the training loop for any model and task, metrics, logs,
//!   resumable checkpoints.
//! * `bench` (with the default feature `bench`) — the optimizer benchmark:
//!   sweeps, tables and plots of the lecture's claims.
//!
//! With `default-features = false` the core crates come without the
//! benchmark harness and the command-line tools (clap, plotters, indicatif).
//!
//! ## A training loop by hand
//!
//! Record a forward pass on a tape, differentiate the per-example losses,
//! step the optimizer: three points in two classes, learned by an MLP.
//!
//! ```
//! use gradlab::autodiff::{Activation, GradRequest, Tape};
//! use gradlab::layers::{Mlp, Mode, Module};
//! use gradlab::optim::Optimizer;
//! use gradlab::tensor::Tensor;
//! use gradlab::train::FromTape;
//!
//! let x = Tensor::from_vec(vec![0.0, 0.0, 1.0, 1.0, 0.0, 1.0], &[3, 2]);
//! let y = [0, 0, 1];
//! let mut mlp = Mlp::new(&[2, 8, 2], Activation::Tanh, 0)?;
//! let mut opt = Optimizer::from_spec("adam(lr=0.05)")?;
//! let mut tape = Tape::new();
//! let mut losses = vec![];
//! for step in 0..100 {
//!     let mut g = tape.record(&mlp.params);
//!     let xv = g.input(&x);
//!     let logits = mlp.forward(&mut g, xv, Mode::Train { seed: step });
//!     let loss = g.softmax_cross_entropy(logits, &y); // one loss per example
//!     losses.push(g.value(loss).mean());
//!     g.backward(loss, GradRequest::Mean)?; // ĝ for every parameter
//!     opt.update(&mut mlp.params, &tape); // Φ ← Φ − η·Adam(ĝ)
//! }
//! assert!(losses[99] < 0.05 * losses[0]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## The trainer, on your own data
//!
//! The same step inside epochs, evaluation and divergence checks (and, with
//! [`FitOptions`](train::FitOptions), a CSV log and crash-safe
//! checkpoints), for an MLP sized by the data or any
//! [`Model`](layers::Model):
//!
//! ```
//! use gradlab::data::{Dataset, Targets};
//! use gradlab::tensor::{rng, Tensor};
//! use gradlab::train::{FitOptions, Task, TrainConfig, Trainer};
//!
//! // Points around (−1, −1) are class 0, around (1, 1) class 1.
//! let blobs = |n: usize, seed| {
//!     let labels: Vec<usize> = (0..n).map(|i| i % 2).collect();
//!     let noise = Tensor::normal(&[n, 2], 0.0, 0.5, &mut rng(seed));
//!     let x = labels.iter().zip(noise.data().chunks(2))
//!         .flat_map(|(&c, e)| { let m = 2.0 * c as f32 - 1.0; [m + e[0], m + e[1]] });
//!     Dataset::from_tensors(Tensor::from_vec(x.collect(), &[n, 2]), Targets::Classes(labels))
//! };
//! let config = TrainConfig {
//!     hidden: vec![16],
//!     optimizer: "adam(lr=1e-2)".into(),
//!     batch_size: 32,
//!     epochs: 3,
//!     ..TrainConfig::default()
//! };
//! let mut trainer = Trainer::new(config, blobs(512, 1)?, blobs(256, 2)?)?;
//! assert_eq!(trainer.task(), Task::Classes(2));
//! let history = trainer.fit(&FitOptions::default(), &mut |_| {})?;
//! assert!(history[2].test_accuracy.unwrap() > 0.95);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod cli;

/// Every Rust snippet of the README compiles, and runs, as a test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct Readme;

/// The snippets of `docs/training.md`: the loop by hand, an op of your own,
/// a GPT's training step.
#[cfg(doctest)]
#[doc = include_str!("../docs/training.md")]
struct DocsTraining;

/// The snippets of `docs/optimizers.md`: an optimizer without a tape, an
/// element-wise rule and a tensor rule of your own.
#[cfg(doctest)]
#[doc = include_str!("../docs/optimizers.md")]
struct DocsOptimizers;

pub use gradlab_autodiff as autodiff;
#[cfg(feature = "bench")]
pub use gradlab_bench as bench;
pub use gradlab_data as data;
pub use gradlab_layers as layers;
pub use gradlab_optim as optim;
pub use gradlab_tensor as tensor;
pub use gradlab_train as train;
