//! Four small convolutional networks for images, named as PyTorch names
//! the same `nn.Sequential`: one to train as accurately as fast, three to
//! train privately (one of them on scattering coefficients).

use std::fmt;

use gradlab_autodiff::{Activation, Graph, ParamId, ParamStore, Var};
use gradlab_tensor::Rng;

use crate::{
    Act, BatchNorm2d, Conv2d, ConvShape, Flatten, GroupNorm, Image, LayerError, Linear, Mode,
    Module, Normalize, Pool2d, Sequential,
};

/// Which of the four networks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CnnKind {
    /// For ordinary training: two 5 × 5 convolutions of 32 and 64 channels,
    /// each followed by batch normalization, ReLU and 2 × 2 max pooling,
    /// then a hidden layer of 128 and the output layer (the classic MNIST
    /// network of TensorFlow's "Deep MNIST" tutorial, with a smaller hidden
    /// layer and batch norm, which makes it train faster and generalize
    /// better). The convolutions have no bias: batch norm's β is one.
    Standard,
    /// For DP-SGD: Papernot et al.'s tempered-activation CNN (AAAI 2021,
    /// "Tempered Sigmoid Activations for Deep Learning with Differential
    /// Privacy"), the end-to-end baseline of Tramèr & Boneh (ICLR 2021) —
    /// an 8 × 8 convolution of 16 channels with stride 2, a 4 × 4 of 32 with
    /// stride 2, each followed by tanh and 2 × 2 max pooling of stride 1,
    /// a hidden layer of 32 and the output layer: few parameters, so that
    /// the noise added to each is small against the signal, and tanh, whose
    /// bounded outputs keep the clipped gradients informative. Each
    /// convolution is followed by group normalization (4 groups), which
    /// normalizes each example on its own, so that it passes per-example
    /// gradients as batch normalization cannot.
    Private,
    /// For DP-SGD with large batches: the network of Dörmann et al. 2021
    /// ("Not all noise is accounted equally: how differentially private
    /// learning benefits from large sampling rates"; their code's
    /// `SmallNetwork`) — the pixels normalized by MNIST's mean and standard
    /// deviation (0.1307, 0.3081), a 5 × 5 convolution of 16 channels and a
    /// 4 × 4 of 32, each followed by 2 × 2 max pooling and tanh, a hidden
    /// layer of 32 and the output layer; 25 386 weights and no
    /// normalization layer, so that each example's gradient is its own.
    Dormann,
    /// For DP-SGD on a scattering transform's coefficients
    /// (`gradlab_data::Scattering`; `[81, 7, 7]` for MNIST's images at J = 2, L = 8): the
    /// ScatterNet+CNN of Tramèr & Boneh (ICLR 2021, "Differentially Private
    /// Learning Needs Better Features"; their code's `MNIST_CNN` on
    /// scattered inputs, in its wider size) — group normalization of the
    /// coefficients (27 groups), a 3 × 3 convolution of 32 channels with
    /// stride 2 and a 3 × 3 of 64, each followed by tanh, a hidden layer of
    /// 32 and the output layer. The wavelets do what a private network's
    /// first layers would have to learn under noise; what is learned is
    /// small.
    Scatter,
}

/// The layers, in a line.
impl fmt::Display for CnnKind {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(match self {
            CnnKind::Standard => {
                "conv 5×5 ×32, batch norm, relu, max pool 2, conv 5×5 ×64, batch norm, relu, \
                 max pool 2, fc 128, relu, fc"
            }
            CnnKind::Private => {
                "conv 8×8/2 ×16, group norm, tanh, max pool 2/1, conv 4×4/2 ×32, group norm, \
                 tanh, max pool 2/1, fc 32, tanh, fc"
            }
            CnnKind::Dormann => {
                "normalize, conv 5×5 ×16, max pool 2, tanh, conv 4×4 ×32, max pool 2, tanh, \
                 fc 32, tanh, fc"
            }
            CnnKind::Scatter => {
                "group norm, conv 3×3/2 ×32, tanh, conv 3×3 ×64, tanh, fc 32, tanh, fc"
            }
        })
    }
}

