//! The tape printed: one line per node.

use std::fmt;

use crate::tape::{Kind, Tape};

impl fmt::Debug for Tape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tape")
            .field("nodes", &self.describe())
            .field("last", &self.last)
            .finish()
    }
}

impl Tape {
    /// One line per node of the current graph: index, op, inputs, shape.
    pub fn describe(&self) -> Vec<String> {
        self.nodes[..self.len]
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let inputs: Vec<String> = n.inputs.iter().map(|v| format!("%{}", v.0)).collect();
                let flags = match (n.batched, n.mixed) {
                    (_, true) => "  mixes examples",
                    (true, false) => "  per example",
                    (false, false) => "",
                };
                format!(
                    "%{i:<3} = {:<24} {:<10} {}{flags}",
                    n.name(),
                    inputs.join(", "),
                    if matches!(n.kind, Kind::Param(_)) {
                        String::new()
                    } else {
                        format!("{:?}", n.value.shape())
                    }
                )
            })
            .collect()
    }
}
