//! [`LayerError`]: a layer or network asked for with values that describe
//! none.

use thiserror::Error;

/// Why a layer or network could not be built. Nothing is added to the
/// parameter store when this is returned.
#[derive(Clone, Debug, PartialEq, Error)]
pub enum LayerError {
    /// A layer with no inputs or no outputs.
    #[error("Linear {name:?}: sizes must be positive, got {inputs} → {outputs}")]
    Size {
        /// The layer's name.
        name: String,
        /// Input features asked for.
        inputs: usize,
        /// Output features asked for.
        outputs: usize,
    },
    /// A parameter name the store holds already.
    #[error("{layer} {name:?}: the store already holds a parameter named {param:?}")]
    Name {
        /// The kind of layer (`Linear`, `Conv2d`, …).
        layer: &'static str,
        /// The layer's name.
        name: String,
        /// The parameter name taken.
        param: String,
    },
    /// An MLP needs an input and an output width at least.
    #[error("Mlp: needs at least input and output sizes, got {0:?}")]
    Depth(Vec<usize>),
    /// A layer asked for with settings that describe none: no channels, a
    /// window or stride of 0, groups that do not divide the channels.
    #[error("{layer} {name:?}: {problem}")]
    Setting {
        /// The kind of layer (`Conv2d`, `GroupNorm`, …).
        layer: &'static str,
        /// The layer's name.
        name: String,
        /// What is wrong.
        problem: String,
    },
    /// A dropout probability outside [0, 1).
    #[error("dropout p = {0} is not in [0, 1)")]
    Dropout(f32),
}
