//! The eigendecomposition of a symmetric matrix, for the rules that
//! precondition by matrix roots or rotate into an eigenbasis (Shampoo,
//! SOAP): A = Vᵀ·diag(λ)·V, in `f64`, in two stages (Golub and Van Loan,
//! *Matrix Computations*, §8.3).
//!
//! 1. **Tridiagonalization.** n − 2 Householder reflections
//!    H = I − β·u·uᵀ, each zeroing a column below the subdiagonal, take A
//!    to a tridiagonal T = QᵀAQ (≈ 4n³/3 flops), and V starts as Qᵀ
//!    (≈ 2n³).
//! 2. **Implicit QR with Wilkinson's shift.** Each sweep chases a bulge
//!    down T with Givens rotations, T ← GᵀTG, shifted by the eigenvalue of
//!    T's trailing 2 × 2 nearer its last entry, which makes the last
//!    subdiagonal fall cubically; once it is below rounding, that
//!    eigenvalue is found and the rest goes on without it. Each rotation
//!    also turns two rows of V (≈ 6n flops), about 2n rotations per
//!    eigenvalue.
//!
//! Every transformation is orthogonal, so V stays orthonormal to rounding
//! however close the eigenvalues are. Rows are what the loops run along
//! (A and V are row-major), so the inner loops are contiguous.
//! Deterministic: one thread, a fixed order.

/// The most QR sweeps per eigenvalue before the iteration gives up on
/// refining it (Wilkinson's shift converges in two or three).
const SWEEPS: usize = 30;

/// Overwrites the symmetric `n × n` row-major `a` with its eigenvalues on
/// the diagonal (zeros elsewhere) and `v` with the eigenvectors as rows,
/// so that the input equals Vᵀ·diag(aᵢᵢ)·V. `v` must hold n² numbers and
/// `scratch` at least 4n.
pub(crate) fn symmetric_eigen(a: &mut [f64], v: &mut [f64], scratch: &mut [f64], n: usize) {
    assert_eq!(a.len(), n * n, "symmetric_eigen: a is not {n} × {n}");
    assert_eq!(v.len(), n * n, "symmetric_eigen: v is not {n} × {n}");
    let (d, rest) = scratch[..4 * n].split_at_mut(n);
    let (e, rest) = rest.split_at_mut(n);
    let (beta, work) = rest.split_at_mut(n);
    tridiagonalize(a, d, e, beta, work, n);
    reflections(a, beta, v, work, n);
    diagonalize(d, e, v, n);
    a.fill(0.0);
    for (i, &l) in d.iter().enumerate() {
        a[i * n + i] = l;
    }
}

/// A → T = QᵀAQ, T's diagonal in `d` and subdiagonal in `e` (e[k] joins
/// k and k + 1); the reflection of step k, u_k, left in row k of `a` right
/// of the diagonal, and its β_k in `beta` (0: no reflection). `work`
/// (n numbers) holds p and w of a step.
fn tridiagonalize(
    a: &mut [f64],
    d: &mut [f64],
    e: &mut [f64],
    beta: &mut [f64],
    work: &mut [f64],
    n: usize,
) {
    e.fill(0.0);
    beta.fill(0.0);
    for k in 0..n {
        d[k] = a[k * n + k];
        let m = n - k - 1;
        if m == 1 {
            // The last two rows are tridiagonal already.
            e[k] = a[k * n + k + 1];
        }
        if m < 2 {
            continue;
        }
        // x = A[k][k+1..] (= the column below the diagonal); u = x − αe₁
        // with α = −sign(x₀)‖x‖, so that Hx = αe₁ without cancellation,
        // and β = 2/uᵀu = 1/(σ(σ + |x₀|)).
        let (head, rest) = a.split_at_mut((k + 1) * n);
        let u = &mut head[k * n + k + 1..][..m];
        let sigma = u.iter().map(|x| x * x).sum::<f64>().sqrt();
        if sigma == 0.0 {
            continue;
        }
        let x0 = u[0];
        let alpha = if x0 >= 0.0 { -sigma } else { sigma };
        u[0] = x0 - alpha;
        let b = 1.0 / (sigma * (sigma + x0.abs()));
        e[k] = alpha;
        beta[k] = b;
        // The trailing S (rows and columns k+1..): p = βSu,
        // w = p − (β/2)(pᵀu)u, S ← S − uwᵀ − wuᵀ.
        let w = &mut work[..m];
        for (i, w) in w.iter_mut().enumerate() {
            let row = &rest[i * n + k + 1..][..m];
            *w = b * dot(row, u);
        }
        let half = 0.5 * b * dot(w, u);
        for (w, &ui) in w.iter_mut().zip(u.iter()) {
            *w -= half * ui;
        }
        for i in 0..m {
            let (ui, wi) = (u[i], w[i]);
            let row = &mut rest[i * n + k + 1..][..m];
            for ((x, &uj), &wj) in row.iter_mut().zip(u.iter()).zip(w.iter()) {
                *x -= ui * wj + wi * uj;
            }
        }
    }
}

