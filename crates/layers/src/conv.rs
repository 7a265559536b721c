//! The layers of convolutional networks: the convolution, pooling,
//! flattening, a fixed normalization of the pixels, and the residual
//! connection.

use gradlab_autodiff::ops::conv::Conv2d as ConvOp;
use gradlab_autodiff::ops::pool::{Pool2d as PoolOp, Pooling};
use gradlab_autodiff::{Activation, Graph, ParamId, ParamStore, Var};
use gradlab_tensor::{Rng, Tensor};

use crate::params::add_params;
use crate::{LayerError, Mode, Module};

/// A 2-D convolution `y = W ⋆ x + b` over images `[B, C, H, W]`, with `W`
/// stored `[O, C, kh, kw]` — PyTorch's `nn.Conv2d` layout and initial
/// distribution (uniform in ±1/√(C·kh·kw), weight then bias) — so saved
/// weights load into PyTorch unchanged. An activation can follow.
#[derive(Clone, Debug)]
pub struct Conv2d {
    /// The `[O, C, kh, kw]` filters.
    pub weight: ParamId,
    /// The `[O]` bias, if any.
    pub bias: Option<ParamId>,
    /// The stride, padding and dilation.
    pub op: ConvOp,
    /// The activation applied to the output, if any.
    pub activation: Option<Activation>,
}

/// The shape of a [`Conv2d`]: channels in and out, the square window, how
/// it moves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvShape {
    /// Input channels C.
    pub inputs: usize,
    /// Output channels (filters) O.
    pub outputs: usize,
    /// The window's side k (k × k).
    pub kernel: usize,
    /// Steps between windows.
    pub stride: usize,
    /// Zeros on each side.
    pub padding: usize,
}

impl Conv2d {
    /// Adds the layer's parameters, `{name}.weight` and `{name}.bias`, to
    /// `store`. Zero channels, window or stride, and names the store holds
    /// already, are errors that leave the store unchanged.
    pub fn new(
        store: &mut ParamStore,
        name: &str,
        shape: ConvShape,
        bias: bool,
        rng: &mut Rng,
    ) -> Result<Conv2d, LayerError> {
        let ConvShape {
            inputs,
            outputs,
            kernel,
            stride,
            padding,
        } = shape;
        if inputs == 0 || outputs == 0 || kernel == 0 || stride == 0 {
            return Err(LayerError::Setting {
                layer: "Conv2d",
                name: name.into(),
                problem: format!("channels, window and stride must be positive, got {shape:?}"),
            });
        }
        let bound = 1.0 / ((inputs * kernel * kernel) as f32).sqrt();
        let mut tensors = vec![(
            "weight",
            Tensor::uniform(&[outputs, inputs, kernel, kernel], -bound, bound, rng),
        )];
        if bias {
            tensors.push(("bias", Tensor::uniform(&[outputs], -bound, bound, rng)));
        }
        let ids = add_params(store, "Conv2d", name, tensors)?;
        Ok(Conv2d {
            weight: ids[0],
            bias: ids.get(1).copied(),
            op: ConvOp {
                stride: (stride, stride),
                padding: (padding, padding),
                dilation: (1, 1),
                bias,
            },
            activation: None,
        })
    }

    /// The same layer followed by `f`.
    pub fn with_activation(self, f: Activation) -> Conv2d {
        Conv2d {
            activation: Some(f),
            ..self
        }
    }
}

impl Module for Conv2d {
    fn forward(&self, g: &mut Graph, x: Var, _mode: Mode) -> Var {
        let w = g.param(self.weight);
        let b = self.bias.map(|b| g.param(b));
        let y = g.conv2d(x, w, b, self.op);
        match self.activation {
            Some(f) => g.activation(y, f),
            None => y,
        }
    }

    fn params(&self) -> Vec<ParamId> {
        std::iter::once(self.weight).chain(self.bias).collect()
    }
}

/// Max or average pooling over `k × k` windows moved by `stride`, padded by
/// `padding` (PyTorch's `nn.MaxPool2d` and `nn.AvgPool2d`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pool2d(pub PoolOp);

impl Pool2d {
    /// Max pooling with window `k`, stride `stride`, no padding.
    pub fn max(k: usize, stride: usize) -> Pool2d {
        Pool2d(PoolOp {
            kind: Pooling::Max,
            kernel: (k, k),
            stride: (stride, stride),
            padding: (0, 0),
        })
    }

    /// Average pooling with window `k`, stride `stride`, no padding.
    pub fn average(k: usize, stride: usize) -> Pool2d {
        Pool2d(PoolOp {
            kind: Pooling::Average,
            kernel: (k, k),
            stride: (stride, stride),
            padding: (0, 0),
        })
    }
}

