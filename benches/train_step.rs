//! Forward + backward of MLP 784-512-512-10 with softmax cross-entropy, for
//! each gradient request and batch size.
//!
//! The interesting ratio is `MeanAndSquares` / `Mean` at the same B: the
//! per-example second moments cost one extra matmul per weight on squared
//! operands, not B outer products (`PerExample` shows what those cost).
//! Each step runs inside rayon's pool, as `Trainer::step` does.
//!
//! ```text
//! cargo bench --bench train_step
//! ```

// Each bench uses part of the pinned workload.
#[allow(dead_code)]
mod workload;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use gradlab::autodiff::{Activation, GradRequest, Tape};
use gradlab::layers::{Mlp, Mode, Module};
use gradlab::tensor::{rng, Tensor};
use workload::MLP_SIZES;

fn train_step(c: &mut Criterion) {
    let mlp = Mlp::new(&MLP_SIZES, Activation::Relu, 0).unwrap();
    // Inside the pool, as a training step runs: the parallel loops then
    // start on a worker instead of waking the calling thread each time.
    let pool = rayon::ThreadPoolBuilder::new().build().unwrap();
    let mut group = c.benchmark_group("train_step");
    group.sample_size(20);
    for b in [32, 128, 512] {
        let x = Tensor::uniform(&[b, MLP_SIZES[0]], 0.0, 1.0, &mut rng(1));
        let labels: Vec<usize> = (0..b).map(|i| i % 10).collect();
        group.throughput(Throughput::Elements(b as u64));
        for request in [
            GradRequest::Mean,
            GradRequest::MeanAndSquares,
            GradRequest::PerExample,
        ] {
            let mut tape = Tape::new();
            group.bench_with_input(
                BenchmarkId::new(format!("{request:?}"), b),
                &b,
                |bench, _| {
                    bench.iter(|| {
                        pool.install(|| {
                            let mut g = tape.record(&mlp.params);
                            let xv = g.input(&x);
                            let logits = mlp.forward(&mut g, xv, Mode::Eval);
                            let loss = g.softmax_cross_entropy(logits, &labels);
                            g.backward(loss, request).unwrap();
                        })
                    })
                },
            );
        }
    }
    group.finish();
}

criterion_group!(benches, train_step);
criterion_main!(benches);
