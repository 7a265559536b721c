//! Per-example gradients against a loop of batch-size-1 backwards, the
//! example-mixing errors, and the gradient-noise-scale estimator.

use gradlab_autodiff::{
    Activation, BackwardError, Clipping, GradRequest, Graph, ParamId, ParamStore, Tape, Var,
};
use gradlab_tensor::{rng, Tensor, Transpose};

const ACTIVATIONS: [Activation; 5] = [
    Activation::Relu,
    Activation::LeakyRelu(0.1),
    Activation::Tanh,
    Activation::Sigmoid,
    Activation::Gelu,
];
const SIZES: [usize; 7] = [6, 9, 8, 8, 7, 8, 4];

/// An MLP whose hidden layers use every activation once; the last layer's
/// weight is stored `[out, in]` (used as x·Wᵀ) to cover that path too.
/// `fused`: every layer is one [`Graph::linear`] op instead (weights `[out,
/// in]`).
struct Mlp {
    weights: Vec<ParamId>,
    biases: Vec<Option<ParamId>>,
    fused: bool,
}

impl Mlp {
    fn new(store: &mut ParamStore, bias: bool, fused: bool) -> Mlp {
        let mut r = rng(3);
        let layers = SIZES.len() - 1;
        let (mut weights, mut biases) = (vec![], vec![]);
        for l in 0..layers {
            let (i, o) = (SIZES[l], SIZES[l + 1]);
            let shape = if fused || l == layers - 1 {
                [o, i]
            } else {
                [i, o]
            };
            let bound = (3.0 / i as f32).sqrt();
            weights.push(store.add(
                format!("w{l}"),
                Tensor::uniform(&shape, -bound, bound, &mut r),
            ));
            biases.push(
                bias.then(|| store.add(format!("b{l}"), Tensor::uniform(&[o], -0.5, 0.5, &mut r))),
            );
        }
        Mlp {
            weights,
            biases,
            fused,
        }
    }

    fn forward(&self, g: &mut Graph, x: Var) -> Var {
        let layers = self.weights.len();
        let mut h = x;
        for l in 0..layers {
            let w = g.param(self.weights[l]);
            if self.fused {
                let b = self.biases[l].map(|b| g.param(b));
                let f = (l < layers - 1).then(|| ACTIVATIONS[l % ACTIVATIONS.len()]);
                h = g.linear(h, w, b, f);
                continue;
            }
            let tb = if l == layers - 1 {
                Transpose::Yes
            } else {
                Transpose::No
            };
            h = g.matmul_t(h, Transpose::No, w, tb);
            if let Some(b) = self.biases[l] {
                let b = g.param(b);
                h = g.add(h, b);
            }
            if l < layers - 1 {
                h = g.activation(h, ACTIVATIONS[l % ACTIVATIONS.len()]);
            }
        }
        h
    }
}

fn rel_err(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len());
    let diff: f64 = a.iter().zip(b).map(|(x, y)| ((x - y) as f64).powi(2)).sum();
    let norm: f64 = b.iter().map(|y| (*y as f64).powi(2)).sum();
    (diff / norm.max(1e-30)).sqrt()
}

fn batch(b: usize, seed: u64) -> (Tensor, Vec<usize>) {
    let x = Tensor::uniform(&[b, SIZES[0]], -2.0, 2.0, &mut rng(seed));
    let labels = (0..b)
        .map(|i| (i * 7 + seed as usize) % SIZES[SIZES.len() - 1])
        .collect();
    (x, labels)
}

