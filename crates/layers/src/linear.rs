//! The fully connected layer.

use gradlab_autodiff::{Activation, Graph, ParamId, ParamStore, Var};
use gradlab_tensor::{Rng, Tensor};

use crate::params::add_params;
use crate::{LayerError, Mode, Module};

/// `y = x·Wᵀ + b`, with `W` stored `[out, in]` — PyTorch's `nn.Linear`
/// layout, so saved weights load into PyTorch unchanged. The transpose costs
/// nothing: the matmul reads W with swapped strides.
///
/// An activation can ride along ([`Linear::with_activation`]):
/// `y = f(x·Wᵀ + b)` is then one op on the tape ([`Graph::linear`]) instead
/// of three, which saves passes over memory in both directions.
///
/// Initialisation is PyTorch's default: W and b uniform in
/// [−1/√in, 1/√in] (Kaiming-uniform with a = √5).
#[derive(Clone, Debug)]
pub struct Linear {
    /// The `[out, in]` weight.
    pub weight: ParamId,
    /// The `[out]` bias, if any.
    pub bias: Option<ParamId>,
    /// Input features.
    pub inputs: usize,
    /// Output features.
    pub outputs: usize,
    /// The activation applied to the output, if any.
    pub activation: Option<Activation>,
}

impl Linear {
    /// Adds the layer's parameters, named `{name}.weight` and `{name}.bias`,
    /// to `store`. Sizes of 0 and names the store holds already are errors,
    /// and leave the store unchanged.
    pub fn new(
        store: &mut ParamStore,
        name: &str,
        inputs: usize,
        outputs: usize,
        bias: bool,
        rng: &mut Rng,
    ) -> Result<Linear, LayerError> {
        if inputs == 0 || outputs == 0 {
            return Err(LayerError::Size {
                name: name.to_string(),
                inputs,
                outputs,
            });
        }
        let bound = 1.0 / (inputs as f32).sqrt();
        let mut tensors = vec![(
            "weight",
            Tensor::uniform(&[outputs, inputs], -bound, bound, rng),
        )];
        if bias {
            tensors.push(("bias", Tensor::uniform(&[outputs], -bound, bound, rng)));
        }
        let ids = add_params(store, "Linear", name, tensors)?;
        let (weight, bias) = (ids[0], ids.get(1).copied());
        Ok(Linear {
            weight,
            bias,
            inputs,
            outputs,
            activation: None,
        })
    }

    /// The same layer followed by `f`: `y = f(x·Wᵀ + b)`.
    pub fn with_activation(self, f: Activation) -> Linear {
        Linear {
            activation: Some(f),
            ..self
        }
    }
}

impl Module for Linear {
    fn forward(&self, g: &mut Graph, x: Var, _mode: Mode) -> Var {
        let w = g.param(self.weight);
        let b = self.bias.map(|b| g.param(b));
        g.linear(x, w, b, self.activation)
    }

    fn params(&self) -> Vec<ParamId> {
        std::iter::once(self.weight).chain(self.bias).collect()
    }
}