/// V = Qᵀ = H_{n−3}·…·H₀, the reflections left in `a` by
/// [`tridiagonalize`] applied to I in the order they were made.
fn reflections(a: &[f64], beta: &[f64], v: &mut [f64], work: &mut [f64], n: usize) {
    v.fill(0.0);
    for i in 0..n {
        v[i * n + i] = 1.0;
    }
    for k in 0..n.saturating_sub(2) {
        let b = beta[k];
        if b == 0.0 {
            continue;
        }
        // H = I − βuuᵀ on rows k+1..: r = uᵀV (a row), V ← V − βu·r.
        let m = n - k - 1;
        let u = &a[k * n + k + 1..][..m];
        let rows = &mut v[(k + 1) * n..];
        let r = &mut work[..n];
        r.fill(0.0);
        for (&ui, row) in u.iter().zip(rows.chunks_exact(n)) {
            for (r, &x) in r.iter_mut().zip(row) {
                *r += ui * x;
            }
        }
        for (&ui, row) in u.iter().zip(rows.chunks_exact_mut(n)) {
            for (x, &r) in row.iter_mut().zip(r.iter()) {
                *x -= b * ui * r;
            }
        }
    }
}

/// The tridiagonal (`d`, `e`) to diagonal by implicit QR sweeps with
/// Wilkinson's shift, each rotation also applied to V's rows.
fn diagonalize(d: &mut [f64], e: &mut [f64], v: &mut [f64], n: usize) {
    let mut hi = n.saturating_sub(1);
    let mut sweeps = 0;
    while hi > 0 {
        // A subdiagonal below rounding of its neighbours splits T there.
        for i in 0..hi {
            if e[i].abs() <= f64::EPSILON * (d[i].abs() + d[i + 1].abs()) {
                e[i] = 0.0;
            }
        }
        if e[hi - 1] == 0.0 || sweeps == SWEEPS {
            hi -= 1;
            sweeps = 0;
            continue;
        }
        let mut lo = hi - 1;
        while lo > 0 && e[lo - 1] != 0.0 {
            lo -= 1;
        }
        // μ, the eigenvalue of the trailing 2 × 2 nearer d[hi].
        let delta = 0.5 * (d[hi - 1] - d[hi]);
        let sign = if delta >= 0.0 { 1.0 } else { -1.0 };
        let mu = d[hi] - e[hi - 1] * e[hi - 1] / (delta + sign * delta.hypot(e[hi - 1]));
        // The first rotation brings (d[lo] − μ, e[lo]) to (r, 0); each next
        // one removes the bulge the previous one left below e[k].
        let (mut x, mut z) = (d[lo] - mu, e[lo]);
        for k in lo..hi {
            let r = x.hypot(z);
            let (c, s) = if r == 0.0 {
                (1.0, 0.0)
            } else {
                (x / r, -z / r)
            };
            if k > lo {
                e[k - 1] = r;
            }
            // The 2 × 2 block [[a, b], [b, cc]] ← Gᵀ·block·G, G = [[c, s], [−s, c]].
            let (a, b, cc) = (d[k], e[k], d[k + 1]);
            d[k] = c * c * a - 2.0 * c * s * b + s * s * cc;
            d[k + 1] = s * s * a + 2.0 * c * s * b + c * c * cc;
            e[k] = (a - cc) * c * s + b * (c * c - s * s);
            if k + 1 < hi {
                // The rotation reaches row k + 2: the bulge −s·e[k+1].
                z = -s * e[k + 1];
                e[k + 1] *= c;
                x = e[k];
            }
            let (vk, rest) = v[k * n..].split_at_mut(n);
            for (p, q) in vk.iter_mut().zip(&mut rest[..n]) {
                let (vp, vq) = (*p, *q);
                *p = c * vp - s * vq;
                *q = s * vp + c * vq;
            }
        }
        sweeps += 1;
    }
}

