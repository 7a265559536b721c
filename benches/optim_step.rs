//! One step of each registered optimizer, at its defaults, over the parameters of MLP 784-512-512-10
//! (weights and biases: 669 706 parameters), as bytes touched per second,
//! next to a `copy_from_slice` of as many bytes in the same run.
//!
//! A step is memory-bound. Per parameter it reads Φ, ĝ (and the per-example
//! squares for `adam_per_example`) and the state, and writes Φ and the state:
//! 12 bytes for SGD, 20 with one state tensor, 28 with two, 32 for the
//! per-example rule. The copy moves half that many bytes from one buffer to
//! another, touching the same number (each byte read once and written once):
//! its rate is the bandwidth a single pass can reach. `step` runs on rayon's
//! global pool, `step_1_thread` in a pool of one thread, like the copy.
//! Muon is the exception: its Newton–Schulz iterations are matrix products,
//! about 9.5 GFLOP per step on these shapes, so its time is compute, not
//! bytes (and the byte rate reported for it, computed the same way, is not
//! a bandwidth).
//!
//! ```text
//! cargo bench --bench optim_step -- --warm-up-time 1 --measurement-time 3
//! ```

// Each bench uses part of the pinned workload.
#[allow(dead_code)]
mod workload;

use std::hint::black_box;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use gradlab::optim::{Optimizer, Param, Statistics};
use gradlab::tensor::{rng, Tensor};
use workload::param_shapes;

fn optim_step(c: &mut Criterion) {
    let shapes = param_shapes();
    let mut r = rng(0);
    let mut values: Vec<Tensor> = shapes
        .iter()
        .map(|s| Tensor::normal(s, 0.0, 0.05, &mut r))
        .collect();
    let grads: Vec<Tensor> = shapes
        .iter()
        .map(|s| Tensor::normal(s, 0.0, 0.01, &mut r))
        .collect();
    let squares: Vec<Tensor> = grads.iter().map(|g| g.map(|x| 2.0 * x * x)).collect();
    let n: usize = values.iter().map(Tensor::len).sum();
    let one_thread = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();

    // Every registered rule, and AMSGrad, which is a switch of Adam's.
    let names = gradlab::optim::registry::names();
    for spec in names.into_iter().chain(["adam(amsgrad=true)"]) {
        let mut opt = Optimizer::from_spec(spec).unwrap();
        let squares_read = usize::from(opt.statistics() == Statistics::MeanAndSquares);
        let state = opt.state_names().len();
        // Φ read and written, ĝ read, each state tensor read and written.
        let bytes = n * 4 * (3 + squares_read + 2 * state);

        let mut params: Vec<Param<'_>> = values
            .iter_mut()
            .zip(&grads)
            .zip(&squares)
            .enumerate()
            .map(|(id, ((v, g), q))| Param::new(id, v, g).with_grad_sq(q))
            .collect();
        // The first step creates the state.
        opt.step(&mut params, 64);

        let mut group = c.benchmark_group(spec);
        group.throughput(Throughput::Bytes(bytes as u64));
        group.bench_function("step", |b| b.iter(|| opt.step(&mut params, 64)));
        group.bench_function("step_1_thread", |b| {
            b.iter_custom(|iters| {
                one_thread.install(|| {
                    let start = Instant::now();
                    for _ in 0..iters {
                        opt.step(&mut params, 64);
                    }
                    start.elapsed()
                })
            })
        });
        let src = vec![1.0f32; bytes / 8];
        let mut dst = vec![0.0f32; bytes / 8];
        group.bench_function("memcpy", |b| {
            b.iter(|| {
                dst.copy_from_slice(black_box(&src));
                black_box(&mut dst);
            })
        });
        group.finish();
    }
}

criterion_group!(benches, optim_step);
criterion_main!(benches);
