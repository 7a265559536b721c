//! # gradlab-data
//!
//! Datasets for gradlab: examples as rows of `f32` features with class
//! labels or real-valued targets, from memory, from IDX files (MNIST and
//! anything laid out like it: Fashion-MNIST, KMNIST) or from a CSV file,
//! and seeded, reproducible mini-batches.
//!
//! * [`dataset`] — [`Dataset`]: features kept as they came (`u8` pixels,
//!   scaled to `[0, 1]` one batch at a time; `f32` for everything else),
//!   [`Targets`] (classes or values), an optional per-feature
//!   [`Standardization`], and [`Dataset::gather`] of a batch into reused
//!   buffers. [`Dataset::from_tensors`] builds one from memory,
//!   [`Dataset::split`] divides one into training and test sets.
//! * [`csv`] — [`Dataset::from_csv`]: a header row, a named target column,
//!   numeric features.
//! * [`idx`] — [`read_idx`]: one IDX file into dimensions and bytes.
//! * [`mnist`] — [`load`]: a directory of the four standard files into a
//!   training and a test [`Dataset`].
//! * [`batches`] — [`Batches`]: a per-epoch shuffle that depends only on the
//!   seed and the epoch number, or the sequential order for evaluation.
//! * [`scattering`] — [`Scattering`]: the scattering transform of images
//!   (kymatio's `Scattering2D`), fixed features for a model to learn on.
//! * [`synthetic`] — [`synthetic::teacher_regression`]: a regression on
//!   a random teacher network's outputs, drawn from a seed.
//! * [`text`] — [`CharText`]: UTF-8 text (raw or gzip) as one token per
//!   character, a training/validation split, and seeded windows of it for
//!   a language model.
//!
//! ## The IDX format
//!
//! An IDX file is a header followed by the data:
//!
//! | bytes | contents |
//! |---|---|
//! | 0–1 | zero |
//! | 2 | element type; `0x08` means unsigned byte, the only type read here |
//! | 3 | `NN`, the number of dimensions |
//! | 4 … 4 + 4·NN | `NN` big-endian `u32` dimension sizes, outermost first |
//! | then | the elements, row-major, one byte each |
//!
//! So the magic number of MNIST's image files is `0x00000803`
//! (`[n, rows, cols]`) and that of its label files `0x00000801` (`[n]`).
//! Files ending in `.gz` are gzip-decompressed as they are read.
//!
//! ## Errors
//!
//! Files on disk are input, and bad input is reported, never a panic: every
//! problem is a [`DataError`] variant whose message names the file and what
//! is wrong with it — a missing directory or file (listing the names tried),
//! I/O failure, corrupt gzip, a wrong magic number, element type or number
//! of dimensions, a header that disagrees with the amount of data (too little
//! or too much), labels outside 0–9, and image and label files of different
//! lengths; for a CSV file, a missing target column, a ragged row, or a cell
//! that is not a number of its column (naming its line and column).
//!
//! A header is never trusted with memory. Its dimension sizes are multiplied
//! with overflow checks; a raw file's claim is compared with the file's
//! length before the data buffer is allocated, and a gzip stream is read only
//! up to one byte past the claim into a buffer that grows with the bytes
//! actually decompressed. A few corrupt header bytes claiming
//! 4 000 000 000 × 4 000 000 000 images thus fail at once.
//!
//! Values a caller can get wrong — in-memory images and labels that do not
//! match, features and targets of different lengths, a split that leaves a
//! set empty, a batch size of 0 — are errors too. An example index out of range
//! is a programmer error and panics with a message saying so, as an index
//! into a slice does.
//!
//! ```no_run
//! use gradlab_data::{load, Batches, Targets};
//! use gradlab_tensor::Tensor;
//!
//! let mnist = load("datasets/mnist")?;
//! let (mut x, mut y) = (Tensor::default(), Targets::default());
//! for batch in &Batches::new(mnist.train.len(), 128, 42, 0, false)? {
//!     mnist.train.gather(batch, &mut x, &mut y);
//!     // x: [batch.len(), 784] in [0, 1]; y: the digits.
//! }
//! # Ok::<(), gradlab_data::DataError>(())
//! ```

pub mod batches;
pub mod csv;
pub mod dataset;
mod error;
pub mod idx;
pub mod mnist;
pub mod scattering;
pub mod synthetic;
pub mod text;

pub use batches::{Batches, Iter as BatchIter};
pub use csv::TargetKind;
pub use dataset::{Dataset, Standardization, Targets, MAX_CLASSES, MAX_MAGNITUDE};
pub use error::DataError;
pub use idx::{read_idx, read_idx_ndim, Idx};
pub use mnist::{load, Mnist};
pub use scattering::Scattering;
pub use text::CharText;

/// The number of classes of MNIST-layout data: labels are the digits 0–9.
pub const NUM_CLASSES: usize = 10;
