//! What an op is: the one trait every operation on the tape implements.
//!
//! An op is a small struct holding its settings (a transpose flag, an
//! activation, a dropout rate). Recording it with [`Graph::apply`] appends a
//! node to the tape with the op, its inputs and its output; the backward
//! walk later hands the node's output gradient back to the same op. Neither
//! the tape nor the walk knows any op by name, so an op defined outside this
//! crate is recorded and differentiated exactly as a built-in one:
//!
//! ```
//! use gradlab_autodiff::{Backward, Examples, GradRequest, Op, ParamStore, Tape};
//! use gradlab_tensor::Tensor;
//!
//! /// y = x², elementwise.
//! struct Square;
//!
//! impl Op for Square {
//!     type Saved = ();
//!     fn name(&self) -> String {
//!         "square".into()
//!     }
//!     fn examples(&self, batched: &[bool]) -> Examples {
//!         Examples::rowwise(batched) // each element alone: examples stay apart
//!     }
//!     fn forward(&self, x: &[&Tensor], y: &mut Tensor, _: &mut ()) {
//!         y.assign(x[0]);
//!         y.map_inplace(|v| v * v);
//!     }
//!     fn backward(&self, cx: &mut Backward, _: &mut ()) {
//!         let (x, dy) = (cx.x[0].data(), cx.dy.data());
//!         cx.add(0, |i| 2.0 * x[i] * dy[i]); // ∂L/∂x = 2x ⊙ dY
//!     }
//! }
//!
//! let mut params = ParamStore::new();
//! let w = params.add("w", Tensor::from_vec(vec![3.0], &[1]));
//! let mut tape = Tape::new();
//! let mut g = tape.record(&params);
//! let wv = g.param(w);
//! let y = g.apply(Square, &[wv]);
//! let loss = g.sum(y);
//! g.backward(loss, GradRequest::Mean).unwrap();
//! assert_eq!(tape.grad(w).unwrap().data(), &[6.0]);
//! ```
//!
//! [`Graph::apply`]: crate::Graph::apply

use gradlab_tensor::Tensor;

pub use crate::context::{Backward, MAX_INPUTS};

/// One differentiable operation: its name, what it does to the examples of
/// a batch, its forward and its backward.
///
/// The inputs are given to [`Graph::apply`](crate::Graph::apply) and reach
/// `forward` and `backward` in that order, as `x[0]`, `x[1]`, …
pub trait Op: Send + Sync + 'static {
    /// What the forward pass keeps for the backward one (a mask, a softmax,
    /// the pre-activation), or `()`. It stays on the tape with the node, so
    /// the next graph that records the same op at the same position reuses
    /// its buffers.
    type Saved: Default + Send + Sync + 'static;

    /// A short name for printing the tape, e.g. `"tanh"`.
    fn name(&self) -> String;

    /// What the op does to the examples of a batch, given which of its
    /// inputs are batches (`batched[i]`: axis 0 of input i indexes the
    /// examples). The tape derives from it which values belong to one
    /// example, which mix them, and so which losses the per-example
    /// gradient requests may differentiate.
    fn examples(&self, batched: &[bool]) -> Examples;

    /// Computes the output into `y` (sizing it: `y` holds whatever the
    /// previous graph left there) from the input values `x`, and saves what
    /// the backward pass needs.
    fn forward(&self, x: &[&Tensor], y: &mut Tensor, saved: &mut Self::Saved);

    /// Sends the output's gradient `cx.dy` = ∂L/∂y back to the inputs that
    /// need one, with [`Backward::add`] or [`Backward::accumulate`]. An op
    /// that can give a parameter input its per-example statistics does so
    /// with [`Backward::stats`] when [`Backward::per_example`] asks; a
    /// parameter that reaches the loss through an op that does not is an
    /// error of the per-example requests, never a wrong number.
    fn backward(&self, cx: &mut Backward, saved: &mut Self::Saved);
}

/// What an op's output is with respect to the examples of a batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Examples {
    /// Axis 0 of the output indexes the examples of the batch.
    pub batched: bool,
    /// Some element of the output depends on more than one example (a sum
    /// over the batch, a product that contracts over it).
    pub mixes: bool,
}

impl Examples {
    /// An op that works row by row: row b of the output depends only on row
    /// b of each batched input (and on inputs that belong to no example).
    /// The output is a batch when any input is. Elementwise and row-wise
    /// ops (activations, softmax, losses) are this.
    pub fn rowwise(batched: &[bool]) -> Examples {
        Examples {
            batched: batched.iter().any(|&b| b),
            mixes: false,
        }
    }

    /// An op whose output combines the examples of any batched input and is
    /// not itself a batch (a sum over all elements).
    pub fn reduces(batched: &[bool]) -> Examples {
        Examples {
            batched: false,
            mixes: batched.iter().any(|&b| b),
        }
    }
}
