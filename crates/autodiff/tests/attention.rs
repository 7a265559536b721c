//! The ops of a GPT — embedding, the linear layer over sequences, causal
//! attention, cross-entropy over positions: finite differences; per-example
//! gradients, means of squares, norms (materialized and ghost) and clipped
//! means of a two-layer GPT against a loop of batch-size-1 backwards; the
//! same bits for one and two threads.

use gradlab_autodiff::ops::sharing::{norms_by, Norms};
use gradlab_autodiff::{
    gradient_check, Activation, Clipping, GradRequest, Graph, ParamId, ParamStore, Tape, Var,
};
use gradlab_tensor::{rng, Tensor};

mod common;

use common::{
    check_flat_clipped_mean, check_norms_and_clipped_means, check_statistics, total_norms,
};

const TOL: f32 = 5e-3;

fn ids(b: usize, t: usize, vocab: usize, seed: u64) -> Tensor {
    let data = (0..b * t)
        .map(|i| ((i as u64 * 7 + seed * 3 + i as u64 * i as u64) % vocab as u64) as f32)
        .collect();
    Tensor::from_vec(data, &[b, t])
}

fn check(what: &str, store: &mut ParamStore, h: f32, build: impl Fn(&mut Graph, &[Var]) -> Var) {
    let worst = gradient_check(store, h, build);
    assert!(
        worst.error() <= TOL,
        "{what}: ∂L/∂{}[{}] analytic {} vs numeric {}",
        worst.param,
        worst.index,
        worst.analytic,
        worst.numeric
    );
}

#[test]
fn embedding_matches_finite_differences() {
    // Repeated tokens within an example and across examples.
    let tokens = ids(3, 5, 4, 1);
    let mut store = ParamStore::new();
    store.add("table", Tensor::uniform(&[4, 3], -1.0, 1.0, &mut rng(1)));
    check("embedding", &mut store, 1e-2, |g, v| {
        let x = g.input(&tokens);
        g.embedding(x, v[0])
    });
}

#[test]
fn linear_over_sequences_matches_finite_differences() {
    for f in [None, Some(Activation::Gelu), Some(Activation::Tanh)] {
        let mut store = ParamStore::new();
        store.add("x", Tensor::uniform(&[2, 3, 4], -1.0, 1.0, &mut rng(2)));
        store.add("w", Tensor::uniform(&[5, 4], -1.0, 1.0, &mut rng(3)));
        store.add("b", Tensor::uniform(&[5], -1.0, 1.0, &mut rng(4)));
        check(&format!("linear {f:?}"), &mut store, 1e-2, |g, v| {
            g.linear(v[0], v[1], Some(v[2]), f)
        });
    }
}

#[test]
fn causal_attention_matches_finite_differences() {
    // T = 33 and 70 cross the op's 32-row causal blocks (a last block of
    // one row, and of six).
    let sizes = [
        (1, 1, 2, 1),
        (2, 4, 6, 2),
        (1, 5, 8, 4),
        (2, 3, 3, 1),
        (2, 33, 2, 1),
        (1, 70, 4, 2),
    ];
    for (b, t, d, heads) in sizes {
        let mut store = ParamStore::new();
        store.add(
            "qkv",
            Tensor::uniform(&[b, t, 3 * d], -1.0, 1.0, &mut rng(5)),
        );
        check(
            &format!("attention {b}×{t}×{d}, {heads} heads"),
            &mut store,
            1e-2,
            |g, v| g.causal_attention(v[0], heads),
        );
    }
}

/// Causal attention written out in f64, one query at a time:
/// o_i = Σ_{j ≤ i} softmax_j(q_i·k_j/√dₕ) v_j per head.
fn attention_by_the_formula(qkv: &Tensor, heads: usize) -> Vec<f64> {
    let s = qkv.shape();
    let (b, t, d) = (s[0], s[1], s[2] / 3);
    let dh = d / heads;
    let at = |e: usize, i: usize, c: usize| f64::from(qkv.data()[(e * t + i) * 3 * d + c]);
    let mut out = vec![0.0; b * t * d];
    for e in 0..b {
        for h in 0..heads {
            for i in 0..t {
                let scores: Vec<f64> = (0..=i)
                    .map(|j| {
                        let dot: f64 = (0..dh)
                            .map(|c| at(e, i, h * dh + c) * at(e, j, d + h * dh + c))
                            .sum();
                        dot / (dh as f64).sqrt()
                    })
                    .collect();
                let top = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let weights: Vec<f64> = scores.iter().map(|s| (s - top).exp()).collect();
                let total: f64 = weights.iter().sum();
                for c in 0..dh {
                    out[(e * t + i) * d + h * dh + c] = (0..=i)
                        .map(|j| weights[j] / total * at(e, j, 2 * d + h * dh + c))
                        .sum();
                }
            }
        }
    }
    out
}

