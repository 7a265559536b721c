//! gradlab's single-precision GEMM: `C = α·A·B + β·C` on strided matrices,
//! on one thread, blocked for the caches in the style of BLIS.
//!
//! ## Why not three nested loops
//!
//! A core can do two 8- or 16-wide fused multiply-adds per cycle, but only if
//! the operands are already in registers or L1. The naive `i, j, p` loop
//! loads two floats per multiply-add and runs at the speed of memory, 10–50×
//! below the arithmetic peak. The cure is reuse: every value brought into a
//! register should meet many others before it leaves.
//!
//! ## The five loops
//!
//! ```text
//! for each NC-wide block of columns of C           (jc)
//!   for each KC-long slice of the shared dimension (pc)
//!     pack B[pc.., jc..] (KC × NC) into NR-wide panels      → stays in L2
//!     for each MC-tall block of rows of C          (ic)
//!       pack A[ic.., pc..] (MC × KC) into MR-tall panels    → stays in L2
//!       for each NR-wide panel of the packed B     (jr)     → stays in L1
//!         for each MR-tall panel of the packed A   (ir)
//!           micro-kernel: C[MR × NR] = α·Σ_p a[:, p]·b[p, :] + β·C
//! ```
//!
//! The micro-kernel (see `kernel.rs`) keeps its `MR × NR` piece of C in
//! registers for all `KC` steps: per step it loads `MR + NR` floats and does
//! `MR·NR` multiply-adds. Around it, each loop keeps one operand in the cache
//! level where it will be read again: a `KC × NR` panel of B is reused by
//! every A panel of the block, so it stays in L1; the `MC × KC` block of A is
//! reused by every B panel, so it stays in L2.
//!
//! **Packing** (see `pack.rs`) copies each block once into the exact order
//! the micro-kernel reads, so that its loads are contiguous and
//! cache-line aligned whatever the strides of the source. It also absorbs a
//! transpose and the ragged edges: panels are zero-padded to full width. The
//! copy costs `O(MC·KC + KC·NC)` against `O(MC·KC·NC)` arithmetic.
//!
//! ## Block sizes
//!
//! * `KC = 256`: a B panel is `256 × 32` floats = 32 KiB for the AVX-512
//!   kernel (16 KiB for AVX2) and an A panel `8 × 256` = 8 KiB, which fit
//!   together in a 48 KiB L1. A longer slice would amortise the
//!   read-modify-write of C over more steps, but the panels would start
//!   evicting each other.
//! * `MC = 144`: the packed A block is 144 KiB, well inside L2, and a
//!   multiple of every `MR`. For the batch sizes of training (`m ≤ 128`)
//!   all of A is one block.
//! * `NC = 512`: the packed B block is 512 KiB, inside the 1–2 MiB L2 of
//!   recent cores next to the A block.
//!
//! Each dimension is cut into equal blocks no longer than these, rounded up
//! to whole panels (and `k` to multiples of 8, the transpose block of
//! packing): `k = 784` gives slices of 200, 200, 200 and 184, not three of
//! 256 and a wasteful one of 16.
//!
//! ## Memory
//!
//! Packing buffers live in thread-local `Vec`s, allocated once per thread at
//! the largest block any product can ask for (`MC × KC` for A, `KC × NC`
//! for B and its squares: 1.2 MiB in all) and reused by every product after
//! that. Sizing them for the block at hand instead would make them grow the
//! first time a thread meets a larger block, and which thread gets which
//! tile is up to work stealing: a worker could first meet its largest tile
//! at any step. [`reserve_workers`] allocates them on every thread of a pool
//! up front, so that after it no product allocates, whatever the scheduling.
//!
//! ## Determinism
//!
//! An element of C is the sum of its `KC`-slices, added in order, each slice
//! summed by one accumulator in order of `p`; the slices depend only on `k`.
//! A tile on the ragged edge is computed in a scratch block by the same
//! kernel and copied, so it rounds exactly like an interior tile. Hence the
//! value of an element does not depend on where block, tile or thread
//! boundaries fall — only on `k` and the kernel. A product given its slice
//! length explicitly ([`Product::slice`]) can be one piece of a longer
//! one: pieces cut at slice boundaries and added in order give the longer
//! product's bits (see `gemm_chunked` in `matmul.rs`).

mod kernel;
mod pack;

use std::cell::{Cell, RefCell};
use std::sync::OnceLock;

use kernel::MicroKernel;

