//! # gradlab-train
//!
//! The training loop that ties gradlab together: a [`Model`] (the config's
//! [`Mlp`], or any network of your own), an [`Optimizer`] from a spec
//! string, a [`Dataset`] with class labels or real-valued targets, and the
//! tape in between. Classes train with softmax cross-entropy and report
//! accuracy; values train with mean squared error and report RMSE.
//!
//! Each step gathers a batch into the tape's input buffer, records the
//! forward pass, asks `backward` for exactly the statistics the optimizer
//! needs ([`FromTape::grad_request`]), and updates the parameters in place.
//! After every epoch the test set is evaluated, a row goes to the CSV log and
//! a checkpoint to disk. Everything random is derived from the config's seed
//! (epoch e's shuffle from (seed, e), step t's dropout from (seed, t)), so a
//! run is reproducible bit for bit and resumable from any step.
//!
//! Nothing is lost and nothing is silent:
//!
//! * [`Trainer::new`] refuses what has no meaning (no epochs, a batch larger
//!   than the data, images of two sizes, a model larger than the memory)
//!   before it allocates anything;
//! * a loss that is NaN or above [`DIVERGENCE_FACTOR`] × the chance-level
//!   loss stops the run with [`TrainError::Diverged`], naming the step, the
//!   epoch, the loss and the likely cause;
//! * [`FitOptions::stop`] (a Ctrl-C) stops at the next step boundary and
//!   saves;
//! * [`checkpoint`] writes crash-safe checkpoints that record everything that
//!   defines the run under one checksum, and resumes only the same run on
//!   the same data.
//!
//! ```no_run
//! use gradlab_train::{Checkpoint, FitOptions, TrainConfig, Trainer};
//!
//! let mnist = gradlab_data::load("datasets/mnist")?;
//! let options = FitOptions { save: Some("runs/a".into()), ..FitOptions::default() };
//! let mut trainer = match Checkpoint::latest("runs/a") {
//!     Ok(saved) => saved.resume(mnist.train, mnist.test, None)?,
//!     Err(_) => Trainer::new(TrainConfig::default(), mnist.train, mnist.test)?,
//! };
//! for epoch in trainer.fit(&options, &mut |_| {})? {
//!     println!("epoch {}: {:.2} %", epoch.epoch, 100.0 * epoch.test_accuracy.unwrap());
//! }
//! # Ok::<(), gradlab_train::TrainError>(())
//! ```
//!
//! [`Mlp`]: gradlab_layers::Mlp
//! [`Model`]: gradlab_layers::Model
//! [`Dataset`]: gradlab_data::Dataset
//! [`Optimizer`]: gradlab_optim::Optimizer

pub mod checkpoint;
mod config;
mod csv_log;
mod error;
mod fit;
mod helpers;
pub mod tape;
mod trainer;

pub use checkpoint::{Checkpoint, Checkpoints};
pub use config::{
    default_optimizer, parse_activation, Privacy, TrainConfig, ACTIVATIONS, DEFAULT_OPTIMIZER,
};
pub use csv_log::{CsvLog, COLUMNS};
pub use error::TrainError;
pub use fit::FitOptions;
pub use tape::{privatize_tape, FromTape, TapeParams};
pub use trainer::{EpochMetrics, Evaluation, Event, StepInfo, Task, Trainer, DIVERGENCE_FACTOR};
