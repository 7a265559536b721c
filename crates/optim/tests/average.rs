//! The lecture's running averages: the two names of one length, and the
//! weights of each correction.

use gradlab_optim::{AverageError, Correction, RunningAverage, Weights};

#[test]
fn n_and_beta_are_two_names_for_one_length() {
    let a = RunningAverage::new(10.0, Correction::None).unwrap();
    let b = RunningAverage::from_beta(0.9, Correction::None).unwrap();
    assert!((a.beta() - 0.9).abs() < 1e-15);
    assert!((b.n() - 10.0).abs() < 1e-12);
    assert_eq!(a.weights(3), b.weights(3));
    assert_eq!(RunningAverage::cumulative().n(), f64::INFINITY);
}

#[test]
fn weights_of_each_correction() {
    let n = 4.0;
    // t = 2: None takes 1/4; Cumulative 1/2; MinNT 1/min(4, 2) = 1/2;
    // Published takes 1/4 and divides by 1 − 0.75² = 0.4375.
    let w = |c| RunningAverage::new(n, c).unwrap().weights(2);
    assert_eq!(
        w(Correction::None),
        Weights {
            keep: 0.75,
            take: 0.25,
            debias: 1.0
        }
    );
    assert_eq!(
        w(Correction::Cumulative),
        Weights {
            keep: 0.5,
            take: 0.5,
            debias: 1.0
        }
    );
    assert_eq!(
        w(Correction::MinNT),
        Weights {
            keep: 0.5,
            take: 0.5,
            debias: 1.0
        }
    );
    let p = w(Correction::Published);
    assert_eq!((p.keep, p.take), (0.75, 0.25));
    assert!((p.debias - 1.0 / 0.4375).abs() < 1e-6);
    // t = 9 > N: MinNT has become the EMA.
    assert_eq!(
        RunningAverage::new(n, Correction::MinNT)
            .unwrap()
            .weights(9)
            .take,
        0.25
    );
}

#[test]
#[should_panic(expected = "steps count from t = 1")]
fn step_zero_is_refused() {
    RunningAverage::new(2.0, Correction::None)
        .unwrap()
        .weights(0);
}

#[test]
fn bad_lengths_and_decays_are_errors() {
    let err = RunningAverage::new(0.5, Correction::None).unwrap_err();
    assert_eq!(err, AverageError::Length(0.5));
    assert!(err
        .to_string()
        .contains("the length N must be ≥ 1, got 0.5"));
    assert_eq!(
        RunningAverage::new(f64::INFINITY, Correction::Published).unwrap_err(),
        AverageError::InfiniteLength(Correction::Published)
    );
    assert!(RunningAverage::new(f64::INFINITY, Correction::MinNT).is_ok());
    assert_eq!(
        RunningAverage::from_beta(1.0, Correction::None).unwrap_err(),
        AverageError::Beta(1.0)
    );
    assert!(RunningAverage::new(f64::NAN, Correction::None).is_err());
}