#[test]
fn causal_attention_over_several_blocks_equals_the_formula() {
    for (b, t, d, heads) in [
        (2, 31, 8, 2),
        (1, 32, 4, 1),
        (2, 97, 12, 3),
        (1, 128, 16, 4),
    ] {
        let qkv = Tensor::uniform(&[b, t, 3 * d], -2.0, 2.0, &mut rng(t as u64));
        let store = ParamStore::new();
        let mut tape = Tape::new();
        let mut g = tape.record(&store);
        let x = g.input(&qkv);
        let y = g.causal_attention(x, heads);
        let expected = attention_by_the_formula(&qkv, heads);
        for (k, (&got, &want)) in g.value(y).data().iter().zip(&expected).enumerate() {
            assert!(
                (f64::from(got) - want).abs() <= 1e-5 * (1.0 + want.abs()),
                "{b}×{t}×{d}, {heads} heads: output {k} is {got}, the formula gives {want}"
            );
        }
    }
}

#[test]
fn cross_entropy_over_positions_matches_finite_differences() {
    let labels = [0, 3, 1, 2, 2, 0];
    let mut store = ParamStore::new();
    store.add(
        "logits",
        Tensor::uniform(&[2, 3, 4], -2.0, 2.0, &mut rng(6)),
    );
    check("cross-entropy [B, T, C]", &mut store, 1e-2, |g, v| {
        g.softmax_cross_entropy(v[0], &labels)
    });
}

#[test]
fn cross_entropy_over_positions_is_the_mean_of_its_positions() {
    let logits = Tensor::uniform(&[2, 3, 4], -2.0, 2.0, &mut rng(7));
    let labels = [0, 3, 1, 2, 2, 0];
    let store = ParamStore::new();
    let mut tape = Tape::new();
    let mut g = tape.record(&store);
    let x = g.input(&logits);
    let seq = g.softmax_cross_entropy(x, &labels);
    let flat = Tensor::from_vec(logits.data().to_vec(), &[6, 4]);
    let xf = g.input(&flat);
    let rows = g.softmax_cross_entropy(xf, &labels);
    let (seq, rows) = (g.value(seq).data().to_vec(), g.value(rows).data().to_vec());
    for b in 0..2 {
        let mean = rows[b * 3..][..3].iter().sum::<f32>() / 3.0;
        assert!(
            (seq[b] - mean).abs() <= 1e-6,
            "example {b}: {} vs {mean}",
            seq[b]
        );
    }
}

/// A two-layer GPT in ops: token and position embeddings, pre-LN blocks
/// (attention, MLP with GELU), final layer norm, a head without bias.
struct Gpt {
    ids: Vec<ParamId>,
    vocab: usize,
    heads: usize,
}

const D: usize = 8;
const T: usize = 4;

impl Gpt {
    fn new(store: &mut ParamStore) -> Gpt {
        let vocab = 11;
        let mut r = rng(8);
        let mut add = |name: String, shape: &[usize], lo: f32, hi: f32| {
            store.add(&name, Tensor::uniform(shape, lo, hi, &mut r))
        };
        let mut ids = vec![
            add("wte".into(), &[vocab, D], -0.5, 0.5),
            add("wpe".into(), &[T, D], -0.5, 0.5),
        ];
        for l in 0..2 {
            for (name, shape) in [
                ("ln1.g", vec![D]),
                ("ln1.b", vec![D]),
                ("attn.w", vec![3 * D, D]),
                ("attn.b", vec![3 * D]),
                ("proj.w", vec![D, D]),
                ("proj.b", vec![D]),
                ("ln2.g", vec![D]),
                ("ln2.b", vec![D]),
                ("fc.w", vec![4 * D, D]),
                ("fc.b", vec![4 * D]),
                ("fcproj.w", vec![D, 4 * D]),
                ("fcproj.b", vec![D]),
            ] {
                let (lo, hi) = if name.ends_with(".g") {
                    (0.5, 1.5)
                } else {
                    (-0.4, 0.4)
                };
                ids.push(add(format!("h{l}.{name}"), &shape, lo, hi));
            }
        }
        ids.push(add("lnf.g".into(), &[D], 0.5, 1.5));
        ids.push(add("lnf.b".into(), &[D], -0.2, 0.2));
        ids.push(add("head".into(), &[vocab, D], -0.5, 0.5));
        Gpt {
            ids,
            vocab,
            heads: 2,
        }
    }

