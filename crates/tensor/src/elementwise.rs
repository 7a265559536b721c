//! Elementwise arithmetic, with row-vector broadcasting.
//!
//! Binary ops accept two shapes: equal shapes (`a[i] op b[i]`), or a row
//! vector on the right whose length is the last dimension of the left
//! operand, `[B, n] op [n]` (`a[r, j] op b[j]` — how a bias is added to every
//! example of a batch). Anything else panics naming the op and both shapes.

use std::ops;

use crate::parallel;
use crate::Tensor;

/// How the right operand of a binary op lines up with the left one.
enum Broadcast {
    /// Same shape.
    Same,
    /// A row vector repeated over every row of length `n`.
    Row(usize),
}

fn broadcast(op: &str, a: &Tensor, b: &Tensor) -> Broadcast {
    if a.shape() == b.shape() {
        return Broadcast::Same;
    }
    match (a.shape().last(), b.shape()) {
        (Some(&n), [m]) if n == *m => Broadcast::Row(n),
        _ => panic!(
            "{op}: shapes {:?} and {:?} do not match (the right operand must have the same \
             shape or be a row vector as long as the last dimension)",
            a.shape(),
            b.shape()
        ),
    }
}

/// `out[i] = f(out[i], b[i])`, with `b` broadcast as a row if needed.
fn zip_assign(op: &str, out: &mut Tensor, b: &Tensor, f: impl Fn(f32, f32) -> f32 + Sync + Send) {
    match broadcast(op, out, b) {
        Broadcast::Same => {
            let bd = b.data();
            parallel::chunks_mut(out.data_mut(), |off, o| {
                let len = o.len();
                for (x, &y) in o.iter_mut().zip(&bd[off..off + len]) {
                    *x = f(*x, y);
                }
            });
        }
        Broadcast::Row(n) => {
            let bd = b.data();
            parallel::rows_mut(out.data_mut(), n, |_, rows| {
                for row in rows.chunks_exact_mut(n) {
                    for (x, &y) in row.iter_mut().zip(bd) {
                        *x = f(*x, y);
                    }
                }
            });
        }
    }
}

impl Tensor {
    /// `f(x)` for every element.
    pub fn map(&self, f: impl Fn(f32) -> f32 + Sync + Send) -> Tensor {
        let mut out = self.clone();
        out.map_inplace(f);
        out
    }

    /// `x ← f(x)` for every element.
    pub fn map_inplace(&mut self, f: impl Fn(f32) -> f32 + Sync + Send) {
        parallel::chunks_mut(self.data_mut(), |_, o| {
            for x in o {
                *x = f(*x);
            }
        });
    }

    /// `f(a, b)` elementwise (with row broadcasting of `other`).
    pub fn zip_map(&self, other: &Tensor, f: impl Fn(f32, f32) -> f32 + Sync + Send) -> Tensor {
        let mut out = self.clone();
        zip_assign("zip_map", &mut out, other, f);
        out
    }

    /// `a ← f(a, b)` elementwise (with row broadcasting of `other`).
    pub fn zip_map_inplace(&mut self, other: &Tensor, f: impl Fn(f32, f32) -> f32 + Sync + Send) {
        zip_assign("zip_map_inplace", self, other, f);
    }

    /// `a + b`.
    pub fn add(&self, other: &Tensor) -> Tensor {
        let mut out = self.clone();
        zip_assign("add", &mut out, other, |x, y| x + y);
        out
    }

    /// `a − b`.
    pub fn sub(&self, other: &Tensor) -> Tensor {
        let mut out = self.clone();
        zip_assign("sub", &mut out, other, |x, y| x - y);
        out
    }

    /// `a ⊙ b` (Hadamard product).
    pub fn mul(&self, other: &Tensor) -> Tensor {
        let mut out = self.clone();
        zip_assign("mul", &mut out, other, |x, y| x * y);
        out
    }

    /// `a / b` elementwise.
    pub fn div(&self, other: &Tensor) -> Tensor {
        let mut out = self.clone();
        zip_assign("div", &mut out, other, |x, y| x / y);
        out
    }

    /// `a ← a + b`.
    pub fn add_assign(&mut self, other: &Tensor) {
        zip_assign("add_assign", self, other, |x, y| x + y);
    }

