//! A GPT: token and position embeddings, pre-LN transformer blocks, a final
//! layer norm and a head — Karpathy's nanoGPT, whose parameter names and
//! layouts it keeps (`transformer.wte.weight`, `transformer.h.{i}.attn.
//! c_attn.weight`, …), with an untied head (`lm_head.weight`): a weight
//! read by two ops would have per-example gradients summed from both, which
//! the per-example requests refuse. GELU is its tanh form (GPT-2's,
//! PyTorch's `nn.GELU(approximate="tanh")`).

use gradlab_autodiff::{Activation, Graph, ParamId, ParamStore, Tape, Var};
use gradlab_tensor::{rng, Rng, Tensor};
use rand::Rng as _;

use crate::params::add_params;
use crate::{LayerError, LayerNorm, Linear, Mode, Module};

/// A lookup table of `vocab` rows of `width` values (`nn.Embedding`):
/// token ids `[B, T]` (held as `f32` integers) to `[B, T, width]`.
#[derive(Clone, Debug)]
pub struct Embedding {
    /// The table, `[vocab, width]`.
    pub weight: ParamId,
}

impl Embedding {
    /// Adds a table of `vocab × width` values drawn from N(0, 1), as
    /// PyTorch initializes one.
    pub fn new(
        store: &mut ParamStore,
        name: &str,
        vocab: usize,
        width: usize,
        rng: &mut Rng,
    ) -> Result<Embedding, LayerError> {
        if vocab == 0 || width == 0 {
            return Err(LayerError::Setting {
                layer: "Embedding",
                name: name.into(),
                problem: format!("needs at least one row and one column, got {vocab} × {width}"),
            });
        }
        let table = Tensor::normal(&[vocab, width], 0.0, 1.0, rng);
        let ids = add_params(store, "Embedding", name, vec![("weight", table)])?;
        Ok(Embedding { weight: ids[0] })
    }
}

impl Module for Embedding {
    fn forward(&self, g: &mut Graph, x: Var, _mode: Mode) -> Var {
        let w = g.param(self.weight);
        g.embedding(x, w)
    }

    fn params(&self) -> Vec<ParamId> {
        vec![self.weight]
    }
}

/// Causal multi-head self-attention (nanoGPT's `CausalSelfAttention`):
/// `c_attn` maps each position to its query, key and value, the heads
/// attend over the positions up to their own, `c_proj` mixes the heads.
#[derive(Clone, Debug)]
pub struct CausalSelfAttention {
    /// `d → 3·d`: queries, keys and values side by side.
    pub c_attn: Linear,
    /// `d → d`, after the heads are merged.
    pub c_proj: Linear,
    /// The number of heads.
    pub heads: usize,
}

impl CausalSelfAttention {
    /// `heads` heads over `width` features (`width` a multiple of `heads`),
    /// PyTorch's initialization.
    pub fn new(
        store: &mut ParamStore,
        name: &str,
        width: usize,
        heads: usize,
        rng: &mut Rng,
    ) -> Result<CausalSelfAttention, LayerError> {
        if heads == 0 || width == 0 || !width.is_multiple_of(heads) {
            return Err(LayerError::Setting {
                layer: "CausalSelfAttention",
                name: name.into(),
                problem: format!("{width} features do not split into {heads} heads"),
            });
        }
        Ok(CausalSelfAttention {
            c_attn: Linear::new(
                store,
                &format!("{name}.c_attn"),
                width,
                3 * width,
                true,
                rng,
            )?,
            c_proj: Linear::new(store, &format!("{name}.c_proj"), width, width, true, rng)?,
            heads,
        })
    }
}

impl Module for CausalSelfAttention {
    fn forward(&self, g: &mut Graph, x: Var, mode: Mode) -> Var {
        let qkv = self.c_attn.forward(g, x, mode);
        let heads = g.causal_attention(qkv, self.heads);
        self.c_proj.forward(g, heads, mode)
    }

