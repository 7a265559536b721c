//! A rule's hyperparameters, declared once with [`hyperparameters!`](macro@crate::hyperparameters): the
//! struct, its defaults, and the table from which spec parsing, printing,
//! validation and the docs come.

use std::fmt::Debug;

use crate::average::Correction;
use crate::search::Dim;
use crate::spec::{format_float, Range};

/// A rule's hyperparameters: their declaration, their defaults, the space
/// a tuner searches and the benchmark's tuned configuration. Implemented by
/// [`hyperparameters!`](macro@crate::hyperparameters), which also writes the
/// struct, its `Default` and its docs table.
pub trait Hyperparameters: Default + Clone + PartialEq + Debug + 'static {
    /// One entry per hyperparameter, in the order the spec prints them.
    const TABLE: &'static [Hyperparameter<Self>];
    /// The search space a tuner draws the rule's hyperparameters from
    /// ([`search`](crate::search)): the base rate first, then the keys the
    /// rule is sensitive to, each with its range and scale. A key may be the
    /// rule's own or one of the optimizer's (`warmup`, `weight_decay`);
    /// registration checks that each range is one and its ends are values
    /// the key takes. Default: none, and a tuner refuses the rule.
    const SEARCH: &'static [Dim] = &[];
    /// The configuration the optimizer benchmark runs the rule at on the
    /// MNIST MLP, as spec keys: the base rate first (`lr=3e-3`), then any
    /// others (`momentum=0.9`). Each is the best of a grid of rates around
    /// the reference implementation's default. Default: none (empty), and
    /// a benchmark runs the rule only when asked, at its defaults.
    const TUNED: &'static str = "";
}

/// One hyperparameter of rule `R`: what parsing, printing, validation and
/// the docs need.
pub struct Hyperparameter<R> {
    /// The spec key.
    pub name: &'static str,
    /// The values a number may take (ignored for flags and corrections).
    pub range: Range,
    /// What it means.
    pub doc: &'static str,
    /// The field holding it.
    pub field: fn(&mut R) -> &mut dyn HyperValue,
}

/// A type a hyperparameter can have: `f64`, [`Quiet`], `u64` (a count ≥ 1),
/// `bool`, [`Flag`] or [`Correction`].
pub trait HyperValue: 'static {
    /// Sets the value from spec text, or says what the key takes.
    fn set(&mut self, text: &str, range: Range) -> Result<(), String>;
    /// The value as the canonical spec writes it.
    fn text(&self) -> String;
    /// Whether the canonical spec writes the value when it is the default.
    /// A correction is written only when it is not the rule's own, so that
    /// a rule's canonical spec names what makes it differ.
    fn shown_at_default(&self) -> bool {
        true
    }
}

impl HyperValue for f64 {
    fn set(&mut self, text: &str, range: Range) -> Result<(), String> {
        match text.parse::<f64>() {
            Ok(x) if range.contains(x) => {
                *self = x;
                Ok(())
            }
            _ => Err(range.describe().to_string()),
        }
    }

    fn text(&self) -> String {
        format_float(*self)
    }
}

/// A number that the canonical spec writes only when it differs from its
/// default: for a key added to a rule after specs of it were written down,
/// so that those specs (and the checkpoints that record them) read as they
/// did. Kept for `sgd_momentum`'s `dampening`: as a plain `f64`, every
/// canonical `sgd_momentum` spec would gain `,dampening=0` — its tuned
/// spec in the docs (seven mentions) and every `sgd_momentum` row of a
/// benchmark's `runs.csv`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Quiet(pub f64);

impl HyperValue for Quiet {
    fn set(&mut self, text: &str, range: Range) -> Result<(), String> {
        self.0.set(text, range)
    }

    fn text(&self) -> String {
        self.0.text()
    }

    fn shown_at_default(&self) -> bool {
        false
    }
}

/// A count, such as a number of iterations: a whole number ≥ 1.
impl HyperValue for u64 {
    fn set(&mut self, text: &str, _: Range) -> Result<(), String> {
        match text.parse::<u64>() {
            Ok(n) if n >= 1 => {
                *self = n;
                Ok(())
            }
            _ => Err("a whole number ≥ 1".to_string()),
        }
    }

