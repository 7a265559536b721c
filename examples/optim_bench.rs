//! The optimizer benchmark: one experiment per claim of the RMSProp/Adam
//! lecture, each a table, a plot and a reading in `report.md`.
//!
//! ```text
//! cargo run --release --example optim_bench -- --experiment all --quick
//! cargo run --release --example optim_bench -- --experiment batch-size --out results/optim_bench/bs
//! cargo run --release --example optim_bench -- --experiment batch-size --list-jobs --threads 1 \
//!     --out results/optim_bench/bs | parallel -j2
//! cargo run --release --example optim_bench -- merge results/optim_bench/bs
//! ```
//!
//! `--help` lists every flag; the library crate `gradlab-bench` holds the
//! experiments.

use std::process::ExitCode;

use gradlab::bench::jobs::OPTIM_BENCH;

fn main() -> ExitCode {
    gradlab::cli::end_quietly_on_closed_pipe();
    gradlab::cli::bench(OPTIM_BENCH, std::env::args().skip(1))
}
