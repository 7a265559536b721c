//! gemm against a naive f64 triple loop, on every kernel this CPU has, and
//! its determinism across thread counts.

use gradlab_tensor::{
    gemm, gemm_chunked, gemm_packed, gemm_strided, gemm_with, rng, Kernel, PackedMatrix, Tensor,
    Transpose,
};
use rayon::ThreadPoolBuilder;

use Transpose::{No, Yes};

const TRANSPOSES: [(Transpose, Transpose); 4] = [(No, No), (Yes, No), (No, Yes), (Yes, Yes)];
const KERNELS: [Kernel; 3] = [Kernel::Portable, Kernel::Avx2Fma, Kernel::Avx512];

fn available_kernels() -> impl Iterator<Item = Kernel> {
    KERNELS.into_iter().filter(|k| k.is_available())
}

fn random(len: usize, seed: u64) -> Vec<f32> {
    Tensor::uniform(&[len], -1.0, 1.0, &mut rng(seed)).into_vec()
}

/// `α·op(A)·op(B) + β·C` in f64, straight from the definition.
#[allow(clippy::too_many_arguments)]
fn reference(
    m: usize,
    k: usize,
    n: usize,
    alpha: f32,
    a: &[f32],
    ta: Transpose,
    b: &[f32],
    tb: Transpose,
    beta: f32,
    c: &[f32],
) -> Vec<f64> {
    let at = |i: usize, p: usize| if ta == No { a[i * k + p] } else { a[p * m + i] } as f64;
    let bt = |p: usize, j: usize| if tb == No { b[p * n + j] } else { b[j * k + p] } as f64;
    let mut out = vec![0.0; m * n];
    for i in 0..m {
        for j in 0..n {
            let dot: f64 = (0..k).map(|p| at(i, p) * bt(p, j)).sum();
            let old = if beta == 0.0 {
                0.0
            } else {
                beta as f64 * c[i * n + j] as f64
            };
            out[i * n + j] = alpha as f64 * dot + old;
        }
    }
    out
}

/// `‖got − want‖ / ‖want‖` in the Frobenius norm (the absolute error when
/// `want` is zero).
fn relative_error(got: &[f32], want: &[f64]) -> f64 {
    let diff: f64 = got
        .iter()
        .zip(want)
        .map(|(&g, &w)| (g as f64 - w).powi(2))
        .sum();
    let norm: f64 = want.iter().map(|w| w * w).sum();
    if norm == 0.0 {
        diff.sqrt()
    } else {
        (diff / norm).sqrt()
    }
}

/// Every `(m, k, n)` with each dimension one of 1, 7, 33, 129 and 513:
/// single rows and columns, sizes below, between and just above whole
/// micro-kernel panels and cache blocks.
fn shapes() -> Vec<(usize, usize, usize)> {
    const SIZES: [usize; 5] = [1, 7, 33, 129, 513];
    let mut out = Vec::new();
    for m in SIZES {
        for k in SIZES {
            for n in SIZES {
                out.push((m, k, n));
            }
        }
    }
    out
}

#[test]
fn every_kernel_matches_the_f64_reference_for_all_transposes() {
    for (m, k, n) in shapes() {
        let (a, b) = (random(m * k, 1), random(k * n, 2));
        for (ta, tb) in TRANSPOSES {
            let want = reference(m, k, n, 1.0, &a, ta, &b, tb, 0.0, &[]);
            for kernel in available_kernels() {
                let mut c = vec![f32::NAN; m * n];
                gemm_with(kernel, m, k, n, 1.0, &a, ta, &b, tb, 0.0, &mut c);
                let err = relative_error(&c, &want);
                assert!(
                    err <= 1e-5,
                    "{kernel:?} {m}×{k}×{n} {ta:?}/{tb:?}: relative error {err:e}"
                );
            }
        }
    }
}

