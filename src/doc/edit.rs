//! Every change to a project is an [`Edit`] with an exact inverse, so undo/redo is exact and the
//! app, the CLI and the tests all change documents the same way.

use super::graph::{Graph, Node, NodeId, Wire};
use super::params::ParamValue;
use super::project::{BlockDef, DatasetBinding, Project, RecipeSettings, TrainingSettings};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// The kind id of a block's input port node.
pub const PORT_IN_KIND: &str = "port_in";
/// The kind id of a block's output port node.
pub const PORT_OUT_KIND: &str = "port_out";

/// Which graph an edit applies to: the project's top level or the inside of a block.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Scope {
    /// The top-level graph.
    Root,
    /// The graph inside the block definition with this id.
    Block(String),
}

/// A change to a project. [`Edit::apply`] returns the edit that undoes it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Edit {
    /// Insert a node keeping its id (ids come from [`Graph::alloc_id`] or [`Edit::add_node`]).
    AddNode {
        /// Where.
        scope: Scope,
        /// The node.
        node: Node,
    },
    /// Remove a node and the wires touching it.
    RemoveNode {
        /// Where.
        scope: Scope,
        /// Which.
        id: NodeId,
    },
    /// Connect two ports.
    AddWire {
        /// Where.
        scope: Scope,
        /// The wire.
        wire: Wire,
    },
    /// Disconnect two ports.
    RemoveWire {
        /// Where.
        scope: Scope,
        /// The wire.
        wire: Wire,
    },
    /// Set (or with `None` clear, i.e. back to the default) a parameter.
    SetParam {
        /// Where.
        scope: Scope,
        /// Which node.
        node: NodeId,
        /// Parameter name.
        name: String,
        /// New value.
        value: Option<ParamValue>,
    },
    /// Move a node on the canvas.
    Move {
        /// Where.
        scope: Scope,
        /// Which node.
        node: NodeId,
        /// New top-left corner.
        pos: [f32; 2],
    },
    /// Rename a node.
    Rename {
        /// Where.
        scope: Scope,
        /// Which node.
        node: NodeId,
        /// New title ("" = kind name).
        title: String,
    },
    /// Pin or unpin a node (auto-layout keeps pinned nodes).
    SetPinned {
        /// Where.
        scope: Scope,
        /// Which node.
        node: NodeId,
        /// Pinned?
        pinned: bool,
    },
    /// Set how many chained copies a block instance stands for.
    SetRepeat {
        /// Where.
        scope: Scope,
        /// Which block instance.
        node: NodeId,
        /// Copies (≥ 1).
        repeat: u32,
    },
    /// Add a block definition.
    AddBlock {
        /// The definition.
        def: BlockDef,
    },
    /// Remove a block definition (only when no node instances it).
    RemoveBlock {
        /// Block id.
        id: String,
    },
    /// Rename a block definition.
    RenameBlock {
        /// Block id.
        id: String,
        /// New display name.
        name: String,
    },
    /// Rename the project.
    RenameProject {
        /// New name.
        name: String,
    },
    /// Replace the recipe settings.
    SetRecipe(RecipeSettings),
    /// Replace the dataset binding.
    SetDataset(DatasetBinding),
    /// Replace the training settings.
    SetTraining(TrainingSettings),
    /// Several edits as one undo step.
    Batch(Vec<Edit>),
}

/// Why an edit could not be applied. The project is unchanged when this is returned.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EditError {
    /// No block with this id.
    #[error("there is no block '{0}'")]
    NoBlock(String),
    /// No node with this id in the scope.
    #[error("there is no node {0} here")]
    NoNode(NodeId),
    /// The node id is taken.
    #[error("node id {0} is already used")]
    IdTaken(NodeId),
    /// The wire already exists.
    #[error("these ports are already connected")]
    WireExists,
    /// The wire does not exist.
    #[error("there is no such wire")]
    NoWire,
    /// The block id is taken.
    #[error("a block with id '{0}' already exists")]
    BlockExists(String),
    /// The block is still used.
    #[error("block '{0}' is still used by {1} node(s) — remove them first")]
    BlockInUse(String, usize),
    /// Invalid value.
    #[error("{0}")]
    Invalid(String),
}

fn graph_mut<'a>(p: &'a mut Project, scope: &Scope) -> Result<&'a mut Graph, EditError> {
    match scope {
        Scope::Root => Ok(&mut p.graph),
        Scope::Block(id) => p
            .block_mut(id)
            .map(|b| &mut b.graph)
            .ok_or_else(|| EditError::NoBlock(id.clone())),
    }
}

