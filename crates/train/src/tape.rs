//! The tape's gradients as the optimizer sees them: the bridge between the
//! autodiff crate, which knows nothing of optimizers, and the optim crate,
//! which knows nothing of autograd.
//!
//! [`TapeParams`] is the optimizer's [`Parameters`] view of a parameter
//! store and the gradients the last backward left on a tape;
//! [`FromTape`] steps an optimizer from them (`opt.update(&mut params,
//! &tape)`), tells backward what to compute for it, and moves parameters
//! to and from the point a rule evaluates at; [`privatize_tape`] adds
//! DP-SGD's noise to the gradients on a tape.

use gradlab_autodiff::{GradRequest, ParamStore, Tape};
use gradlab_optim::{GaussianMechanism, Optimizer, Param, Parameters, Statistics};

/// A store's parameters with the gradients of the last backward on `tape`:
/// every parameter that reached the loss, in id order, with its
/// per-example squares when the backward computed them. A parameter that
/// did not reach the loss is left out, as `torch.optim` skips a parameter
/// whose gradient is `None`.
pub struct TapeParams<'a> {
    store: &'a mut ParamStore,
    tape: &'a Tape,
}

impl<'a> TapeParams<'a> {
    /// The view of `store` with the gradients on `tape`.
    ///
    /// # Panics
    /// If no backward has run on `tape` since it last recorded.
    pub fn new(store: &'a mut ParamStore, tape: &'a Tape) -> TapeParams<'a> {
        assert!(
            tape.batch_size().is_some(),
            "Optimizer::update: run backward on the tape before updating"
        );
        TapeParams { store, tape }
    }
}

impl Parameters for TapeParams<'_> {
    fn each(&mut self, f: &mut dyn FnMut(Param<'_>)) {
        for (id, value) in self.store.iter_mut() {
            let Some(grad) = self.tape.grad(id) else {
                continue;
            };
            let p = Param::new(id.0, value, grad);
            f(match self.tape.grad_sq(id) {
                Some(sq) => p.with_grad_sq(sq),
                None => p,
            });
        }
    }
}

/// An optimizer driven from a tape.
pub trait FromTape {
    /// One step on every parameter of `params` that received a gradient
    /// in the last backward recorded on `tape` (with its per-example
    /// squares, when the backward computed them), for that backward's batch
    /// size.
    ///
    /// # Panics
    /// If no backward has run on `tape` since it last recorded, or as
    /// [`Optimizer::step`] (a rule that needs the squares after a `Mean`
    /// backward, say).
    fn update(&mut self, params: &mut ParamStore, tape: &Tape);

    /// [`update`](FromTape::update) with the learning rate of batches of
    /// `batch_size` examples rather than the last backward's: DP-SGD's
    /// batches vary in size, and its rate is that of the expected size.
    fn update_for(&mut self, params: &mut ParamStore, tape: &Tape, batch_size: usize);

    /// What backward must compute for this optimizer: the mean, or the mean
    /// and the per-example squares.
    fn grad_request(&self) -> GradRequest;

    /// The parameters to evaluate and save, when they are not `params`
    /// themselves (Schedule-Free's x): a copy of `params` with each
    /// parameter the optimizer has stepped replaced by its evaluation
    /// point. `None` for a rule that evaluates at the parameters.
    fn evaluation_params(&self, params: &ParamStore) -> Option<ParamStore>;

    /// Undoes [`evaluation_params`](FromTape::evaluation_params) on
    /// parameters loaded from a checkpoint: each parameter with state gets
    /// back the point the rule takes gradients at, bitwise as the last step
    /// computed it.
    fn restore_training_point(&self, params: &mut ParamStore);
}

impl FromTape for Optimizer {
    fn update(&mut self, params: &mut ParamStore, tape: &Tape) {
        let batch_size = tape
            .batch_size()
            .expect("Optimizer::update: run backward on the tape before updating");
        self.update_for(params, tape, batch_size);
    }

    fn update_for(&mut self, params: &mut ParamStore, tape: &Tape, batch_size: usize) {
        self.step(&mut TapeParams::new(params, tape), batch_size);
    }

    fn grad_request(&self) -> GradRequest {
        match self.statistics() {
            Statistics::Mean => GradRequest::Mean,
            Statistics::MeanAndSquares => GradRequest::MeanAndSquares,
        }
    }

    fn evaluation_params(&self, params: &ParamStore) -> Option<ParamStore> {
        if !self.evaluates_elsewhere() {
            return None;
        }
        let mut copy = params.clone();
        for (id, value) in copy.iter_mut() {
            if let Some(point) = self.evaluation_point(id.0) {
                value.data_mut().copy_from_slice(point.data());
            }
        }
        Some(copy)
    }

    fn restore_training_point(&self, params: &mut ParamStore) {
        for (id, value) in params.iter_mut() {
            self.restore_point(id.0, value);
        }
    }
}

/// DP-SGD's noise on the gradients of a tape: [`GaussianMechanism::privatize`]
/// for every parameter of `params` that has a gradient on `tape` (after a
/// clipped backward of `batch` examples, `expected_batch` expected, at step
/// `step`), each parameter's noise its own stream.
pub fn privatize_tape(
    mechanism: &GaussianMechanism,
    params: &ParamStore,
    tape: &mut Tape,
    batch: usize,
    expected_batch: f64,
    step: u64,
) {
    for id in params.ids() {
        if let Some(g) = tape.grad_mut(id) {
            mechanism.privatize(g.data_mut(), batch, expected_batch, step, id.0);
        }
    }
}