/// The product of squares squares each operand as it is packed; the result
/// must be bitwise that of squaring first and multiplying after, for every
/// transpose and for shapes with ragged panels, split across threads or not.
#[test]
fn matmul_squares_equals_squaring_first() {
    for &(m, k, n) in &[
        (1, 1, 1),
        (7, 33, 5),
        (128, 784, 512),
        (512, 128, 784),
        (33, 129, 513),
    ] {
        for (ta, tb) in TRANSPOSES {
            let sa = if ta == No { [m, k] } else { [k, m] };
            let sb = if tb == No { [k, n] } else { [n, k] };
            let a = Tensor::from_vec(random(m * k, 1), &sa);
            let b = Tensor::from_vec(random(k * n, 2), &sb);
            let mut fused = Tensor::default();
            a.matmul_squares_into(ta, &b, tb, 3.0, &mut fused);
            let (a2, b2) = (a.map(|x| x * x), b.map(|x| x * x));
            let mut first = Tensor::default();
            a2.matmul_into(ta, &b2, tb, 3.0, 0.0, &mut first);
            let bits = |t: &Tensor| t.data().iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&fused), bits(&first), "{m}x{k}x{n} {ta:?} {tb:?}");
        }
    }
}

/// A product and the product of squares from one packing equal the two
/// computed apart, bitwise, with and without accumulation into C.
#[test]
fn matmul_with_squares_equals_both_products_apart() {
    for &(m, k, n) in &[(1, 1, 1), (7, 33, 5), (512, 128, 784), (33, 300, 129)] {
        for (ta, tb) in TRANSPOSES {
            let sa = if ta == No { [m, k] } else { [k, m] };
            let sb = if tb == No { [k, n] } else { [n, k] };
            let a = Tensor::from_vec(random(m * k, 3), &sa);
            let b = Tensor::from_vec(random(k * n, 4), &sb);
            let c0 = Tensor::from_vec(random(m * n, 5), &[m, n]);
            for beta in [0.0, 1.0] {
                let (mut c, mut s) = (c0.clone(), Tensor::default());
                a.matmul_with_squares_into(ta, &b, tb, beta, &mut c, 2.5, &mut s);
                let mut want_c = c0.clone();
                a.matmul_into(ta, &b, tb, 1.0, beta, &mut want_c);
                let mut want_s = Tensor::default();
                a.matmul_squares_into(ta, &b, tb, 2.5, &mut want_s);
                let bits = |t: &Tensor| t.data().iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                let what = format!("{m}x{k}x{n} {ta:?} {tb:?} beta {beta}");
                assert_eq!(bits(&c), bits(&want_c), "{what}: product");
                assert_eq!(bits(&s), bits(&want_s), "{what}: squares");
            }
        }
    }
}

/// With an empty shared dimension the product of squares is an empty sum:
/// whatever `out_sq` held, it comes back zero.
#[test]
fn matmul_with_squares_of_nothing_is_zero() {
    let a = Tensor::from_vec(vec![], &[3, 0]);
    let b = Tensor::from_vec(vec![], &[0, 4]);
    let mut c = Tensor::full(&[3, 4], 2.0);
    let mut s = Tensor::full(&[3, 4], 7.0);
    a.matmul_with_squares_into(No, &b, No, 0.5, &mut c, 1.0, &mut s);
    assert!(c.data().iter().all(|&x| x == 1.0), "C = β·C");
    assert!(s.data().iter().all(|&x| x == 0.0), "S = 0");
}

#[test]
fn alpha_and_beta_scale_the_product_and_the_old_c() {
    for (m, k, n) in [(33, 129, 7), (129, 33, 513), (7, 513, 33)] {
        let (a, b, c0) = (random(m * k, 3), random(k * n, 4), random(m * n, 5));
        for (alpha, beta) in [(0.5, -1.5), (1.0, 1.0), (-2.0, 0.25)] {
            let want = reference(m, k, n, alpha, &a, No, &b, Yes, beta, &c0);
            for kernel in available_kernels() {
                let mut c = c0.clone();
                gemm_with(kernel, m, k, n, alpha, &a, No, &b, Yes, beta, &mut c);
                let err = relative_error(&c, &want);
                assert!(
                    err <= 1e-5,
                    "{kernel:?} α={alpha} β={beta}: relative error {err:e}"
                );
            }
        }
    }
}

#[test]
fn beta_zero_ignores_nan_in_c() {
    let (m, k, n) = (129, 33, 513);
    let (a, b) = (random(m * k, 6), random(k * n, 7));
    let want = reference(m, k, n, 2.0, &a, Yes, &b, No, 0.0, &[]);
    for kernel in available_kernels() {
        let mut c = vec![f32::NAN; m * n];
        gemm_with(kernel, m, k, n, 2.0, &a, Yes, &b, No, 0.0, &mut c);
        assert!(relative_error(&c, &want) <= 1e-5, "{kernel:?}");
    }
}

