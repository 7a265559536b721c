//! # gradlab-layers
//!
//! Building blocks for networks on the autodiff tape, and their weights on
//! disk.
//!
//! A module records its forward pass onto a [`Graph`] and lists the
//! parameters it owns. Modules hold [`ParamId`]s into a [`ParamStore`], never
//! tensors, so an optimizer can update the store while the model is shared.
//!
//! ```
//! use gradlab_autodiff::{Activation, Tape};
//! use gradlab_layers::{Mlp, Mode, Module};
//! use gradlab_tensor::Tensor;
//!
//! let mlp = Mlp::new(&[4, 8, 3], Activation::Relu, 0)?;
//! let mut tape = Tape::new();
//! let mut g = tape.record(&mlp.params);
//! let x = g.input(&Tensor::ones(&[2, 4]));
//! let logits = mlp.forward(&mut g, x, Mode::Eval);
//! assert_eq!(g.value(logits).shape(), &[2, 3]);
//! # Ok::<(), gradlab_layers::LayerError>(())
//! ```
//!
//! [`Graph`]: gradlab_autodiff::Graph
//! [`ParamId`]: gradlab_autodiff::ParamId
//! [`ParamStore`]: gradlab_autodiff::ParamStore

mod activation;
pub mod checkpoint;
mod cnn;
mod conv;
mod dropout;
mod error;
mod gpt;
mod linear;
mod mlp;
mod model;
mod module;
mod norm;
mod params;
mod sequential;

pub use activation::Act;
pub use checkpoint::{
    encode_tensors, encode_weights, load_weights, read_tensors, save_weights, write_atomic,
    write_tensors, CheckpointError,
};
pub use cnn::{Cnn, CnnKind};
pub use conv::{Conv2d, ConvShape, Flatten, GlobalAvgPool, Image, Normalize, Pool2d, Residual};
pub use dropout::Dropout;
pub use error::LayerError;
pub use gpt::{sample, CausalSelfAttention, Embedding, Gpt, GptConfig, TransformerBlock};
pub use linear::Linear;
pub use mlp::Mlp;
pub use model::Model;
pub use module::{Mode, Module};
pub use norm::{BatchNorm2d, GroupNorm, LayerNorm};
pub use sequential::Sequential;
