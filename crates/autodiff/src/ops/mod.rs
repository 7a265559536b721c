//! The ops, one family per file, each with its forward and its backward side
//! by side and the derivative in its doc comment.

pub mod activation;
pub mod arith;
pub mod dropout;
pub mod linear;
pub mod loss;
pub mod matmul;
pub mod reduce;
pub mod softmax;

use crate::backward::Ctx;
use crate::tape::{Node, Op};

/// Sends `node`'s gradient back to its inputs.
pub(crate) fn backward(node: &Node, ctx: &mut Ctx) {
    match node.op {
        Op::Input | Op::Constant | Op::Param(_) => {}
        Op::MatMul { .. } => matmul::backward(node, ctx),
        Op::Linear { .. } => linear::backward(node, ctx),
        Op::Binary { .. } | Op::Scale { .. } => arith::backward(node, ctx),
        Op::Activation { .. } => activation::backward(node, ctx),
        Op::Dropout { .. } => dropout::backward(node, ctx),
        Op::Sum { .. } => reduce::backward(node, ctx),
        Op::SoftmaxCrossEntropy { .. } | Op::Mse { .. } => loss::backward(node, ctx),
        Op::LogSoftmax { .. } | Op::Softmax { .. } => softmax::backward(node, ctx),
    }
}
