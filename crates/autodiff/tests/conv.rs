//! The ops of convolutional networks — convolution, reshape, pooling,
//! group and layer normalization: finite differences over strides,
//! paddings, dilations, odd sizes and several channels; per-example
//! gradients, means of squares, norms (materialized and ghost) and clipped
//! means of a small CNN through all of them against a loop of batch-size-1
//! backwards; the same bits for one and two threads.

use gradlab_autodiff::ops::conv::Conv2d;
use gradlab_autodiff::ops::pool::{Pool2d, Pooling};
use gradlab_autodiff::ops::sharing::{norms_by, Norms};
use gradlab_autodiff::{
    gradient_check, Clipping, GradRequest, Graph, ParamId, ParamStore, Tape, Var,
};
use gradlab_tensor::{rng, Tensor};

mod common;

use common::{
    check_flat_clipped_mean, check_norms_and_clipped_means, check_statistics, total_norms,
};

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

#[test]
fn pooling_and_normalization_match_finite_differences() {
    let check = |name: &str, store: &mut ParamStore, build: &dyn Fn(&mut Graph, &[Var]) -> Var| {
        let worst = gradient_check(store, 1e-2, build);
        assert!(
            worst.error() <= TOL,
            "{name}: ∂L/∂{}[{}] analytic {} vs numeric {}",
            worst.param,
            worst.index,
            worst.analytic,
            worst.numeric
        );
    };
    for (seed, shape) in [[2, 3, 6, 6], [1, 2, 7, 5], [3, 4, 5, 8]]
        .into_iter()
        .enumerate()
    {
        let x = Tensor::uniform(&shape, -1.0, 1.0, &mut rng(seed as u64));
        for (kind, kernel, stride, padding) in [
            (Pooling::Max, (2, 2), (2, 2), (0, 0)),
            (Pooling::Max, (3, 3), (2, 1), (1, 1)),
            (Pooling::Average, (2, 3), (1, 2), (1, 0)),
            (Pooling::Average, (3, 3), (2, 2), (1, 1)),
        ] {
            let mut store = ParamStore::new();
            // Distinct values at least 2/n apart, a permutation of a grid, so
            // that no perturbation of h swaps a window's maximum.
            let n = x.len();
            let spread: Vec<f32> = (0..n)
                .map(|i| ((i * 7919) % n) as f32 * 2.0 / n as f32 - 1.0)
                .collect();
            store.add("x", Tensor::from_vec(spread, &shape));
            let op = Pool2d {
                kind,
                kernel,
                stride,
                padding,
            };
            // A max pool's derivative jumps where two values tie; uniform
            // draws do not tie, and h = 1e-2 stays below their gaps often
            // enough — but not always: use h = 1e-3 there.
            let worst = gradient_check(
                &mut store,
                if kind == Pooling::Max { 1e-3 } else { 1e-2 },
                |g, v| g.pool2d(v[0], op),
            );
            assert!(worst.error() <= TOL, "{op:?} on {shape:?}: {worst:?}");
        }
        let mut store = ParamStore::new();
        store.add("x", x.clone());
        check(
            &format!("global average pool {shape:?}"),
            &mut store,
            &|g, v| g.global_avg_pool(v[0]),
        );
        let c = shape[1];
        for groups in (1..=c).filter(|g| c % g == 0) {
            let mut store = ParamStore::new();
            store.add("x", x.clone());
            store.add("g", Tensor::uniform(&[c], 0.5, 1.5, &mut rng(5)));
            store.add("b", Tensor::uniform(&[c], -0.5, 0.5, &mut rng(6)));
            check(
                &format!("group norm {groups} groups {shape:?}"),
                &mut store,
                &|g, v| g.group_norm(v[0], groups, v[1], v[2], 1e-5),
            );
        }
        let d = shape[3];
        let mut store = ParamStore::new();
        store.add("x", x.clone());
        store.add("g", Tensor::uniform(&[d], 0.5, 1.5, &mut rng(7)));
        store.add("b", Tensor::uniform(&[d], -0.5, 0.5, &mut rng(8)));
        check(&format!("layer norm {shape:?}"), &mut store, &|g, v| {
            g.layer_norm(v[0], v[1], v[2], 1e-5)
        });
    }
}

