//! Reshaping, slicing and joining tensors.

use super::rules::*;
use super::spec::*;
use super::types::{Dim, TensorType};
use crate::doc::ParamValue;

fn flatten_rule(ctx: &Ctx) -> Result<Inferred, RuleError> {
    let x = ctx.input(0)?;
    let start = axis(ctx.int("start_dim"), x.rank(), "x")?;
    let end = axis(ctx.int("end_dim"), x.rank(), "x")?;
    if end < start {
        return Err(RuleError::new("end_dim comes before start_dim"));
    }
    let merged = x.dims[start..=end].iter().fold(Dim::Known(1), |acc, d| acc.product(*d));
    let mut dims = x.dims[..start].to_vec();
    dims.push(merged);
    dims.extend_from_slice(&x.dims[end + 1..]);
    Ok(Inferred {
        outputs: vec![TensorType { dtype: x.dtype, dims }],
        params: 0,
        macs: 0,
    })
}

fn product(dims: &[Dim]) -> Dim {
    dims.iter().fold(Dim::Known(1), |acc, d| acc.product(*d))
}

fn reshape_rule(ctx: &Ctx) -> Result<Inferred, RuleError> {
    let x = ctx.input(0)?;
    let raw: Vec<ParamValue> = ctx
        .params
        .get("shape")
        .and_then(|v| v.as_list().map(<[ParamValue]>::to_vec))
        .unwrap_or_default();
    let mut target = Vec::with_capacity(raw.len());
    let mut infer_at = None;
    for (i, v) in raw.iter().enumerate() {
        if v.as_int() == Some(-1) {
            if infer_at.replace(i).is_some() {
                return Err(RuleError::new("only one entry of the shape may be -1"));
            }
            target.push(Dim::Any);
        } else {
            match Dim::from_param(v) {
                Some(Dim::Known(0)) | None => {
                    return Err(RuleError::new(format!(
                        "shape entry {v} must be a positive number, a capital letter or -1"
                    )));
                }
                Some(d) => target.push(d),
            }
        }
    }
    if target.is_empty() {
        return Err(RuleError::new("give the target shape, e.g. [\"B\", 16, 7, 7]"));
    }
    // Dims identical at the front (usually the batch) cancel out.
    let mut k = 0;
    while k < x.rank() && k < target.len() && x.dims[k] == target[k] && Some(k) != infer_at {
        k += 1;
    }
    let have = product(&x.dims[k..]);
    if let Some(i) = infer_at {
        let rest = product(
            &target[k..]
                .iter()
                .enumerate()
                .filter(|(j, _)| j + k != i)
                .map(|(_, d)| *d)
                .collect::<Vec<_>>(),
        );
        target[i] = match rest.known() {
            Some(r) => have.divide(r).ok_or_else(|| {
                RuleError::at(
                    "x",
                    format!("cannot reshape {x} into {} — sizes do not divide", fmt_dims(&target)),
                )
            })?,
            None => Dim::Any,
        };
    } else {
        let want = product(&target[k..]);
        if !have.compatible(want) {
            return Err(RuleError::at(
                "x",
                format!(
                    "cannot reshape {x} ({have} values per example) into {} ({want})",
                    fmt_dims(&target)
                ),
            ));
        }
    }
    Ok(Inferred {
        outputs: vec![TensorType {
            dtype: x.dtype,
            dims: target,
        }],
        params: 0,
        macs: 0,
    })
}

fn fmt_dims(d: &[Dim]) -> String {
    TensorType::float(d.to_vec()).to_string()
}

fn permute_rule(ctx: &Ctx) -> Result<Inferred, RuleError> {
    let x = ctx.input(0)?;
    let order = ctx.ints("dims");
    let mut seen = vec![false; x.rank()];
    if order.len() != x.rank() {
        return Err(RuleError::at(
            "x",
            format!("dims {order:?} must list each of the {} dims of {x} once", x.rank()),
        ));
    }
    let mut dims = Vec::with_capacity(x.rank());
    for &o in &order {
        let a = axis(o, x.rank(), "x")?;
        if std::mem::replace(&mut seen[a], true) {
            return Err(RuleError::new(format!("dims {order:?} repeats dim {a}")));
        }
        dims.push(x.dims[a]);
    }
    Ok(Inferred {
        outputs: vec![TensorType { dtype: x.dtype, dims }],
        params: 0,
        macs: 0,
    })
}

fn transpose_rule(ctx: &Ctx) -> Result<Inferred, RuleError> {
    let x = ctx.input(0)?;
    let a = axis(ctx.int("dim0"), x.rank(), "x")?;
    let b = axis(ctx.int("dim1"), x.rank(), "x")?;
    let mut t = x.clone();
    t.dims.swap(a, b);
    Ok(Inferred {
        outputs: vec![t],
        params: 0,
        macs: 0,
    })
}

fn squeeze_rule(ctx: &Ctx) -> Result<Inferred, RuleError> {
    let x = ctx.input(0)?;
    let a = axis(ctx.int("dim"), x.rank(), "x")?;
    if !x.dims[a].compatible(Dim::Known(1)) {
        return Err(RuleError::at(
            "x",
            format!("dim {a} of {x} has size {}, not 1", x.dims[a]),
        ));
    }
    let mut t = x.clone();
    t.dims.remove(a);
    Ok(Inferred {
        outputs: vec![t],
        params: 0,
        macs: 0,
    })
}

