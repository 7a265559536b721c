//! The tape (a Wengert list) and the [`Graph`] that records onto it.
//!
//! A forward pass appends one [`Node`] per operation: its inputs (as [`Var`]
//! indices of earlier nodes), its value, and whatever the backward pass will
//! need (a softmax, a dropout mask). Because every node only points to earlier
//! nodes, walking the list backwards visits each node after everything that
//! consumed it — reverse-mode differentiation is that walk.
//!
//! The [`Tape`] outlives a step and owns every buffer; [`Tape::record`] starts
//! a new graph on it. Node `i` of a new graph reuses the buffers node `i` had
//! in the previous one, so once a training step has run, the next identical
//! step allocates nothing.

use gradlab_tensor::{Tensor, Transpose};

use crate::ops::activation::Activation;
use crate::ops::arith::BinaryKind;
use crate::params::{ParamId, ParamStore};

/// A handle to a node of the current graph: a plain index, `Copy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Var(pub(crate) usize);

impl Var {
    /// The node's position on the tape.
    pub fn index(self) -> usize {
        self.0
    }
}

/// What the backward pass computes for every parameter (see the crate docs
/// for the convention g_b = ∇ℓ_b).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GradRequest {
    /// The batch gradient ĝ = (1/B) Σ_b g_b.
    Mean,
    /// ĝ and the per-example mean of squares (1/B) Σ_b g_b², without
    /// materializing the g_b.
    MeanAndSquares,
    /// ĝ and every g_b, as a `[B, …]` tensor.
    PerExample,
}

/// The operation that produced a node, with its inputs.
#[derive(Clone, Debug)]
pub(crate) enum Op {
    /// A batch of examples: axis 0 indexes them.
    Input,
    /// A value that is not differentiated and belongs to no example.
    Constant,
    /// A parameter, read from the store.
    Param(ParamId),
    MatMul {
        a: Var,
        ta: Transpose,
        b: Var,
        tb: Transpose,
    },
    /// `f(x·Wᵀ + b)`; `aux` holds `x·Wᵀ + b` when f′ needs it.
    Linear {
        x: Var,
        w: Var,
        b: Option<Var>,
        f: Option<Activation>,
    },
    Binary {
        kind: BinaryKind,
        a: Var,
        b: Var,
        /// `b` is a row vector broadcast over the rows of `a`.
        row: bool,
    },
    Scale {
        x: Var,
        s: f32,
    },
    Activation {
        x: Var,
        f: Activation,
    },
    /// `aux` holds the mask, already scaled by 1/(1 − p).
    Dropout {
        x: Var,
    },
    Sum {
        x: Var,
        axis: Option<usize>,
        mean: bool,
    },
    /// `aux` holds the softmax, `labels` the classes.
    SoftmaxCrossEntropy {
        logits: Var,
    },
    /// `aux` holds the target.
    Mse {
        pred: Var,
    },
    LogSoftmax {
        x: Var,
    },
    Softmax {
        x: Var,
    },
}

impl Op {
    /// The nodes this op reads.
    pub(crate) fn inputs(&self) -> [Option<Var>; 3] {
        match *self {
            Op::Input | Op::Constant | Op::Param(_) => [None, None, None],
            Op::MatMul { a, b, .. } | Op::Binary { a, b, .. } => [Some(a), Some(b), None],
            Op::Linear { x, w, b, .. } => [Some(x), Some(w), b],
            Op::Scale { x, .. }
            | Op::Activation { x, .. }
            | Op::Dropout { x }
            | Op::Sum { x, .. }
            | Op::LogSoftmax { x }
            | Op::Softmax { x }
            | Op::SoftmaxCrossEntropy { logits: x }
            | Op::Mse { pred: x } => [Some(x), None, None],
        }
    }

    /// A short name for printing the tape.
    pub(crate) fn name(&self) -> String {
        match self {
            Op::Input => "input".into(),
            Op::Constant => "constant".into(),
            Op::Param(id) => format!("param #{}", id.0),
            Op::MatMul { ta, tb, .. } => format!(
                "matmul{}{}",
                if *ta == Transpose::Yes { " Aᵀ" } else { "" },
                if *tb == Transpose::Yes { " Bᵀ" } else { "" }
            ),
            Op::Linear { b, f, .. } => format!(
                "linear{}{}",
                if b.is_some() { " + bias" } else { "" },
                f.map_or(String::new(), |f| format!(" → {f:?}").to_lowercase())
            ),
            Op::Binary { kind, row, .. } => {
                format!("{kind:?}{}", if *row { " (row broadcast)" } else { "" }).to_lowercase()
            }
            Op::Scale { s, .. } => format!("scale ×{s}"),
            Op::Activation { f, .. } => format!("{f:?}").to_lowercase(),
            Op::Dropout { .. } => "dropout".into(),
            Op::Sum { axis, mean, .. } => format!(
                "{}{}",
                if *mean { "mean" } else { "sum" },
                axis.map_or(String::new(), |a| format!(" over axis {a}"))
            ),
            Op::SoftmaxCrossEntropy { .. } => "softmax_cross_entropy".into(),
            Op::Mse { .. } => "mse".into(),
            Op::LogSoftmax { .. } => "log_softmax".into(),
            Op::Softmax { .. } => "softmax".into(),
        }
    }
}

