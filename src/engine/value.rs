//! Values carried between nodes at run time: a tensor of rank 1–4, float or integer.

use burn::tensor::{Int, Tensor};

/// A tensor flowing along a wire.
#[derive(Clone, Debug)]
pub enum Value {
    /// Float, rank 1.
    F1(Tensor<1>),
    /// Float, rank 2.
    F2(Tensor<2>),
    /// Float, rank 3.
    F3(Tensor<3>),
    /// Float, rank 4.
    F4(Tensor<4>),
    /// Integer, rank 1 (labels, timesteps).
    I1(Tensor<1, Int>),
    /// Integer, rank 2 (token ids).
    I2(Tensor<2, Int>),
}

/// Applies a rank-generic float expression to a value, keeping its rank.
#[macro_export]
macro_rules! map_float {
    ($v:expr, $t:ident => $e:expr) => {
        match $v {
            $crate::engine::Value::F1($t) => Ok($crate::engine::Value::F1($e)),
            $crate::engine::Value::F2($t) => Ok($crate::engine::Value::F2($e)),
            $crate::engine::Value::F3($t) => Ok($crate::engine::Value::F3($e)),
            $crate::engine::Value::F4($t) => Ok($crate::engine::Value::F4($e)),
            other => Err(format!("expected a float tensor, got {}", other.describe())),
        }
    };
}

impl Value {
    /// The same value cut from the autodiff graph (no gradient flows back through it).
    pub fn detach(self) -> Value {
        match self {
            Value::F1(t) => Value::F1(t.detach()),
            Value::F2(t) => Value::F2(t.detach()),
            Value::F3(t) => Value::F3(t.detach()),
            Value::F4(t) => Value::F4(t.detach()),
            other => other,
        }
    }

    /// A float value's elements, row-major (`None` for integer values).
    pub fn to_f32s(&self) -> Option<Vec<f32>> {
        let data = match self.clone() {
            Value::F1(t) => t.into_data(),
            Value::F2(t) => t.into_data(),
            Value::F3(t) => t.into_data(),
            Value::F4(t) => t.into_data(),
            Value::I1(_) | Value::I2(_) => return None,
        };
        Some(data.iter::<f32>().collect())
    }

    /// Shape as a vector.
    pub fn dims(&self) -> Vec<usize> {
        match self {
            Value::F1(t) => t.dims().to_vec(),
            Value::F2(t) => t.dims().to_vec(),
            Value::F3(t) => t.dims().to_vec(),
            Value::F4(t) => t.dims().to_vec(),
            Value::I1(t) => t.dims().to_vec(),
            Value::I2(t) => t.dims().to_vec(),
        }
    }

    /// "float[32, 10]" for messages.
    pub fn describe(&self) -> String {
        let kind = match self {
            Value::I1(_) | Value::I2(_) => "int",
            _ => "float",
        };
        format!("{kind}{:?}", self.dims())
    }

    /// The value as a rank-2 float tensor.
    pub fn f2(self) -> Result<Tensor<2>, String> {
        match self {
            Value::F2(t) => Ok(t),
            other => Err(format!("expected a float [N, F] tensor, got {}", other.describe())),
        }
    }

    /// The value as a rank-3 float tensor.
    pub fn f3(self) -> Result<Tensor<3>, String> {
        match self {
            Value::F3(t) => Ok(t),
            other => Err(format!("expected a float [B, T, D] tensor, got {}", other.describe())),
        }
    }

    /// The value as a rank-4 float tensor.
    pub fn f4(self) -> Result<Tensor<4>, String> {
        match self {
            Value::F4(t) => Ok(t),
            other => Err(format!(
                "expected a float [B, C, H, W] tensor, got {}",
                other.describe()
            )),
        }
    }

    /// Any float value reshaped to `dims` (rank 1–4).
    pub fn reshape(self, dims: &[usize]) -> Result<Value, String> {
        macro_rules! to {
            ($t:expr) => {
                match dims.len() {
                    1 => Ok(Value::F1($t.reshape([dims[0]]))),
                    2 => Ok(Value::F2($t.reshape([dims[0], dims[1]]))),
                    3 => Ok(Value::F3($t.reshape([dims[0], dims[1], dims[2]]))),
                    4 => Ok(Value::F4($t.reshape([dims[0], dims[1], dims[2], dims[3]]))),
                    r => Err(format!("rank {r} tensors are not supported by the engine yet")),
                }
            };
        }
        match self {
            Value::F1(t) => to!(t),
            Value::F2(t) => to!(t),
            Value::F3(t) => to!(t),
            Value::F4(t) => to!(t),
            other => Err(format!("cannot reshape {}", other.describe())),
        }
    }

    /// Mean absolute value as a one-element tensor, detached from autodiff (`None` for ints).
    pub fn mean_abs(&self) -> Option<Tensor<1>> {
        Some(match self {
            Value::F1(t) => crate::engine::kernels::mean_abs(t.clone()),
            Value::F2(t) => crate::engine::kernels::mean_abs(t.clone()),
            Value::F3(t) => crate::engine::kernels::mean_abs(t.clone()),
            Value::F4(t) => crate::engine::kernels::mean_abs(t.clone()),
            _ => return None,
        })
    }

    /// True when any element is NaN or infinite (reads the value back; call off the hot path).
    pub fn non_finite(&self) -> bool {
        let data = match self {
            Value::F1(t) => t.clone().into_data(),
            Value::F2(t) => t.clone().into_data(),
            Value::F3(t) => t.clone().into_data(),
            Value::F4(t) => t.clone().into_data(),
            _ => return false,
        };
        data.iter::<f32>().any(|v| !v.is_finite())
    }
}
