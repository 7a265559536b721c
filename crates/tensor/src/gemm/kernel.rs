//! Micro-kernels: the innermost `MR × NR` block of `C += A·B`.
//!
//! A micro-kernel reads one packed `MR × kc` panel of A (stored column by
//! column: `MR` values for `p = 0`, then `MR` for `p = 1`, …) and one packed
//! `kc × NR` panel of B (row by row), and computes the `MR × NR` outer-product
//! sum `Σ_p a[:, p] · b[p, :]` in registers. Only at the end does it touch C,
//! once: `C = α·acc + β·C`. Everything else in the gemm exists to feed these
//! loads from L1 cache.
//!
//! Each accumulator sums its `kc` products in increasing `p`, one after the
//! other. That order is the same wherever the tile sits in C, which is what
//! makes the product independent of how C is cut into tiles and threads.

/// A micro-kernel shape and its implementation.
pub(crate) trait MicroKernel {
    /// Rows of C per call (the height of a packed A panel).
    const MR: usize;
    /// Columns of C per call (the width of a packed B panel).
    const NR: usize;

    /// `C = α·(A·B) + β·C` for one `MR × NR` tile, where `A·B` sums `kc`
    /// outer products of the packed panels. With `β = 0`, C is only written.
    ///
    /// # Safety
    /// `a` holds `MR·kc` and `b` `kc·NR` readable floats; `c` points to an
    /// `MR × NR` block, row stride `rsc`, column stride 1, that is writable
    /// (and readable when `β ≠ 0`); the CPU supports the kernel's features.
    unsafe fn run(
        kc: usize,
        alpha: f32,
        a: *const f32,
        b: *const f32,
        beta: f32,
        c: *mut f32,
        rsc: usize,
    );

    /// [`run`](Self::run) for a tile of which only the first `NR/2`
    /// columns are wanted (an edge of C): those columns, each element
    /// summed exactly as `run` sums it; the others are left as they were.
    /// Kernels whose half-width tile is cheaper override it.
    ///
    /// # Safety
    /// As [`run`](Self::run).
    #[inline(always)]
    unsafe fn run_left_half(
        kc: usize,
        alpha: f32,
        a: *const f32,
        b: *const f32,
        beta: f32,
        c: *mut f32,
        rsc: usize,
    ) {
        // SAFETY: forwarded.
        unsafe { Self::run(kc, alpha, a, b, beta, c, rsc) }
    }

    /// Transposes an 8 × 8 block: `dst[s·ds + i] = src[i·ss + s]`.
    ///
    /// Packing uses it for operands whose panels run across the source's
    /// rows (A as stored, `Bᵀ`); kernels override it with SIMD shuffles.
    ///
    /// # Safety
    /// Both blocks are valid for their strides and do not overlap; the CPU
    /// supports the kernel's features.
    #[inline(always)]
    unsafe fn transpose8x8(src: *const f32, ss: usize, dst: *mut f32, ds: usize) {
        for i in 0..8 {
            for s in 0..8 {
                // SAFETY: both elements lie in their 8 × 8 blocks.
                unsafe { *dst.add(s * ds + i) = *src.add(i * ss + s) };
            }
        }
    }
}

/// The plain-Rust kernel for any CPU, `4 × 8`.
///
/// Written so that the compiler can keep the 32 accumulators in vector
/// registers with the baseline instruction set (SSE2 on x86-64: eight 4-lane
/// accumulators, two B vectors and a broadcast A value fit its 16 registers;
/// NEON on aarch64 has twice as many). Products are rounded before they are
/// added — no fused multiply-add, which baseline x86-64 lacks.
pub(crate) struct Portable;

impl MicroKernel for Portable {
    const MR: usize = 4;
    const NR: usize = 8;