#[test]
fn per_example_statistics_equal_a_loop_of_single_backwards() {
    for (bias, fused) in [(true, false), (false, false), (true, true), (false, true)] {
        let mut store = ParamStore::new();
        let mlp = Mlp::new(&mut store, bias, fused);
        for b in [1, 2, 7, 64] {
            let (x, labels) = batch(b, b as u64);
            // The reference: B backwards of one example each.
            let mut tape = Tape::new();
            let mut singles: Vec<Vec<Tensor>> = vec![];
            for i in 0..b {
                let xi = Tensor::from_vec(x.row(i).to_vec(), &[1, SIZES[0]]);
                let mut g = tape.record(&store);
                let xv = g.input(&xi);
                let logits = mlp.forward(&mut g, xv);
                let loss = g.softmax_cross_entropy(logits, &labels[i..i + 1]);
                g.backward(loss, GradRequest::Mean).unwrap();
                singles.push(
                    store
                        .ids()
                        .map(|id| tape.grad(id).unwrap().clone())
                        .collect(),
                );
            }
            for request in [GradRequest::PerExample, GradRequest::MeanAndSquares] {
                let mut g = tape.record(&store);
                let xv = g.input(&x);
                let logits = mlp.forward(&mut g, xv);
                let loss = g.softmax_cross_entropy(logits, &labels);
                g.backward(loss, request).unwrap();
                for (k, id) in store.ids().enumerate() {
                    let n = store.get(id).len();
                    let mut mean = vec![0.0f32; n];
                    let mut mean_sq = vec![0.0f32; n];
                    let mut stacked = Vec::with_capacity(b * n);
                    for s in &singles {
                        for (j, &v) in s[k].data().iter().enumerate() {
                            mean[j] += v / b as f32;
                            mean_sq[j] += v * v / b as f32;
                        }
                        stacked.extend_from_slice(s[k].data());
                    }
                    let what = format!(
                        "{request:?} {} B={b} bias={bias} fused={fused}",
                        store.name(id)
                    );
                    let e = rel_err(tape.grad(id).unwrap().data(), &mean);
                    assert!(e <= 1e-5, "{what}: mean rel err {e:e}");
                    let e = rel_err(tape.grad_sq(id).unwrap().data(), &mean_sq);
                    assert!(e <= 1e-5, "{what}: mean of squares rel err {e:e}");
                    if request == GradRequest::PerExample {
                        let pe = tape.per_example(id).unwrap();
                        assert_eq!(pe.shape()[0], b);
                        assert_eq!(&pe.shape()[1..], store.get(id).shape());
                        let e = rel_err(pe.data(), &stacked);
                        assert!(e <= 1e-5, "{what}: per-example rel err {e:e}");
                    } else {
                        assert!(tape.per_example(id).is_none());
                    }
                }
            }
        }
    }
}

/// ‖v‖ of a slice, in f64.
fn norm(v: &[f32]) -> f64 {
    v.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>().sqrt()
}

#[test]
fn norms_and_clipped_means_equal_those_of_materialized_gradients() {
    let mut clipped_some = 0;
    for (bias, fused) in [(true, false), (false, false), (true, true), (false, true)] {
        let mut store = ParamStore::new();
        let mlp = Mlp::new(&mut store, bias, fused);
        let ids: Vec<ParamId> = store.ids().collect();
        for b in [1, 2, 7, 64] {
            let (x, labels) = batch(b, 10 + b as u64);
            let mut tape = Tape::new();
            let run = |tape: &mut Tape, request| {
                let mut g = tape.record(&store);
                let xv = g.input(&x);
                let logits = mlp.forward(&mut g, xv);
                let loss = g.softmax_cross_entropy(logits, &labels);
                g.backward(loss, request).unwrap();
            };
            // The reference: every g_b materialized.
            run(&mut tape, GradRequest::PerExample);
            let pe: Vec<Vec<f32>> = ids
                .iter()
                .map(|&id| tape.per_example(id).unwrap().data().to_vec())
                .collect();
            let rows = |k: usize| pe[k].chunks_exact(pe[k].len() / b);
            let tensor_norms: Vec<Vec<f64>> = (0..ids.len())
                .map(|k| rows(k).map(norm).collect())
                .collect();
            let totals: Vec<f64> = (0..b)
                .map(|e| tensor_norms.iter().map(|t| t[e] * t[e]).sum::<f64>().sqrt())
                .collect();
            let what = format!("B={b} bias={bias} fused={fused}");

            run(&mut tape, GradRequest::Norms);
            let as_f32 = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<_>>();
            for (k, &id) in ids.iter().enumerate() {
                let got = tape.example_norms(id).unwrap().data();
                let e = rel_err(got, &as_f32(&tensor_norms[k]));
                assert!(e <= 1e-5, "{what} {}: norms rel err {e:e}", store.name(id));
            }
            let e = rel_err(tape.total_norms().unwrap().data(), &as_f32(&totals));
            assert!(e <= 1e-5, "{what}: total norms rel err {e:e}");

            // C below, at and above the typical norm: the median clips
            // about half the examples, and a C above every norm clips none.
            let mut sorted = totals.clone();
            sorted.sort_by(f64::total_cmp);
            let median = sorted[b / 2];
            for (c, per_tensor) in [
                (0.3 * median, false),
                (median, false),
                (2.0 * sorted[b - 1], false),
                (median, true),
            ] {
                let clipping = Clipping {
                    max_norm: c as f32,
                    per_tensor,
                };
                run(&mut tape, GradRequest::Clipped(clipping));
                let bound = if per_tensor {
                    c / (ids.len() as f64).sqrt()
                } else {
                    c
                };
                let factor = |n: f64| (bound / (n + 1e-6)).min(1.0);
                let clipped = totals.iter().any(|&n| factor(n) < 1.0);
                let kept = totals.iter().any(|&n| factor(n) == 1.0);
                if !per_tensor && clipped && kept {
                    clipped_some += 1;
                }
                for (k, &id) in ids.iter().enumerate() {
                    let width = pe[k].len() / b;
                    let mut mean = vec![0.0f64; width];
                    for (e, row) in rows(k).enumerate() {
                        let n = if per_tensor {
                            tensor_norms[k][e]
                        } else {
                            totals[e]
                        };
                        let s = factor(n) / b as f64;
                        mean.iter_mut()
                            .zip(row)
                            .for_each(|(m, &g)| *m += s * f64::from(g));
                    }
                    let got = tape.grad(id).unwrap().data();
                    let e = rel_err(got, &as_f32(&mean));
                    let name = store.name(id);
                    assert!(
                        e <= 1e-5,
                        "{what} C={c} per_tensor={per_tensor} {name}: clipped mean rel err {e:e}"
                    );
                    // The norms are those of the unclipped gradients.
                    let e = rel_err(
                        tape.example_norms(id).unwrap().data(),
                        &as_f32(&tensor_norms[k]),
                    );
                    assert!(e <= 1e-5, "{what}: norms after clipping rel err {e:e}");
                }
            }
        }
    }
    // Some batches had examples on both sides of C.
    assert!(clipped_some >= 8, "{clipped_some} mixed batches");
}

