//! The GPT's layers: nanoGPT's names and shapes, its initialization, the
//! shape of its logits, every parameter's per-example statistics through
//! weight sharing against single backwards, and its settings' errors.

use gradlab_autodiff::{Clipping, GradRequest, Tape};
use gradlab_layers::{sample, Gpt, GptConfig, LayerError, Mode, Model, Module};
use gradlab_tensor::Tensor;

const SMALL: GptConfig = GptConfig {
    vocab: 13,
    context: 6,
    layers: 2,
    heads: 2,
    width: 8,
};

#[test]
fn parameters_have_nanogpts_names_and_shapes() {
    let gpt = Gpt::new(SMALL, 0).unwrap();
    let mut want = vec![
        ("transformer.wte.weight".to_string(), vec![13, 8]),
        ("transformer.wpe.weight".to_string(), vec![6, 8]),
    ];
    for i in 0..2 {
        for (name, shape) in [
            ("ln_1.weight", vec![8]),
            ("ln_1.bias", vec![8]),
            ("attn.c_attn.weight", vec![24, 8]),
            ("attn.c_attn.bias", vec![24]),
            ("attn.c_proj.weight", vec![8, 8]),
            ("attn.c_proj.bias", vec![8]),
            ("ln_2.weight", vec![8]),
            ("ln_2.bias", vec![8]),
            ("mlp.c_fc.weight", vec![32, 8]),
            ("mlp.c_fc.bias", vec![32]),
            ("mlp.c_proj.weight", vec![8, 32]),
            ("mlp.c_proj.bias", vec![8]),
        ] {
            want.push((format!("transformer.h.{i}.{name}"), shape));
        }
    }
    want.push(("transformer.ln_f.weight".into(), vec![8]));
    want.push(("transformer.ln_f.bias".into(), vec![8]));
    want.push(("lm_head.weight".into(), vec![13, 8]));
    let got: Vec<(String, Vec<usize>)> = gpt
        .params()
        .into_iter()
        .map(|id| {
            (
                gpt.params.name(id).to_string(),
                gpt.params.get(id).shape().to_vec(),
            )
        })
        .collect();
    assert_eq!(got, want);
    assert_eq!(gpt.params.len(), want.len());
}

#[test]
fn weights_start_as_nanogpt_draws_them() {
    let config = GptConfig {
        vocab: 64,
        context: 32,
        layers: 4,
        heads: 4,
        width: 64,
    };
    let gpt = Gpt::new(config, 1).unwrap();
    let std = |name: &str| {
        let t = gpt.params.get(gpt.params.find(name).unwrap());
        let n = t.len() as f64;
        let mean = t.data().iter().map(|&v| f64::from(v)).sum::<f64>() / n;
        (t.data()
            .iter()
            .map(|&v| (f64::from(v) - mean).powi(2))
            .sum::<f64>()
            / n)
            .sqrt()
    };
    for name in [
        "transformer.wte.weight",
        "transformer.h.0.attn.c_attn.weight",
        "lm_head.weight",
    ] {
        assert!(
            (std(name) - 0.02).abs() < 0.002,
            "{name}: std {}",
            std(name)
        );
    }
    let residual = 0.02 / 8f64.sqrt();
    for name in [
        "transformer.h.3.attn.c_proj.weight",
        "transformer.h.1.mlp.c_proj.weight",
    ] {
        assert!(
            (std(name) - residual).abs() < 0.1 * residual,
            "{name}: std {}",
            std(name)
        );
    }
    let p = &gpt.params;
    assert!(p
        .get(p.find("transformer.h.2.mlp.c_fc.bias").unwrap())
        .data()
        .iter()
        .all(|&v| v == 0.0));
    assert!(p
        .get(p.find("transformer.ln_f.weight").unwrap())
        .data()
        .iter()
        .all(|&v| v == 1.0));
}

fn tokens(b: usize, t: usize) -> (Tensor, Vec<usize>) {
    let ids: Vec<f32> = (0..b * t).map(|i| ((i * 5 + i / 3) % 13) as f32).collect();
    let targets = (0..b * t).map(|i| (i * 7 + 1) % 13).collect();
    (Tensor::from_vec(ids, &[b, t]), targets)
}

#[test]
fn logits_are_batch_by_position_by_token() {
    let gpt = Gpt::new(SMALL, 2).unwrap();
    let (x, _) = tokens(3, 5);
    let mut tape = Tape::new();
    let mut g = tape.record(&gpt.params);
    let xv = g.input(&x);
    let logits = gpt.forward(&mut g, xv, Mode::Eval);
    assert_eq!(g.value(logits).shape(), &[3, 5, 13]);
}

