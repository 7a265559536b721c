//! # gradlab-speed
//!
//! gradlab's speed benches, kept apart from the library so that depending
//! on `gradlab` pulls in no benchmark harness. Run them from the workspace:
//!
//! ```text
//! cargo bench -p gradlab-speed --bench train_throughput  # training examples/s
//! cargo bench -p gradlab-speed --bench matmul            # GFLOP/s of the MLP's products
//! cargo bench -p gradlab-speed --bench train_step        # forward + backward per request
//! cargo bench -p gradlab-speed --bench optim_step        # one optimizer step vs a memcpy
//! ```
