//! Activations as modules.

use gradlab_autodiff::{Activation, Graph, ParamId, Var};

use crate::{Mode, Module};

/// A pointwise activation (ReLU, leaky ReLU, tanh, sigmoid, GELU) as a
/// module without parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Act(pub Activation);

impl Module for Act {
    fn forward(&self, g: &mut Graph, x: Var, _mode: Mode) -> Var {
        g.activation(x, self.0)
    }

    fn params(&self) -> Vec<ParamId> {
        Vec::new()
    }
}