/// Steps of the shared dimension per packed slice (see the module docs).
const KC: usize = 256;
/// Rows of C per packed block of A: a multiple of every `MR`.
const MC: usize = 144;
/// Columns of C per packed block of B: a multiple of every `NR`.
const NC: usize = 512;
/// Floats in the scratch block for edge tiles: at least every `MR · NR`.
const EDGE_TILE: usize = 256;
/// Packed panels start on a 64-byte boundary, a cache line.
const ALIGN_BYTES: usize = 64;

/// A micro-kernel the GEMM can run on.
///
/// [`Kernel::best`] picks the fastest one this CPU supports, once; the others
/// exist for comparison and tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kernel {
    /// Plain Rust, runs on every CPU: a `4 × 8` tile the compiler
    /// vectorizes for the baseline instruction set.
    Portable,
    /// x86-64 with AVX2 and FMA (Intel since 2013, AMD since 2015): a
    /// `6 × 16` tile in `std::arch` intrinsics.
    Avx2Fma,
    /// x86-64 with AVX-512F (Intel server cores since 2017, AMD since
    /// Zen 4): an `8 × 32` tile.
    Avx512,
}

impl Kernel {
    /// The fastest kernel this CPU supports, detected on the first call.
    ///
    /// The binary itself targets generic x86-64; this run-time check is what
    /// lets it use AVX2 or AVX-512 where they exist.
    pub fn best() -> Kernel {
        static BEST: OnceLock<Kernel> = OnceLock::new();
        *BEST.get_or_init(|| {
            [Kernel::Avx512, Kernel::Avx2Fma]
                .into_iter()
                .find(|k| k.is_available())
                .unwrap_or(Kernel::Portable)
        })
    }

    /// Whether this CPU can run the kernel.
    pub fn is_available(self) -> bool {
        match self {
            Kernel::Portable => true,
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2Fma => is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"),
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512 => is_x86_feature_detected!("avx512f"),
            #[cfg(not(target_arch = "x86_64"))]
            Kernel::Avx2Fma | Kernel::Avx512 => false,
        }
    }
}

/// A read-only matrix: element `(i, j)` is at `ptr + i·rs + j·cs`.
#[derive(Clone, Copy)]
pub(crate) struct Strided {
    pub(crate) ptr: *const f32,
    pub(crate) rs: usize,
    pub(crate) cs: usize,
}

impl Strided {
    /// The sub-matrix starting at `(i, j)`.
    ///
    /// # Safety
    /// `(i, j)` lies within the matrix.
    unsafe fn at(self, i: usize, j: usize) -> Strided {
        Strided {
            // SAFETY: in bounds by the caller's promise.
            ptr: unsafe { self.ptr.add(i * self.rs + j * self.cs) },
            ..self
        }
    }
}

/// One product `C = α·A·B + β·C`, A `m × k`, B `k × n`, C `m × n` with row
/// stride `rsc` and column stride 1.
pub(crate) struct Product {
    pub(crate) m: usize,
    pub(crate) k: usize,
    pub(crate) n: usize,
    pub(crate) alpha: f32,
    pub(crate) a: Strided,
    pub(crate) b: Strided,
    pub(crate) beta: f32,
    pub(crate) c: *mut f32,
    pub(crate) rsc: usize,
    /// Steps of the shared dimension per packed slice: [`slice_len`]`(k)`,
    /// or that of a longer product this one is a piece of.
    pub(crate) slice: usize,
    /// A packed ahead by [`prepack`] (for this `m`, `k` and kernel), read
    /// in place of A, or `None` to pack A here.
    pub(crate) packed_a: Option<*const f32>,
    /// Products of the elementwise squares of A and B, instead of A·B or
    /// next to it.
    pub(crate) squares: Squares,
}

/// The products of squares a [`Product`] computes; each packed block of A
/// and B is squared in cache, so no squared copy of an operand is made.
#[derive(Clone, Copy)]
pub(crate) enum Squares {
    /// Only `C = α·A·B + β·C`.
    No,
    /// `C = α·A²·B² + β·C` instead.
    Instead,
    /// Also `S = α_s·A²·B²`, with S laid out like C: both products share
    /// one packing of A and B.
    Also { s: *mut f32, alpha: f32 },
}

