//! The RDP accountant against Opacus' `RDPAccountant` and
//! `get_noise_multiplier` (Opacus 1.6.0; the numbers come from
//! `tests/reference/opacus_rdp.py`, run by hand), and its properties.

use gradlab_optim::accountant::{self, default_orders, Phase};
use gradlab_optim::{PrivacyError, RdpAccountant};

/// Phases as (σ, q, steps).
type Phases = &'static [(f64, f64, u64)];

/// (phases, δ, Opacus' ε, Opacus' best order).
const SPENT: [(Phases, f64, f64, f64); 7] = [
    (
        &[(1.1, 0.004266666666666667, 3516)],
        1e-05,
        1.2813000161257395,
        12.0,
    ),
    (&[(1.0, 0.01, 1000)], 1e-05, 2.1013652716430564, 7.8),
    (&[(0.7, 0.001, 10000)], 1e-06, 2.4730394785007035, 6.2),
    (&[(2.0, 0.1, 100)], 1e-05, 2.5805688086608938, 7.6),
    (&[(5.0, 1.0, 10)], 1e-05, 2.8136532471298397, 7.9),
    (&[(0.5, 0.02, 50)], 1e-05, 9.7266238211686, 2.3),
    (
        &[(1.1, 0.004, 1000), (0.8, 0.01, 500)],
        1e-05,
        3.0326846079535836,
        5.1,
    ),
];

/// (target ε, δ, q, steps, Opacus' σ).
const SIGMA: [(f64, f64, f64, u64, f64); 3] = [
    (3.0, 1e-05, 0.004266666666666667, 3515, 0.77392578125),
    (1.0, 1e-05, 0.01, 1000, 1.5234375),
    (8.0, 1e-06, 0.001, 5000, 0.473480224609375),
];

fn phases(p: &[(f64, f64, u64)]) -> Vec<Phase> {
    p.iter()
        .map(|&(noise_multiplier, sample_rate, steps)| Phase {
            noise_multiplier,
            sample_rate,
            steps,
        })
        .collect()
}

#[test]
fn epsilon_agrees_with_opacus() {
    for (p, delta, eps, order) in SPENT {
        let got = accountant::spent(&phases(p), delta, &default_orders()).unwrap();
        let err = (got.epsilon - eps).abs() / eps;
        println!(
            "{p:?} δ={delta}: ε = {} (Opacus {eps}), α = {}",
            got.epsilon, got.order
        );
        assert!(
            err < 1e-12,
            "{p:?}: ε = {}, Opacus {eps} (relative error {err:e})",
            got.epsilon
        );
        assert_eq!(got.order, order, "{p:?}");
    }
}

#[test]
fn the_noise_multiplier_for_a_target_agrees_with_opacus() {
    for (eps, delta, q, steps, sigma) in SIGMA {
        let got = accountant::noise_multiplier(eps, delta, q, steps).unwrap();
        assert_eq!(got, sigma, "ε = {eps}, δ = {delta}, q = {q}, {steps} steps");
        let spent =
            accountant::spent(&phases(&[(got, q, steps)]), delta, &default_orders()).unwrap();
        assert!(
            spent.epsilon <= eps && spent.epsilon > eps - 0.01,
            "{spent:?}"
        );
    }
}

#[test]
fn stepping_records_phases_and_spends_more_with_every_step() {
    let mut acc = RdpAccountant::new();
    assert_eq!(acc.spent(1e-5).unwrap().epsilon, 0.0);
    let mut last = 0.0;
    for t in 1..=300 {
        let (sigma, q) = if t <= 200 { (1.1, 0.004) } else { (0.8, 0.01) };
        acc.step(sigma, q).unwrap();
        let eps = acc.spent(1e-5).unwrap().epsilon;
        assert!(eps > last, "step {t}: ε {eps} after {last}");
        last = eps;
    }
    assert_eq!(
        acc.history(),
        &phases(&[(1.1, 0.004, 200), (0.8, 0.01, 100)])[..]
    );
    // More noise, or a smaller δ' > δ, spends less.
    let at = |sigma: f64, delta: f64| {
        accountant::spent(&phases(&[(sigma, 0.01, 1000)]), delta, &default_orders())
            .unwrap()
            .epsilon
    };
    assert!(at(2.0, 1e-5) < at(1.0, 1e-5));
    assert!(at(1.0, 1e-3) < at(1.0, 1e-5));
}

