//! # gradlab-train
//!
//! The training loop that ties gradlab together: an [`Mlp`] from the layers
//! crate, an [`Optimizer`] from a spec string, MNIST-layout data, and the
//! tape in between.
//!
//! Each step gathers a batch into the tape's input buffer, records the
//! forward pass, asks `backward` for exactly the statistics the optimizer
//! needs ([`Optimizer::grad_request`]), and updates the parameters in place.
//! After every epoch the test set is evaluated, a row goes to the CSV log and
//! a checkpoint to disk. Everything random is derived from the config's seed
//! (epoch e's shuffle from (seed, e), step t's dropout from (seed, t)), so a
//! run is reproducible bit for bit and resumable from any epoch.
//!
//! [`Mlp`]: gradlab_layers::Mlp
//! [`Optimizer`]: gradlab_optim::Optimizer
//! [`Optimizer::grad_request`]: gradlab_optim::Optimizer::grad_request

pub mod checkpoint;
mod config;
mod csv_log;
mod error;
mod trainer;

pub use config::{parse_activation, TrainConfig, ACTIVATIONS, DEFAULT_OPTIMIZER};
pub use csv_log::{CsvLog, COLUMNS};
pub use error::TrainError;
pub use trainer::{EpochMetrics, Event, Outputs, StepInfo, Trainer, CLASSES};
