//! Search spaces: the hyperparameters of a rule worth tuning, and the range
//! a tuner draws each from.
//!
//! A rule declares its space next to its formula, as
//! [`Hyperparameters::SEARCH`](crate::Hyperparameters::SEARCH): η (or η₀) always, then the keys
//! the rule is known to be sensitive to (ε, the β's, momentum, …).
//! Comparisons of optimizers depend on how each is tuned (Choi et al. 2019,
//! "On Empirical Comparisons of Optimizers for Deep Learning": Adam never
//! loses to momentum once ε is tuned too), so a benchmark that gives every
//! rule the same number of trials over its declared space compares them
//! fairly; `optim_bench --experiment tune` does that.
//!
//! A point of the unit cube maps to a spec through [`Dim::at`] on each
//! coordinate, so any sampler of [0, 1)ᵈ (random, Halton, Sobol) draws from
//! the space.

/// How a coordinate u ∈ [0, 1) maps onto a range [low, high].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scale {
    /// low + u·(high − low).
    Linear,
    /// low·(high/low)ᵘ: every factor of ten equally likely (rates, ε).
    Log,
    /// 1 − (1 − low)·((1 − high)/(1 − low))ᵘ: 1 − x on a log scale, for a
    /// decay β whose time scale 1/(1 − β) matters (0.9, 0.99 and 0.999 are
    /// equally far apart).
    OneMinusLog,
    /// [`Linear`](Scale::Linear), rounded to the nearest integer (warm-up
    /// steps).
    Integer,
}

/// One dimension of a search space.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Dim {
    /// The spec key: one of the rule's hyperparameters, or one of the
    /// optimizer's own keys such as `weight_decay` or `warmup`.
    pub key: &'static str,
    /// The smallest value.
    pub low: f64,
    /// The largest value.
    pub high: f64,
    /// How the range is sampled.
    pub scale: Scale,
}

/// A log-scaled dimension (see [`Scale::Log`]).
pub const fn log(key: &'static str, low: f64, high: f64) -> Dim {
    Dim {
        key,
        low,
        high,
        scale: Scale::Log,
    }
}

/// A decay sampled as 1 − x on a log scale (see [`Scale::OneMinusLog`]).
pub const fn decay(key: &'static str, low: f64, high: f64) -> Dim {
    Dim {
        key,
        low,
        high,
        scale: Scale::OneMinusLog,
    }
}

/// A linear dimension (see [`Scale::Linear`]).
pub const fn linear(key: &'static str, low: f64, high: f64) -> Dim {
    Dim {
        key,
        low,
        high,
        scale: Scale::Linear,
    }
}

/// An integer dimension (see [`Scale::Integer`]).
pub const fn integer(key: &'static str, low: f64, high: f64) -> Dim {
    Dim {
        key,
        low,
        high,
        scale: Scale::Integer,
    }
}

/// The decoupled weight decay λ of a name registered with
/// [`register_decoupled`](crate::register_decoupled) (`adamw`), added to
/// its rule's space.
pub const DECOUPLED_WEIGHT_DECAY: Dim = log("weight_decay", 1e-4, 0.3);

impl Dim {
    /// The value at coordinate `u` ∈ [0, 1], rounded to three significant
    /// digits (an integer for [`Scale::Integer`]) so that specs read well;
    /// always within [low, high].
    pub fn at(&self, u: f64) -> f64 {
        let u = u.clamp(0.0, 1.0);
        let (lo, hi) = (self.low, self.high);
        let x = match self.scale {
            Scale::Linear => lo + u * (hi - lo),
            Scale::Log => lo * (hi / lo).powf(u),
            Scale::OneMinusLog => 1.0 - (1.0 - lo) * ((1.0 - hi) / (1.0 - lo)).powf(u),
            Scale::Integer => return (lo + u * (hi - lo)).round().clamp(lo, hi),
        };
        // A decay keeps three significant digits of 1 − β, not of β.
        let rounded = match self.scale {
            Scale::OneMinusLog => decimals(x, significant_decimals(1.0 - x)),
            _ => decimals(x, significant_decimals(x)),
        };
        rounded.clamp(lo, hi)
    }