    fn params(&self) -> Vec<ParamId> {
        let mut p = self.c_attn.params();
        p.extend(self.c_proj.params());
        p
    }
}

/// A pre-LN transformer block (nanoGPT's `Block`):
/// `x + attn(ln_1(x))`, then `x + mlp(ln_2(x))` with
/// `mlp = c_proj(gelu(c_fc(·)))` of hidden width 4·d.
#[derive(Clone, Debug)]
pub struct TransformerBlock {
    /// Before the attention.
    pub ln_1: LayerNorm,
    /// The attention.
    pub attn: CausalSelfAttention,
    /// Before the MLP.
    pub ln_2: LayerNorm,
    /// `d → 4·d`, GELU.
    pub c_fc: Linear,
    /// `4·d → d`.
    pub c_proj: Linear,
}

impl TransformerBlock {
    /// A block of `width` features and `heads` heads, PyTorch's
    /// initialization, its parameters named `{name}.ln_1.weight`, …,
    /// `{name}.mlp.c_proj.bias`.
    pub fn new(
        store: &mut ParamStore,
        name: &str,
        width: usize,
        heads: usize,
        rng: &mut Rng,
    ) -> Result<TransformerBlock, LayerError> {
        let attn = CausalSelfAttention::new(store, &format!("{name}.attn"), width, heads, rng)?;
        Ok(TransformerBlock {
            ln_1: LayerNorm::new(store, &format!("{name}.ln_1"), width)?,
            attn,
            ln_2: LayerNorm::new(store, &format!("{name}.ln_2"), width)?,
            c_fc: Linear::new(
                store,
                &format!("{name}.mlp.c_fc"),
                width,
                4 * width,
                true,
                rng,
            )?
            .with_activation(Activation::Gelu),
            c_proj: Linear::new(
                store,
                &format!("{name}.mlp.c_proj"),
                4 * width,
                width,
                true,
                rng,
            )?,
        })
    }
}

impl Module for TransformerBlock {
    fn forward(&self, g: &mut Graph, x: Var, mode: Mode) -> Var {
        let a = self.ln_1.forward(g, x, mode);
        let a = self.attn.forward(g, a, mode);
        let x = g.add(x, a);
        let m = self.ln_2.forward(g, x, mode);
        let m = self.c_fc.forward(g, m, mode);
        let m = self.c_proj.forward(g, m, mode);
        g.add(x, m)
    }

    fn params(&self) -> Vec<ParamId> {
        let mut p = self.ln_1.params();
        p.extend(self.attn.params());
        p.extend(self.ln_2.params());
        p.extend(self.c_fc.params());
        p.extend(self.c_proj.params());
        p
    }
}

/// The size of a [`Gpt`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GptConfig {
    /// Tokens: rows of the embedding and outputs of the head.
    pub vocab: usize,
    /// The longest sequence: rows of the position embedding.
    pub context: usize,
    /// Transformer blocks.
    pub layers: usize,
    /// Attention heads per block; they divide `width`.
    pub heads: usize,
    /// d, the features of every position.
    pub width: usize,
}

impl GptConfig {
    /// The size a [`Gpt::name`] records, read back: `None` for a name of
    /// another form.
    ///
    /// ```
    /// use gradlab_layers::GptConfig;
    /// let c = GptConfig::from_name("gpt vocab 81 context 128 layers 4 heads 4 width 128");
    /// assert_eq!(c.map(|c| (c.vocab, c.width)), Some((81, 128)));
    /// assert_eq!(GptConfig::from_name("mlp 784-10"), None);
    /// ```
    pub fn from_name(name: &str) -> Option<GptConfig> {
        let words: Vec<&str> = name.split(' ').collect();
        let ["gpt", "vocab", vocab, "context", context, "layers", layers, "heads", heads, "width", width] =
            words[..]
        else {
            return None;
        };
        Some(GptConfig {
            vocab: vocab.parse().ok()?,
            context: context.parse().ok()?,
            layers: layers.parse().ok()?,
            heads: heads.parse().ok()?,
            width: width.parse().ok()?,
        })
    }
}

