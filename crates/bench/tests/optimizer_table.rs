//! The optimizer table of docs/optimizers.md: every registered rule is there, every
//! spec in it parses, and each is the benchmark's tuned spec.

use gradlab_optim::{registry, Optimizer};

/// The first column of each row of the table, without its backticks.
fn specs() -> Vec<String> {
    let readme = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/optimizers.md"
    ))
    .unwrap();
    let start = readme
        .find("| spec, at its tuned rate |")
        .expect("docs/optimizers.md has the optimizer table");
    readme[start..]
        .lines()
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|l| {
            l.split('|')
                .nth(1)
                .unwrap()
                .trim()
                .trim_matches('`')
                .to_string()
        })
        .collect()
}

#[test]
fn the_readme_table_lists_every_rule_at_its_tuned_rate() {
    let canonical: Vec<String> = specs()
        .iter()
        .map(|s| {
            Optimizer::from_spec(s)
                .unwrap_or_else(|e| panic!("docs/optimizers.md spec {s}: {e}"))
                .to_string()
        })
        .collect();
    let series = registry::series();
    for t in &series {
        assert!(
            canonical.contains(&t.spec()),
            "{} is not in docs/optimizers.md at {}",
            t.label,
            t.spec()
        );
    }
    assert_eq!(canonical.len(), series.len(), "one row per tuned optimizer");
    for name in registry::names() {
        assert!(
            specs().iter().any(|s| s.starts_with(&format!("{name}("))),
            "{name} is not in the table of docs/optimizers.md"
        );
    }
}
