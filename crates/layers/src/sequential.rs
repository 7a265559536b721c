//! Modules applied one after the other.

use gradlab_autodiff::{Graph, ParamId, ParamStore, Var};

use crate::{Mode, Module};

/// `f_n(… f_2(f_1(x)))`.
#[derive(Default)]
pub struct Sequential {
    /// The modules, in order.
    pub modules: Vec<Box<dyn Module + Send + Sync>>,
}

impl Sequential {
    /// An empty sequence (the identity).
    pub fn new() -> Sequential {
        Sequential::default()
    }

    /// Appends a module.
    pub fn push(&mut self, m: impl Module + Send + Sync + 'static) {
        self.modules.push(Box::new(m));
    }

    /// The number of modules.
    pub fn len(&self) -> usize {
        self.modules.len()
    }

    /// Whether there is no module.
    pub fn is_empty(&self) -> bool {
        self.modules.is_empty()
    }
}

impl Module for Sequential {
    fn forward(&self, g: &mut Graph, x: Var, mode: Mode) -> Var {
        self.modules.iter().fold(x, |h, m| m.forward(g, h, mode))
    }

    fn params(&self) -> Vec<ParamId> {
        self.modules.iter().flat_map(|m| m.params()).collect()
    }

    fn update_state(&self, params: &mut ParamStore) {
        self.modules.iter().for_each(|m| m.update_state(params));
    }
}
