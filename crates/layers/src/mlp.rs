//! The multi-layer perceptron.

use gradlab_autodiff::{Activation, Graph, ParamId, ParamStore, Var};

use crate::{Dropout, Linear, Mode, Module, Sequential};

/// A multi-layer perceptron that owns its parameters:
/// `Linear → act → [Dropout →] Linear → act → … → Linear`.
///
/// Each hidden layer is a [`Linear`] carrying its activation (one fused op
/// on the tape). Parameters are named `layers.{i}.weight` and
/// `layers.{i}.bias`, `i` being the index PyTorch gives that `nn.Linear` in
/// `nn.Sequential(nn.Linear(784, 512), nn.ReLU(), [nn.Dropout(p),] …)`, so a
/// checkpoint maps one-to-one onto that PyTorch model.
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
        // PyTorch's index of the next module: Linear, activation, dropout.
        let mut torch_index = 0;
        for (l, w) in sizes.windows(2).enumerate() {
            let name = format!("layers.{torch_index}");
            let linear = Linear::new(&mut params, &name, w[0], w[1], true, &mut rng);
            torch_index += 1;
            if l + 1 == layers {
                net.push(linear);
                continue;
            }
            net.push(linear.with_activation(activation));
            torch_index += 1;
            if p > 0.0 {
                net.push(Dropout { p, salt: l as u64 });
                torch_index += 1;
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
