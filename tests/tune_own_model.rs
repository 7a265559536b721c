//! The residual MLP of `examples/tune_own_model.rs`, defined outside the
//! crates, through the benchmark's `tune`: its model is the one the
//! workload makes, its trials train it, and the listed commands run the
//! example.

#[allow(dead_code)] // the example's `main` is not called here
#[path = "../examples/tune_own_model.rs"]
mod example;

use std::collections::BTreeMap;

use clap::Parser;
use gradlab::autodiff::Tape;
use gradlab::bench::cli::{Cli, Outcome};
use gradlab::bench::workloads::{register, workload};
use gradlab::layers::Mode;
use gradlab::tensor::Tensor;

/// The rows of a CSV file by column name.
fn rows(csv: &str) -> Vec<BTreeMap<String, String>> {
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    lines
        .map(|l| {
            header
                .iter()
                .map(|h| h.to_string())
                .zip(csv_cells(l))
                .collect()
        })
        .collect()
}

/// The fields of one CSV line, quotes removed.
fn csv_cells(line: &str) -> Vec<String> {
    let (mut cells, mut cell, mut quoted) = (Vec::new(), String::new(), false);
    for c in line.chars() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => cells.push(std::mem::take(&mut cell)),
            c => cell.push(c),
        }
    }
    cells.push(cell);
    cells
}

#[test]
fn the_workload_makes_the_residual_model() {
    let model = example::residual_mlp(64, 10, 16, 2, 3).unwrap();
    let names: Vec<&str> = model.params.iter().map(|(_, n, _)| n).collect();
    // Weights and biases of the stem, two layers per block, the head.
    assert_eq!(names.len(), 2 * (1 + 2 * 2 + 1), "{names:?}");
    assert!(names[0].starts_with("stem"), "{names:?}");
    assert!(
        names.iter().any(|n| n.starts_with("block1.outer")),
        "{names:?}"
    );
    let x = Tensor::from_vec(
        (0..128).map(|i| (i as f32 * 0.37).sin()).collect(),
        &[2, 64],
    );
    let forward = |m: &gradlab::layers::Model| {
        let mut tape = Tape::new();
        let mut g = tape.record(&m.params);
        let v = g.input(&x);
        let y = m.net.forward(&mut g, v, Mode::Eval);
        g.value(y).clone()
    };
    // The skip connection: with every block's weights zero, the model is
    // its stem and head alone (a model without blocks, given those).
    let mut zeroed = model;
    let blocks: Vec<_> = zeroed
        .params
        .iter()
        .filter(|(_, n, _)| n.starts_with("block"))
        .map(|(id, _, _)| id)
        .collect();
    for id in blocks {
        zeroed.params.get_mut(id).data_mut().fill(0.0);
    }
    let mut bare = example::residual_mlp(64, 10, 16, 0, 3).unwrap();
    let ids: Vec<_> = bare.params.ids().collect();
    for id in ids {
        let name = bare.params.name(id).to_string();
        let value = zeroed
            .params
            .get(zeroed.params.find(&name).unwrap())
            .clone();
        *bare.params.get_mut(id) = value;
    }
    let y = forward(&zeroed);
    assert_eq!(y.shape(), [2, 10]);
    assert_eq!(forward(&bare).data(), y.data());
    assert!(y.data().iter().any(|&v| v != 0.0));
}

#[test]
fn tune_trains_the_users_model_and_lists_commands_of_the_example() {
    register(example::workload()).unwrap();
    let w = workload("residual-digits").unwrap();
    assert_eq!(w.batch_size, 32);
    let out = std::env::temp_dir().join(format!("gradlab-own-model-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let flags = |extra: &[&str]| {
        let mut f = vec![
            "tune_own_model",
            "--experiment",
            "tune",
            "--quick",
            "--workloads",
            "residual-digits",
            "--only",
            "adam",
            "--trials",
            "2",
            "--studies",
            "1",
            "--out",
            out.to_str().unwrap(),
        ];
        f.extend(extra);
        Cli::try_parse_from(f).unwrap()
    };
    let Outcome::Listed { commands, .. } = flags(&["--list-jobs"])
        .run_as(example::BENCH, &mut |_| {})
        .unwrap()
    else {
        panic!("--list-jobs lists")
    };
    assert_eq!(commands.len(), 2);
    for c in &commands {
        assert!(
            c.starts_with("cargo run --release --example tune_own_model -- "),
            "{c}"
        );
    }
    let Outcome::Merged(m) = flags(&[]).run_as(example::BENCH, &mut |_| {}).unwrap() else {
        panic!("a sweep merges")
    };
    // One study of two trials, each evaluated 10 times.
    assert_eq!(m.runs, 2);
    let runs = rows(&std::fs::read_to_string(out.join("runs.csv")).unwrap());
    assert_eq!(runs.len(), 2 * 10);
    assert!(runs.iter().all(|r| r["workload"] == "residual-digits"));
    // The better trial trains the residual MLP well past chance (10 %) on
    // the digits.
    let accuracy = runs
        .iter()
        .filter(|r| r["examples_seen"] == runs[9]["examples_seen"])
        .map(|r| r["test_accuracy"].parse::<f64>().unwrap())
        .fold(0.0, f64::max);
    assert!(accuracy > 0.9, "{accuracy}");
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(
        report.contains("**residual-digits** — the 8×8 digits CSV, standardized, a residual MLP")
    );
    let _ = std::fs::remove_dir_all(&out);
}