impl CnnKind {
    /// The word the model's name starts with.
    fn label(self) -> &'static str {
        match self {
            CnnKind::Standard => "cnn",
            CnnKind::Private => "private-cnn",
            CnnKind::Dormann => "dormann-cnn",
            CnnKind::Scatter => "scatter-cnn",
        }
    }
}

/// A CNN that owns its parameters, for images of `input` = `[C, H, W]`
/// given as rows of `C·H·W` values, with one output per class.
///
/// Parameters are named `layers.{i}.weight` and `layers.{i}.bias`, `i`
/// being the index of that module in PyTorch's
/// `nn.Sequential(nn.Unflatten(1, (C, H, W)), nn.Conv2d(…), nn.ReLU(), …)`,
/// so that a checkpoint maps one-to-one onto that model.
pub struct Cnn {
    /// The layers.
    pub net: Sequential,
    /// The weights.
    pub params: ParamStore,
    /// Which network.
    pub kind: CnnKind,
    /// The image shape `[C, H, W]`.
    pub input: [usize; 3],
    /// The number of classes.
    pub classes: usize,
}

/// The mean of MNIST's training pixels (in [0, 1]), as torchvision's
/// examples normalize them.
const MNIST_MEAN: f32 = 0.1307;
/// Their standard deviation.
const MNIST_STD: f32 = 0.3081;

/// Builds a `Sequential` while counting PyTorch's module indices.
struct Builder {
    net: Sequential,
    params: ParamStore,
    rng: Rng,
    /// The index PyTorch gives the next module.
    index: usize,
    /// The shape `[C, H, W]` of what the last module outputs.
    shape: [usize; 3],
}

impl Builder {
    fn name(&self) -> String {
        format!("layers.{}", self.index)
    }

    fn push(&mut self, m: impl Module + Send + Sync + 'static, modules: usize) {
        self.net.push(m);
        self.index += modules;
    }

    /// A k × k convolution to `outputs` channels; its output shape, or an
    /// error if the window does not fit the image.
    fn conv(
        &mut self,
        outputs: usize,
        kernel: usize,
        stride: usize,
        padding: usize,
        bias: bool,
    ) -> Result<(), LayerError> {
        let [c, h, w] = self.shape;
        let name = self.name();
        let side = |n: usize| {
            (n + 2 * padding)
                .checked_sub(kernel)
                .map(|d| d / stride + 1)
        };
        let (Some(oh), Some(ow)) = (side(h), side(w)) else {
            return Err(LayerError::Setting {
                layer: "Conv2d",
                name,
                problem: format!("a {kernel}×{kernel} window does not fit a {h}×{w} image"),
            });
        };
        let shape = ConvShape {
            inputs: c,
            outputs,
            kernel,
            stride,
            padding,
        };
        let conv = Conv2d::new(&mut self.params, &name, shape, bias, &mut self.rng)?;
        self.push(conv, 1);
        self.shape = [outputs, oh, ow];
        Ok(())
    }

    fn act(&mut self, f: Activation) {
        self.push(Act(f), 1);
    }

    fn batch_norm(&mut self) -> Result<(), LayerError> {
        let name = self.name();
        let bn = BatchNorm2d::new(&mut self.params, &name, self.shape[0])?;
        self.push(bn, 1);
        Ok(())
    }

    fn group_norm(&mut self, groups: usize) -> Result<(), LayerError> {
        let name = self.name();
        let gn = GroupNorm::new(&mut self.params, &name, groups, self.shape[0])?;
        self.push(gn, 1);
        Ok(())
    }

    /// k × k max pooling moved by `stride`.
    fn max_pool(&mut self, k: usize, stride: usize) -> Result<(), LayerError> {
        let [c, h, w] = self.shape;
        if h < k || w < k {
            return Err(LayerError::Setting {
                layer: "MaxPool2d",
                name: self.name(),
                problem: format!("a {k}×{k} window does not fit a {h}×{w} image"),
            });
        }
        self.push(Pool2d::max(k, stride), 1);
        self.shape = [c, (h - k) / stride + 1, (w - k) / stride + 1];
        Ok(())
    }

