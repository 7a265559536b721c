//! [`Batches`]: the order in which an epoch visits the examples, cut into
//! mini-batches.

use rand::seq::SliceRandom;
use rand::Rng as _;

use crate::DataError;

/// Mixed into the seed so that shuffling draws from a different ChaCha key
/// than other users of the same run seed (such as weight initialisation),
/// whose draws would otherwise be the very same numbers.
const SHUFFLE_KEY: u64 = 0x5348_5546_464c_4531; // "SHUFFLE1"

/// The key of Poisson sampling's generator, for the same reason.
const POISSON_KEY: u64 = 0x504f_4953_534f_4e31; // "POISSON1"

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
///
/// [`Batches::poisson`] draws batches of varying size instead, as DP-SGD's
/// privacy accounting assumes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batches {
    order: Vec<usize>,
    /// How many leading entries of `order` are visited: all of them, or only
    /// the whole batches when the last partial one is dropped.
    used: usize,
    batch_size: usize,
    /// For Poisson-sampled batches: where each batch ends in `order`.
    ends: Option<Vec<usize>>,
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
            ends: None,
        })
    }

    /// `steps` batches drawn by Poisson sampling over `len` examples: each
    /// example is in each batch independently with probability `rate`, so
    /// a batch has `rate·len` examples on average and may have none. An
    /// example may be in several batches of an epoch, or in none. Within a
    /// batch the indices are increasing.
    ///
    /// Like [`Batches::new`], the batches of epoch `epoch` are a pure
    /// function of `(seed, epoch)`, from their own generator stream. Each
    /// batch is drawn by skipping ahead geometrically — the gap to the next
    /// example taken is ⌊ln u / ln(1 − rate)⌋ for u uniform in (0, 1] —
    /// which is exactly the per-example coin flips, at the cost of one draw
    /// per example taken rather than one per example.
    ///
    /// A `rate` outside (0, 1] is an error.
    pub fn poisson(
        len: usize,
        rate: f64,
        steps: usize,
        seed: u64,
        epoch: usize,
    ) -> Result<Batches, DataError> {
        if !(rate > 0.0 && rate <= 1.0) {
            return Err(DataError::SampleRate { rate });
        }
        let mut rng = gradlab_tensor::rng(seed ^ POISSON_KEY);
        rng.set_stream(epoch as u64);
        let log_keep = (-rate).ln_1p();
        let expected = (rate * len as f64 * steps as f64) as usize;
        let mut order = Vec::with_capacity(expected + expected / 8 + 16);
        let mut ends = Vec::with_capacity(steps);
        for _ in 0..steps {
            let mut next = 0usize;
            loop {
                let gap = if rate == 1.0 {
                    0.0
                } else {
                    let u: f64 = 1.0 - rng.random::<f64>();
                    (u.ln() / log_keep).floor()
                };
                if gap >= (len - next) as f64 {
                    break;
                }
                next += gap as usize;
                order.push(next);
                next += 1;
            }
            ends.push(order.len());
        }
        Ok(Batches {
            used: order.len(),
            order,
            batch_size: 0,
            ends: Some(ends),
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
            ends: None,
        })
    }

    /// The number of batches [`iter`](Batches::iter) yields.
    pub fn num_batches(&self) -> usize {
        match &self.ends {
            Some(ends) => ends.len(),
            None => self.used.div_ceil(self.batch_size),
        }
    }

    /// The batches in order, each a slice of example indices. Skipping ahead
    /// (`iter().skip(k)`, to resume mid-epoch) costs nothing.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            batches: self,
            next: 0,
        }
    }
}

/// The batches of a [`Batches`], in order.
#[derive(Clone, Debug)]
pub struct Iter<'a> {
    batches: &'a Batches,
    next: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = &'a [usize];

    fn next(&mut self) -> Option<&'a [usize]> {
        let b = self.batches;
        let k = self.next;
        if k >= b.num_batches() {
            return None;
        }
        self.next += 1;
        Some(match &b.ends {
            Some(ends) => &b.order[if k == 0 { 0 } else { ends[k - 1] }..ends[k]],
            None => &b.order[k * b.batch_size..((k + 1) * b.batch_size).min(b.used)],
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.batches.num_batches() - self.next;
        (left, Some(left))
    }

    fn nth(&mut self, n: usize) -> Option<&'a [usize]> {
        self.next = self.next.saturating_add(n);
        self.next()
    }
}

impl ExactSizeIterator for Iter<'_> {}

impl<'a> IntoIterator for &'a Batches {
    type Item = &'a [usize];
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
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
    fn poisson_batches_are_pinned() {
        let batches = Batches::poisson(20, 0.25, 3, 42, 1).unwrap();
        let got: Vec<Vec<usize>> = batches.iter().map(<[usize]>::to_vec).collect();
        assert_eq!(
            got,
            [
                vec![4, 17],
                vec![14, 18],
                vec![6, 8, 9, 12, 13, 14, 16, 17, 19]
            ]
        );
    }

    #[test]
    fn shuffling_does_not_replay_the_run_seed_stream() {
        let mut plain: Vec<usize> = (0..50).collect();
        plain.shuffle(&mut gradlab_tensor::rng(42));
        assert_ne!(Batches::new(50, 50, 42, 0, false).unwrap().order, plain);
    }
}