#[test]
fn an_empty_shared_dimension_scales_c_by_beta() {
    let mut c = vec![f32::NAN, f32::INFINITY, 1.0];
    gemm(3, 0, 1, 1.0, &[], No, &[], No, 0.0, &mut c);
    assert_eq!(c, [0.0; 3]);
    let mut c = vec![1.0, -2.0, 4.0];
    gemm(1, 0, 3, 1.0, &[], No, &[], Yes, 0.5, &mut c);
    assert_eq!(c, [0.5, -1.0, 2.0]);
}

#[test]
fn the_portable_and_simd_kernels_agree() {
    for (m, k, n) in [(128, 784, 512), (784, 128, 512), (61, 300, 97)] {
        let (a, b) = (random(m * k, 8), random(k * n, 9));
        for (ta, tb) in TRANSPOSES {
            let mut portable = vec![0.0; m * n];
            gemm_with(
                Kernel::Portable,
                m,
                k,
                n,
                1.0,
                &a,
                ta,
                &b,
                tb,
                0.0,
                &mut portable,
            );
            let portable: Vec<f64> = portable.iter().map(|&x| x as f64).collect();
            for kernel in available_kernels() {
                let mut c = vec![0.0; m * n];
                gemm_with(kernel, m, k, n, 1.0, &a, ta, &b, tb, 0.0, &mut c);
                let err = relative_error(&c, &portable);
                assert!(
                    err <= 1e-5,
                    "{kernel:?} vs portable, {m}×{k}×{n} {ta:?}/{tb:?}: {err:e}"
                );
            }
        }
    }
}

#[test]
fn an_element_does_not_depend_on_the_tiling() {
    // The rows of a product are bitwise the rows of the same product of
    // fewer rows of A: tile and thread boundaries do not change rounding.
    let (m, k, n) = (300, 300, 300);
    let (a, b) = (random(m * k, 10), random(k * n, 11));
    for kernel in available_kernels() {
        let mut whole = vec![0.0; m * n];
        gemm_with(kernel, m, k, n, 1.0, &a, No, &b, No, 0.0, &mut whole);
        for (start, rows) in [(0, 1), (5, 13), (131, 169)] {
            let mut part = vec![0.0; rows * n];
            gemm_with(
                kernel,
                rows,
                k,
                n,
                1.0,
                &a[start * k..(start + rows) * k],
                No,
                &b,
                No,
                0.0,
                &mut part,
            );
            assert_eq!(
                part,
                whole[start * n..(start + rows) * n],
                "{kernel:?} rows {start}.."
            );
        }
    }
}

/// Everything the determinism test computes, for one thread count.
fn workload() -> Vec<Vec<f32>> {
    let mut out = Vec::new();
    for (m, k, n, ta, tb) in [
        (128, 784, 512, No, No),
        (784, 128, 512, Yes, No),
        (128, 512, 784, No, Yes),
        (300, 300, 300, No, No),
    ] {
        let (a, b) = (random(m * k, 12), random(k * n, 13));
        let mut c = vec![0.0; m * n];
        gemm(m, k, n, 1.0, &a, ta, &b, tb, 0.0, &mut c);
        out.push(c);
    }
    let x = Tensor::uniform(&[300, 784], -1.0, 1.0, &mut rng(14));
    let bias = Tensor::uniform(&[784], -1.0, 1.0, &mut rng(15));
    let w = Tensor::uniform(&[512, 784], -1.0, 1.0, &mut rng(16));
    let y = x.add(&bias).map(|v| v.tanh());
    out.push(y.matmul(No, &w, Yes).into_vec());
    out.push(vec![y.sum()]);
    out.push(y.sum_axis(0).into_vec());
    out.push(y.sum_axis(1).into_vec());
    out.push(y.into_vec());
    out
}

#[test]
fn results_are_bitwise_identical_on_one_and_two_threads() {
    let run = |threads| {
        ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(workload)
    };
    let (one, two) = (run(1), run(2));
    for (i, (x, y)) in one.iter().zip(&two).enumerate() {
        let same = x.len() == y.len() && x.iter().zip(y).all(|(p, q)| p.to_bits() == q.to_bits());
        assert!(same, "result {i} differs between 1 and 2 threads");
    }
}

