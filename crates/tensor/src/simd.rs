//! Wider vectors for plain loops, chosen at run time.
//!
//! The binary targets generic x86-64, whose vectors hold 4 floats (SSE2).
//! [`vectorized`] runs a closure inside a function compiled for AVX-512 or
//! AVX2 when the CPU has it, so the compiler inlines the closure there and
//! vectorizes its loops 16 or 8 floats wide. The loops stay ordinary Rust.
//!
//! Results do not change: elementwise arithmetic, `√`, `÷` and an explicit
//! fused multiply-add (`mul_add`, one rounding, in hardware in both wide
//! copies) are exactly rounded in every instruction set, and the compiler
//! neither fuses a multiply with an add nor reorders a float sum unless told
//! to.

use std::sync::OnceLock;

/// The widest vector extension the loops may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Level {
    Baseline,
    Avx2,
    Avx512,
}

fn level() -> Level {
    static LEVEL: OnceLock<Level> = OnceLock::new();
    *LEVEL.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            if is_x86_feature_detected!("avx512f") {
                return Level::Avx512;
            }
            if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
                return Level::Avx2;
            }
        }
        Level::Baseline
    })
}

/// Runs `f`, compiled for the widest vectors this CPU has. Wrap a hot loop
/// (or a function that runs one) in it; call sites must be generic or
/// `#[inline]` so the compiler can inline them into the wide copy.
#[inline(always)]
pub fn vectorized<R>(f: impl FnOnce() -> R) -> R {
    match level() {
        // SAFETY: `level` returned these only after detecting the feature.
        #[cfg(target_arch = "x86_64")]
        Level::Avx512 => unsafe { avx512(f) },
        #[cfg(target_arch = "x86_64")]
        Level::Avx2 => unsafe { avx2(f) },
        _ => f(),
    }
}

/// A loop for [`vectorized_loop`]. Implementations mark [`run`](Loop::run)
/// `#[inline(always)]`, and so does everything it calls that holds the loop.
pub trait Loop {
    /// Runs the loop.
    fn run(self);
}

/// Runs `l` compiled for the widest vectors this CPU has, like
/// [`vectorized`], but certain to: a closure cannot be marked
/// `#[inline(always)]`, and the compiler declines to inline a large one into
/// the wide copies, where a `#[inline(always)]` [`Loop::run`] always is.
#[inline(always)]
pub fn vectorized_loop(l: impl Loop) {
    match level() {
        // SAFETY: `level` returned these only after detecting the feature.
        #[cfg(target_arch = "x86_64")]
        Level::Avx512 => unsafe { avx512_loop(l) },
        #[cfg(target_arch = "x86_64")]
        Level::Avx2 => unsafe { avx2_loop(l) },
        _ => l.run(),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn avx512_loop(l: impl Loop) {
    l.run()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn avx2_loop(l: impl Loop) {
    l.run()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn avx512<R>(f: impl FnOnce() -> R) -> R {
    f()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn avx2<R>(f: impl FnOnce() -> R) -> R {
    f()
}

#[cfg(test)]
mod tests {
    use super::vectorized;

    #[test]
    fn same_result_as_the_baseline() {
        let x: Vec<f32> = (0..1000).map(|i| (i as f32 * 0.37).sin() * 10.0).collect();
        let run = |x: &[f32]| -> Vec<f32> {
            x.iter()
                .map(|&v| (v * v + 1.0).sqrt() / (v.abs() + 1e-3) - 0.5 * v)
                .collect()
        };
        let wide = vectorized(|| run(&x));
        let plain = run(&x);
        assert_eq!(
            wide.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            plain.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
    }
}