#[test]
fn an_infinite_bound_gives_the_mean_gradient_bitwise() {
    for (bias, fused) in [(true, false), (true, true)] {
        let mut store = ParamStore::new();
        let mlp = Mlp::new(&mut store, bias, fused);
        let (x, labels) = batch(7, 5);
        let mut tape = Tape::new();
        let mut grads = vec![];
        for request in [
            GradRequest::Mean,
            GradRequest::Clipped(Clipping::flat(f32::INFINITY)),
        ] {
            let mut g = tape.record(&store);
            let xv = g.input(&x);
            let logits = mlp.forward(&mut g, xv);
            let loss = g.softmax_cross_entropy(logits, &labels);
            g.backward(loss, request).unwrap();
            grads.push(
                store
                    .ids()
                    .map(|id| tape.grad(id).unwrap().clone())
                    .collect::<Vec<_>>(),
            );
        }
        assert_eq!(grads[0], grads[1], "bias={bias} fused={fused}");
    }
}

fn linear_store() -> (ParamStore, ParamId, ParamId) {
    let mut s = ParamStore::new();
    let w = s.add("w", Tensor::uniform(&[3, 4], -1.0, 1.0, &mut rng(1)));
    let b = s.add("b", Tensor::uniform(&[4], -1.0, 1.0, &mut rng(2)));
    (s, w, b)
}

#[test]
fn a_batch_statistic_makes_per_example_requests_fail() {
    let (s, w, _) = linear_store();
    let x = Tensor::uniform(&[5, 3], -1.0, 1.0, &mut rng(3));
    let labels = [0, 1, 2, 3, 0];
    let mut tape = Tape::new();
    for request in [
        GradRequest::Mean,
        GradRequest::MeanAndSquares,
        GradRequest::PerExample,
        GradRequest::Norms,
        GradRequest::Clipped(Clipping::flat(1.0)),
    ] {
        // Centering by the batch mean (as batch norm does) mixes examples.
        let mut g = tape.record(&s);
        let (xv, wv) = (g.input(&x), g.param(w));
        let h = g.matmul(xv, wv);
        let m = g.mean_axis(h, 0);
        let centered = g.sub(h, m);
        let loss = g.softmax_cross_entropy(centered, &labels);
        let result = g.backward(loss, request);
        if request == GradRequest::Mean {
            assert!(result.is_ok());
            assert!(tape.grad(w).is_some());
        } else {
            let err = result.unwrap_err();
            assert!(matches!(err, BackwardError::MixedExamples { .. }), "{err}");
            assert!(
                err.to_string().contains("statistic across examples"),
                "{err}"
            );
            // The op named is the mean over the batch, not the loss.
            assert!(err.to_string().contains("(mean over axis 0)"), "{err}");
            assert!(tape.grad(w).is_none() && tape.grad_sq(w).is_none());
        }
    }
    // A scalar loss (the batch mean) cannot give per-example gradients either.
    let mut g = tape.record(&s);
    let (xv, wv) = (g.input(&x), g.param(w));
    let h = g.matmul(xv, wv);
    let losses = g.softmax_cross_entropy(h, &labels);
    let mean = g.mean(losses);
    let err = g.backward(mean, GradRequest::MeanAndSquares).unwrap_err();
    assert!(matches!(err, BackwardError::MixedExamples { .. }), "{err}");
    assert!(err.to_string().contains("(mean) depends on"), "{err}");
}

