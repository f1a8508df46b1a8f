//! Reading and writing `.safetensors` files (the format PyTorch, JAX and Hugging Face share).

use super::tensor::NamedTensor;
use ::safetensors::tensor::{Dtype, SafeTensors, TensorView};
use std::collections::HashMap;
use std::path::Path;

/// A tensor of integers (token ids, labels) to store beside float tensors.
#[derive(Clone, Debug, PartialEq)]
pub struct IntTensor {
    /// Name.
    pub name: String,
    /// Shape.
    pub dims: Vec<usize>,
    /// Row-major values.
    pub data: Vec<i64>,
}

/// Writes float tensors (as F32) and integer tensors (as I64) to `path`, atomically. `meta`
/// goes into the header's `__metadata__`.
pub fn write(path: &Path, floats: &[NamedTensor], ints: &[IntTensor], meta: &[(&str, String)]) -> Result<(), String> {
    let bytes = to_bytes(floats, ints, meta)?;
    crate::doc::write_atomic(path, &bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// The bytes of a `.safetensors` file holding these tensors.
pub fn to_bytes(floats: &[NamedTensor], ints: &[IntTensor], meta: &[(&str, String)]) -> Result<Vec<u8>, String> {
    let mut names = std::collections::HashSet::new();
    let mut buffers: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = Vec::new();
    let sized = |name: &str, dims: &[usize], n: usize| {
        if dims.iter().product::<usize>() == n {
            Ok(())
        } else {
            Err(format!("tensor {name}: {dims:?} does not hold {n} values"))
        }
    };
    for t in floats {
        sized(&t.name, &t.dims, t.data.len())?;
        buffers.push((
            t.name.clone(),
            Dtype::F32,
            t.dims.clone(),
            t.data.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ));
    }
    for t in ints {
        sized(&t.name, &t.dims, t.data.len())?;
        buffers.push((
            t.name.clone(),
            Dtype::I64,
            t.dims.clone(),
            t.data.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ));
    }
    for (name, ..) in &buffers {
        if !names.insert(name.clone()) {
            return Err(format!("two tensors are named {name}"));
        }
    }
    let views: Result<Vec<(String, TensorView)>, String> = buffers
        .iter()
        .map(|(n, d, dims, b)| {
            TensorView::new(*d, dims.clone(), b)
                .map(|v| (n.clone(), v))
                .map_err(|e| format!("tensor {n}: {e}"))
        })
        .collect();
    let info: HashMap<String, String> = meta.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect();
    ::safetensors::serialize(views?, if info.is_empty() { None } else { Some(info) }).map_err(|e| e.to_string())
}

/// What a `.safetensors` file holds: float tensors (F32, F16, BF16, F64 read as `f32`) and
/// integer tensors (I64, I32), each in file order by name.
#[derive(Debug, Default)]
pub struct Contents {
    /// Float tensors.
    pub floats: Vec<NamedTensor>,
    /// Integer tensors.
    pub ints: Vec<IntTensor>,
}

/// Reads a `.safetensors` file; errors name the file and what is wrong with it.
pub fn read(path: &Path) -> Result<Contents, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    from_bytes(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

/// Parses the bytes of a `.safetensors` file.
pub fn from_bytes(bytes: &[u8]) -> Result<Contents, String> {
    let st = SafeTensors::deserialize(bytes).map_err(|e| format!("not a safetensors file ({e})"))?;
    let mut out = Contents::default();
    let mut tensors = st.tensors();
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, view) in tensors {
        let dims = view.shape().to_vec();
        let data = view.data();
        match view.dtype() {
            Dtype::F32 => out.floats.push(NamedTensor {
                name,
                dims,
                data: data
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect(),
            }),
            Dtype::F64 => out.floats.push(NamedTensor {
                name,
                dims,
                data: data
                    .chunks_exact(8)
                    .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) as f32)
                    .collect(),
            }),
            Dtype::F16 | Dtype::BF16 => {
                let bf = view.dtype() == Dtype::BF16;
                out.floats.push(NamedTensor {
                    name,
                    dims,
                    data: data
                        .chunks_exact(2)
                        .map(|c| {
                            let h = u16::from_le_bytes([c[0], c[1]]);
                            if bf {
                                f32::from_bits(u32::from(h) << 16)
                            } else {
                                f16_to_f32(h)
                            }
                        })
                        .collect(),
                })
            }
            Dtype::I64 => out.ints.push(IntTensor {
                name,
                dims,
                data: data
                    .chunks_exact(8)
                    .map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
                    .collect(),
            }),
            Dtype::I32 => out.ints.push(IntTensor {
                name,
                dims,
                data: data
                    .chunks_exact(4)
                    .map(|c| i64::from(i32::from_le_bytes([c[0], c[1], c[2], c[3]])))
                    .collect(),
            }),
            other => {
                return Err(format!(
                    "tensor {name} has element type {other:?}, which Strata does not read"
                ));
            }
        }
    }
    Ok(out)
}

/// IEEE half to single precision.
fn f16_to_f32(h: u16) -> f32 {
    let sign = u32::from(h >> 15) << 31;
    let exp = (h >> 10) & 0x1f;
    let frac = u32::from(h & 0x3ff);
    let bits = match exp {
        0 if frac == 0 => sign,
        0 => {
            // Subnormal: normalise.
            let mut e = -14i32;
            let mut f = frac;
            while f & 0x400 == 0 {
                f <<= 1;
                e -= 1;
            }
            sign | (((e + 127) as u32) << 23) | ((f & 0x3ff) << 13)
        }
        0x1f => sign | 0x7f80_0000 | (frac << 13),
        e => sign | ((u32::from(e) + 112) << 23) | (frac << 13),
    };
    f32::from_bits(bits)
}
