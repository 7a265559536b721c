//! Embedding: a table lookup, `y[b, t] = W[id_b,t]`, for token ids `[B, T]`
//! and a table W of `[V, d]` (PyTorch's `nn.Embedding`).
//!
//! **Derivative.** The lookup copies rows, so its adjoint adds them back:
//! `dW[v] = Σ_{b,t: id_b,t = v} dY_b,t` (a scatter-add, in the order of the
//! positions), and the ids get no gradient.
//!
//! **Per example.** Example b's gradient touches only the rows of the
//! tokens it uses: row v of g_b(W) is `B·s_b,v` with
//! `s_b,v = Σ_{t: id_b,t = v} dY_b,t` (the rows of dY carry 1/B). Its
//! squared norm is the token Gram form
//! `‖g_b‖² = B²·Σ_{t,t'} [id_b,t = id_b,t']·⟨dY_b,t, dY_b,t'⟩ = B²·Σ_v ‖s_b,v‖²`,
//! which the op computes by summing each run of equal tokens — the example's
//! positions ordered by token — in `T·d`, never forming the `[V, d]` g_b.
//! The mean of squares adds `B·s_b,v²` into row v for every token of every
//! example; only the per-example request materializes `[B, V, d]`.

use gradlab_tensor::{parallel, Tensor};

use crate::op::{Backward, Examples, Op};
use crate::tape::{Graph, Var};

/// Rows of a table `[V, d]` (input 1) picked by token ids (input 0, a
/// `[B, T]` batch holding integers).
pub struct Embedding;

/// What the embedding keeps between its passes.
#[derive(Default)]
pub struct EmbeddingSaved {
    /// The ids as indices, `B·T`.
    ids: Vec<usize>,
    /// Each example's positions ordered by (token, position), `B·T`.
    order: Vec<u32>,
    /// Each example's sums s_b,v over runs of equal tokens, `[B, T·d]`
    /// (the first rows of an example's block; one per distinct token).
    sums: Tensor,
}

impl Op for Embedding {
    type Saved = EmbeddingSaved;

    fn name(&self) -> String {
        "embedding".into()
    }

    /// Row b of the output is example b's; a table that is itself a batch
    /// would mix them.
    fn examples(&self, batched: &[bool]) -> Examples {
        Examples {
            batched: batched[0],
            mixes: batched[1],
        }
    }

    fn forward(&self, x: &[&Tensor], y: &mut Tensor, saved: &mut EmbeddingSaved) {
        let (ids, table) = (x[0], x[1]);
        let d = table.shape()[1];
        let ts = ids.shape();
        y.resize_for(&[ts[0], ts[1], d]);
        saved.ids.clear();
        saved.ids.extend(ids.data().iter().map(|&v| v as usize));
        let index = &saved.ids;
        parallel::rows_mut(y.data_mut(), d, |first, rows| {
            for (p, row) in (first..).zip(rows.chunks_exact_mut(d)) {
                row.copy_from_slice(&table.data()[index[p] * d..][..d]);
            }
        });
    }

    fn backward(&self, cx: &mut Backward, saved: &mut EmbeddingSaved) {
        let dy = cx.dy;
        let d = cx.x[1].shape()[1];
        let (batch, s) = (cx.batch(), cx.batch() as f32);
        let t = saved.ids.len() / batch.max(1);
        let EmbeddingSaved { ids, order, sums } = saved;
        let per_example_stats = cx.is_batch(0) && (cx.per_example(1) || cx.wants_norms(1));
        if per_example_stats {
            token_sums(ids, dy.data(), (batch, t, d), order, sums);
        }
        if cx.is_batch(0) && cx.wants_norms(1) {
            // ‖g_b‖² = B²·Σ_v ‖s_b,v‖²: the sums of an example are its first
            // rows, as many as it has distinct tokens (zeros after).
            cx.norms(1, |n| {
                parallel::per_row(n, t * d, |first, out| {
                    for (b, o) in (first..).zip(out) {
                        let block = &sums.data()[b * t * d..][..t * d];
                        *o = s * s * block.iter().map(|v| v * v).sum::<f32>();
                    }
                });
            });
        }
        // dW[v] (+)= Σ over the positions holding v, in their order.
        cx.accumulate(1, |grad, first| {
            parallel::rows_mut(grad.data_mut(), d, |v0, rows| {
                if first {
                    rows.fill(0.0);
                }
                let v1 = v0 + rows.len() / d;
                for (p, &v) in ids.iter().enumerate() {
                    if (v0..v1).contains(&v) {
                        let row = &mut rows[(v - v0) * d..][..d];
                        row.iter_mut()
                            .zip(&dy.data()[p * d..][..d])
                            .for_each(|(g, &u)| *g += u);
                    }
                }
            });
        });
        if per_example_stats && cx.per_example(1) {
            let vocab = cx.x[1].shape()[0];
            cx.stats(1, |sq, pe| {
                // (1/B)·Σ_b g_b² = B·Σ_b Σ_v s_b,v², row by row.
                sq.resize_for(&[vocab, d]);
                sq.fill(0.0);
                if let Some(pe) = pe {
                    pe.resize_for(&[batch, vocab, d]);
                    pe.fill(0.0);
                    each_token_sum(ids, order, sums, (batch, t, d), |b, v, sum| {
                        let row = &mut pe.data_mut()[(b * vocab + v) * d..][..d];
                        row.iter_mut().zip(sum).for_each(|(o, &u)| *o = s * u);
                    });
                }
                each_token_sum(ids, order, sums, (batch, t, d), |_, v, sum| {
                    let row = &mut sq.data_mut()[v * d..][..d];
                    row.iter_mut().zip(sum).for_each(|(o, &u)| *o += s * u * u);
                });
            });
        }
    }
}

