//! Spec strings: `name(key=value,...)`.
//!
//! A spec names a rule and any of its hyperparameters; keys left out
//! take the rule's defaults. The same parentheses hold the keys every
//! rule accepts:
//!
//! | key            | value                         | meaning                                        |
//! |----------------|-------------------------------|------------------------------------------------|
//! | `weight_decay` | λ ≥ 0                          | L2 decay: the gradient becomes ĝ + λΦ (for `adamw`, `nadamw`, `lion` and `adafactor`, their decoupled decay instead) |
//! | `decoupled_weight_decay` | λ ≥ 0                | decoupled decay: Φ ← (1 − η_t·λ)·Φ before the rule's update |
//! | `clip_norm`    | > 0                            | clip ĝ by its global norm over all parameters  |
//! | `batch_rule`   | `fixed`, `linear`, `sqrt`      | η = η₀, B·η₀ or √B·η₀                           |
//! | `schedule`     | `constant`, `step`, `cosine`   | decay of η over the run                         |
//! | `step_size`    | whole number ≥ 1               | with `schedule=step`: steps between decays      |
//! | `gamma`        | > 0 (default 0.1)              | with `schedule=step`: factor of each decay      |
//! | `total_steps`  | whole number ≥ 1               | with `schedule=cosine`: the run length          |
//! | `warmup`       | whole number ≥ 0               | linear warm-up over that many steps             |
//!
//! Writing a spec back ([`Display`](std::fmt::Display)) gives the canonical
//! form: every hyperparameter of the rule (a correction only when it is not
//! the rule's own), then the other keys that differ from their defaults,
//! numbers in their shortest exact form. Parsing the canonical form gives
//! the same optimizer back.

use std::fmt;

/// A spec string that does not describe an optimizer. The message names the
/// valid choices.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    /// The spec is empty.
    #[error("empty optimizer spec; valid optimizers: {valid}")]
    Empty {
        /// The valid optimizer names.
        valid: String,
    },
    /// The spec is not of the form `name(key=value,...)`.
    #[error("malformed optimizer spec '{spec}': {problem}; the form is name(key=value,...), e.g. adam(lr=1e-3)")]
    Malformed {
        /// The spec.
        spec: String,
        /// What is wrong.
        problem: String,
    },
    /// The name is not an optimizer's.
    #[error("unknown optimizer '{name}'; valid optimizers: {valid}")]
    UnknownOptimizer {
        /// The name given.
        name: String,
        /// The valid optimizer names.
        valid: String,
    },
    /// A key the optimizer does not take.
    #[error("unknown key '{key}' for {optimizer}; valid keys: {valid}")]
    UnknownKey {
        /// The optimizer.
        optimizer: String,
        /// The key given.
        key: String,
        /// The valid keys.
        valid: String,
    },
    /// A key given twice.
    #[error("key '{key}' is given twice in '{spec}'")]
    DuplicateKey {
        /// The key.
        key: String,
        /// The spec.
        spec: String,
    },
    /// A value out of range or of the wrong kind.
    #[error("bad value '{value}' for {key} of {optimizer}: expected {expected}")]
    BadValue {
        /// The optimizer.
        optimizer: String,
        /// The key.
        key: String,
        /// The value given.
        value: String,
        /// What the key takes.
        expected: String,
    },
    /// A key that must be given in this context.
    #[error("{optimizer} with {context} needs {key}=...")]
    MissingKey {
        /// The optimizer.
        optimizer: String,
        /// The missing key.
        key: String,
        /// Why it is needed.
        context: String,
    },
}

/// The values a numeric hyperparameter may take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Range {
    /// Any finite number.
    Finite,
    /// A finite number > 0.
    Positive,
    /// A finite number ≥ 0.
    NonNegative,
    /// A number in [0, 1): a momentum or a β.
    Fraction,
    /// A finite number ≥ 1: an average's length N.
    Length,
    /// A number > 0, infinity included: ε of the η = ε·η₀ form.
    PositiveOrInfinite,
}

impl Range {
    /// Whether `x` is in the range.
    pub fn contains(self, x: f64) -> bool {
        match self {
            Range::Finite => x.is_finite(),
            Range::Positive => x.is_finite() && x > 0.0,
            Range::NonNegative => x.is_finite() && x >= 0.0,
            Range::Fraction => (0.0..1.0).contains(&x),
            Range::Length => x.is_finite() && x >= 1.0,
            Range::PositiveOrInfinite => x > 0.0,
        }
    }

