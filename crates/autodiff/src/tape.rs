//! The tape (a Wengert list) and the [`Graph`] that records onto it.
//!
//! A forward pass appends one [`Node`] per operation: the [`Op`], its inputs
//! (as [`Var`] indices of earlier nodes), its value, and whatever the op
//! saved for the backward pass. Because every node only points to earlier
//! nodes, walking the list backwards visits each node after everything that
//! consumed it — reverse-mode differentiation is that walk.
//!
//! The [`Tape`] outlives a step and owns every buffer; [`Tape::record`] starts
//! a new graph on it. Node `i` of a new graph reuses the buffers node `i` had
//! in the previous one (its value, its gradient, the op's saved data), so
//! once a training step has run, the next identical step allocates nothing.

use gradlab_tensor::Tensor;

use crate::clipping::Clipping;
use crate::op::{Examples, Op, MAX_INPUTS};
use crate::params::{ParamId, ParamStore};
use crate::recorded::{self, Recorded};

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
/// for the convention g_b = ∇ℓ_b). Optimizers say which one they need with
/// the same type.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum GradRequest {
    /// The batch gradient ĝ = (1/B) Σ_b g_b.
    Mean,
    /// ĝ and the per-example mean of squares (1/B) Σ_b g_b², without
    /// materializing the g_b.
    MeanAndSquares,
    /// ĝ and every g_b, as a `[B, …]` tensor.
    PerExample,
    /// ĝ and every example's gradient norm ‖g_b‖, per parameter tensor
    /// ([`Tape::example_norms`]) and over all of them
    /// ([`Tape::total_norms`]), without materializing the g_b (for a linear
    /// layer ‖x_b δ_bᵀ‖² = ‖x_b‖²·‖δ_b‖², Goodfellow 2015).
    Norms,
    /// The clipped mean (1/B) Σ_b c_b·g_b in place of ĝ, with
    /// c_b = min(1, C/(‖g_b‖ + 10⁻⁶)) as Opacus computes it, and the norms
    /// of [`Norms`](GradRequest::Norms) (of the unclipped g_b). No g_b is
    /// materialized: the weight-gradient matmuls wait until the walk has
    /// produced every norm, then run once with the rows of δ scaled by c_b
    /// (Bu et al. 2022, "book-keeping").
    Clipped(Clipping),
}

impl GradRequest {
    /// Whether the request computes per-example norms.
    pub fn computes_norms(self) -> bool {
        matches!(self, GradRequest::Norms | GradRequest::Clipped(_))
    }
}

/// Where a node's value comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A batch of examples: axis 0 indexes them.
    Input,
    /// A value that is not differentiated and belongs to no example.
    Constant,
    /// A parameter, read from the store.
    Param(ParamId),
    /// The output of the node's op.
    Op,
}

/// One entry of the tape. Buffers are kept when the tape is reset.
pub(crate) struct Node {
    pub(crate) kind: Kind,
    /// The op of the last graph that recorded one here (current when `kind`
    /// is `Op`).
    pub(crate) op: Option<Box<dyn Recorded>>,
    pub(crate) inputs: Vec<Var>,
    /// The forward value (empty for parameters: they live in the store).
    pub(crate) value: Tensor,
    /// ∂L/∂value, valid when `grad_ready`.
    pub(crate) grad: Tensor,
    pub(crate) grad_ready: bool,
    /// Axis 0 of the value indexes the examples of the batch.
    pub(crate) batched: bool,
    /// The value depends on more than one example.
    pub(crate) mixed: bool,
    /// Some parameter is upstream: the backward pass must visit this node.
    pub(crate) needs_grad: bool,
    /// How many inputs of ops that reach the loss this node is, counted by
    /// the last backward.
    pub(crate) uses: u32,
    /// For parameters: (1/B) Σ_b g_b².
    pub(crate) grad_sq: Tensor,
    /// For parameters: the `[B, …]` per-example gradients.
    pub(crate) per_example: Tensor,
    /// For parameters: whether the last backward filled the statistics.
    pub(crate) stats_ready: bool,
    /// For parameters: the `[B]` per-example gradient norms ‖g_b‖ (squared
    /// while the walk fills them).
    pub(crate) norms: Tensor,
    /// For parameters: whether the last backward filled `norms`.
    pub(crate) norms_ready: bool,
}

