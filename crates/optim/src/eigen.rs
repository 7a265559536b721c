//! The eigendecomposition of a symmetric matrix, for the rules that
//! precondition by matrix roots (Shampoo): A = Vᵀ·diag(λ)·V by cyclic
//! Jacobi rotations, in `f64`.
//!
//! Each rotation in the plane (p, q) zeroes A's entry (p, q) and moves its
//! weight onto the diagonal; a sweep rotates every plane once, and the
//! off-diagonal mass falls quadratically once it is small, so a handful of
//! sweeps reach `f64` rounding. Jacobi is chosen over tridiagonalization
//! and QR for its few lines and its robustness (orthogonal rotations only,
//! eigenvectors orthonormal to rounding however close the eigenvalues);
//! the matrices it gets are the blocks of a preconditioner, a few hundred
//! rows at most. Deterministic: one thread, a fixed order.

/// The sweeps after which the rotations stop, converged or not (a
/// symmetric matrix of a few hundred rows converges in under 15).
const SWEEPS: usize = 50;

/// Overwrites the symmetric `n × n` row-major `a` with its eigenvalues on
/// the diagonal and `v` with the eigenvectors as rows, so that the input
/// equals Vᵀ·diag(aᵢᵢ)·V. `v` must hold n² numbers.
pub(crate) fn symmetric_eigen(a: &mut [f64], v: &mut [f64], n: usize) {
    assert_eq!(a.len(), n * n, "symmetric_eigen: a is not {n} × {n}");
    assert_eq!(v.len(), n * n, "symmetric_eigen: v is not {n} × {n}");
    v.fill(0.0);
    for i in 0..n {
        v[i * n + i] = 1.0;
    }
    for _ in 0..SWEEPS {
        let diagonal: f64 = (0..n).map(|i| a[i * n + i] * a[i * n + i]).sum();
        let off: f64 = (0..n)
            .flat_map(|p| (p + 1..n).map(move |q| (p, q)))
            .map(|(p, q)| a[p * n + q] * a[p * n + q])
            .sum();
        // Converged when the off-diagonal mass is below f64's rounding of
        // the whole (or there is none).
        if off <= 1e-32 * (diagonal + off) {
            return;
        }
        // An entry this small is left as it is: were all of them this
        // small, the test above would hold. The last sweeps then rotate
        // only the few entries still above it.
        let negligible = 1e-16 * (diagonal + off).sqrt() / n as f64;
        for p in 0..n {
            for q in p + 1..n {
                if a[p * n + q].abs() > negligible {
                    rotate(a, v, n, p, q);
                }
            }
        }
    }
}

/// The rotation J in the plane (p, q) with (JᵀAJ)_pq = 0: A ← JᵀAJ and
/// Vᵀ ← VᵀJ (V's rows p and q).
fn rotate(a: &mut [f64], v: &mut [f64], n: usize, p: usize, q: usize) {
    let apq = a[p * n + q];
    // tan of the angle, the smaller root of t² + 2θt − 1 = 0 with
    // θ = (a_qq − a_pp)/(2a_pq), written so that it neither overflows nor
    // cancels.
    let theta = (a[q * n + q] - a[p * n + p]) / (2.0 * apq);
    let t = if theta.abs() > 1e150 {
        0.5 / theta
    } else {
        theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt())
    };
    let c = 1.0 / (t * t + 1.0).sqrt();
    let s = t * c;
    // Rows p and q of JᵀA, which are also rows p and q of JᵀAJ outside
    // columns p and q, and by symmetry its columns p and q: rows are
    // contiguous, so the rotation runs along them and mirrors them.
    let (app, aqq) = (a[p * n + p], a[q * n + q]);
    for k in (0..n).filter(|&k| k != p && k != q) {
        let (x, y) = (a[p * n + k], a[q * n + k]);
        let (xp, yq) = (c * x - s * y, s * x + c * y);
        a[p * n + k] = xp;
        a[q * n + k] = yq;
        a[k * n + p] = xp;
        a[k * n + q] = yq;
    }
    a[p * n + p] = app - t * apq;
    a[q * n + q] = aqq + t * apq;
    a[p * n + q] = 0.0;
    a[q * n + p] = 0.0;
    let (vp, rest) = v[p * n..].split_at_mut(n);
    let vq = &mut rest[(q - p - 1) * n..][..n];
    for (x, y) in vp.iter_mut().zip(vq.iter_mut()) {
        let (xp, yq) = (c * *x - s * *y, s * *x + c * *y);
        *x = xp;
        *y = yq;
    }
}

#[cfg(test)]
mod tests {
    use super::symmetric_eigen;

    /// A = Vᵀ·diag(λ)·V and VVᵀ = I to f64 rounding, on a matrix with
    /// eigenvalues over twelve decades and one repeated.
    #[test]
    fn reconstructs_the_matrix() {
        let n = 9;
        // B with orthonormal columns from a Householder reflection
        // I − 2uuᵀ/‖u‖², and A = B·diag(μ)·Bᵀ.
        let u: Vec<f64> = (0..n).map(|i| (i as f64 * 0.7).sin() + 0.3).collect();
        let uu: f64 = u.iter().map(|x| x * x).sum();
        let b = |i: usize, j: usize| f64::from(u8::from(i == j)) - 2.0 * u[i] * u[j] / uu;
        let mu = [1e-12, 1e-6, 1e-3, 0.5, 0.5, 1.0, 3.0, 100.0, 1.0];
        let a: Vec<f64> = (0..n * n)
            .map(|k| (0..n).map(|l| b(k / n, l) * mu[l] * b(k % n, l)).sum())
            .collect();
        let (mut d, mut v) = (a.clone(), vec![0.0; n * n]);
        symmetric_eigen(&mut d, &mut v, n);
        for i in 0..n {
            for j in 0..n {
                let back: f64 = (0..n)
                    .map(|l| v[l * n + i] * d[l * n + l] * v[l * n + j])
                    .sum();
                assert!(
                    (back - a[i * n + j]).abs() < 1e-12,
                    "A[{i},{j}]: {back} vs {}",
                    a[i * n + j]
                );
                let dot: f64 = (0..n).map(|l| v[i * n + l] * v[j * n + l]).sum();
                assert!(
                    (dot - f64::from(u8::from(i == j))).abs() < 1e-14,
                    "VVᵀ[{i},{j}]"
                );
                if i != j {
                    assert!(d[i * n + j].abs() < 1e-14, "D[{i},{j}]");
                }
            }
        }
        let mut found: Vec<f64> = (0..n).map(|i| d[i * n + i]).collect();
        found.sort_by(f64::total_cmp);
        let mut want = mu.to_vec();
        want.sort_by(f64::total_cmp);
        for (f, w) in found.iter().zip(&want) {
            // Each eigenvalue to f64's rounding of ‖A‖ = 100.
            assert!((f - w).abs() <= 1e-13, "{f} vs {w}");
        }
    }
}
