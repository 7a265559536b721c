//! Evaluation: a model's loss and metric on a dataset, at the weights the
//! optimizer evaluates.

use std::borrow::Cow;

use gradlab_autodiff::{ParamStore, Tape};
use gradlab_data::{Batches, Dataset, Targets};
use gradlab_layers::{Mode, Model};
use gradlab_optim::Optimizer;
use gradlab_tensor::reduce::argmax;

use super::step::loss;
use super::{Evaluation, Task, Trainer};
use crate::tape::FromTape;
use crate::TrainError;

/// Examples per forward pass when evaluating.
pub(crate) const EVAL_BATCH: usize = 1000;

/// Positions per forward pass when evaluating sequences.
const EVAL_POSITIONS: usize = 8192;

impl Trainer {
    /// The model's mean loss and metric on `data` (dropout off), its
    /// features standardized as the training set's are if `data` carries no
    /// standardization of its own. Data of another width or task (values
    /// for a classifier, a class the model has no output for) is an error.
    pub fn evaluate(&mut self, data: &Dataset) -> Result<Evaluation, TrainError> {
        let fits = match self.task {
            Task::Classes(c) => {
                data.classes().is_some_and(|d| d <= c) && data.positions().is_none()
            }
            Task::Values(k) => data.target_width() == Some(k),
            Task::Sequences { classes, positions } => {
                data.classes().is_some_and(|d| d <= classes) && data.positions() == Some(positions)
            }
        };
        if data.num_features() != self.train.num_features() || !fits {
            let kind = |d: &Dataset| match (d.classes(), d.target_width()) {
                (Some(c), _) if d.positions().is_some() => {
                    format!(
                        "{} features, {c} classes at each position",
                        d.num_features()
                    )
                }
                (Some(c), _) => format!("{} features, {c} classes", d.num_features()),
                (_, w) => format!("{} features, {} values", d.num_features(), w.unwrap_or(0)),
            };
            return Err(TrainError::Config(format!(
                "cannot evaluate on data of {} with a model trained on data of {}",
                kind(data),
                kind(&self.train)
            )));
        }
        let standardized;
        let data = match (self.train.standardized(), data.standardized()) {
            (Some(s), None) => {
                standardized = data.clone().standardize(s.clone())?;
                &standardized
            }
            _ => data,
        };
        let params = evaluation_point(&self.optimizer, &self.model.params);
        Ok(evaluate(
            &self.model,
            &params,
            &mut self.eval_tape,
            &mut self.targets,
            data,
        ))
    }

    /// The model's mean loss and metric on the test set.
    pub fn evaluate_test(&mut self) -> Evaluation {
        let params = evaluation_point(&self.optimizer, &self.model.params);
        evaluate(
            &self.model,
            &params,
            &mut self.eval_tape,
            &mut self.targets,
            &self.test,
        )
    }

    /// The weights to evaluate and save: the model's parameters, or, for a
    /// rule that takes its gradients elsewhere than where it should be
    /// evaluated (Schedule-Free's x, see
    /// [`Optimizer::evaluation_params`]), its evaluation point. Every
    /// evaluation and checkpoint of the trainer uses these.
    pub fn evaluation_params(&self) -> Cow<'_, ParamStore> {
        evaluation_point(&self.optimizer, &self.model.params)
    }
}

/// The loss of a model that knows nothing: ln C for C classes, E[t²] (the
/// loss of predicting 0) for values — or 1 if the targets are all 0.
pub(super) fn chance_loss(task: Task, train: &Dataset) -> f64 {
    match (task, train.targets()) {
        (Task::Classes(c) | Task::Sequences { classes: c, .. }, _) => (c.max(2) as f64).ln(),
        (Task::Values(_), Targets::Values(t)) => {
            let sq = t.data().iter().map(|&v| f64::from(v) * f64::from(v));
            let mean_sq = sq.sum::<f64>() / t.len().max(1) as f64;
            if mean_sq > 0.0 {
                mean_sq
            } else {
                1.0
            }
        }
        (Task::Values(_), _) => unreachable!("the task is read from the targets"),
    }
}

/// The weights `optimizer` evaluates `params` at.
fn evaluation_point<'a>(optimizer: &Optimizer, params: &'a ParamStore) -> Cow<'a, ParamStore> {
    match optimizer.evaluation_params(params) {
        Some(params) => Cow::Owned(params),
        None => Cow::Borrowed(params),
    }
}

/// `model`'s mean loss and metric on `data` with weights `params`, in
/// batches, dropout off.
fn evaluate(
    model: &Model,
    params: &ParamStore,
    tape: &mut Tape,
    targets: &mut Targets,
    data: &Dataset,
) -> Evaluation {
    // A sequence's activations grow with its positions (and attention's
    // with their square): sequences go in batches of at most
    // EVAL_POSITIONS positions, so that the evaluation tape stays small.
    let batch = match data.positions() {
        Some(t) => (EVAL_POSITIONS / t).max(1),
        None => EVAL_BATCH,
    };
    let order = Batches::sequential(data.len(), batch).expect("a batch is not 0");
    let (mut loss_sum, mut correct) = (0.0f64, 0usize);
    for indices in order.iter() {
        let mut g = tape.record(params);
        let x = g.input_with(|batch| data.gather(indices, batch, targets));
        let y = model.net.forward(&mut g, x, Mode::Eval);
        let losses = loss(&mut g, y, targets);
        loss_sum += g.value(losses).sum() as f64;
        if let Some(labels) = targets.classes() {
            // One row of logits per label: per example, or per position.
            let z = g.value(y);
            let classes = z.shape()[z.shape().len() - 1];
            correct += z
                .data()
                .chunks_exact(classes)
                .zip(labels.iter())
                .filter(|(row, &y)| argmax(row) == y)
                .count();
        }
    }
    let n = data.len().max(1) as f64;
    let loss = loss_sum / n;
    match data.classes() {
        Some(_) => Evaluation {
            loss,
            accuracy: Some(correct as f64 / (n * data.positions().unwrap_or(1) as f64)),
            rmse: None,
        },
        // Each example's loss is the mean of its k squared errors, so their
        // mean is the mean over every value.
        None => Evaluation {
            loss,
            accuracy: None,
            rmse: Some(loss.sqrt()),
        },
    }
}