    /// Why the dimension is not a range, if it is not one: low < high,
    /// both finite, positive for a log scale, below 1 for a decay.
    pub fn problem(&self) -> Option<String> {
        let (lo, hi) = (self.low, self.high);
        if !(lo.is_finite() && hi.is_finite() && lo < hi) {
            return Some(format!("[{lo}, {hi}] is not a range"));
        }
        match self.scale {
            Scale::Log if lo <= 0.0 => Some(format!("a log scale needs low > 0, got {lo}")),
            Scale::OneMinusLog if hi >= 1.0 => Some(format!("a decay needs high < 1, got {hi}")),
            _ => None,
        }
    }
}

/// The decimals that keep three significant digits of `x` (negative for
/// |x| ≥ 1000).
fn significant_decimals(x: f64) -> i32 {
    if x == 0.0 || !x.is_finite() {
        0
    } else {
        2 - x.abs().log10().floor() as i32
    }
}

/// `x` rounded to `d` decimals, through its decimal text so that the
/// result is the double nearest the rounded decimal (0.9168, not
/// 0.9168000000000001).
fn decimals(x: f64, d: i32) -> f64 {
    if d >= 0 {
        format!("{x:.*}", d as usize)
            .parse()
            .expect("a formatted number")
    } else {
        let p = 10f64.powi(-d);
        (x / p).round() * p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ends_of_the_cube_are_the_ends_of_the_range() {
        let dims = [
            log("lr", 1e-4, 3e-2),
            decay("b2", 0.9, 0.9999),
            linear("d", -1.0, -0.5),
            integer("warmup", 0.0, 100.0),
        ];
        for d in dims {
            assert_eq!(d.at(0.0), d.low, "{d:?}");
            assert_eq!(d.at(1.0), d.high, "{d:?}");
            assert!(d.problem().is_none());
        }
    }

    #[test]
    fn each_scale_puts_its_midpoint_where_it_should() {
        assert_eq!(log("lr", 1e-4, 1e-2).at(0.5), 1e-3);
        // 1 − β from 0.1 to 0.001: the middle is 0.01.
        assert_eq!(decay("b1", 0.9, 0.999).at(0.5), 0.99);
        assert_eq!(linear("x", 0.0, 1.0).at(0.25), 0.25);
        assert_eq!(integer("w", 0.0, 10.0).at(0.26), 3.0);
        assert_eq!(log("lr", 1e-4, 1.0).at(0.3), 0.001_58);
        // Printed as they read: three significant digits of 1 − β.
        assert_eq!(decay("b1", 0.5, 0.99).at(0.37).to_string(), "0.882");
        assert_eq!(log("n", 10.0, 1e5).at(0.99).to_string(), "91200");
        for k in 0..=100 {
            let b = decay("b1", 0.5, 0.99).at(f64::from(k) / 100.0).to_string();
            assert!(b.len() <= 6, "{b}: more than four decimals");
            let lr = log("lr", 1e-4, 3e-2).at(f64::from(k) / 100.0).to_string();
            assert!(
                lr.trim_start_matches("0.").trim_start_matches('0').len() <= 3,
                "{lr}"
            );
        }
    }

    #[test]
    fn ranges_that_are_not_ranges_are_named() {
        assert!(log("lr", 0.0, 1.0).problem().unwrap().contains("low > 0"));
        assert!(decay("b", 0.5, 1.0).problem().unwrap().contains("high < 1"));
        assert!(linear("x", 1.0, 1.0)
            .problem()
            .unwrap()
            .contains("not a range"));
        assert!(linear("x", f64::NAN, 1.0).problem().is_some());
    }
}
