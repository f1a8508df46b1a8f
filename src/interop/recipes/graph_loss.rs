//! The graph-loss recipe in `train.py`: minimise the sum of the graph's own `loss` outputs —
//! what `engine::recipes::graph_loss` does (autoencoders, VAEs).

use super::{TrainCtx, TrainPart, labelled_splits};

/// The recipe this writes.
pub const ID: &str = "graph_loss";

/// Writes the recipe's part.
pub fn part(ctx: &TrainCtx) -> Result<TrainPart, String> {
    let normalize = crate::engine::recipes::setting(ctx.project, "normalize_inputs")
        .and_then(|v| v.as_bool())
        .unwrap_or(false);
    let (_, floats, ints) = labelled_splits(ctx, normalize)?;
    let mut feed = Vec::new();
    for i in ctx.inputs {
        let line = match (i.source.as_str(), i.int) {
            ("noise", _) => {
                let rest: Vec<String> = i.dims.iter().skip(1).map(|d| d.unwrap_or(1).to_string()).collect();
                format!(
                    "        \"{}\": torch.randn(x.shape[0], {}, device=x.device),",
                    i.arg,
                    rest.join(", ")
                )
            }
            (_, true) => format!("        \"{}\": y,", i.arg),
            (_, false) => format!("        \"{}\": x,", i.arg),
        };
        feed.push(line);
    }
    let code = format!(
        r#"# Recipe: graph loss — minimise the sum of the graph's own 'loss' outputs, as Strata trains it.
TASK = "losses"


def inputs_of(x, y):
    """Float dataset inputs get the features, integer ones the labels, noise inputs noise."""
    return {{
{feed}
    }}


def objective(out, y):
    """The summed losses of a batch."""
    losses = [v.sum() for k, v in out.items() if k == "loss" or k.startswith("loss_")]
    return sum(losses), None
"#,
        feed = feed.join("\n")
    );
    Ok(TrainPart {
        code,
        floats,
        ints,
        own_loop: false,
    })
}
