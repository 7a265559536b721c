//! Matrix multiplication: `C = α·op(A)·op(B) + β·C`, `op(X) ∈ {X, Xᵀ}`.
//!
//! A transposed operand is not copied: a row-major `[r, c]` matrix read with
//! row stride 1 and column stride `c` *is* its transpose, and gradlab's GEMM
//! takes those strides directly. Its blocked, packed algorithm and SIMD
//! micro-kernels are explained in the `gemm` module's source
//! (`src/gemm/mod.rs`); this module cuts a product into tiles for threads.
//!
//! ## Parallel split
//!
//! Large products are cut into tiles of C that rayon runs on its threads,
//! either bands of rows or bands of columns. A band of rows re-packs all of
//! B (`k × n`) and its share of A; a band of columns all of A (`m × k`) and
//! its share of B. Per thread that is `m·k/t + k·n` floats against
//! `m·k + k·n/t`, so rows are cut when `n ≤ m` and columns otherwise.
//! Timed alone, with both operands hot in cache, `x·Wᵀ` (128×784 · 784×512)
//! is faster cut into rows; inside a training step, where the weight comes
//! from L3, the packing count decides, and this rule made a whole step at
//! batch 128 about 5 % faster than cutting rows whenever `n ≤ 4·m`: `x·Wᵀ`
//! packs the 100k-element batch twice instead of the 400k-element weight,
//! and `dZᵀ·x` (512×128 · 128×784) the 64k-element `dZ` instead of `x`.
//!
//! How many tiles is a trade: each extra tile packs the other operand once
//! more, but too few leave cores idle. A tile carries about 64 MFLOP, there
//! is at most one tile per 256 rows (or columns) but always at least two,
//! and the count is even, so that two cores get equal shares: the products
//! of a training step at batch 128 (67–103 MFLOP) are cut in two, 512³ in
//! two, 1024³ in four. Measured on two cores, cutting the training products
//! in four instead cost 10–17%.
//!
//! Tile boundaries are multiples of 16 rows or 32 columns (whole micro-kernel
//! panels) and depend only on the shape. Within a tile, each element of C is computed
//! in a fixed order over `k` that does not depend on where the tile starts,
//! so the result is bitwise identical for any number of threads.

use rayon::prelude::*;

use crate::gemm::{self, Product, Squares, Strided};
pub use crate::gemm::{reserve_workers, Kernel};
use crate::Tensor;

/// Whether an operand enters a product as stored or transposed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transpose {
    /// `op(X) = X`.
    No,
    /// `op(X) = Xᵀ`.
    Yes,
}

/// Products smaller than this many flops run on the calling thread.
const PARALLEL_MIN_FLOPS: usize = 4_000_000;
/// Roughly how much work one tile should carry.
const TILE_FLOPS: usize = 64_000_000;
/// The most tiles a product is cut into (even).
const MAX_TILES: usize = 16;
/// Rows (or columns) of C per extra tile: wider products are not cut finer.
const MIN_TILE: usize = 256;
/// Row tiles start at multiples of this (≥ every micro-kernel's MR).
const ALIGN: usize = 16;
/// Column tiles start at multiples of this, the widest micro-kernel's NR:
/// a column tile of any other width ends in a partly filled kernel tile.
const COL_ALIGN: usize = 32;

/// Pointers into A, B and C (and S) that may cross threads.
#[derive(Clone, Copy)]
struct Shared {
    a: Strided,
    b: Strided,
    c: *mut f32,
    squares: Squares,
}
// SAFETY: during one product A and B are only read, and each tile writes
// its own rows (or columns) of C (and S), disjoint from every other tile's.
unsafe impl Send for Shared {}
// SAFETY: as for `Send`.
unsafe impl Sync for Shared {}

/// `(row stride, column stride)` of `op(X)` for a row-major `X` of `cols`
/// columns.
fn strides(t: Transpose, cols: usize) -> (usize, usize) {
    match t {
        Transpose::No => (cols, 1),
        Transpose::Yes => (1, cols),
    }
}

