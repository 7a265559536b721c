//! The update rules, behind one enum, and what each must provide.

use std::fmt;

use crate::adam::{Adam, AdamW};
use crate::adam_lecture::{AdamEta0, AdamLecture, AdamPerExample};
use crate::batch_rule::BatchRule;
use crate::gradient::Gradient;
use crate::parallel::Lanes;
use crate::param::GradRequest;
use crate::rmsprop::{RmsProp, RmsPropMomentum};
use crate::sgd::{Sgd, SgdEma, SgdMomentum};
use crate::spec::{KeyWriter, Keys, SpecError};

/// What an update rule provides to the [`Optimizer`](crate::Optimizer).
pub(crate) trait Update: Sized {
    /// The spec name.
    const NAME: &'static str;
    /// Names of the state tensors kept per parameter (at most two), in the
    /// order of [`Lanes::first`] and [`Lanes::second`].
    const MOMENTS: &'static [&'static str];
    /// The gradient statistics the rule reads.
    const REQUEST: GradRequest = GradRequest::Mean;
    /// The batch-size rule used unless the spec names one.
    const BATCH_RULE: BatchRule = BatchRule::Fixed;
    /// The scalars of one step, computed once per step, read by every
    /// element of the fused loop.
    type Coefs: Sync;

    /// The base learning rate (η, or η₀ where the rule is written with it),
    /// before the schedule and the batch-size rule.
    fn base_lr(&self) -> f64;
    /// The scalars of step `t` with learning rate `eta`.
    fn coefs(&self, t: u64, eta: f64) -> Self::Coefs;
    /// The fused update of one chunk of one parameter. Implementations are
    /// `#[inline(always)]`: the loop must be inlined into the AVX-512/AVX2
    /// copies [`gradlab_tensor::simd::vectorized`] makes of its caller.
    fn update(c: &Self::Coefs, g: Gradient, lanes: Lanes<'_>);
    /// Reads the rule's hyperparameters from a spec.
    fn parse(keys: &mut Keys<'_>) -> Result<Self, SpecError>;
    /// Writes every hyperparameter as `key=value`.
    fn write(&self, w: &mut KeyWriter<'_, '_>) -> fmt::Result;
}

/// One of the crate's update rules, with its hyperparameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Algorithm {
    /// See [`Sgd`].
    Sgd(Sgd),
    /// See [`SgdMomentum`].
    SgdMomentum(SgdMomentum),
    /// See [`SgdEma`].
    SgdEma(SgdEma),
    /// See [`RmsProp`].
    RmsProp(RmsProp),
    /// See [`RmsPropMomentum`].
    RmsPropMomentum(RmsPropMomentum),
    /// See [`Adam`].
    Adam(Adam),
    /// See [`AdamW`].
    AdamW(AdamW),
    /// See [`AdamLecture`].
    AdamLecture(AdamLecture),
    /// See [`AdamEta0`].
    AdamEta0(AdamEta0),
    /// See [`AdamPerExample`].
    AdamPerExample(AdamPerExample),
}

/// Runs `$body` with `$a` bound to the rule inside an [`Algorithm`], so that
/// generic code is instantiated (and its loops compiled) for each rule.
macro_rules! with_algorithm {
    ($alg:expr, $a:ident => $body:expr) => {
        match $alg {
            Algorithm::Sgd($a) => $body,
            Algorithm::SgdMomentum($a) => $body,
            Algorithm::SgdEma($a) => $body,
            Algorithm::RmsProp($a) => $body,
            Algorithm::RmsPropMomentum($a) => $body,
            Algorithm::Adam($a) => $body,
            Algorithm::AdamW($a) => $body,
            Algorithm::AdamLecture($a) => $body,
            Algorithm::AdamEta0($a) => $body,
            Algorithm::AdamPerExample($a) => $body,
        }
    };
}
pub(crate) use with_algorithm;

/// Every spec name, in the order of the lecture.
pub(crate) const NAMES: [&str; 10] = [
    Sgd::NAME,
    SgdMomentum::NAME,
    SgdEma::NAME,
    RmsProp::NAME,
    RmsPropMomentum::NAME,
    Adam::NAME,
    AdamW::NAME,
    AdamLecture::NAME,
    AdamEta0::NAME,
    AdamPerExample::NAME,
];