/// Every parameter of the module — the embeddings, the linear layers over
/// positions, the layer norms, the head — gets each example's gradient
/// norm, equal to a batch-size-1 backward's, and the clipped mean.
#[test]
fn every_parameter_has_per_example_norms_equal_to_single_backwards() {
    let gpt = Gpt::new(SMALL, 3).unwrap();
    let (b, t) = (4, 6);
    let (x, targets) = tokens(b, t);
    let mut tape = Tape::new();
    let ids = gpt.params();
    let singles: Vec<Vec<Vec<f32>>> = (0..b)
        .map(|i| {
            let xi = Tensor::from_vec(x.data()[i * t..][..t].to_vec(), &[1, t]);
            let mut g = tape.record(&gpt.params);
            let xv = g.input(&xi);
            let logits = gpt.forward(&mut g, xv, Mode::Eval);
            let loss = g.softmax_cross_entropy(logits, &targets[i * t..][..t]);
            g.backward(loss, GradRequest::Mean).unwrap();
            ids.iter()
                .map(|&id| tape.grad(id).unwrap().data().to_vec())
                .collect()
        })
        .collect();
    let mut g = tape.record(&gpt.params);
    let xv = g.input(&x);
    let logits = gpt.forward(&mut g, xv, Mode::Eval);
    let loss = g.softmax_cross_entropy(logits, &targets);
    g.backward(loss, GradRequest::Clipped(Clipping::flat(f32::INFINITY)))
        .unwrap();
    for (k, &id) in ids.iter().enumerate() {
        let got = tape.example_norms(id).unwrap().data();
        for (e, s) in singles.iter().enumerate() {
            let want = s[k]
                .iter()
                .map(|&v| f64::from(v).powi(2))
                .sum::<f64>()
                .sqrt();
            let err = (f64::from(got[e]) - want).abs() / want.max(1e-12);
            assert!(
                err < 1e-4,
                "{} example {e}: {} vs {want}",
                gpt.params.name(id),
                got[e]
            );
        }
        // Nothing clipped: the clipped mean is the mean.
        let mean: Vec<f32> = (0..s_len(&singles, k))
            .map(|j| singles.iter().map(|s| s[k][j]).sum::<f32>() / b as f32)
            .collect();
        let grad = tape.grad(id).unwrap().data();
        let err = grad
            .iter()
            .zip(&mean)
            .map(|(a, m)| (a - m).abs())
            .fold(0.0f32, f32::max);
        assert!(
            err < 1e-5,
            "{}: clipped mean off by {err}",
            gpt.params.name(id)
        );
    }
}

fn s_len(singles: &[Vec<Vec<f32>>], k: usize) -> usize {
    singles[0][k].len()
}

#[test]
fn settings_that_describe_no_gpt_are_errors() {
    let heads = GptConfig { heads: 3, ..SMALL };
    assert_eq!(
        Gpt::new(heads, 0).err().unwrap().to_string(),
        "CausalSelfAttention \"transformer.h.0.attn\": 8 features do not split into 3 heads"
    );
    let empty = GptConfig { vocab: 0, ..SMALL };
    assert!(matches!(
        Gpt::new(empty, 0),
        Err(LayerError::Setting { layer: "Gpt", .. })
    ));
    let width = GptConfig { width: 0, ..SMALL };
    assert!(Gpt::new(width, 0).is_err());
}

#[test]
#[should_panic(expected = "gpt: token ids [1, 7] must be [B, T] with T ≤ 6 (the context)")]
fn a_sequence_longer_than_the_context_is_refused() {
    let gpt = Gpt::new(SMALL, 0).unwrap();
    let mut tape = Tape::new();
    let mut g = tape.record(&gpt.params);
    let xv = g.input(&Tensor::zeros(&[1, 7]));
    gpt.forward(&mut g, xv, Mode::Eval);
}

#[test]
fn a_gpts_name_gives_back_its_size_and_names_its_model() {
    let gpt = Gpt::new(SMALL, 0).unwrap();
    assert_eq!(GptConfig::from_name(&gpt.name()), Some(SMALL));
    for other in [
        "gpt vocab 13",
        "gpt vocab x context 6 layers 2 heads 2 width 8",
        "",
    ] {
        assert_eq!(GptConfig::from_name(other), None, "{other:?}");
    }
    let scalars = gpt.params.num_scalars();
    let model = Model::from(gpt);
    assert_eq!(
        model.name,
        "gpt vocab 13 context 6 layers 2 heads 2 width 8"
    );
    assert_eq!(model.params.num_scalars(), scalars);
    assert_eq!(model.params().len(), model.params.len());
}