/// How the product `m × k × n` is cut: `(split_rows, tile_len, tiles)`.
fn split(m: usize, k: usize, n: usize) -> (bool, usize, usize) {
    let flops = 2 * m * k * n;
    let split_rows = n <= m;
    let extent = if split_rows { m } else { n };
    if flops < PARALLEL_MIN_FLOPS || extent < 2 * ALIGN {
        return (split_rows, extent.max(1), 1);
    }
    let widest = (extent / MIN_TILE).min(MAX_TILES) / 2 * 2;
    let wanted = flops
        .div_ceil(TILE_FLOPS)
        .next_multiple_of(2)
        .min(widest)
        .max(2);
    let align = if split_rows { ALIGN } else { COL_ALIGN };
    let tile_len = extent.div_ceil(wanted).next_multiple_of(align);
    (split_rows, tile_len, extent.div_ceil(tile_len))
}

/// `C = α·op(A)·op(B) + β·C` on raw row-major slices.
///
/// `op(A)` is `m × k` (A stored `[m, k]`, or `[k, m]` when transposed),
/// `op(B)` is `k × n` (B stored `[k, n]`, or `[n, k]`), and C is `[m, n]`.
/// With `β = 0`, C's previous contents are ignored (NaNs included).
///
/// Runs on [`Kernel::best`]; see [`gemm_with`] to choose.
///
/// # Panics
/// If a slice length does not match its dimensions.
#[allow(clippy::too_many_arguments)]
pub fn gemm(
    m: usize,
    k: usize,
    n: usize,
    alpha: f32,
    a: &[f32],
    ta: Transpose,
    b: &[f32],
    tb: Transpose,
    beta: f32,
    c: &mut [f32],
) {
    gemm_with(Kernel::best(), m, k, n, alpha, a, ta, b, tb, beta, c);
}

/// `C = α·A·B + β·C` on the calling thread, for operands given by their
/// strides: element `(i, j)` of the `m × k` matrix A is `a[i·rs + j·cs]`
/// for `(rs, cs) = a_strides` (B, `k × n`, alike), and element `(i, j)` of
/// C is `c[i·c_row + j]` (`c_row = n` for a row-major `[m, n]`; wider to
/// write a block of columns of a larger matrix).
///
/// For many small products run side by side, one per task of an outer
/// parallel loop (one per example, say), where cutting each into tiles
/// would cost more than it gives; a sub-matrix of a larger one, or its
/// transpose, is read in place by its strides. Each element is computed
/// in the same order as by [`gemm`], so the result does not depend on the
/// thread it runs on.
///
/// # Panics
/// If an operand's last element lies past its slice, `c_row < n`, or a
/// stride is zero.
#[allow(clippy::too_many_arguments)]
pub fn gemm_strided(
    m: usize,
    k: usize,
    n: usize,
    alpha: f32,
    a: &[f32],
    a_strides: (usize, usize),
    b: &[f32],
    b_strides: (usize, usize),
    beta: f32,
    c: &mut [f32],
    c_row: usize,
) {
    let reaches = |(rs, cs): (usize, usize), rows: usize, cols: usize, len: usize| {
        rows == 0 || cols == 0 || (rows - 1) * rs + (cols - 1) * cs < len
    };
    assert!(
        a_strides.0 > 0 && a_strides.1 > 0 && b_strides.0 > 0 && b_strides.1 > 0,
        "gemm_strided: strides {a_strides:?} and {b_strides:?} must be positive"
    );
    assert!(
        reaches(a_strides, m, k, a.len())
            && reaches(b_strides, k, n, b.len())
            && c_row >= n
            && reaches((c_row, 1), m, n, c.len()),
        "gemm_strided: {m}×{k}·{k}×{n} with strides {a_strides:?}, {b_strides:?}, {c_row} \
         reaches past A, B or C ({}, {}, {} elements)",
        a.len(),
        b.len(),
        c.len()
    );
    let a = Strided {
        ptr: a.as_ptr(),
        rs: a_strides.0,
        cs: a_strides.1,
    };
    // SAFETY: every element A, B and C are read or written at was checked
    // to lie within its slice above; C is borrowed mutably, so no one else
    // touches it.
    unsafe { on_this_thread((m, k, n), alpha, (a, None), b, b_strides, beta, c, c_row) };
}

