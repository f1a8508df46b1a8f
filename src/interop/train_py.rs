//! `train.py`: the project's recipe and training settings in PyTorch, single process or under
//! `torchrun` with DistributedDataParallel, on the data Strata trains on (`data.safetensors`).

use super::recipes::{PyInput, TRAINERS, TrainCtx};
use crate::doc::{Optimizer, Project, Schedule};
use crate::engine::GraphModel;
use std::path::Path;

/// Writes `train.py` and (for recipes that learn from data) `data.safetensors` into `out` (`args`: the forward pass's argument
/// for each input of the plan, in order); returns the files written. Errors name
/// the recipe when `train.py` cannot run it yet.
pub fn write(
    project: &Project,
    project_path: Option<&Path>,
    model: &GraphModel,
    args: &[String],
    out: &Path,
) -> Result<Vec<std::path::PathBuf>, String> {
    let recipe = project.recipe.id.as_str();
    let Some((_, part)) = TRAINERS.iter().find(|(id, _)| *id == recipe) else {
        let can: Vec<&str> = TRAINERS.iter().map(|(id, _)| *id).collect();
        return Err(format!(
            "train.py does not cover the '{recipe}' recipe yet (it covers {}); model.py and the weights are exported",
            can.join(", ")
        ));
    };
    let dir = project_path.and_then(Path::parent);
    // Recipes over labelled examples get them split as a run would; text recipes read their own.
    let examples =
        crate::engine::recipes::common::Examples::load(project, dir, project.training.seed).map_err(|e| e.to_string());
    let inputs: Vec<PyInput> = model
        .plan
        .inputs
        .iter()
        .zip(args)
        .map(|(slot, arg)| PyInput {
            arg: arg.clone(),
            field: slot.field.clone(),
            int: slot.dtype == crate::catalog::DType::Int,
            source: slot.source.clone(),
            dims: slot.dims.clone(),
        })
        .collect();
    let part = part(&TrainCtx {
        project,
        examples: examples.as_ref().map_err(Clone::clone),
        data_dir: dir,
        inputs: &inputs,
    })
    .map_err(|e| format!("cannot write train.py: {e}"))?;
    let mut written = Vec::new();
    if !part.own_loop {
        let data = out.join("data.safetensors");
        super::safetensors::write(
            &data,
            &part.floats,
            &part.ints,
            &[
                ("dataset", project.dataset.id.clone()),
                ("seed", project.training.seed.to_string()),
            ],
        )?;
        written.push(data);
    }
    let t = &project.training;
    let optimizer = match t.optimizer {
        Optimizer::Adam => "adam",
        Optimizer::AdamW => "adamw",
        Optimizer::Sgd => "sgd",
    };
    let schedule = match t.schedule {
        Schedule::Constant => "constant",
        Schedule::Cosine => "cosine",
        Schedule::WarmupCosine => "warmup_cosine",
    };
    let settings = format!(
        "SETTINGS = dict(\n    optimizer=\"{optimizer}\",\n    learning_rate={lr:?},\n    momentum={m:?},\n    weight_decay={wd:?},\n    schedule=\"{schedule}\",\n    warmup_steps={w},\n    batch_size={b},\n    steps={s},\n    seed={seed},\n    grad_clip={clip},\n)",
        lr = t.learning_rate,
        m = t.momentum,
        wd = t.weight_decay,
        w = t.warmup_steps,
        b = t.batch_size,
        s = t.steps,
        seed = t.seed,
        clip = t.grad_clip.map(|c| format!("{c:?}")).unwrap_or_else(|| "None".into()),
    );
    let note = if part.own_loop {
        RL_NOTE.to_owned()
    } else {
        DATA_NOTE.replace("{DATASET}", &project.dataset.id)
    };
    let script = TEMPLATE
        .replace("{DATA_NOTE}", &note)
        .replace("{LOOP}", if part.own_loop { "" } else { DATA_LOOP })
        .replace("{NAME}", &project.name.replace('"', "'"))
        .replace("{RECIPE}", recipe)
        .replace("{DATASET}", &project.dataset.id)
        .replace("{SETTINGS}", &settings)
        .replace("{RECIPE_PART}", part.code.trim_end());
    let path = out.join("train.py");
    crate::doc::write_atomic(&path, script.as_bytes()).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    written.insert(0, path);
    Ok(written)
}