    fn text(&self) -> String {
        self.to_string()
    }
}

impl HyperValue for bool {
    fn set(&mut self, text: &str, _: Range) -> Result<(), String> {
        *self = match text {
            "true" => true,
            "false" => false,
            _ => return Err("true or false".to_string()),
        };
        Ok(())
    }

    fn text(&self) -> String {
        self.to_string()
    }
}

/// A hyperparameter type made from the default a declaration writes: a
/// number for `f64` and [`Quiet`], a whole number for `u64`, `true` or
/// `false` for `bool` and [`Flag`] (for [`hyperparameters!`](macro@crate::hyperparameters),
/// which writes `5` for a count, not `5u64`).
pub trait FromDefault<T> {
    /// The value of default `value`.
    fn from_default(value: T) -> Self;
}

impl FromDefault<f64> for f64 {
    fn from_default(value: f64) -> f64 {
        value
    }
}

impl FromDefault<f64> for Quiet {
    fn from_default(value: f64) -> Quiet {
        Quiet(value)
    }
}

impl FromDefault<u64> for u64 {
    fn from_default(value: u64) -> u64 {
        value
    }
}

impl FromDefault<bool> for bool {
    fn from_default(value: bool) -> bool {
        value
    }
}

impl FromDefault<bool> for Flag {
    fn from_default(value: bool) -> Flag {
        Flag(value)
    }
}

impl FromDefault<Correction> for Correction {
    fn from_default(value: Correction) -> Correction {
        value
    }
}

/// A flag that the canonical spec writes only when it is set: for a
/// switch added to a rule after specs of it were written down (as
/// [`Quiet`] is for a number). Kept for Adam's `amsgrad`: as a plain
/// `bool`, every canonical `adam` and `adamw` spec would gain
/// `,amsgrad=false` — 156 of the 304 rows of `runs.csv` of the benchmark
/// snapshot's tiny sweep, and 8 specs in its report.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Flag(pub bool);

impl HyperValue for Flag {
    fn set(&mut self, text: &str, range: Range) -> Result<(), String> {
        self.0.set(text, range)
    }

    fn text(&self) -> String {
        self.0.text()
    }

    /// A set flag is written whatever the default (so that a variant whose
    /// own default sets it, [`AmsGrad`](crate::AmsGrad), still names it).
    fn shown_at_default(&self) -> bool {
        self.0
    }
}

impl HyperValue for Correction {
    fn set(&mut self, text: &str, _: Range) -> Result<(), String> {
        match Correction::CHOICES.iter().find(|&&(name, _)| name == text) {
            Some(&(_, c)) => {
                *self = c;
                Ok(())
            }
            None => {
                let names: Vec<&str> = Correction::CHOICES.iter().map(|&(n, _)| n).collect();
                Err(format!("one of {}", names.join(", ")))
            }
        }
    }

    fn text(&self) -> String {
        self.name().to_string()
    }

    fn shown_at_default(&self) -> bool {
        false
    }
}

