//! Normalization layers: group normalization over channels of images,
//! layer normalization over the features of a row, and batch normalization
//! over the batch.

use std::sync::Mutex;

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

/// Batch normalization (`nn.BatchNorm2d(channels)`, and `nn.BatchNorm1d` on
/// `[B, C]`): while training, each channel standardized by the batch's own
/// mean and variance, then scaled and shifted; the running averages of
/// those statistics (momentum 0.1, the variance unbiased, as PyTorch keeps
/// them) standardize while evaluating.
///
/// It mixes the examples of a batch, so it cannot train privately or with
/// per-example statistics: such a request is an error naming it (use
/// [`GroupNorm`] there). The running averages live in the parameter store
/// as `{name}.running_mean` and `{name}.running_var` — saved, resumed and
/// loaded into PyTorch with the weights — but are not parameters: no
/// gradient reaches them, so no optimizer steps them, and
/// [`Module::params`] does not list them. [`Module::update_state`] folds
/// each training batch's statistics into them after its step.
#[derive(Debug)]
pub struct BatchNorm2d {
    /// γ, `[C]`.
    pub weight: ParamId,
    /// β, `[C]`.
    pub bias: ParamId,
    /// The running mean, `[C]`.
    pub running_mean: ParamId,
    /// The running (unbiased) variance, `[C]`.
    pub running_var: ParamId,
    /// The weight of a new batch in the running averages.
    pub momentum: f32,
    /// The statistics of the last training forward, until the step folds
    /// them into the running averages.
    measured: Mutex<Measured>,
}

/// A training batch's per-channel statistics.
#[derive(Debug, Default)]
struct Measured {
    mean: Vec<f32>,
    /// Biased, as the forward uses it.
    var: Vec<f32>,
    /// Values per channel.
    count: usize,
    /// Not yet folded into the running averages.
    fresh: bool,
}

impl BatchNorm2d {
    /// Adds γ = 1, β = 0, a running mean of 0 and a running variance of 1
    /// for `channels` channels.
    pub fn new(
        store: &mut ParamStore,
        name: &str,
        channels: usize,
    ) -> Result<BatchNorm2d, LayerError> {
        if channels == 0 {
            return Err(LayerError::Setting {
                layer: "BatchNorm2d",
                name: name.into(),
                problem: "needs at least one channel".into(),
            });
        }
        let ids = add_params(
            store,
            "BatchNorm2d",
            name,
            vec![
                ("weight", Tensor::ones(&[channels])),
                ("bias", Tensor::zeros(&[channels])),
                ("running_mean", Tensor::zeros(&[channels])),
                ("running_var", Tensor::ones(&[channels])),
            ],
        )?;
        Ok(BatchNorm2d {
            weight: ids[0],
            bias: ids[1],
            running_mean: ids[2],
            running_var: ids[3],
            momentum: 0.1,
            measured: Mutex::new(Measured::default()),
        })
    }
}

impl Module for BatchNorm2d {
    fn forward(&self, g: &mut Graph, x: Var, mode: Mode) -> Var {
        let (w, b) = (g.param(self.weight), g.param(self.bias));
        match mode {
            Mode::Train { .. } => {
                let y = g.batch_norm(x, w, b, EPS);
                let count = g.value(x).len() / g.value(x).shape()[1];
                let (mean, var) = g
                    .batch_statistics(y)
                    .expect("batch_norm records batch statistics");
                let mut m = self.measured.lock().unwrap_or_else(|e| e.into_inner());
                m.mean.clear();
                m.mean.extend_from_slice(mean);
                m.var.clear();
                m.var.extend_from_slice(var);
                m.count = count;
                m.fresh = true;
                y
            }
            Mode::Eval => {
                let store = g.store();
                let (mean, var) = (store.get(self.running_mean), store.get(self.running_var));
                let (mean, var) = (g.constant(mean), g.constant(var));
                g.batch_norm_with(x, w, b, mean, var, EPS)
            }
        }
    }

    fn params(&self) -> Vec<ParamId> {
        vec![self.weight, self.bias]
    }

    /// running ← (1 − m)·running + m·batch, the variance unbiased
    /// (× N/(N − 1)).
    fn update_state(&self, params: &mut ParamStore) {
        let mut m = self.measured.lock().unwrap_or_else(|e| e.into_inner());
        if !m.fresh {
            return;
        }
        m.fresh = false;
        let (k, n) = (self.momentum, m.count as f32);
        let unbiased = n / (n - 1.0);
        let fold = |running: &mut [f32], batch: &[f32], scale: f32| {
            for (r, &v) in running.iter_mut().zip(batch) {
                *r = (1.0 - k) * *r + k * (v * scale);
            }
        };
        fold(params.get_mut(self.running_mean).data_mut(), &m.mean, 1.0);
        fold(
            params.get_mut(self.running_var).data_mut(),
            &m.var,
            unbiased,
        );
    }
}
