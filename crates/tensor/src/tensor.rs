//! The [`Tensor`] type: a shape and a contiguous, row-major `Vec<f32>`.

use std::fmt;

/// An `f32` tensor, contiguous and row-major.
///
/// The element at index `(i₀, i₁, …, i_{d−1})` lives at
/// `Σ_k i_k · Π_{j>k} shape[j]` in [`data`](Tensor::data). A scalar has shape
/// `[]` and one element.
#[derive(Clone, PartialEq)]
pub struct Tensor {
    shape: Shape,
    data: Vec<f32>,
}

/// The most dimensions a tensor may have.
pub const MAX_DIMS: usize = 6;

/// A shape stored inline, so that creating, resizing or swapping out a
/// tensor never allocates for its shape.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Shape {
    dims: [usize; MAX_DIMS],
    len: usize,
}

impl Shape {
    fn new(dims: &[usize]) -> Shape {
        assert!(
            dims.len() <= MAX_DIMS,
            "shape {dims:?} has {} dimensions; at most {MAX_DIMS} are supported",
            dims.len()
        );
        let mut s = Shape {
            dims: [0; MAX_DIMS],
            len: dims.len(),
        };
        s.dims[..dims.len()].copy_from_slice(dims);
        s
    }

    fn as_slice(&self) -> &[usize] {
        &self.dims[..self.len]
    }
}

/// Number of elements of a shape, panicking on overflow (a programmer error).
pub(crate) fn numel(shape: &[usize]) -> usize {
    shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .unwrap_or_else(|| panic!("shape {shape:?} has more elements than fit in usize"))
}

impl Tensor {
    /// Wraps `data` with `shape`.
    ///
    /// # Panics
    /// If `data.len()` is not the product of `shape`.
    pub fn from_vec(data: Vec<f32>, shape: &[usize]) -> Tensor {
        let n = numel(shape);
        assert!(
            data.len() == n,
            "from_vec: shape {shape:?} needs {n} elements, got {}",
            data.len()
        );
        Tensor {
            shape: Shape::new(shape),
            data,
        }
    }

    /// A tensor of `shape` with every element equal to `value`.
    pub fn full(shape: &[usize], value: f32) -> Tensor {
        Tensor {
            shape: Shape::new(shape),
            data: vec![value; numel(shape)],
        }
    }

    /// A tensor of zeros.
    pub fn zeros(shape: &[usize]) -> Tensor {
        Tensor::full(shape, 0.0)
    }

    /// A tensor of ones.
    pub fn ones(shape: &[usize]) -> Tensor {
        Tensor::full(shape, 1.0)
    }

    /// A scalar (shape `[]`).
    pub fn scalar(value: f32) -> Tensor {
        Tensor::full(&[], value)
    }

    /// The shape.
    pub fn shape(&self) -> &[usize] {
        self.shape.as_slice()
    }

    /// The number of dimensions.
    pub fn ndim(&self) -> usize {
        self.shape.len
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Whether the tensor has no elements.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The elements in row-major order.
    pub fn data(&self) -> &[f32] {
        &self.data
    }

    /// The elements in row-major order, mutably.
    pub fn data_mut(&mut self) -> &mut [f32] {
        &mut self.data
    }

    /// Gives back the elements.
    pub fn into_vec(self) -> Vec<f32> {
        self.data
    }

    /// The single value of a one-element tensor.
    ///
    /// # Panics
    /// If the tensor does not have exactly one element.
    pub fn item(&self) -> f32 {
        assert!(
            self.data.len() == 1,
            "item: tensor of shape {:?} has {} elements, not 1",
            self.shape(),
            self.data.len()
        );
        self.data[0]
    }

    /// `(rows, cols)` of a 2-D tensor.
    ///
    /// # Panics
    /// If the tensor is not 2-D; `op` names the caller in the message.
    pub fn dims2(&self, op: &str) -> (usize, usize) {
        match *self.shape() {
            [r, c] => (r, c),
            _ => panic!("{op}: expected a 2-D tensor, got shape {:?}", self.shape()),
        }
    }

    /// The same elements with a new shape of the same size.
    ///
    /// # Panics
    /// If the sizes differ.
    pub fn reshape(mut self, shape: &[usize]) -> Tensor {
        let n = numel(shape);
        assert!(
            n == self.data.len(),
            "reshape: cannot view shape {:?} ({} elements) as {shape:?} ({n} elements)",
            self.shape(),
            self.data.len()
        );
        self.shape = Shape::new(shape);
        self
    }

    /// Makes this tensor a `shape` tensor, reusing its allocation when it is
    /// large enough. The contents are unspecified afterwards; callers
    /// overwrite them. This is how the tape reuses buffers across steps.
    pub fn resize_for(&mut self, shape: &[usize]) {
        let n = numel(shape);
        self.data.resize(n, 0.0);
        self.shape = Shape::new(shape);
    }

    /// Copies `other`'s shape and elements into `self`, reusing `self`'s
    /// allocation.
    pub fn assign(&mut self, other: &Tensor) {
        self.resize_for(other.shape());
        self.data.copy_from_slice(&other.data);
    }

    /// Row `i` of a 2-D tensor.
    pub fn row(&self, i: usize) -> &[f32] {
        let (r, c) = self.dims2("row");
        assert!(
            i < r,
            "row: index {i} out of range for shape {:?}",
            self.shape()
        );
        &self.data[i * c..(i + 1) * c]
    }
}

impl Tensor {
    /// An empty tensor of shape `[0]`: a placeholder that allocates nothing.
    pub const EMPTY: Tensor = Tensor {
        shape: Shape {
            dims: [0; MAX_DIMS],
            len: 1,
        },
        data: Vec::new(),
    };
}

/// [`Tensor::EMPTY`].
impl Default for Tensor {
    fn default() -> Tensor {
        Tensor::EMPTY
    }
}

impl fmt::Debug for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOWN: usize = 8;
        write!(f, "Tensor{:?} [", self.shape())?;
        for (i, x) in self.data.iter().take(SHOWN).enumerate() {
            if i > 0 {
                write!(f, ", ")?;
            }
            write!(f, "{x:.4}")?;
        }
        if self.data.len() > SHOWN {
            write!(f, ", … ({} more)", self.data.len() - SHOWN)?;
        }
        write!(f, "]")
    }
}
