//! Loading weights saved under PyTorch's names (by `train.py`, or any state dict of the exported
//! `model.py`) or under `node title.field` names back into a project.
//!
//! The inverse of the PyTorch export is found, not written per kind: every learned value of the
//! compiled model is set to a distinct number, the model is exported, and each exported element
//! is traced back to the element it came from. Any exporter that copies, transposes or reorders
//! weights is thereby inverted exactly.

use super::weights::{NamedTensor, assign, burn_tensors};
use super::{Summary, torch};
use crate::doc::Project;
use crate::engine::GraphModel;
use crate::engine::ops::Layer;
use std::collections::HashMap;
use std::path::Path;

/// Where one exported tensor's elements live in the compiled model.
#[derive(Clone, Debug)]
pub struct Slot {
    /// Plan step.
    pub step: usize,
    /// The model's tensors it draws on (Burn field paths, or `running_mean` / `running_var`).
    pub paths: Vec<String>,
    /// Element `i` of the exported tensor is element `perm[i].1` of tensor `paths[perm[i].0]`.
    pub perm: Vec<(usize, usize)>,
}

/// Every tensor of a layer, running statistics included.
fn all_tensors(layer: &Layer) -> Vec<NamedTensor> {
    let mut v = burn_tensors(layer);
    if let Layer::BatchNorm(bn) = layer {
        v.push(NamedTensor::of("running_mean", &bn.running_mean.value()));
        v.push(NamedTensor::of("running_var", &bn.running_var.value()));
    }
    v
}

/// The PyTorch name of every tensor of `project`'s export, with where it lives in the model.
pub fn torch_slots(project: &Project) -> Result<HashMap<String, Slot>, String> {
    trace(project, |p, m| Ok(torch::export(p, m)?.weights))
}

/// The name of every initializer of `project`'s ONNX export, with where it lives in the model.
pub fn onnx_slots(project: &Project) -> Result<HashMap<String, Slot>, String> {
    use onnx_ir::{Message, ModelProto};
    trace(project, |p, m| {
        let ex = super::onnx::export(p, m)?;
        let model = ModelProto::parse_from_bytes(&ex.bytes).map_err(|e| e.to_string())?;
        let g = model.graph.as_ref().ok_or("no graph")?;
        // Initializers (parameters) and Constant nodes (buffers such as batch-norm statistics).
        let constants = g.node.iter().filter(|n| n.op_type == "Constant").filter_map(|n| {
            let t = n.attribute.iter().find(|a| a.name == "value")?.t.as_ref()?;
            Some((n.output.first()?.clone(), t))
        });
        Ok(g.initializer
            .iter()
            .map(|t| (t.name.clone(), t))
            .chain(constants)
            .filter(|(_, t)| t.data_type == 1)
            .map(|(name, t)| NamedTensor {
                name,
                dims: t.dims.iter().map(|&d| d as usize).collect(),
                data: t.float_data.clone(),
            })
            .collect())
    })
}

/// Sets every learned value of `project`'s model to a distinct number, exports it with `export`,
/// and traces each exported tensor's elements back to the model's.
fn trace(
    project: &Project,
    export: impl Fn(&Project, &GraphModel) -> Result<Vec<NamedTensor>, String>,
) -> Result<HashMap<String, Slot>, String> {
    let device = burn::tensor::Device::flex();
    let model = crate::engine::compile(project, &device).map_err(|e| e.to_string())?;
    let GraphModel { mut layers, plan } = model;
    // Distinct values: consecutive positive normal floats.
    let mut next: u32 = 0x0080_0000;
    let mut origin: HashMap<u32, (usize, usize, usize)> = HashMap::new(); // bits → (step, tensor, element)
    let mut tensors_of: Vec<Vec<NamedTensor>> = vec![Vec::new(); plan.steps.len()];
    for (si, s) in plan.steps.iter().enumerate() {
        let Some(li) = s.layer else { continue };
        let mut ts = all_tensors(&layers[li]);
        for (ti, t) in ts.iter_mut().enumerate() {
            for (e, v) in t.data.iter_mut().enumerate() {
                if next >= 0x7f00_0000 {
                    return Err("the model is too large to trace its weights' names".into());
                }
                *v = f32::from_bits(next);
                origin.insert(next, (si, ti, e));
                next += 1;
            }
        }
        let layer = layers.remove(li);
        let (layer, _) = assign(layer, &ts);
        layers.insert(li, layer);
        tensors_of[si] = ts;
    }
    let model = GraphModel { layers, plan };
    let mut slots = HashMap::new();
    for w in export(project, &model)? {
        // A buffer that is not learned (a flow's fixed permutation) traces to nothing: skip it.
        if !w.data.iter().any(|v| origin.contains_key(&v.to_bits())) {
            continue;
        }
        let mut step = None;
        let mut paths: Vec<String> = Vec::new();
        let mut perm = Vec::with_capacity(w.data.len());
        for v in &w.data {
            let Some(&(s, t, e)) = origin.get(&v.to_bits()) else {
                return Err(format!("cannot trace the exported tensor {} back to the model", w.name));
            };
            if *step.get_or_insert(s) != s {
                return Err(format!("the exported tensor {} mixes several nodes' weights", w.name));
            }
            let name = &tensors_of[s][t].name;
            let local = match paths.iter().position(|p| p == name) {
                Some(i) => i,
                None => {
                    paths.push(name.clone());
                    paths.len() - 1
                }
            };
            perm.push((local, e));
        }
        let Some(step) = step else { continue };
        slots.insert(w.name.clone(), Slot { step, paths, perm });
    }
    Ok(slots)
}