    /// `(x − mean)/std`, a module of its own in PyTorch's list.
    fn normalize(&mut self, mean: f32, std: f32) -> Result<(), LayerError> {
        self.push(Normalize::new(mean, std)?, 1);
        Ok(())
    }

    fn flatten(&mut self) {
        self.push(Flatten, 1);
    }

    /// A linear layer from the flattened features, with `f` after it.
    fn linear(&mut self, outputs: usize, f: Option<Activation>) -> Result<(), LayerError> {
        let inputs = self.shape.iter().product();
        let name = self.name();
        let linear = Linear::new(
            &mut self.params,
            &name,
            inputs,
            outputs,
            true,
            &mut self.rng,
        )?;
        match f {
            Some(f) => self.push(linear.with_activation(f), 2),
            None => self.push(linear, 1),
        }
        self.shape = [outputs, 1, 1];
        Ok(())
    }
}

impl Cnn {
    /// The network `kind` for images `input` = `[C, H, W]` and `classes`
    /// classes, its weights drawn from `seed` (PyTorch's default
    /// initialization). No class, an empty image or one too small for the
    /// windows is an error.
    ///
    /// ```
    /// use gradlab_layers::{Cnn, CnnKind};
    /// let cnn = Cnn::new(CnnKind::Standard, [1, 28, 28], 10, 0)?;
    /// assert_eq!(cnn.name(), "cnn 1x28x28-10");
    /// // 455 018 weights, and batch norm's 192 running averages.
    /// assert_eq!(cnn.params.num_scalars(), 455_210);
    /// # Ok::<(), gradlab_layers::LayerError>(())
    /// ```
    pub fn new(
        kind: CnnKind,
        input: [usize; 3],
        classes: usize,
        seed: u64,
    ) -> Result<Cnn, LayerError> {
        if classes == 0 || input.contains(&0) {
            return Err(LayerError::Setting {
                layer: "Cnn",
                name: kind.label().into(),
                problem: format!(
                    "needs images of at least one channel and pixel and one class, got {input:?} \
                     and {classes} classes"
                ),
            });
        }
        let mut b = Builder {
            net: Sequential::new(),
            params: ParamStore::new(),
            rng: gradlab_tensor::rng(seed),
            index: 0,
            shape: input,
        };
        b.push(Image { shape: input }, 1);
        match kind {
            CnnKind::Standard => {
                let relu = Activation::Relu;
                b.conv(32, 5, 1, 2, false)?;
                b.batch_norm()?;
                b.act(relu);
                b.max_pool(2, 2)?;
                b.conv(64, 5, 1, 2, false)?;
                b.batch_norm()?;
                b.act(relu);
                b.max_pool(2, 2)?;
                b.flatten();
                b.linear(128, Some(relu))?;
            }
            CnnKind::Private => {
                let tanh = Activation::Tanh;
                b.conv(16, 8, 2, 3, true)?;
                b.group_norm(4)?;
                b.act(tanh);
                b.max_pool(2, 1)?;
                b.conv(32, 4, 2, 0, true)?;
                b.group_norm(4)?;
                b.act(tanh);
                b.max_pool(2, 1)?;
                b.flatten();
                b.linear(32, Some(tanh))?;
            }
            CnnKind::Dormann => {
                let tanh = Activation::Tanh;
                b.normalize(MNIST_MEAN, MNIST_STD)?;
                b.conv(16, 5, 1, 0, true)?;
                b.max_pool(2, 2)?;
                b.act(tanh);
                b.conv(32, 4, 1, 0, true)?;
                b.max_pool(2, 2)?;
                b.act(tanh);
                b.flatten();
                b.linear(32, Some(tanh))?;
            }
            CnnKind::Scatter => {
                let tanh = Activation::Tanh;
                b.group_norm(27)?;
                b.conv(32, 3, 2, 1, true)?;
                b.act(tanh);
                b.conv(64, 3, 1, 1, true)?;
                b.act(tanh);
                b.flatten();
                b.linear(32, Some(tanh))?;
            }
        }
        b.linear(classes, None)?;
        Ok(Cnn {
            net: b.net,
            params: b.params,
            kind,
            input,
            classes,
        })
    }