    /// The range in words, as error messages and the docs say it.
    pub fn describe(self) -> &'static str {
        match self {
            Range::Finite => "a finite number",
            Range::Positive => "a finite number > 0",
            Range::NonNegative => "a finite number ≥ 0",
            Range::Fraction => "a number in [0, 1)",
            Range::Length => "a finite number ≥ 1",
            Range::PositiveOrInfinite => "a number > 0 (inf allowed)",
        }
    }
}

/// Keys that only apply with a particular schedule, named in the list of
/// valid keys when they were not asked for.
const SCHEDULE_KEYS: [(&str, &str); 3] = [
    ("step_size", "step_size (with schedule=step)"),
    ("gamma", "gamma (with schedule=step)"),
    ("total_steps", "total_steps (with schedule=cosine)"),
];

/// The `key=value` pairs of a spec, consumed as the parser asks for them.
pub(crate) struct Keys<'s> {
    optimizer: &'s str,
    given: Vec<(&'s str, &'s str)>,
    asked: Vec<&'static str>,
    /// Keys given in another spelling: (key, spelling), so that an error
    /// names what the spec wrote.
    spellings: Vec<(&'static str, &'s str)>,
}

/// Splits `spec` into its name and its keys, checking the syntax and that no
/// key is given twice.
pub(crate) fn split(spec: &str) -> Result<Keys<'_>, SpecError> {
    let malformed = |problem: &str| SpecError::Malformed {
        spec: spec.to_string(),
        problem: problem.to_string(),
    };
    let s = spec.trim();
    let (name, args) = match s.split_once('(') {
        None => (s, ""),
        Some((name, rest)) => match rest.strip_suffix(')') {
            Some(args) => (name.trim(), args),
            None => return Err(malformed("expected ')' at the end")),
        },
    };
    if name.is_empty() && args.trim().is_empty() {
        // The caller, which knows the registry, lists the names.
        return Err(SpecError::Empty {
            valid: String::new(),
        });
    }
    if name.is_empty() {
        return Err(malformed("no optimizer name before '('"));
    }
    let mut given: Vec<(&str, &str)> = Vec::new();
    if !args.trim().is_empty() {
        for pair in args.split(',') {
            let (key, value) = pair
                .split_once('=')
                .ok_or_else(|| malformed(&format!("expected key=value, got '{}'", pair.trim())))?;
            let (key, value) = (key.trim(), value.trim());
            if key.is_empty() || value.is_empty() {
                return Err(malformed(&format!(
                    "expected key=value, got '{}'",
                    pair.trim()
                )));
            }
            if given.iter().any(|&(k, _)| k == key) {
                return Err(SpecError::DuplicateKey {
                    key: key.to_string(),
                    spec: spec.to_string(),
                });
            }
            given.push((key, value));
        }
    }
    Ok(Keys {
        optimizer: name,
        given,
        asked: Vec::new(),
        spellings: Vec::new(),
    })
}