impl Node {
    fn empty() -> Node {
        Node {
            kind: Kind::Constant,
            op: None,
            inputs: Vec::new(),
            value: Tensor::default(),
            grad: Tensor::default(),
            grad_ready: false,
            batched: false,
            mixed: false,
            needs_grad: false,
            uses: 0,
            grad_sq: Tensor::default(),
            per_example: Tensor::default(),
            stats_ready: false,
            norms: Tensor::default(),
            norms_ready: false,
        }
    }

    /// A short name for printing the tape.
    pub(crate) fn name(&self) -> String {
        match self.kind {
            Kind::Input => "input".into(),
            Kind::Constant => "constant".into(),
            Kind::Param(id) => format!("param #{}", id.0),
            Kind::Op => self.op.as_ref().map_or_else(String::new, |op| op.name()),
        }
    }
}

/// The tape: every node of the current graph, and buffers kept for the next.
#[derive(Default)]
pub struct Tape {
    pub(crate) nodes: Vec<Node>,
    /// Nodes of the current graph: `nodes[..len]`.
    pub(crate) len: usize,
    /// The node of each parameter in the current graph, by `ParamId`.
    pub(crate) param_nodes: Vec<Option<Var>>,
    /// What the last successful backward computed, and for how many examples.
    pub(crate) last: Option<(GradRequest, usize)>,
    /// ‖g_b‖ over every parameter, after a request for norms.
    pub(crate) total_norms: Tensor,
    /// Working memory of the clipped request: a node's gradient with its
    /// rows scaled, and the factors c_b.
    pub(crate) scaled: Tensor,
    pub(crate) factors: Tensor,
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
            (GradRequest::MeanAndSquares | GradRequest::PerExample, _) => {
                self.param_node(id).map(|n| &n.grad_sq)
            }
            _ => None,
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

    /// The `[B]` per-example gradient norms ‖g_b‖ of one parameter tensor,
    /// after a [`GradRequest::Norms`] or [`GradRequest::Clipped`] backward
    /// (the norms before clipping).
    pub fn example_norms(&self, id: ParamId) -> Option<&Tensor> {
        match self.last? {
            (r, _) if r.computes_norms() => self.param_node(id).map(|n| &n.norms),
            _ => None,
        }
    }

    /// The `[B]` norms ‖g_b‖ of every example's whole gradient (over all
    /// parameters that reach the loss), after a [`GradRequest::Norms`] or
    /// [`GradRequest::Clipped`] backward (before clipping).
    pub fn total_norms(&self) -> Option<&Tensor> {
        match self.last? {
            (r, _) if r.computes_norms() => Some(&self.total_norms),
            _ => None,
        }
    }

    /// The gradient of a parameter after [`Graph::backward`], to be changed
    /// in place before an optimizer reads it (DP-SGD adds its noise here).
    pub fn grad_mut(&mut self, id: ParamId) -> Option<&mut Tensor> {
        self.last?;
        let v = (*self.param_nodes.get(id.0)?)?;
        let node = &mut self.nodes[v.0];
        node.grad_ready.then_some(&mut node.grad)
    }

    /// The batch size B of the last backward (1 for a scalar loss).
    pub fn batch_size(&self) -> Option<usize> {
        self.last.map(|(_, b)| b)
    }
}

/// A graph being recorded on a [`Tape`], reading parameters from a
/// [`ParamStore`]. Each op has a method (`g.matmul(a, b)`, `g.tanh(x)`, in
/// the op's file) that checks its arguments and calls [`Graph::apply`].
pub struct Graph<'t, 's> {
    pub(crate) tape: &'t mut Tape,
    pub(crate) store: &'s ParamStore,
}

impl<'t, 's> Graph<'t, 's> {
    /// Appends a node, reusing the buffers of the node that had this position
    /// in the previous graph, and returns it with the nodes before it.
    fn next_node(&mut self, kind: Kind, inputs: &[Var]) -> (&mut Node, &mut [Node]) {
        let i = self.tape.len;
        if i == self.tape.nodes.len() {
            self.tape.nodes.push(Node::empty());
        }
        let (before, rest) = self.tape.nodes.split_at_mut(i);
        let node = &mut rest[0];
        node.kind = kind;
        node.inputs.clear();
        node.inputs.extend_from_slice(inputs);
        node.mixed = false;
        node.needs_grad = matches!(kind, Kind::Param(_));
        for v in inputs {
            assert!(
                v.0 < i,
                "a Var from another graph was used (index {} ≥ {i})",
                v.0
            );
            let input = &before[v.0];
            node.mixed |= input.mixed;
            node.needs_grad |= input.needs_grad;
        }
        node.batched = kind == Kind::Input;
        node.grad_ready = false;
        node.stats_ready = false;
        node.norms_ready = false;
        self.tape.len += 1;
        (node, before)
    }