/// One entry of the tape. Buffers are kept when the tape is reset.
#[derive(Clone, Debug)]
pub(crate) struct Node {
    pub(crate) op: Op,
    /// The forward value (empty for parameters: they live in the store).
    pub(crate) value: Tensor,
    /// ∂L/∂value, valid when `grad_ready`.
    pub(crate) grad: Tensor,
    pub(crate) grad_ready: bool,
    /// Op-specific saved data (softmax, mask, target).
    pub(crate) aux: Tensor,
    pub(crate) labels: Vec<usize>,
    /// Axis 0 of the value indexes the examples of the batch.
    pub(crate) batched: bool,
    /// The value depends on a statistic across examples.
    pub(crate) mixed: bool,
    /// Some parameter is upstream: the backward pass must visit this node.
    pub(crate) needs_grad: bool,
    /// How many ops read this node.
    pub(crate) uses: u32,
    /// For parameters: (1/B) Σ_b g_b².
    pub(crate) grad_sq: Tensor,
    /// For parameters: the `[B, …]` per-example gradients.
    pub(crate) per_example: Tensor,
    /// For parameters: whether the last backward filled the statistics.
    pub(crate) stats_ready: bool,
}

impl Node {
    fn empty() -> Node {
        Node {
            op: Op::Constant,
            value: Tensor::default(),
            grad: Tensor::default(),
            grad_ready: false,
            aux: Tensor::default(),
            labels: Vec::new(),
            batched: false,
            mixed: false,
            needs_grad: false,
            uses: 0,
            grad_sq: Tensor::default(),
            per_example: Tensor::default(),
            stats_ready: false,
        }
    }
}

/// The tape: every node of the current graph, and buffers kept for the next.
#[derive(Clone, Debug, Default)]
pub struct Tape {
    pub(crate) nodes: Vec<Node>,
    /// Nodes of the current graph: `nodes[..len]`.
    pub(crate) len: usize,
    /// The node of each parameter in the current graph, by `ParamId`.
    pub(crate) param_nodes: Vec<Option<Var>>,
    /// Scratch buffers: a row vector's per-row gradient contributions and
    /// their sums, and a linear layer's `dZ`.
    pub(crate) scratch: [Tensor; 3],
    /// What the last successful backward computed, and for how many examples.
    pub(crate) last: Option<(GradRequest, usize)>,
}

impl Tape {
    /// An empty tape.
    pub fn new() -> Tape {
        Tape::default()
    }

    /// Forgets the current graph but keeps every buffer for the next one.
    pub fn reset(&mut self) {
        self.len = 0;
        self.param_nodes.iter_mut().for_each(|p| *p = None);
        self.last = None;
    }

    /// Starts recording a new graph whose parameters are read from `store`.
    /// The tape is reset first.
    ///
    /// The first graph recorded from a rayon pool's threads also allocates
    /// the matmul's packing buffers on every thread of that pool
    /// ([`reserve_workers`](gradlab_tensor::reserve_workers)): the graph
    /// reuses the tape's buffers, and after this no thread of the pool
    /// grows one, so a repeated step allocates nothing from its second
    /// recording on.
    pub fn record<'t, 's>(&'t mut self, store: &'s ParamStore) -> Graph<'t, 's> {
        gradlab_tensor::reserve_workers();
        self.reset();
        if self.param_nodes.len() < store.len() {
            self.param_nodes.resize(store.len(), None);
        }
        Graph { tape: self, store }
    }

    /// Number of nodes in the current graph.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the current graph is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The value of a non-parameter node (parameters: read the store).
    pub fn value(&self, v: Var) -> &Tensor {
        &self.nodes[..self.len][v.0].value
    }

    fn param_node(&self, id: ParamId) -> Option<&Node> {
        let v = (*self.param_nodes.get(id.0)?)?;
        let node = &self.nodes[v.0];
        node.grad_ready.then_some(node)
    }

    /// ĝ = (1/B) Σ_b g_b for a parameter after [`Graph::backward`], or `None`
    /// if the parameter did not reach the loss.
    pub fn grad(&self, id: ParamId) -> Option<&Tensor> {
        self.last?;
        self.param_node(id).map(|n| &n.grad)
    }

    /// (1/B) Σ_b g_b² for a parameter, after a `MeanAndSquares` or
    /// `PerExample` backward.
    pub fn grad_sq(&self, id: ParamId) -> Option<&Tensor> {
        match self.last? {
            (GradRequest::Mean, _) => None,
            _ => self.param_node(id).map(|n| &n.grad_sq),
        }
    }

