//! A training step's forward and backward allocate nothing once the tape has
//! seen the graph: a counting global allocator proves it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

use gradlab_autodiff::{Activation, Clipping, GradRequest, ParamStore, Tape};
use gradlab_tensor::{rng, Tensor, Transpose};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// Whether this thread's allocations count: set on the workers of the
    /// pool that runs the steps. Other threads allocate at moments of their
    /// own (the test harness's main thread keeps books of running tests).
    static COUNTED: Cell<bool> = const { Cell::new(false) };
}

fn count() {
    if COUNTED.get() {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// The tests run one at a time: the count is global.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The allocations counted during each of `steps` calls of `step`.
fn allocations_per_step(steps: usize, mut step: impl FnMut()) -> Vec<usize> {
    (0..steps)
        .map(|_| {
            let before = ALLOCATIONS.load(Ordering::SeqCst);
            step();
            ALLOCATIONS.load(Ordering::SeqCst) - before
        })
        .collect()
}

#[test]
fn steady_state_step_allocates_nothing() {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
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
    // 63 jobs, which is rayon's bookkeeping rather than the step's. The
    // first recording sizes the tape's buffers and allocates every worker's
    // matmul packing buffers at their largest, so which worker runs which
    // tile (work stealing decides, and a loaded machine changes it) does
    // not matter: from the second step on, nothing is allocated.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .start_handler(|_| COUNTED.set(true))
        .build()
        .unwrap();
    pool.install(|| {
        // Separate matmul, add and relu nodes, then the fused linear op
        // (which reads the weight as [out, in]: the same buffers serve).
        let cases = [
            GradRequest::Mean,
            GradRequest::MeanAndSquares,
            GradRequest::Norms,
            GradRequest::Clipped(Clipping::flat(1.0)),
            GradRequest::Clipped(Clipping::per_tensor(1.0)),
        ]
        .into_iter()
        .flat_map(|r| [(r, false), (r, true)]);
        for (request, fused) in cases {
            let mut tape = Tape::new();
            let counts = allocations_per_step(12, || {
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
            });
            assert!(
                counts[0] > 0,
                "the first step must have allocated its buffers"
            );
            assert_eq!(
                &counts[1..],
                &[0; 11],
                "{request:?}, fused {fused}: allocations per step {counts:?}"
            );
        }
    });
}

#[test]
fn a_cnn_step_allocates_nothing_after_the_first() {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    use gradlab_autodiff::ops::conv::Conv2d;
    let conv = |stride, padding| Conv2d {
        stride: (stride, stride),
        padding: (padding, padding),
        dilation: (1, 1),
        bias: true,
    };
    let b = 64;
    let mut store = ParamStore::new();
    let mut r = rng(1);
    let mut add = |name: &str, shape: &[usize], lo: f32, hi: f32| {
        store.add(name, Tensor::uniform(shape, lo, hi, &mut r))
    };
    let p = [
        add("c1.w", &[8, 1, 5, 5], -0.2, 0.2),
        add("c1.b", &[8], -0.1, 0.1),
        add("c2.w", &[16, 8, 3, 3], -0.1, 0.1),
        add("c2.b", &[16], -0.1, 0.1),
        add("gn.g", &[16], 0.5, 1.5),
        add("gn.b", &[16], -0.1, 0.1),
        add("fc.w", &[10, 16 * 7 * 7], -0.05, 0.05),
        add("fc.b", &[10], -0.1, 0.1),
    ];
    let bn = [
        add("bn.g", &[8], 0.5, 1.5),
        add("bn.b", &[8], -0.1, 0.1),
        add("bn.fc", &[10, 8 * 7 * 7], -0.05, 0.05),
    ];
    let running = [
        Tensor::uniform(&[8], -0.1, 0.1, &mut r),
        Tensor::uniform(&[8], 0.5, 1.5, &mut r),
    ];
    let x = Tensor::uniform(&[b, 784], 0.0, 1.0, &mut r);
    let labels: Vec<usize> = (0..b).map(|i| i % 10).collect();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .start_handler(|_| COUNTED.set(true))
        .build()
        .unwrap();
    pool.install(|| {
        for request in [
            GradRequest::Mean,
            GradRequest::MeanAndSquares,
            GradRequest::PerExample,
            GradRequest::Norms,
            GradRequest::Clipped(Clipping::flat(1.0)),
            GradRequest::Clipped(Clipping::per_tensor(1.0)),
        ] {
            let mut tape = Tape::new();
            let counts = allocations_per_step(6, || {
                let mut g = tape.record(&store);
                let v = p.map(|id| g.param(id));
                let h = g.input(&x);
                let h = g.reshape(h, &[b, 1, 28, 28]);
                let h = g.conv2d(h, v[0], Some(v[1]), conv(1, 2));
                let h = g.relu(h);
                let h = g.max_pool2d(h, 2);
                let h = g.conv2d(h, v[2], Some(v[3]), conv(2, 1));
                let h = g.group_norm(h, 4, v[4], v[5], 1e-5);
                let h = g.tanh(h);
                let h = g.flatten(h);
                let h = g.linear(h, v[6], Some(v[7]), None);
                let loss = g.softmax_cross_entropy(h, &labels);
                g.backward(loss, request).unwrap();
            });
            assert_eq!(
                &counts[1..],
                &[0; 5],
                "{request:?}: allocations per step {counts:?}"
            );
        }
        // Batch norm, with the batch's statistics and with given ones.
        for given in [false, true] {
            let mut tape = Tape::new();
            let counts = allocations_per_step(6, || {
                let mut g = tape.record(&store);
                let v = p.map(|id| g.param(id));
                let [gamma, beta, fc] = bn.map(|id| g.param(id));
                let h = g.input(&x);
                let h = g.reshape(h, &[b, 1, 28, 28]);
                let h = g.conv2d(h, v[0], Some(v[1]), conv(1, 2));
                let h = if given {
                    let (m, s) = (g.constant(&running[0]), g.constant(&running[1]));
                    g.batch_norm_with(h, gamma, beta, m, s, 1e-5)
                } else {
                    g.batch_norm(h, gamma, beta, 1e-5)
                };
                let h = g.relu(h);
                let h = g.max_pool2d(h, 4);
                let h = g.flatten(h);
                let h = g.linear(h, fc, Some(v[7]), None);
                let loss = g.softmax_cross_entropy(h, &labels);
                g.backward(loss, GradRequest::Mean).unwrap();
            });
            assert_eq!(
                &counts[1..],
                &[0; 5],
                "batch norm: allocations per step {counts:?}"
            );
        }
    });
}

#[test]
fn a_gpt_step_allocates_nothing_after_the_first() {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let (b, t, d, vocab) = (16, 32, 64, 40);
    let mut store = ParamStore::new();
    let mut r = rng(2);
    let mut add = |name: &str, shape: &[usize], lo: f32, hi: f32| {
        store.add(name, Tensor::uniform(shape, lo, hi, &mut r))
    };
    let p = [
        add("wte", &[vocab, d], -0.1, 0.1),
        add("wpe", &[t, d], -0.1, 0.1),
        add("ln1.g", &[d], 0.5, 1.5),
        add("ln1.b", &[d], -0.1, 0.1),
        add("attn.w", &[3 * d, d], -0.1, 0.1),
        add("attn.b", &[3 * d], -0.1, 0.1),
        add("proj.w", &[d, d], -0.1, 0.1),
        add("ln2.g", &[d], 0.5, 1.5),
        add("ln2.b", &[d], -0.1, 0.1),
        add("fc.w", &[4 * d, d], -0.1, 0.1),
        add("fcproj.w", &[d, 4 * d], -0.1, 0.1),
        add("head", &[vocab, d], -0.1, 0.1),
    ];
    let tokens = Tensor::from_vec(
        (0..b * t).map(|i| ((i * 7) % vocab) as f32).collect(),
        &[b, t],
    );
    let positions = Tensor::from_vec((0..b * t).map(|i| (i % t) as f32).collect(), &[b, t]);
    let targets: Vec<usize> = (0..b * t).map(|i| (i * 3) % vocab).collect();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .start_handler(|_| COUNTED.set(true))
        .build()
        .unwrap();
    pool.install(|| {
        for request in [
            GradRequest::Mean,
            GradRequest::MeanAndSquares,
            GradRequest::PerExample,
            GradRequest::Norms,
            GradRequest::Clipped(Clipping::flat(1.0)),
            GradRequest::Clipped(Clipping::per_tensor(1.0)),
        ] {
            let mut tape = Tape::new();
            let counts = allocations_per_step(6, || {
                let mut g = tape.record(&store);
                let v = p.map(|id| g.param(id));
                let (x, pos) = (g.input(&tokens), g.input(&positions));
                let (x, pos) = (g.embedding(x, v[0]), g.embedding(pos, v[1]));
                let h = g.add(x, pos);
                let a = g.layer_norm(h, v[2], v[3], 1e-5);
                let qkv = g.linear(a, v[4], Some(v[5]), None);
                let a = g.causal_attention(qkv, 4);
                let a = g.linear(a, v[6], None, None);
                let h = g.add(h, a);
                let m = g.layer_norm(h, v[7], v[8], 1e-5);
                let m = g.linear(m, v[9], None, Some(Activation::Gelu));
                let m = g.linear(m, v[10], None, None);
                let h = g.add(h, m);
                let logits = g.linear(h, v[11], None, None);
                let loss = g.softmax_cross_entropy(logits, &targets);
                g.backward(loss, request).unwrap();
            });
            assert_eq!(
                &counts[1..],
                &[0; 5],
                "{request:?}: allocations per step {counts:?}"
            );
        }
    });
}
