//! A tour of the tape: a 2-layer MLP on 4 examples.
//!
//! Prints every node the forward pass recorded, the batch gradient of each
//! parameter, and the per-example gradients of the tape next to the ones a
//! loop of four batch-size-1 backwards gives.
//!
//! ```text
//! cargo run --example tape_tour
//! ```

use gradlab::autodiff::{GradRequest, Graph, ParamId, ParamStore, Tape, Var};
use gradlab::tensor::{rng, Tensor};

fn forward(g: &mut Graph, x: Var, p: &[ParamId; 4]) -> Var {
    let [w1, b1, w2, b2] = p.map(|id| g.param(id));
    let h = g.matmul(x, w1);
    let h = g.add(h, b1);
    let h = g.tanh(h);
    let y = g.matmul(h, w2);
    g.add(y, b2)
}

fn show(name: &str, t: &Tensor) {
    let cells: Vec<String> = t.data().iter().map(|v| format!("{v:+.4}")).collect();
    println!("    {name:<8} {:?} [{}]", t.shape(), cells.join(" "));
}

fn main() {
    gradlab::cli::end_quietly_on_closed_pipe();
    let mut r = rng(0);
    let mut store = ParamStore::new();
    let p = [
        store.add("w1", Tensor::uniform(&[3, 2], -1.0, 1.0, &mut r)),
        store.add("b1", Tensor::uniform(&[2], -1.0, 1.0, &mut r)),
        store.add("w2", Tensor::uniform(&[2, 2], -1.0, 1.0, &mut r)),
        store.add("b2", Tensor::uniform(&[2], -1.0, 1.0, &mut r)),
    ];
    let x = Tensor::uniform(&[4, 3], -1.0, 1.0, &mut r);
    let labels = [0, 1, 1, 0];

    let mut tape = Tape::new();
    let mut g = tape.record(&store);
    let xv = g.input(&x);
    let logits = forward(&mut g, xv, &p);
    let loss = g.softmax_cross_entropy(logits, &labels);
    println!("per-example losses ℓ_b = {:?}\n", g.value(loss).data());
    g.backward(loss, GradRequest::PerExample).unwrap();

    println!("The tape (one node per op, inputs by index):");
    for line in tape.describe() {
        println!("  {line}");
    }

    println!("\nBatch gradients ĝ = (1/B) Σ_b g_b:");
    for &id in &p {
        show(store.name(id), tape.grad(id).unwrap());
    }

    // The same per-example gradients, the slow way: one backward per example.
    let mut single = Tape::new();
    let mut by_loop: Vec<Vec<Tensor>> = vec![];
    for b in 0..4 {
        let xb = Tensor::from_vec(x.row(b).to_vec(), &[1, 3]);
        let mut g = single.record(&store);
        let xv = g.input(&xb);
        let logits = forward(&mut g, xv, &p);
        let loss = g.softmax_cross_entropy(logits, &labels[b..b + 1]);
        g.backward(loss, GradRequest::Mean).unwrap();
        by_loop.push(
            p.iter()
                .map(|&id| single.grad(id).unwrap().clone())
                .collect(),
        );
    }

    println!(
        "\nPer-example gradients g_b: from one PerExample backward, then from a loop of four:"
    );
    for (k, &id) in p.iter().enumerate() {
        let pe = tape.per_example(id).unwrap();
        let n = store.get(id).len();
        for (b, row) in by_loop.iter().enumerate() {
            let tape_b = Tensor::from_vec(
                pe.data()[b * n..(b + 1) * n].to_vec(),
                store.get(id).shape(),
            );
            println!("  {}  example {b}", store.name(id));
            show("tape", &tape_b);
            show("loop", &row[k]);
        }
    }
    let (noise, _) = tape.noise_scale().unwrap();
    println!(
        "\nGradient noise scale from these 4 examples: tr(Σ) ≈ {:.4}, |G|² ≈ {:.4}, B_noise ≈ {:.2}",
        noise.trace_sigma,
        noise.grad_norm_sq,
        noise.b_noise()
    );
}
