//! Dropout as a module.

use gradlab_autodiff::{Graph, ParamId, Var};

use crate::{Mode, Module};

/// Inverted dropout with probability `p` while training; the identity while
/// evaluating.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Dropout {
    /// Probability of zeroing an element.
    pub p: f32,
    /// Mixed into the step's seed so that two dropout layers draw different
    /// masks.
    pub salt: u64,
}

impl Module for Dropout {
    fn forward(&self, g: &mut Graph, x: Var, mode: Mode) -> Var {
        match mode {
            Mode::Train { seed } if self.p > 0.0 => {
                // A multiplicative hash spreads consecutive salts apart.
                let seed = seed ^ self.salt.wrapping_mul(0x9E37_79B9_7F4A_7C15);
                g.dropout(x, self.p, seed)
            }
            _ => x,
        }
    }

    fn params(&self) -> Vec<ParamId> {
        Vec::new()
    }
}
