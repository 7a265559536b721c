//! Dropout: `y = x ⊙ m`, where each `m_i` is 0 with probability p and
//! 1/(1 − p) otherwise (inverted dropout: E\[y\] = x, so nothing changes at
//! evaluation time, when dropout is simply left out).
//!
//! **Derivative.** `∂L/∂x = dY ⊙ m`, with the same mask.
//!
//! The mask is drawn from a generator seeded by the caller, so a training
//! run is reproducible. Each element has its own draw: examples stay apart.

use rand::Rng as _;

use crate::backward::{emit, Ctx};
use crate::tape::{value, Graph, Node, Op, Var};

impl Graph<'_, '_> {
    /// Zeroes each element with probability `p` and scales the rest by
    /// 1/(1 − p), with a mask drawn from `seed`.
    ///
    /// # Panics
    /// If `p` is not in [0, 1).
    pub fn dropout(&mut self, x: Var, p: f32, seed: u64) -> Var {
        assert!((0.0..1.0).contains(&p), "dropout: p = {p} is not in [0, 1)");
        let batched = self.node(x).batched;
        self.push(Op::Dropout { x }, batched, |n, before, store| {
            let xv = value(before, store, x);
            let keep = 1.0 / (1.0 - p);
            let mut rng = gradlab_tensor::rng(seed);
            n.aux.resize_for(xv.shape());
            for m in n.aux.data_mut() {
                *m = if rng.random::<f32>() < p { 0.0 } else { keep };
            }
            n.value.assign(xv);
            n.value.zip_map_inplace(&n.aux, |v, m| v * m);
        })
    }
}

pub(crate) fn backward(node: &Node, ctx: &mut Ctx) {
    let Op::Dropout { x } = node.op else {
        unreachable!()
    };
    let (dy, mask) = (node.grad.data(), node.aux.data());
    ctx.accumulate(x, |g, first, _, _| {
        emit(g.data_mut(), first, |i| dy[i] * mask[i])
    });
}
