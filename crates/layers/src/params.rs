//! Adding a layer's parameters to the store, all or none.

use gradlab_autodiff::{ParamId, ParamStore};
use gradlab_tensor::Tensor;

use crate::LayerError;

/// Adds `tensors` to `store` as `{name}.{suffix}`, in order. A name the
/// store holds already is an error, and then nothing is added.
pub(crate) fn add_params(
    store: &mut ParamStore,
    layer: &'static str,
    name: &str,
    tensors: Vec<(&str, Tensor)>,
) -> Result<Vec<ParamId>, LayerError> {
    let named: Vec<(String, Tensor)> = tensors
        .into_iter()
        .map(|(suffix, t)| (format!("{name}.{suffix}"), t))
        .collect();
    if let Some((taken, _)) = named.iter().find(|(n, _)| store.find(n).is_some()) {
        return Err(LayerError::Name {
            layer,
            name: name.to_string(),
            param: taken.clone(),
        });
    }
    Ok(named.into_iter().map(|(n, t)| store.add(n, t)).collect())
}
