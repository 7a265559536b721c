//! Training tokens per second of a small GPT on Jane Austen's novels, the
//! workload of `peers/gpt_peers.py` (PyTorch eager, JAX jit):
//!
//! * the model: `gpt vocab V context 128 layers 4 heads 4 width 128` — V the
//!   novels' characters, nanoGPT's pre-LN blocks (GELU in its tanh form, an
//!   untied head without bias), 0.8 M parameters;
//! * the data: batches of `--bs` windows of 128 characters from the first
//!   90 % of the text, the targets one character on;
//! * the rows, each a whole step (windows, forward, backward, update) with
//!   `adamw(lr=1e-3,weight_decay=0.1)`:
//!   `adamw` the batch gradient, `adamw_clipped` DP-SGD's clipped mean
//!   (every example's gradient norm through the shared weights, C = 1,
//!   no noise), at every `--bs`.
//!
//! A row is the median over `--reps` runs of `--steps` steps of (tokens
//! after the first `--warmup` steps) / (their seconds), as the peers measure
//! it.
//!
//! ```text
//! cargo bench --bench gpt_throughput
//! cargo bench --bench gpt_throughput -- --rows adamw --bs 16,64
//! ```

use std::path::Path;
use std::time::Instant;

use clap::Parser;
use gradlab::autodiff::{Clipping, GradRequest, Tape};
use gradlab::data::text::windows;
use gradlab::data::CharText;
use gradlab::layers::{Gpt, GptConfig, Mode, Module};
use gradlab::optim::Optimizer;
use gradlab::tensor::Tensor;
use gradlab::train::FromTape;

/// Training throughput of the GPT workload.
#[derive(Parser, Debug)]
struct Args {
    /// Rows to run, comma-separated: adamw, adamw_clipped.
    #[arg(long, default_value = "adamw,adamw_clipped", value_delimiter = ',')]
    rows: Vec<String>,
    /// Batch sizes (windows per step).
    #[arg(long, default_value = "16,64", value_delimiter = ',')]
    bs: Vec<usize>,
    /// Runs per row; the median is reported.
    #[arg(long, default_value_t = 3)]
    reps: usize,
    /// Steps per run.
    #[arg(long, default_value_t = 20)]
    steps: usize,
    /// Steps at the start of each run that are not timed.
    #[arg(long, default_value_t = 3)]
    warmup: usize,
    /// Worker threads.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

/// The model, spelled out.
fn config(vocab: usize) -> GptConfig {
    GptConfig {
        vocab,
        context: 128,
        layers: 4,
        heads: 4,
        width: 128,
    }
}

/// A row's request.
fn row(name: &str) -> Option<GradRequest> {
    Some(match name {
        "adamw" => GradRequest::Mean,
        "adamw_clipped" => GradRequest::Clipped(Clipping::flat(1.0)),
        _ => return None,
    })
}

fn main() {
    let args = Args::parse();
    rayon::ThreadPoolBuilder::new()
        .num_threads(args.threads)
        .build_global()
        .expect("the global thread pool is built once");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/austen");
    let text = CharText::read_dir(&dir).expect("the novels ship in datasets/austen");
    let config = config(text.vocab().len());
    let (train, _) = text.split(0.1, config.context).expect("a long text");
    println!(
        "gradlab GPT ({} characters), {} threads",
        config.vocab, args.threads
    );
    for name in &args.rows {
        let Some(request) = row(name) else {
            eprintln!("unknown row {name:?}; expected adamw or adamw_clipped");
            std::process::exit(2);
        };
        for &bs in &args.bs {
            assert!(
                args.steps > args.warmup,
                "the steps must exceed the warm-up"
            );
            let rates: Vec<f64> = (0..args.reps)
                .map(|_| {
                    let mut gpt = Gpt::new(config, 0).expect("a valid GPT");
                    let mut opt = Optimizer::from_spec("adamw(lr=1e-3,weight_decay=0.1)")
                        .expect("a valid rule");
                    let mut tape = Tape::new();
                    let (mut x, mut y) = (Tensor::default(), vec![]);
                    let mut start = Instant::now();
                    for step in 0..args.steps {
                        if step == args.warmup {
                            start = Instant::now();
                        }
                        windows(train, config.context, bs, 0, step as u64, &mut x, &mut y)
                            .expect("windows fit in the text");
                        let mut g = tape.record(&gpt.params);
                        let xv = g.input(&x);
                        let logits = gpt.forward(&mut g, xv, Mode::Train { seed: 0 });
                        let losses = g.softmax_cross_entropy(logits, &y);
                        g.backward(losses, request)
                            .expect("per-example statistics exist");
                        opt.update(&mut gpt.params, &tape);
                    }
                    let tokens = (args.steps - args.warmup) * bs * config.context;
                    tokens as f64 / start.elapsed().as_secs_f64()
                })
                .collect();
            let mut sorted = rates.clone();
            sorted.sort_by(f64::total_cmp);
            let runs: Vec<String> = rates.iter().map(|r| format!("{r:.0}")).collect();
            println!(
                "{name:14} B={bs:4}  {:9.0} tokens/s  (runs: {})",
                sorted[sorted.len() / 2],
                runs.join(", ")
            );
        }
    }
}