#[test]
fn a_saved_accountant_continues_the_same_accounting() {
    let mut straight = RdpAccountant::new();
    let mut first = RdpAccountant::new();
    for _ in 0..50 {
        straight.step(1.0, 0.01).unwrap();
        first.step(1.0, 0.01).unwrap();
    }
    let json = serde_json::to_string(&first).unwrap();
    let mut resumed: RdpAccountant = serde_json::from_str(&json).unwrap();
    for _ in 0..50 {
        straight.step(1.0, 0.01).unwrap();
        resumed.step(1.0, 0.01).unwrap();
    }
    assert_eq!(resumed, straight);
    assert_eq!(resumed.spent(1e-5).unwrap(), straight.spent(1e-5).unwrap());
}

#[test]
fn the_edge_cases_are_the_mechanism_s() {
    // No sampling spends nothing; no noise spends everything; q = 1 is the
    // Gaussian mechanism, ε_α = α/(2σ²) per step.
    assert_eq!(accountant::rdp(0.0, 1.0, 2.0), 0.0);
    assert_eq!(accountant::rdp(0.5, 0.0, 2.0), f64::INFINITY);
    assert_eq!(accountant::rdp(1.0, 2.0, 3.0), 3.0 / 8.0);
    let none = accountant::spent(&phases(&[(0.0, 0.1, 10)]), 1e-5, &default_orders()).unwrap();
    assert_eq!(none.epsilon, f64::INFINITY);
    // For an integer order and q < 1 the closed form of A_2:
    // A_2 = (1 − q)² + 2q(1 − q) + q²·e^{1/σ²} = 1 + q²(e^{1/σ²} − 1).
    let (q, sigma) = (0.1f64, 1.5f64);
    let want = (1.0 + q * q * ((1.0 / (sigma * sigma)).exp() - 1.0)).ln();
    assert!((accountant::rdp(q, sigma, 2.0) - want).abs() < 1e-14);
}

#[test]
fn a_search_where_noise_does_not_matter_ends() {
    // Without sampling or without steps ε is the conversion's floor
    // (≈ 0.10 at δ = 1e-5) whatever σ: any σ meets a target above it, and
    // the search ends at a σ of about 0 instead of halving for ever.
    for (q, steps) in [(0.0, 100), (0.01, 0)] {
        let sigma = accountant::noise_multiplier(1.0, 1e-5, q, steps).unwrap();
        assert!(sigma < 1e-20, "q = {q}, {steps} steps: σ = {sigma}");
    }
}

#[test]
fn bad_values_are_errors() {
    let mut acc = RdpAccountant::new();
    assert_eq!(acc.step(1.0, 1.5), Err(PrivacyError::SampleRate(1.5)));
    assert_eq!(
        acc.step(-1.0, 0.1),
        Err(PrivacyError::NoiseMultiplier(-1.0))
    );
    assert!(matches!(
        acc.step(f64::NAN, 0.1),
        Err(PrivacyError::NoiseMultiplier(_))
    ));
    assert!(acc.history().is_empty(), "a refused step is not recorded");
    assert_eq!(acc.spent(0.0), Err(PrivacyError::Delta(0.0)));
    assert_eq!(acc.spent(1.0), Err(PrivacyError::Delta(1.0)));
    assert_eq!(
        accountant::noise_multiplier(-3.0, 1e-5, 0.01, 100),
        Err(PrivacyError::TargetEpsilon(-3.0))
    );
    let err = accountant::noise_multiplier(1e-9, 1e-5, 1.0, 100).unwrap_err();
    assert_eq!(
        err.to_string(),
        "no noise multiplier up to 1e6 reaches ε = 1e-9 at δ = 1e-5 in 100 steps at q = 1: the budget is too low"
    );
    assert_eq!(
        accountant::spent(&phases(&[(1.0, 0.1, 10)]), 1e-5, &[2.0, 1.0]),
        Err(PrivacyError::Orders(vec![2.0, 1.0]))
    );
    assert!(matches!(
        accountant::spent(&phases(&[(1.0, 0.1, 10)]), 1e-5, &[]),
        Err(PrivacyError::Orders(_))
    ));
    assert_eq!(
        PrivacyError::SampleRate(1.5).to_string(),
        "the sampling rate q must be in [0, 1], got 1.5"
    );
}