/// Σ xᵢyᵢ, in eight running sums so that it vectorizes (one sum is a
/// chain of dependent additions), added up in a fixed order.
#[inline(always)]
pub(crate) fn dot(x: &[f64], y: &[f64]) -> f64 {
    let mut lanes = [0.0f64; 8];
    let (xs, ys) = (x.chunks_exact(8), y.chunks_exact(8));
    let tail: f64 = xs
        .remainder()
        .iter()
        .zip(ys.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in xs.zip(ys) {
        for ((l, x), y) in lanes.iter_mut().zip(x).zip(y) {
            *l += x * y;
        }
    }
    lanes.iter().sum::<f64>() + tail
}

#[cfg(test)]
mod tests {
    use super::symmetric_eigen;

    /// Checks A = Vᵀ·diag(λ)·V, VVᵀ = I and a zero off-diagonal, to `tol`
    /// relative to A's largest entry; returns the eigenvalues, sorted.
    fn decompose(a: &[f64], n: usize, tol: f64) -> Vec<f64> {
        let (mut d, mut v) = (a.to_vec(), vec![0.0; n * n]);
        symmetric_eigen(&mut d, &mut v, &mut vec![0.0; 4 * n], n);
        let scale = a.iter().fold(1e-300f64, |m, x| m.max(x.abs()));
        for i in 0..n {
            for j in 0..n {
                let back: f64 = (0..n)
                    .map(|l| v[l * n + i] * d[l * n + l] * v[l * n + j])
                    .sum();
                assert!(
                    (back - a[i * n + j]).abs() <= tol * scale,
                    "{n}: A[{i},{j}]"
                );
                let dot: f64 = (0..n).map(|l| v[i * n + l] * v[j * n + l]).sum();
                assert!(
                    (dot - f64::from(u8::from(i == j))).abs() <= tol,
                    "{n}: VVᵀ[{i},{j}]"
                );
                if i != j {
                    assert_eq!(d[i * n + j], 0.0);
                }
            }
        }
        let mut found: Vec<f64> = (0..n).map(|i| d[i * n + i]).collect();
        found.sort_by(f64::total_cmp);
        found
    }

    /// Sizes 1 to 70; Gram matrices of rank below n (zero eigenvalues),
    /// the identity (one eigenvalue n times), a diagonal, zero, and a
    /// matrix whose subdiagonal is zero in the middle (already split).
    #[test]
    fn decomposes_every_shape() {
        for n in [1, 2, 3, 7, 33, 70] {
            let g: Vec<f64> = (0..n * 5)
                .map(|k| ((k * 7919 % 1013) as f64 / 1013.0) - 0.5)
                .collect();
            let gram: Vec<f64> = (0..n * n)
                .map(|k| {
                    (0..5)
                        .map(|l| g[(k / n) * 5 + l] * g[(k % n) * 5 + l])
                        .sum()
                })
                .collect();
            let found = decompose(&gram, n, 1e-13);
            if n > 5 {
                assert!(found[0].abs() < 1e-13, "{n}: a Gram matrix of rank ≤ 5 < n");
            }
            let identity: Vec<f64> = (0..n * n)
                .map(|k| f64::from(u8::from(k % (n + 1) == 0)))
                .collect();
            assert!(decompose(&identity, n, 1e-15).iter().all(|&l| l == 1.0));
            let diagonal: Vec<f64> = (0..n * n)
                .map(|k| {
                    if k % (n + 1) == 0 {
                        (k / n) as f64 - 3.0
                    } else {
                        0.0
                    }
                })
                .collect();
            let want: Vec<f64> = (0..n).map(|i| i as f64 - 3.0).collect();
            assert_eq!(decompose(&diagonal, n, 1e-15), want);
            assert!(decompose(&vec![0.0; n * n], n, 0.0)
                .iter()
                .all(|&l| l == 0.0));
            let split: Vec<f64> = (0..n * n)
                .map(|k| {
                    let (i, j) = (k / n, k % n);
                    match (i.abs_diff(j), (i.min(j) + 1) * 2 == n) {
                        (0, _) => 2.0 + i as f64,
                        (1, false) => 1.0,
                        _ => 0.0,
                    }
                })
                .collect();
            decompose(&split, n, 1e-13);
        }
    }

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
        // A to 10⁻¹² (10⁻¹⁴ of its largest entry, 100).
        let found = decompose(&a, n, 1e-14);
        let mut want = mu.to_vec();
        want.sort_by(f64::total_cmp);
        for (f, w) in found.iter().zip(&want) {
            // Each eigenvalue to f64's rounding of ‖A‖ = 100.
            assert!((f - w).abs() <= 1e-13, "{f} vs {w}");
        }
    }
}