fn unsqueeze_rule(ctx: &Ctx) -> Result<Inferred, RuleError> {
    let x = ctx.input(0)?;
    let a = axis(ctx.int("dim"), x.rank() + 1, "x")?;
    let mut t = x.clone();
    t.dims.insert(a, Dim::Known(1));
    Ok(Inferred {
        outputs: vec![t],
        params: 0,
        macs: 0,
    })
}

fn slice_rule(ctx: &Ctx) -> Result<Inferred, RuleError> {
    let x = ctx.input(0)?;
    let a = axis(ctx.int("dim"), x.rank(), "x")?;
    let start = ctx.uint("start");
    let len = ctx.uint("length");
    if let Some(n) = x.dims[a].known()
        && start.saturating_add(len) > n
    {
        return Err(RuleError::at(
            "x",
            format!(
                "slice {start}..{} is past the end of dim {a} (size {n})",
                start.saturating_add(len)
            ),
        ));
    }
    let mut t = x.clone();
    t.dims[a] = Dim::Known(len);
    Ok(Inferred {
        outputs: vec![t],
        params: 0,
        macs: 0,
    })
}

fn select_rule(ctx: &Ctx) -> Result<Inferred, RuleError> {
    let x = ctx.input(0)?;
    let a = axis(ctx.int("dim"), x.rank(), "x")?;
    let i = ctx.int("index");
    if let Some(n) = x.dims[a].known()
        && (i >= n as i64 || i < -(n as i64))
    {
        return Err(RuleError::at(
            "x",
            format!(
                "index {i} is outside dim {a} (size {n}: 0 to {}, or -1 to -{n} from the end)",
                n.saturating_sub(1)
            ),
        ));
    }
    let mut t = x.clone();
    t.dims.remove(a);
    Ok(Inferred {
        outputs: vec![t],
        params: 0,
        macs: 0,
    })
}

fn split_rule(ctx: &Ctx) -> Result<Inferred, RuleError> {
    let x = ctx.input(0)?;
    let a = axis(ctx.int("dim"), x.rank(), "x")?;
    let parts = ctx.uint("parts").max(1);
    let each = x.dims[a].divide(parts).ok_or_else(|| {
        RuleError::at(
            "x",
            format!("dim {a} of {x} ({}) does not split into {parts} equal parts", x.dims[a]),
        )
    })?;
    let mut t = x.clone();
    t.dims[a] = each;
    Ok(Inferred {
        outputs: vec![t; parts as usize],
        params: 0,
        macs: 0,
    })
}

fn concat_rule(ctx: &Ctx) -> Result<Inferred, RuleError> {
    let first = ctx.input(0)?;
    let a = axis(ctx.int("dim"), first.rank(), &ctx.port_name(0))?;
    let mut out = first.clone();
    for i in 1..ctx.inputs.len() {
        let t = ctx.input(i)?;
        let port = ctx.port_name(i);
        let ok = t.rank() == first.rank()
            && t.dtype == first.dtype
            && (0..t.rank()).all(|j| j == a || t.dims[j].compatible(first.dims[j]));
        if !ok {
            return Err(RuleError::at(
                &port,
                format!("cannot concatenate {t} with {first} along dim {a}: the other dims must match"),
            ));
        }
        out.dims[a] = out.dims[a].plus(t.dims[a]);
    }
    Ok(Inferred {
        outputs: vec![out],
        params: 0,
        macs: 0,
    })
}

fn crop_rule(ctx: &Ctx) -> Result<Inferred, RuleError> {
    let x = ctx.input(0)?;
    let like = ctx.input(1)?;
    min_rank(x, "x", 3, "[B, C, ...spatial]")?;
    if like.rank() != x.rank() {
        return Err(RuleError::at("like", format!("{like} and {x} must have the same rank")));
    }
    let mut t = x.clone();
    for i in 2..x.rank() {
        if let (Some(have), Some(want)) = (x.dims[i].known(), like.dims[i].known())
            && want > have
        {
            return Err(RuleError::at(
                "like",
                format!("cannot crop {x} to the larger size of {like}"),
            ));
        }
        t.dims[i] = like.dims[i];
    }
    Ok(Inferred {
        outputs: vec![t],
        params: 0,
        macs: 0,
    })
}

/// The specs of this family.
pub fn specs() -> Vec<LayerSpec> {
    SPECS.to_vec()
}