#[test]
fn unsupported_parameter_uses_are_errors() {
    let (s, w, b) = linear_store();
    let x = Tensor::uniform(&[5, 3], -1.0, 1.0, &mut rng(3));
    let labels = [0, 1, 2, 3, 0];
    let mut tape = Tape::new();
    // A bias used twice: each example's gradient is a sum of two terms.
    let mut g = tape.record(&s);
    let (xv, wv, bv) = (g.input(&x), g.param(w), g.param(b));
    let h = g.matmul(xv, wv);
    let h = g.add(h, bv);
    let h = g.mul(h, bv);
    let loss = g.softmax_cross_entropy(h, &labels);
    for request in [
        GradRequest::MeanAndSquares,
        GradRequest::Norms,
        GradRequest::Clipped(Clipping::flat(1.0)),
    ] {
        let err = g.backward(loss, request).unwrap_err();
        assert!(
            matches!(err, BackwardError::UnsupportedParam { ref name, .. } if name == "b"),
            "{err}"
        );
        assert!(err.to_string().contains("used by 2 ops"), "{err}");
    }
    // A weight transformed before it meets the batch.
    let mut g = tape.record(&s);
    let (xv, wv) = (g.input(&x), g.param(w));
    let w2 = g.scale(wv, 2.0);
    let h = g.matmul(xv, w2);
    let loss = g.softmax_cross_entropy(h, &labels);
    for request in [
        GradRequest::PerExample,
        GradRequest::Norms,
        GradRequest::Clipped(Clipping::per_tensor(1.0)),
    ] {
        let err = g.backward(loss, request).unwrap_err();
        assert!(
            matches!(err, BackwardError::UnsupportedParam { ref name, .. } if name == "w"),
            "{err}"
        );
        assert!(err.to_string().contains("does not give"), "{err}");
    }
    assert!(g.backward(loss, GradRequest::Mean).is_ok());
}

/// A use of a parameter that does not reach the loss (a norm computed for
/// a log, say) is not a use of its gradient: the per-example request gives
/// what it gives without it.
#[test]
fn a_use_that_does_not_reach_the_loss_does_not_count() {
    let (s, w, b) = linear_store();
    let x = Tensor::uniform(&[5, 3], -1.0, 1.0, &mut rng(3));
    let labels = [0, 1, 2, 3, 0];
    let per_example = |extra_use: bool| {
        let mut tape = Tape::new();
        let mut g = tape.record(&s);
        let (xv, wv, bv) = (g.input(&x), g.param(w), g.param(b));
        if extra_use {
            let w2 = g.mul(wv, wv);
            g.sum(w2);
        }
        let h = g.matmul(xv, wv);
        let h = g.add(h, bv);
        let loss = g.softmax_cross_entropy(h, &labels);
        g.backward(loss, GradRequest::PerExample).unwrap();
        (
            tape.per_example(w).unwrap().clone(),
            tape.grad_sq(b).unwrap().clone(),
        )
    };
    assert_eq!(per_example(true), per_example(false));
}

/// Linear regression y = x·w* + ε with x ~ 𝒩(0, I_d), ε ~ 𝒩(0, s²), loss
/// ℓ = (x·w − y)², evaluated at a fixed w with Δ = w − w*. Then
/// g = 2x(xᵀΔ − ε), G = E g = 2Δ, and by Isserlis' theorem
/// Σ = 4(|Δ|² I + ΔΔᵀ + s² I), so
/// B_noise = tr Σ / |G|² = ((d + 1)|Δ|² + d s²) / |Δ|².
#[test]
fn noise_scale_recovers_a_known_value() {
    let (d, s, batch, steps) = (10usize, 0.5f32, 32usize, 400);
    let w_star = Tensor::normal(&[d, 1], 0.0, 1.0, &mut rng(1));
    let delta = Tensor::normal(&[d, 1], 0.0, 0.3, &mut rng(2));
    let mut store = ParamStore::new();
    let w = store.add("w", w_star.add(&delta));
    let dd: f64 = delta.data().iter().map(|&x| (x as f64).powi(2)).sum();
    let expected = ((d as f64 + 1.0) * dd + d as f64 * (s as f64).powi(2)) / dd;

    let mut r = rng(3);
    let mut tape = Tape::new();
    let mut total = gradlab_autodiff::NoiseScale::default();
    for _ in 0..steps {
        let x = Tensor::normal(&[batch, d], 0.0, 1.0, &mut r);
        let noise = Tensor::normal(&[batch, 1], 0.0, s, &mut r);
        let y = x.matmul(Transpose::No, &w_star, Transpose::No).add(&noise);
        let mut g = tape.record(&store);
        let (xv, wv) = (g.input(&x), g.param(w));
        let pred = g.matmul(xv, wv);
        let loss = g.mse(pred, &y);
        g.backward(loss, GradRequest::MeanAndSquares).unwrap();
        let (step, per_param) = tape.noise_scale().unwrap();
        assert_eq!(per_param.len(), 1);
        total += step;
    }
    let got = total.b_noise();
    assert!(
        (got - expected).abs() <= 0.1 * expected,
        "B_noise {got:.2}, expected {expected:.2}"
    );
}
