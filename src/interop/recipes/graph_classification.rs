//! The graph-classification recipe in `train.py`: a batch of small graphs joined into one
//! disjoint graph (node features, both directions of every edge offset to the batch's numbering,
//! edge features repeated for both, each node's graph index) and cross-entropy on each graph's
//! prediction — what `engine::recipes::graph_classification` does, with its split.

use super::{TrainCtx, TrainPart, arg_of, int_tensor};
use crate::catalog::recipes::DataKind;
use crate::data::{Features, Target};
use crate::engine::recipes::common::load_data;
use crate::interop::weights::NamedTensor;

/// The recipe this writes.
pub const ID: &str = "graph_classification";

/// Writes the recipe's part.
pub fn part(ctx: &TrainCtx) -> Result<TrainPart, String> {
    let data = load_data(
        ctx.project,
        ctx.data_dir,
        DataKind::Graphs,
        "graph-classification",
        "a set of graphs",
    )
    .map_err(|e| e.to_string())?;
    let (Target::Graphs(set), Features::F32(x)) = (&data.target, &data.features) else {
        return Err(format!("'{}' is not a set of graphs", data.name));
    };
    let n = data.len();
    let test_from = data.test_from.unwrap_or(n - n / 6);
    let train: Vec<i64> = (0..test_from as i64).filter(|i| i % 7 != 3).collect();
    let val: Vec<i64> = (0..test_from as i64).filter(|i| i % 7 == 3).collect();
    let label = |idx: &[i64]| {
        idx.iter()
            .map(|&i| i64::from(data.labels[i as usize]))
            .collect::<Vec<_>>()
    };
    let mut edges = Vec::new();
    let mut edge_start = vec![0i64];
    for g in &set.edges {
        edges.extend(g.iter().flat_map(|&[u, v]| [i64::from(u), i64::from(v)]));
        edge_start.push(edge_start.last().copied().unwrap_or(0) + g.len() as i64);
    }
    let total_edges = edge_start.last().copied().unwrap_or(0) as usize;
    let ints = vec![
        int_tensor("y_train", vec![train.len()], label(&train)),
        int_tensor("y_val", vec![val.len()], label(&val)),
        int_tensor("x_train", vec![train.len()], train),
        int_tensor("x_val", vec![val.len()], val),
        int_tensor(
            "node_start",
            vec![set.start.len()],
            set.start.iter().map(|&s| s as i64).collect(),
        ),
        int_tensor("edge_start", vec![edge_start.len()], edge_start),
        int_tensor("edges", vec![total_edges, 2], edges),
    ];
    let mut floats = vec![NamedTensor {
        name: "features".into(),
        dims: vec![x.len() / set.node_features.max(1), set.node_features],
        data: x.clone(),
    }];
    if set.edge_features > 0 {
        floats.push(NamedTensor {
            name: "edge_attr".into(),
            dims: vec![total_edges, set.edge_features],
            data: set.edge_attr.concat(),
        });
    }
    let features = arg_of(ctx, "features").ok_or("the graph has no Input bound to 'features'")?;
    let edges_arg = arg_of(ctx, "edges").ok_or("the graph has no Input bound to 'edges'")?;
    let batch = arg_of(ctx, "batch").ok_or("the graph has no Input bound to 'batch'")?;
    let edge_feed = arg_of(ctx, "edge_features")
        .map(|a| format!("\n    feed[\"{a}\"] = torch.cat([a, a]).to(y.device)"))
        .unwrap_or_default();
    let code = format!(
        r#"# Recipe: graph classification — a batch of graphs joined into one disjoint graph, cross-entropy
# of the 'prediction' output (one row per graph), as Strata trains it. Examples are graph ids;
# every seventh graph before the test part validates.
TASK = "classes"
GRAPHS = {{}}


def prepare(data, device, model, fresh):
    GRAPHS.update({{k: data[k] for k in ("features", "node_start", "edge_start", "edges")}})
    GRAPHS["edge_attr"] = data.get("edge_attr")


def inputs_of(x, y):
    g = GRAPHS
    feats, batch, src, dst, attr, offset = [], [], [], [], [], 0
    for k, i in enumerate(x.tolist()):
        a, b = int(g["node_start"][i]), int(g["node_start"][i + 1])
        e0, e1 = int(g["edge_start"][i]), int(g["edge_start"][i + 1])
        feats.append(g["features"][a:b])
        batch.append(torch.full((b - a,), k, dtype=torch.long))
        src.append(g["edges"][e0:e1, 0] + offset)
        dst.append(g["edges"][e0:e1, 1] + offset)
        if g["edge_attr"] is not None:
            attr.append(g["edge_attr"][e0:e1])
        offset += b - a
    src, dst = torch.cat(src), torch.cat(dst)
    # Both directions: (u → v) for every edge, then (v → u).
    edges = torch.stack([torch.cat([src, dst]), torch.cat([dst, src])])
    feed = {{"{features}": torch.cat(feats).to(y.device), "{edges_arg}": edges.to(y.device),
            "{batch}": torch.cat(batch).to(y.device)}}
    if attr:
        a = torch.cat(attr){edge_feed}
    return feed


def objective(out, y):
    logits = out["prediction"]
    return F.cross_entropy(logits, y), (logits.argmax(1) == y).sum()
"#
    );
    Ok(TrainPart {
        code,
        floats,
        ints,
        own_loop: false,
    })
}
