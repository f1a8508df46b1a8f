//! Checkpoints of a supervised run: weights per node, optimizer state, where training stands.

use super::RunError;
use super::supervised::{Supervised, optimizer};
use crate::data;

/// What `checkpoint.json` records beside the weight files.
#[derive(serde::Serialize, serde::Deserialize)]
struct Checkpoint {
    format: u32,
    step: u64,
    epoch: u64,
    cursor: usize,
    seed: u64,
    lr_scale: f64,
    nodes: Vec<String>,
}

impl Supervised {
    /// Writes a checkpoint: weights per node, optimizer state, and where training stands.
    pub fn save_checkpoint(&self, dir: &std::path::Path) -> Result<(), RunError> {
        let fail = |m: String| RunError::Failed(format!("checkpoint {}: {m}", dir.display()));
        let model = self.model.as_ref().ok_or_else(|| fail("no model".into()))?;
        let nodes = model.save_nodes(dir).map_err(fail)?;
        self.optim
            .to_record()
            .save(dir.join("optimizer.bpk"))
            .map_err(|e| fail(format!("cannot write the optimizer state: {e:?}")))?;
        let manifest = Checkpoint {
            format: 1,
            step: self.step,
            epoch: self.epoch,
            cursor: self.cursor,
            seed: self.settings.seed,
            lr_scale: self.lr_scale,
            nodes,
        };
        let text = serde_json::to_string_pretty(&manifest).map_err(|e| fail(e.to_string()))?;
        std::fs::write(dir.join("checkpoint.json"), text).map_err(|e| fail(e.to_string()))
    }

    /// Continues from a checkpoint: restores the weights of every node that still exists with the
    /// same shape, the optimizer state, the step and the data order. Returns the keys of nodes
    /// that start fresh (new or changed since the checkpoint).
    pub fn resume(&mut self, dir: &std::path::Path) -> Result<Vec<String>, RunError> {
        let bad = |m: String| RunError::BadInput(format!("cannot resume from {}: {m}", dir.display()));
        let text = std::fs::read_to_string(dir.join("checkpoint.json")).map_err(|e| bad(e.to_string()))?;
        let c: Checkpoint = serde_json::from_str(&text).map_err(|e| bad(format!("checkpoint.json: {e}")))?;
        if c.format != 1 {
            return Err(bad(format!("checkpoint format {} is not supported", c.format)));
        }
        let model = self.model.take().ok_or_else(|| bad("no model".into()))?;
        let (model, _restored, fresh) = model.load_nodes(dir);
        self.model = Some(model);
        let record = burn::optim::OptimizerRecord::load(dir.join("optimizer.bpk"))
            .map_err(|e| bad(format!("optimizer.bpk: {e:?}")))?;
        let optim = std::mem::replace(&mut self.optim, optimizer(&self.settings));
        self.optim = optim.load_record(record);
        self.step = c.step;
        self.lr_scale = c.lr_scale;
        // Replay the data order: the initial shuffle, then one reshuffle per finished epoch.
        let mut order = self.split.train.clone();
        data::shuffle(&mut order, self.settings.seed);
        for e in 1..=c.epoch {
            data::shuffle(&mut order, self.settings.seed.wrapping_add(e));
        }
        self.order = order;
        self.epoch = c.epoch;
        self.cursor = c.cursor.min(self.order.len());
        Ok(fresh)
    }
}
