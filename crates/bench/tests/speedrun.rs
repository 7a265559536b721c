//! The speedrun's choice on hand-made curves: the best recipe is the one
//! whose every seed reaches the target, with the smallest median time; the
//! recipe for a default is the shortest whose every seed *ends* at or above
//! it.

use gradlab_bench::experiments::speedrun::{self, Recipe, Speedrun};
use gradlab_bench::run::{Checkpoint, Metrics, RunRecord};
use gradlab_bench::{Experiment, Options, Settings};

fn settings() -> Settings {
    Options {
        experiment: vec!["speedrun".into()],
        ..Options::default()
    }
    .resolve()
    .unwrap()
}

/// A run of `recipe` on `seed` with checkpoints `(accuracy, seconds)`.
fn run(recipe: &Recipe, seed: u64, curve: &[(f64, f64)]) -> RunRecord {
    let mut spec = Speedrun
        .plan(&settings())
        .into_iter()
        .find(|s| s.series == recipe.label())
        .expect("the recipe is planned");
    spec.seed = seed;
    let checkpoints = curve
        .iter()
        .enumerate()
        .map(|(k, &(accuracy, seconds))| Checkpoint {
            examples: 1000 * (k as u64 + 1),
            steps: 10 * (k as u64 + 1),
            metrics: Some(Metrics {
                train_loss: 0.1,
                test_loss: 0.1,
                test_accuracy: Some(accuracy),
                test_rmse: None,
                lr: 0.001,
                noise: None,
                train_seconds: seconds,
                epsilon: None,
            }),
        })
        .collect();
    RunRecord {
        job: 0,
        spec,
        checkpoints,
        curve: Vec::new(),
        diverged_at: None,
    }
}

#[test]
fn the_fastest_recipe_on_every_seed_and_the_shortest_that_ends_above_the_target() {
    let recipes = speedrun::recipes(&settings());
    assert_eq!(speedrun::target(&settings()), 0.98);
    let (steady, quick, fragile) = (&recipes[0], &recipes[1], &recipes[2]);
    let mut records = Vec::new();
    for seed in 0..speedrun::SEEDS {
        let s = seed as f64 * 0.1;
        // Reaches 98 % at its second checkpoint (2.0 + s seconds) and ends
        // above it: the default.
        records.push(run(
            steady,
            seed,
            &[(0.97, 1.0 + s), (0.981, 2.0 + s), (0.982, 3.0)],
        ));
        // Faster on nine seeds, but seed 9 never reaches 98 %: not the best.
        let last = if seed == 9 { 0.979 } else { 0.985 };
        records.push(run(quick, seed, &[(last, 0.5), (last, 1.0)]));
        // Reaches 98 % first on every seed (median 1.5 s), but seed 3 ends
        // below it: the best, not the default.
        let end = if seed == 3 { 0.978 } else { 0.983 };
        records.push(run(fragile, seed, &[(0.98, 1.5), (end, 4.0)]));
    }
    let refs: Vec<&RunRecord> = records.iter().collect();
    let text = Speedrun.section(&settings(), &refs).markdown;
    let row = |r: &Recipe| {
        text.lines()
            .find(|l| l.starts_with(&format!("| {} |", r.label())))
            .unwrap_or_else(|| panic!("no row for {}:\n{text}", r.label()))
            .to_string()
    };
    // Seconds to 98 %: 2.0 … 2.9 over the seeds, median 2.45.
    assert!(
        row(steady).contains("| 10/10 | 2.00 | 2.45 | 2.90 | 3.00 |"),
        "{}",
        row(steady)
    );
    assert!(
        row(quick).contains("| 9/10 | — | — | — |"),
        "{}",
        row(quick)
    );
    assert!(
        row(fragile).contains("| 10/10 | 1.50 | 1.50 | 1.50 | 4.00 |"),
        "{}",
        row(fragile)
    );
    assert!(row(fragile).ends_with("| 97.80 % |"), "{}", row(fragile));
    let reading = text
        .lines()
        .find(|l| l.starts_with("**Reading.**"))
        .unwrap();
    assert!(
        reading.contains(&format!(
            "fastest recipe to 98.00 % on every seed is **{}**",
            fragile.label()
        )),
        "{reading}"
    );
    assert!(
        reading.contains(&format!(
            "*ends* at or above 98.00 % is {} (3.00 s",
            steady.label()
        )),
        "{reading}"
    );
    // The peers' commands are written for the best recipe.
    assert!(
        text.contains(&format!(
            "speedrun_jax.py --optimizer {} --lr {} --warmup {} --batch-size {} --epochs {} --width {}",
            fragile.rule, fragile.lr, fragile.warmup, fragile.batch_size, fragile.epochs, fragile.width
        )),
        "{text}"
    );
    assert_eq!(refs[0].spec.experiment, "speedrun");
}

#[test]
fn every_recipe_runs_whole_epochs_of_full_batches_on_ten_seeds() {
    let settings = settings();
    let plan = Speedrun.plan(&settings);
    let recipes = speedrun::recipes(&settings);
    assert_eq!(plan.len(), recipes.len() * speedrun::SEEDS as usize);
    for r in &recipes {
        let runs: Vec<_> = plan.iter().filter(|s| s.series == r.label()).collect();
        let seeds: Vec<u64> = runs.iter().map(|s| s.seed).collect();
        assert_eq!(seeds, (0..10).collect::<Vec<_>>());
        for s in runs {
            assert_eq!(s.budget, r.epochs * (60_000 / r.batch_size) * r.batch_size);
            assert_eq!(s.checkpoints, r.epochs * speedrun::EVALUATIONS_PER_EPOCH);
            assert_eq!(s.hidden, vec![r.width, r.width]);
            assert_eq!(s.optimizer, r.optimizer());
        }
    }
}
