//! Batch-size learning-rate rules (slides "Making Adam Adapt to the Batch
//! Size B").
//!
//! With s = E ĝ² = μ² + σ²/B, the expected Adam/RMSProp step is
//! −η·μ/√(μ² + σ²/B). When the signal dominates (μ² ≫ σ²/B) the batch only
//! averages away noise that is already negligible, and B examples should move
//! Φ as far as B steps of one example: η = B·η₀, as for plain SGD. When the
//! noise dominates (σ²/B ≫ μ²) the expected step is −η·μ·√B/σ, already
//! growing as √B, and η = √B·η₀ keeps the step per example fixed.
//!
//! [`AdamPerExample`](crate::AdamPerExample) averages the per-example squares,
//! so its s estimates μ² + σ² for every B and the linear rule applies to it
//! whatever the regime; it is its default.

use std::fmt;

/// How η scales with the batch size B: η = factor(B)·η₀.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BatchRule {
    /// η = η₀, whatever B.
    Fixed,
    /// η = B·η₀.
    Linear,
    /// η = √B·η₀.
    Sqrt,
}

impl BatchRule {
    /// The spec names, as `batch_rule=` takes them.
    pub(crate) const CHOICES: [(&'static str, BatchRule); 3] = [
        ("fixed", BatchRule::Fixed),
        ("linear", BatchRule::Linear),
        ("sqrt", BatchRule::Sqrt),
    ];

    /// The factor multiplying η₀ for batches of `batch_size` examples.
    pub fn factor(self, batch_size: usize) -> f64 {
        let b = batch_size as f64;
        match self {
            BatchRule::Fixed => 1.0,
            BatchRule::Linear => b,
            BatchRule::Sqrt => b.sqrt(),
        }
    }

    /// The spec name.
    pub fn name(self) -> &'static str {
        match self {
            BatchRule::Fixed => "fixed",
            BatchRule::Linear => "linear",
            BatchRule::Sqrt => "sqrt",
        }
    }
}

impl fmt::Display for BatchRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn factors() {
        assert_eq!(BatchRule::Fixed.factor(64), 1.0);
        assert_eq!(BatchRule::Linear.factor(64), 64.0);
        assert_eq!(BatchRule::Sqrt.factor(64), 8.0);
        for (name, rule) in BatchRule::CHOICES {
            assert_eq!(rule.name(), name);
        }
    }
}
