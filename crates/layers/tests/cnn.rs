//! The private CNNs' per-example statistics against single backwards: each
//! parameter's per-example norm, and the flat clipped mean at a bound that
//! clips some examples and not others.

use gradlab_autodiff::{Clipping, GradRequest, Tape};
use gradlab_layers::{Cnn, CnnKind, Mode, Module};
use gradlab_tensor::{rng, Tensor};

#[test]
fn the_private_cnns_per_example_norms_and_clipped_mean_equal_single_backwards() {
    for kind in [CnnKind::Private, CnnKind::Dormann] {
        let cnn = Cnn::new(kind, [1, 28, 28], 10, 5).unwrap();
        let b = 5;
        let x = Tensor::uniform(&[b, 784], 0.0, 1.0, &mut rng(11));
        let labels: Vec<usize> = (0..b).map(|i| (3 * i + 1) % 10).collect();
        let ids = cnn.params();
        let mut tape = Tape::new();
        // Each example's gradient, flattened over every parameter.
        let singles: Vec<Vec<Vec<f32>>> = (0..b)
            .map(|i| {
                let xi = Tensor::from_vec(x.data()[i * 784..][..784].to_vec(), &[1, 784]);
                let mut g = tape.record(&cnn.params);
                let xv = g.input(&xi);
                let logits = cnn.forward(&mut g, xv, Mode::Eval);
                let loss = g.softmax_cross_entropy(logits, &labels[i..i + 1]);
                g.backward(loss, GradRequest::Mean).unwrap();
                ids.iter()
                    .map(|&id| tape.grad(id).unwrap().data().to_vec())
                    .collect()
            })
            .collect();
        let norms: Vec<f64> = singles
            .iter()
            .map(|s| {
                s.iter()
                    .flatten()
                    .map(|&v| f64::from(v).powi(2))
                    .sum::<f64>()
                    .sqrt()
            })
            .collect();
        // A bound between the smallest and the largest norm.
        let mut sorted = norms.clone();
        sorted.sort_by(f64::total_cmp);
        let c = ((sorted[1] + sorted[b - 2]) / 2.0) as f32;
        assert!(sorted[0] < f64::from(c) && f64::from(c) < sorted[b - 1]);
        let mut g = tape.record(&cnn.params);
        let xv = g.input(&x);
        let logits = cnn.forward(&mut g, xv, Mode::Train { seed: 0 });
        let loss = g.softmax_cross_entropy(logits, &labels);
        g.backward(loss, GradRequest::Clipped(Clipping::flat(c)))
            .unwrap();
        for (k, &id) in ids.iter().enumerate() {
            let name = cnn.params.name(id);
            let got = tape.example_norms(id).unwrap().data();
            for (e, s) in singles.iter().enumerate() {
                let want = s[k]
                    .iter()
                    .map(|&v| f64::from(v).powi(2))
                    .sum::<f64>()
                    .sqrt();
                let err = (f64::from(got[e]) - want).abs() / want.max(1e-12);
                assert!(
                    err < 1e-4,
                    "{kind:?} {name} example {e}: {} vs {want}",
                    got[e]
                );
            }
            // (1/B) Σ_b min(1, C/‖g_b‖)·g_b, ‖g_b‖ over every parameter.
            let want: Vec<f64> = (0..singles[0][k].len())
                .map(|j| {
                    let sum: f64 = (0..b)
                        .map(|e| {
                            let factor = (f64::from(c) / (norms[e] + 1e-6)).min(1.0);
                            factor * f64::from(singles[e][k][j])
                        })
                        .sum();
                    sum / b as f64
                })
                .collect();
            let grad = tape.grad(id).unwrap().data();
            let scale = want.iter().fold(1e-6f64, |m, v| m.max(v.abs()));
            for (j, (&got, want)) in grad.iter().zip(&want).enumerate() {
                let err = (f64::from(got) - want).abs() / scale;
                assert!(err < 1e-4, "{kind:?} {name}[{j}]: {got} vs {want}");
            }
        }
    }
}
