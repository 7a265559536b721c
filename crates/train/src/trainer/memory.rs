//! What a run needs in memory, checked before anything is allocated: a model
//! too large for the machine is refused with the size it would need, not
//! aborted by the allocator halfway through building it.

use crate::TrainError;

/// Bytes of one `f32`.
const FLOAT: u64 = 4;

/// Tensors a layer's activations occupy per example and width, on the
/// training tape and the evaluation tape together: value, gradient, the
/// pre-activation gradient and the evaluation copy.
const ACTIVATION_COPIES: u64 = 4;

/// The parameter count of an MLP with layer widths `sizes` (input first),
/// each layer with a bias; `None` if it does not fit in 64 bits.
pub(crate) fn parameters(sizes: &[usize]) -> Option<u64> {
    sizes.windows(2).try_fold(0u64, |n, w| {
        let layer = (w[0] as u64).checked_add(1)?.checked_mul(w[1] as u64)?;
        n.checked_add(layer)
    })
}

/// [`check`] for an MLP with layer widths `sizes` (input first), before it
/// is built.
pub(crate) fn check_mlp(
    sizes: &[usize],
    batch: usize,
    moments: usize,
    squares: bool,
    moment_note: &str,
) -> Result<(), TrainError> {
    let parameters = parameters(sizes).unwrap_or(u64::MAX);
    let widths = sizes.iter().fold(0u64, |n, &w| n.saturating_add(w as u64));
    let activations = (batch.max(super::EVAL_BATCH) as u64)
        .saturating_mul(widths)
        .saturating_mul(ACTIVATION_COPIES);
    check(parameters, activations, moments, squares, moment_note)
}

/// Refuses a run whose `parameters`, their gradients, the optimizer state
/// (`moments` tensors per parameter, named in `moment_note`), optional
/// gradient squares and `activations` (floats) need more memory than the
/// system has available.
pub(crate) fn check(
    parameters: u64,
    activations: u64,
    moments: usize,
    squares: bool,
    moment_note: &str,
) -> Result<(), TrainError> {
    let copies = 2 + moments as u64 + u64::from(squares);
    let needed = parameters
        .saturating_mul(copies)
        .saturating_add(activations)
        .saturating_mul(FLOAT);
    let fits_address_space = needed <= isize::MAX as u64;
    let available = available_bytes();
    if fits_address_space && available.is_none_or(|a| needed <= a) {
        return Ok(());
    }
    let mut extra = String::new();
    if moments > 0 {
        extra.push_str(&format!(", {moment_note}"));
    }
    if squares {
        extra.push_str(", squared gradients");
    }
    extra.push_str(" and activations");
    Err(TrainError::TooLarge {
        parameters,
        extra,
        needed,
        available: available.unwrap_or(isize::MAX as u64),
    })
}

/// Memory the system can give this process without killing others: Linux's
/// `MemAvailable` plus free swap, or `None` where that is not known.
fn available_bytes() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let field = |name: &str| -> Option<u64> {
        let line = info.lines().find(|l| l.starts_with(name))?;
        let kb: u64 = line[name.len()..]
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        Some(kb * 1024)
    };
    Some(field("MemAvailable:")? + field("SwapFree:").unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_of_the_default_mlp() {
        assert_eq!(parameters(&[784, 512, 512, 10]), Some(669_706));
        // (784 + 1)·10⁸ + (10⁸ + 1)·10.
        assert_eq!(parameters(&[784, 100_000_000, 10]), Some(79_500_000_010));
    }

    #[test]
    fn a_model_beyond_any_memory_is_refused() {
        let err =
            check_mlp(&[784, 100_000_000_000, 10], 128, 2, false, "adam's m and v").unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("parameters") && msg.contains("more than the"),
            "{msg}"
        );
        assert!(check_mlp(&[784, 64, 10], 128, 2, false, "adam's m and v").is_ok());
    }
}
