//! Supervised learning in `train.py`: cross-entropy against classes or per-pixel masks, squared
//! error against values — what `engine::recipes::supervised` minimises.

use super::{TrainCtx, TrainPart, features, labels};
use crate::data::Target;
use crate::interop::safetensors::IntTensor;
use crate::interop::weights::NamedTensor;

/// The recipe this writes.
pub const ID: &str = "supervised";

/// Writes the recipe's part.
pub fn part(ctx: &TrainCtx) -> Result<TrainPart, String> {
    let ex = ctx
        .examples
        .as_ref()
        .map_err(|e| format!("cannot load the data: {e}"))?;
    let (train, val) = (&ex.split.train, &ex.split.val);
    let mut floats = vec![features(ex, train, true, "x_train")?, features(ex, val, true, "x_val")?];
    let mut ints = Vec::new();
    let task = match &ex.data.target {
        Target::Classes => {
            ints.push(labels(ex, train, "y_train"));
            ints.push(labels(ex, val, "y_val"));
            "classes"
        }
        Target::Values { per, .. } => {
            for (idx, name) in [(train, "y_train"), (val, "y_val")] {
                floats.push(NamedTensor {
                    name: name.into(),
                    dims: vec![idx.len(), *per],
                    data: ex.data.batch_values(idx),
                });
            }
            "values"
        }
        Target::Masks(_) => {
            let (h, w) = (ex.data.shape[1], ex.data.shape[2]);
            for (idx, name) in [(train, "y_train"), (val, "y_val")] {
                ints.push(IntTensor {
                    name: name.into(),
                    dims: vec![idx.len(), h, w],
                    data: ex.data.batch_masks(idx),
                });
            }
            "masks"
        }
        _ => return Err(format!("{} is not a dataset of examples with labels", ex.data.name)),
    };
    let args: Vec<String> = ctx
        .inputs
        .iter()
        .filter(|i| !i.int)
        .map(|i| format!("\"{}\"", i.arg))
        .collect();
    let code = format!(
        r#"# Recipe: supervised ({task}) — the 'prediction' output against the labels, as Strata trains it:
# cross-entropy for classes and per-pixel masks, mean squared error for values.
TASK = "{task}"
FEATURE_ARGS = [{args}]


def inputs_of(x, y):
    """Every float input gets the features."""
    return {{name: x for name in FEATURE_ARGS}}


def objective(out, y):
    """The loss of a batch and, for classes and masks, how many predictions were right."""
    pred = out["prediction"]
    if TASK == "values":
        return F.mse_loss(pred, y), None
    return F.cross_entropy(pred, y), (pred.argmax(1) == y).sum()
"#,
        args = args.join(", ")
    );
    Ok(TrainPart {
        code,
        floats,
        ints,
        own_loop: false,
    })
}
