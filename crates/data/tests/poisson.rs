//! Poisson sampling: each example in each batch independently with
//! probability q, as DP-SGD's accounting assumes.

use gradlab_data::{Batches, DataError};

#[test]
fn every_example_is_taken_with_probability_q() {
    let (len, q, steps) = (400, 0.05, 4000);
    let batches = Batches::poisson(len, q, steps, 7, 3).unwrap();
    assert_eq!(batches.num_batches(), steps);
    let mut taken = vec![0u32; len];
    let mut sizes = vec![];
    for batch in &batches {
        assert!(
            batch.windows(2).all(|w| w[0] < w[1]),
            "increasing, no repeats"
        );
        batch.iter().for_each(|&i| taken[i] += 1);
        sizes.push(batch.len() as f64);
    }
    // Batch sizes are Binomial(len, q): mean 20, variance 19.
    let mean = sizes.iter().sum::<f64>() / steps as f64;
    let var = sizes.iter().map(|s| (s - mean).powi(2)).sum::<f64>() / (steps - 1) as f64;
    assert!((mean - 20.0).abs() < 0.3, "mean batch {mean}");
    assert!((var - 19.0).abs() < 2.0, "batch variance {var}");
    // Each example's count is Binomial(steps, q): mean 200, sd 13.8; the
    // first and the last example are no exception (the skipping's edges).
    for (i, &c) in taken.iter().enumerate() {
        assert!((140..=260).contains(&c), "example {i} taken {c} times");
    }
    let first_last = f64::from(taken[0] + taken[len - 1]) / 2.0;
    assert!((first_last - 200.0).abs() < 45.0, "{first_last}");
    // Some batches are empty at q·len = 0.5.
    let sparse = Batches::poisson(10, 0.05, 200, 1, 0).unwrap();
    let empty = sparse.iter().filter(|b| b.is_empty()).count();
    assert!((90..=150).contains(&empty), "{empty} empty batches of 200");
}

#[test]
fn poisson_batches_depend_only_on_seed_and_epoch() {
    let a = Batches::poisson(100, 0.1, 20, 5, 2).unwrap();
    assert_eq!(a, Batches::poisson(100, 0.1, 20, 5, 2).unwrap());
    assert_ne!(a, Batches::poisson(100, 0.1, 20, 5, 3).unwrap());
    assert_ne!(a, Batches::poisson(100, 0.1, 20, 6, 2).unwrap());
    // Resuming at batch k skips to the same batch.
    let all: Vec<&[usize]> = a.iter().collect();
    assert_eq!(a.iter().nth(7), Some(all[7]));
    assert_eq!(a.iter().skip(19).count(), 1);
    // A rate of 1 takes every example every time.
    let full = Batches::poisson(5, 1.0, 2, 0, 0).unwrap();
    assert!(full.iter().all(|b| b == [0, 1, 2, 3, 4]));
}

#[test]
fn a_rate_outside_zero_to_one_is_an_error() {
    for rate in [0.0, -0.1, 1.5, f64::NAN] {
        let err = Batches::poisson(10, rate, 3, 0, 0).unwrap_err();
        assert!(matches!(err, DataError::SampleRate { .. }), "{err}");
        assert!(err.to_string().contains("(0, 1]"), "{err}");
    }
}