/// `C = α·A·B + β·C` on the calling thread with [`Kernel::best`], A read
/// through its strides or, when given, from its packed blocks.
///
/// # Safety
/// A (or its packing, for this `m × k` on this kernel), B and C are valid
/// for their dimensions and strides, and no one else touches C.
#[allow(clippy::too_many_arguments)]
unsafe fn on_this_thread(
    (m, k, n): (usize, usize, usize),
    alpha: f32,
    (a, packed_a): (Strided, Option<*const f32>),
    b: &[f32],
    b_strides: (usize, usize),
    beta: f32,
    c: &mut [f32],
    c_row: usize,
) {
    if m == 0 || n == 0 {
        return;
    }
    let product = Product {
        m,
        k,
        n,
        alpha,
        a,
        b: Strided {
            ptr: b.as_ptr(),
            rs: b_strides.0,
            cs: b_strides.1,
        },
        beta,
        c: c.as_mut_ptr(),
        rsc: c_row,
        slice: gemm::slice_len(k),
        packed_a,
        squares: Squares::No,
    };
    // SAFETY: as the caller promised; `best` only returns a kernel this
    // CPU runs.
    unsafe { gemm::run(Kernel::best(), &product) };
}

/// About how many bytes of operands [`gemm_chunked`] makes per chunk: well
/// inside the last-level cache, so that they are still there when the
/// product reads them.
const CHUNK_BYTES: usize = 4 << 20;

/// `C = α·A·Bᵀ + β·C` over a shared dimension too long to hold the
/// operands whole: A is `m × k` and B `n × k`, and `fill(first, a, b)`
/// writes their columns `first..first + len` into `a` (`[m, len]`,
/// row-major) and `b` (`[n, len]`), chunk after chunk, each multiplied
/// while it is in cache. `buffer` holds the two chunks (it grows on the
/// first call only); `fill` may run in parallel itself.
///
/// For a convolution's weight gradient (`dW = dY·colsᵀ`): B is the batch's
/// windows, `[K, B·P]` in all, made from the input as they are needed
/// instead of being written to memory and read back.
///
/// The chunks are whole slices of the GEMM's cut of `k` (about
/// `CHUNK_BYTES` of operands each, or all of `k`), added in order: every
/// element of C is the same sum in the same order as [`gemm`]`(m, k, n, α,
/// A, No, B, Yes, β, C)` gives, bit for bit.
///
/// # Panics
/// If `c` does not hold `m·n` elements.
#[allow(clippy::too_many_arguments)]
pub fn gemm_chunked(
    m: usize,
    k: usize,
    n: usize,
    alpha: f32,
    beta: f32,
    c: &mut [f32],
    buffer: &mut Vec<f32>,
    mut fill: impl FnMut(usize, &mut [f32], &mut [f32]),
) {
    assert!(
        c.len() == m * n,
        "gemm_chunked: a {m}×{n} product needs C of {} elements; got {}",
        m * n,
        c.len()
    );
    let slice = gemm::slice_len(k);
    let per_step = (m + n).max(1) * size_of::<f32>();
    let chunk = (CHUNK_BYTES / (per_step * slice)).max(1) * slice;
    let chunk = chunk.min(k);
    if buffer.len() < (m + n) * chunk {
        buffer.resize((m + n) * chunk, 0.0);
    }
    if k == 0 {
        // No columns: C = β·C, as `gemm` leaves it.
        gemm(
            m,
            0,
            n,
            alpha,
            &[],
            Transpose::No,
            &[],
            Transpose::Yes,
            beta,
            c,
        );
        return;
    }
    for first in (0..k).step_by(chunk) {
        let len = chunk.min(k - first);
        let (a, rest) = buffer.split_at_mut(m * len);
        let b = &mut rest[..n * len];
        fill(first, a, b);
        let operands = Operands {
            a,
            ta: Transpose::No,
            b,
            tb: Transpose::Yes,
            squares: Squares::No,
        };
        // After the first chunk, each adds to what the earlier ones wrote.
        let beta = if first == 0 { beta } else { 1.0 };
        product(Kernel::best(), m, len, n, alpha, operands, beta, c, slice);
    }
}

