//! Per-example norms and the flat-clipped mean against Opacus: the numbers
//! below are printed by `tests/reference/opacus_clipping.py` (Opacus'
//! `GradSampleModule`, which materializes every per-sample gradient, and
//! its `DPOptimizer` with no noise), for the MLP, weights and batch that
//! script and this test both build from closed formulas.

// The reference values are kept digit for digit as the script printed them.
#![allow(clippy::excessive_precision)]

use gradlab_autodiff::{Activation, Clipping, GradRequest, ParamId, ParamStore, Tape};
use gradlab_tensor::Tensor;

const SIZES: [usize; 4] = [6, 5, 4, 3];
const BATCH: usize = 5;
const LABELS: [usize; BATCH] = [0, 2, 1, 2, 0];
const CLIP: f32 = 1.8;

// Printed with torch 2.15.0+cu132, opacus 1.6.0
const TOTAL_NORMS: [f32; 5] = [
    1.765453339e+00,
    1.545895457e+00,
    1.942136645e+00,
    2.192626238e+00,
    1.787740469e+00,
];
const TENSOR_NORMS: [[f32; 6]; 5] = [
    [
        4.993773997e-01,
        1.653283387e-01,
        9.956564903e-01,
        3.818292022e-01,
        1.052909017e+00,
        7.709550261e-01,
    ],
    [
        8.136831224e-02,
        2.865934558e-02,
        3.002282083e-01,
        8.725201339e-02,
        1.342231393e+00,
        6.949933767e-01,
    ],
    [
        3.288727403e-01,
        1.263862252e-01,
        8.567028642e-01,
        3.915341794e-01,
        1.365152121e+00,
        9.470399022e-01,
    ],
    [
        1.260221004e+00,
        4.698284864e-01,
        9.447828531e-01,
        7.960896492e-01,
        7.951644659e-01,
        9.165448546e-01,
    ],
    [
        1.198831081e+00,
        4.267778397e-01,
        5.161650181e-01,
        7.249388695e-01,
        4.737586081e-01,
        7.485123277e-01,
    ],
];
const CLIPPED_MEAN: [f32; 74] = [
    1.262895204e-02,
    1.687731966e-02,
    -5.085268617e-02,
    -7.309589535e-02,
    -8.633265272e-03,
    3.112090752e-02,
    7.702394389e-03,
    5.536259152e-03,
    4.743132158e-04,
    -4.835729022e-03,
    -7.616380695e-03,
    -6.413186435e-03,
    1.136916876e-01,
    -6.280291826e-02,
    -1.016548127e-01,
    8.318241686e-02,
    4.668022692e-02,
    -8.137702942e-02,
    -5.839282181e-03,
    -1.148606092e-01,
    -3.088478744e-02,
    1.027774811e-01,
    -5.840591714e-02,
    -2.014846057e-01,
    -3.117031418e-02,
    -5.560897663e-02,
    3.198539466e-02,
    7.585752010e-02,
    -1.179509237e-02,
    -6.926442683e-02,
    -5.532920361e-02,
    5.137119908e-03,
    -5.295211077e-02,
    -3.858033195e-02,
    4.476810992e-02,
    2.928220201e-03,
    2.250439720e-03,
    -2.747584507e-02,
    7.709540427e-03,
    6.110873073e-02,
    2.480621077e-02,
    2.345404774e-02,
    -1.383922808e-02,
    -2.117677964e-02,
    3.702490404e-02,
    7.515660487e-03,
    3.129482642e-02,
    -1.012759842e-02,
    -8.029545099e-02,
    -8.281570673e-02,
    -6.976558827e-03,
    1.951389597e-03,
    1.074252352e-01,
    1.989976130e-02,
    -3.272123262e-02,
    3.635491803e-02,
    -9.293156676e-03,
    -5.380356312e-02,
    -7.900911383e-03,
    -1.370064914e-01,
    -1.139890701e-01,
    6.735251099e-02,
    1.517671347e-01,
    7.839993387e-02,
    9.210328571e-03,
    -1.114528161e-02,
    -7.078243047e-02,
    5.860658363e-02,
    1.047787294e-01,
    -5.620720237e-02,
    -8.098469675e-02,
    -6.624162197e-03,
    1.064129844e-01,
    -9.978880733e-02,
];

