//! A training step's forward and backward allocate nothing once the tape has
//! seen the graph: a counting global allocator proves it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use gradlab_autodiff::{Activation, GradRequest, ParamStore, Tape};
use gradlab_tensor::{rng, Tensor, Transpose};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn steady_state_step_allocates_nothing() {
    // Large enough for the matmuls and elementwise ops to take their
    // parallel paths.
    let sizes = [784, 512, 512, 10];
    let b = 128;
    let mut store = ParamStore::new();
    let mut r = rng(0);
    let mut layers = vec![];
    for l in 0..3 {
        let w = store.add(
            format!("w{l}"),
            Tensor::uniform(&[sizes[l + 1], sizes[l]], -0.05, 0.05, &mut r),
        );
        let bias = store.add(format!("b{l}"), Tensor::zeros(&[sizes[l + 1]]));
        layers.push((w, bias));
    }
    let x = Tensor::uniform(&[b, 784], 0.0, 1.0, &mut r);
    let labels: Vec<usize> = (0..b).map(|i| i % 10).collect();
    // Inside a pool the parallel loops use the workers' own deques; called
    // from outside, rayon's global injector allocates one small block every
    // 63 jobs, which is rayon's bookkeeping rather than the step's. Each
    // worker grows its thread-local matmul packing buffers the first time it
    // runs a tile of a new size, and work stealing decides which worker runs
    // which tile, so the first steps are a warm-up; the last four must not
    // allocate at all.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    pool.install(|| {
        // Separate matmul, add and relu nodes, then the fused linear op
        // (which reads the weight as [out, in]: the same buffers serve).
        let cases = [GradRequest::Mean, GradRequest::MeanAndSquares]
            .into_iter()
            .flat_map(|r| [(r, false), (r, true)]);
        for (request, fused) in cases {
            let mut tape = Tape::new();
            let mut counts = vec![];
            for _ in 0..12 {
                let before = ALLOCATIONS.load(Ordering::SeqCst);
                let mut g = tape.record(&store);
                let mut h = g.input(&x);
                for (l, &(w, bias)) in layers.iter().enumerate() {
                    let (wv, bv) = (g.param(w), g.param(bias));
                    if fused {
                        let f = (l < 2).then_some(Activation::Relu);
                        h = g.linear(h, wv, Some(bv), f);
                        continue;
                    }
                    h = g.matmul_t(h, Transpose::No, wv, Transpose::Yes);
                    h = g.add(h, bv);
                    if l < 2 {
                        h = g.relu(h);
                    }
                }
                let loss = g.softmax_cross_entropy(h, &labels);
                g.backward(loss, request).unwrap();
                counts.push(ALLOCATIONS.load(Ordering::SeqCst) - before);
            }
            assert!(
                counts[0] > 0,
                "the first step must have allocated its buffers"
            );
            assert_eq!(
                &counts[8..],
                &[0, 0, 0, 0],
                "{request:?}, fused {fused}: allocations per step {counts:?}"
            );
        }
    });
}
