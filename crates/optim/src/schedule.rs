//! Learning-rate schedules: how η changes with the step t.
//!
//! The step-t learning rate is η·decay(t)·warm-up(t), times the batch-size
//! rule (see [`BatchRule`](crate::BatchRule)). Step t counts from 1.

use crate::spec::{KeyWriter, Keys, Range, SpecError};
use std::fmt;

/// How η decays over the run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Decay {
    /// decay(t) = 1.
    Constant,
    /// decay(t) = γ^⌊(t − 1)/step_size⌋: multiply η by γ every `step_size`
    /// steps (PyTorch's `StepLR`).
    Step {
        /// Steps between two decays.
        step_size: u64,
        /// The factor γ of each decay.
        gamma: f64,
    },
    /// decay(t) = (1 + cos(π·min(t − 1, T)/T))/2: from 1 at the first step
    /// down a half cosine to 0 after T = `total_steps` steps (PyTorch's
    /// `CosineAnnealingLR` with η_min = 0).
    ///
    /// T is the run length: give it in the spec (`total_steps=T`) or set it
    /// with [`Optimizer::for_run`](crate::Optimizer::for_run)
    /// once the training loop knows it.
    Cosine {
        /// T, or `None` until it is set.
        total_steps: Option<u64>,
    },
}

/// A decay and an optional linear warm-up.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Schedule {
    /// The decay over the run.
    pub decay: Decay,
    /// W: for t ≤ W the rate is multiplied by t/W (0: no warm-up).
    pub warmup: u64,
}

impl Schedule {
    /// The factor multiplying η at step `t` (t ≥ 1).
    ///
    /// # Panics
    /// If the decay is cosine and its total number of steps was never set.
    pub fn factor(&self, t: u64) -> f64 {
        let done = t.saturating_sub(1) as f64;
        let decay = match self.decay {
            Decay::Constant => 1.0,
            Decay::Step { step_size, gamma } => {
                gamma.powf((t.saturating_sub(1) / step_size) as f64)
            }
            Decay::Cosine { total_steps } => {
                let total = total_steps.unwrap_or_else(|| {
                    panic!(
                        "schedule=cosine needs the run length: put total_steps=N in the optimizer \
                         spec or build the optimizer with Optimizer::for_run(spec, N)"
                    )
                }) as f64;
                0.5 * (1.0 + (std::f64::consts::PI * done.min(total) / total).cos())
            }
        };
        let warm = if self.warmup == 0 {
            1.0
        } else {
            (t as f64 / self.warmup as f64).min(1.0)
        };
        decay * warm
    }

    /// Reads `schedule=`, its parameters and `warmup=` from a spec.
    pub(crate) fn parse(keys: &mut Keys<'_>) -> Result<Schedule, SpecError> {
        #[derive(Clone, Copy)]
        enum Kind {
            Constant,
            Step,
            Cosine,
        }
        const KINDS: [(&str, Kind); 3] = [
            ("constant", Kind::Constant),
            ("step", Kind::Step),
            ("cosine", Kind::Cosine),
        ];
        let decay = match keys.choice("schedule", &KINDS, Kind::Constant)? {
            Kind::Constant => Decay::Constant,
            Kind::Step => Decay::Step {
                step_size: keys.required_count("step_size", "schedule=step")?,
                gamma: keys.float("gamma", 0.1, Range::Positive)?,
            },
            Kind::Cosine => Decay::Cosine {
                total_steps: keys.optional_count("total_steps")?,
            },
        };
        let warmup = keys.whole("warmup", 0)?;
        Ok(Schedule { decay, warmup })
    }

    /// Writes the keys that differ from a constant rate without warm-up.
    pub(crate) fn write(&self, w: &mut KeyWriter<'_, '_>) -> fmt::Result {
        match self.decay {
            Decay::Constant => {}
            Decay::Step { step_size, gamma } => {
                w.text("schedule", "step")?;
                w.whole("step_size", step_size)?;
                w.float("gamma", gamma)?;
            }
            Decay::Cosine { total_steps } => {
                w.text("schedule", "cosine")?;
                if let Some(total) = total_steps {
                    w.whole("total_steps", total)?;
                }
            }
        }
        if self.warmup > 0 {
            w.whole("warmup", self.warmup)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_decay() {
        let s = Schedule {
            decay: Decay::Step {
                step_size: 3,
                gamma: 0.5,
            },
            warmup: 0,
        };
        let f: Vec<f64> = (1..=7).map(|t| s.factor(t)).collect();
        assert_eq!(f, [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25]);
    }

    #[test]
    fn cosine_decay_with_warmup() {
        let s = Schedule {
            decay: Decay::Cosine {
                total_steps: Some(4),
            },
            warmup: 2,
        };
        // decay: t=1 → cos 0 → 1; t=2 → (1 + cos π/4)/2 = 0.853553; t=3 → 0.5;
        // t=4 → (1 + cos 3π/4)/2 = 0.146447; t=5 and after → 0.
        // warm-up: t=1 → 1/2, then 1.
        let want = [
            0.5,
            0.853_553_390_593_273_7,
            0.5,
            0.146_446_609_406_726_2,
            0.0,
            0.0,
        ];
        for (t, w) in (1..=6).zip(want) {
            assert!(
                (s.factor(t) - w).abs() < 1e-12,
                "t={t}: {} vs {w}",
                s.factor(t)
            );
        }
    }

    #[test]
    #[should_panic(expected = "schedule=cosine needs the run length")]
    fn cosine_without_length_panics_clearly() {
        Schedule {
            decay: Decay::Cosine { total_steps: None },
            warmup: 0,
        }
        .factor(1);
    }
}