/// Computes `p` on the calling thread with `kernel`.
///
/// # Safety
/// A, B and C of `p` are valid for their dimensions and strides, C is not
/// read or written by anyone else meanwhile and does not overlap A or B, and
/// `kernel.is_available()`.
pub(crate) unsafe fn run(kernel: Kernel, p: &Product) {
    // SAFETY (all arms): forwarded; the caller checked the kernel's features.
    match kernel {
        Kernel::Portable => unsafe { blocked::<kernel::Portable>(p) },
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx2Fma => unsafe { blocked_avx2_fma(p) },
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx512 => unsafe { blocked_avx512(p) },
        #[cfg(not(target_arch = "x86_64"))]
        Kernel::Avx2Fma | Kernel::Avx512 => unreachable!("{kernel:?} exists only on x86-64"),
    }
}

/// [`blocked`] compiled with AVX2 and FMA enabled, so that the packing loops
/// around the micro-kernel use 256-bit moves too.
///
/// # Safety
/// As [`run`]; the CPU supports AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn blocked_avx2_fma(p: &Product) {
    // SAFETY: forwarded.
    unsafe { blocked::<kernel::Avx2Fma>(p) }
}

/// [`blocked`] compiled with AVX-512F enabled.
///
/// # Safety
/// As [`run`]; the CPU supports AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn blocked_avx512(p: &Product) {
    // SAFETY: forwarded.
    unsafe { blocked::<kernel::Avx512>(p) }
}

/// A dimension cut into `count` equal blocks of `len` (the last may be
/// shorter), `len` a multiple of `unit` and at most `max`.
#[derive(Clone, Copy)]
struct Blocks {
    total: usize,
    len: usize,
    count: usize,
}

impl Blocks {
    /// `max` must be a multiple of `unit`, `total > 0`.
    fn new(total: usize, max: usize, unit: usize) -> Blocks {
        let wanted = total.div_ceil(max);
        let len = total.div_ceil(wanted).next_multiple_of(unit);
        Blocks {
            total,
            len,
            count: total.div_ceil(len),
        }
    }

    /// Start and length of block `i`.
    fn get(&self, i: usize) -> (usize, usize) {
        let start = i * self.len;
        (start, self.len.min(self.total - start))
    }
}

/// The length of the slices a product over a shared dimension of `k` steps
/// is cut into: `k` in equal slices of at most `KC`, each a whole multiple
/// of 8 steps where possible, so that packing a transposed operand is all
/// 8 × 8 SIMD blocks. Every `k` above 7 688 gives `KC` itself.
pub(crate) fn slice_len(k: usize) -> usize {
    Blocks::new(k.max(1), KC, 8).len
}

/// The five loops of the module docs, for one micro-kernel.
///
/// # Safety
/// As [`run`], with `K` supported by the CPU.
#[inline(always)]
unsafe fn blocked<K: MicroKernel>(p: &Product) {
    if p.m == 0 || p.n == 0 {
        return;
    }
    if p.k == 0 {
        // SAFETY: forwarded.
        unsafe { scale(p) };
        return;
    }
    const {
        assert!(MC.is_multiple_of(K::MR) && NC.is_multiple_of(K::NR));
        assert!(K::MR * K::NR <= EDGE_TILE);
    }
    let kb = Blocks {
        total: p.k,
        len: p.slice,
        count: p.k.div_ceil(p.slice),
    };
    let mb = Blocks::new(p.m, MC, K::MR);
    let nb = Blocks::new(p.n, NC, K::NR);
    // The buffers are taken out of the thread-local for the duration (an
    // empty `Vec` takes their place, which does not allocate): a closure
    // passed to `LocalKey::with` would be compiled without this function's
    // target features.
    let mut buffers = BUFFERS.take();
    debug_assert!(mb.len <= MC && kb.len <= KC && nb.len <= NC);
    let (apack, bpack, bsquares) = buffers.panels();
    for jc in 0..nb.count {
        let (j0, nc) = nb.get(jc);
        for pc in 0..kb.count {
            let (p0, kc) = kb.get(pc);
            // Every slice after the first adds to what the earlier ones
            // wrote.
            let beta = if pc == 0 { p.beta } else { 1.0 };
            let b_len = nc.div_ceil(K::NR) * K::NR * kc;
            // SAFETY: the block lies within B; the buffers hold
            // `KC · NC ≥ b_len` floats.
            unsafe {
                let b = p.b.at(p0, j0);
                pack::pack::<K>(bpack, b.ptr, K::NR, nc, kc, b.cs, b.rs);
                match p.squares {
                    Squares::No => {}
                    Squares::Instead => square_in_place(bpack, b_len),
                    Squares::Also { .. } => squares_of(bpack, bsquares, b_len),
                }
            }
            for ic in 0..mb.count {
                let (i0, mc) = mb.get(ic);
                let a_len = mc.div_ceil(K::MR) * K::MR * kc;
                // SAFETY: as for B; the C (and S) block lies within C (S); a
                // prepacked A holds this block where `prepacked_block` says.
                unsafe {
                    let apack = match p.packed_a {
                        Some(packed) => packed.add(prepacked_block::<K>(p.m, (p0, kc), i0)),
                        None => {
                            let a = p.a.at(i0, p0);
                            pack::pack::<K>(apack, a.ptr, K::MR, mc, kc, a.rs, a.cs);
                            if let Squares::Instead = p.squares {
                                square_in_place(apack, a_len);
                            }
                            apack.cast_const()
                        }
                    };
                    let offset = i0 * p.rsc + j0;
                    let c = p.c.add(offset);
                    macro_kernel::<K>(mc, nc, kc, p.alpha, apack, bpack, beta, c, p.rsc);
                    if let Squares::Also { s, alpha } = p.squares {
                        debug_assert!(p.packed_a.is_none());
                        square_in_place(apack.cast_mut(), a_len);
                        let beta = if pc == 0 { 0.0 } else { 1.0 };
                        let s = s.add(offset);
                        macro_kernel::<K>(mc, nc, kc, alpha, apack, bsquares, beta, s, p.rsc);
                    }
                }
            }
        }
    }
    BUFFERS.set(buffers);
}

