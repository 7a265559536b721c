//! An optimizer's saved state, for checkpoints.
//!
//! [`OptimizerState`] holds the canonical spec, the step count t and, per
//! parameter id, its shape and the rule's state tensors. It can be stored
//! two ways:
//!
//! * whole, with serde (e.g. `serde_json`): tensors are written as a shape
//!   and a list of `f32`, and every finite `f32` reads back bitwise equal;
//! * split: the small [`StateHeader`] (spec, t, ids and shapes) with serde,
//!   and the big tensors under the names of [`OptimizerState::tensors`]
//!   (`"<id>.<moment>"`, e.g. `"3.m"`) in a tensor file such as safetensors;
//!   [`OptimizerState::from_parts`] puts them back together.
//!
//! Loading checks everything it can: [`Optimizer::from_state`] that the spec
//! parses and each parameter has the rule's moments with as many values as
//! its shape, [`Optimizer::validate`] that the parameters given to the
//! training loop have the ids and shapes the state was saved with.
//!
//! [`Optimizer::from_state`]: crate::Optimizer::from_state
//! [`Optimizer::validate`]: crate::Optimizer::validate

use serde::{Deserialize, Serialize};

use gradlab_tensor::Tensor;

use crate::denormal::flush;
use crate::spec::SpecError;

/// The whole state of an [`Optimizer`](crate::Optimizer).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OptimizerState {
    /// The canonical spec of the optimizer.
    pub spec: String,
    /// Steps taken, t.
    pub steps: u64,
    /// The rule's global numbers (none for most rules).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub global: Vec<Global>,
    /// Every parameter seen, by increasing id.
    pub params: Vec<ParamState>,
}

/// One of a rule's global numbers ([`TensorRule::GLOBAL`](crate::TensorRule::GLOBAL)).
/// JSON writes an `f64` so that it reads back bitwise.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Global {
    /// Its name.
    pub name: String,
    /// Its value.
    pub value: f64,
}

/// The state kept for one parameter.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ParamState {
    /// The parameter's id.
    pub id: usize,
    /// The parameter's shape, shared by its moments.
    pub shape: Vec<usize>,
    /// The rule's state tensors, in the order of its moment names (none for
    /// plain SGD).
    pub moments: Vec<Moment>,
}

/// One state tensor of one parameter.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Moment {
    /// The moment's name (`"m"`, `"v"`, `"s"`).
    pub name: String,
    /// Its shape, when it is not the parameter's (a rule's
    /// [`init`](crate::TensorRule::init) may make it so).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shape: Option<Vec<usize>>,
    /// Its elements, row-major, for its shape (mostly the parameter's).
    pub data: Vec<f32>,
}

/// The state without its tensors: small, for a JSON file next to a tensor
/// file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StateHeader {
    /// The canonical spec of the optimizer.
    pub spec: String,
    /// Steps taken, t.
    pub steps: u64,
    /// The rule's global numbers (none for most rules).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub global: Vec<Global>,
    /// Every parameter seen, by increasing id.
    pub params: Vec<ParamShape>,
}

/// A parameter's id and shape.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ParamShape {
    /// The parameter's id.
    pub id: usize,
    /// Its shape.
    pub shape: Vec<usize>,
}

impl OptimizerState {
    /// The name under which [`tensors`](OptimizerState::tensors) lists
    /// moment `moment` of parameter `id`: `"<id>.<moment>"`.
    pub fn tensor_name(id: usize, moment: &str) -> String {
        format!("{id}.{moment}")
    }

    /// Everything but the tensors.
    pub fn header(&self) -> StateHeader {
        StateHeader {
            spec: self.spec.clone(),
            steps: self.steps,
            global: self.global.clone(),
            params: self
                .params
                .iter()
                .map(|p| ParamShape {
                    id: p.id,
                    shape: p.shape.clone(),
                })
                .collect(),
        }
    }

    /// Every state tensor as `(name, shape, data)`, named by
    /// [`tensor_name`](OptimizerState::tensor_name).
    pub fn tensors(&self) -> impl Iterator<Item = (String, &[usize], &[f32])> + '_ {
        self.params.iter().flat_map(|p| {
            p.moments.iter().map(|m| {
                (
                    Self::tensor_name(p.id, &m.name),
                    m.shape.as_deref().unwrap_or(&p.shape),
                    m.data.as_slice(),
                )
            })
        })
    }
}

