//! `charlm`'s recipe step by step against PyTorch: a small nanoGPT with
//! PyTorch's weights, trained for one epoch with AdamW (decoupled weight
//! decay on every parameter), a linear warm-up and a cosine decay, on the
//! opening of *Pride and Prejudice*. Each step's loss and the loss after the
//! last step agree with `torch.optim.AdamW` and `LambdaLR`
//! (`tests/reference/torch_charlm.py`, run by hand).

use gradlab_data::CharText;
use gradlab_layers::{Gpt, GptConfig, Model};
use gradlab_train::{TrainConfig, Trainer};

#[path = "reference/torch_charlm.rs"]
mod torch;

/// Element k of parameter `name`, as the script sets it (the formula of
/// `crates/layers/tests/reference/torch_gpt.py`).
fn value(name: &str, k: usize) -> f32 {
    let s = f64::from(name.bytes().map(u32::from).sum::<u32>() % 97) / 10.0;
    let v = 0.3 * (0.37 * k as f64 + s).sin();
    let norm_weight = name.contains(".ln_") && name.ends_with("weight");
    (if norm_weight { 1.0 + v } else { v }) as f32
}

#[test]
fn charlms_recipe_follows_pytorchs_losses_step_by_step() {
    let text = CharText::new(torch::TEXT).unwrap();
    let windows = text.sequences(text.ids(), 16).unwrap();
    assert_eq!(windows.len(), 4 * torch::LOSSES.len());
    let config = GptConfig {
        vocab: text.vocab().len(),
        context: 16,
        layers: 2,
        heads: 2,
        width: 16,
    };
    let mut gpt = Gpt::new(config, 0).unwrap();
    let names: Vec<String> = gpt.params.iter().map(|(_, n, _)| n.to_string()).collect();
    for name in &names {
        let id = gpt.params.find(name).unwrap();
        for (k, v) in gpt.params.get_mut(id).data_mut().iter_mut().enumerate() {
            *v = value(name, k);
        }
    }
    let config = TrainConfig {
        optimizer: "adamw(lr=1e-2,b2=0.99,weight_decay=0.1,schedule=cosine,warmup=4)"
            .parse()
            .unwrap(),
        batch_size: 4,
        epochs: 1,
        ..TrainConfig::default()
    };
    let mut trainer =
        Trainer::with_model(config, Model::from(gpt), windows.clone(), windows.clone()).unwrap();
    assert_eq!(trainer.schedule_steps(), torch::LOSSES.len() as u64);
    for (s, &want) in torch::LOSSES.iter().enumerate() {
        let batch: Vec<usize> = (4 * s..4 * s + 4).collect();
        let got = trainer.step(&batch).unwrap();
        assert!(
            (got - want).abs() <= 1e-4,
            "step {}: loss {got}, PyTorch's {want}",
            s + 1
        );
    }
    let last = trainer.evaluate(&windows).unwrap().loss;
    assert!(
        (last - f64::from(torch::FINAL)).abs() <= 1e-4,
        "after the last step: loss {last}, PyTorch's {}",
        torch::FINAL
    );
}