    /// Per-example losses of token ids `x` (`[B, T]`) against `targets`.
    fn loss(&self, g: &mut Graph, x: &Tensor, targets: &[usize]) -> Var {
        let p: Vec<Var> = self.ids.iter().map(|&id| g.param(id)).collect();
        let b = x.shape()[0];
        let positions = Tensor::from_vec((0..b * T).map(|i| (i % T) as f32).collect(), &[b, T]);
        let (tokens, positions) = (g.input(x), g.input(&positions));
        let tok = g.embedding(tokens, p[0]);
        let pos = g.embedding(positions, p[1]);
        let mut h = g.add(tok, pos);
        for l in 0..2 {
            let q = &p[2 + 12 * l..][..12];
            let a = g.layer_norm(h, q[0], q[1], 1e-5);
            let qkv = g.linear(a, q[2], Some(q[3]), None);
            let o = g.causal_attention(qkv, self.heads);
            let o = g.linear(o, q[4], Some(q[5]), None);
            h = g.add(h, o);
            let m = g.layer_norm(h, q[6], q[7], 1e-5);
            let m = g.linear(m, q[8], Some(q[9]), Some(Activation::Gelu));
            let m = g.linear(m, q[10], Some(q[11]), None);
            h = g.add(h, m);
        }
        let n = p.len();
        let h = g.layer_norm(h, p[n - 3], p[n - 2], 1e-5);
        let logits = g.linear(h, p[n - 1], None, None);
        g.softmax_cross_entropy(logits, targets)
    }
}

fn batch(gpt: &Gpt, b: usize, seed: u64) -> (Tensor, Vec<usize>) {
    let x = ids(b, T, gpt.vocab, seed);
    let targets = (0..b * T)
        .map(|i| (i * 5 + seed as usize) % gpt.vocab)
        .collect();
    (x, targets)
}

/// Every parameter's gradient for each example alone.
fn singles(gpt: &Gpt, store: &ParamStore, x: &Tensor, targets: &[usize]) -> Vec<Vec<Vec<f32>>> {
    let b = x.shape()[0];
    let mut tape = Tape::new();
    (0..b)
        .map(|i| {
            let xi = Tensor::from_vec(x.data()[i * T..][..T].to_vec(), &[1, T]);
            let mut g = tape.record(store);
            let loss = gpt.loss(&mut g, &xi, &targets[i * T..][..T]);
            g.backward(loss, GradRequest::Mean).unwrap();
            gpt.ids
                .iter()
                .map(|&id| tape.grad(id).unwrap().data().to_vec())
                .collect()
        })
        .collect()
}

fn run(gpt: &Gpt, store: &ParamStore, tape: &mut Tape, x: &Tensor, t: &[usize], r: GradRequest) {
    let mut g = tape.record(store);
    let loss = gpt.loss(&mut g, x, t);
    g.backward(loss, r).unwrap();
}

#[test]
fn a_gpts_per_example_statistics_equal_a_loop_of_single_backwards() {
    let mut store = ParamStore::new();
    let gpt = Gpt::new(&mut store);
    for b in [1, 3, 8] {
        let (x, targets) = batch(&gpt, b, b as u64);
        let singles = singles(&gpt, &store, &x, &targets);
        let mut tape = Tape::new();
        for request in [GradRequest::PerExample, GradRequest::MeanAndSquares] {
            run(&gpt, &store, &mut tape, &x, &targets, request);
            check_statistics(&store, &tape, &gpt.ids, &singles, request);
        }
    }
}

/// Every weight here (T = 4) makes its g_b in scratch for the norms, and
/// clips by the weight product: the ghost norm would cost more, and over 4
/// positions the product costs less than keeping the g_b.
#[test]
fn a_gpts_norms_and_clipped_means_equal_those_of_single_backwards() {
    let mut store = ParamStore::new();
    let gpt = Gpt::new(&mut store);
    // 67: runs of 2 examples in each scratch row, the last run partial.
    for b in [8, 67] {
        let (x, targets) = batch(&gpt, b, 40);
        let singles = singles(&gpt, &store, &x, &targets);
        check_norms_and_clipped_means(&store, &gpt.ids, &singles, |tape, request| {
            run(&gpt, &store, tape, &x, &targets, request)
        });
    }
}