/// A small CNN through every op of the file: conv (3×3, padding 1) →
/// group norm → relu → max pool → conv (a 2×2 output) → tanh → average pool (3×3, stride 1, padding 1) → global average
/// pool → layer norm → linear, cross-entropy. `ids` are its parameters.
struct Cnn {
    ids: Vec<ParamId>,
}

impl Cnn {
    fn new(store: &mut ParamStore) -> Cnn {
        let mut r = rng(7);
        let mut add = |name: &str, shape: &[usize], lo: f32, hi: f32| {
            store.add(name, Tensor::uniform(shape, lo, hi, &mut r))
        };
        let ids = vec![
            add("c1.w", &[4, 2, 3, 3], -0.4, 0.4),
            add("c1.b", &[4], -0.1, 0.1),
            add("gn.g", &[4], 0.5, 1.5),
            add("gn.b", &[4], -0.2, 0.2),
            add("c2.w", &[6, 4, 3, 3], -0.3, 0.3),
            add("c2.b", &[6], -0.1, 0.1),
            add("ln.g", &[6], 0.5, 1.5),
            add("ln.b", &[6], -0.2, 0.2),
            add("fc.w", &[3, 6], -0.5, 0.5),
            add("fc.b", &[3], -0.1, 0.1),
        ];
        Cnn { ids }
    }

    fn forward(&self, g: &mut Graph, x: Var) -> Var {
        let p: Vec<Var> = self.ids.iter().map(|&id| g.param(id)).collect();
        let h = g.conv2d(x, p[0], Some(p[1]), conv((1, 1), (1, 1), (1, 1)));
        let h = g.group_norm(h, 2, p[2], p[3], 1e-5);
        let h = g.relu(h);
        let h = g.max_pool2d(h, 2);
        let h = g.conv2d(h, p[4], Some(p[5]), conv((1, 1), (0, 0), (1, 1)));
        let h = g.tanh(h);
        let h = g.pool2d(
            h,
            Pool2d {
                kind: Pooling::Average,
                kernel: (3, 3),
                stride: (1, 1),
                padding: (1, 1),
            },
        );
        let h = g.global_avg_pool(h);
        let h = g.layer_norm(h, p[6], p[7], 1e-5);
        g.linear(h, p[8], Some(p[9]), None)
    }
}

/// Images `[B, 2, 8, 8]` and labels.
fn batch(b: usize, seed: u64) -> (Tensor, Vec<usize>) {
    let x = Tensor::uniform(&[b, 2, 8, 8], -1.0, 1.0, &mut rng(seed));
    (x, (0..b).map(|i| (i * 5 + seed as usize) % 3).collect())
}

/// Every parameter's gradient for each example alone.
fn singles(cnn: &Cnn, store: &ParamStore, x: &Tensor, labels: &[usize]) -> Vec<Vec<Vec<f32>>> {
    let b = labels.len();
    let width = x.len() / b;
    let mut tape = Tape::new();
    (0..b)
        .map(|i| {
            let xi = Tensor::from_vec(x.data()[i * width..][..width].to_vec(), &[1, 2, 8, 8]);
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
            check_statistics(&store, &tape, &cnn.ids, &singles, request);
        }
    }
}

/// c1 (64 positions) keeps its g_b under clipping and makes them in
/// scratch for `Norms`; c2 (4 positions) makes them in scratch for both.
/// The ghost norm would cost more for either.
#[test]
fn a_cnns_norms_and_clipped_means_equal_those_of_single_backwards() {
    let mut store = ParamStore::new();
    let cnn = Cnn::new(&mut store);
    // 130: runs of 3 examples in each scratch row, the last run partial.
    for b in [16, 130] {
        let (x, labels) = batch(b, 40);
        let singles = singles(&cnn, &store, &x, &labels);
        check_norms_and_clipped_means(&store, &cnn.ids, &singles, |tape, request| {
            run(&cnn, &store, tape, &x, &labels, request)
        });
    }
}