    #[inline]
    unsafe fn run(
        kc: usize,
        alpha: f32,
        a: *const f32,
        b: *const f32,
        beta: f32,
        c: *mut f32,
        rsc: usize,
    ) {
        const MR: usize = Portable::MR;
        const NR: usize = Portable::NR;
        // SAFETY: the caller guarantees the panel lengths.
        let (a, b) = unsafe {
            (
                std::slice::from_raw_parts(a, MR * kc),
                std::slice::from_raw_parts(b, kc * NR),
            )
        };
        let mut acc = [[0.0f32; NR]; MR];
        for (ap, bp) in a.chunks_exact(MR).zip(b.chunks_exact(NR)) {
            for (row, &ai) in acc.iter_mut().zip(ap) {
                for (x, &bj) in row.iter_mut().zip(bp) {
                    *x += ai * bj;
                }
            }
        }
        for (i, row) in acc.iter().enumerate() {
            // SAFETY: row `i < MR` of the caller's MR × NR block of C.
            let c = unsafe { std::slice::from_raw_parts_mut(c.add(i * rsc), NR) };
            if beta == 0.0 {
                for (cj, &x) in c.iter_mut().zip(row) {
                    *cj = alpha * x;
                }
            } else {
                for (cj, &x) in c.iter_mut().zip(row) {
                    *cj = alpha * x + beta * *cj;
                }
            }
        }
    }
}

/// The x86-64 AVX2 + FMA kernel, `6 × 16`.
///
/// Register budget (16 `ymm` registers of 8 floats): the 6 × 16 tile of C is
/// 12 accumulators (6 rows × 2 vectors), the current row of the B panel takes
/// 2, and the broadcast A value 1 — 15 in all. Per step `p` that is 12 FMAs
/// for 2 loads of B and 6 broadcasts of A: enough independent FMAs to cover
/// their 4-cycle latency on two FMA ports, and few enough loads that the
/// load ports are never the bottleneck. A square 8 × 8 tile would do only 8
/// FMAs for its 9 loads, with just enough accumulators to hide the latency.
#[cfg(target_arch = "x86_64")]
pub(crate) struct Avx2Fma;

#[cfg(target_arch = "x86_64")]
impl MicroKernel for Avx2Fma {
    const MR: usize = 6;
    const NR: usize = 16;

    #[inline]
    unsafe fn run(
        kc: usize,
        alpha: f32,
        a: *const f32,
        b: *const f32,
        beta: f32,
        c: *mut f32,
        rsc: usize,
    ) {
        // SAFETY: forwarded from the caller, who checked AVX2 and FMA.
        unsafe { avx2_fma_6x16(kc, alpha, a, b, beta, c, rsc) }
    }

    #[inline(always)]
    unsafe fn transpose8x8(src: *const f32, ss: usize, dst: *mut f32, ds: usize) {
        // SAFETY: forwarded.
        unsafe { transpose8x8_avx(src, ss, dst, ds) }
    }
}

/// See [`Avx2Fma`].
///
/// # Safety
/// As [`MicroKernel::run`]; the CPU supports AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn avx2_fma_6x16(
    kc: usize,
    alpha: f32,
    a: *const f32,
    b: *const f32,
    beta: f32,
    c: *mut f32,
    rsc: usize,
) {
    use std::arch::x86_64::*;

    // SAFETY (whole body): every load stays within the `6·kc` floats of the
    // A panel and the `kc·16` of the B panel, every store within the 6 × 16
    // block of C the caller handed us; unaligned loads and stores are used,
    // so no alignment is assumed.
    unsafe {
        let mut acc = [[_mm256_setzero_ps(); 2]; 6];
        let (mut a, mut b) = (a, b);
        for _ in 0..kc {
            let b0 = _mm256_loadu_ps(b);
            let b1 = _mm256_loadu_ps(b.add(8));
            for (i, row) in acc.iter_mut().enumerate() {
                let ai = _mm256_broadcast_ss(&*a.add(i));
                row[0] = _mm256_fmadd_ps(ai, b0, row[0]);
                row[1] = _mm256_fmadd_ps(ai, b1, row[1]);
            }
            a = a.add(6);
            b = b.add(16);
        }
        let alpha = _mm256_set1_ps(alpha);
        for (i, row) in acc.iter().enumerate() {
            let c = c.add(i * rsc);
            let (x0, x1) = (_mm256_mul_ps(alpha, row[0]), _mm256_mul_ps(alpha, row[1]));
            if beta == 0.0 {
                _mm256_storeu_ps(c, x0);
                _mm256_storeu_ps(c.add(8), x1);
            } else {
                let beta = _mm256_set1_ps(beta);
                _mm256_storeu_ps(c, _mm256_fmadd_ps(beta, _mm256_loadu_ps(c), x0));
                _mm256_storeu_ps(
                    c.add(8),
                    _mm256_fmadd_ps(beta, _mm256_loadu_ps(c.add(8)), x1),
                );
            }
        }
    }
}