/// A sub-matrix read in place by its strides — a block of columns of a
/// wider matrix, transposed — gives the bits `gemm` gives on a copy of it.
#[test]
fn gemm_strided_reads_a_strided_block_as_gemm_reads_a_copy() {
    let (m, k, n, width) = (7, 25, 40, 300);
    let a = random(m * k, 1);
    // B (`[k, n]`) is columns 100..125 of a `[40, 300]` matrix,
    // transposed: element (p, j) at wide[j·300 + 100 + p].
    let wide = random(n * width, 2);
    let mut copy = vec![0.0; k * n];
    for p in 0..k {
        for j in 0..n {
            copy[p * n + j] = wide[j * width + 100 + p];
        }
    }
    for beta in [0.0, 0.5] {
        let c0 = random(m * n, 3);
        let (mut want, mut got) = (c0.clone(), c0);
        gemm(m, k, n, 1.5, &a, No, &copy, No, beta, &mut want);
        gemm_strided(
            m,
            k,
            n,
            1.5,
            &a,
            (k, 1),
            &wide[100..],
            (1, width),
            beta,
            &mut got,
            n,
        );
        assert!(got == want, "beta {beta}");
    }
}

#[test]
#[should_panic(expected = "gemm_strided: 2×3·3×4 with strides (3, 1), (1, 10), 4 reaches past")]
fn gemm_strided_refuses_strides_that_reach_past_an_operand() {
    let (a, b, mut c) = (vec![0.0; 6], vec![0.0; 30], vec![0.0; 8]);
    gemm_strided(2, 3, 4, 1.0, &a, (3, 1), &b[..30], (1, 10), 0.0, &mut c, 4);
}

#[test]
#[should_panic(expected = "gemm_strided: 2×3·3×4 with strides (3, 1), (4, 1), 6 reaches past")]
fn gemm_strided_refuses_a_c_that_its_row_stride_overruns() {
    let (a, b, mut c) = (vec![0.0; 6], vec![0.0; 12], vec![0.0; 9]);
    gemm_strided(2, 3, 4, 1.0, &a, (3, 1), &b, (4, 1), 0.0, &mut c, 6);
}

/// C given a row stride wider than n: a block of columns of a larger
/// matrix is written, the columns around it are left alone.
#[test]
fn gemm_strided_writes_a_block_of_columns() {
    let (m, k, n) = (5, 7, 3);
    let (a, b) = (random(m * k, 4), random(k * n, 5));
    let mut want = vec![0.0; m * n];
    gemm(m, k, n, 1.0, &a, No, &b, No, 0.0, &mut want);
    let mut wide = vec![9.0; m * 8];
    gemm_strided(m, k, n, 1.0, &a, (k, 1), &b, (n, 1), 0.0, &mut wide[2..], 8);
    for i in 0..m {
        assert!(wide[i * 8 + 2..][..n] == want[i * n..][..n]);
        assert!(wide[i * 8..][..2]
            .iter()
            .chain(&wide[i * 8 + 5..][..3])
            .all(|&v| v == 9.0));
    }
}

#[test]
#[should_panic(expected = "gemm_strided: strides (0, 1) and (4, 1) must be positive")]
fn gemm_strided_refuses_a_zero_stride() {
    let (a, b, mut c) = (vec![0.0; 6], vec![0.0; 12], vec![0.0; 8]);
    gemm_strided(2, 3, 4, 1.0, &a, (0, 1), &b, (4, 1), 0.0, &mut c, 4);
}

/// A product made chunk by chunk gives `gemm`'s bits: over one chunk, over
/// several with a partial last one, with slices shorter than 256 steps
/// (k = 1 800 is cut into slices of 232), and with α and β.
#[test]
fn gemm_chunked_gives_the_bits_of_gemm_on_the_whole_operands() {
    for (m, k, n, alpha, beta) in [
        (3, 5, 2, 1.0, 0.0),
        (32, 9000, 25, 1.0, 0.0),
        (64, 1800, 800, 0.7, 0.3),
        (40, 20000, 300, 1.0, 1.0),
    ] {
        let (a, b) = (random(m * k, 1), random(n * k, 2));
        let c0 = random(m * n, 3);
        let mut want = c0.clone();
        gemm(m, k, n, alpha, &a, No, &b, Yes, beta, &mut want);
        let (mut got, mut buffer, mut chunks) = (c0.clone(), Vec::new(), Vec::new());
        gemm_chunked(
            m,
            k,
            n,
            alpha,
            beta,
            &mut got,
            &mut buffer,
            |first, ac, bc| {
                let len = ac.len() / m;
                chunks.push((first, len));
                for (i, row) in ac.chunks_exact_mut(len).enumerate() {
                    row.copy_from_slice(&a[i * k + first..][..len]);
                }
                for (j, row) in bc.chunks_exact_mut(len).enumerate() {
                    row.copy_from_slice(&b[j * k + first..][..len]);
                }
            },
        );
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&got), bits(&want), "{m}×{k}×{n}");
        // The chunks cover k in order, and the larger products in several.
        let mut next = 0;
        for &(first, len) in &chunks {
            assert_eq!(first, next);
            next += len;
        }
        assert_eq!(next, k);
        assert_eq!(chunks.len() > 1, m * n > 1000, "{m}×{k}×{n}: {chunks:?}");
    }
    // No columns: C = β·C.
    let mut c = vec![2.0; 6];
    gemm_chunked(2, 0, 3, 1.0, 0.5, &mut c, &mut Vec::new(), |_, _, _| {
        unreachable!("nothing to fill")
    });
    assert_eq!(c, vec![1.0; 6]);
}