/// Where block `(slice, i0)` of a prepacked `m`-row A starts: each slice
/// of `kc` steps from step `p0` holds all of A's rows, padded to whole
/// panels, block after block.
#[inline(always)]
fn prepacked_block<K: MicroKernel>(m: usize, (p0, kc): (usize, usize), i0: usize) -> usize {
    p0 * m.div_ceil(K::MR) * K::MR + i0 * kc
}

/// Floats a prepacked `m × k` A takes on `kernel`.
pub(crate) fn prepacked_len(kernel: Kernel, m: usize, k: usize) -> usize {
    let mr = match kernel {
        Kernel::Portable => kernel::Portable::MR,
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx2Fma => kernel::Avx2Fma::MR,
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx512 => kernel::Avx512::MR,
        #[cfg(not(target_arch = "x86_64"))]
        Kernel::Avx2Fma | Kernel::Avx512 => unreachable!("{kernel:?} exists only on x86-64"),
    };
    m.div_ceil(mr) * mr * k
}

/// Packs every block of the `m × k` matrix `a` once, as [`blocked`]
/// would pack it for each product, into `dst` ([`prepacked_len`] floats),
/// for products that then read it through [`Product::packed_a`].
///
/// # Safety
/// `a` is valid for `m × k`, `dst` has room for `prepacked_len(kernel, m,
/// k)` floats, and `kernel.is_available()`.
pub(crate) unsafe fn prepack(kernel: Kernel, m: usize, k: usize, a: Strided, dst: *mut f32) {
    // SAFETY (all arms): forwarded; the caller checked the kernel's features.
    match kernel {
        Kernel::Portable => unsafe { prepack_blocks::<kernel::Portable>(m, k, a, dst) },
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx2Fma => unsafe { prepack_avx2_fma(m, k, a, dst) },
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx512 => unsafe { prepack_avx512(m, k, a, dst) },
        #[cfg(not(target_arch = "x86_64"))]
        Kernel::Avx2Fma | Kernel::Avx512 => unreachable!("{kernel:?} exists only on x86-64"),
    }
}

/// [`prepack_blocks`] compiled with AVX2 and FMA.
///
/// # Safety
/// As [`prepack`]; the CPU supports AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn prepack_avx2_fma(m: usize, k: usize, a: Strided, dst: *mut f32) {
    // SAFETY: forwarded.
    unsafe { prepack_blocks::<kernel::Avx2Fma>(m, k, a, dst) }
}

/// [`prepack_blocks`] compiled with AVX-512F.
///
/// # Safety
/// As [`prepack`]; the CPU supports AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn prepack_avx512(m: usize, k: usize, a: Strided, dst: *mut f32) {
    // SAFETY: forwarded.
    unsafe { prepack_blocks::<kernel::Avx512>(m, k, a, dst) }
}