const SPECS: &[LayerSpec] = &[
    LayerSpec {
        id: "flatten",
        name: "Flatten",
        category: Category::Shape,
        doc: "Merges dims start_dim..=end_dim into one (keeps the batch by default).",
        paper: "",
        params: &[
            int("start_dim", 1, -8, 7, "First dim to merge"),
            int("end_dim", -1, -8, 7, "Last dim to merge"),
        ],
        inputs: Ports::Fixed(&[any_port("x")]),
        outputs: Ports::Fixed(&[any_port("y")]),
        infer: flatten_rule,
    },
    LayerSpec {
        id: "reshape",
        name: "Reshape",
        category: Category::Shape,
        doc: "Views the values with another shape of the same size (one entry may be -1).",
        paper: "",
        params: &[ParamSpec {
            name: "shape",
            kind: ParamKind::Shape,
            default: ParamDefault::Shape("B,-1"),
            tooltip: "Target shape with the batch, e.g. B, 16, 7, 7",
        }],
        inputs: Ports::Fixed(&[any_port("x")]),
        outputs: Ports::Fixed(&[any_port("y")]),
        infer: reshape_rule,
    },
    LayerSpec {
        id: "permute",
        name: "Permute",
        category: Category::Shape,
        doc: "Reorders the dims.",
        paper: "",
        params: &[ParamSpec {
            name: "dims",
            kind: ParamKind::Ints,
            default: ParamDefault::Ints(&[0, 2, 1]),
            tooltip: "New order of the dims, e.g. 0, 2, 1",
        }],
        inputs: Ports::Fixed(&[any_port("x")]),
        outputs: Ports::Fixed(&[any_port("y")]),
        infer: permute_rule,
    },
    LayerSpec {
        id: "transpose",
        name: "Transpose",
        category: Category::Shape,
        doc: "Swaps two dims.",
        paper: "",
        params: &[int("dim0", 1, -8, 7, "First dim"), int("dim1", 2, -8, 7, "Second dim")],
        inputs: Ports::Fixed(&[any_port("x")]),
        outputs: Ports::Fixed(&[any_port("y")]),
        infer: transpose_rule,
    },
    LayerSpec {
        id: "squeeze",
        name: "Squeeze",
        category: Category::Shape,
        doc: "Removes a dim of size 1.",
        paper: "",
        params: &[int("dim", -1, -8, 7, "Dim to remove")],
        inputs: Ports::Fixed(&[any_port("x")]),
        outputs: Ports::Fixed(&[any_port("y")]),
        infer: squeeze_rule,
    },
    LayerSpec {
        id: "unsqueeze",
        name: "Unsqueeze",
        category: Category::Shape,
        doc: "Inserts a dim of size 1.",
        paper: "",
        params: &[int("dim", 1, -8, 8, "Where the new dim goes")],
        inputs: Ports::Fixed(&[any_port("x")]),
        outputs: Ports::Fixed(&[any_port("y")]),
        infer: unsqueeze_rule,
    },
    LayerSpec {
        id: "slice",
        name: "Slice",
        category: Category::Shape,
        doc: "Keeps `length` entries of one dim starting at `start`.",
        paper: "",
        params: &[
            int("dim", 1, -8, 7, "Dim to slice"),
            int("start", 0, 0, BIG, "First index kept"),
            int("length", 1, 1, BIG, "How many entries"),
        ],
        inputs: Ports::Fixed(&[any_port("x")]),
        outputs: Ports::Fixed(&[any_port("y")]),
        infer: slice_rule,
    },
    LayerSpec {
        id: "select",
        name: "Select",
        category: Category::Shape,
        doc: "Takes one index of a dim and drops that dim (e.g. the [CLS] token, or -1: the last time step).",
        paper: "",
        params: &[
            int("dim", 1, -8, 7, "Dim to index"),
            int(
                "index",
                0,
                -BIG,
                BIG,
                "Index (negative counts from the end: -1 is the last)",
            ),
        ],
        inputs: Ports::Fixed(&[any_port("x")]),
        outputs: Ports::Fixed(&[any_port("y")]),
        infer: select_rule,
    },
    LayerSpec {
        id: "split",
        name: "Split",
        category: Category::Shape,
        doc: "Cuts one dim into equal parts, one output each.",
        paper: "",
        params: &[
            int("dim", -1, -8, 7, "Dim to split"),
            int("parts", 2, 1, 64, "Number of parts"),
        ],
        inputs: Ports::Fixed(&[any_port("x")]),
        outputs: Ports::Variadic {
            prefix: "y",
            count: "parts",
            accept: Accept::Any,
        },
        infer: split_rule,
    },
    LayerSpec {
        id: "concat",
        name: "Concat",
        category: Category::Shape,
        doc: "Joins tensors along one dim (other dims must match).",
        paper: "",
        params: &[
            int("dim", 1, -8, 7, "Dim to join along"),
            int("inputs", 2, 2, 64, "Number of inputs"),
        ],
        inputs: Ports::Variadic {
            prefix: "x",
            count: "inputs",
            accept: Accept::Any,
        },
        outputs: Ports::Fixed(&[any_port("y")]),
        infer: concat_rule,
    },
    LayerSpec {
        id: "crop_to",
        name: "Center crop",
        category: Category::Shape,
        doc: "Crops the spatial dims of x to those of `like` (U-Net skip connections).",
        paper: "Ronneberger et al., U-Net, MICCAI 2015",
        params: &[],
        inputs: Ports::Fixed(&[port("x"), any_port("like")]),
        outputs: Ports::Fixed(Y),
        infer: crop_rule,
    },
];
