//! The batch order: a seeded permutation per epoch, reproducible from the
//! seed and epoch alone.

use gradlab_data::{Batches, DataError};

fn flatten(batches: &Batches) -> Vec<usize> {
    batches.iter().flatten().copied().collect()
}

#[test]
fn each_epoch_is_a_permutation() {
    for epoch in 0..5 {
        let mut seen = flatten(&Batches::new(1000, 64, 7, epoch, false).unwrap());
        seen.sort_unstable();
        assert_eq!(seen, (0..1000).collect::<Vec<_>>(), "epoch {epoch}");
    }
}

#[test]
fn same_seed_and_epoch_give_the_same_order() {
    let a = Batches::new(500, 32, 42, 3, false).unwrap();
    let b = Batches::new(500, 32, 42, 3, false).unwrap();
    assert_eq!(flatten(&a), flatten(&b));
}

#[test]
fn different_epochs_and_seeds_give_different_orders() {
    let order = |seed, epoch| flatten(&Batches::new(500, 32, seed, epoch, false).unwrap());
    let base = order(42, 3);
    assert_ne!(base, order(42, 4));
    assert_ne!(base, order(43, 3));
    assert_ne!(base, (0..500).collect::<Vec<_>>(), "not shuffled");
    // Order depends on the epoch number, not on how many epochs came before.
    assert_eq!(order(42, 4), order(42, 4));
}

#[test]
fn dropping_the_last_batch_keeps_the_same_order() {
    let kept = Batches::new(10, 4, 1, 0, false).unwrap();
    let dropped = Batches::new(10, 4, 1, 0, true).unwrap();
    let sizes = |b: &Batches| b.iter().map(<[usize]>::len).collect::<Vec<_>>();
    assert_eq!(kept.num_batches(), 3);
    assert_eq!(sizes(&kept), [4, 4, 2]);
    assert_eq!(dropped.num_batches(), 2);
    assert_eq!(sizes(&dropped), [4, 4]);
    assert_eq!(flatten(&dropped), flatten(&kept)[..8]);
}

#[test]
fn exact_division_has_no_partial_batch() {
    for drop_last in [false, true] {
        let batches = Batches::new(12, 4, 0, 0, drop_last).unwrap();
        assert_eq!(batches.num_batches(), 3);
        assert!(batches.iter().all(|b| b.len() == 4));
    }
}

#[test]
fn fewer_examples_than_one_batch() {
    assert_eq!(Batches::new(3, 8, 0, 0, false).unwrap().num_batches(), 1);
    let dropped = Batches::new(3, 8, 0, 0, true).unwrap();
    assert_eq!(dropped.num_batches(), 0);
    assert_eq!(dropped.iter().count(), 0);
    assert_eq!(Batches::new(0, 8, 0, 0, false).unwrap().iter().count(), 0);
}

#[test]
fn sequential_order_for_evaluation() {
    let batches = Batches::sequential(7, 3).unwrap();
    assert_eq!(batches.num_batches(), 3);
    let all: Vec<&[usize]> = (&batches).into_iter().collect();
    assert_eq!(all, [&[0, 1, 2][..], &[3, 4, 5], &[6]]);
}

#[test]
fn resuming_mid_epoch_skips_to_the_same_batches() {
    let full: Vec<Vec<usize>> = Batches::new(100, 16, 9, 2, false)
        .unwrap()
        .iter()
        .map(<[usize]>::to_vec)
        .collect();
    let resumed: Vec<Vec<usize>> = Batches::new(100, 16, 9, 2, false)
        .unwrap()
        .iter()
        .skip(4)
        .map(<[usize]>::to_vec)
        .collect();
    assert_eq!(resumed, full[4..]);
}

#[test]
fn zero_batch_size_is_an_error() {
    for result in [Batches::new(10, 0, 0, 0, false), Batches::sequential(10, 0)] {
        let err = result.unwrap_err();
        assert!(matches!(err, DataError::ZeroBatch));
        assert!(
            err.to_string().contains("batch_size must be at least 1"),
            "{err}"
        );
    }
}