/// The blocks of [`prepack`] for one micro-kernel, cut as [`blocked`]
/// cuts them.
///
/// # Safety
/// As [`prepack`].
#[inline(always)]
unsafe fn prepack_blocks<K: MicroKernel>(m: usize, k: usize, a: Strided, dst: *mut f32) {
    if m == 0 || k == 0 {
        return;
    }
    let slice = slice_len(k);
    let kb = Blocks {
        total: k,
        len: slice,
        count: k.div_ceil(slice),
    };
    let mb = Blocks::new(m, MC, K::MR);
    for pc in 0..kb.count {
        let (p0, kc) = kb.get(pc);
        for ic in 0..mb.count {
            let (i0, mc) = mb.get(ic);
            // SAFETY: the block lies within A and its panels within `dst`.
            unsafe {
                let at = dst.add(prepacked_block::<K>(m, (p0, kc), i0));
                let a = a.at(i0, p0);
                pack::pack::<K>(at, a.ptr, K::MR, mc, kc, a.rs, a.cs);
            }
        }
    }
}

/// `x ← x²` for the `len` packed floats at `buf`, while they are in cache.
///
/// # Safety
/// `buf` holds `len` writable floats.
#[inline(always)]
unsafe fn square_in_place(buf: *mut f32, len: usize) {
    // SAFETY: as the caller promised.
    let block = unsafe { std::slice::from_raw_parts_mut(buf, len) };
    block.iter_mut().for_each(|x| *x *= *x);
}

/// `out[i] = buf[i]²` for the `len` packed floats at `buf`.
///
/// # Safety
/// `buf` holds `len` readable floats, `out` room for `len`, apart.
#[inline(always)]
unsafe fn squares_of(buf: *const f32, out: *mut f32, len: usize) {
    // SAFETY: as the caller promised.
    let (src, dst) = unsafe {
        (
            std::slice::from_raw_parts(buf, len),
            std::slice::from_raw_parts_mut(out, len),
        )
    };
    dst.iter_mut().zip(src).for_each(|(o, &x)| *o = x * x);
}

/// The two innermost loops: every `MR × NR` tile of an `mc × nc` block of C
/// from a packed A block and a packed B block.
///
/// # Safety
/// The packed blocks hold `⌈mc / MR⌉` and `⌈nc / NR⌉` full panels of `kc`
/// steps; C as in [`run`].
#[allow(clippy::too_many_arguments)]
#[inline(always)]
unsafe fn macro_kernel<K: MicroKernel>(
    mc: usize,
    nc: usize,
    kc: usize,
    alpha: f32,
    a: *const f32,
    b: *const f32,
    beta: f32,
    c: *mut f32,
    rsc: usize,
) {
    for jr in 0..nc.div_ceil(K::NR) {
        let nr = K::NR.min(nc - jr * K::NR);
        for ir in 0..mc.div_ceil(K::MR) {
            let mr = K::MR.min(mc - ir * K::MR);
            // SAFETY: panel `ir` of A, panel `jr` of B, and the tile of C at
            // (ir·MR, jr·NR), of which `mr × nr` lies within C.
            unsafe {
                let ap = a.add(ir * K::MR * kc);
                let bp = b.add(jr * K::NR * kc);
                let cp = c.add(ir * K::MR * rsc + jr * K::NR);
                if mr == K::MR && nr == K::NR {
                    K::run(kc, alpha, ap, bp, beta, cp, rsc);
                } else {
                    edge_tile::<K>(mr, nr, kc, alpha, ap, bp, beta, cp, rsc);
                }
            }
        }
    }
}

/// A tile that sticks out of C: the kernel runs on a full-size scratch copy
/// (the same arithmetic as inside C; only its left half when no more is
/// wanted), and the part within C is copied back.
///
/// # Safety
/// As [`macro_kernel`], for an `mr × nr` tile of C.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
unsafe fn edge_tile<K: MicroKernel>(
    mr: usize,
    nr: usize,
    kc: usize,
    alpha: f32,
    a: *const f32,
    b: *const f32,
    beta: f32,
    c: *mut f32,
    rsc: usize,
) {
    let mut scratch = [0.0f32; EDGE_TILE];
    let s = scratch.as_mut_ptr();
    // SAFETY: rows `i < mr`, columns `< nr` of C are in bounds; the scratch
    // holds `MR × NR` floats with row stride NR.
    unsafe {
        if beta != 0.0 {
            for i in 0..mr {
                std::ptr::copy_nonoverlapping(c.add(i * rsc), s.add(i * K::NR), nr);
            }
        }
        if nr <= K::NR / 2 {
            K::run_left_half(kc, alpha, a, b, beta, s, K::NR);
        } else {
            K::run(kc, alpha, a, b, beta, s, K::NR);
        }
        for i in 0..mr {
            std::ptr::copy_nonoverlapping(s.add(i * K::NR), c.add(i * rsc), nr);
        }
    }
}