/// The left operand of many products, packed once for the GEMM: a
/// convolution's filters, multiplied by every example's windows in turn,
/// are packed once per step instead of once per example.
#[derive(Default)]
pub struct PackedMatrix {
    /// The packed blocks, from `start` on (a cache line boundary).
    data: Vec<f32>,
    start: usize,
    m: usize,
    k: usize,
}

impl PackedMatrix {
    /// Packs the `m × k` matrix whose element `(i, j)` is
    /// `a[i·rs + j·cs]` for `(rs, cs) = a_strides`, reusing the buffer
    /// (it grows only when a larger matrix comes).
    ///
    /// # Panics
    /// If a stride is zero or the last element lies past `a`.
    pub fn pack(&mut self, m: usize, k: usize, a: &[f32], a_strides: (usize, usize)) {
        let (rs, cs) = a_strides;
        assert!(
            rs > 0 && cs > 0 && (m == 0 || k == 0 || (m - 1) * rs + (k - 1) * cs < a.len()),
            "PackedMatrix::pack: {m}×{k} with strides {a_strides:?} reaches past A ({} elements)",
            a.len()
        );
        let kernel = Kernel::best();
        let len = gemm::prepacked_len(kernel, m, k);
        let slack = gemm::SLACK;
        if self.data.len() < len + slack {
            self.data.resize(len + slack, 0.0);
        }
        let addr = self.data.as_ptr() as usize;
        self.start = (addr.next_multiple_of(64) - addr) / size_of::<f32>();
        (self.m, self.k) = (m, k);
        let a = Strided {
            ptr: a.as_ptr(),
            rs,
            cs,
        };
        // SAFETY: A was checked above; the buffer holds `len` floats from
        // `start`; `best` only returns a kernel this CPU runs.
        unsafe { gemm::prepack(kernel, m, k, a, self.data.as_mut_ptr().add(self.start)) };
    }
}

/// [`gemm_strided`] with A packed ahead: `C = α·A·B + β·C` on the calling
/// thread, A the `m × k` matrix of `a`, B (`k × n`) and C as there. Each
/// element is computed as [`gemm_strided`] computes it, bit for bit.
///
/// # Panics
/// As [`gemm_strided`].
#[allow(clippy::too_many_arguments)]
pub fn gemm_packed(
    a: &PackedMatrix,
    n: usize,
    alpha: f32,
    b: &[f32],
    b_strides: (usize, usize),
    beta: f32,
    c: &mut [f32],
    c_row: usize,
) {
    let (m, k) = (a.m, a.k);
    let reaches = |(rs, cs): (usize, usize), rows: usize, cols: usize, len: usize| {
        rows == 0 || cols == 0 || (rows - 1) * rs + (cols - 1) * cs < len
    };
    assert!(
        b_strides.0 > 0
            && b_strides.1 > 0
            && reaches(b_strides, k, n, b.len())
            && c_row >= n
            && reaches((c_row, 1), m, n, c.len()),
        "gemm_packed: {m}×{k}·{k}×{n} with strides {b_strides:?}, {c_row} reaches past B or C \
         ({}, {} elements)",
        b.len(),
        c.len()
    );
    // Not read: A comes packed.
    let unread = Strided {
        ptr: std::ptr::null(),
        rs: 0,
        cs: 0,
    };
    // SAFETY: `start` lies within `data`; B and C were checked above, A
    // was packed for m × k on the same kernel (`best` does not change), C
    // is borrowed mutably.
    unsafe {
        let packed = a.data.as_ptr().add(a.start);
        on_this_thread(
            (m, k, n),
            alpha,
            (unread, Some(packed)),
            b,
            b_strides,
            beta,
            c,
            c_row,
        );
    }
}