    /// The name checkpoints record: the kind, the image shape and the
    /// classes, e.g. `cnn 1x28x28-10`.
    pub fn name(&self) -> String {
        Cnn::name_of(self.kind, self.input, self.classes)
    }

    /// The name of [`Cnn::new`]`(kind, input, classes, _)`.
    pub fn name_of(kind: CnnKind, input: [usize; 3], classes: usize) -> String {
        let [c, h, w] = input;
        format!("{} {c}x{h}x{w}-{classes}", kind.label())
    }
}

impl Module for Cnn {
    fn forward(&self, g: &mut Graph, x: Var, mode: Mode) -> Var {
        self.net.forward(g, x, mode)
    }

    fn params(&self) -> Vec<ParamId> {
        self.net.params()
    }

    fn update_state(&self, params: &mut ParamStore) {
        self.net.update_state(params);
    }
}

#[cfg(test)]
mod tests {
    use gradlab_autodiff::Tape;
    use gradlab_tensor::{rng, Tensor};

    use super::{Cnn, CnnKind};
    use crate::{LayerError, Mode, Module};

    fn names(cnn: &Cnn) -> Vec<String> {
        cnn.params
            .ids()
            .map(|id| format!("{} {:?}", cnn.params.name(id), cnn.params.get(id).shape()))
            .collect()
    }

    #[test]
    fn parameters_are_named_and_shaped_as_in_pytorch() {
        // nn.Sequential(Unflatten, Conv2d, BatchNorm2d, ReLU, MaxPool2d,
        // Conv2d, BatchNorm2d, ReLU, MaxPool2d, Flatten, Linear, ReLU, Linear)
        let cnn = Cnn::new(CnnKind::Standard, [1, 28, 28], 10, 0).unwrap();
        let want = [
            "layers.1.weight [32, 1, 5, 5]",
            "layers.2.weight [32]",
            "layers.2.bias [32]",
            "layers.2.running_mean [32]",
            "layers.2.running_var [32]",
            "layers.5.weight [64, 32, 5, 5]",
            "layers.6.weight [64]",
            "layers.6.bias [64]",
            "layers.6.running_mean [64]",
            "layers.6.running_var [64]",
            "layers.10.weight [128, 3136]",
            "layers.10.bias [128]",
            "layers.12.weight [10, 128]",
            "layers.12.bias [10]",
        ];
        assert_eq!(names(&cnn), want);
        // nn.Sequential(Unflatten, Conv2d, GroupNorm, Tanh, MaxPool2d,
        // Conv2d, GroupNorm, Tanh, MaxPool2d, Flatten, Linear, Tanh, Linear)
        let cnn = Cnn::new(CnnKind::Private, [1, 28, 28], 10, 0).unwrap();
        let want = [
            "layers.1.weight [16, 1, 8, 8]",
            "layers.1.bias [16]",
            "layers.2.weight [16]",
            "layers.2.bias [16]",
            "layers.5.weight [32, 16, 4, 4]",
            "layers.5.bias [32]",
            "layers.6.weight [32]",
            "layers.6.bias [32]",
            "layers.10.weight [32, 512]",
            "layers.10.bias [32]",
            "layers.12.weight [10, 32]",
            "layers.12.bias [10]",
        ];
        assert_eq!(names(&cnn), want);
        assert_eq!(cnn.name(), "private-cnn 1x28x28-10");
        // nn.Sequential(Unflatten, Normalize, Conv2d, MaxPool2d, Tanh,
        // Conv2d, MaxPool2d, Tanh, Flatten, Linear, Tanh, Linear)
        let cnn = Cnn::new(CnnKind::Dormann, [1, 28, 28], 10, 0).unwrap();
        let want = [
            "layers.2.weight [16, 1, 5, 5]",
            "layers.2.bias [16]",
            "layers.5.weight [32, 16, 4, 4]",
            "layers.5.bias [32]",
            "layers.9.weight [32, 512]",
            "layers.9.bias [32]",
            "layers.11.weight [10, 32]",
            "layers.11.bias [10]",
        ];
        assert_eq!(names(&cnn), want);
        assert_eq!(cnn.name(), "dormann-cnn 1x28x28-10");
        assert_eq!(cnn.params.num_scalars(), 25_386);
        // nn.Sequential(Unflatten, GroupNorm, Conv2d, Tanh, Conv2d, Tanh,
        // Flatten, Linear, Tanh, Linear)
        let cnn = Cnn::new(CnnKind::Scatter, [81, 7, 7], 10, 0).unwrap();
        let want = [
            "layers.1.weight [81]",
            "layers.1.bias [81]",
            "layers.2.weight [32, 81, 3, 3]",
            "layers.2.bias [32]",
            "layers.4.weight [64, 32, 3, 3]",
            "layers.4.bias [64]",
            "layers.7.weight [32, 1024]",
            "layers.7.bias [32]",
            "layers.9.weight [10, 32]",
            "layers.9.bias [10]",
        ];
        assert_eq!(names(&cnn), want);
        assert_eq!(cnn.name(), "scatter-cnn 81x7x7-10");
        assert_eq!(cnn.params.num_scalars(), 75_148);
    }