/// The x86-64 AVX-512 kernel, `8 × 32`.
///
/// Register budget (32 `zmm` registers of 16 floats): the 8 × 32 tile of C
/// is 16 accumulators (8 rows × 2 vectors), the current row of the B panel
/// takes 2, the broadcast A value 1 — 19 in all. Per step `p` that is 16
/// FMAs (8 cycles on two 512-bit FMA ports) against 2 loads of B and 8
/// broadcasts of A: 16 independent accumulators cover the FMA latency twice
/// over, and the loads leave the load ports idle half the time.
///
/// Taller tiles (12 or 14 rows, 24 or 28 accumulators) load less per FMA,
/// but measured slower on the training shapes: 8 rows divide a batch of
/// 128 exactly, and an 8-row panel of A packs with whole 8 × 8 transposes.
#[cfg(target_arch = "x86_64")]
pub(crate) struct Avx512;

#[cfg(target_arch = "x86_64")]
impl MicroKernel for Avx512 {
    const MR: usize = 8;
    const NR: usize = 32;

    #[inline]
    unsafe fn run(
        kc: usize,
        alpha: f32,
        a: *const f32,
        b: *const f32,
        beta: f32,
        c: *mut f32,
        rsc: usize,
    ) {
        // SAFETY: forwarded from the caller, who checked AVX-512F.
        unsafe { avx512_8x32(kc, alpha, a, b, beta, c, rsc) }
    }

    /// Half the FMAs of [`run`](Self::run): a convolution's products over
    /// 196 positions end in a panel of 4 columns.
    #[inline]
    unsafe fn run_left_half(
        kc: usize,
        alpha: f32,
        a: *const f32,
        b: *const f32,
        beta: f32,
        c: *mut f32,
        rsc: usize,
    ) {
        // SAFETY: forwarded from the caller, who checked AVX-512F.
        unsafe { avx512_8x16(kc, alpha, a, b, beta, c, rsc) }
    }

    #[inline(always)]
    unsafe fn transpose8x8(src: *const f32, ss: usize, dst: *mut f32, ds: usize) {
        // SAFETY: forwarded; AVX-512F implies AVX.
        unsafe { transpose8x8_avx(src, ss, dst, ds) }
    }
}

/// See [`Avx512`].
///
/// # Safety
/// As [`MicroKernel::run`]; the CPU supports AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn avx512_8x32(
    kc: usize,
    alpha: f32,
    a: *const f32,
    b: *const f32,
    beta: f32,
    c: *mut f32,
    rsc: usize,
) {
    use std::arch::x86_64::*;

    // SAFETY (whole body): every load stays within the `8·kc` floats of the
    // A panel and the `kc·32` of the B panel, every store within the 8 × 32
    // block of C the caller handed us; unaligned loads and stores are used,
    // so no alignment is assumed.
    unsafe {
        let mut acc = [[_mm512_setzero_ps(); 2]; 8];
        let (mut a, mut b) = (a, b);
        for _ in 0..kc {
            let b0 = _mm512_loadu_ps(b);
            let b1 = _mm512_loadu_ps(b.add(16));
            for (i, row) in acc.iter_mut().enumerate() {
                let ai = _mm512_set1_ps(*a.add(i));
                row[0] = _mm512_fmadd_ps(ai, b0, row[0]);
                row[1] = _mm512_fmadd_ps(ai, b1, row[1]);
            }
            a = a.add(8);
            b = b.add(32);
        }
        let alpha = _mm512_set1_ps(alpha);
        for (i, row) in acc.iter().enumerate() {
            let c = c.add(i * rsc);
            let (x0, x1) = (_mm512_mul_ps(alpha, row[0]), _mm512_mul_ps(alpha, row[1]));
            if beta == 0.0 {
                _mm512_storeu_ps(c, x0);
                _mm512_storeu_ps(c.add(16), x1);
            } else {
                let beta = _mm512_set1_ps(beta);
                _mm512_storeu_ps(c, _mm512_fmadd_ps(beta, _mm512_loadu_ps(c), x0));
                _mm512_storeu_ps(
                    c.add(16),
                    _mm512_fmadd_ps(beta, _mm512_loadu_ps(c.add(16)), x1),
                );
            }
        }
    }
}

