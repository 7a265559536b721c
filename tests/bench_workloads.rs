//! Each bench measures the model its documentation names, and each peer
//! script runs that model too: the workload is pinned in `benches/workload.rs`,
//! and these tests fail when a bench or a peer drifts from it.

#[path = "../benches/workload.rs"]
mod workload;

use std::fs;
use std::path::{Path, PathBuf};

use gradlab::train::Trainer;
use workload::{model_name, param_shapes, train_config, MLP_SIZES};

fn benches() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("benches")
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The `MLP a-b-c-…` names in `text`.
fn mlp_names(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    let words: Vec<&str> = text.split_whitespace().collect();
    for pair in words.windows(2) {
        let widths = pair[1].trim_end_matches([',', '.', ':', ')', ';']);
        let is_widths = widths.split('-').count() > 1
            && widths
                .split('-')
                .all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_digit()));
        if pair[0].ends_with("MLP") && is_widths {
            names.push(format!("MLP {widths}"));
        }
    }
    names
}

/// The widths of each chain of `nn.Linear(a, b)` layers in `text` (a new
/// chain where a layer does not take the previous one's outputs: another
/// model of the same script), or its `sizes = [a, b, …]` list.
fn python_widths(text: &str) -> Vec<Vec<usize>> {
    if let Some(start) = text.find("sizes = [") {
        let list = &text[start + 9..];
        let list = &list[..list.find(']').unwrap()];
        return vec![list.split(',').map(|w| w.trim().parse().unwrap()).collect()];
    }
    let mut chains: Vec<Vec<usize>> = Vec::new();
    for part in text.split("nn.Linear(").skip(1) {
        let args = &part[..part.find(')').unwrap()];
        let nums: Vec<usize> = args.split(',').map(|a| a.trim().parse().unwrap()).collect();
        match chains.last_mut() {
            Some(chain) if chain.last() == Some(&nums[0]) => chain.push(nums[1]),
            _ => chains.push(nums),
        }
    }
    chains
}

#[test]
fn every_bench_names_the_pinned_model_and_takes_no_default() {
    let name = model_name();
    assert_eq!(name, "MLP 784-512-512-10");
    for bench in ["train_throughput", "train_step", "optim_step", "matmul"] {
        let text = read(&benches().join(format!("{bench}.rs")));
        let doc: String = text
            .lines()
            .filter_map(|l| l.strip_prefix("//!"))
            .collect::<Vec<_>>()
            .join("\n");
        let names = mlp_names(&doc);
        assert!(!names.is_empty(), "{bench}: its doc names no model");
        for n in names {
            assert_eq!(n, name, "{bench}: its doc names another model");
        }
        assert!(
            !text.contains("TrainConfig::default") && !text.contains("..TrainConfig"),
            "{bench}: a bench spells out its configuration instead of taking a default"
        );
    }
}

#[test]
fn the_cnn_bench_names_its_networks_and_takes_no_default() {
    let text = read(&benches().join("cnn_throughput.rs"));
    for name in [
        "cnn 1x28x28-10",
        "private-cnn 1x28x28-10",
        "dormann-cnn 1x28x28-10",
        "scatter-cnn 81x7x7-10",
    ] {
        assert!(
            text.contains(name),
            "cnn_throughput's doc does not name {name}"
        );
    }
    assert!(
        !text.contains("TrainConfig::default") && !text.contains("..TrainConfig"),
        "cnn_throughput spells out its configuration instead of taking a default"
    );
}

#[test]
fn the_training_benches_build_the_documented_model() {
    let mnist =
        gradlab::data::load(Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/mnist")).unwrap();
    let limited = |d: &gradlab::data::Dataset| d.clone().limit(512);
    let trainer = Trainer::new(
        train_config("sgd(lr=0.1)", 128, None),
        limited(&mnist.train),
        limited(&mnist.test),
    )
    .unwrap();
    assert_eq!(trainer.model.name, "mlp 784-512-512-10");
    assert_eq!(trainer.optimizer.to_string(), "sgd(lr=0.1)");
    let shapes: Vec<Vec<usize>> = trainer
        .model
        .params
        .ids()
        .map(|id| trainer.model.params.get(id).shape().to_vec())
        .collect();
    assert_eq!(shapes, param_shapes());
    assert_eq!(
        param_shapes()
            .iter()
            .map(|s| s.iter().product::<usize>())
            .sum::<usize>(),
        669_706,
        "optim_step's documented parameter count"
    );
}

#[test]
fn the_peers_run_the_same_model() {
    for peer in ["jax_mlp.py", "torch_mlp.py", "opacus_dp_mnist.py"] {
        let text = read(&benches().join("peers").join(peer));
        let chains = python_widths(&text);
        assert!(
            chains.iter().any(|c| *c == MLP_SIZES),
            "{peer}: no MLP {MLP_SIZES:?} among {chains:?}"
        );
        for n in mlp_names(&text) {
            assert_eq!(n, model_name(), "{peer}: its doc names another model");
        }
    }
}

/// The `(m, k, n)` of each `case(…)` / CASES row of `text` whose label
/// names an MLP product (not a square).
fn products(text: &str, marker: &str) -> Vec<(usize, usize, usize)> {
    text.lines()
        .filter_map(|l| {
            let rest = l.trim().strip_prefix(marker)?;
            let fields: Vec<&str> = rest.split(',').map(str::trim).collect();
            if fields[0].contains("square") {
                return None;
            }
            let num = |i: usize| fields[i].parse().unwrap();
            Some((num(1), num(2), num(3)))
        })
        .collect()
}

#[test]
fn the_matmul_bench_and_its_peer_multiply_the_models_products() {
    // Training at batch 128: x·W, xᵀ·δ, δ·Wᵀ for the first layer, then the
    // same for the second (the last layer's products are too small to
    // matter).
    let (b, s) = (128, MLP_SIZES);
    let mut want = Vec::new();
    for l in 0..2 {
        want.extend([
            (b, s[l], s[l + 1]),
            (s[l], b, s[l + 1]),
            (b, s[l + 1], s[l]),
        ]);
    }
    let bench = read(&benches().join("matmul.rs"));
    assert_eq!(products(&bench, "case("), want, "matmul.rs");
    let peer = read(&benches().join("peers/numpy_sgemm.py"));
    assert_eq!(products(&peer, "(\""), want, "numpy_sgemm.py");
}

/// The GPT bench names its model, builds that model, and its peer builds
/// the same size.
#[test]
fn the_gpt_bench_and_its_peer_build_the_documented_model() {
    let text = read(&benches().join("gpt_throughput.rs"));
    assert!(
        text.contains("`gpt vocab V context 128 layers 4 heads 4 width 128`"),
        "gpt_throughput's doc does not name its model"
    );
    let squeezed: String = text.split_whitespace().collect();
    assert!(
        squeezed.contains("GptConfig{vocab,context:128,layers:4,heads:4,width:128,}"),
        "gpt_throughput does not build the model its doc names"
    );
    let peer = read(&benches().join("peers/gpt_peers.py"));
    assert!(
        peer.contains("CONTEXT, LAYERS, HEADS, WIDTH = 128, 4, 4, 128"),
        "gpt_peers.py builds another model"
    );
}