/// The operands of a product, as the public entry points take them.
struct Operands<'a> {
    a: &'a [f32],
    ta: Transpose,
    b: &'a [f32],
    tb: Transpose,
    /// Products of the elementwise squares of A and B wanted.
    squares: Squares,
}

/// [`gemm`] on a chosen micro-kernel, e.g. to compare
/// [`Kernel::Portable`] with the SIMD ones.
///
/// Kernels may differ in the last bits of a result (the portable one rounds
/// each product before adding it, the SIMD ones fuse the two); each is
/// deterministic on its own, whatever the number of threads.
///
/// # Panics
/// If a slice length does not match its dimensions, or this CPU cannot run
/// `kernel`.
#[allow(clippy::too_many_arguments)]
pub fn gemm_with(
    kernel: Kernel,
    m: usize,
    k: usize,
    n: usize,
    alpha: f32,
    a: &[f32],
    ta: Transpose,
    b: &[f32],
    tb: Transpose,
    beta: f32,
    c: &mut [f32],
) {
    let operands = Operands {
        a,
        ta,
        b,
        tb,
        squares: Squares::No,
    };
    product(
        kernel,
        m,
        k,
        n,
        alpha,
        operands,
        beta,
        c,
        gemm::slice_len(k),
    );
}

/// `C = α·op(A)·op(B) + β·C`, or with the squares of A and B, the shared
/// dimension cut into slices of `slice` steps.
#[allow(clippy::too_many_arguments)]
fn product(
    kernel: Kernel,
    m: usize,
    k: usize,
    n: usize,
    alpha: f32,
    operands: Operands,
    beta: f32,
    c: &mut [f32],
    slice: usize,
) {
    let Operands {
        a,
        ta,
        b,
        tb,
        squares,
    } = operands;
    assert!(
        a.len() == m * k && b.len() == k * n && c.len() == m * n,
        "gemm: {m}×{k}·{k}×{n} needs A, B, C of {}, {}, {} elements; got {}, {}, {}",
        m * k,
        k * n,
        m * n,
        a.len(),
        b.len(),
        c.len()
    );
    assert!(
        kernel.is_available(),
        "gemm: this CPU cannot run the {kernel:?} kernel"
    );
    if m == 0 || n == 0 {
        return;
    }
    let (rsa, csa) = strides(ta, if ta == Transpose::No { k } else { m });
    let (rsb, csb) = strides(tb, if tb == Transpose::No { n } else { k });
    let (split_rows, tile_len, tiles) = split(m, k, n);
    let shared = Shared {
        a: Strided {
            ptr: a.as_ptr(),
            rs: rsa,
            cs: csa,
        },
        b: Strided {
            ptr: b.as_ptr(),
            rs: rsb,
            cs: csb,
        },
        c: c.as_mut_ptr(),
        squares,
    };
    let run = |t: usize| {
        // Binding `shared` whole makes the closure capture the `Sync`
        // wrapper rather than its raw-pointer fields.
        let Shared { a, b, c, squares } = { shared };
        let start = t * tile_len;
        let end = ((t + 1) * tile_len).min(if split_rows { m } else { n });
        // SAFETY: the slices were checked against m, k, n above and the
        // kernel against the CPU; tile `t` reads within A and B and writes
        // only its own rows (or columns) of C, disjoint from every other
        // tile's.
        unsafe {
            let (mt, nt, a, b, offset) = if split_rows {
                (
                    end - start,
                    n,
                    Strided {
                        ptr: a.ptr.add(start * a.rs),
                        ..a
                    },
                    b,
                    start * n,
                )
            } else {
                (
                    m,
                    end - start,
                    a,
                    Strided {
                        ptr: b.ptr.add(start * b.cs),
                        ..b
                    },
                    start,
                )
            };
            let squares = match squares {
                Squares::Also { s, alpha } => Squares::Also {
                    s: s.add(offset),
                    alpha,
                },
                other => other,
            };
            let c = c.add(offset);
            gemm::run(
                kernel,
                &Product {
                    m: mt,
                    k,
                    n: nt,
                    alpha,
                    a,
                    b,
                    beta,
                    c,
                    rsc: n,
                    slice,
                    packed_a: None,
                    squares,
                },
            );
        }
    };
    if tiles == 1 {
        run(0);
    } else {
        (0..tiles).into_par_iter().for_each(run);
    }
}

