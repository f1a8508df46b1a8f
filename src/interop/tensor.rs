//! A named tensor of plain `f32` values: what exporters, importers and weight files pass around
//! (no Burn here, so the ONNX and safetensors readers build without the engine).

/// One tensor: its name (PyTorch's once an exporter renamed it), shape and values.
#[derive(Clone, Debug, PartialEq)]
pub struct NamedTensor {
    /// Name.
    pub name: String,
    /// Shape.
    pub dims: Vec<usize>,
    /// Row-major values.
    pub data: Vec<f32>,
}

impl NamedTensor {
    /// The same values as a 2-D matrix transposed (`[a, b]` → `[b, a]`); other ranks unchanged.
    pub fn transposed(mut self) -> NamedTensor {
        if let [a, b] = self.dims[..] {
            let mut out = vec![0.0; self.data.len()];
            for i in 0..a {
                for j in 0..b {
                    out[j * a + i] = self.data[i * b + j];
                }
            }
            self.data = out;
            self.dims = vec![b, a];
        }
        self
    }

    /// Renamed.
    pub fn named(mut self, name: &str) -> NamedTensor {
        name.clone_into(&mut self.name);
        self
    }

    /// Reshaped (same number of values).
    pub fn reshaped(mut self, dims: &[usize]) -> NamedTensor {
        if dims.iter().product::<usize>() == self.data.len() {
            self.dims = dims.to_vec();
        }
        self
    }
}