impl<'s> Keys<'s> {
    /// The optimizer name.
    pub fn name(&self) -> &'s str {
        self.optimizer
    }

    /// Reads a key given as `spelling` as `key` (another spelling of it);
    /// both given is an error.
    pub(crate) fn rename(
        &mut self,
        spelling: &'static str,
        key: &'static str,
    ) -> Result<(), SpecError> {
        let Some(i) = self.given.iter().position(|&(k, _)| k == spelling) else {
            return Ok(());
        };
        if self.given.iter().any(|&(k, _)| k == key) {
            return Err(SpecError::DuplicateKey {
                key: format!("{key} (also spelled {spelling})"),
                spec: format!("{}(…)", self.optimizer),
            });
        }
        self.spellings.push((key, self.given[i].0));
        self.given[i].0 = key;
        Ok(())
    }

    /// Removes and returns the value of `key`, remembering that the key is
    /// valid here.
    pub(crate) fn take(&mut self, key: &'static str) -> Option<&'s str> {
        if !self.asked.contains(&key) {
            self.asked.push(key);
        }
        let i = self.given.iter().position(|&(k, _)| k == key)?;
        Some(self.given.remove(i).1)
    }

    pub(crate) fn bad(&self, key: &str, value: &str, expected: &str) -> SpecError {
        let key = match self.spellings.iter().find(|&&(k, _)| k == key) {
            Some(&(_, spelling)) => spelling,
            None => key,
        };
        SpecError::BadValue {
            optimizer: self.optimizer.to_string(),
            key: key.to_string(),
            value: value.to_string(),
            expected: expected.to_string(),
        }
    }

    /// A number in `range`, or `default`.
    pub fn float(
        &mut self,
        key: &'static str,
        default: f64,
        range: Range,
    ) -> Result<f64, SpecError> {
        Ok(self.optional_float(key, range)?.unwrap_or(default))
    }

    /// A number in `range`, if given.
    pub fn optional_float(
        &mut self,
        key: &'static str,
        range: Range,
    ) -> Result<Option<f64>, SpecError> {
        let Some(value) = self.take(key) else {
            return Ok(None);
        };
        match value.parse::<f64>() {
            Ok(x) if range.contains(x) => Ok(Some(x)),
            _ => Err(self.bad(key, value, range.describe())),
        }
    }

    /// A whole number ≥ 0, or `default`.
    pub fn whole(&mut self, key: &'static str, default: u64) -> Result<u64, SpecError> {
        match self.take(key) {
            None => Ok(default),
            Some(value) => value
                .parse::<u64>()
                .map_err(|_| self.bad(key, value, "a whole number ≥ 0")),
        }
    }

    /// A whole number ≥ 1, if given.
    pub fn optional_count(&mut self, key: &'static str) -> Result<Option<u64>, SpecError> {
        match self.take(key) {
            None => Ok(None),
            Some(value) => match value.parse::<u64>() {
                Ok(n) if n >= 1 => Ok(Some(n)),
                _ => Err(self.bad(key, value, "a whole number ≥ 1")),
            },
        }
    }

    /// A whole number ≥ 1 that must be given because of `context`.
    pub fn required_count(&mut self, key: &'static str, context: &str) -> Result<u64, SpecError> {
        self.optional_count(key)?
            .ok_or_else(|| SpecError::MissingKey {
                optimizer: self.optimizer.to_string(),
                key: key.to_string(),
                context: context.to_string(),
            })
    }

    /// One of the named `choices`, or `default`.
    pub fn choice<T: Copy>(
        &mut self,
        key: &'static str,
        choices: &[(&str, T)],
        default: T,
    ) -> Result<T, SpecError> {
        let Some(value) = self.take(key) else {
            return Ok(default);
        };
        match choices.iter().find(|&&(name, _)| name == value) {
            Some(&(_, choice)) => Ok(choice),
            None => {
                let names: Vec<&str> = choices.iter().map(|&(name, _)| name).collect();
                Err(self.bad(key, value, &format!("one of {}", names.join(", "))))
            }
        }
    }

    /// Fails if a key was given that nobody asked for, listing the valid keys.
    pub fn finish(self) -> Result<(), SpecError> {
        let Some(&(key, _)) = self.given.first() else {
            return Ok(());
        };
        let mut valid: Vec<&str> = self.asked.clone();
        for (name, described) in SCHEDULE_KEYS {
            if !self.asked.contains(&name) {
                valid.push(described);
            }
        }
        Err(SpecError::UnknownKey {
            optimizer: self.optimizer.to_string(),
            key: key.to_string(),
            valid: valid.join(", "),
        })
    }
}

/// A number in its shortest form that parses back to the same `f64`: plain
/// between 10⁻⁴ and 10¹⁵, with an exponent outside (`1e-8`). How a spec,
/// and an error, writes a value the user gave.
pub fn format_float(x: f64) -> String {
    if x == 0.0 || (1e-4..1e15).contains(&x.abs()) {
        format!("{x}")
    } else {
        format!("{x:e}")
    }
}

/// `x` rounded to `digits` significant digits (at least 1), trailing zeros
/// dropped, for a computed value: plain from 10⁻³ up to 10⁶ (`2.998`,
/// `0.8125`, `3`), with an exponent outside (`1e30`, `3.125e-7`); 0, NaN
/// and ±∞ as Rust writes them.
pub fn significant(x: f64, digits: usize) -> String {
    let digits = digits.max(1);
    if x == 0.0 || !x.is_finite() {
        return format!("{x}");
    }
    let trim = |m: &str| -> String {
        match m.contains('.') {
            true => m.trim_end_matches('0').trim_end_matches('.').to_string(),
            false => m.to_string(),
        }
    };
    let exponent = x.abs().log10().floor() as i32;
    if (-3..6).contains(&exponent) {
        let decimals = (digits as i32 - 1 - exponent).max(0) as usize;
        trim(&format!("{x:.decimals$}"))
    } else {
        let s = format!("{x:.*e}", digits - 1);
        let (mantissa, exp) = s.split_once('e').expect("scientific notation");
        format!("{}e{exp}", trim(mantissa))
    }
}