impl Module for Pool2d {
    fn forward(&self, g: &mut Graph, x: Var, _mode: Mode) -> Var {
        g.pool2d(x, self.0)
    }

    fn params(&self) -> Vec<ParamId> {
        Vec::new()
    }
}

/// The mean of each channel: `[B, C, H, W]` → `[B, C]`
/// (`nn.AdaptiveAvgPool2d(1)` then `nn.Flatten()`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GlobalAvgPool;

impl Module for GlobalAvgPool {
    fn forward(&self, g: &mut Graph, x: Var, _mode: Mode) -> Var {
        g.global_avg_pool(x)
    }

    fn params(&self) -> Vec<ParamId> {
        Vec::new()
    }
}

/// `[B, …]` → `[B, n]` (`nn.Flatten()`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Flatten;

impl Module for Flatten {
    fn forward(&self, g: &mut Graph, x: Var, _mode: Mode) -> Var {
        g.flatten(x)
    }

    fn params(&self) -> Vec<ParamId> {
        Vec::new()
    }
}

/// Rows of `C·H·W` values as images `[B, C, H, W]`: how a model of images
/// reads the rows a dataset gives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Image {
    /// Channels, height and width.
    pub shape: [usize; 3],
}

impl Module for Image {
    fn forward(&self, g: &mut Graph, x: Var, _mode: Mode) -> Var {
        let batch = g.value(x).shape()[0];
        let [c, h, w] = self.shape;
        g.reshape(x, &[batch, c, h, w])
    }

    fn params(&self) -> Vec<ParamId> {
        Vec::new()
    }
}

/// `(x − mean)/std` with one mean and standard deviation for every input
/// value (torchvision's `Normalize((mean,), (std,))` on one-channel
/// images): a network without normalization layers then starts from
/// inputs of mean 0 and variance 1, which its initialization assumes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Normalize {
    /// The mean taken away.
    pub mean: f32,
    /// The standard deviation divided by.
    pub std: f32,
}

impl Normalize {
    /// `(x − mean)/std`; a mean that is not finite or a standard deviation
    /// that is not positive and finite is an error.
    pub fn new(mean: f32, std: f32) -> Result<Normalize, LayerError> {
        if !(mean.is_finite() && std.is_finite() && std > 0.0) {
            return Err(LayerError::Setting {
                layer: "Normalize",
                name: format!("mean {mean}, std {std}"),
                problem: "needs a finite mean and a positive, finite std".into(),
            });
        }
        Ok(Normalize { mean, std })
    }
}

impl Module for Normalize {
    fn forward(&self, g: &mut Graph, x: Var, _mode: Mode) -> Var {
        g.affine(x, 1.0 / self.std, -self.mean / self.std)
    }

    fn params(&self) -> Vec<ParamId> {
        Vec::new()
    }
}

/// `x + f(x)`: a residual connection around `f`, whose output has the shape
/// of its input.
pub struct Residual<M>(pub M);

impl<M: Module> Module for Residual<M> {
    fn forward(&self, g: &mut Graph, x: Var, mode: Mode) -> Var {
        let f = self.0.forward(g, x, mode);
        g.add(x, f)
    }

    fn params(&self) -> Vec<ParamId> {
        self.0.params()
    }

    fn update_state(&self, params: &mut ParamStore) {
        self.0.update_state(params);
    }
}

#[cfg(test)]
mod tests {
    use gradlab_autodiff::Tape;
    use gradlab_tensor::Tensor;

    use super::Normalize;
    use crate::{LayerError, Mode, Module};

    /// (x − mean)/std on every value, its gradient 1/std; a std that is
    /// not positive or a value that is not finite is an error.
    #[test]
    fn normalize_takes_away_the_mean_and_divides_by_the_std() {
        let n = Normalize::new(0.5, 0.25).unwrap();
        let params = gradlab_autodiff::ParamStore::new();
        let mut tape = Tape::new();
        let mut g = tape.record(&params);
        let x = g.input(&Tensor::from_vec(vec![0.0, 0.5, 1.0, 0.75], &[2, 2]));
        let y = n.forward(&mut g, x, Mode::Eval);
        assert_eq!(g.value(y).data(), &[-2.0, 0.0, 2.0, 1.0]);
        for (mean, std) in [
            (0.0, 0.0),
            (0.0, -1.0),
            (f32::NAN, 1.0),
            (0.0, f32::INFINITY),
        ] {
            let err = Normalize::new(mean, std).unwrap_err();
            assert!(
                matches!(
                    err,
                    LayerError::Setting {
                        layer: "Normalize",
                        ..
                    }
                ),
                "{err:?}"
            );
        }
        assert_eq!(
            Normalize::new(0.0, 0.0).unwrap_err().to_string(),
            "Normalize \"mean 0, std 0\": needs a finite mean and a positive, finite std"
        );
    }
}