/// A wide linear layer over few positions (4 100 × 2 048 at T = 3) takes
/// ghost norms, and clips by them and a second weight product; it must
/// agree with single backwards.
#[test]
fn a_wide_linear_layer_over_few_positions_is_clipped_by_its_ghost_norms() {
    let mut store = ParamStore::new();
    let mut r = rng(12);
    let w = store.add("w", Tensor::uniform(&[4100, 2048], -0.02, 0.02, &mut r));
    let bias = store.add("b", Tensor::uniform(&[4100], -0.1, 0.1, &mut r));
    let ids = [w, bias];
    let b = 16;
    let x = Tensor::uniform(&[b, 3, 2048], -1.0, 1.0, &mut r);
    let targets: Vec<usize> = (0..3 * b).map(|i| (i * 1237 + 5) % 4100).collect();
    assert_eq!(norms_by(true, b, 2048, 4100, 3), Norms::Ghost);
    let grads = |tape: &mut Tape, x: &Tensor, t: &[usize], request: GradRequest| {
        let mut g = tape.record(&store);
        let (xv, wv, bv) = (g.input(x), g.param(w), g.param(bias));
        let logits = g.linear(xv, wv, Some(bv), None);
        let loss = g.softmax_cross_entropy(logits, t);
        g.backward(loss, request).unwrap();
        ids.map(|id| tape.grad(id).unwrap().data().to_vec())
            .to_vec()
    };
    let mut tape = Tape::new();
    let width = x.len() / b;
    let singles: Vec<Vec<Vec<f32>>> = (0..b)
        .map(|i| {
            let xi = Tensor::from_vec(x.data()[i * width..][..width].to_vec(), &[1, 3, 2048]);
            grads(&mut tape, &xi, &targets[i * 3..][..3], GradRequest::Mean)
        })
        .collect();
    let c = total_norms(&singles)
        .iter()
        .copied()
        .fold(f64::INFINITY, f64::min)
        * 1.5;
    let clipped = grads(
        &mut tape,
        &x,
        &targets,
        GradRequest::Clipped(Clipping::flat(c as f32)),
    );
    check_flat_clipped_mean(&store, &ids, &singles, c, &clipped);
}

#[test]
fn a_gpt_step_is_bitwise_the_same_on_one_and_two_threads() {
    let mut store = ParamStore::new();
    let gpt = Gpt::new(&mut store);
    let (x, targets) = batch(&gpt, 32, 3);
    let requests = [
        GradRequest::Mean,
        GradRequest::MeanAndSquares,
        GradRequest::Norms,
        GradRequest::Clipped(Clipping::flat(0.05)),
    ];
    let results = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let mut tape = Tape::new();
            let mut out = Vec::new();
            for request in requests {
                run(&gpt, &store, &mut tape, &x, &targets, request);
                for &id in &gpt.ids {
                    out.push(tape.grad(id).unwrap().clone());
                    if let Some(sq) = tape.grad_sq(id) {
                        out.push(sq.clone());
                    }
                    if let Some(n) = tape.example_norms(id) {
                        out.push(n.clone());
                    }
                }
            }
            out
        })
    };
    assert!(results(1) == results(2));
}

#[test]
#[should_panic(expected = "embedding: id 7 at position 3 is not a token of a 5-row table")]
fn an_embedding_id_outside_the_table_is_refused() {
    let mut store = ParamStore::new();
    let table = store.add("t", Tensor::zeros(&[5, 2]));
    let mut tape = Tape::new();
    let mut g = tape.record(&store);
    let x = g.input(&Tensor::from_vec(vec![0.0, 1.0, 2.0, 7.0], &[2, 2]));
    let t = g.param(table);
    g.embedding(x, t);
}

#[test]
#[should_panic(
    expected = "causal attention: input [2, 3, 12] must be [B, T, 3·d] with d a positive multiple of 3 heads"
)]
fn attention_refuses_heads_that_do_not_divide_the_width() {
    let store = ParamStore::new();
    let mut tape = Tape::new();
    let mut g = tape.record(&store);
    let x = g.input(&Tensor::zeros(&[2, 3, 12]));
    g.causal_attention(x, 3);
}
