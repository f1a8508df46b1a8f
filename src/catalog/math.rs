//! Element-wise and matrix arithmetic.

use super::rules::*;
use super::spec::*;
use super::types::{Dim, TensorType};

fn elementwise_rule(ctx: &Ctx) -> Result<Inferred, RuleError> {
    let mut out = ctx.input(0)?.clone();
    for i in 1..ctx.inputs.len() {
        out = broadcast(&out, ctx.input(i)?, &ctx.port_name(i))?;
    }
    let macs = out.cost_elements();
    Ok(Inferred {
        outputs: vec![out],
        params: 0,
        macs,
    })
}

fn matmul_rule(ctx: &Ctx) -> Result<Inferred, RuleError> {
    let a = ctx.input(0)?;
    let b = ctx.input(1)?;
    min_rank(a, "a", 2, "[..., n, k]")?;
    min_rank(b, "b", 2, "[..., k, m]")?;
    let (mut bk, mut bm) = (b.dims[b.rank() - 2], b.dims[b.rank() - 1]);
    if ctx.bool("transpose_b") {
        std::mem::swap(&mut bk, &mut bm);
    }
    let ak = a.dims[a.rank() - 1];
    if !ak.compatible(bk) {
        return Err(RuleError::at(
            "b",
            format!("inner sizes differ: a is {a} (k = {ak}) but b gives k = {bk}"),
        ));
    }
    let batch_a = TensorType::float(a.dims[..a.rank() - 2].to_vec());
    let batch_b = TensorType::float(b.dims[..b.rank() - 2].to_vec());
    let batch = broadcast(&batch_a, &batch_b, "b")?;
    let mut dims = batch.dims;
    dims.push(a.dims[a.rank() - 2]);
    dims.push(bm);
    let out = TensorType::float(dims);
    let macs = cm(out.cost_elements().max(1), ak.cost_size())?;
    Ok(Inferred {
        outputs: vec![out],
        params: 0,
        macs,
    })
}

fn mean_rule(ctx: &Ctx) -> Result<Inferred, RuleError> {
    let x = ctx.input(0)?;
    let a = axis(ctx.int("dim"), x.rank(), "x")?;
    let mut t = x.clone();
    if ctx.bool("keepdim") {
        t.dims[a] = Dim::Known(1);
    } else {
        t.dims.remove(a);
    }
    Ok(Inferred {
        outputs: vec![t],
        params: 0,
        macs: x.cost_elements(),
    })
}

fn scale_rule(ctx: &Ctx) -> Result<Inferred, RuleError> {
    Ok(same(ctx.input(0)?))
}

/// The specs of this family.
pub fn specs() -> Vec<LayerSpec> {
    SPECS.to_vec()
}

const SPECS: &[LayerSpec] = &[
    LayerSpec {
        id: "add",
        name: "Add",
        category: Category::Math,
        doc: "Element-wise sum with broadcasting (residual connections).",
        paper: "",
        params: &[int("inputs", 2, 2, 64, "Number of inputs")],
        inputs: Ports::Variadic {
            prefix: "x",
            count: "inputs",
            accept: Accept::Float,
        },
        outputs: Ports::Fixed(Y),
        infer: elementwise_rule,
    },
    LayerSpec {
        id: "multiply",
        name: "Multiply",
        category: Category::Math,
        doc: "Element-wise product with broadcasting (gates, squeeze-and-excitation).",
        paper: "",
        params: &[int("inputs", 2, 2, 64, "Number of inputs")],
        inputs: Ports::Variadic {
            prefix: "x",
            count: "inputs",
            accept: Accept::Float,
        },
        outputs: Ports::Fixed(Y),
        infer: elementwise_rule,
    },
    LayerSpec {
        id: "matmul",
        name: "MatMul",
        category: Category::Math,
        doc: "Batched matrix product a·b (or a·bᵀ); e.g. a tied output head against an embedding table.",
        paper: "",
        params: &[flag("transpose_b", false, "Use bᵀ (b given as [..., m, k])")],
        inputs: Ports::Fixed(&[port("a"), port("b")]),
        outputs: Ports::Fixed(Y),
        infer: matmul_rule,
    },
    LayerSpec {
        id: "mean",
        name: "Mean",
        category: Category::Math,
        doc: "Average over one dim.",
        paper: "",
        params: &[
            int("dim", 1, -8, 7, "Dim to average"),
            flag("keepdim", false, "Keep it with size 1"),
        ],
        inputs: Ports::Fixed(X),
        outputs: Ports::Fixed(Y),
        infer: mean_rule,
    },
    LayerSpec {
        id: "scale",
        name: "Scale",
        category: Category::Math,
        doc: "Multiplies by a constant factor.",
        paper: "",
        params: &[float("factor", 1.0, -1e9, 1e9, "Factor")],
        inputs: Ports::Fixed(X),
        outputs: Ports::Fixed(Y),
        infer: scale_rule,
    },
];