/// A saved state that does not fit, or parameters that do not fit an
/// optimizer. Each message names the parameter id and the shapes involved.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    /// The state's spec does not parse.
    #[error("optimizer state: {0}")]
    Spec(#[from] SpecError),
    /// The state was saved by a differently configured optimizer.
    #[error("the optimizer state was saved by '{state}', but this optimizer is '{optimizer}'")]
    SpecMismatch {
        /// The state's canonical spec.
        state: String,
        /// This optimizer's canonical spec.
        optimizer: String,
    },
    /// A parameter's moments are not the rule's.
    #[error("optimizer state for parameter {id}: {optimizer} keeps moments [{expected}], the state has [{found}]")]
    Moments {
        /// The parameter id.
        id: usize,
        /// The rule's name.
        optimizer: &'static str,
        /// The rule's moment names.
        expected: String,
        /// The names in the state.
        found: String,
    },
    /// The rule's global numbers are not the state's.
    #[error("optimizer state: {optimizer} keeps the global numbers [{expected}], the state has [{found}]")]
    Global {
        /// The rule's name.
        optimizer: &'static str,
        /// The rule's global names.
        expected: String,
        /// The names in the state.
        found: String,
    },
    /// A moment whose length does not fill its shape.
    #[error("optimizer state for parameter {id}: moment '{name}' has {len} values, which do not fill shape {shape:?}")]
    Length {
        /// The parameter id.
        id: usize,
        /// The moment's name.
        name: String,
        /// The moment's shape (mostly the parameter's).
        shape: Vec<usize>,
        /// The number of values.
        len: usize,
    },
    /// A moment whose shape is not the one the rule keeps.
    #[error("optimizer state for parameter {id}: moment '{name}' has shape {found:?}, the rule keeps {expected:?}")]
    MomentShape {
        /// The parameter id.
        id: usize,
        /// The moment's name.
        name: String,
        /// The shape the rule keeps for the parameter.
        expected: Vec<usize>,
        /// The shape in the state.
        found: Vec<usize>,
    },
    /// A tensor named twice.
    #[error("optimizer state tensor '{name}' is given twice")]
    DuplicateTensor {
        /// The tensor's name.
        name: String,
    },
    /// A tensor the header needs that is not there.
    #[error("optimizer state tensor '{name}' is missing")]
    MissingTensor {
        /// The tensor's name.
        name: String,
    },
    /// A tensor that belongs to no parameter or moment of the header.
    #[error("optimizer state tensor '{name}' belongs to no parameter and moment of the state")]
    UnexpectedTensor {
        /// The tensor's name.
        name: String,
    },
    /// A tensor whose shape is not the one the rule keeps for its parameter.
    #[error("optimizer state tensor '{name}' has shape {found:?}, the rule keeps {expected:?} for its parameter")]
    TensorShape {
        /// The tensor's name.
        name: String,
        /// The shape the rule keeps (mostly the parameter's).
        expected: Vec<usize>,
        /// The tensor's shape.
        found: Vec<usize>,
    },
    /// A parameter id given twice (to a step, or in a state).
    #[error("parameter id {id} appears twice")]
    DuplicateId {
        /// The id.
        id: usize,
    },
    /// A parameter whose shape differs from the state kept for its id.
    #[error(
        "parameter {id} has shape {param:?}, but the optimizer state for it has shape {state:?}"
    )]
    ShapeMismatch {
        /// The id.
        id: usize,
        /// The parameter's shape.
        param: Vec<usize>,
        /// The state's shape.
        state: Vec<usize>,
    },
    /// A gradient shaped unlike its parameter.
    #[error("parameter {id} has shape {value:?}, but its gradient has shape {grad:?}")]
    GradShape {
        /// The id.
        id: usize,
        /// The parameter's shape.
        value: Vec<usize>,
        /// The gradient's shape.
        grad: Vec<usize>,
    },
    /// Per-example squares shaped unlike their parameter.
    #[error(
        "parameter {id} has shape {value:?}, but its per-example squares have shape {grad_sq:?}"
    )]
    GradSqShape {
        /// The id.
        id: usize,
        /// The parameter's shape.
        value: Vec<usize>,
        /// The squares' shape.
        grad_sq: Vec<usize>,
    },
    /// A rule that needs per-example squares was given a parameter without.
    #[error("{optimizer} needs the per-example squares (1/B) Σ g_b² of parameter {id}: ask backward for GradRequest::MeanAndSquares")]
    MissingGradSq {
        /// The id.
        id: usize,
        /// The rule's name.
        optimizer: &'static str,
    },
    /// A parameter with no state although steps were taken.
    #[error("parameter {id} has no optimizer state, but the state is from step {steps} and holds ids {known:?}")]
    MissingParam {
        /// The id.
        id: usize,
        /// Steps taken.
        steps: u64,
        /// The ids the state holds.
        known: Vec<usize>,
    },
    /// State for an id no parameter has.
    #[error("the optimizer state holds parameter {id} (shape {shape:?}), which is not among the parameters given")]
    UnknownParam {
        /// The id.
        id: usize,
        /// Its shape in the state.
        shape: Vec<usize>,
    },
}

/// One element of each of a rule's K state tensors: `[f32; K]`.
pub trait StateArray: Copy + PartialEq + Send + Sync + 'static {
    /// K.
    const LEN: usize;
    /// Every element 0.
    const ZERO: Self;
    /// Element `i` of each tensor.
    fn load(tensors: &[Tensor], i: usize) -> Self;
    /// Stores the elements at `i`, each flushed to 0 below 2⁻¹²⁶.
    fn store(self, tensors: &mut [Tensor], i: usize);
}

impl<const K: usize> StateArray for [f32; K] {
    const LEN: usize = K;
    const ZERO: Self = [0.0; K];

    fn load(tensors: &[Tensor], i: usize) -> Self {
        std::array::from_fn(|k| tensors[k].data()[i])
    }

    fn store(self, tensors: &mut [Tensor], i: usize) {
        for (t, x) in tensors.iter_mut().zip(self) {
            t.data_mut()[i] = flush(x);
        }
    }
}
