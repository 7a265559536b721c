//! The parameter store: named tensors with stable ids.
//!
//! Models hold [`ParamId`]s, not tensors. That lets a [`Graph`](crate::Graph)
//! borrow the store to read weights while an optimizer, later, borrows it
//! mutably to update them, and it gives optimizer state a stable key.

use gradlab_tensor::Tensor;

/// The stable id of a parameter in a [`ParamStore`]: its index, in the order
/// parameters were added.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ParamId(pub usize);

/// Named parameter tensors, in insertion order.
#[derive(Clone, Debug, Default)]
pub struct ParamStore {
    names: Vec<String>,
    values: Vec<Tensor>,
}

impl ParamStore {
    /// An empty store.
    pub fn new() -> ParamStore {
        ParamStore::default()
    }

    /// Adds a parameter and returns its id.
    ///
    /// # Panics
    /// If a parameter of that name exists already.
    pub fn add(&mut self, name: impl Into<String>, value: Tensor) -> ParamId {
        let name = name.into();
        assert!(
            self.find(&name).is_none(),
            "ParamStore::add: a parameter named {name:?} exists already"
        );
        self.names.push(name);
        self.values.push(value);
        ParamId(self.values.len() - 1)
    }

    /// The value of a parameter.
    pub fn get(&self, id: ParamId) -> &Tensor {
        &self.values[id.0]
    }

    /// The value of a parameter, mutably.
    pub fn get_mut(&mut self, id: ParamId) -> &mut Tensor {
        &mut self.values[id.0]
    }

    /// The name of a parameter.
    pub fn name(&self, id: ParamId) -> &str {
        &self.names[id.0]
    }

    /// The id of the parameter called `name`.
    pub fn find(&self, name: &str) -> Option<ParamId> {
        self.names.iter().position(|n| n == name).map(ParamId)
    }

    /// Number of parameter tensors.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether the store holds no parameter.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Total number of scalar parameters.
    pub fn num_scalars(&self) -> usize {
        self.values.iter().map(Tensor::len).sum()
    }

    /// All ids, in insertion order.
    pub fn ids(&self) -> impl Iterator<Item = ParamId> {
        (0..self.values.len()).map(ParamId)
    }

    /// `(id, name, value)` for every parameter.
    pub fn iter(&self) -> impl Iterator<Item = (ParamId, &str, &Tensor)> {
        self.names
            .iter()
            .zip(&self.values)
            .enumerate()
            .map(|(i, (n, v))| (ParamId(i), n.as_str(), v))
    }

    /// `(id, value)` for every parameter, mutably.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (ParamId, &mut Tensor)> {
        self.values
            .iter_mut()
            .enumerate()
            .map(|(i, v)| (ParamId(i), v))
    }
}
