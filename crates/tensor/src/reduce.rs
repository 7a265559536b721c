//! Reductions: over every element, over one axis of a 2-D tensor, and the
//! row-wise max and argmax used by softmax and accuracy.
//!
//! Sums over all elements accumulate in `f64` per fixed chunk and add the
//! chunks in order, so they are accurate and independent of the thread count.

use rayon::prelude::*;

use crate::parallel;
use crate::Tensor;

impl Tensor {
    /// `Σ_i x_i` over every element.
    pub fn sum(&self) -> f32 {
        parallel::sum(self.data()) as f32
    }

    /// `(1/n) Σ_i x_i` over every element (NaN for an empty tensor).
    pub fn mean(&self) -> f32 {
        (parallel::sum(self.data()) / self.len() as f64) as f32
    }

    /// Sum over `axis` of a 2-D `[r, c]` tensor: `axis = 0` gives the `[c]`
    /// column sums `Σ_i x[i, j]`, `axis = 1` the `[r]` row sums `Σ_j x[i, j]`.
    pub fn sum_axis(&self, axis: usize) -> Tensor {
        let mut out = Tensor::zeros(&[]);
        self.sum_axis_into(axis, &mut out);
        out
    }

    /// Mean over `axis` of a 2-D tensor (see [`sum_axis`](Tensor::sum_axis)).
    pub fn mean_axis(&self, axis: usize) -> Tensor {
        let (r, c) = self.dims2("mean_axis");
        let n = if axis == 0 { r } else { c };
        let mut out = self.sum_axis(axis);
        out.map_inplace(|x| x / n as f32);
        out
    }

    /// [`sum_axis`](Tensor::sum_axis) written into `out`, reusing its buffer.
    pub fn sum_axis_into(&self, axis: usize, out: &mut Tensor) {
        let (r, c) = self.dims2("sum_axis");
        match axis {
            0 => {
                out.resize_for(&[c]);
                column_sums(self.data(), c, out.data_mut());
            }
            1 => {
                out.resize_for(&[r]);
                let data = self.data();
                let row_sum = |(i, o): (usize, &mut f32)| {
                    *o = data[i * c..(i + 1) * c].iter().sum();
                };
                if self.len() < parallel::PARALLEL_MIN {
                    out.data_mut().iter_mut().enumerate().for_each(row_sum);
                } else {
                    out.data_mut().par_iter_mut().enumerate().for_each(row_sum);
                }
            }
            _ => panic!(
                "sum_axis: axis {axis} out of range for 2-D shape {:?}",
                self.shape()
            ),
        }
    }

    /// The `[r]` row-wise maxima `max_j x[i, j]` of a 2-D tensor.
    pub fn max_rows(&self) -> Tensor {
        let (r, c) = self.dims2("max_rows");
        assert!(
            c > 0,
            "max_rows: rows of shape {:?} are empty",
            self.shape()
        );
        let maxima = self
            .data()
            .chunks_exact(c)
            .map(|row| row.iter().copied().fold(f32::NEG_INFINITY, f32::max))
            .collect();
        Tensor::from_vec(maxima, &[r])
    }

    /// The index of each row's largest element (the first one on ties; NaN
    /// never wins).
    pub fn argmax_rows(&self) -> Vec<usize> {
        let (_, c) = self.dims2("argmax_rows");
        assert!(
            c > 0,
            "argmax_rows: rows of shape {:?} are empty",
            self.shape()
        );
        self.data().chunks_exact(c).map(argmax).collect()
    }
}

/// The index of the largest element of a non-empty slice (first on ties).
pub fn argmax(row: &[f32]) -> usize {
    let mut best = 0;
    for (j, &x) in row.iter().enumerate() {
        if x > row[best] || row[best].is_nan() {
            best = j;
        }
    }
    best
}

/// `out[j] = Σ_i data[i, j]` for a row-major buffer with `c` columns. Rows are
/// added in order, so the result does not depend on how columns are split.
pub fn column_sums(data: &[f32], c: usize, out: &mut [f32]) {
    let add_rows = |j0: usize, o: &mut [f32]| {
        o.fill(0.0);
        let len = o.len();
        for row in data.chunks_exact(c) {
            for (acc, &x) in o.iter_mut().zip(&row[j0..j0 + len]) {
                *acc += x;
            }
        }
    };
    if data.len() < parallel::PARALLEL_MIN {
        add_rows(0, out);
    } else {
        // Column blocks of 256 keep each block's accumulators in L1.
        out.par_chunks_mut(256)
            .enumerate()
            .for_each(|(b, o)| add_rows(b * 256, o));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_and_means() {
        let a = Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
        assert_eq!(a.sum(), 21.0);
        assert_eq!(a.mean(), 3.5);
        assert_eq!(a.sum_axis(0).data(), &[5.0, 7.0, 9.0]);
        assert_eq!(a.sum_axis(1).data(), &[6.0, 15.0]);
        assert_eq!(a.mean_axis(0).data(), &[2.5, 3.5, 4.5]);
        assert_eq!(a.mean_axis(1).data(), &[2.0, 5.0]);
    }

    #[test]
    fn max_and_argmax() {
        let a = Tensor::from_vec(vec![1.0, 9.0, 3.0, -4.0, -5.0, -4.0], &[2, 3]);
        assert_eq!(a.max_rows().data(), &[9.0, -4.0]);
        assert_eq!(a.argmax_rows(), vec![1, 0]);
        assert_eq!(argmax(&[f32::NAN, 1.0, 0.0]), 1);
    }

    #[test]
    fn large_sums_are_accurate() {
        // 10⁶ copies of 0.1: an f32 running sum would drift by ~1%.
        let a = Tensor::full(&[1000, 1000], 0.1);
        assert!((a.sum() - 100_000.0).abs() < 0.01);
        let cols = a.sum_axis(0);
        assert!(cols.data().iter().all(|&s| (s - 100.0).abs() < 1e-2));
    }

    #[test]
    #[should_panic(expected = "sum_axis: axis 2 out of range for 2-D shape [2, 2]")]
    fn bad_axis_panics() {
        Tensor::zeros(&[2, 2]).sum_axis(2);
    }
}