fn name_of<A: Update>(_: &A) -> &'static str {
    A::NAME
}

fn moments_of<A: Update>(_: &A) -> &'static [&'static str] {
    A::MOMENTS
}

fn request_of<A: Update>(_: &A) -> GradRequest {
    A::REQUEST
}

fn batch_rule_of<A: Update>(_: &A) -> BatchRule {
    A::BATCH_RULE
}

impl Algorithm {
    /// The spec name (`"adam"`, `"sgd_momentum"`, …).
    pub fn name(&self) -> &'static str {
        with_algorithm!(self, a => name_of(a))
    }

    /// Names of the state tensors kept per parameter, as
    /// [`Optimizer::moment`](crate::Optimizer::moment) takes them.
    pub fn moment_names(&self) -> &'static [&'static str] {
        with_algorithm!(self, a => moments_of(a))
    }

    /// The gradient statistics the rule reads.
    pub fn grad_request(&self) -> GradRequest {
        with_algorithm!(self, a => request_of(a))
    }

    /// The batch-size rule used when the spec names none.
    pub fn default_batch_rule(&self) -> BatchRule {
        with_algorithm!(self, a => batch_rule_of(a))
    }

    /// The base learning rate: `lr`, or `eta0` for the rules written with η₀.
    pub fn base_lr(&self) -> f64 {
        with_algorithm!(self, a => a.base_lr())
    }

    /// The ε added to √s in the denominator of the rules that divide by
    /// √s + ε (RMSProp, Adam and the lecture's Adam): `eps=0` makes every
    /// weight whose gradient has been 0 so far take the update 0/0 = NaN,
    /// which a training loop can then explain.
    pub fn denominator_eps(&self) -> Option<f64> {
        match self {
            Algorithm::RmsProp(a) => Some(a.eps),
            Algorithm::RmsPropMomentum(a) => Some(a.eps),
            Algorithm::Adam(a) => Some(a.eps),
            Algorithm::AdamW(a) => Some(a.eps),
            Algorithm::AdamLecture(a) => Some(a.eps),
            Algorithm::AdamPerExample(a) => Some(a.eps),
            Algorithm::Sgd(_)
            | Algorithm::SgdMomentum(_)
            | Algorithm::SgdEma(_)
            | Algorithm::AdamEta0(_) => None,
        }
    }

    /// Reads the rule named in `keys` and its hyperparameters.
    pub(crate) fn parse(keys: &mut Keys<'_>) -> Result<Algorithm, SpecError> {
        Ok(match keys.name() {
            Sgd::NAME => Algorithm::Sgd(Sgd::parse(keys)?),
            SgdMomentum::NAME => Algorithm::SgdMomentum(SgdMomentum::parse(keys)?),
            SgdEma::NAME => Algorithm::SgdEma(SgdEma::parse(keys)?),
            RmsProp::NAME => Algorithm::RmsProp(RmsProp::parse(keys)?),
            RmsPropMomentum::NAME => Algorithm::RmsPropMomentum(RmsPropMomentum::parse(keys)?),
            Adam::NAME => Algorithm::Adam(Adam::parse(keys)?),
            AdamW::NAME => Algorithm::AdamW(AdamW::parse(keys)?),
            AdamLecture::NAME => Algorithm::AdamLecture(AdamLecture::parse(keys)?),
            AdamEta0::NAME => Algorithm::AdamEta0(AdamEta0::parse(keys)?),
            AdamPerExample::NAME => Algorithm::AdamPerExample(AdamPerExample::parse(keys)?),
            name => {
                return Err(SpecError::UnknownOptimizer {
                    name: name.to_string(),
                    valid: NAMES.join(", "),
                })
            }
        })
    }

    /// Writes every hyperparameter of the rule.
    pub(crate) fn write(&self, w: &mut KeyWriter<'_, '_>) -> fmt::Result {
        with_algorithm!(self, a => a.write(w))
    }
}
