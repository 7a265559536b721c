//! # gradlab
//!
//! A deep-learning mini-framework you can read in an afternoon and that trains
//! an MNIST classifier in seconds. This crate only gathers the workspace's
//! crates under one name; each has its own documentation.
//!
//! * [`tensor`] — the `f32` tensor, elementwise ops, reductions, matmul.
//! * [`autodiff`] — the tape, backward, per-example gradients.
//! * [`layers`] — Linear, activations, Mlp, parameter store, checkpoints.
//! * [`optim`] — running averages and every optimizer of the lecture.
//! * [`data`] — IDX files, MNIST, seeded batches.
//! * [`train`] — the training loop, metrics, logs, resumable checkpoints.
//! * [`bench`](mod@bench) — the optimizer benchmark: sweeps, tables and plots of the
//!   lecture's claims.

pub use gradlab_autodiff as autodiff;
pub use gradlab_bench as bench;
pub use gradlab_data as data;
pub use gradlab_layers as layers;
pub use gradlab_optim as optim;
pub use gradlab_tensor as tensor;
pub use gradlab_train as train;