/// `C = β·C` (the product with `k = 0`); with `β = 0`, C is zeroed. A
/// product of squares asked for alongside is an empty sum: S is zeroed.
///
/// # Safety
/// C (and S) as in [`run`].
unsafe fn scale(p: &Product) {
    for i in 0..p.m {
        // SAFETY: row `i < m` of C, `n` floats.
        let row = unsafe { std::slice::from_raw_parts_mut(p.c.add(i * p.rsc), p.n) };
        if p.beta == 0.0 {
            row.fill(0.0);
        } else {
            row.iter_mut().for_each(|x| *x *= p.beta);
        }
        if let Squares::Also { s, .. } = p.squares {
            // SAFETY: row `i` of S, laid out like C.
            unsafe { std::slice::from_raw_parts_mut(s.add(i * p.rsc), p.n) }.fill(0.0);
        }
    }
}

/// The packing buffers of one thread, each empty or holding its largest
/// block.
#[derive(Default)]
struct Buffers {
    a: Vec<f32>,
    b: Vec<f32>,
    /// The squares of the packed B, for [`Squares::Also`].
    b_squares: Vec<f32>,
}

thread_local! {
    static BUFFERS: RefCell<Buffers> = const {
        RefCell::new(Buffers { a: Vec::new(), b: Vec::new(), b_squares: Vec::new() })
    };
    /// Whether [`reserve_workers`] has run on this thread's pool.
    static POOL_RESERVED: Cell<bool> = const { Cell::new(false) };
}

/// Floats of slack so that a buffer can start on an [`ALIGN_BYTES`]
/// boundary.
pub(crate) const SLACK: usize = ALIGN_BYTES / size_of::<f32>();

impl Buffers {
    /// Allocates the buffers at their largest size, unless done already.
    fn allocate(&mut self) {
        if self.a.is_empty() {
            self.a = vec![0.0; MC * KC + SLACK];
            self.b = vec![0.0; KC * NC + SLACK];
            self.b_squares = vec![0.0; KC * NC + SLACK];
        }
    }

    /// Cache-line-aligned room for a packed `MC × KC` block of A and two
    /// `KC × NC` blocks of B (allocated on the thread's first product).
    fn panels(&mut self) -> (*mut f32, *mut f32, *mut f32) {
        self.allocate();
        (
            aligned(&mut self.a),
            aligned(&mut self.b),
            aligned(&mut self.b_squares),
        )
    }
}

/// A pointer into `buf` at its first [`ALIGN_BYTES`] boundary; `buf.len()
/// - SLACK` floats follow it.
fn aligned(buf: &mut [f32]) -> *mut f32 {
    let addr = buf.as_mut_ptr() as usize;
    let skip = (addr.next_multiple_of(ALIGN_BYTES) - addr) / size_of::<f32>();
    debug_assert!(skip < SLACK && buf.len() > SLACK);
    // SAFETY: `skip < SLACK < buf.len()`.
    unsafe { buf.as_mut_ptr().add(skip) }
}

/// Allocates the packing buffers of the calling thread and of every thread
/// of its rayon pool (the global pool when called from outside one), so that
/// no later product on those threads allocates. Only the first call from a
/// pool's threads does any work; later calls cost a thread-local read.
pub fn reserve_workers() {
    if POOL_RESERVED.get() {
        return;
    }
    let reserve = || {
        BUFFERS.with_borrow_mut(Buffers::allocate);
        POOL_RESERVED.set(true);
    };
    // `broadcast` runs the closure once on each thread of the pool, the
    // calling one included when it belongs to the pool.
    rayon::broadcast(|_| reserve());
    reserve();
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The claim of [`slice_len`]'s doc, and a few of the shorter cuts.
    #[test]
    fn long_products_are_cut_into_slices_of_kc() {
        assert!((7689..300_000).all(|k| slice_len(k) == KC));
        assert_eq!(slice_len(7688), 248);
        assert_eq!(
            (slice_len(784), slice_len(1800), slice_len(5)),
            (200, 232, 8)
        );
    }
}
