//! Packing: copying a block of A or B into the order the micro-kernel reads.
//!
//! A block of `len × kc` (A: `len` rows of C by `kc` steps of the shared
//! dimension; B: `len` columns of C by the same `kc` steps) is cut into
//! panels `width` wide. Panel `q` holds, for `p = 0, 1, …, kc − 1`, the
//! `width` values at positions `q·width …` across and `p` along: exactly the
//! sequence of vectors the micro-kernel loads, contiguous in memory. A last
//! panel that is narrower is padded with zeros, so the kernel never needs a
//! bounds check and the padding adds nothing to C.
//!
//! The source is read through two strides (`across` and `along`), which is
//! how a transposed operand costs nothing extra: `Aᵀ` is A with its strides
//! swapped. The two layouts that occur get a loop of their own:
//!
//! * `across = 1` (B as stored, `Aᵀ`): each step's values are adjacent in
//!   the source. Eight source rows at a time are dealt out to all panels, so
//!   the source is read front to back, which the hardware prefetcher
//!   follows; a last, narrower panel gets row copies and zeros.
//! * `along = 1` (A as stored, `Bᵀ`): each lane's steps are adjacent. This
//!   is a transpose, done in 8 × 8 blocks by the kernel's SIMD shuffles.

use super::kernel::MicroKernel;

/// Packs the `len × kc` block at `src` into `⌈len / width⌉` panels at `dst`.
///
/// The element `i` across and `p` along is read at `src + i·across + p·along`.
/// `width` is `K::MR` or `K::NR`; once inlined it is a constant.
///
/// # Safety
/// Every such element with `i < len`, `p < kc` is readable, `dst` has room
/// for `⌈len / width⌉ · width · kc` floats, and the CPU supports `K`.
#[inline(always)]
pub(crate) unsafe fn pack<K: MicroKernel>(
    dst: *mut f32,
    src: *const f32,
    width: usize,
    len: usize,
    kc: usize,
    across: usize,
    along: usize,
) {
    let full = len / width;
    // SAFETY (whole body): each helper is handed panels that lie within the
    // block and within `dst`, as this function's caller promised.
    unsafe {
        if across == 1 {
            deal_rows(dst, src, width, full, kc, along);
        } else if along == 1 && width.is_multiple_of(8) {
            for q in 0..full {
                transpose_panel::<K>(
                    dst.add(q * width * kc),
                    src.add(q * width * across),
                    width,
                    kc,
                    across,
                );
            }
        } else {
            for q in 0..full {
                general(
                    dst.add(q * width * kc),
                    src.add(q * width * across),
                    width,
                    width,
                    kc,
                    across,
                    along,
                );
            }
        }
        if full * width < len && across == 1 {
            let q = full;
            partial_rows(
                dst.add(q * width * kc),
                src.add(q * width),
                width,
                len - q * width,
                kc,
                along,
            );
        } else if full * width < len {
            let q = full;
            general(
                dst.add(q * width * kc),
                src.add(q * width * across),
                width,
                len - q * width,
                kc,
                across,
                along,
            );
        }
    }
}

/// `full` whole panels from a source whose step rows are contiguous.
///
/// Eight source rows at a time are dealt out to all panels, so that each
/// panel receives a contiguous run of 8 rows while the source is read as
/// eight sequential streams. (One row at a time would send consecutive
/// writes `kc·width` floats apart, a power of two that maps them all to
/// the same few L1 sets.)
///
/// # Safety
/// As [`pack`], for the first `full` panels.
#[inline(always)]
unsafe fn deal_rows(
    dst: *mut f32,
    src: *const f32,
    width: usize,
    full: usize,
    kc: usize,
    along: usize,
) {
    const STEPS: usize = 8;
    for p0 in (0..kc).step_by(STEPS) {
        let steps = STEPS.min(kc - p0);
        for q in 0..full {
            for p in p0..p0 + steps {
                // SAFETY: `width` source floats of step `p`, lanes
                // `q·width…`, and row `p` of panel `q`; they never overlap.
                unsafe {
                    std::ptr::copy_nonoverlapping(
                        src.add(p * along + q * width),
                        dst.add((q * kc + p) * width),
                        width,
                    )
                };
            }
        }
    }
}

/// The last, narrower panel from a source whose step rows are contiguous:
/// `live` floats copied per step, the rest of the row zeroed.
///
/// # Safety
/// As [`pack`], for one panel of `live < width` lanes.
#[inline(always)]
unsafe fn partial_rows(
    panel: *mut f32,
    src: *const f32,
    width: usize,
    live: usize,
    kc: usize,
    along: usize,
) {
    for p in 0..kc {
        // SAFETY: row `p` of the panel holds `width` floats, and `live`
        // floats of step `p` are readable at the source.
        unsafe {
            let out = std::slice::from_raw_parts_mut(panel.add(p * width), width);
            let row = std::slice::from_raw_parts(src.add(p * along), live);
            out[..live].copy_from_slice(row);
            out[live..].fill(0.0);
        }
    }
}

/// One whole panel from a source whose lanes are contiguous: 8 × 8 blocks
/// transposed by `K`, the last `kc mod 8` steps one by one.
///
/// # Safety
/// As [`pack`], for one whole panel; `width` is a multiple of 8.
#[inline(always)]
unsafe fn transpose_panel<K: MicroKernel>(
    panel: *mut f32,
    src: *const f32,
    width: usize,
    kc: usize,
    across: usize,
) {
    let steps = kc - kc % 8;
    // Eight source rows at a time, each read front to back over the whole
    // slice: eight streams the hardware prefetcher follows. (Stepping all
    // of the panel's rows together would read `width` rows at once, 32
    // bytes of each, and a wide block's rows far apart in memory each miss
    // the cache on their own.)
    for i0 in (0..width).step_by(8) {
        for p0 in (0..steps).step_by(8) {
            if p0 % 16 == 0 {
                for i in i0..i0 + 8 {
                    prefetch(src.wrapping_add(i * across + p0 + kc));
                }
            }
            // SAFETY: lanes `i0…i0+7 < width` and steps `p0…p0+7 < kc`.
            unsafe {
                K::transpose8x8(
                    src.add(i0 * across + p0),
                    across,
                    panel.add(p0 * width + i0),
                    width,
                )
            };
        }
    }
    // SAFETY: the remaining steps of the same panel.
    unsafe {
        general(
            panel.add(steps * width),
            src.add(steps),
            width,
            width,
            kc - steps,
            across,
            1,
        )
    };
}

/// Asks the cache for the line holding `at`, which may lie outside the
/// operand (a prefetch never faults).
#[inline(always)]
fn prefetch(at: *const f32) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch reads nothing and cannot fault, whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(at.cast())
    };
}

/// Any strides, `live ≤ width` lanes; the other lanes are zeroed.
///
/// # Safety
/// As [`pack`], for one panel of `live` lanes.
#[inline(always)]
unsafe fn general(
    panel: *mut f32,
    src: *const f32,
    width: usize,
    live: usize,
    kc: usize,
    across: usize,
    along: usize,
) {
    for p in 0..kc {
        // SAFETY: row `p` of the panel, `width` writable floats.
        let out = unsafe { std::slice::from_raw_parts_mut(panel.add(p * width), width) };
        for (i, o) in out.iter_mut().enumerate() {
            // SAFETY: element `(i, p)` with `i < live`, `p < kc` is readable.
            *o = if i < live {
                unsafe { *src.add(i * across + p * along) }
            } else {
                0.0
            };
        }
    }
}
