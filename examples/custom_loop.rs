//! The training loop by hand: an MLP learns the two-moons problem with
//! Adam — forward, backward, step — using nothing but the public API.
//!
//! ```text
//! cargo run --release --example custom_loop
//! ```

use gradlab::autodiff::{Activation, GradRequest, Tape};
use gradlab::layers::{Mlp, Mode, Module};
use gradlab::optim::Optimizer;
use gradlab::tensor::{rng, Tensor};
use gradlab::train::FromTape;

/// `n` points on two interleaved half circles, with Gaussian noise of
/// standard deviation 0.1, each labelled by its moon (0 or 1).
pub fn two_moons(n: usize, seed: u64) -> (Tensor, Vec<usize>) {
    let mut r = rng(seed);
    let t = Tensor::uniform(&[n], 0.0, std::f32::consts::PI, &mut r);
    let noise = Tensor::normal(&[n, 2], 0.0, 0.1, &mut r);
    let labels: Vec<usize> = (0..n).map(|i| i % 2).collect();
    let points = t
        .data()
        .iter()
        .zip(&labels)
        .flat_map(|(&t, &moon)| match moon {
            0 => [t.cos(), t.sin()],
            _ => [1.0 - t.cos(), 0.5 - t.sin()],
        });
    let x = Tensor::from_vec(points.collect(), &[n, 2]).add(&noise);
    (x, labels)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    gradlab::cli::end_quietly_on_closed_pipe();
    let (x, y) = two_moons(1000, 0);
    let (x_test, y_test) = two_moons(1000, 1);
    let mut mlp = Mlp::new(&[2, 16, 16, 2], Activation::Tanh, 0)?;
    let mut opt = Optimizer::from_spec("adam(lr=0.01)")?;
    let mut tape = Tape::new();
    for step in 1..=500 {
        let mut g = tape.record(&mlp.params); // a new graph on the tape
        let xv = g.input(&x);
        let logits = mlp.forward(&mut g, xv, Mode::Train { seed: step });
        let losses = g.softmax_cross_entropy(logits, &y); // ℓ_b for every example b
        let loss = g.value(losses).mean();
        g.backward(losses, GradRequest::Mean)?; // ĝ = (1/B) Σ_b ∇ℓ_b
        opt.update(&mut mlp.params, &tape); // every parameter: Φ ← Φ − η·Adam(ĝ)
        if step % 100 == 0 {
            println!("step {step:3}  loss {loss:.4}");
        }
    }
    let mut g = tape.record(&mlp.params);
    let xv = g.input(&x_test);
    let logits = mlp.forward(&mut g, xv, Mode::Eval);
    let predicted = g.value(logits).argmax_rows();
    let correct = predicted
        .iter()
        .zip(&y_test)
        .filter(|(p, y)| p == y)
        .count();
    println!(
        "test accuracy {:.1} %",
        100.0 * correct as f64 / y_test.len() as f64
    );
    Ok(())
}
