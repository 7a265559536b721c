//! A `Gpt` is nanoGPT's module tree: every parameter has the name and shape
//! of PyTorch's `state_dict` for the same model, and with the same weights
//! (`tests/reference/torch_gpt.py`, run by hand, loads them with
//! `strict=True`) the logits agree.

use gradlab_autodiff::Tape;
use gradlab_layers::{Gpt, GptConfig, Mode, Module};
use gradlab_tensor::Tensor;

#[path = "reference/torch_gpt.rs"]
mod torch;

/// Element k of parameter `name`, as the script sets it.
fn value(name: &str, k: usize) -> f32 {
    let s = f64::from(name.bytes().map(u32::from).sum::<u32>() % 97) / 10.0;
    let v = 0.3 * (0.37 * k as f64 + s).sin();
    let norm_weight = name.contains(".ln_") && name.ends_with("weight");
    (if norm_weight { 1.0 + v } else { v }) as f32
}

#[test]
fn a_gpt_with_pytorchs_weights_gives_pytorchs_logits() {
    let config = GptConfig {
        vocab: 11,
        context: 8,
        layers: 2,
        heads: 2,
        width: 8,
    };
    let mut gpt = Gpt::new(config, 0).unwrap();
    assert_eq!(
        gpt.params.len(),
        torch::NAMES.len(),
        "the number of parameters"
    );
    for name in torch::NAMES {
        let id = gpt
            .params
            .find(name)
            .unwrap_or_else(|| panic!("PyTorch's {name} is not a parameter of the Gpt"));
        let t = gpt.params.get_mut(id);
        for (k, v) in t.data_mut().iter_mut().enumerate() {
            *v = value(name, k);
        }
    }
    let ids = Tensor::from_vec(
        (0..10).map(|k| ((3 * k + k * k) % 11) as f32).collect(),
        &[2, 5],
    );
    let mut tape = Tape::new();
    let mut g = tape.record(&gpt.params);
    let x = g.input(&ids);
    let logits = gpt.forward(&mut g, x, Mode::Eval);
    let got = g.value(logits).data();
    assert_eq!(got.len(), torch::LOGITS.len());
    let scale = torch::LOGITS.iter().fold(1e-3f32, |m, v| m.max(v.abs()));
    for (k, (a, b)) in got.iter().zip(&torch::LOGITS).enumerate() {
        assert!(
            (a - b).abs() <= 2e-5 * scale,
            "logit {k}: {a} against PyTorch's {b}"
        );
    }
}
