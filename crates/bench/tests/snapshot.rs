//! The report of a fixed tiny sweep — every experiment, `sgd` and `adam`,
//! two seeds, 300 examples — against the committed
//! `tests/snapshots/tiny_report.md`, with what varies from run to run
//! masked: the timings and where the dataset lives. Every table and every
//! generated reading is compared, word for word.
//!
//! After a deliberate change to a reading, regenerate the file with
//! `GRADLAB_UPDATE_SNAPSHOTS=1 cargo test -p gradlab-bench --test snapshot`
//! and review its diff.

use std::fs;
use std::path::Path;

use clap::Parser;
use gradlab_bench::cli::{Cli, Outcome};

const FLAGS: [&str; 23] = [
    "optim_bench",
    "--experiment",
    "all",
    "--quick",
    "--only",
    "sgd,adam",
    "--seeds",
    "2",
    "--hidden",
    "16",
    "--limit",
    "300",
    "--test-limit",
    "200",
    "--budget",
    "640",
    "--batch-size",
    "32",
    "--batch-sizes",
    "32,64",
    "--checkpoints",
    "2",
    "--out",
];

/// `report` with its timings and the dataset's directory replaced by
/// placeholders: the summary's seconds of training, and the cells of the
/// columns that hold times or speeds.
fn masked(report: &str, data_dir: &str) -> String {
    let timing = ["training time (s)", "examples/s"];
    let mut out = String::new();
    let mut columns: Vec<usize> = Vec::new();
    for line in report.replace(data_dir, "<data>").lines() {
        let line = match line.find(" s of training in all") {
            Some(end) => {
                let start = line[..end].rfind(' ').map_or(0, |i| i + 1);
                format!("{}<seconds>{}", &line[..start], &line[end..])
            }
            None => line.to_string(),
        };
        if line.starts_with('|') {
            let cells: Vec<&str> = line.split('|').collect();
            // A column of times: named in `timing`, or marked "(s)".
            let timed = |c: &str| timing.contains(&c.trim()) || c.trim().ends_with("(s)");
            if cells.iter().any(|c| timed(c)) {
                columns = (0..cells.len()).filter(|&i| timed(cells[i])).collect();
                out.push_str(&line);
            } else {
                let cells: Vec<String> = cells
                    .iter()
                    .enumerate()
                    .map(|(i, c)| {
                        if columns.contains(&i) && !c.trim().starts_with("--") {
                            " <time> ".to_string()
                        } else {
                            c.to_string()
                        }
                    })
                    .collect();
                out.push_str(&cells.join("|"));
            }
        } else {
            columns.clear();
            out.push_str(&line);
        }
        out.push('\n');
    }
    out
}

#[test]
fn a_tiny_sweeps_report_matches_the_committed_one() {
    let dir = std::env::temp_dir().join(format!("gradlab-bench-snapshot-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    let args = FLAGS.iter().copied().chain([dir.to_str().unwrap()]);
    let cli = Cli::try_parse_from(args).unwrap();
    let data_dir = cli.options.resolve().unwrap().data_dir;
    let Outcome::Merged(merged) = cli.run(&mut |_| {}).unwrap() else {
        panic!("a sweep merges");
    };
    // 52 runs of the lecture's experiments, 84 of tune: 7 workloads × 2
    // optimizers × 3 studies × 2 trials, 20 of the speedrun: 2 recipes ×
    // 10 seeds.
    assert_eq!(merged.runs, 156);
    let report = fs::read_to_string(dir.join("report.md")).unwrap();
    let got = masked(&report, &data_dir.display().to_string());
    fs::remove_dir_all(&dir).unwrap();

    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots/tiny_report.md");
    if std::env::var_os("GRADLAB_UPDATE_SNAPSHOTS").is_some() {
        fs::write(&path, &got).unwrap();
    }
    let expected = fs::read_to_string(&path).unwrap();
    for (k, (g, e)) in got.lines().zip(expected.lines()).enumerate() {
        assert_eq!(g, e, "line {} of {} differs", k + 1, path.display());
    }
    assert_eq!(
        got.lines().count(),
        expected.lines().count(),
        "{}",
        path.display()
    );
}

#[test]
fn masking_hides_timings_only() {
    let report = "x from `/a/b`; 0.0653 s of training in all.\n\
                  | optimizer | final test loss | training time (s) | examples/s |\n\
                  | :-- | --: | --: | --: |\n\
                  | `sgd` | 1.3324 | 0.00141 | 4.56e5 |\n\
                  \n\
                  | a | b |\n\
                  | 1 | 2 |\n";
    assert_eq!(
        masked(report, "/a/b"),
        "x from `<data>`; <seconds> s of training in all.\n\
         | optimizer | final test loss | training time (s) | examples/s |\n\
         | :-- | --: | --: | --: |\n\
         | `sgd` | 1.3324 | <time> | <time> |\n\
         \n\
         | a | b |\n\
         | 1 | 2 |\n"
    );
}
