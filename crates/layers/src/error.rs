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
    #[error("Linear {name:?}: the store already holds a parameter named {param:?}")]
    Name {
        /// The layer's name.
        name: String,
        /// The parameter name taken.
        param: String,
    },
    /// An MLP needs an input and an output width at least.
    #[error("Mlp: needs at least input and output sizes, got {0:?}")]
    Depth(Vec<usize>),
    /// A dropout probability outside [0, 1).
    #[error("dropout p = {0} is not in [0, 1)")]
    Dropout(f32),
}
