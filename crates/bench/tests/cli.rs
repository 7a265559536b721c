//! The command line's options: they render back into the same flags, and
//! values with no meaning are errors that say what is wrong.

use clap::Parser;
use gradlab_bench::cli::Cli;

#[test]
fn options_render_back_to_themselves() {
    let cli = Cli::try_parse_from([
        "optim_bench",
        "--experiment",
        "batch-size,variants",
        "--quick",
        "--hidden",
        "32",
        "--only",
        "adam,sgd",
        "--batch-sizes",
        "16,64",
        "--budget",
        "512",
        "--targets",
        "0.9,0.975",
    ])
    .unwrap();
    let mut again = vec!["optim_bench".to_string()];
    again.extend(cli.options.to_args());
    assert_eq!(Cli::try_parse_from(again).unwrap().options, cli.options);
}

#[test]
fn bad_options_are_errors() {
    for (args, message) in [
        (
            &["--targets", "0"][..],
            "--targets: test accuracies in (0, 1], got [0.0]",
        ),
        (
            &["--targets", "0.9,1.5"],
            "--targets: test accuracies in (0, 1], got [0.9, 1.5]",
        ),
        (&["--seeds", "0"], "--seeds must be at least 1"),
        (&["--budget", "0"], "--budget must be at least 1"),
        (&["--batch-sizes", "16,0"], "--batch-sizes must be positive"),
        (&["--hidden", "0"], "--hidden: widths must be positive"),
        (
            &["--workloads", "digits,cifar"],
            "--workloads: no workload 'cifar'; the workloads are mnist-mlp, \
             mnist-deep-tanh, fashion-cnn, mnist-private-cnn, austen-gpt, digits, regression",
        ),
        (&["--trials", "0"], "--trials must be at least 1"),
        (&["--studies", "0"], "--studies must be at least 1"),
    ] {
        let cli = Cli::try_parse_from(["optim_bench"].iter().chain(args)).unwrap();
        let err = cli.options.resolve().unwrap_err().to_string();
        assert!(err.contains(message), "{args:?}: {err}");
    }
}

#[test]
fn an_unknown_experiment_is_an_error_that_lists_them() {
    let out = std::env::temp_dir().join(format!("gradlab-cli-{}", std::process::id()));
    for flags in [
        &["--experiment", "batch-size,adam-sweep"][..],
        &["--experiment", "nope", "--list-jobs"],
    ] {
        let mut args = vec!["optim_bench", "--out", out.to_str().unwrap()];
        args.extend(flags);
        let cli = Cli::try_parse_from(args).unwrap();
        let err = cli.run(&mut |_| {}).unwrap_err().to_string();
        assert!(
            err.starts_with("--experiment: no experiment '")
                && err.ends_with(
                    "the experiments are bias-correction, scale-invariance, eps-to-sgd, \
                     batch-size, variants, lr-sweep, privacy, tune, speedrun, or all"
                ),
            "{flags:?}: {err}"
        );
        // Nothing was written.
        assert!(!out.exists());
    }
    let settings = gradlab_bench::Options {
        experiment: vec!["tune".into(), "tune".into(), "all".into()],
        ..Default::default()
    }
    .resolve()
    .unwrap();
    let names: Vec<&str> = gradlab_bench::experiments::selected(&settings)
        .unwrap()
        .iter()
        .map(|e| e.name())
        .collect();
    assert_eq!(names.len(), 9, "all, each once, in report order: {names:?}");
    assert_eq!(names[0], "bias-correction");
}
