//! How a node keeps its op: with the op's type erased, so that one tape
//! holds any op, and reused, so that a graph recording the same op at the
//! same position as the previous one allocates nothing for it.

use std::any::Any;

use crate::context::Backward;
use crate::op::Op;

/// An op and what its forward saved, with the op's type erased so that one
/// tape holds any op. A node keeps its entry when the tape is reset: the
/// next graph recording an op of the same type there reuses it.
pub(crate) struct Entry<O: Op> {
    pub(crate) op: O,
    pub(crate) saved: O::Saved,
}

/// The object-safe face of an [`Entry`].
pub(crate) trait Recorded: Send + Sync {
    fn name(&self) -> String;
    fn backward(&mut self, cx: &mut Backward);
    fn as_any(&mut self) -> &mut dyn Any;
}

impl<O: Op> Recorded for Entry<O> {
    fn name(&self) -> String {
        self.op.name()
    }

    fn backward(&mut self, cx: &mut Backward) {
        self.op.backward(cx, &mut self.saved);
    }

    fn as_any(&mut self) -> &mut dyn Any {
        self
    }
}

/// The entry of `slot` for an op of type `O`, now holding `op`: the entry
/// already there (its saved buffers kept) if it holds an `O`, else a new one.
pub(crate) fn entry<O: Op>(slot: &mut Option<Box<dyn Recorded>>, op: O) -> &mut Entry<O> {
    let reusable = slot.as_mut().is_some_and(|e| e.as_any().is::<Entry<O>>());
    if !reusable {
        *slot = Some(Box::new(Entry {
            op,
            saved: O::Saved::default(),
        }));
    } else if let Some(e) = slot
        .as_mut()
        .and_then(|e| e.as_any().downcast_mut::<Entry<O>>())
    {
        e.op = op;
    }
    slot.as_mut()
        .and_then(|e| e.as_any().downcast_mut::<Entry<O>>())
        .expect("the slot holds an entry of this op")
}
