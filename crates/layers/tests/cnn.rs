//! The private CNNs' per-example statistics against single backwards: each
//! parameter's per-example norms, and the clipped mean, flat and per
//! tensor, at a bound that clips some examples and not others.

use gradlab_autodiff::{GradRequest, Tape};
use gradlab_layers::{Cnn, CnnKind, Mode, Module};
use gradlab_tensor::{rng, Tensor};

#[path = "../../autodiff/tests/common/mod.rs"]
mod common;

#[test]
fn the_private_cnns_per_example_norms_and_clipped_means_equal_single_backwards() {
    for (kind, input) in [
        (CnnKind::Private, [1, 28, 28]),
        (CnnKind::Dormann, [1, 28, 28]),
        (CnnKind::Scatter, [81, 7, 7]),
    ] {
        let cnn = Cnn::new(kind, input, 10, 5).unwrap();
        let b = 5;
        let f: usize = input.iter().product();
        let x = Tensor::uniform(&[b, f], 0.0, 1.0, &mut rng(11));
        let labels: Vec<usize> = (0..b).map(|i| (3 * i + 1) % 10).collect();
        let ids = cnn.params();
        let run = |tape: &mut Tape, x: &Tensor, labels: &[usize], request: GradRequest| {
            let mut g = tape.record(&cnn.params);
            let xv = g.input(x);
            let logits = cnn.forward(&mut g, xv, Mode::Train { seed: 0 });
            let loss = g.softmax_cross_entropy(logits, labels);
            g.backward(loss, request).unwrap();
        };
        let mut tape = Tape::new();
        let singles: Vec<Vec<Vec<f32>>> = (0..b)
            .map(|i| {
                let xi = Tensor::from_vec(x.data()[i * f..][..f].to_vec(), &[1, f]);
                run(&mut tape, &xi, &labels[i..i + 1], GradRequest::Mean);
                ids.iter()
                    .map(|&id| tape.grad(id).unwrap().data().to_vec())
                    .collect()
            })
            .collect();
        common::check_norms_and_clipped_means(&cnn.params, &ids, &singles, |tape, request| {
            run(tape, &x, &labels, request)
        });
    }
}