/// For each example, its positions ordered by (token, position) into
/// `order`, and the sum of dY over each run of equal tokens into the
/// example's block of `sums` (`[B, T·d]`: one row per distinct token, in
/// token order, then zeros).
fn token_sums(
    ids: &[usize],
    dy: &[f32],
    (batch, t, d): (usize, usize, usize),
    order: &mut Vec<u32>,
    sums: &mut Tensor,
) {
    order.clear();
    order.extend((0..batch).flat_map(|_| 0..t as u32));
    for (b, o) in order.chunks_exact_mut(t.max(1)).enumerate() {
        o.sort_unstable_by_key(|&p| (ids[b * t + p as usize], p));
    }
    sums.resize_for(&[batch, t * d]);
    let order = &*order;
    parallel::rows_mut(sums.data_mut(), t * d, |first, blocks| {
        for (b, block) in (first..).zip(blocks.chunks_exact_mut(t * d)) {
            block.fill(0.0);
            let mut run = 0;
            for (i, &p) in order[b * t..][..t].iter().enumerate() {
                let at = b * t + p as usize;
                if i > 0 && ids[at] != ids[b * t + order[b * t + i - 1] as usize] {
                    run += 1;
                }
                block[run * d..][..d]
                    .iter_mut()
                    .zip(&dy[at * d..][..d])
                    .for_each(|(o, &u)| *o += u);
            }
        }
    });
}

/// Calls `f(b, v, s_b,v)` for each distinct token v of each example b, in
/// order, from what [`token_sums`] left.
fn each_token_sum(
    ids: &[usize],
    order: &[u32],
    sums: &Tensor,
    (batch, t, d): (usize, usize, usize),
    mut f: impl FnMut(usize, usize, &[f32]),
) {
    for b in 0..batch {
        let mut run = 0;
        for (i, &p) in order[b * t..][..t].iter().enumerate() {
            let v = ids[b * t + p as usize];
            if i > 0 && v == ids[b * t + order[b * t + i - 1] as usize] {
                continue;
            }
            f(b, v, &sums.data()[(b * t + run) * d..][..d]);
            run += 1;
        }
    }
}

impl Graph<'_, '_> {
    /// The rows of `table` (`[V, d]`, PyTorch's `nn.Embedding` layout)
    /// picked by `ids`, a `[B, T]` batch of token ids held as integers
    /// (`g.input` of the ids as `f32`): output `[B, T, d]`.
    ///
    /// # Panics
    /// If `ids` is not 2-D, `table` not 2-D, or an id is not an integer
    /// below V.
    pub fn embedding(&mut self, ids: Var, table: Var) -> Var {
        let (is, ts) = (self.value(ids).shape(), self.value(table).shape());
        assert!(
            is.len() == 2 && ts.len() == 2,
            "embedding: ids {is:?} and table {ts:?} must be [B, T] and [V, d]"
        );
        let vocab = ts[0];
        if let Some((i, &v)) = self
            .value(ids)
            .data()
            .iter()
            .enumerate()
            .find(|(_, &v)| !(v >= 0.0 && v.fract() == 0.0 && (v as usize) < vocab))
        {
            panic!("embedding: id {v} at position {i} is not a token of a {vocab}-row table");
        }
        self.apply(Embedding, &[ids, table])
    }
}