    /// `a ← a + α·b` (BLAS's axpy).
    pub fn add_scaled(&mut self, alpha: f32, other: &Tensor) {
        zip_assign("add_scaled", self, other, move |x, y| x + alpha * y);
    }

    /// `a + s` for every element.
    pub fn add_scalar(&self, s: f32) -> Tensor {
        self.map(move |x| x + s)
    }

    /// `s·a`.
    pub fn mul_scalar(&self, s: f32) -> Tensor {
        self.map(move |x| x * s)
    }

    /// Sets every element to `value`.
    pub fn fill(&mut self, value: f32) {
        parallel::chunks_mut(self.data_mut(), |_, o| o.fill(value));
    }
}

macro_rules! operator {
    ($trait:ident, $method:ident) => {
        impl ops::$trait<&Tensor> for &Tensor {
            type Output = Tensor;
            fn $method(self, rhs: &Tensor) -> Tensor {
                Tensor::$method(self, rhs)
            }
        }
    };
}
operator!(Add, add);
operator!(Sub, sub);
operator!(Mul, mul);
operator!(Div, div);

impl ops::Mul<f32> for &Tensor {
    type Output = Tensor;
    fn mul(self, s: f32) -> Tensor {
        self.mul_scalar(s)
    }
}

impl ops::AddAssign<&Tensor> for Tensor {
    fn add_assign(&mut self, rhs: &Tensor) {
        Tensor::add_assign(self, rhs);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(v: &[f32], shape: &[usize]) -> Tensor {
        Tensor::from_vec(v.to_vec(), shape)
    }

    #[test]
    fn binary_ops_on_equal_shapes() {
        let a = t(&[1.0, 2.0, 3.0, 4.0], &[2, 2]);
        let b = t(&[2.0, 4.0, 8.0, 16.0], &[2, 2]);
        assert_eq!((&a + &b).data(), &[3.0, 6.0, 11.0, 20.0]);
        assert_eq!((&a - &b).data(), &[-1.0, -2.0, -5.0, -12.0]);
        assert_eq!((&a * &b).data(), &[2.0, 8.0, 24.0, 64.0]);
        assert_eq!((&b / &a).data(), &[2.0, 2.0, 8.0 / 3.0, 4.0]);
        assert_eq!((&a * 0.5).data(), &[0.5, 1.0, 1.5, 2.0]);
        assert_eq!(a.add_scalar(1.0).data(), &[2.0, 3.0, 4.0, 5.0]);
        assert_eq!(a.zip_map(&b, f32::max).data(), &[2.0, 4.0, 8.0, 16.0]);
        let mut c = a.clone();
        c.add_scaled(2.0, &b);
        assert_eq!(c.data(), &[5.0, 10.0, 19.0, 36.0]);
    }

    #[test]
    fn row_vector_broadcasts_over_rows() {
        let a = t(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
        let bias = t(&[10.0, 20.0, 30.0], &[3]);
        assert_eq!(a.add(&bias).data(), &[11.0, 22.0, 33.0, 14.0, 25.0, 36.0]);
        assert_eq!(a.mul(&bias).data(), &[10.0, 40.0, 90.0, 40.0, 100.0, 180.0]);
    }

    #[test]
    #[should_panic(expected = "add: shapes [2, 3] and [2] do not match")]
    fn mismatched_shapes_panic_naming_both() {
        Tensor::zeros(&[2, 3]).add(&Tensor::zeros(&[2]));
    }

    #[test]
    fn large_tensors_take_the_parallel_path_correctly() {
        let n = 3 * parallel::PARALLEL_MIN + 7;
        let a = Tensor::from_vec((0..n).map(|i| i as f32).collect(), &[n]);
        let b = a.map(|x| 2.0 * x + 1.0);
        assert!(b
            .data()
            .iter()
            .enumerate()
            .all(|(i, &x)| x == 2.0 * i as f32 + 1.0));
        let rows = Tensor::ones(&[n / 7, 7]);
        let bias = t(&[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[7]);
        let s = rows.add(&bias);
        assert!(s
            .data()
            .chunks(7)
            .all(|r| r == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]));
    }
}