/// The graph an edit scope refers to.
pub fn graph_in<'a>(p: &'a Project, scope: &Scope) -> Option<&'a Graph> {
    match scope {
        Scope::Root => Some(&p.graph),
        Scope::Block(id) => p.block(id).map(|b| &b.graph),
    }
}

fn node_mut<'a>(p: &'a mut Project, scope: &Scope, id: NodeId) -> Result<&'a mut Node, EditError> {
    graph_mut(p, scope)?.node_mut(id).ok_or(EditError::NoNode(id))
}

fn count_instances(p: &Project, block: &str) -> usize {
    std::iter::once(&p.graph)
        .chain(p.blocks.iter().map(|b| &b.graph))
        .flat_map(|g| g.nodes.iter())
        .filter(|n| n.block.as_deref() == Some(block))
        .count()
}

impl Edit {
    /// An `AddNode` edit for `node` with a fresh id from the scope's graph; returns the id too.
    pub fn add_node(p: &mut Project, scope: Scope, mut node: Node) -> Result<(Edit, NodeId), EditError> {
        let id = graph_mut(p, &scope)?.alloc_id();
        node.id = id;
        Ok((Edit::AddNode { scope, node }, id))
    }

    /// Applies the edit and returns its inverse. On error nothing changed.
    pub fn apply(self, p: &mut Project) -> Result<Edit, EditError> {
        Ok(match self {
            Edit::AddNode { scope, node } => {
                let id = node.id;
                if !graph_mut(p, &scope)?.insert_node(node) {
                    return Err(EditError::IdTaken(id));
                }
                Edit::RemoveNode { scope, id }
            }
            Edit::RemoveNode { scope, id } => {
                let (node, wires) = graph_mut(p, &scope)?.remove_node(id).ok_or(EditError::NoNode(id))?;
                let add = Edit::AddNode {
                    scope: scope.clone(),
                    node,
                };
                if wires.is_empty() {
                    add
                } else {
                    let mut inv = vec![add];
                    inv.extend(wires.into_iter().map(|wire| Edit::AddWire {
                        scope: scope.clone(),
                        wire,
                    }));
                    Edit::Batch(inv)
                }
            }
            Edit::AddWire { scope, wire } => {
                let g = graph_mut(p, &scope)?;
                for id in [wire.from, wire.to] {
                    if g.node(id).is_none() {
                        return Err(EditError::NoNode(id));
                    }
                }
                if wire.from == wire.to {
                    return Err(EditError::Invalid("a node cannot feed itself".into()));
                }
                if !g.add_wire(wire.clone()) {
                    return Err(EditError::WireExists);
                }
                Edit::RemoveWire { scope, wire }
            }
            Edit::RemoveWire { scope, wire } => {
                if !graph_mut(p, &scope)?.remove_wire(&wire) {
                    return Err(EditError::NoWire);
                }
                Edit::AddWire { scope, wire }
            }
            Edit::SetParam {
                scope,
                node,
                name,
                value,
            } => {
                let n = node_mut(p, &scope, node)?;
                let old = match value {
                    Some(v) => n.params.insert(name.clone(), v),
                    None => n.params.remove(&name),
                };
                Edit::SetParam {
                    scope,
                    node,
                    name,
                    value: old,
                }
            }
            Edit::Move { scope, node, pos } => {
                if !pos.iter().all(|v| v.is_finite()) {
                    return Err(EditError::Invalid("position must be finite".into()));
                }
                let n = node_mut(p, &scope, node)?;
                let old = std::mem::replace(&mut n.pos, pos);
                Edit::Move { scope, node, pos: old }
            }
            Edit::Rename { scope, node, title } => {
                let n = node_mut(p, &scope, node)?;
                let old = std::mem::replace(&mut n.title, title);
                Edit::Rename {
                    scope,
                    node,
                    title: old,
                }
            }
            Edit::SetPinned { scope, node, pinned } => {
                let n = node_mut(p, &scope, node)?;
                let old = std::mem::replace(&mut n.pinned, pinned);
                Edit::SetPinned {
                    scope,
                    node,
                    pinned: old,
                }
            }
            Edit::SetRepeat { scope, node, repeat } => {
                if repeat == 0 {
                    return Err(EditError::Invalid("repeat must be at least 1".into()));
                }
                let n = node_mut(p, &scope, node)?;
                if !n.is_block() {
                    return Err(EditError::Invalid("only block instances can repeat".into()));
                }
                let old = std::mem::replace(&mut n.repeat, repeat);
                Edit::SetRepeat {
                    scope,
                    node,
                    repeat: old,
                }
            }
            Edit::AddBlock { def } => {
                if p.block(&def.id).is_some() {
                    return Err(EditError::BlockExists(def.id));
                }
                let id = def.id.clone();
                let i = p.blocks.partition_point(|b| b.id < def.id);
                p.blocks.insert(i, def);
                Edit::RemoveBlock { id }
            }
            Edit::RemoveBlock { id } => {
                let users = count_instances(p, &id);
                if users > 0 {
                    return Err(EditError::BlockInUse(id, users));
                }
                let i = p
                    .blocks
                    .iter()
                    .position(|b| b.id == id)
                    .ok_or_else(|| EditError::NoBlock(id.clone()))?;
                Edit::AddBlock {
                    def: p.blocks.remove(i),
                }
            }
            Edit::RenameBlock { id, name } => {
                let b = p.block_mut(&id).ok_or_else(|| EditError::NoBlock(id.clone()))?;
                let old = std::mem::replace(&mut b.name, name);
                Edit::RenameBlock { id, name: old }
            }
            Edit::RenameProject { name } => Edit::RenameProject {
                name: std::mem::replace(&mut p.name, name),
            },
            Edit::SetRecipe(r) => Edit::SetRecipe(std::mem::replace(&mut p.recipe, r)),
            Edit::SetDataset(d) => Edit::SetDataset(std::mem::replace(&mut p.dataset, d)),
            Edit::SetTraining(t) => Edit::SetTraining(std::mem::replace(&mut p.training, t)),
            Edit::Batch(edits) => {
                let mut inverses = Vec::with_capacity(edits.len());
                for e in edits {
                    match e.apply(p) {
                        Ok(inv) => inverses.push(inv),
                        Err(err) => {
                            for inv in inverses.into_iter().rev() {
                                // Inverses of edits that just succeeded always apply.
                                let _ = inv.apply(p);
                            }
                            return Err(err);
                        }
                    }
                }
                inverses.reverse();
                // Flat: an inverse's own steps join this list (in their order), so undo/redo
                // cycles never nest batches deeper and the history stays the same size.
                let mut flat = Vec::with_capacity(inverses.len());
                for inv in inverses {
                    match inv {
                        Edit::Batch(steps) => flat.extend(steps),
                        other => flat.push(other),
                    }
                }
                Edit::Batch(flat)
            }
        })
    }