/// A wide convolution over few positions (a 2 048 × 2 304 weight at one
/// window) takes ghost norms, and clips by them and a second weight
/// product; it must agree with single backwards (which materialize).
#[test]
fn a_wide_convolution_over_few_positions_is_clipped_by_its_ghost_norms() {
    let mut store = ParamStore::new();
    let mut r = rng(11);
    let w = store.add(
        "w",
        Tensor::uniform(&[2048, 256, 3, 3], -0.02, 0.02, &mut r),
    );
    let bias = store.add("b", Tensor::uniform(&[2048], -0.1, 0.1, &mut r));
    let fc = store.add("fc", Tensor::uniform(&[3, 2048], -0.05, 0.05, &mut r));
    let ids = [w, bias, fc];
    let b = 32;
    let x = Tensor::uniform(&[b, 256, 3, 3], -1.0, 1.0, &mut r);
    let labels: Vec<usize> = (0..b).map(|i| (i * 7 + 2) % 3).collect();
    assert_eq!(norms_by(true, b, 256 * 9, 2048, 1), Norms::Ghost);
    let grads = |tape: &mut Tape, x: &Tensor, labels: &[usize], request: GradRequest| {
        let mut g = tape.record(&store);
        let xv = g.input(x);
        let (wv, bv, fv) = (g.param(w), g.param(bias), g.param(fc));
        let h = g.conv2d(xv, wv, Some(bv), conv((1, 1), (0, 0), (1, 1)));
        let h = g.tanh(h);
        let h = g.global_avg_pool(h);
        let logits = g.linear(h, fv, None, None);
        let loss = g.softmax_cross_entropy(logits, labels);
        g.backward(loss, request).unwrap();
        ids.map(|id| tape.grad(id).unwrap().data().to_vec())
            .to_vec()
    };
    let mut tape = Tape::new();
    let width = x.len() / b;
    let singles: Vec<Vec<Vec<f32>>> = (0..b)
        .map(|i| {
            let xi = Tensor::from_vec(x.data()[i * width..][..width].to_vec(), &[1, 256, 3, 3]);
            grads(&mut tape, &xi, &labels[i..i + 1], GradRequest::Mean)
        })
        .collect();
    let mut sorted = total_norms(&singles);
    sorted.sort_by(f64::total_cmp);
    let c = sorted[1];
    let clipped = grads(
        &mut tape,
        &x,
        &labels,
        GradRequest::Clipped(Clipping::flat(c as f32)),
    );
    check_flat_clipped_mean(&store, &ids, &singles, c, &clipped);
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

#[test]
fn batch_normalization_matches_finite_differences() {
    for (seed, shape) in [vec![4, 3, 3, 2], vec![5, 2, 1, 3], vec![6, 4]]
        .into_iter()
        .enumerate()
    {
        let c = shape[1];
        let x = Tensor::uniform(&shape, -1.0, 1.0, &mut rng(seed as u64));
        let affine = |store: &mut ParamStore| {
            store.add("g", Tensor::uniform(&[c], 0.5, 1.5, &mut rng(5)));
            store.add("b", Tensor::uniform(&[c], -0.5, 0.5, &mut rng(6)));
        };
        let mut store = ParamStore::new();
        store.add("x", x.clone());
        affine(&mut store);
        let worst = gradient_check(&mut store, 1e-2, |g, v| {
            g.batch_norm(v[0], v[1], v[2], 1e-5)
        });
        assert!(worst.error() <= TOL, "batch norm {shape:?}: {worst:?}");
        // Running statistics: constants.
        let mean = Tensor::uniform(&[c], -0.3, 0.3, &mut rng(7));
        let var = Tensor::uniform(&[c], 0.5, 2.0, &mut rng(8));
        let mut store = ParamStore::new();
        store.add("x", x);
        affine(&mut store);
        let worst = gradient_check(&mut store, 1e-2, |g, v| {
            let (m, s) = (g.constant(&mean), g.constant(&var));
            g.batch_norm_with(v[0], v[1], v[2], m, s, 1e-5)
        });
        assert!(
            worst.error() <= TOL,
            "batch norm, given statistics {shape:?}: {worst:?}"
        );
    }
}

/// The statistics a layer keeps running averages of are those of the
/// definition; evaluation-mode batch norm and other nodes have none.
#[test]
fn batch_statistics_are_the_batchs_mean_and_biased_variance() {
    let (b, c, s) = (5, 3, 6);
    let x = Tensor::uniform(&[b, c, 2, 3], -1.0, 2.0, &mut rng(3));
    let mut store = ParamStore::new();
    let gamma = store.add("g", Tensor::ones(&[c]));
    let beta = store.add("b", Tensor::zeros(&[c]));
    let mut tape = Tape::new();
    let mut g = tape.record(&store);
    let (xv, gv, bv) = (g.input(&x), g.param(gamma), g.param(beta));
    let y = g.batch_norm(xv, gv, bv, 1e-5);
    let (mean, var) = g.batch_statistics(y).expect("batch statistics");
    let (mean, var) = (mean.to_vec(), var.to_vec());
    for ch in 0..c {
        let values: Vec<f64> = (0..b)
            .flat_map(|e| &x.data()[(e * c + ch) * s..][..s])
            .map(|&v| f64::from(v))
            .collect();
        let m = values.iter().sum::<f64>() / values.len() as f64;
        let v = values.iter().map(|u| (u - m) * (u - m)).sum::<f64>() / values.len() as f64;
        assert!(
            (f64::from(mean[ch]) - m).abs() < 1e-6,
            "μ {ch}: {} vs {m}",
            mean[ch]
        );
        assert!(
            (f64::from(var[ch]) - v).abs() < 1e-6,
            "σ² {ch}: {} vs {v}",
            var[ch]
        );
    }
    assert!(g.batch_statistics(xv).is_none());
    let (m, v) = (
        g.constant(&Tensor::zeros(&[c])),
        g.constant(&Tensor::ones(&[c])),
    );
    let given = g.batch_norm_with(xv, gv, bv, m, v, 1e-5);
    assert!(g.batch_statistics(given).is_none());
}

#[test]
fn a_per_example_request_through_batch_norm_is_an_error_naming_it() {
    let mut store = ParamStore::new();
    let w = store.add("w", Tensor::uniform(&[3, 2, 3, 3], -0.5, 0.5, &mut rng(1)));
    let gamma = store.add("g", Tensor::ones(&[3]));
    let beta = store.add("b", Tensor::zeros(&[3]));
    let x = Tensor::uniform(&[4, 2, 5, 5], -1.0, 1.0, &mut rng(2));
    let labels = [0, 1, 2, 0];
    let mut tape = Tape::new();
    for request in [
        GradRequest::Mean,
        GradRequest::MeanAndSquares,
        GradRequest::PerExample,
        GradRequest::Norms,
        GradRequest::Clipped(Clipping::flat(1.0)),
    ] {
        let mut g = tape.record(&store);
        let (xv, wv, gv, bv) = (g.input(&x), g.param(w), g.param(gamma), g.param(beta));
        let h = g.conv2d(xv, wv, None, conv((1, 1), (0, 0), (1, 1)));
        let h = g.batch_norm(h, gv, bv, 1e-5);
        let h = g.global_avg_pool(h);
        let loss = g.softmax_cross_entropy(h, &labels);
        let result = g.backward(loss, request);
        if request == GradRequest::Mean {
            assert!(result.is_ok());
            continue;
        }
        let err = result.unwrap_err().to_string();
        assert!(
            err.contains("(batch norm (batch statistics)) depends on a statistic across examples"),
            "{err}"
        );
        assert!(tape.grad(w).is_none(), "nothing is left half-computed");
    }
}

#[test]
fn batch_norm_is_bitwise_the_same_on_one_and_two_threads() {
    let mut store = ParamStore::new();
    let x = store.add(
        "x",
        Tensor::uniform(&[64, 16, 14, 14], -1.0, 1.0, &mut rng(1)),
    );
    let gamma = store.add("g", Tensor::uniform(&[16], 0.5, 1.5, &mut rng(2)));
    let beta = store.add("b", Tensor::uniform(&[16], -0.5, 0.5, &mut rng(3)));
    let weights = Tensor::uniform(&[64, 16, 14, 14], -1.0, 1.0, &mut rng(4));
    let results = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let mut tape = Tape::new();
            let mut g = tape.record(&store);
            let (xv, gv, bv) = (g.param(x), g.param(gamma), g.param(beta));
            let y = g.batch_norm(xv, gv, bv, 1e-5);
            let c = g.constant(&weights);
            let weighted = g.mul(y, c);
            let loss = g.sum(weighted);
            let value = g.value(y).clone();
            g.backward(loss, GradRequest::Mean).unwrap();
            let grads: Vec<Tensor> = [x, gamma, beta]
                .iter()
                .map(|&id| tape.grad(id).unwrap().clone())
                .collect();
            (value, grads)
        })
    };
    assert!(results(1) == results(2));
}
