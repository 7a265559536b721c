//! The statistics of the reports: means, spreads, medians, Student-t
//! intervals over seeds.

use gradlab_bench::stats::{ci95, mean, median, std, t975};

#[test]
fn small_samples() {
    assert_eq!(mean(&[1.0, 2.0, 6.0]), 3.0);
    assert_eq!(std(&[2.0, 4.0, 6.0]), 2.0);
    assert!(std(&[1.0]).is_nan());
    assert_eq!(median(&[5.0, 1.0, 3.0]), 3.0);
    assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
}

#[test]
fn t_quantiles_and_intervals() {
    assert_eq!(t975(2), 4.303);
    // Beyond the table, against the t table's 40, 60 and 120.
    for (df, t) in [(40, 2.021), (60, 2.000), (120, 1.980)] {
        assert!((t975(df) - t).abs() < 1e-3, "df {df}: {}", t975(df));
    }
    // Seeds 1, 2, 3: s = 1, so the half-width is t₀.₉₇₅(2)/√3.
    assert!((ci95(&[1.0, 2.0, 3.0]) - 4.303 / 3f64.sqrt()).abs() < 1e-12);
    assert!(ci95(&[1.0]).is_nan());
}