fn weight(layer: usize, o: usize, i: usize) -> f32 {
    (0.6 * (1.0 + 3.0 * layer as f64 + 1.3 * o as f64 + 0.7 * i as f64).sin()) as f32
}

fn bias(layer: usize, o: usize) -> f32 {
    (0.2 * (2.0 + layer as f64 + 0.9 * o as f64).cos()) as f32
}

fn example(b: usize, i: usize) -> f32 {
    (1.5 * (0.5 + 1.1 * b as f64 + 0.37 * (i * (b + 1)) as f64).sin()) as f32
}

/// The script's MLP: its parameters in PyTorch's order (weight, bias of
/// each layer), weights `[out, in]` as `nn.Linear` keeps them.
fn mlp() -> (ParamStore, Vec<ParamId>) {
    let mut store = ParamStore::new();
    let mut ids = vec![];
    for l in 0..SIZES.len() - 1 {
        let (i, o) = (SIZES[l], SIZES[l + 1]);
        let w: Vec<f32> = (0..o * i).map(|k| weight(l, k / i, k % i)).collect();
        ids.push(store.add(format!("w{l}"), Tensor::from_vec(w, &[o, i])));
        let b: Vec<f32> = (0..o).map(|k| bias(l, k)).collect();
        ids.push(store.add(format!("b{l}"), Tensor::from_vec(b, &[o])));
    }
    (store, ids)
}

fn rel_err(a: &[f32], b: &[f32]) -> f64 {
    let diff: f64 = a.iter().zip(b).map(|(x, y)| f64::from(x - y).powi(2)).sum();
    let norm: f64 = b.iter().map(|y| f64::from(*y).powi(2)).sum();
    (diff / norm).sqrt()
}

#[test]
fn norms_and_the_clipped_mean_match_opacus() {
    let (store, ids) = mlp();
    let x: Vec<f32> = (0..BATCH * SIZES[0])
        .map(|k| example(k / SIZES[0], k % SIZES[0]))
        .collect();
    let x = Tensor::from_vec(x, &[BATCH, SIZES[0]]);
    let mut tape = Tape::new();
    let mut g = tape.record(&store);
    let mut h = g.input(&x);
    let f = [Some(Activation::Relu), Some(Activation::Tanh), None];
    for (l, f) in f.into_iter().enumerate() {
        let (w, b) = (g.param(ids[2 * l]), g.param(ids[2 * l + 1]));
        h = g.linear(h, w, Some(b), f);
    }
    let loss = g.softmax_cross_entropy(h, &LABELS);
    g.backward(loss, GradRequest::Clipped(Clipping::flat(CLIP)))
        .unwrap();

    let totals = tape.total_norms().unwrap().data();
    let e = rel_err(totals, &TOTAL_NORMS);
    assert!(e <= 1e-5, "total norms rel err {e:e}: {totals:?}");
    // Some examples are clipped, some are not.
    assert!(totals.iter().any(|&n| n < CLIP) && totals.iter().any(|&n| n > CLIP));
    for (k, &id) in ids.iter().enumerate() {
        let want: Vec<f32> = TENSOR_NORMS.iter().map(|row| row[k]).collect();
        let got = tape.example_norms(id).unwrap().data();
        let e = rel_err(got, &want);
        assert!(e <= 1e-5, "{}: norms rel err {e:e}", store.name(id));
    }
    let mean: Vec<f32> = ids
        .iter()
        .flat_map(|&id| tape.grad(id).unwrap().data().to_vec())
        .collect();
    let e = rel_err(&mean, &CLIPPED_MEAN);
    assert!(e <= 1e-5, "clipped mean rel err {e:e}");
    println!(
        "vs Opacus: total norms {:.1e}, clipped mean {e:.1e}",
        rel_err(totals, &TOTAL_NORMS)
    );
}