    /// Records `op` applied to `inputs` and returns its output.
    ///
    /// The op's forward runs now; what it declares about the examples of a
    /// batch ([`Op::examples`]) sets whether the output is a batch and
    /// whether it mixes examples.
    ///
    /// # Panics
    /// If `op` has more than [`MAX_INPUTS`] inputs, or an input belongs to
    /// another graph.
    pub fn apply<O: Op>(&mut self, op: O, inputs: &[Var]) -> Var {
        self.apply_with(op, inputs, |_| {})
    }

    /// [`apply`](Graph::apply), with `prepare` first given the op's saved
    /// data: for values of this call only (a batch's labels, a target) that
    /// the op keeps in its reused buffers rather than in a new allocation.
    pub fn apply_with<O: Op>(
        &mut self,
        op: O,
        inputs: &[Var],
        prepare: impl FnOnce(&mut O::Saved),
    ) -> Var {
        assert!(
            inputs.len() <= MAX_INPUTS,
            "{}: {} inputs, but an op takes at most {MAX_INPUTS}",
            op.name(),
            inputs.len()
        );
        let store = self.store;
        let (node, before) = self.next_node(Kind::Op, inputs);
        let mut batched = [false; MAX_INPUTS];
        for (b, v) in batched.iter_mut().zip(inputs) {
            *b = before[v.0].batched;
        }
        let examples: Examples = op.examples(&batched[..inputs.len()]);
        node.batched = examples.batched;
        node.mixed |= examples.mixes;
        let entry = recorded::entry(&mut node.op, op);
        prepare(&mut entry.saved);
        let x = values(before, store, inputs);
        entry
            .op
            .forward(&x[..inputs.len()], &mut node.value, &mut entry.saved);
        Var(self.tape.len - 1)
    }

    /// The value of any node of this graph (parameters included).
    pub fn value(&self, v: Var) -> &Tensor {
        value(&self.tape.nodes[..self.tape.len], self.store, v)
    }

    /// Whether axis 0 of `v`'s value indexes the examples of the batch.
    pub fn is_batch(&self, v: Var) -> bool {
        self.tape.nodes[..self.tape.len][v.0].batched
    }

    /// A batch of examples (axis 0 indexes them), copied into the tape.
    pub fn input(&mut self, x: &Tensor) -> Var {
        self.input_with(|buf| buf.assign(x))
    }

    /// A batch of examples written directly into the tape's buffer by `fill`
    /// (which must size it), saving a copy.
    pub fn input_with(&mut self, fill: impl FnOnce(&mut Tensor)) -> Var {
        let (node, _) = self.next_node(Kind::Input, &[]);
        fill(&mut node.value);
        Var(self.tape.len - 1)
    }

    /// A value that is not differentiated and belongs to no example.
    pub fn constant(&mut self, x: &Tensor) -> Var {
        let (node, _) = self.next_node(Kind::Constant, &[]);
        node.value.assign(x);
        Var(self.tape.len - 1)
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
        self.next_node(Kind::Param(id), &[]);
        let v = Var(self.tape.len - 1);
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
    match nodes[v.0].kind {
        Kind::Param(id) => store.get(id),
        _ => &nodes[v.0].value,
    }
}

/// The values of `inputs`, in a fixed-size array (the first `inputs.len()`
/// entries; the rest are an empty tensor and are not read).
pub(crate) fn values<'a>(
    nodes: &'a [Node],
    store: &'a ParamStore,
    inputs: &[Var],
) -> [&'a Tensor; MAX_INPUTS] {
    static NONE: Tensor = Tensor::EMPTY;
    let mut x = [&NONE; MAX_INPUTS];
    for (x, &v) in x.iter_mut().zip(inputs) {
        *x = value(nodes, store, v);
    }
    x
}
