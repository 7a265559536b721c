//! The multi-layer perceptron.

use gradlab_autodiff::{Activation, Graph, ParamId, ParamStore, Var};

use crate::{Act, Dropout, Linear, Mode, Module, Sequential};

/// A multi-layer perceptron that owns its parameters:
/// `Linear → act → [Dropout →] Linear → act → … → Linear`.
///
/// Its modules are numbered as PyTorch numbers an `nn.Sequential` of the same
/// layers, and its parameters are named `layers.{i}.weight` and
/// `layers.{i}.bias` after them, so a checkpoint maps one-to-one onto
/// `nn.Sequential(nn.Linear(784, 512), nn.ReLU(), …)`.
pub struct Mlp {
    /// The layers.
    pub net: Sequential,
    /// The weights and biases.
    pub params: ParamStore,
    /// Layer widths, input first.
    pub sizes: Vec<usize>,
}

impl Mlp {
    /// An MLP with the given layer widths (input first, output last), the same
    /// activation after every hidden layer, and weights drawn from `seed`.
    ///
    /// ```
    /// use gradlab_autodiff::Activation;
    /// let mlp = gradlab_layers::Mlp::new(&[784, 512, 512, 10], Activation::Relu, 0);
    /// assert_eq!(mlp.params.num_scalars(), 669_706);
    /// ```
    pub fn new(sizes: &[usize], activation: Activation, seed: u64) -> Mlp {
        Mlp::with_dropout(sizes, activation, 0.0, seed)
    }

    /// Like [`Mlp::new`], with dropout of probability `p` after every hidden
    /// activation (no dropout module at all when `p` is 0).
    pub fn with_dropout(sizes: &[usize], activation: Activation, p: f32, seed: u64) -> Mlp {
        assert!(
            sizes.len() >= 2,
            "Mlp: needs at least input and output sizes, got {sizes:?}"
        );
        assert!(
            (0.0..1.0).contains(&p),
            "Mlp: dropout p = {p} is not in [0, 1)"
        );
        let mut rng = gradlab_tensor::rng(seed);
        let mut params = ParamStore::new();
        let mut net = Sequential::new();
        let layers = sizes.len() - 1;
        for (l, w) in sizes.windows(2).enumerate() {
            let name = format!("layers.{}", net.len());
            net.push(Linear::new(&mut params, &name, w[0], w[1], true, &mut rng));
            if l + 1 < layers {
                net.push(Act(activation));
                if p > 0.0 {
                    net.push(Dropout { p, salt: l as u64 });
                }
            }
        }
        Mlp {
            net,
            params,
            sizes: sizes.to_vec(),
        }
    }
}

impl Module for Mlp {
    fn forward(&self, g: &mut Graph, x: Var, mode: Mode) -> Var {
        self.net.forward(g, x, mode)
    }

    fn params(&self) -> Vec<ParamId> {
        self.net.params()
    }
}
