//! GEMM throughput on the products of training an MLP 784-512-512-10 at
//! batch 128, and on square 512³ and 1024³: gradlab's `gemm` on 1 and 2
//! rayon threads, next to `matrixmultiply::sgemm` called directly (one call,
//! on the calling thread).
//!
//! ```text
//! cargo bench --bench matmul -- --warm-up-time 1 --measurement-time 3
//! ```
//!
//! Criterion's "thrpt" is in elements/s where one element is one flop
//! (`2·m·k·n` per product), so `Gelem/s` reads as GFLOP/s. A plain table of
//! GFLOP/s (the median over criterion's samples) closes the run; compare it
//! with `benches/peers/numpy_sgemm.py` (OpenBLAS) run right after, in the same
//! session.

// Each bench uses part of the pinned workload.
#[allow(dead_code)]
mod workload;

use std::cell::RefCell;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{
    criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode, Throughput,
};
use gradlab::tensor::{gemm_with, rng, Kernel, Tensor, Transpose};
use rayon::{ThreadPool, ThreadPoolBuilder};

/// One product `C[m×n] = op(A)·op(B)`, named as in the numpy reference.
struct Case {
    label: &'static str,
    m: usize,
    k: usize,
    n: usize,
    ta: Transpose,
    tb: Transpose,
}

const fn case(
    label: &'static str,
    m: usize,
    k: usize,
    n: usize,
    ta: Transpose,
    tb: Transpose,
) -> Case {
    Case {
        label,
        m,
        k,
        n,
        ta,
        tb,
    }
}

use Transpose::{No, Yes};

const CASES: [Case; 8] = [
    case("x·W 128x784x512", 128, 784, 512, No, No),
    case("xᵀ·δ 784x128x512", 784, 128, 512, Yes, No),
    case("δ·Wᵀ 128x512x784", 128, 512, 784, No, Yes),
    case("h·W 128x512x512", 128, 512, 512, No, No),
    case("hᵀ·δ 512x128x512", 512, 128, 512, Yes, No),
    case("δ·Wᵀ 128x512x512", 128, 512, 512, No, Yes),
    case("square 512", 512, 512, 512, No, No),
    case("square 1024", 1024, 1024, 1024, No, No),
];

/// The contestants, in table order: gradlab's best kernel on 1 and 2
/// threads, its AVX2 kernel on 1 (for CPUs without AVX-512; skipped where it
/// is already the best or missing), and `matrixmultiply`.
const VARIANTS: [&str; 4] = [
    "gradlab 1T",
    "gradlab 2T",
    "gradlab AVX2 1T",
    "matrixmultiply 1T",
];

/// Criterion's default number of samples per benchmark.
const SAMPLES: usize = 100;

/// Seconds per product of every routine call, by case and variant; the last
/// `SAMPLES` of them are criterion's measurement (the earlier ones its
/// warm-up).
type Timings = RefCell<Vec<Vec<Vec<f64>>>>;

/// Runs `f` `iters` times and returns the elapsed time.
fn timed(iters: u64, mut f: impl FnMut()) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        f();
    }
    start.elapsed()
}

/// Records the time per call of one routine call of `iters` calls.
fn record(log: &Timings, case: usize, variant: usize, iters: u64, elapsed: Duration) -> Duration {
    log.borrow_mut()[case][variant].push(elapsed.as_secs_f64() / iters as f64);
    elapsed
}

/// `matrixmultiply::sgemm` on the same row-major operands, transposes as
/// swapped strides.
fn matrixmultiply_gemm(cs: &Case, a: &[f32], b: &[f32], c: &mut [f32]) {
    let (m, k, n) = (cs.m, cs.k, cs.n);
    let (rsa, csa) = if cs.ta == No { (k, 1) } else { (1, m) };
    let (rsb, csb) = if cs.tb == No { (n, 1) } else { (1, k) };
    // SAFETY: A holds m·k, B k·n and C m·n floats, addressed by these strides.
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            1.0,
            a.as_ptr(),
            rsa as isize,
            csa as isize,
            b.as_ptr(),
            rsb as isize,
            csb as isize,
            0.0,
            c.as_mut_ptr(),
            n as isize,
            1,
        );
    }
}

fn pool(threads: usize) -> ThreadPool {
    ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
}

fn bench(cr: &mut Criterion) {
    let pools = [pool(1), pool(2)];
    let mut gradlab = vec![(Kernel::best(), &pools[0]), (Kernel::best(), &pools[1])];
    if Kernel::best() != Kernel::Avx2Fma && Kernel::Avx2Fma.is_available() {
        gradlab.push((Kernel::Avx2Fma, &pools[0]));
    }
    let log: Timings = RefCell::new(vec![vec![Vec::new(); VARIANTS.len()]; CASES.len()]);
    let mut r = rng(7);
    for (ci, cs) in CASES.iter().enumerate() {
        let a = Tensor::uniform(&[cs.m * cs.k], -1.0, 1.0, &mut r);
        let b = Tensor::uniform(&[cs.k * cs.n], -1.0, 1.0, &mut r);
        let mut c = vec![0.0f32; cs.m * cs.n];
        let (a, b) = (a.data(), b.data());
        let mut group = cr.benchmark_group(cs.label);
        // Flat sampling (the same number of calls in every sample) keeps
        // 1024³ at 100 samples within seconds; linear sampling would need
        // 5050 calls.
        group.sampling_mode(SamplingMode::Flat).sample_size(SAMPLES);
        group.throughput(Throughput::Elements((2 * cs.m * cs.k * cs.n) as u64));
        for (vi, &(kernel, pool)) in gradlab.iter().enumerate() {
            let name = VARIANTS[vi].split_once(' ').unwrap().1;
            group.bench_function(BenchmarkId::new("gradlab", name), |bch| {
                bch.iter_custom(|iters| {
                    let elapsed = pool.install(|| {
                        timed(iters, || {
                            gemm_with(
                                kernel,
                                cs.m,
                                cs.k,
                                cs.n,
                                1.0,
                                black_box(a),
                                cs.ta,
                                black_box(b),
                                cs.tb,
                                0.0,
                                &mut c,
                            )
                        })
                    });
                    record(&log, ci, vi, iters, elapsed)
                })
            });
        }
        group.bench_function(BenchmarkId::new("matrixmultiply", "1T"), |bch| {
            bch.iter_custom(|iters| {
                let elapsed = timed(iters, || {
                    matrixmultiply_gemm(cs, black_box(a), black_box(b), &mut c)
                });
                record(&log, ci, VARIANTS.len() - 1, iters, elapsed)
            })
        });
        group.finish();
    }
    print_table(&log.into_inner());
}

/// GFLOP/s per case and variant: `2·m·k·n` over the median time of the
/// measured samples; `-` where a filter skipped the benchmark.
fn print_table(log: &[Vec<Vec<f64>>]) {
    println!("\nGFLOP/s (median of criterion's samples)");
    print!("{:<20}", "case");
    for v in VARIANTS {
        print!("{v:>19}");
    }
    println!();
    for (cs, times) in CASES.iter().zip(log) {
        print!("{:<20}", cs.label);
        for t in times {
            let measured = &t[t.len().saturating_sub(SAMPLES)..];
            if measured.is_empty() {
                print!("{:>19}", "-");
            } else {
                let mut sorted = measured.to_vec();
                sorted.sort_by(f64::total_cmp);
                let flops = (2 * cs.m * cs.k * cs.n) as f64;
                print!("{:>19.1}", flops / sorted[sorted.len() / 2] / 1e9);
            }
        }
        println!();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
