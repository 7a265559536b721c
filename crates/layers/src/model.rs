//! [`Model`]: a network together with the parameters it reads.

use gradlab_autodiff::{Graph, ParamId, ParamStore, Var};

use crate::{Cnn, Gpt, Mlp, Mode, Module};

/// A network and its parameter store: what a trainer trains and a
/// checkpoint saves. Any [`Module`] can be one — a [`Sequential`] of your
/// own layers, two heads, a residual block — given the store its
/// [`ParamId`]s point into.
///
/// [`Sequential`]: crate::Sequential
pub struct Model {
    /// What the network is, as checkpoints record it: a run is resumed only
    /// with a model of the same name (and the same parameter names and
    /// shapes).
    pub name: String,
    /// The forward pass.
    pub net: Box<dyn Module + Send + Sync>,
    /// The weights the network reads.
    pub params: ParamStore,
}

impl Model {
    /// `net`, reading its weights from `params`, called `name`.
    pub fn new(
        name: impl Into<String>,
        net: impl Module + Send + Sync + 'static,
        params: ParamStore,
    ) -> Model {
        Model {
            name: name.into(),
            net: Box::new(net),
            params,
        }
    }
}

/// An MLP is named for its widths: `mlp 784-512-512-10`.
impl From<Mlp> for Model {
    fn from(mlp: Mlp) -> Model {
        let widths: Vec<String> = mlp.sizes.iter().map(usize::to_string).collect();
        Model {
            name: format!("mlp {}", widths.join("-")),
            net: Box::new(mlp.net),
            params: mlp.params,
        }
    }
}

/// A CNN is named for its kind, image shape and classes: `cnn 1x28x28-10`.
impl From<Cnn> for Model {
    fn from(cnn: Cnn) -> Model {
        Model {
            name: cnn.name(),
            net: Box::new(cnn.net),
            params: cnn.params,
        }
    }
}

/// A GPT is named for its size
/// (`gpt vocab 81 context 128 layers 4 heads 4 width 128`, which
/// [`GptConfig::from_name`](crate::GptConfig::from_name) reads back); its
/// weights move into the model's store.
impl From<Gpt> for Model {
    fn from(mut gpt: Gpt) -> Model {
        let params = std::mem::take(&mut gpt.params);
        Model {
            name: gpt.name(),
            net: Box::new(gpt),
            params,
        }
    }
}

impl Module for Model {
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
