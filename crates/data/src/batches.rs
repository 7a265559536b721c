//! [`Batches`]: the order in which an epoch visits the examples, cut into
//! mini-batches.

use std::slice::Chunks;

use rand::seq::SliceRandom;

use crate::DataError;

/// Mixed into the seed so that shuffling draws from a different ChaCha key
/// than other users of the same run seed (such as weight initialisation),
/// whose draws would otherwise be the very same numbers.
const SHUFFLE_KEY: u64 = 0x5348_5546_464c_4531; // "SHUFFLE1"

/// The example indices of one epoch, in batches.
///
/// The shuffled order of epoch `e` under seed `s` is a pure function of
/// `(s, e)`: the permutation is drawn from the generator
/// `gradlab_tensor::rng(s ^ SHUFFLE_KEY)` switched to ChaCha stream `e`.
/// Distinct streams of one key are independent, so every epoch gets its own
/// order, and a resumed run recreates any epoch's order from the seed and the
/// epoch number alone, without saving generator state. (The order is fixed for
/// a given version of the `rand` crate, which `Cargo.lock` pins.)
///
/// ```
/// use gradlab_data::Batches;
/// let batches = Batches::new(10, 4, 42, 0, false)?;
/// assert_eq!(batches.num_batches(), 3);
/// let sizes: Vec<usize> = batches.iter().map(|b| b.len()).collect();
/// assert_eq!(sizes, [4, 4, 2]);
/// # Ok::<(), gradlab_data::DataError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batches {
    order: Vec<usize>,
    /// How many leading entries of `order` are visited: all of them, or only
    /// the whole batches when the last partial one is dropped.
    used: usize,
    batch_size: usize,
}

impl Batches {
    /// The batches of epoch `epoch` over `len` examples in an order shuffled
    /// by `seed` and `epoch`. The last batch is shorter when `batch_size`
    /// does not divide `len`, unless `drop_last` is set, in which case it is
    /// left out. A `batch_size` of 0 is an error.
    pub fn new(
        len: usize,
        batch_size: usize,
        seed: u64,
        epoch: usize,
        drop_last: bool,
    ) -> Result<Batches, DataError> {
        check_batch_size(batch_size)?;
        let mut order: Vec<usize> = (0..len).collect();
        let mut rng = gradlab_tensor::rng(seed ^ SHUFFLE_KEY);
        rng.set_stream(epoch as u64);
        order.shuffle(&mut rng);
        let used = if drop_last {
            len - len % batch_size
        } else {
            len
        };
        Ok(Batches {
            order,
            used,
            batch_size,
        })
    }

    /// The examples `0..len` in order, in batches of `batch_size`, the last
    /// one possibly shorter: the order for evaluation. A `batch_size` of 0
    /// is an error.
    pub fn sequential(len: usize, batch_size: usize) -> Result<Batches, DataError> {
        check_batch_size(batch_size)?;
        Ok(Batches {
            order: (0..len).collect(),
            used: len,
            batch_size,
        })
    }

    /// The number of batches [`iter`](Batches::iter) yields.
    pub fn num_batches(&self) -> usize {
        self.used.div_ceil(self.batch_size)
    }

    /// The batches in order, each a slice of example indices. Skipping ahead
    /// (`iter().skip(k)`, to resume mid-epoch) costs nothing.
    pub fn iter(&self) -> Chunks<'_, usize> {
        self.order[..self.used].chunks(self.batch_size)
    }
}

impl<'a> IntoIterator for &'a Batches {
    type Item = &'a [usize];
    type IntoIter = Chunks<'a, usize>;

    fn into_iter(self) -> Chunks<'a, usize> {
        self.iter()
    }
}

fn check_batch_size(batch_size: usize) -> Result<(), DataError> {
    if batch_size == 0 {
        return Err(DataError::ZeroBatch);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pins the order so that a change to how it is derived — which would
    /// make resumed runs visit examples differently from the original run —
    /// cannot go unnoticed.
    #[test]
    fn order_is_pinned() {
        let batches = Batches::new(10, 10, 42, 1, false).unwrap();
        assert_eq!(batches.order, [7, 5, 9, 6, 2, 4, 1, 0, 3, 8]);
    }

    #[test]
    fn shuffling_does_not_replay_the_run_seed_stream() {
        let mut plain: Vec<usize> = (0..50).collect();
        plain.shuffle(&mut gradlab_tensor::rng(42));
        assert_ne!(Batches::new(50, 50, 42, 0, false).unwrap().order, plain);
    }
}
