//! Normalization layers: group normalization over channels of images, and
//! layer normalization over the features of a row.

use gradlab_autodiff::{Graph, ParamId, ParamStore, Var};
use gradlab_tensor::Tensor;

use crate::params::add_params;
use crate::{LayerError, Mode, Module};

/// PyTorch's default ε.
const EPS: f32 = 1e-5;

/// Adds γ = 1 and β = 0 of length `n` as `{name}.weight` and `{name}.bias`.
fn affine(
    store: &mut ParamStore,
    layer: &'static str,
    name: &str,
    n: usize,
) -> Result<(ParamId, ParamId), LayerError> {
    let ids = add_params(
        store,
        layer,
        name,
        vec![
            ("weight", Tensor::ones(&[n])),
            ("bias", Tensor::zeros(&[n])),
        ],
    )?;
    Ok((ids[0], ids[1]))
}

/// Group normalization (`nn.GroupNorm(groups, channels)`): the channels of
/// each image in `groups` groups, each standardized over its channels and
/// positions, then scaled and shifted per channel. It never mixes the
/// examples of a batch, so per-example gradients pass through it.
#[derive(Clone, Debug)]
pub struct GroupNorm {
    /// Groups of channels.
    pub groups: usize,
    /// γ, `[C]`.
    pub weight: ParamId,
    /// β, `[C]`.
    pub bias: ParamId,
}

impl GroupNorm {
    /// Adds γ = 1 and β = 0 for `channels` channels. Groups that do not
    /// divide the channels are an error.
    pub fn new(
        store: &mut ParamStore,
        name: &str,
        groups: usize,
        channels: usize,
    ) -> Result<GroupNorm, LayerError> {
        if groups == 0 || channels == 0 || !channels.is_multiple_of(groups) {
            return Err(LayerError::Setting {
                layer: "GroupNorm",
                name: name.into(),
                problem: format!("{groups} groups must divide {channels} channels"),
            });
        }
        let (weight, bias) = affine(store, "GroupNorm", name, channels)?;
        Ok(GroupNorm {
            groups,
            weight,
            bias,
        })
    }
}

impl Module for GroupNorm {
    fn forward(&self, g: &mut Graph, x: Var, _mode: Mode) -> Var {
        let (w, b) = (g.param(self.weight), g.param(self.bias));
        g.group_norm(x, self.groups, w, b, EPS)
    }

    fn params(&self) -> Vec<ParamId> {
        vec![self.weight, self.bias]
    }
}

/// Layer normalization over the last axis (`nn.LayerNorm(features)`).
#[derive(Clone, Debug)]
pub struct LayerNorm {
    /// γ, `[features]`.
    pub weight: ParamId,
    /// β, `[features]`.
    pub bias: ParamId,
}

impl LayerNorm {
    /// Adds γ = 1 and β = 0 for rows of `features` values.
    pub fn new(
        store: &mut ParamStore,
        name: &str,
        features: usize,
    ) -> Result<LayerNorm, LayerError> {
        if features == 0 {
            return Err(LayerError::Setting {
                layer: "LayerNorm",
                name: name.into(),
                problem: "rows must have at least one feature".into(),
            });
        }
        let (weight, bias) = affine(store, "LayerNorm", name, features)?;
        Ok(LayerNorm { weight, bias })
    }
}

impl Module for LayerNorm {
    fn forward(&self, g: &mut Graph, x: Var, _mode: Mode) -> Var {
        let (w, b) = (g.param(self.weight), g.param(self.bias));
        g.layer_norm(x, w, b, EPS)
    }

    fn params(&self) -> Vec<ParamId> {
        vec![self.weight, self.bias]
    }
}