/// Loads the tensors of a `.safetensors` file into `project`'s model — by the PyTorch names of
/// its export, or by `node title.field` — and saves them as the checkpoint folder `out`.
pub fn load_weights(project: &Project, file: &Path, out: &Path) -> Result<Summary, String> {
    let contents = super::safetensors::read(file)?;
    let slots = torch_slots(project)?;
    load_into(project, &contents.floats, &slots, &file.display().to_string(), out)
}

/// Loads the initializers of a Strata ONNX export back onto `project`'s layers (traced through
/// the ONNX exporter) and saves them as the checkpoint folder `out`.
pub fn load_onnx_initializers(project: &Project, tensors: &[NamedTensor], out: &Path) -> Result<Summary, String> {
    let slots = onnx_slots(project)?;
    load_into(project, tensors, &slots, "the ONNX file", out)
}

fn load_into(
    project: &Project,
    floats: &[NamedTensor],
    slots: &HashMap<String, Slot>,
    file: &str,
    out: &Path,
) -> Result<Summary, String> {
    let device = burn::tensor::Device::flex();
    let model = crate::engine::compile(project, &device).map_err(|e| e.to_string())?;
    let GraphModel { mut layers, plan } = model;
    // Per step: the tensors to assign (Burn paths), starting from the model's own values.
    let mut per_step: HashMap<usize, Vec<NamedTensor>> = HashMap::new();
    let mut used = 0usize;
    let mut unknown = Vec::new();
    for t in floats {
        if let Some(slot) = slots.get(&t.name) {
            if t.data.len() != slot.perm.len() {
                return Err(format!(
                    "{}: {} holds {} values, the model's needs {}",
                    file,
                    t.name,
                    t.data.len(),
                    slot.perm.len()
                ));
            }
            let Some(li) = plan.steps[slot.step].layer else {
                continue;
            };
            let list = per_step.entry(slot.step).or_insert_with(|| all_tensors(&layers[li]));
            let targets: Vec<Option<usize>> = slot
                .paths
                .iter()
                .map(|p| list.iter().position(|x| &x.name == p))
                .collect();
            for (i, &(ti, e)) in slot.perm.iter().enumerate() {
                if let Some(x) = targets[ti].and_then(|k| list.get_mut(k))
                    && let Some(v) = x.data.get_mut(e)
                {
                    *v = t.data[i];
                }
            }
            used += 1;
            continue;
        }
        let Some((step, path)) = by_title(&plan, &t.name) else {
            unknown.push(t.name.clone());
            continue;
        };
        let values = t.data.clone();
        let Some(li) = plan.steps[step].layer else { continue };
        let list = per_step.entry(step).or_insert_with(|| all_tensors(&layers[li]));
        match list.iter_mut().find(|x| x.name == path) {
            Some(x) if x.data.len() == values.len() => {
                x.data = values;
                used += 1;
            }
            Some(x) => {
                return Err(format!(
                    "{}: {} holds {} values, node '{}' needs {} for {path}",
                    file,
                    t.name,
                    values.len(),
                    plan.steps[step].title,
                    x.data.len()
                ));
            }
            None => unknown.push(t.name.clone()),
        }
    }
    if used == 0 {
        let mut expected: Vec<&String> = slots.keys().filter(|k| k.ends_with(".weight")).collect();
        expected.sort();
        return Err(format!(
            "{}: none of its {} tensors names a weight of this project (expected names like {})",
            file,
            floats.len(),
            expected
                .iter()
                .take(3)
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    for (step, ts) in &per_step {
        let Some(li) = plan.steps[*step].layer else { continue };
        let layer = layers.remove(li);
        let (layer, missing) = assign(layer, ts);
        layers.insert(li, layer);
        if !missing.is_empty() {
            return Err(format!("node '{}': {}", plan.steps[*step].title, missing.join(", ")));
        }
    }
    let model = GraphModel { layers, plan };
    model.save_nodes(out)?;
    let mut notes = vec![format!("{used} tensors loaded into {} node(s)", per_step.len())];
    let untouched = model
        .plan
        .steps
        .iter()
        .enumerate()
        .filter(|(i, s)| s.layer.is_some() && !per_step.contains_key(i))
        .count();
    if untouched > 0 {
        notes.push(format!(
            "{untouched} node(s) with weights got none from the file and keep fresh ones"
        ));
    }
    if !unknown.is_empty() {
        notes.push(format!(
            "{} tensor(s) in the file match no weight: {}",
            unknown.len(),
            unknown.iter().take(5).cloned().collect::<Vec<_>>().join(", ")
        ));
    }
    Ok(Summary {
        files: vec![out.to_owned()],
        params: crate::shape::check(project).total_params as usize,
        notes,
    })
}

/// `title.field.path` → (step, Burn path) for a top-level node with that title.
fn by_title(plan: &crate::engine::Plan, name: &str) -> Option<(usize, String)> {
    plan.steps
        .iter()
        .enumerate()
        .filter(|(_, s)| s.layer.is_some())
        .find_map(|(i, s)| {
            name.strip_prefix(&format!("{}.", s.title))
                .map(|rest| (i, rest.to_owned()))
        })
}
