//! [`BackwardError`]: why a backward pass cannot give what was asked.

use thiserror::Error;

use crate::request::GradRequest;

/// Why a backward pass cannot give the requested gradients.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum BackwardError {
    /// The loss is neither a `[B]` vector nor a scalar.
    #[error("backward: the loss has shape {shape:?}; expected a [B] vector of per-example losses or a scalar")]
    LossShape {
        /// The loss's shape.
        shape: Vec<usize>,
    },
    /// Per-example statistics need a `[B]` loss whose entries each depend on
    /// one example.
    #[error(
        "backward: {request:?} needs per-example losses, but the loss (node %{node}, {op}) {why}; \
         use GradRequest::Mean for this graph"
    )]
    NotPerExample {
        /// What was asked for.
        request: GradRequest,
        /// The loss node.
        node: usize,
        /// The op that produced it.
        op: String,
        /// What is wrong.
        why: &'static str,
    },
    /// Per-example statistics need each example's loss to depend on that
    /// example alone, and an op of the graph mixes them (batch
    /// normalization, a mean over the batch).
    #[error(
        "backward: {request:?} needs per-example losses, but node %{node} ({op}) depends on a \
         statistic across examples, mixing them; use GradRequest::Mean for this graph, or an \
         op that keeps examples apart (group or layer norm for batch norm)"
    )]
    MixedExamples {
        /// What was asked for.
        request: GradRequest,
        /// The first node that mixes examples.
        node: usize,
        /// Its op.
        op: String,
    },
    /// A parameter is used in a way the per-example statistics do not cover.
    #[error(
        "backward: {request:?} cannot give per-example gradients of parameter {name:?}: {why}; \
         use GradRequest::Mean for this graph"
    )]
    UnsupportedParam {
        /// What was asked for.
        request: GradRequest,
        /// The parameter's name in the store.
        name: String,
        /// What is wrong.
        why: String,
    },
}