/// Declares a rule's hyperparameters once: the struct with one public field
/// per hyperparameter, its `Default` (the declared defaults), its
/// [`Hyperparameters`] table (from which spec parsing, printing and
/// validation come) and a table of them at the end of the struct's docs.
///
/// Each field is `doc comment, name: type = default, range;` with type
/// `f64`, `Quiet` (a number written only when it is not the default),
/// `u64` (a count ≥ 1), `bool`, `Flag` (a bool written only when set) or
/// `Correction`; the range (a [`Range`] variant) is for numbers
/// and may be left out for any finite number. After the struct, optional
/// `search: [dims];` (the rule's [`SEARCH`](Hyperparameters::SEARCH), from
/// [`search`](crate::search)'s `log`, `decay`, `linear`, `integer`) and
/// `tuned: "keys";` (its [`TUNED`](Hyperparameters::TUNED)).
///
/// ```
/// gradlab_optim::hyperparameters! {
///     /// Heavy-ball SGD.
///     pub struct HeavyBall {
///         /// η, the step size.
///         lr: f64 = 0.01, Positive;
///         /// μ, the momentum.
///         momentum: f64 = 0.9, Fraction;
///         /// Step along ĝ + μv.
///         nesterov: bool = false;
///     }
/// }
/// let h = HeavyBall::default();
/// assert_eq!((h.lr, h.momentum, h.nesterov), (0.01, 0.9, false));
/// ```
#[macro_export]
macro_rules! hyperparameters {
    (
        $(#[$attr:meta])*
        $vis:vis struct $name:ident {
            $(
                $(#[doc = $doc:literal])*
                $field:ident : $ty:ident = $default:expr $(, $range:ident)?
            );* $(;)?
        }
        $(search: [$($dim:expr),* $(,)?];)?
        $(tuned: $tuned:literal;)?
    ) => {
        $(#[$attr])*
        ///
        /// | key | default | takes | meaning |
        /// |-----|---------|-------|---------|
        $(
            #[doc = concat!(
                "| `", stringify!($field), "` | `", stringify!($default), "` | ",
                $crate::__takes!($ty $(, $range)?), " |", $($doc, " ",)* "|"
            )]
        )*
        $(
            ///
            #[doc = concat!("Tuned for the benchmark: `", $tuned, "`.")]
        )?
        #[derive(Clone, Copy, Debug, PartialEq)]
        $vis struct $name {
            $( $(#[doc = $doc])* pub $field: $ty, )*
        }

        impl ::core::default::Default for $name {
            fn default() -> Self {
                $name { $( $field: <$ty as $crate::hyperparameters::FromDefault<_>>::from_default($default), )* }
            }
        }

        impl $crate::Hyperparameters for $name {
            const TABLE: &'static [$crate::Hyperparameter<Self>] = &[
                $(
                    $crate::Hyperparameter {
                        name: stringify!($field),
                        range: $crate::__range!($($range)?),
                        doc: concat!($($doc),*),
                        field: {
                            fn field(r: &mut $name) -> &mut dyn $crate::HyperValue {
                                &mut r.$field
                            }
                            field
                        },
                    },
                )*
            ];
            $(const SEARCH: &'static [$crate::search::Dim] = &[$($dim),*];)?
            $(const TUNED: &'static str = $tuned;)?
        }
    };
}

/// The [`Range`] of a declared hyperparameter (for [`hyperparameters!`](macro@crate::hyperparameters)).
#[doc(hidden)]
#[macro_export]
macro_rules! __range {
    () => {
        $crate::Range::Finite
    };
    ($range:ident) => {
        $crate::Range::$range
    };
}

/// The "takes" column of a rule's docs table (for [`hyperparameters!`](macro@crate::hyperparameters));
/// the range texts are [`Range::describe`]'s.
#[doc(hidden)]
#[macro_export]
macro_rules! __takes {
    (bool) => {
        "`true`, `false`"
    };
    (Flag) => {
        "`true`, `false`"
    };
    (u64) => {
        "a whole number ≥ 1"
    };
    (Correction) => {
        "`none`, `cumulative`, `min_nt`, `published`"
    };
    (f64) => {
        "a finite number"
    };
    (f64, Finite) => {
        "a finite number"
    };
    (f64, Positive) => {
        "a finite number > 0"
    };
    (f64, NonNegative) => {
        "a finite number ≥ 0"
    };
    (f64, Fraction) => {
        "a number in [0, 1)"
    };
    (f64, Length) => {
        "a finite number ≥ 1"
    };
    (f64, PositiveOrInfinite) => {
        "a number > 0 (inf allowed)"
    };
    (Quiet $(, $range:ident)?) => {
        $crate::__takes!(f64 $(, $range)?)
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_docs_column_says_what_each_range_takes() {
        let pairs = [
            (Range::Finite, __takes!(f64, Finite)),
            (Range::Positive, __takes!(f64, Positive)),
            (Range::NonNegative, __takes!(f64, NonNegative)),
            (Range::Fraction, __takes!(f64, Fraction)),
            (Range::Length, __takes!(f64, Length)),
            (Range::PositiveOrInfinite, __takes!(f64, PositiveOrInfinite)),
        ];
        for (range, text) in pairs {
            assert_eq!(range.describe(), text);
        }
        let names: Vec<String> = Correction::CHOICES
            .iter()
            .map(|(n, _)| format!("`{n}`"))
            .collect();
        assert_eq!(names.join(", "), __takes!(Correction));
    }
}