/// `(m, k, n)` of `op(a)·op(b)`, or a panic naming `name` and both operands
/// if the inner dimensions differ.
fn product_dims(a: &Tensor, ta: Transpose, b: &Tensor, tb: Transpose, name: &str) -> [usize; 3] {
    let (m, k) = op_dims(a, ta, name);
    let (k2, n) = op_dims(b, tb, name);
    assert!(
        k == k2,
        "{name}: cannot multiply {} by {} (inner dimensions {k} and {k2} differ)",
        describe(a.shape(), ta),
        describe(b.shape(), tb)
    );
    [m, k, n]
}

/// Readies `out` for an `m × n` result: resized when `β = 0` (its contents
/// are ignored), else it must already be `m × n` (it is accumulated into).
fn ready_output(out: &mut Tensor, m: usize, n: usize, beta: f32, name: &str) {
    if beta == 0.0 {
        out.resize_for(&[m, n]);
    } else {
        assert!(
            out.shape() == [m, n],
            "{name}: cannot accumulate a [{m}, {n}] product into {:?}",
            out.shape()
        );
    }
}

fn op_dims(x: &Tensor, t: Transpose, name: &str) -> (usize, usize) {
    let (r, c) = x.dims2(name);
    match t {
        Transpose::No => (r, c),
        Transpose::Yes => (c, r),
    }
}

fn describe(shape: &[usize], t: Transpose) -> String {
    match t {
        Transpose::No => format!("{shape:?}"),
        Transpose::Yes => format!("{shape:?}ᵀ"),
    }
}

impl Tensor {
    /// `op(self)·op(other)` for 2-D tensors.
    ///
    /// # Panics
    /// If the inner dimensions differ; the message names both operands.
    pub fn matmul(&self, ta: Transpose, other: &Tensor, tb: Transpose) -> Tensor {
        let mut out = Tensor::zeros(&[]);
        self.matmul_into(ta, other, tb, 1.0, 0.0, &mut out);
        out
    }

    /// `out = α·op(self)·op(other) + β·out`, reusing `out`'s buffer.
    ///
    /// With `β = 0`, `out` is resized to the product's shape and overwritten;
    /// otherwise it must already have that shape (this is how gradients
    /// accumulate).
    pub fn matmul_into(
        &self,
        ta: Transpose,
        other: &Tensor,
        tb: Transpose,
        alpha: f32,
        beta: f32,
        out: &mut Tensor,
    ) {
        let [m, k, n] = product_dims(self, ta, other, tb, "matmul");
        ready_output(out, m, n, beta, "matmul");
        gemm(
            m,
            k,
            n,
            alpha,
            self.data(),
            ta,
            other.data(),
            tb,
            beta,
            out.data_mut(),
        );
    }

    /// `out = α·op(self)²·op(other)²`, the product of the elementwise
    /// squares, overwriting `out`. The squares are taken as the operands are
    /// packed for the kernel, so no squared copy is made.
    ///
    /// This is the per-example second moment of a weight gradient:
    /// `Σ_b (x_bᵀ δ_b)² = (x²)ᵀ·(δ²)` elementwise.
    ///
    /// # Panics
    /// As [`matmul_into`](Tensor::matmul_into).
    pub fn matmul_squares_into(
        &self,
        ta: Transpose,
        other: &Tensor,
        tb: Transpose,
        alpha: f32,
        out: &mut Tensor,
    ) {
        let [m, k, n] = product_dims(self, ta, other, tb, "matmul_squares");
        ready_output(out, m, n, 0.0, "matmul_squares");
        let operands = Operands {
            a: self.data(),
            ta,
            b: other.data(),
            tb,
            squares: Squares::Instead,
        };
        product(
            Kernel::best(),
            m,
            k,
            n,
            alpha,
            operands,
            0.0,
            out.data_mut(),
            gemm::slice_len(k),
        );
    }

