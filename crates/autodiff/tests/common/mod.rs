//! What several test files share: comparing numbers, checking a model's
//! per-example statistics against batch-size-1 backwards, and checking ops
//! against PyTorch's numbers (`reference/*.py` build their inputs from the
//! same formulas). Each test file uses a part of it.
#![allow(dead_code)]

use gradlab_autodiff::{Clipping, GradRequest, Graph, ParamId, ParamStore, Tape, Var};
use gradlab_tensor::Tensor;

/// ‖a − b‖ / ‖b‖.
pub fn rel_err(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len());
    let diff: f64 = a.iter().zip(b).map(|(x, y)| f64::from(x - y).powi(2)).sum();
    let norm: f64 = b.iter().map(|y| f64::from(*y).powi(2)).sum();
    (diff / norm.max(1e-30)).sqrt()
}

/// Checks the mean, the mean of squares and (for `PerExample`) the
/// per-example gradients the last backward on `tape` left for parameters
/// `ids`, against `singles[e][k]`, parameter k's gradient for example e
/// alone, within 10⁻⁵ relative.
pub fn check_statistics(
    store: &ParamStore,
    tape: &Tape,
    ids: &[ParamId],
    singles: &[Vec<Vec<f32>>],
    request: GradRequest,
) {
    let b = singles.len();
    for (k, &id) in ids.iter().enumerate() {
        let n = store.get(id).len();
        let (mut mean, mut mean_sq, mut stacked) = (vec![0.0f32; n], vec![0.0f32; n], vec![]);
        for s in singles {
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

/// ‖g_e‖ over all parameters, for each example's gradients `singles[e]`.
pub fn total_norms(singles: &[Vec<Vec<f32>>]) -> Vec<f64> {
    singles
        .iter()
        .map(|s| {
            s.iter()
                .flatten()
                .map(|&v| f64::from(v).powi(2))
                .sum::<f64>()
                .sqrt()
        })
        .collect()
}

/// Checks `got[k]`, parameter k's gradient after flat clipping to `c`,
/// against (1/B) Σ_e min(1, c/(‖g_e‖ + 10⁻⁶))·g_e from the single backwards'
/// gradients `singles[e][k]`, within 10⁻⁵ relative.
pub fn check_flat_clipped_mean(
    store: &ParamStore,
    ids: &[ParamId],
    singles: &[Vec<Vec<f32>>],
    c: f64,
    got: &[Vec<f32>],
) {
    let (b, totals) = (singles.len() as f64, total_norms(singles));
    for (k, got) in got.iter().enumerate() {
        let mut mean = vec![0.0f32; got.len()];
        for (e, s) in singles.iter().enumerate() {
            let f = ((c / (totals[e] + 1e-6)).min(1.0) / b) as f32;
            mean.iter_mut().zip(&s[k]).for_each(|(m, &g)| *m += f * g);
        }
        let e = rel_err(got, &mean);
        assert!(
            e <= 1e-5,
            "{}: clipped mean rel err {e:e}",
            store.name(ids[k])
        );
    }
}

/// Checks each parameter's per-example norms (`Norms`) and the clipped
/// means (`Clipped`, flat and per tensor, C the median total norm) that
/// `run(tape, request)` leaves on the tape, against the single backwards'
/// gradients `singles[e][k]`, within 10⁻⁵ relative.
pub fn check_norms_and_clipped_means(
    store: &ParamStore,
    ids: &[ParamId],
    singles: &[Vec<Vec<f32>>],
    mut run: impl FnMut(&mut Tape, GradRequest),
) {
    let b = singles.len();
    let norm = |v: &[f32]| v.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>().sqrt();
    let tensor_norms: Vec<Vec<f64>> = (0..ids.len())
        .map(|k| singles.iter().map(|s| norm(&s[k])).collect())
        .collect();
    let totals = total_norms(singles);
    let mut tape = Tape::new();
    run(&mut tape, GradRequest::Norms);
    for (k, &id) in ids.iter().enumerate() {
        let want: Vec<f32> = tensor_norms[k].iter().map(|&v| v as f32).collect();
        let e = rel_err(tape.example_norms(id).unwrap().data(), &want);
        assert!(e <= 1e-5, "{}: norms rel err {e:e}", store.name(id));
    }
    let mut sorted = totals.clone();
    sorted.sort_by(f64::total_cmp);
    let c = sorted[b / 2];
    // Flat: one factor per example from its total norm; per tensor: each
    // tensor clipped to C/√P by its own norm.
    for per_tensor in [false, true] {
        let clipping = if per_tensor {
            Clipping::per_tensor(c as f32)
        } else {
            Clipping::flat(c as f32)
        };
        run(&mut tape, GradRequest::Clipped(clipping));
        for (k, &id) in ids.iter().enumerate() {
            let mut mean = vec![0.0f32; store.get(id).len()];
            for (e, s) in singles.iter().enumerate() {
                let (bound, n) = if per_tensor {
                    (c / (ids.len() as f64).sqrt(), tensor_norms[k][e])
                } else {
                    (c, totals[e])
                };
                let f = ((bound / (n + 1e-6)).min(1.0) / b as f64) as f32;
                mean.iter_mut().zip(&s[k]).for_each(|(m, &g)| *m += f * g);
            }
            let e = rel_err(tape.grad(id).unwrap().data(), &mean);
            assert!(
                e <= 1e-5,
                "{} per_tensor={per_tensor}: clipped mean rel err {e:e}",
                store.name(id)
            );
        }
    }
}

/// The formulas of the PyTorch reference scripts' inputs, by flat index.
pub fn tensor(shape: &[usize], f: fn(f64) -> f64) -> Tensor {
    let n = shape.iter().product::<usize>();
    Tensor::from_vec((0..n).map(|k| f(k as f64) as f32).collect(), shape)
}

pub fn x_at(k: f64) -> f64 {
    (0.3 + 0.37 * k).sin() + 0.2 * (1.9 * k).cos()
}

pub fn w_at(k: f64) -> f64 {
    0.5 * (1.0 + 0.61 * k).sin()
}

pub fn b_at(k: f64) -> f64 {
    0.2 * (2.0 + 0.9 * k).cos()
}

pub fn r_at(k: f64) -> f64 {
    (0.5 + 0.77 * k).cos()
}

pub fn gamma_at(k: f64) -> f64 {
    1.0 + 0.3 * (0.4 + 1.7 * k).sin()
}

pub fn beta_at(k: f64) -> f64 {
    0.1 * (0.8 + 1.3 * k).cos()
}

/// Runs `f` on `inputs` (as parameters), backpropagates R = r_at and checks
/// the output and every input's gradient against PyTorch's, within 2·10⁻⁵
/// of the largest magnitude of each.
pub fn check_against_torch(
    name: &str,
    inputs: Vec<Tensor>,
    f: impl Fn(&mut Graph, &[Var]) -> Var,
    want_y: &[f32],
    want_grads: &[&[f32]],
) {
    let mut store = ParamStore::new();
    let ids: Vec<_> = inputs
        .into_iter()
        .enumerate()
        .map(|(i, t)| store.add(format!("x{i}"), t))
        .collect();
    let mut tape = Tape::new();
    let mut g = tape.record(&store);
    let vars: Vec<Var> = ids.iter().map(|&id| g.param(id)).collect();
    let y = f(&mut g, &vars);
    let shape = g.value(y).shape().to_vec();
    let got_y = g.value(y).data().to_vec();
    let r = g.input(&tensor(&shape, r_at));
    let weighted = g.mul(y, r);
    let loss = g.sum(weighted);
    g.backward(loss, GradRequest::Mean).unwrap();
    let close = |what: &str, got: &[f32], want: &[f32]| {
        assert_eq!(got.len(), want.len(), "{name} {what}: length");
        let scale = want.iter().fold(1e-3f32, |m, v| m.max(v.abs()));
        for (k, (a, b)) in got.iter().zip(want).enumerate() {
            assert!(
                (a - b).abs() <= 2e-5 * scale,
                "{name} {what}[{k}]: {a} against PyTorch's {b}"
            );
        }
    };
    close("y", &got_y, want_y);
    for (i, (&id, want)) in ids.iter().zip(want_grads).enumerate() {
        close(
            &format!("∂L/∂input {i}"),
            tape.grad(id).unwrap().data(),
            want,
        );
    }
}
