//! Shape operations and element-wise arithmetic.

use super::{Decode, Layer, OpSpec, StepParams, Value, one, stateless};
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
    ($name:ident, $op:path) => {
        fn $name(_: &StepParams, _: Option<&Layer>, inputs: Vec<Value>) -> Result<Vec<Value>, String> {
            let mut it = inputs.into_iter();
            let mut acc = it.next().ok_or("missing input")?;
            for v in it {
                acc = match (acc, v) {
                    (Value::F1(a), Value::F1(b)) => Value::F1($op(a, b)),
                    (Value::F2(a), Value::F2(b)) => Value::F2($op(a, b)),
                    (Value::F3(a), Value::F3(b)) => Value::F3($op(a, b)),
                    (Value::F4(a), Value::F4(b)) => Value::F4($op(a, b)),
                    (Value::F4(a), Value::F2(b)) => {
                        let [n, c] = b.dims();
                        Value::F4($op(a, b.reshape([n, c, 1, 1])))
                    }
                    (a, b) => return Err(format!("cannot combine {} and {}", a.describe(), b.describe())),
                };
            }
            Ok(vec![acc])
        }
    };
}

/// `a · b`, broadcasting as Burn does.
fn mul<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> Tensor<D> {
    a * b
}

// Addition through Strata's kernel (residual connections: one parallel pass on the CPU).
elementwise!(add_fwd, crate::engine::kernels::add);
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
        decode: Decode::Never,
    },
    OpSpec {
        kind: "add",
        build: stateless,
        forward: add_fwd,
        decode: Decode::Alone,
    },
    OpSpec {
        kind: "multiply",
        build: stateless,
        forward: mul_fwd,
        decode: Decode::Alone,
    },
    OpSpec {
        kind: "concat",
        build: stateless,
        forward: concat_fwd,
        decode: Decode::Never,
    },
    OpSpec {
        kind: "mean",
        build: stateless,
        forward: mean_fwd,
        decode: Decode::Never,
    },
];

/// Applies `$e` to a float value of any rank 2–4, binding the tensor to `$t`.
macro_rules! any_rank {
    ($v:expr, $t:ident => $e:expr) => {
        match $v {
            Value::F2($t) => Value::F2($e),
            Value::F3($t) => Value::F3($e),
            Value::F4($t) => Value::F4($e),
            other => return Err(format!("unsupported value {}", other.describe())),
        }
    };
}

fn axis(d: i64, rank: usize) -> usize {
    if d < 0 {
        (d + rank as i64).max(0) as usize
    } else {
        d as usize
    }
}

fn reshape_fwd(p: &StepParams, _: Option<&Layer>, inputs: Vec<Value>) -> Result<Vec<Value>, String> {
    let x = one(inputs)?;
    let dims = x.dims();
    let total: usize = dims.iter().product();
    let mut out = p.runtime_dims(0, &[dims]);
    let known: usize = out.iter().flatten().product();
    let missing = out.iter().filter(|d| d.is_none()).count();
    if missing > 1 {
        return Err("cannot resolve the target shape at run time".into());
    }
    for d in out.iter_mut().filter(|d| d.is_none()) {
        *d = Some(total / known.max(1));
    }
    let out: Vec<usize> = out.into_iter().flatten().collect();
    if out.iter().product::<usize>() != total {
        return Err(format!("cannot reshape {} into {out:?}", x.describe()));
    }
    Ok(vec![x.reshape(&out)?])
}

fn transpose_fwd(p: &StepParams, _: Option<&Layer>, inputs: Vec<Value>) -> Result<Vec<Value>, String> {
    let x = one(inputs)?;
    let r = x.dims().len();
    let (a, b) = (axis(p.int("dim0"), r), axis(p.int("dim1"), r));
    Ok(vec![any_rank!(x, t => t.swap_dims(a, b))])
}

fn permute_fwd(p: &StepParams, _: Option<&Layer>, inputs: Vec<Value>) -> Result<Vec<Value>, String> {
    let x = one(inputs)?;
    let order: Vec<usize> = p.ints("dims").iter().map(|&d| axis(d, x.dims().len())).collect();
    Ok(vec![match (x, order.as_slice()) {
        (Value::F2(t), &[a, b]) => Value::F2(t.permute([a, b])),
        (Value::F3(t), &[a, b, c]) => Value::F3(t.permute([a, b, c])),
        (Value::F4(t), &[a, b, c, d]) => Value::F4(t.permute([a, b, c, d])),
        (other, _) => return Err(format!("cannot permute {} by {order:?}", other.describe())),
    }])
}

fn by_out_type(p: &StepParams, inputs: Vec<Value>) -> Result<Vec<Value>, String> {
    let x = one(inputs)?;
    let dims = p.runtime_dims(0, &[x.dims()]);
    let out: Option<Vec<usize>> = dims.into_iter().collect();
    let out = out.ok_or("output size unknown at run time")?;
    Ok(vec![x.reshape(&out)?])
}

