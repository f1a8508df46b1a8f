//! A layer's learned tensors as plain row-major `f32` arrays.

use crate::engine::ops::Layer;
use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::Tensor;

pub use super::tensor::NamedTensor;

impl NamedTensor {
    /// A tensor from a Burn tensor.
    pub fn of<const D: usize>(name: &str, t: &Tensor<D>) -> NamedTensor {
        let dims = t.dims().to_vec();
        let data = t.to_data().iter::<f32>().collect();
        NamedTensor {
            name: name.to_owned(),
            dims,
            data,
        }
    }
}

/// Every learned tensor of `layer` by Burn's field path (`weight`, `bias`, `query.weight`, …),
/// in the order the module declares them. Running statistics (batch norm) are not parameters
/// and are read by the kinds that have them.
pub fn burn_tensors(layer: &Layer) -> Vec<NamedTensor> {
    struct Collect {
        path: Vec<String>,
        out: Vec<NamedTensor>,
    }
    impl ModuleVisitor for Collect {
        fn enter_module(&mut self, name: &str, container_type: &str) {
            // The enum's variant is not part of a field path.
            if !container_type.starts_with("Enum:") {
                self.path.push(name.to_owned());
            } else {
                self.path.push(String::new());
            }
        }
        fn exit_module(&mut self, _: &str, _: &str) {
            self.path.pop();
        }
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let name = self
                .path
                .iter()
                .filter(|p| !p.is_empty())
                .cloned()
                .collect::<Vec<_>>()
                .join(".");
            self.out.push(NamedTensor::of(&name, &param.val()));
        }
    }
    let mut c = Collect {
        path: Vec::new(),
        out: Vec::new(),
    };
    layer.visit(&mut c);
    c.out
}

/// `layer` with its learned tensors replaced by `tensors` (matched by Burn field path; batch
/// norm's `running_mean` and `running_var` too). Returns the layer and the paths the layer has
/// but `tensors` lacks or gives with the wrong size.
pub fn assign(layer: Layer, tensors: &[NamedTensor]) -> (Layer, Vec<String>) {
    use burn::module::ModuleMapper;
    use burn::tensor::TensorData;
    struct Assign<'a> {
        path: Vec<String>,
        tensors: &'a [NamedTensor],
        missing: Vec<String>,
    }
    impl ModuleMapper for Assign<'_> {
        fn enter_module(&mut self, name: &str, container_type: &str) {
            self.path.push(if container_type.starts_with("Enum:") {
                String::new()
            } else {
                name.to_owned()
            });
        }
        fn exit_module(&mut self, _: &str, _: &str) {
            self.path.pop();
        }
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            let name = self
                .path
                .iter()
                .filter(|p| !p.is_empty())
                .cloned()
                .collect::<Vec<_>>()
                .join(".");
            let Some(t) = self.tensors.iter().find(|t| t.name == name) else {
                self.missing.push(name);
                return param;
            };
            let missing = &mut self.missing;
            param.map(|old| {
                let dims = old.dims();
                if t.data.len() != dims.iter().product::<usize>() || t.dims.iter().product::<usize>() != t.data.len() {
                    missing.push(format!("{name} (the file has {:?}, the layer needs {dims:?})", t.dims));
                    return old;
                }
                Tensor::from_data(TensorData::new(t.data.clone(), dims.to_vec()), &old.device())
            })
        }
    }
    let mut m = Assign {
        path: Vec::new(),
        tensors,
        missing: Vec::new(),
    };
    let mut layer = layer.map(&mut m);
    if let Layer::BatchNorm(bn) = &mut layer {
        for (name, state) in [
            ("running_mean", &mut bn.running_mean),
            ("running_var", &mut bn.running_var),
        ] {
            if let Some(t) = tensors.iter().find(|t| t.name == name) {
                let old = state.value();
                if t.data.len() == old.dims()[0] {
                    *state = burn::module::RunningState::new(Tensor::from_data(
                        TensorData::new(t.data.clone(), [t.data.len()]),
                        &old.device(),
                    ));
                }
            }
        }
    }
    (layer, m.missing)
}
