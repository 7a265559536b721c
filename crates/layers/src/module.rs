//! The [`Module`] trait.

use gradlab_autodiff::{Graph, ParamId, ParamStore, Var};

/// Whether a forward pass trains or evaluates: dropout is active only while
/// training, with masks drawn from `seed` (one seed per step makes a run
/// reproducible).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Training, with the step's random seed.
    Train {
        /// Seed for this step's random masks.
        seed: u64,
    },
    /// Evaluation: deterministic, no dropout.
    Eval,
}

/// A piece of a network.
pub trait Module {
    /// Records the forward pass of a batch `x` onto `g`.
    fn forward(&self, g: &mut Graph, x: Var, mode: Mode) -> Var;

    /// The parameters this module owns, in a fixed order.
    fn params(&self) -> Vec<ParamId>;

    /// Folds what the last training forward measured into the state the
    /// module keeps in `params` — [`BatchNorm2d`]'s running averages — once
    /// the step is taken. A trainer calls it after every step; a loop by
    /// hand does too. Most modules keep no state: the default does nothing,
    /// and a container passes the call to every module it holds.
    ///
    /// [`BatchNorm2d`]: crate::BatchNorm2d
    fn update_state(&self, params: &mut ParamStore) {
        let _ = params;
    }
}
