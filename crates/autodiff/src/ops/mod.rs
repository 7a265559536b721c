//! The built-in ops, one file each (or one small family), each an [`Op`]
//! with its forward and its backward side by side, the derivative in its
//! doc comment, and the [`Graph`] method that records it.
//!
//! [`Op`]: crate::Op
//! [`Graph`]: crate::Graph

pub mod activation;
pub mod arith;
pub mod attention;
pub mod batch_norm;
pub mod conv;
pub mod dropout;
pub mod embedding;
pub mod linear;
pub mod loss;
pub mod matmul;
pub mod norm;
pub mod pool;
pub mod reduce;
pub mod reshape;
pub mod sharing;
pub mod softmax;
