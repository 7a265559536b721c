//! Dropout: `y = x ⊙ m`, where each `m_i` is 0 with probability p and
//! 1/(1 − p) otherwise (inverted dropout: E\[y\] = x, so nothing changes at
//! evaluation time, when dropout is simply left out).
//!
//! **Derivative.** `∂L/∂x = dY ⊙ m`, with the same mask.
//!
//! The mask is drawn from a generator seeded by the caller, so a training
//! run is reproducible. Each element has its own draw: examples stay apart.

use gradlab_tensor::Tensor;
use rand::Rng as _;

use crate::op::{Backward, Examples, Op};
use crate::tape::{Graph, Var};

/// Inverted dropout with rate `p`, its mask drawn from `seed`.
pub struct Dropout {
    /// The probability of zeroing an element.
    pub p: f32,
    /// The seed of the mask.
    pub seed: u64,
}

impl Op for Dropout {
    /// The mask, already scaled by 1/(1 − p).
    type Saved = Tensor;

    fn name(&self) -> String {
        "dropout".into()
    }

    fn examples(&self, batched: &[bool]) -> Examples {
        Examples::rowwise(batched)
    }

    fn forward(&self, x: &[&Tensor], y: &mut Tensor, mask: &mut Tensor) {
        let keep = 1.0 / (1.0 - self.p);
        let mut rng = gradlab_tensor::rng(self.seed);
        mask.resize_for(x[0].shape());
        for m in mask.data_mut() {
            *m = if rng.random::<f32>() < self.p {
                0.0
            } else {
                keep
            };
        }
        y.assign(x[0]);
        y.zip_map_inplace(mask, |v, m| v * m);
    }

    fn backward(&self, cx: &mut Backward, mask: &mut Tensor) {
        let (dy, mask) = (cx.dy.data(), mask.data());
        cx.add(0, |i| dy[i] * mask[i]);
    }
}

impl Graph<'_, '_> {
    /// Zeroes each element with probability `p` and scales the rest by
    /// 1/(1 − p), with a mask drawn from `seed`.
    ///
    /// # Panics
    /// If `p` is not in [0, 1).
    pub fn dropout(&mut self, x: Var, p: f32, seed: u64) -> Var {
        assert!((0.0..1.0).contains(&p), "dropout: p = {p} is not in [0, 1)");
        self.apply(Dropout { p, seed }, &[x])
    }
}