    /// Groups `selection` (nodes of `scope`) into a new block `block_id` and replaces them by one
    /// instance of it. Wires crossing the selection become the block's ports: one `port_in` per
    /// distinct outside source, one `port_out` per distinct inside source read outside.
    pub fn group_into_block(
        p: &Project,
        scope: &Scope,
        selection: &[NodeId],
        block_id: &str,
        name: &str,
    ) -> Result<Edit, EditError> {
        let g = graph_in(p, scope).ok_or_else(|| match scope {
            Scope::Block(b) => EditError::NoBlock(b.clone()),
            Scope::Root => EditError::Invalid("no root graph".into()),
        })?;
        if p.block(block_id).is_some() {
            return Err(EditError::BlockExists(block_id.into()));
        }
        let sel: BTreeSet<NodeId> = selection.iter().copied().collect();
        if sel.is_empty() {
            return Err(EditError::Invalid("select at least one node to group".into()));
        }
        let mut inner = Graph::new();
        let (mut min, mut max) = ([f32::MAX; 2], [f32::MIN; 2]);
        for id in &sel {
            let n = g.node(*id).ok_or(EditError::NoNode(*id))?;
            for k in 0..2 {
                min[k] = min[k].min(n.pos[k]);
                max[k] = max[k].max(n.pos[k]);
            }
            inner.insert_node(n.clone());
        }
        // Distinct sources crossing into / out of the selection, in wire order.
        let mut ins: BTreeMap<(NodeId, String), String> = BTreeMap::new();
        let mut outs: BTreeMap<(NodeId, String), String> = BTreeMap::new();
        for w in &g.wires {
            match (sel.contains(&w.from), sel.contains(&w.to)) {
                (true, true) => {
                    inner.add_wire(w.clone());
                }
                (false, true) => {
                    let n = ins.len();
                    ins.entry((w.from, w.out.clone())).or_insert_with(|| format!("in{n}"));
                }
                (true, false) => {
                    let n = outs.len();
                    outs.entry((w.from, w.out.clone())).or_insert_with(|| format!("out{n}"));
                }
                (false, false) => {}
            }
        }
        let rename = |m: &mut BTreeMap<(NodeId, String), String>, single: &str| {
            if m.len() == 1 {
                for v in m.values_mut() {
                    *v = single.to_owned();
                }
            }
        };
        rename(&mut ins, "x");
        rename(&mut outs, "y");
        let mut port_ids: BTreeMap<String, NodeId> = BTreeMap::new();
        for (i, port) in ins.values().enumerate() {
            let id = inner.add(
                Node::new(PORT_IN_KIND)
                    .with("name", port.as_str())
                    .with("index", i as i64),
            );
            if let Some(n) = inner.node_mut(id) {
                n.pos = [min[0] - 240.0, min[1] + 120.0 * i as f32];
            }
            port_ids.insert(format!("in:{port}"), id);
        }
        for (i, port) in outs.values().enumerate() {
            let id = inner.add(
                Node::new(PORT_OUT_KIND)
                    .with("name", port.as_str())
                    .with("index", i as i64),
            );
            if let Some(n) = inner.node_mut(id) {
                n.pos = [max[0] + 240.0, min[1] + 120.0 * i as f32];
            }
            port_ids.insert(format!("out:{port}"), id);
        }
        // Outer graph: the instance replaces the selection.
        let mut outer = g.clone();
        let instance_id = outer.alloc_id();
        let mut instance = Node::block_instance(block_id, 1);
        instance.id = instance_id;
        instance.title = name.to_owned();
        instance.pos = [(min[0] + max[0]) / 2.0, (min[1] + max[1]) / 2.0];
        let mut new_outer_wires = Vec::new();
        for w in &g.wires {
            match (sel.contains(&w.from), sel.contains(&w.to)) {
                (false, true) => {
                    let port = &ins[&(w.from, w.out.clone())];
                    inner.add_wire(Wire::new(port_ids[&format!("in:{port}")], "y", w.to, &w.input));
                    new_outer_wires.push(Wire::new(w.from, &w.out, instance_id, port));
                }
                (true, false) => {
                    let port = &outs[&(w.from, w.out.clone())];
                    inner.add_wire(Wire::new(w.from, &w.out, port_ids[&format!("out:{port}")], "x"));
                    new_outer_wires.push(Wire::new(instance_id, port, w.to, &w.input));
                }
                _ => {}
            }
        }
        new_outer_wires.sort();
        new_outer_wires.dedup();
        let mut edits = vec![Edit::AddBlock {
            def: BlockDef {
                id: block_id.to_owned(),
                name: name.to_owned(),
                description: String::new(),
                graph: inner,
            },
        }];
        edits.extend(sel.iter().map(|id| Edit::RemoveNode {
            scope: scope.clone(),
            id: *id,
        }));
        edits.push(Edit::AddNode {
            scope: scope.clone(),
            node: instance,
        });
        edits.extend(new_outer_wires.into_iter().map(|wire| Edit::AddWire {
            scope: scope.clone(),
            wire,
        }));
        Ok(Edit::Batch(edits))
    }
}