/// Writes `key=value` pairs separated by commas.
pub(crate) struct KeyWriter<'a, 'b> {
    f: &'a mut fmt::Formatter<'b>,
    first: bool,
}

impl<'a, 'b> KeyWriter<'a, 'b> {
    pub fn new(f: &'a mut fmt::Formatter<'b>) -> KeyWriter<'a, 'b> {
        KeyWriter { f, first: true }
    }

    fn key(&mut self, key: &str) -> fmt::Result {
        if !self.first {
            self.f.write_str(",")?;
        }
        self.first = false;
        write!(self.f, "{key}=")
    }

    /// A number in its shortest form that parses back to the same `f64`:
    /// plain between 10⁻⁴ and 10¹⁵, with an exponent outside (`1e-8`).
    pub fn float(&mut self, key: &str, x: f64) -> fmt::Result {
        self.text(key, &format_float(x))
    }

    /// A whole number.
    pub fn whole(&mut self, key: &str, n: u64) -> fmt::Result {
        self.key(key)?;
        write!(self.f, "{n}")
    }

    /// A name.
    pub fn text(&mut self, key: &str, value: &str) -> fmt::Result {
        self.key(key)?;
        self.f.write_str(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn significant_digits_plain_in_range_and_with_an_exponent_outside() {
        let cases = [
            (2.998_123, "2.998"),
            (0.812_54, "0.8125"),
            (3.000_04, "3"),
            (123_456.7, "123457"),
            (1e30, "1e30"),
            (999_999_999_999_990_168_260_439_965_696.0, "1e30"),
            (1.234_56e-7, "1.235e-7"),
            (-0.5, "-0.5"),
            (0.0, "0"),
            (f64::INFINITY, "inf"),
        ];
        for (x, want) in cases {
            assert_eq!(significant(x, 4), want, "{x}");
        }
        assert_eq!(format_float(1e-300), "1e-300");
    }

    struct Floats(Vec<f64>);

    impl fmt::Display for Floats {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            let mut w = KeyWriter::new(f);
            for &x in &self.0 {
                w.float("x", x)?;
            }
            Ok(())
        }
    }

    #[test]
    fn floats_are_short_and_exact() {
        let xs = vec![
            1e-3,
            0.9,
            0.999,
            1e-8,
            100.0,
            0.0,
            3e20,
            f64::INFINITY,
            0.1 + 0.2,
        ];
        let text = Floats(xs.clone()).to_string();
        assert_eq!(
            text,
            "x=0.001,x=0.9,x=0.999,x=1e-8,x=100,x=0,x=3e20,x=inf,x=0.30000000000000004"
        );
        let back: Vec<f64> = text.split(',').map(|kv| kv[2..].parse().unwrap()).collect();
        assert_eq!(back, xs);
    }

    #[test]
    fn split_reads_names_and_keys() {
        let mut keys = split(" adam ( lr = 0.5 , b1=0.8 )").unwrap();
        assert_eq!(keys.name(), "adam");
        assert_eq!(keys.float("lr", 1.0, Range::Positive), Ok(0.5));
        assert_eq!(keys.float("eps", 2.0, Range::Positive), Ok(2.0));
        let err = keys.finish().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown key 'b1' for adam; valid keys: lr, eps, step_size (with schedule=step), \
             gamma (with schedule=step), total_steps (with schedule=cosine)"
        );
        assert_eq!(split("sgd").unwrap().name(), "sgd");
        assert_eq!(split("sgd()").unwrap().given.len(), 0);
    }

    #[test]
    fn syntax_errors() {
        let msg = |s: &str| split(s).err().unwrap().to_string();
        assert!(msg("adam(lr=1").contains("expected ')' at the end"));
        assert!(msg("adam(lr)").contains("expected key=value, got 'lr'"));
        assert!(msg("adam(lr=1,,)").contains("expected key=value, got ''"));
        assert!(msg("(lr=1)").contains("no optimizer name"));
        assert!(msg("adam(lr=1,lr=2)").contains("key 'lr' is given twice"));
        // (The optimizer fills in the valid names: tests/spec_strings.rs.)
        assert!(msg("  ").starts_with("empty optimizer spec"));
    }
}