/// A GPT that owns its parameters: token ids `[B, T]` (T ≤ context) to
/// next-token logits `[B, T, vocab]`.
pub struct Gpt {
    /// Its size.
    pub config: GptConfig,
    /// `transformer.wte`.
    pub wte: Embedding,
    /// `transformer.wpe`, read at positions 0 … T − 1.
    pub wpe: Embedding,
    /// `transformer.h.{i}`.
    pub blocks: Vec<TransformerBlock>,
    /// `transformer.ln_f`.
    pub ln_f: LayerNorm,
    /// `lm_head`, without bias.
    pub lm_head: Linear,
    /// The weights.
    pub params: ParamStore,
}

impl Gpt {
    /// A GPT of `config`'s size, initialized as nanoGPT does from `seed`:
    /// every linear and embedding weight from N(0, 0.02²), the two
    /// projections back into the residual stream (`attn.c_proj`,
    /// `mlp.c_proj`) from N(0, (0.02/√(2·layers))²), biases 0, layer norms
    /// γ = 1, β = 0.
    pub fn new(config: GptConfig, seed: u64) -> Result<Gpt, LayerError> {
        let GptConfig {
            vocab,
            context,
            layers,
            heads,
            width,
        } = config;
        if vocab == 0 || context == 0 || layers == 0 {
            return Err(LayerError::Setting {
                layer: "Gpt",
                name: "transformer".into(),
                problem: format!(
                    "needs a vocabulary, a context and a layer, got {vocab}, {context}, {layers}"
                ),
            });
        }
        let mut r = rng(seed);
        let mut params = ParamStore::new();
        let p = &mut params;
        let wte = Embedding::new(p, "transformer.wte", vocab, width, &mut r)?;
        let wpe = Embedding::new(p, "transformer.wpe", context, width, &mut r)?;
        let blocks = (0..layers)
            .map(|i| TransformerBlock::new(p, &format!("transformer.h.{i}"), width, heads, &mut r))
            .collect::<Result<Vec<_>, _>>()?;
        let ln_f = LayerNorm::new(p, "transformer.ln_f", width)?;
        let lm_head = Linear::new(p, "lm_head", width, vocab, false, &mut r)?;
        let mut gpt = Gpt {
            config,
            wte,
            wpe,
            blocks,
            ln_f,
            lm_head,
            params,
        };
        gpt.initialize(&mut r);
        Ok(gpt)
    }

    /// nanoGPT's `_init_weights`, and its scaled residual projections.
    fn initialize(&mut self, r: &mut Rng) {
        let residual = 0.02 / (2.0 * self.config.layers as f32).sqrt();
        let mut normal = |id: ParamId, std: f32, store: &mut ParamStore| {
            let shape = store.get(id).shape().to_vec();
            *store.get_mut(id) = Tensor::normal(&shape, 0.0, std, r);
        };
        normal(self.wte.weight, 0.02, &mut self.params);
        normal(self.wpe.weight, 0.02, &mut self.params);
        for b in &self.blocks {
            for (layer, std) in [
                (&b.attn.c_attn, 0.02),
                (&b.attn.c_proj, residual),
                (&b.c_fc, 0.02),
                (&b.c_proj, residual),
            ] {
                normal(layer.weight, std, &mut self.params);
                if let Some(bias) = layer.bias {
                    self.params.get_mut(bias).data_mut().fill(0.0);
                }
            }
        }
        normal(self.lm_head.weight, 0.02, &mut self.params);
    }

    /// The model's name, as a checkpoint records it: `gpt` and its size.
    pub fn name(&self) -> String {
        let c = self.config;
        format!(
            "gpt vocab {} context {} layers {} heads {} width {}",
            c.vocab, c.context, c.layers, c.heads, c.width
        )
    }
}