/// Undo/redo stacks of inverse edits.
#[derive(Clone, Debug, Default)]
pub struct History {
    undo: Vec<Edit>,
    redo: Vec<Edit>,
}

impl History {
    /// Empty history.
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies `edit` and records its inverse; clears the redo stack.
    pub fn apply(&mut self, p: &mut Project, edit: Edit) -> Result<(), EditError> {
        let inv = edit.apply(p)?;
        self.undo.push(inv);
        self.redo.clear();
        Ok(())
    }

    /// Undoes the last edit. Returns false when there is nothing to undo.
    pub fn undo(&mut self, p: &mut Project) -> Result<bool, EditError> {
        let Some(inv) = self.undo.pop() else {
            return Ok(false);
        };
        let redo = inv.apply(p)?;
        self.redo.push(redo);
        Ok(true)
    }

    /// Redoes the last undone edit. Returns false when there is nothing to redo.
    pub fn redo(&mut self, p: &mut Project) -> Result<bool, EditError> {
        let Some(e) = self.redo.pop() else {
            return Ok(false);
        };
        let inv = e.apply(p)?;
        self.undo.push(inv);
        Ok(true)
    }

    /// True when there is something to undo.
    pub fn can_undo(&self) -> bool {
        !self.undo.is_empty()
    }

    /// True when there is something to redo.
    pub fn can_redo(&self) -> bool {
        !self.redo.is_empty()
    }
}