/// How the data recipes' script runs under torchrun and where its data is.
const DATA_NOTE: &str =
    "Under torchrun the model is wrapped in DistributedDataParallel: each process takes its share of
every batch (batch_size / processes), gradients are averaged, and process 0 logs and saves. The
data ({DATASET}) is in data.safetensors, split and preprocessed exactly as Strata did; start from
Strata's weights with --weights weights.safetensors. Differences from Strata: PyTorch's own
initialisation when starting fresh, and its random streams (shuffling, dropout).";

/// The same for the reinforcement-learning recipes, whose environment is in the script.
const RL_NOTE: &str = "The environment is written out below (the same dynamics, rewards and time limits as Strata's).
Under torchrun every process acts in its own copies of the environment (seeded apart) and the
gradients of every update are averaged over the processes; process 0 logs, evaluates and saves.
Start from Strata's weights with --weights weights.safetensors. Differences from Strata: PyTorch's
own initialisation when starting fresh, and its random streams (exploration, sampling).";

/// The data recipes' loop: batches of examples, one optimizer, DistributedDataParallel.
const DATA_LOOP: &str = r#"def batch_loss(net, x, y):
    """The recipe's loss on a batch, what it got right and out of how many (None: nothing counted)."""
    if "loss_of" in globals():
        loss, right = loss_of(net, x, y)
    else:
        loss, right = objective(net(**inputs_of(x, y)), y)
    if right is None or isinstance(right, tuple):
        return (loss,) + (right or (None, None))
    return loss, right, (y.numel() if TASK == "masks" else y.shape[0])


def evaluate(model, x, y, device, batch=500):
    """Mean loss (and accuracy where the recipe counts right answers) over the validation split."""
    model.eval()
    total, right, units, count = 0.0, 0, 0, 0
    with torch.no_grad():
        for i in range(0, x.shape[0], batch):
            xb, yb = x[i:i + batch].to(device), y[i:i + batch].to(device)
            loss, r, u = batch_loss(model, xb, yb)
            total += float(loss) * xb.shape[0]
            count += xb.shape[0]
            if r is not None:
                right, units = right + float(r), units + float(u)
    model.train()
    return total / max(count, 1), (right / units if units else None)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=SETTINGS["steps"], help="optimisation steps")
    ap.add_argument("--weights", help="start from these weights (e.g. weights.safetensors)")
    ap.add_argument("--data", default="data.safetensors")
    ap.add_argument("--out", default="trained.safetensors", help="where process 0 saves the weights")
    ap.add_argument("--eval-every", type=int, default=0, help="validate every N steps (0: at the end)")
    args = ap.parse_args()

    rank, world, device = setup()
    distributed = world > 1
    local = device.index or 0
    torch.manual_seed(SETTINGS["seed"])

    model = Model()
    if args.weights:
        load_weights(model, args.weights)
    model.to(device).train()
    data = load_file(args.data)
    if "prepare" in globals():
        # Before DistributedDataParallel copies process 0's parameters to the others.
        prepare(data, device, model, fresh=not args.weights)
    net = torch.nn.parallel.DistributedDataParallel(model, device_ids=[local] if device.type == "cuda" else None) if distributed else model
    optimizer = make_optimizer(net.parameters())

    x_train, y_train, x_val, y_val = data["x_train"], data["y_train"], data["x_val"], data["y_val"]
    n = x_train.shape[0]
    per_rank = max(SETTINGS["batch_size"] // world, 1)
    order, cursor, epoch = None, n, 0
    for step in range(args.steps):
        if cursor + per_rank * world > n:
            # A new epoch: one shuffle shared by every process (same seed), each takes its part.
            g = torch.Generator().manual_seed(SETTINGS["seed"] + epoch)
            order, cursor, epoch = torch.randperm(n, generator=g), 0, epoch + 1
        idx = order[cursor + rank * per_rank: cursor + (rank + 1) * per_rank]
        cursor += per_rank * world
        xb, yb = x_train[idx].to(device), y_train[idx].to(device)
        if "train_step" in globals():
            # The recipe steps its networks itself (each with its own optimizer).
            loss = train_step(model, xb, yb, learning_rate(step, args.steps))
        else:
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(step, args.steps)
            loss = batch_loss(net, xb, yb)[0]
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            clip_gradients(model.parameters())
            optimizer.step()
        if rank == 0 and (step % 50 == 0 or step == args.steps - 1):
            print(f"step {step:6d}  loss {float(loss):.4f}  lr {learning_rate(step, args.steps):.2e}", flush=True)
        if rank == 0 and args.eval_every and (step + 1) % args.eval_every == 0:
            print(f"step {step + 1:6d}  validation {evaluate(model, x_val, y_val, device)}", flush=True)
    if rank == 0:
        val_loss, acc = evaluate(model, x_val, y_val, device)
        print(f"validation loss {val_loss:.4f}" + (f"  accuracy {acc:.4f}" if acc is not None else ""))
        save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, args.out)
        print(f"saved {args.out}")
    if distributed:
        dist.destroy_process_group()