    #[test]
    fn maps_rows_of_pixels_to_one_logit_per_class() {
        for kind in [CnnKind::Standard, CnnKind::Private, CnnKind::Dormann] {
            let cnn = Cnn::new(kind, [3, 32, 32], 7, 1).unwrap();
            let mut tape = Tape::new();
            let mut g = tape.record(&cnn.params);
            let x = g.input(&Tensor::uniform(&[2, 3 * 32 * 32], 0.0, 1.0, &mut rng(0)));
            let y = cnn.forward(&mut g, x, Mode::Eval);
            assert_eq!(g.value(y).shape(), &[2, 7], "{kind:?}");
        }
        let cnn = Cnn::new(CnnKind::Scatter, [81, 7, 7], 7, 1).unwrap();
        let mut tape = Tape::new();
        let mut g = tape.record(&cnn.params);
        let x = g.input(&Tensor::uniform(&[2, 81 * 49], 0.0, 1.0, &mut rng(0)));
        let y = cnn.forward(&mut g, x, Mode::Eval);
        assert_eq!(g.value(y).shape(), &[2, 7]);
    }

    #[test]
    fn images_too_small_and_no_classes_are_errors() {
        let err = Cnn::new(CnnKind::Private, [1, 6, 6], 10, 0).err().unwrap();
        assert_eq!(
            err.to_string(),
            "Conv2d \"layers.5\": a 4×4 window does not fit a 2×2 image"
        );
        let err = Cnn::new(CnnKind::Standard, [1, 2, 2], 10, 0).err().unwrap();
        assert_eq!(
            err.to_string(),
            "MaxPool2d \"layers.8\": a 2×2 window does not fit a 1×1 image"
        );
        let err = Cnn::new(CnnKind::Standard, [1, 28, 28], 0, 0)
            .err()
            .unwrap();
        assert!(
            matches!(err, LayerError::Setting { layer: "Cnn", .. }),
            "{err:?}"
        );
        let err = Cnn::new(CnnKind::Standard, [0, 28, 28], 10, 0)
            .err()
            .unwrap();
        assert!(
            matches!(err, LayerError::Setting { layer: "Cnn", .. }),
            "{err:?}"
        );
        // Group norm's 27 groups must divide the coefficients' channels.
        let err = Cnn::new(CnnKind::Scatter, [80, 7, 7], 10, 0).err().unwrap();
        assert_eq!(
            err.to_string(),
            "GroupNorm \"layers.1\": 27 groups must divide 80 channels"
        );
    }
}
