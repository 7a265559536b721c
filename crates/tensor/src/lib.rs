//! # gradlab-tensor
//!
//! The numeric ground floor of gradlab: an `f32`, contiguous, row-major
//! [`Tensor`] and the operations the rest of the framework is built from.
//!
//! * [`elementwise`] — `a + b`, `a ⊙ b`, scalar ops, `map`/`zip_map`, and
//!   row-vector broadcasting `[B, n] op [n]` (how a bias is added).
//! * [`reduce`] — sums and means over everything or over one axis of a 2-D
//!   tensor, row-wise max and argmax.
//! * [`matmul`] — `C = α·op(A)·op(B) + β·C` with transpose flags: gradlab's
//!   own cache-blocked GEMM, with AVX-512 or AVX2/FMA micro-kernels chosen at
//!   run time and a portable one elsewhere. A transpose is a pair of strides,
//!   never a copy, and large products are split into fixed tiles run on
//!   rayon's threads.
//! * [`random`] — seeded uniform and normal initialisation.
//! * [`philox`] — counter-based Gaussian noise (Philox4x32-10 and
//!   Box–Muller), vectorized, for noise that must be drawn fast and the same
//!   on any number of threads.
//! * [`simd`] — runs plain loops compiled for AVX-512 or AVX2 when the CPU
//!   has them.
//! * [`parallel`] — elementwise loops cut into fixed chunks for rayon's
//!   threads.
//!
//! ## Determinism
//!
//! Every result is bitwise the same for any number of threads. Parallel work
//! is cut into chunks whose size depends only on the shape of the data, never
//! on the thread count, and partial results are combined in a fixed order.
//! Each element of a matmul is computed by one thread, always in the same
//! order over the shared dimension.
//!
//! ## Errors
//!
//! A shape mismatch is a programmer error: the operation panics with a message
//! naming itself and both shapes, as `ndarray` does.
//!
//! ```
//! use gradlab_tensor::{Tensor, Transpose};
//! let x = Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[2, 2]);
//! let w = Tensor::from_vec(vec![1.0, 0.0, 0.0, 2.0], &[2, 2]);
//! let y = x.matmul(Transpose::No, &w, Transpose::Yes);
//! assert_eq!(y.data(), &[1.0, 4.0, 3.0, 8.0]);
//! ```

pub mod elementwise;
mod gemm;
pub mod im2col;
pub mod matmul;
pub mod parallel;
pub mod philox;
pub mod random;
pub mod reduce;
pub mod simd;
mod tensor;

pub use matmul::{
    gemm, gemm_chunked, gemm_packed, gemm_strided, gemm_with, reserve_workers, Kernel,
    PackedMatrix, Transpose,
};
pub use random::{rng, Rng};
pub use tensor::{Tensor, MAX_DIMS};