    /// The `[B, …]` per-example gradients g_b of a parameter, after a
    /// `PerExample` backward.
    pub fn per_example(&self, id: ParamId) -> Option<&Tensor> {
        match self.last? {
            (GradRequest::PerExample, _) => self.param_node(id).map(|n| &n.per_example),
            _ => None,
        }
    }

    /// The batch size B of the last backward (1 for a scalar loss).
    pub fn batch_size(&self) -> Option<usize> {
        self.last.map(|(_, b)| b)
    }

    /// One line per node of the current graph: index, op, inputs, shape.
    pub fn describe(&self) -> Vec<String> {
        self.nodes[..self.len]
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let inputs: Vec<String> =
                    n.op.inputs()
                        .iter()
                        .flatten()
                        .map(|v| format!("%{}", v.0))
                        .collect();
                let flags = match (n.batched, n.mixed) {
                    (_, true) => "  mixes examples",
                    (true, false) => "  per example",
                    (false, false) => "",
                };
                format!(
                    "%{i:<3} = {:<24} {:<10} {}{flags}",
                    n.op.name(),
                    inputs.join(", "),
                    if matches!(n.op, Op::Param(_)) {
                        String::new()
                    } else {
                        format!("{:?}", n.value.shape())
                    }
                )
            })
            .collect()
    }
}

/// A graph being recorded on a [`Tape`], reading parameters from a
/// [`ParamStore`]. Ops are methods; each returns the [`Var`] of its result.
pub struct Graph<'t, 's> {
    pub(crate) tape: &'t mut Tape,
    pub(crate) store: &'s ParamStore,
}

impl<'t, 's> Graph<'t, 's> {
    /// Appends a node, reusing the buffers of the node that had this position
    /// in the previous graph. `fill` computes the value (and saved data).
    pub(crate) fn push(
        &mut self,
        op: Op,
        batched: bool,
        fill: impl FnOnce(&mut Node, &[Node], &ParamStore),
    ) -> Var {
        let i = self.tape.len;
        if i == self.tape.nodes.len() {
            self.tape.nodes.push(Node::empty());
        }
        let (before, rest) = self.tape.nodes.split_at_mut(i);
        let node = &mut rest[0];
        let inputs = op.inputs();
        let mut mixed = false;
        let mut needs_grad = matches!(op, Op::Param(_));
        for v in inputs.iter().flatten() {
            assert!(
                v.0 < i,
                "a Var from another graph was used (index {} ≥ {i})",
                v.0
            );
            let input = &mut before[v.0];
            input.uses += 1;
            mixed |= input.mixed;
            needs_grad |= input.needs_grad;
        }
        node.op = op;
        node.batched = batched;
        node.mixed = mixed;
        node.needs_grad = needs_grad;
        node.uses = 0;
        node.grad_ready = false;
        node.stats_ready = false;
        fill(node, before, self.store);
        self.tape.len += 1;
        Var(i)
    }

    /// The value of any node of this graph (parameters included).
    pub fn value(&self, v: Var) -> &Tensor {
        value(&self.tape.nodes[..self.tape.len], self.store, v)
    }

    pub(crate) fn node(&self, v: Var) -> &Node {
        &self.tape.nodes[..self.tape.len][v.0]
    }

    /// A batch of examples (axis 0 indexes them), copied into the tape.
    pub fn input(&mut self, x: &Tensor) -> Var {
        self.push(Op::Input, true, |n, _, _| n.value.assign(x))
    }

    /// A batch of examples written directly into the tape's buffer by `fill`
    /// (which must size it), saving a copy.
    pub fn input_with(&mut self, fill: impl FnOnce(&mut Tensor)) -> Var {
        self.push(Op::Input, true, |n, _, _| fill(&mut n.value))
    }

    /// A value that is not differentiated and belongs to no example.
    pub fn constant(&mut self, x: &Tensor) -> Var {
        self.push(Op::Constant, false, |n, _, _| n.value.assign(x))
    }

    /// A parameter of the store. Asking twice for the same id gives the same
    /// `Var`, so a parameter has one node and one gradient.
    pub fn param(&mut self, id: ParamId) -> Var {
        assert!(
            id.0 < self.store.len(),
            "param: id {} is not in the store ({} parameters)",
            id.0,
            self.store.len()
        );
        if let Some(v) = self.tape.param_nodes[id.0] {
            return v;
        }
        let v = self.push(Op::Param(id), false, |_, _, _| {});
        self.tape.param_nodes[id.0] = Some(v);
        v
    }

    /// The store the graph reads its parameters from.
    pub fn store(&self) -> &'s ParamStore {
        self.store
    }

    /// The tape the graph records onto.
    pub fn tape(&self) -> &Tape {
        self.tape
    }
}

/// The value of node `v`: its own buffer, or the store's tensor for a
/// parameter.
pub(crate) fn value<'a>(nodes: &'a [Node], store: &'a ParamStore, v: Var) -> &'a Tensor {
    match nodes[v.0].op {
        Op::Param(id) => store.get(id),
        _ => &nodes[v.0].value,
    }
}