fn squeeze_fwd(p: &StepParams, _: Option<&Layer>, inputs: Vec<Value>) -> Result<Vec<Value>, String> {
    by_out_type(p, inputs)
}

fn select_fwd(p: &StepParams, _: Option<&Layer>, inputs: Vec<Value>) -> Result<Vec<Value>, String> {
    let x = one(inputs)?;
    let dims = x.dims();
    let a = axis(p.int("dim"), dims.len());
    let n = dims[a] as i64;
    let i = p.int("index");
    let i = if i < 0 { n + i } else { i };
    if !(0..n).contains(&i) {
        return Err(format!("index {} is outside dim {a} of size {n}", p.int("index")));
    }
    let i = i as usize;
    let mut out = dims.clone();
    out.remove(a);
    let narrowed = any_rank!(x, t => t.narrow(a, i, 1));
    Ok(vec![narrowed.reshape(&out)?])
}

fn slice_fwd(p: &StepParams, _: Option<&Layer>, inputs: Vec<Value>) -> Result<Vec<Value>, String> {
    let x = one(inputs)?;
    let a = axis(p.int("dim"), x.dims().len());
    let (s, l) = (p.int("start").max(0) as usize, p.int("length").max(1) as usize);
    Ok(vec![any_rank!(x, t => t.narrow(a, s, l))])
}

fn split_fwd(p: &StepParams, _: Option<&Layer>, inputs: Vec<Value>) -> Result<Vec<Value>, String> {
    let x = one(inputs)?;
    let a = axis(p.int("dim"), x.dims().len());
    let parts = p.int("parts").max(1) as usize;
    Ok(match x {
        Value::F2(t) => t.chunk(parts, a).into_iter().map(Value::F2).collect(),
        Value::F3(t) => t.chunk(parts, a).into_iter().map(Value::F3).collect(),
        Value::F4(t) => t.chunk(parts, a).into_iter().map(Value::F4).collect(),
        other => return Err(format!("cannot split {}", other.describe())),
    })
}

fn matmul_fwd(p: &StepParams, _: Option<&Layer>, inputs: Vec<Value>) -> Result<Vec<Value>, String> {
    let mut it = inputs.into_iter();
    let a = it.next().ok_or("missing a")?;
    let b = it.next().ok_or("missing b")?;
    let tb = p.bool("transpose_b");
    Ok(vec![match (a, b) {
        (Value::F2(a), Value::F2(b)) => Value::F2(a.matmul(if tb { b.transpose() } else { b })),
        (Value::F3(a), Value::F2(b)) => {
            let b = if tb { b.transpose() } else { b };
            Value::F3(a.matmul(b.unsqueeze_dim::<3>(0)))
        }
        (Value::F3(a), Value::F3(b)) => Value::F3(a.matmul(if tb { b.swap_dims(1, 2) } else { b })),
        (Value::F4(a), Value::F4(b)) => Value::F4(a.matmul(if tb { b.swap_dims(2, 3) } else { b })),
        (a, b) => return Err(format!("cannot multiply {} by {}", a.describe(), b.describe())),
    }])
}

fn crop_fwd(_: &StepParams, _: Option<&Layer>, inputs: Vec<Value>) -> Result<Vec<Value>, String> {
    let mut it = inputs.into_iter();
    let x = it.next().ok_or("missing x")?.f4()?;
    let like = it.next().ok_or("missing like")?;
    let [_, _, h, w] = x.dims();
    let ld = like.dims();
    let (th, tw) = (ld[2], ld[3]);
    Ok(vec![Value::F4(x.narrow(2, (h - th) / 2, th).narrow(
        3,
        (w - tw) / 2,
        tw,
    ))])
}

/// More ops of this family.
pub const MORE_OPS: &[OpSpec] = &[
    OpSpec {
        kind: "reshape",
        build: stateless,
        forward: reshape_fwd,
        decode: Decode::Never,
    },
    OpSpec {
        kind: "transpose",
        build: stateless,
        forward: transpose_fwd,
        decode: Decode::Never,
    },
    OpSpec {
        kind: "permute",
        build: stateless,
        forward: permute_fwd,
        decode: Decode::Never,
    },
    OpSpec {
        kind: "squeeze",
        build: stateless,
        forward: squeeze_fwd,
        decode: Decode::Never,
    },
    OpSpec {
        kind: "unsqueeze",
        build: stateless,
        forward: squeeze_fwd,
        decode: Decode::Never,
    },
    OpSpec {
        kind: "select",
        build: stateless,
        forward: select_fwd,
        decode: Decode::Never,
    },
    OpSpec {
        kind: "slice",
        build: stateless,
        forward: slice_fwd,
        decode: Decode::Never,
    },
    OpSpec {
        kind: "split",
        build: stateless,
        forward: split_fwd,
        decode: Decode::Never,
    },
    OpSpec {
        kind: "matmul",
        build: stateless,
        forward: matmul_fwd,
        decode: Decode::Never,
    },
    OpSpec {
        kind: "crop_to",
        build: stateless,
        forward: crop_fwd,
        decode: Decode::Never,
    },
];
