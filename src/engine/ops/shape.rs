//! Shape operations and element-wise arithmetic.

use super::{Layer, OpSpec, StepParams, Value, one, stateless};
use burn::tensor::Tensor;

fn flatten_fwd(p: &StepParams, _: Option<&Layer>, inputs: Vec<Value>) -> Result<Vec<Value>, String> {
    let x = one(inputs)?;
    let dims = x.dims();
    let r = dims.len() as i64;
    let norm = |d: i64| if d < 0 { d + r } else { d };
    let (s, e) = (norm(p.int("start_dim")), norm(p.int("end_dim")));
    if s < 0 || e >= r || e < s {
        return Err(format!("cannot flatten dims {s}..={e} of {}", x.describe()));
    }
    let (s, e) = (s as usize, e as usize);
    let mut out: Vec<usize> = dims[..s].to_vec();
    out.push(dims[s..=e].iter().product());
    out.extend_from_slice(&dims[e + 1..]);
    Ok(vec![x.reshape(&out)?])
}

macro_rules! elementwise {
    ($name:ident, $op:ident) => {
        fn $name(_: &StepParams, _: Option<&Layer>, inputs: Vec<Value>) -> Result<Vec<Value>, String> {
            let mut it = inputs.into_iter();
            let mut acc = it.next().ok_or("missing input")?;
            for v in it {
                acc = match (acc, v) {
                    (Value::F1(a), Value::F1(b)) => Value::F1(a.$op(b)),
                    (Value::F2(a), Value::F2(b)) => Value::F2(a.$op(b)),
                    (Value::F3(a), Value::F3(b)) => Value::F3(a.$op(b)),
                    (Value::F4(a), Value::F4(b)) => Value::F4(a.$op(b)),
                    (Value::F4(a), Value::F2(b)) => {
                        let [n, c] = b.dims();
                        Value::F4(a.$op(b.reshape([n, c, 1, 1])))
                    }
                    (a, b) => return Err(format!("cannot combine {} and {}", a.describe(), b.describe())),
                };
            }
            Ok(vec![acc])
        }
    };
}

elementwise!(add_fwd, add);
elementwise!(mul_fwd, mul);

fn concat_fwd(p: &StepParams, _: Option<&Layer>, inputs: Vec<Value>) -> Result<Vec<Value>, String> {
    let first = inputs.first().ok_or("missing input")?;
    let r = first.dims().len() as i64;
    let dim = p.int("dim");
    let dim = if dim < 0 { dim + r } else { dim } as usize;
    macro_rules! cat {
        ($variant:ident) => {{
            let ts: Result<Vec<_>, String> = inputs
                .into_iter()
                .map(|v| match v {
                    Value::$variant(t) => Ok(t),
                    other => Err(format!("cannot concatenate {}", other.describe())),
                })
                .collect();
            Value::$variant(Tensor::cat(ts?, dim))
        }};
    }
    Ok(vec![match first {
        Value::F2(_) => cat!(F2),
        Value::F3(_) => cat!(F3),
        Value::F4(_) => cat!(F4),
        other => return Err(format!("cannot concatenate {}", other.describe())),
    }])
}

fn mean_fwd(p: &StepParams, _: Option<&Layer>, inputs: Vec<Value>) -> Result<Vec<Value>, String> {
    let x = one(inputs)?;
    let dims = x.dims();
    let r = dims.len() as i64;
    let d = p.int("dim");
    let d = if d < 0 { d + r } else { d } as usize;
    let mut out = dims.clone();
    if p.bool("keepdim") {
        out[d] = 1;
    } else {
        out.remove(d);
    }
    let m = crate::map_float!(x, t => t.mean_dim(d))?;
    Ok(vec![m.reshape(&out)?])
}

/// Ops of this family.
pub const OPS: &[OpSpec] = &[
    OpSpec {
        kind: "flatten",
        build: stateless,
        forward: flatten_fwd,
    },
    OpSpec {
        kind: "add",
        build: stateless,
        forward: add_fwd,
    },
    OpSpec {
        kind: "multiply",
        build: stateless,
        forward: mul_fwd,
    },
    OpSpec {
        kind: "concat",
        build: stateless,
        forward: concat_fwd,
    },
    OpSpec {
        kind: "mean",
        build: stateless,
        forward: mean_fwd,
    },
];