/// The left 8 × 16 of [`avx512_8x32`]'s tile, from the same 32-wide B
/// panel: each of its accumulators runs the same FMAs in the same order.
///
/// # Safety
/// As [`MicroKernel::run`]; the CPU supports AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn avx512_8x16(
    kc: usize,
    alpha: f32,
    a: *const f32,
    b: *const f32,
    beta: f32,
    c: *mut f32,
    rsc: usize,
) {
    use std::arch::x86_64::*;

    // SAFETY (whole body): as in `avx512_8x32`, reading the first 16 of
    // each 32 floats of the B panel and storing the first 16 of each row.
    unsafe {
        let mut acc = [_mm512_setzero_ps(); 8];
        let (mut a, mut b) = (a, b);
        for _ in 0..kc {
            let b0 = _mm512_loadu_ps(b);
            for (i, row) in acc.iter_mut().enumerate() {
                *row = _mm512_fmadd_ps(_mm512_set1_ps(*a.add(i)), b0, *row);
            }
            a = a.add(8);
            b = b.add(32);
        }
        let alpha = _mm512_set1_ps(alpha);
        for (i, row) in acc.iter().enumerate() {
            let c = c.add(i * rsc);
            let x = _mm512_mul_ps(alpha, *row);
            if beta == 0.0 {
                _mm512_storeu_ps(c, x);
            } else {
                let beta = _mm512_set1_ps(beta);
                _mm512_storeu_ps(c, _mm512_fmadd_ps(beta, _mm512_loadu_ps(c), x));
            }
        }
    }
}

/// [`MicroKernel::transpose8x8`] in AVX shuffles: eight row loads, three
/// rounds of eight shuffles, eight row stores.
///
/// # Safety
/// As [`MicroKernel::transpose8x8`]; the CPU supports AVX.
#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "avx")]
unsafe fn transpose8x8_avx(src: *const f32, ss: usize, dst: *mut f32, ds: usize) {
    use std::arch::x86_64::*;

    // SAFETY: rows `i < 8` of both blocks hold 8 floats each.
    unsafe {
        let r: [__m256; 8] = std::array::from_fn(|i| _mm256_loadu_ps(src.add(i * ss)));
        // Interleave pairs of rows, then pairs of pairs, then 128-bit halves.
        let t = [
            _mm256_unpacklo_ps(r[0], r[1]),
            _mm256_unpackhi_ps(r[0], r[1]),
            _mm256_unpacklo_ps(r[2], r[3]),
            _mm256_unpackhi_ps(r[2], r[3]),
            _mm256_unpacklo_ps(r[4], r[5]),
            _mm256_unpackhi_ps(r[4], r[5]),
            _mm256_unpacklo_ps(r[6], r[7]),
            _mm256_unpackhi_ps(r[6], r[7]),
        ];
        let u = [
            _mm256_shuffle_ps::<0x44>(t[0], t[2]),
            _mm256_shuffle_ps::<0xEE>(t[0], t[2]),
            _mm256_shuffle_ps::<0x44>(t[1], t[3]),
            _mm256_shuffle_ps::<0xEE>(t[1], t[3]),
            _mm256_shuffle_ps::<0x44>(t[4], t[6]),
            _mm256_shuffle_ps::<0xEE>(t[4], t[6]),
            _mm256_shuffle_ps::<0x44>(t[5], t[7]),
            _mm256_shuffle_ps::<0xEE>(t[5], t[7]),
        ];
        for s in 0..4 {
            _mm256_storeu_ps(
                dst.add(s * ds),
                _mm256_permute2f128_ps::<0x20>(u[s], u[s + 4]),
            );
            _mm256_storeu_ps(
                dst.add((s + 4) * ds),
                _mm256_permute2f128_ps::<0x31>(u[s], u[s + 4]),
            );
        }
    }
}
