//! The multi-layer perceptron.

use gradlab_autodiff::{Activation, Graph, ParamId, ParamStore, Var};

use crate::{Dropout, LayerError, Linear, Mode, Module, Sequential};

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
    /// Fewer than two widths, or a width of 0, is an error.
    ///
    /// ```
    /// use gradlab_autodiff::Activation;
    /// let mlp = gradlab_layers::Mlp::new(&[784, 512, 512, 10], Activation::Relu, 0)?;
    /// assert_eq!(mlp.params.num_scalars(), 669_706);
    /// # Ok::<(), gradlab_layers::LayerError>(())
    /// ```
    pub fn new(sizes: &[usize], activation: Activation, seed: u64) -> Result<Mlp, LayerError> {
        Mlp::with_dropout(sizes, activation, 0.0, seed)
    }

    /// Like [`Mlp::new`], with dropout of probability `p` after every hidden
    /// activation (no dropout module at all when `p` is 0); `p` must be in
    /// [0, 1).
    pub fn with_dropout(
        sizes: &[usize],
        activation: Activation,
        p: f32,
        seed: u64,
    ) -> Result<Mlp, LayerError> {
        if sizes.len() < 2 {
            return Err(LayerError::Depth(sizes.to_vec()));
        }
        if !(0.0..1.0).contains(&p) {
            return Err(LayerError::Dropout(p));
        }
        let mut rng = gradlab_tensor::rng(seed);
        let mut params = ParamStore::new();
        let mut net = Sequential::new();
        let layers = sizes.len() - 1;
        // PyTorch's index of the next module: Linear, activation, dropout.
        let mut torch_index = 0;
        for (l, w) in sizes.windows(2).enumerate() {
            let name = format!("layers.{torch_index}");
            let linear = Linear::new(&mut params, &name, w[0], w[1], true, &mut rng)?;
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
        Ok(Mlp {
            net,
            params,
            sizes: sizes.to_vec(),
        })
    }
}

impl Module for Mlp {
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
    use gradlab_autodiff::{Activation, Tape};
    use gradlab_tensor::{rng, Tensor};

    use super::Mlp;
    use crate::{Act, Dropout, Linear, Mode, Module, Sequential};

    fn names(mlp: &Mlp) -> Vec<String> {
        mlp.params
            .ids()
            .map(|id| mlp.params.name(id).to_string())
            .collect()
    }

    #[test]
    fn parameters_are_named_by_pytorch_module_index() {
        // nn.Sequential(Linear, ReLU, Linear, ReLU, Linear)
        let mlp = Mlp::new(&[4, 5, 6, 3], Activation::Relu, 0).unwrap();
        let want = [
            "0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias",
        ];
        assert_eq!(names(&mlp), want.map(|n| format!("layers.{n}")));
        // nn.Sequential(Linear, ReLU, Dropout, Linear, ReLU, Dropout, Linear)
        let mlp = Mlp::with_dropout(&[4, 5, 6, 3], Activation::Relu, 0.5, 0).unwrap();
        let want = [
            "0.weight", "0.bias", "3.weight", "3.bias", "6.weight", "6.bias",
        ];
        assert_eq!(names(&mlp), want.map(|n| format!("layers.{n}")));
    }

    #[test]
    fn fused_layers_compute_what_separate_modules_do() {
        let mlp = Mlp::with_dropout(&[6, 8, 5], Activation::Tanh, 0.25, 3).unwrap();
        // The same network from unfused modules over the same parameters.
        let ids: Vec<_> = mlp.params.ids().collect();
        let mut plain = Sequential::new();
        plain.push(Linear {
            weight: ids[0],
            bias: Some(ids[1]),
            inputs: 6,
            outputs: 8,
            activation: None,
        });
        plain.push(Act(Activation::Tanh));
        plain.push(Dropout { p: 0.25, salt: 0 });
        plain.push(Linear {
            weight: ids[2],
            bias: Some(ids[3]),
            inputs: 8,
            outputs: 5,
            activation: None,
        });
        let x = Tensor::uniform(&[7, 6], -1.0, 1.0, &mut rng(1));
        let mode = Mode::Train { seed: 9 };
        let mut tape = Tape::new();
        let run = |net: &dyn Module, tape: &mut Tape| {
            let mut g = tape.record(&mlp.params);
            let xv = g.input(&x);
            let y = net.forward(&mut g, xv, mode);
            g.value(y).clone()
        };
        let (fused, separate) = (run(&mlp, &mut tape), run(&plain, &mut tape));
        for (a, b) in fused.data().iter().zip(separate.data()) {
            assert!((a - b).abs() <= 1e-6 * (1.0 + b.abs()), "{a} vs {b}");
        }
    }

    #[test]
    fn bad_sizes_and_dropout_are_errors() {
        use crate::LayerError;
        let relu = Activation::Relu;
        assert_eq!(
            Mlp::new(&[4], relu, 0).err(),
            Some(LayerError::Depth(vec![4]))
        );
        let err = Mlp::new(&[4, 0, 3], relu, 0).err().unwrap();
        assert!(
            matches!(
                err,
                LayerError::Size {
                    inputs: 4,
                    outputs: 0,
                    ..
                }
            ),
            "{err:?}"
        );
        assert_eq!(
            Mlp::with_dropout(&[4, 3], relu, 1.0, 0).err(),
            Some(LayerError::Dropout(1.0))
        );
        let mut store = gradlab_autodiff::ParamStore::new();
        Linear::new(&mut store, "l", 2, 2, true, &mut rng(0)).unwrap();
        let err = Linear::new(&mut store, "l", 2, 2, false, &mut rng(0)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Linear \"l\": the store already holds a parameter named \"l.weight\""
        );
        assert_eq!(store.len(), 2, "a failed layer adds nothing");
    }
}
