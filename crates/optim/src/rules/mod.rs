//! The built-in rules, one file each: the lecture's, in its order, then the
//! rules people compare them with. The registry lists them by spec name
//! ([`registry`](crate::registry)); adding a built-in rule is one file here,
//! one line below and one line in the registry's list.

mod adabelief;
mod adadelta;
mod adafactor;
mod adagrad;
mod adam;
mod adam_eta0;
mod adam_lecture;
mod adam_per_example;
mod adamax;
mod ademamix;
mod amsgrad;
mod cautious_adamw;
mod lamb;
mod lion;
mod muon;
mod nadam;
mod prodigy;
mod radam;
mod rmsprop;
mod rmsprop_momentum;
mod schedule_free_adamw;
mod sgd;
mod sgd_ema;
mod sgd_momentum;
mod shampoo;
mod sign_sgd;
mod signum;
mod soap;
mod yogi;

pub use adabelief::AdaBelief;
pub use adadelta::Adadelta;
pub use adafactor::Adafactor;
pub use adagrad::Adagrad;
pub use adam::Adam;
pub use adam_eta0::AdamEta0;
pub use adam_lecture::AdamLecture;
pub use adam_per_example::AdamPerExample;
pub use adamax::Adamax;
pub use ademamix::AdEMAMix;
pub use amsgrad::AmsGrad;
pub use cautious_adamw::CautiousAdamW;
pub use lamb::Lamb;
pub use lion::Lion;
pub use muon::Muon;
pub use nadam::Nadam;
pub use prodigy::Prodigy;
pub use radam::Radam;
pub use rmsprop::RmsProp;
pub use rmsprop_momentum::RmsPropMomentum;
pub use schedule_free_adamw::ScheduleFreeAdamW;
pub use sgd::Sgd;
pub use sgd_ema::SgdEma;
pub use sgd_momentum::SgdMomentum;
pub use shampoo::Shampoo;
pub use sign_sgd::SignSgd;
pub use signum::Signum;
pub use soap::Soap;
pub use yogi::Yogi;
