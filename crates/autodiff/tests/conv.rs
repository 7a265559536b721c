//! The convolution and reshape ops: finite differences over strides,
//! paddings, dilations, odd sizes and several channels; per-example
//! gradients, means of squares, norms (materialized and ghost) and clipped
//! means of a small CNN against a loop of batch-size-1 backwards; the same
//! bits for one and two threads.

use gradlab_autodiff::ops::conv::Conv2d;
use gradlab_autodiff::{
    gradient_check, Clipping, GradRequest, Graph, ParamId, ParamStore, Tape, Var,
};
use gradlab_tensor::{rng, Tensor};

const TOL: f32 = 5e-3;

/// Input `[B, C, H, W]`, weight `[O, C, kh, kw]`, stride, padding, dilation.
type Case = (
    [usize; 4],
    [usize; 4],
    (usize, usize),
    (usize, usize),
    (usize, usize),
);

fn conv(stride: (usize, usize), padding: (usize, usize), dilation: (usize, usize)) -> Conv2d {
    Conv2d {
        stride,
        padding,
        dilation,
        bias: true,
    }
}

#[test]
fn convolution_and_reshape_match_finite_differences() {
    let cases: [Case; 6] = [
        ([1, 1, 4, 4], [1, 1, 3, 3], (1, 1), (0, 0), (1, 1)),
        ([2, 3, 5, 6], [4, 3, 3, 2], (1, 1), (1, 1), (1, 1)),
        ([2, 2, 7, 5], [3, 2, 3, 3], (2, 2), (1, 0), (1, 1)),
        ([3, 2, 6, 7], [2, 2, 2, 3], (1, 2), (2, 1), (2, 1)),
        ([1, 4, 5, 5], [5, 4, 5, 5], (1, 1), (2, 2), (1, 1)),
        ([2, 1, 9, 8], [3, 1, 3, 3], (3, 2), (0, 1), (2, 2)),
    ];
    for (seed, (xs, ws, stride, padding, dilation)) in cases.into_iter().enumerate() {
        for bias in [true, false] {
            let mut store = ParamStore::new();
            let seed = seed as u64;
            store.add("x", Tensor::uniform(&xs, -1.0, 1.0, &mut rng(seed)));
            store.add("w", Tensor::uniform(&ws, -1.0, 1.0, &mut rng(10 + seed)));
            if bias {
                store.add(
                    "b",
                    Tensor::uniform(&[ws[0]], -1.0, 1.0, &mut rng(20 + seed)),
                );
            }
            let op = conv(stride, padding, dilation);
            let worst = gradient_check(&mut store, 1e-2, |g, v| {
                let y = g.conv2d(v[0], v[1], v.get(2).copied(), op);
                // Through a reshape, to check it too.
                g.flatten(y)
            });
            assert!(
                worst.error() <= TOL,
                "conv {xs:?} * {ws:?} s{stride:?} p{padding:?} d{dilation:?} bias={bias}: \
                 ∂L/∂{}[{}] analytic {} vs numeric {}",
                worst.param,
                worst.index,
                worst.analytic,
                worst.numeric
            );
        }
    }
}

/// A small CNN: conv (3×3, padding 1) → relu → conv (stride 2) → tanh →
/// a conv whose output is 1×1 (its norms are ghost norms) → flatten →
/// linear, cross-entropy. `ids` are its parameters in order.
struct Cnn {
    ids: Vec<ParamId>,
}

impl Cnn {
    fn new(store: &mut ParamStore) -> Cnn {
        let mut r = rng(7);
        let mut add = |name: &str, shape: &[usize], bound: f32| {
            store.add(name, Tensor::uniform(shape, -bound, bound, &mut r))
        };
        let ids = vec![
            add("c1.w", &[4, 2, 3, 3], 0.4),
            add("c1.b", &[4], 0.1),
            add("c2.w", &[6, 4, 3, 3], 0.3),
            add("c2.b", &[6], 0.1),
            add("c3.w", &[5, 6, 3, 3], 0.3),
            add("c3.b", &[5], 0.1),
            add("fc.w", &[3, 5], 0.5),
            add("fc.b", &[3], 0.1),
        ];
        Cnn { ids }
    }

    fn forward(&self, g: &mut Graph, x: Var) -> Var {
        let p: Vec<Var> = self.ids.iter().map(|&id| g.param(id)).collect();
        let h = g.conv2d(x, p[0], Some(p[1]), conv((1, 1), (1, 1), (1, 1)));
        let h = g.relu(h);
        let h = g.conv2d(h, p[2], Some(p[3]), conv((2, 2), (0, 0), (1, 1)));
        let h = g.tanh(h);
        let h = g.conv2d(h, p[4], Some(p[5]), conv((1, 1), (0, 0), (1, 1)));
        let h = g.flatten(h);
        g.linear(h, p[6], Some(p[7]), None)
    }
}

/// Images `[B, 2, 7, 7]` and labels.
fn batch(b: usize, seed: u64) -> (Tensor, Vec<usize>) {
    let x = Tensor::uniform(&[b, 2, 7, 7], -1.0, 1.0, &mut rng(seed));
    (x, (0..b).map(|i| (i * 5 + seed as usize) % 3).collect())
}

fn rel_err(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len());
    let diff: f64 = a.iter().zip(b).map(|(x, y)| f64::from(x - y).powi(2)).sum();
    let norm: f64 = b.iter().map(|y| f64::from(*y).powi(2)).sum();
    (diff / norm.max(1e-30)).sqrt()
}