/// The last position's logits of `gpt` after `tokens` (its last `context`).
fn last_logits(gpt: &Gpt, tokens: &[u32]) -> Vec<f32> {
    let window = &tokens[tokens.len().saturating_sub(SMALL.context)..];
    let ids: Vec<f32> = window.iter().map(|&t| t as f32).collect();
    let mut tape = Tape::new();
    let mut g = tape.record(&gpt.params);
    let x = g.input(&Tensor::from_vec(ids, &[1, window.len()]));
    let y = gpt.forward(&mut g, x, Mode::Eval);
    g.value(y).data()[(window.len() - 1) * SMALL.vocab..].to_vec()
}

#[test]
fn sampling_is_seeded_and_at_a_low_temperature_takes_the_likeliest_token() {
    // Weights larger than nanoGPT's draw, so that the logits differ.
    let mut gpt = Gpt::new(SMALL, 3).unwrap();
    let ids: Vec<_> = gpt.params().into_iter().collect();
    let mut r = gradlab_tensor::rng(9);
    for id in ids {
        let shape = gpt.params.get(id).shape().to_vec();
        *gpt.params.get_mut(id) = Tensor::normal(&shape, 0.0, 0.5, &mut r);
    }
    let prompt = [3, 1];
    // More tokens than the context: the window slides.
    let a = sample(&gpt, &gpt.params, SMALL.context, &prompt, 12, 1.0, 5);
    assert_eq!(a.len(), 12);
    assert!(a.iter().all(|&t| (t as usize) < SMALL.vocab));
    assert_eq!(
        a,
        sample(&gpt, &gpt.params, SMALL.context, &prompt, 12, 1.0, 5)
    );
    assert_ne!(
        a,
        sample(&gpt, &gpt.params, SMALL.context, &prompt, 12, 1.0, 6)
    );
    // τ → 0: softmax(z/τ) puts all its mass on the largest logit.
    let greedy = sample(&gpt, &gpt.params, SMALL.context, &prompt, 12, 1e-6, 5);
    let mut tokens = prompt.to_vec();
    for &t in &greedy {
        let z = last_logits(&gpt, &tokens);
        let best = (0..z.len()).max_by(|&i, &j| z[i].total_cmp(&z[j])).unwrap();
        assert_eq!(t as usize, best);
        tokens.push(t);
    }
}

#[test]
fn sampling_draws_tokens_as_often_as_the_softmax_says() {
    // One draw per seed from the same prompt: the frequencies of 4 000
    // draws against softmax(z/τ), within 4 standard errors.
    let mut gpt = Gpt::new(SMALL, 3).unwrap();
    let head = gpt.lm_head.weight;
    let shape = gpt.params.get(head).shape().to_vec();
    *gpt.params.get_mut(head) = Tensor::normal(&shape, 0.0, 1.0, &mut gradlab_tensor::rng(4));
    let prompt = [2, 7, 7];
    let tau = 0.7f64;
    let z = last_logits(&gpt, &prompt);
    let w: Vec<f64> = z.iter().map(|&v| (f64::from(v) / tau).exp()).collect();
    let total: f64 = w.iter().sum();
    let n = 4000;
    let mut counts = [0usize; SMALL.vocab];
    for seed in 0..n {
        let t = sample(
            &gpt,
            &gpt.params,
            SMALL.context,
            &prompt,
            1,
            tau as f32,
            seed,
        );
        counts[t[0] as usize] += 1;
    }
    for (k, &c) in counts.iter().enumerate() {
        let p = w[k] / total;
        let se = (p * (1.0 - p) / n as f64).sqrt();
        let f = c as f64 / n as f64;
        assert!(
            (f - p).abs() <= 4.0 * se + 1e-3,
            "token {k}: {f} drawn, p = {p}"
        );
    }
}

#[test]
#[should_panic(expected = "sample: the temperature must be positive and finite, got 0")]
fn a_temperature_of_zero_is_refused() {
    let gpt = Gpt::new(SMALL, 0).unwrap();
    sample(&gpt, &gpt.params, SMALL.context, &[0], 1, 0.0, 0);
}