    /// `out = op(self)·op(other) + β·out` (as [`matmul_into`] with α = 1)
    /// and `out_sq = α_sq·op(self)²·op(other)²`, in one pass: each packed
    /// block of the operands serves both products, squared in cache for the
    /// second. A weight gradient and its per-example second moment come out
    /// of one call.
    ///
    /// [`matmul_into`]: Tensor::matmul_into
    ///
    /// # Panics
    /// As [`matmul_into`](Tensor::matmul_into).
    #[allow(clippy::too_many_arguments)]
    pub fn matmul_with_squares_into(
        &self,
        ta: Transpose,
        other: &Tensor,
        tb: Transpose,
        beta: f32,
        out: &mut Tensor,
        alpha_sq: f32,
        out_sq: &mut Tensor,
    ) {
        let [m, k, n] = product_dims(self, ta, other, tb, "matmul_with_squares");
        ready_output(out, m, n, beta, "matmul_with_squares");
        ready_output(out_sq, m, n, 0.0, "matmul_with_squares");
        let operands = Operands {
            a: self.data(),
            ta,
            b: other.data(),
            tb,
            squares: Squares::Also {
                s: out_sq.data_mut().as_mut_ptr(),
                alpha: alpha_sq,
            },
        };
        let slice = gemm::slice_len(k);
        product(
            Kernel::best(),
            m,
            k,
            n,
            1.0,
            operands,
            beta,
            out.data_mut(),
            slice,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_is_aligned_and_covers_the_extent() {
        for &(m, k, n) in &[
            (128, 784, 512),
            (784, 128, 512),
            (128, 512, 784),
            (1024, 1024, 1024),
            (33, 513, 129),
        ] {
            let (rows, len, tiles) = split(m, k, n);
            let extent = if rows { m } else { n };
            let align = if rows { ALIGN } else { COL_ALIGN };
            assert!(tiles == 1 || len % align == 0);
            assert!(tiles * len >= extent && (tiles - 1) * len < extent);
        }
        assert_eq!(split(4, 4, 4).2, 1);
    }

    #[test]
    fn training_products_are_halved() {
        // (m, k, n) → (split rows?, tiles)
        for &((m, k, n), want) in &[
            ((128, 784, 512), (false, 2)),
            ((784, 128, 512), (true, 2)),
            ((128, 512, 784), (false, 2)),
            ((512, 128, 784), (false, 2)),
            ((512, 128, 512), (true, 2)),
            ((512, 512, 512), (true, 2)),
            ((1024, 1024, 1024), (true, 4)),
            ((128, 512, 10), (true, 1)),
        ] {
            let (rows, _, tiles) = split(m, k, n);
            assert_eq!((rows, tiles), want, "{m}×{k}×{n}");
        }
    }

    #[test]
    #[should_panic(
        expected = "matmul: cannot multiply [2, 3] by [2, 3] (inner dimensions 3 and 2 differ)"
    )]
    fn inner_dimension_mismatch_names_both_shapes() {
        Tensor::zeros(&[2, 3]).matmul(Transpose::No, &Tensor::zeros(&[2, 3]), Transpose::No);
    }

    #[test]
    #[should_panic(expected = "matmul: cannot accumulate a [2, 4] product into [4, 2]")]
    fn accumulating_into_the_wrong_shape_names_both() {
        let (a, b) = (Tensor::zeros(&[2, 3]), Tensor::zeros(&[3, 4]));
        let mut c = Tensor::zeros(&[4, 2]);
        a.matmul_into(Transpose::No, &b, Transpose::No, 1.0, 1.0, &mut c);
    }

    #[test]
    fn accumulates_with_beta() {
        let a = Tensor::from_vec(vec![1.0, 2.0], &[1, 2]);
        let b = Tensor::from_vec(vec![3.0, 4.0], &[2, 1]);
        let mut c = Tensor::from_vec(vec![10.0], &[1, 1]);
        a.matmul_into(Transpose::No, &b, Transpose::No, 2.0, 0.5, &mut c);
        assert_eq!(c.data(), &[2.0 * 11.0 + 5.0]);
    }
}