/// Every parameter's gradient for each example alone.
fn singles(cnn: &Cnn, store: &ParamStore, x: &Tensor, labels: &[usize]) -> Vec<Vec<Vec<f32>>> {
    let b = labels.len();
    let width = x.len() / b;
    let mut tape = Tape::new();
    (0..b)
        .map(|i| {
            let xi = Tensor::from_vec(x.data()[i * width..][..width].to_vec(), &[1, 2, 7, 7]);
            let mut g = tape.record(store);
            let xv = g.input(&xi);
            let logits = cnn.forward(&mut g, xv);
            let loss = g.softmax_cross_entropy(logits, &labels[i..i + 1]);
            g.backward(loss, GradRequest::Mean).unwrap();
            cnn.ids
                .iter()
                .map(|&id| tape.grad(id).unwrap().data().to_vec())
                .collect()
        })
        .collect()
}

fn run(
    cnn: &Cnn,
    store: &ParamStore,
    tape: &mut Tape,
    x: &Tensor,
    labels: &[usize],
    request: GradRequest,
) {
    let mut g = tape.record(store);
    let xv = g.input(x);
    let logits = cnn.forward(&mut g, xv);
    let loss = g.softmax_cross_entropy(logits, labels);
    g.backward(loss, request).unwrap();
}

#[test]
fn a_cnns_per_example_statistics_equal_a_loop_of_single_backwards() {
    let mut store = ParamStore::new();
    let cnn = Cnn::new(&mut store);
    for b in [1, 3, 16] {
        let (x, labels) = batch(b, b as u64);
        let singles = singles(&cnn, &store, &x, &labels);
        let mut tape = Tape::new();
        for request in [GradRequest::PerExample, GradRequest::MeanAndSquares] {
            run(&cnn, &store, &mut tape, &x, &labels, request);
            for (k, &id) in cnn.ids.iter().enumerate() {
                let n = store.get(id).len();
                let (mut mean, mut mean_sq, mut stacked) =
                    (vec![0.0f32; n], vec![0.0f32; n], vec![]);
                for s in &singles {
                    for (j, &v) in s[k].iter().enumerate() {
                        mean[j] += v / b as f32;
                        mean_sq[j] += v * v / b as f32;
                    }
                    stacked.extend_from_slice(&s[k]);
                }
                let what = format!("{request:?} {} B={b}", store.name(id));
                let e = rel_err(tape.grad(id).unwrap().data(), &mean);
                assert!(e <= 1e-5, "{what}: mean rel err {e:e}");
                let e = rel_err(tape.grad_sq(id).unwrap().data(), &mean_sq);
                assert!(e <= 1e-5, "{what}: mean of squares rel err {e:e}");
                if request == GradRequest::PerExample {
                    let pe = tape.per_example(id).unwrap();
                    assert_eq!(&pe.shape()[1..], store.get(id).shape(), "{what}");
                    let e = rel_err(pe.data(), &stacked);
                    assert!(e <= 1e-5, "{what}: per-example rel err {e:e}");
                }
            }
        }
    }
}

#[test]
fn a_cnns_norms_and_clipped_means_equal_those_of_single_backwards() {
    let mut store = ParamStore::new();
    let cnn = Cnn::new(&mut store);
    let b = 16;
    let (x, labels) = batch(b, 40);
    let singles = singles(&cnn, &store, &x, &labels);
    let norm = |v: &[f32]| v.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>().sqrt();
    let tensor_norms: Vec<Vec<f64>> = (0..cnn.ids.len())
        .map(|k| singles.iter().map(|s| norm(&s[k])).collect())
        .collect();
    let totals: Vec<f64> = (0..b)
        .map(|e| tensor_norms.iter().map(|t| t[e] * t[e]).sum::<f64>().sqrt())
        .collect();
    let mut tape = Tape::new();
    run(&cnn, &store, &mut tape, &x, &labels, GradRequest::Norms);
    for (k, &id) in cnn.ids.iter().enumerate() {
        let want: Vec<f32> = tensor_norms[k].iter().map(|&v| v as f32).collect();
        let e = rel_err(tape.example_norms(id).unwrap().data(), &want);
        // c3's weight takes the ghost norm: a 1×1 output.
        assert!(e <= 1e-5, "{}: norms rel err {e:e}", store.name(id));
    }
    let mut sorted = totals.clone();
    sorted.sort_by(f64::total_cmp);
    let c = sorted[b / 2];
    run(
        &cnn,
        &store,
        &mut tape,
        &x,
        &labels,
        GradRequest::Clipped(Clipping::flat(c as f32)),
    );
    for (k, &id) in cnn.ids.iter().enumerate() {
        let mut mean = vec![0.0f32; store.get(id).len()];
        for (e, s) in singles.iter().enumerate() {
            let f = ((c / (totals[e] + 1e-6)).min(1.0) / b as f64) as f32;
            mean.iter_mut().zip(&s[k]).for_each(|(m, &g)| *m += f * g);
        }
        let e = rel_err(tape.grad(id).unwrap().data(), &mean);
        assert!(e <= 1e-5, "{}: clipped mean rel err {e:e}", store.name(id));
    }
}

#[test]
fn a_cnn_step_is_bitwise_the_same_on_one_and_two_threads() {
    let mut store = ParamStore::new();
    let cnn = Cnn::new(&mut store);
    let (x, labels) = batch(64, 3);
    let requests = [
        GradRequest::Mean,
        GradRequest::MeanAndSquares,
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
                run(&cnn, &store, &mut tape, &x, &labels, request);
                for &id in &cnn.ids {
                    out.push(tape.grad(id).unwrap().clone());
                    if let Some(sq) = tape.grad_sq(id) {
                        out.push(sq.clone());
                    }
                }
            }
            out
        })
    };
    assert!(results(1) == results(2));
}