impl Module for Gpt {
    /// # Panics
    /// If `x` is not `[B, T]` with T at most the context.
    fn forward(&self, g: &mut Graph, x: Var, mode: Mode) -> Var {
        let shape = g.value(x).shape();
        assert!(
            shape.len() == 2 && shape[1] <= self.config.context,
            "gpt: token ids {shape:?} must be [B, T] with T ≤ {} (the context)",
            self.config.context
        );
        let (b, t) = (shape[0], shape[1]);
        let positions = g.input_with(|p| {
            p.resize_for(&[b, t]);
            for (i, v) in p.data_mut().iter_mut().enumerate() {
                *v = (i % t) as f32;
            }
        });
        let tok = self.wte.forward(g, x, mode);
        let pos = self.wpe.forward(g, positions, mode);
        let mut h = g.add(tok, pos);
        for block in &self.blocks {
            h = block.forward(g, h, mode);
        }
        let h = self.ln_f.forward(g, h, mode);
        self.lm_head.forward(g, h, mode)
    }

    fn params(&self) -> Vec<ParamId> {
        let mut p = self.wte.params();
        p.extend(self.wpe.params());
        for b in &self.blocks {
            p.extend(b.params());
        }
        p.extend(self.ln_f.params());
        p.extend(self.lm_head.params());
        p
    }
}

/// `n` tokens drawn one at a time from a language model `net` (weights
/// `params`, inputs `[1, t]` of token ids with t ≤ `context`, outputs
/// `[1, t, vocab]` logits: a [`Gpt`]) after `prompt`: each is drawn from
/// softmax(z/τ) of the last position's logits z at temperature τ, and
/// joins the input of the next draw, the window keeping the last `context`
/// tokens. τ < 1 sharpens the distribution towards the likeliest token,
/// τ > 1 flattens it. Seeded: the same arguments draw the same tokens.
///
/// # Panics
/// If the prompt is empty, `context` is 0, or τ is not positive and finite.
pub fn sample(
    net: &dyn Module,
    params: &ParamStore,
    context: usize,
    prompt: &[u32],
    n: usize,
    temperature: f32,
    seed: u64,
) -> Vec<u32> {
    assert!(
        !prompt.is_empty() && context > 0,
        "sample: needs a prompt of at least one token and a context"
    );
    assert!(
        temperature.is_finite() && temperature > 0.0,
        "sample: the temperature must be positive and finite, got {temperature}"
    );
    let mut r = rng(seed);
    let mut tape = Tape::new();
    let mut tokens = prompt.to_vec();
    let mut weights = Vec::new();
    for _ in 0..n {
        let window = &tokens[tokens.len().saturating_sub(context)..];
        let mut g = tape.record(params);
        let x = g.input_with(|x| {
            x.resize_for(&[1, window.len()]);
            for (v, &t) in x.data_mut().iter_mut().zip(window) {
                *v = t as f32;
            }
        });
        let y = net.forward(&mut g, x, Mode::Eval);
        let logits = g.value(y).data();
        let vocab = logits.len() / window.len();
        let last = &logits[(window.len() - 1) * vocab..];
        // exp((z − max)/τ): the largest weight is 1, none overflows.
        let max = last.iter().fold(f32::NEG_INFINITY, |m, &z| m.max(z));
        weights.clear();
        weights.extend(
            last.iter()
                .map(|&z| (f64::from(z - max) / f64::from(temperature)).exp()),
        );
        let mut u = r.random::<f64>() * weights.iter().sum::<f64>();
        let mut next = vocab - 1;
        for (i, &w) in weights.iter().enumerate() {
            if u < w {
                next = i;
                break;
            }
            u -= w;
        }
        tokens.push(next as u32);
    }
    tokens.split_off(prompt.len())
}
