//! The node-classification recipe in `train.py`: the whole graph in every step, cross-entropy on
//! the training nodes — what `engine::recipes::node_classification` does.

use super::{TrainCtx, TrainPart};
use crate::catalog::DataKind;
use crate::data::{Features, Target};
use crate::engine::recipes::common::load_data;
use crate::engine::recipes::node_classification::{EDGES, FEATURES};
use crate::interop::safetensors::IntTensor;
use crate::interop::weights::NamedTensor;

/// The recipe this writes.
pub const ID: &str = "node_classification";

/// Writes the recipe's part.
pub fn part(ctx: &TrainCtx) -> Result<TrainPart, String> {
    let data = load_data(ctx.project, ctx.data_dir, DataKind::Graph, ID, "a graph").map_err(|e| e.to_string())?;
    let Target::Nodes(split) = &data.target else {
        return Err(format!("'{}' is not a graph", data.name));
    };
    let arg = |field: &str| {
        ctx.inputs
            .iter()
            .find(|i| i.field == field && i.source == "dataset")
            .map(|i| i.arg.clone())
            .ok_or_else(|| format!("the graph has no Input bound to '{field}'"))
    };
    let (features_arg, edges_arg) = (arg(FEATURES)?, arg(EDGES)?);
    let n = data.len();
    let f = data.shape.first().copied().unwrap_or(1);
    let x = match &data.features {
        Features::F32(v) => v.clone(),
        Features::U8(v) => v.iter().map(|&b| f32::from(b) / 255.0).collect(),
    };
    let directed = split.directed();
    let e = directed.len() / 2;
    let ids = |name: &str, v: &[usize]| IntTensor {
        name: name.into(),
        dims: vec![v.len()],
        data: v.iter().map(|&i| i as i64).collect(),
    };
    let ints = vec![
        IntTensor {
            name: "edges".into(),
            dims: vec![2, e],
            data: directed,
        },
        IntTensor {
            name: "labels".into(),
            dims: vec![n],
            data: data.batch_labels(&(0..n).collect::<Vec<_>>()),
        },
        ids("x_train", &split.train),
        ids("y_train", &split.train),
        ids("x_val", &split.val),
        ids("y_val", &split.val),
        ids("test_nodes", &split.test),
    ];
    let floats = vec![NamedTensor {
        name: "features".into(),
        dims: vec![n, f],
        data: x,
    }];
    let code = format!(
        r#"# Recipe: node classification — the whole graph in every step ({n} nodes, {e} directed edges),
# cross-entropy of the 'prediction' output on the training nodes, as Strata trains it.
TASK = "classes"
SETTINGS["batch_size"] = {train}  # every training node in every step (shared out under torchrun)
GRAPH = {{}}


def prepare(data, device, model, fresh):
    """The graph itself stays on the device; examples are node ids."""
    GRAPH.update(features=data["features"].to(device), edges=data["edges"].to(device),
                 labels=data["labels"].to(device))


def inputs_of(x, y):
    return {{"{features_arg}": GRAPH["features"], "{edges_arg}": GRAPH["edges"]}}


def objective(out, y):
    """Loss and right answers on the nodes `y` (the batch's node ids)."""
    logits = out["prediction"][y]
    labels = GRAPH["labels"][y]
    return F.cross_entropy(logits, labels), (logits.argmax(1) == labels).sum()
"#,
        train = split.train.len(),
    );
    Ok(TrainPart {
        code,
        floats,
        ints,
        own_loop: false,
    })
}