#[test]
#[should_panic(expected = "gemm_chunked: a 2×3 product needs C of 6 elements; got 5")]
fn gemm_chunked_refuses_a_c_of_the_wrong_size() {
    gemm_chunked(
        2,
        4,
        3,
        1.0,
        0.0,
        &mut [0.0; 5],
        &mut Vec::new(),
        |_, _, _| {},
    );
}

/// Products a few columns wide end in a tile that runs the kernel's half
/// width; every column is still bitwise that column of a wider product.
#[test]
fn a_column_does_not_depend_on_the_width_of_its_tile() {
    let (m, k, n) = (37, 200, 300);
    let (a, b) = (random(m * k, 12), random(k * n, 13));
    let mut whole = vec![0.0; m * n];
    gemm(m, k, n, 1.0, &a, No, &b, No, 0.0, &mut whole);
    for (start, cols) in [(0, 4), (5, 16), (3, 17), (100, 40), (0, 196)] {
        let mut part = vec![0.0; m * cols];
        gemm_strided(
            m,
            k,
            cols,
            1.0,
            &a,
            (k, 1),
            &b[start..],
            (n, 1),
            0.0,
            &mut part,
            cols,
        );
        for i in 0..m {
            assert_eq!(
                part[i * cols..][..cols],
                whole[i * n + start..][..cols],
                "columns {start}..{} of row {i}",
                start + cols
            );
        }
    }
}

/// A packed once gives every product `gemm_strided`'s bits: A as stored
/// and transposed, over several slices of k and blocks of rows, with rows
/// that do not fill a panel, and one packing read by several products.
#[test]
fn gemm_packed_gives_the_bits_of_gemm_strided() {
    let mut packed = PackedMatrix::default();
    for (m, k, n) in [
        (3, 5, 2),
        (64, 800, 196),
        (800, 64, 196),
        (150, 300, 37),
        (0, 4, 3),
    ] {
        let a = random(m * k, 21);
        for a_strides in [(k, 1), (1, m.max(1))] {
            packed.pack(m, k, &a, a_strides);
            for seed in [22, 23] {
                let b = random(k * n, seed);
                let c0 = random(m * n, 24);
                let (mut want, mut got) = (c0.clone(), c0.clone());
                gemm_strided(m, k, n, 0.5, &a, a_strides, &b, (n, 1), 1.0, &mut want, n);
                gemm_packed(&packed, n, 0.5, &b, (n, 1), 1.0, &mut got, n);
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(
                    bits(&got),
                    bits(&want),
                    "{m}×{k}×{n}, A strides {a_strides:?}"
                );
            }
        }
    }
}

#[test]
#[should_panic(
    expected = "PackedMatrix::pack: 2×3 with strides (3, 1) reaches past A (5 elements)"
)]
fn packing_a_matrix_past_its_slice_is_refused() {
    PackedMatrix::default().pack(2, 3, &[0.0; 5], (3, 1));
}

#[test]
#[should_panic(
    expected = "gemm_packed: 2×3·3×4 with strides (4, 1), 4 reaches past B or C (12, 7 elements)"
)]
fn a_packed_product_past_c_is_refused() {
    let mut packed = PackedMatrix::default();
    packed.pack(2, 3, &[0.0; 6], (3, 1));
    gemm_packed(&packed, 4, 1.0, &[0.0; 12], (4, 1), 0.0, &mut [0.0; 7], 4);
}
