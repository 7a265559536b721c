//! A training step: forward, backward, update; and the divergence error.

use gradlab_autodiff::{Graph, Var};
use gradlab_data::Targets;
use gradlab_layers::Mode;

use super::Trainer;
use crate::helpers::with_pool_awake;
use crate::tape::privatize_tape;
use crate::tape::FromTape;
use crate::TrainError;

impl Trainer {
    /// One step on the training examples `indices`: forward, backward with
    /// the statistics the optimizer asks for, update. Returns the batch's
    /// mean loss, or an error (and no update) if it is not finite.
    pub fn step(&mut self, indices: &[usize]) -> Result<f32, TrainError> {
        with_pool_awake(|| self.step_here(indices))
    }

    fn step_here(&mut self, indices: &[usize]) -> Result<f32, TrainError> {
        let seed = self.config.seed ^ (self.steps_done + 1).wrapping_mul(0xD1B5_4A32_D192_ED03);
        let loss_limit = self.loss_limit;
        let Trainer {
            model,
            optimizer,
            train,
            tape,
            targets,
            ..
        } = self;
        // Forward: the batch's per-example losses ℓ_b.
        let mut g = tape.record(&model.params);
        let x = g.input_with(|batch| train.gather(indices, batch, targets));
        let y = model.net.forward(&mut g, x, Mode::Train { seed });
        let losses = loss(&mut g, y, targets);
        // A Poisson-sampled batch may be empty: its loss is no loss, and
        // its gradient is 0 (the noise alone remains).
        let loss = if indices.is_empty() {
            0.0
        } else {
            g.value(losses).mean()
        };
        if loss.is_nan() || f64::from(loss) > loss_limit {
            let lr = optimizer.learning_rate(indices.len().max(1));
            let (step, epoch) = (self.steps_done + 1, self.epochs_done() + 1);
            return Err(self.diverged(step, epoch, "the batch's loss", loss.into(), lr));
        }
        let scaled = match self.config.loss_scale {
            1.0 => losses,
            alpha => g.scale(losses, alpha),
        };
        // Backward: ĝ, and (1/B) Σ_b g_b² when the optimizer reads it; for
        // a private run the clipped mean.
        g.backward(scaled, self.request)?;
        // Step: every parameter updated from its gradient statistics.
        match &mut self.private {
            None => optimizer.update(&mut model.params, tape),
            Some(p) => {
                let step = self.steps_done + 1;
                let (b, expected) = (indices.len(), p.expected_batch);
                privatize_tape(&p.mechanism, &model.params, tape, b, expected, step);
                optimizer.update_for(&mut model.params, tape, self.config.batch_size);
                p.accountant
                    .step(p.mechanism.noise_multiplier(), p.rate)
                    .expect("σ and q were checked when the run was built");
            }
        }
        // The state a layer keeps besides its weights (batch norm's running
        // averages) takes in this batch.
        model.net.update_state(&mut model.params);
        self.steps_done += 1;
        Ok(loss)
    }

    /// The divergence error for `loss` (`what` says which) at `step` of
    /// `epoch`, with a hint at the cause.
    pub(super) fn diverged(
        &self,
        step: u64,
        epoch: usize,
        what: &'static str,
        loss: f64,
        lr: f32,
    ) -> TrainError {
        let eps = self.optimizer.hyperparameter("eps");
        let hint = if !loss.is_finite() && eps.as_deref() == Some("0") {
            format!(
                "{} divides by √s + ε with eps=0, and a weight whose gradient has been 0 so far \
                 (such as one of a pixel that is 0 in every image) gets 0/0 = NaN; give eps > 0, \
                 e.g. eps=1e-8",
                self.optimizer.name()
            )
        } else {
            format!("try a smaller learning rate (the effective rate was {lr:e})")
        };
        TrainError::Diverged {
            step,
            epoch,
            what,
            loss,
            limit: self.loss_limit(),
            hint,
            checkpoint: None,
        }
    }
}

/// The per-example losses of outputs `y` against `targets`: softmax
/// cross-entropy for classes (averaged over the positions of a sequence),
/// mean squared error for values.
pub(super) fn loss(g: &mut Graph, y: Var, targets: &Targets) -> Var {
    match targets {
        Targets::Classes(labels) | Targets::Sequences { labels, .. } => {
            g.softmax_cross_entropy(y, labels)
        }
        Targets::Values(t) => g.mse(y, t),
    }
}