"#;

const TEMPLATE: &str = r#"""""Trains {NAME} in PyTorch — exported from Strata with its recipe ({RECIPE}) and settings.

One process:            python train.py
Several (one machine):  torchrun --nproc_per_node 4 train.py
Several machines:       torchrun --nnodes 2 --nproc_per_node 8 --rdzv_backend c10d \
                            --rdzv_endpoint HOST:29500 train.py

{DATA_NOTE}
"""

import argparse
import copy
import math
import os
import random

import torch
import torch.distributed as dist
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from model import Model, load_weights

{SETTINGS}

{RECIPE_PART}


def learning_rate(step, total):
    """Strata's schedules: constant, cosine, or linear warm-up then cosine."""
    base, s = SETTINGS["learning_rate"], SETTINGS["schedule"]
    if s == "cosine":
        return base * 0.5 * (1.0 + math.cos(math.pi * step / max(total, 1)))
    if s == "warmup_cosine":
        w = SETTINGS["warmup_steps"]
        if step < w:
            return base * (step + 1) / w
        p = min((step - w) / max(total - w, 1), 1.0)
        return base * 0.5 * (1.0 + math.cos(math.pi * p))
    return base


def make_optimizer(params):
    """Strata's optimizers with Burn's defaults (Adam's epsilon is 1e-5)."""
    o, lr, wd = SETTINGS["optimizer"], SETTINGS["learning_rate"], SETTINGS["weight_decay"]
    if o == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=SETTINGS["momentum"], weight_decay=wd)
    if o == "adamw":
        return torch.optim.AdamW(params, lr=lr, eps=1e-5, weight_decay=wd)
    return torch.optim.Adam(params, lr=lr, eps=1e-5, weight_decay=wd)


def clip_gradients(params):
    """Burn clips each parameter's gradient norm on its own."""
    if SETTINGS["grad_clip"]:
        for p in params:
            if p.grad is not None:
                torch.nn.utils.clip_grad_norm_([p], SETTINGS["grad_clip"])


def average_gradients(params):
    """Under torchrun, averages gradients over the processes — for recipes that call the model's
    parts directly (outside DistributedDataParallel's forward)."""
    if dist.is_available() and dist.is_initialized():
        for p in params:
            if p.grad is not None:
                dist.all_reduce(p.grad)
                p.grad /= dist.get_world_size()

def setup():
    """Process rank, process count and device; joins the process group under torchrun."""
    rank, world, local = 0, 1, 0
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        dist.init_process_group(backend="nccl" if torch.cuda.is_available() else "gloo")
        rank, world = dist.get_rank(), dist.get_world_size()
        local = int(os.environ.get("LOCAL_RANK", "0"))
    device = torch.device(f"cuda:{local}" if torch.cuda.is_available() else "cpu")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    return rank, world, device


{LOOP}if __name__ == "__main__":
    main()
"#;
