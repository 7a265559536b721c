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

use crate::context::{Backward, Grad, Input, ParamStats, Pass, MAX_INPUTS};
use crate::op::{Examples, Op};
use crate::params::{ParamId, ParamStore};
use crate::recorded::{self, Entry, Recorded};
use crate::request::GradRequest;

/// A handle to a node of the current graph: a plain index, `Copy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Var(pub(crate) usize);

impl Var {
    /// The node's position on the tape.
    pub fn index(self) -> usize {
        self.0
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

/// One entry of the tape. Buffers are kept when the tape is reset; the
/// node's gradient lives beside it, in [`Tape`]'s `grads`.
pub(crate) struct Node {
    pub(crate) kind: Kind,
    /// The op of the last graph that recorded one here (current when `kind`
    /// is `Op`).
    pub(crate) op: Option<Box<dyn Recorded>>,
    pub(crate) inputs: Vec<Var>,
    /// The forward value (empty for parameters: they live in the store).
    pub(crate) value: Tensor,
    /// Axis 0 of the value indexes the examples of the batch.
    pub(crate) batched: bool,
    /// The value depends on more than one example.
    pub(crate) mixed: bool,
    /// Some parameter is upstream: the backward pass must visit this node.
    pub(crate) needs_grad: bool,
}

impl Node {
    fn empty() -> Node {
        Node {
            kind: Kind::Constant,
            op: None,
            inputs: Vec::new(),
            value: Tensor::default(),
            batched: false,
            mixed: false,
            needs_grad: false,
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
    /// ∂L/∂value of each node, beside it.
    pub(crate) grads: Vec<Grad>,
    /// Nodes of the current graph: `nodes[..len]`.
    pub(crate) len: usize,
    /// The node of each parameter in the current graph, by `ParamId`.
    pub(crate) param_nodes: Vec<Option<Var>>,
    /// Each parameter's per-example statistics, by `ParamId`.
    pub(crate) params: Vec<ParamStats>,
    /// What the last successful backward computed, and for how many examples.
    pub(crate) last: Option<(GradRequest, usize)>,
    /// ‖g_b‖ over every parameter, after a request for norms.
    pub(crate) total_norms: Tensor,
    /// Working memory of the clipped request: a node's gradient with its
    /// rows scaled, and the factors c_b.
    pub(crate) clip_buffers: (Tensor, Tensor),
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
            self.params.resize_with(store.len(), ParamStats::default);
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

    /// The gradient slot of parameter `id`, if it reached the loss.
    fn param_grad(&self, id: ParamId) -> Option<&Grad> {
        let v = (*self.param_nodes.get(id.0)?)?;
        let grad = &self.grads[v.0];
        grad.ready.then_some(grad)
    }

    /// ĝ = (1/B) Σ_b g_b for a parameter after [`Graph::backward`], or `None`
    /// if the parameter did not reach the loss.
    pub fn grad(&self, id: ParamId) -> Option<&Tensor> {
        self.last?;
        self.param_grad(id).map(|g| &g.tensor)
    }

    /// (1/B) Σ_b g_b² for a parameter, after a `MeanAndSquares` or
    /// `PerExample` backward.
    pub fn grad_sq(&self, id: ParamId) -> Option<&Tensor> {
        let (request, _) = self.last?;
        self.param_grad(id)?;
        request
            .computes_squares()
            .then(|| &self.params[id.0].grad_sq)
    }

    /// The `[B, …]` per-example gradients g_b of a parameter, after a
    /// `PerExample` backward.
    pub fn per_example(&self, id: ParamId) -> Option<&Tensor> {
        let (request, _) = self.last?;
        self.param_grad(id)?;
        (request == GradRequest::PerExample).then(|| &self.params[id.0].per_example)
    }

    /// The `[B]` per-example gradient norms ‖g_b‖ of one parameter tensor,
    /// after a [`GradRequest::Norms`] or [`GradRequest::Clipped`] backward
    /// (the norms before clipping).
    pub fn example_norms(&self, id: ParamId) -> Option<&Tensor> {
        let (request, _) = self.last?;
        self.param_grad(id)?;
        request.computes_norms().then(|| &self.params[id.0].norms)
    }

    /// The `[B]` norms ‖g_b‖ of every example's whole gradient (over all
    /// parameters that reach the loss), after a [`GradRequest::Norms`] or
    /// [`GradRequest::Clipped`] backward (before clipping).
    pub fn total_norms(&self) -> Option<&Tensor> {
        let (request, _) = self.last?;
        request.computes_norms().then_some(&self.total_norms)
    }

    /// The gradient of a parameter after [`Graph::backward`], to be changed
    /// in place before an optimizer reads it (DP-SGD adds its noise here).
    pub fn grad_mut(&mut self, id: ParamId) -> Option<&mut Tensor> {
        self.last?;
        let v = (*self.param_nodes.get(id.0)?)?;
        let grad = &mut self.grads[v.0];
        grad.ready.then_some(&mut grad.tensor)
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
            self.tape.grads.push(Grad::default());
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
        self.tape.grads[i].ready = false;
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

    /// Node `v`'s op and what it saved in its forward pass, if `v` is an
    /// op of type `O` recorded by this graph.
    pub(crate) fn recorded<O: Op>(&mut self, v: Var) -> Option<(&O, &O::Saved)> {
        let node = self.tape.nodes[..self.tape.len].get_mut(v.0)?;
        if node.kind != Kind::Op {
            return None;
        }
        let entry = node.op.as_mut()?.as_any().downcast_mut::<Entry<O>>()?;
        Some((&entry.op, &entry.saved))
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

/// Runs the backward of op node `i` in `pass`, from its gradient or, if
/// given, from clipping's row-scaled gradient and its factors: the op
/// receives its inputs' values and writes their gradients (and a
/// parameter's statistics) through a [`Backward`].
pub(crate) fn differentiate(
    tape: &mut Tape,
    store: &ParamStore,
    i: usize,
    (request, batch, pass): (GradRequest, usize, Pass),
    clipped: Option<(&Tensor, &[f32])>,
) {
    let (before, rest) = tape.nodes[..tape.len].split_at_mut(i);
    let node = &mut rest[0];
    let (grads, own) = tape.grads.split_at_mut(i);
    let mut inputs = [Input::default(); MAX_INPUTS];
    for (input, v) in inputs.iter_mut().zip(&node.inputs) {
        let n = &before[v.0];
        let param = match n.kind {
            Kind::Param(id) => Some(id.0),
            _ => None,
        };
        *input = Input {
            node: v.0,
            param,
            needed: n.needs_grad,
            batched: n.batched,
        };
        // Each input of an op that reaches the loss is a use (`x ⊙ x` uses
        // x twice): a parameter used more than once has per-example
        // gradients that are sums of several ops' contributions.
        if let (Some(id), Pass::Walk) = (param, pass) {
            tape.params[id].uses += 1;
        }
    }
    let x = values(before, store, &node.inputs);
    let mut cx = Backward {
        x: &x[..node.inputs.len()],
        y: &node.value,
        dy: clipped.map_or(&own[0].tensor, |(dy, _)| dy),
        grads,
        params: &mut tape.params,
        inputs,
        request,
        batch,
        pass,
        factors: clipped.map(|(_, c)| c),
    };
    let op = node.op.as_mut().expect("an op node holds its op");
    op.backward(&mut cx);
}
