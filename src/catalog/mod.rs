//! The catalog: one [`LayerSpec`] per node kind, one file per family, in a registry that
//! rejects duplicate ids. Everything that depends on a node's kind — ports, parameters, shape
//! rule, parameter count, cost — is looked up here; nothing else matches on kind ids.

mod attention;
mod builder;
mod conv;
mod core;
mod embedding;
pub mod flow;
mod foreign;
mod generative;
mod graph_nn;
mod io;
mod loss;
mod math;
pub mod mixers;
mod norm;
pub mod recipes;
mod recurrent;
pub mod rules;
mod shape_ops;
mod spec;
mod types;

pub use builder::GraphBuilder;
pub use recipes::{
    DataKind, GenerateSpec, NetworkSpec, ROLES, RecipeSpec, RoleSpec, SeriesSpec, ViewSpec, When, duplicate_recipe_id,
    recipe, recipes,
};
pub use spec::{
    Accept, Category, Ctx, Fix, FixAction, Inferred, LayerSpec, MAX_VARIADIC_PORTS, ParamDefault, ParamKind, ParamSpec,
    PortDef, PortSpec, Ports, RuleError, ShapeRule,
};
pub use types::{DType, Dim, TensorType};

use crate::doc::{self, LoadError, Node, ParamValue, Project};
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::OnceLock;

/// Two specs share an id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("two layer kinds use the id '{0}'")]
pub struct DuplicateKind(pub &'static str);

/// The registry of node kinds.
#[derive(Debug)]
pub struct Catalog {
    specs: Vec<LayerSpec>,
    by_id: HashMap<&'static str, usize, BuildFnv>,
}

/// FNV-1a: kind ids are short and trusted, so a simple hash beats SipHash on the checker's path.
#[derive(Clone, Copy, Debug, Default)]
pub struct BuildFnv;

/// The FNV-1a state.
#[derive(Clone, Copy, Debug)]
pub struct Fnv(u64);

impl std::hash::BuildHasher for BuildFnv {
    type Hasher = Fnv;
    fn build_hasher(&self) -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl std::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

impl Catalog {
    /// A registry of `specs`; fails on a duplicate id.
    pub fn new(specs: Vec<LayerSpec>) -> Result<Self, DuplicateKind> {
        let mut by_id = HashMap::with_capacity_and_hasher(specs.len(), BuildFnv);
        for (i, s) in specs.iter().enumerate() {
            if by_id.insert(s.id, i).is_some() {
                return Err(DuplicateKind(s.id));
            }
        }
        Ok(Catalog { specs, by_id })
    }

    /// Every built-in spec, family by family.
    pub fn builtin_specs() -> Vec<LayerSpec> {
        let mut v = Vec::new();
        for family in [
            io::specs,
            core::specs,
            shape_ops::specs,
            math::specs,
            conv::specs,
            norm::specs,
            embedding::specs,
            attention::specs,
            recurrent::specs,
            mixers::specs,
            graph_nn::specs,
            generative::specs,
            flow::specs,
            loss::specs,
            foreign::specs,
        ] {
            v.extend(family());
        }
        v
    }

    /// The spec of kind `id`.
    pub fn get(&self, id: &str) -> Option<&LayerSpec> {
        self.by_id.get(id).map(|&i| &self.specs[i])
    }

    /// Every spec in registration order.
    pub fn all(&self) -> &[LayerSpec] {
        &self.specs
    }

    /// Specs of one category.
    pub fn in_category(&self, c: Category) -> impl Iterator<Item = &LayerSpec> {
        self.specs.iter().filter(move |s| s.category == c)
    }
}

/// The built-in catalog (built once).
pub fn catalog() -> &'static Catalog {
    static CATALOG: OnceLock<Catalog> = OnceLock::new();
    CATALOG.get_or_init(|| {
        let specs = Catalog::builtin_specs();
        match Catalog::new(specs.clone()) {
            Ok(c) => c,
            // A duplicate is a programming error caught by the catalog tests; keep the first.
            Err(_) => {
                let mut seen = std::collections::HashSet::new();
                let specs = specs.into_iter().filter(|s| seen.insert(s.id)).collect();
                Catalog::new(specs).unwrap_or(Catalog {
                    specs: Vec::new(),
                    by_id: HashMap::default(),
                })
            }
        }
    })
}

/// How a parameter value fits its spec.
#[derive(Debug, Clone, PartialEq)]
pub enum ParamCheck {
    /// Fine.
    Ok,
    /// Wrong type or outside the kind's domain: a file with this is rejected on load.
    Invalid(String),
    /// Right type, outside the recommended range: the checker reports it.
    OutOfRange(String),
}

/// Checks one parameter value against its spec.
pub fn check_param(spec: &ParamSpec, v: &ParamValue) -> ParamCheck {
    let found = |v: &ParamValue| match v {
        ParamValue::Text(s) => format!("\"{s}\""),
        other => other.to_string(),
    };
    match spec.kind {
        ParamKind::Int { min, max } => match v.as_int() {
            None => ParamCheck::Invalid(format!("expected an integer, found {}", found(v))),
            Some(i) if min >= 1 && i < 1 => ParamCheck::Invalid(format!("expected a positive integer, found {i}")),
            Some(i) if min >= 0 && i < 0 => ParamCheck::Invalid(format!("expected a non-negative integer, found {i}")),
            Some(i) if i < min || i > max => {
                ParamCheck::OutOfRange(format!("{} must be in {min}..={max}, found {i}", spec.name))
            }
            Some(_) => ParamCheck::Ok,
        },
        ParamKind::Float { min, max } => match v.as_float() {
            Some(f) if !f.is_finite() => ParamCheck::Invalid(format!("expected a finite number, found {f}")),
            None => ParamCheck::Invalid(format!("expected a number, found {}", found(v))),
            Some(f) if f < min || f > max => {
                ParamCheck::OutOfRange(format!("{} must be in {min}..={max}, found {f}", spec.name))
            }
            Some(_) => ParamCheck::Ok,
        },
        ParamKind::Bool => match v {
            ParamValue::Bool(_) => ParamCheck::Ok,
            _ => ParamCheck::Invalid(format!("expected true or false, found {}", found(v))),
        },
        ParamKind::Choice(options) => match v.as_text() {
            Some(s) if options.contains(&s) => ParamCheck::Ok,
            _ => ParamCheck::Invalid(format!("expected one of {}, found {}", options.join(", "), found(v))),
        },
        ParamKind::Shape => match v.as_list() {
            Some(l) if l.iter().all(|d| Dim::from_param(d).is_some() || d.as_int() == Some(-1)) => ParamCheck::Ok,
            _ => ParamCheck::Invalid(format!(
                "expected a shape like [\"B\", 1, 28, 28] (numbers and capital letters), found {}",
                found(v)
            )),
        },
        ParamKind::Ints => match v.as_list() {
            Some(l) if l.iter().all(|d| d.as_int().is_some()) => ParamCheck::Ok,
            _ => ParamCheck::Invalid(format!("expected a list of integers, found {}", found(v))),
        },
        ParamKind::Text | ParamKind::Block { .. } => match v {
            ParamValue::Text(_) => ParamCheck::Ok,
            _ => ParamCheck::Invalid(format!("expected text, found {}", found(v))),
        },
    }
}

/// Checks every parameter value of every node of a known kind; the first invalid one is an
/// error naming its JSON path (`graph.nodes[3].params.kernel_size`).
pub fn validate_params(p: &Project) -> Result<(), LoadError> {
    let cat = catalog();
    let graphs = std::iter::once(("graph".to_owned(), &p.graph)).chain(
        p.blocks
            .iter()
            .enumerate()
            .map(|(i, b)| (format!("blocks[{i}].graph"), &b.graph)),
    );
    for (prefix, g) in graphs {
        for (i, n) in g.nodes.iter().enumerate() {
            let Some(spec) = cat.get(&n.kind) else { continue };
            for (name, v) in &n.params {
                let Some(ps) = spec.param(name) else { continue };
                if let ParamCheck::Invalid(msg) = check_param(ps, v) {
                    return Err(LoadError::schema(format!("{prefix}.nodes[{i}].params.{name}"), msg));
                }
            }
        }
    }
    Ok(())
}

/// A node's ports: borrowed from the spec when fixed, owned when they depend on parameters.
pub type PortList = Cow<'static, [PortSpec]>;

/// The input and output ports of `node`: from its spec, or for a block instance from the
/// block's `port_in` / `port_out` nodes (ordered by their `index`). `None` for unknown kinds
/// and missing blocks.
pub fn node_ports(project: &Project, node: &Node) -> Option<(PortList, PortList)> {
    if node.is_block() {
        let def = project.block(node.block.as_deref()?)?;
        let collect = |kind: &str| -> Cow<'static, [PortSpec]> {
            let mut ports: Vec<(i64, u64, String)> = def
                .graph
                .nodes
                .iter()
                .filter(|n| n.kind == kind)
                .map(|n| {
                    let name = n
                        .params
                        .get("name")
                        .and_then(|v| v.as_text().map(str::to_owned))
                        .unwrap_or_else(|| format!("p{}", n.id.0));
                    let idx = n.params.get("index").and_then(ParamValue::as_int).unwrap_or(0);
                    (idx, n.id.0, name)
                })
                .collect();
            ports.sort();
            Cow::Owned(
                ports
                    .into_iter()
                    .map(|(_, _, name)| PortSpec {
                        name: Cow::Owned(name),
                        accept: Accept::Any,
                        optional: false,
                    })
                    .collect(),
            )
        };
        return Some((collect(doc::PORT_IN_KIND), collect(doc::PORT_OUT_KIND)));
    }
    let spec = catalog().get(&node.kind)?;
    Some((spec.input_ports(&node.params), spec.output_ports(&node.params)))
}

/// A node of `kind` with every parameter at its default (what the palette inserts).
pub fn default_node(kind: &str) -> Option<Node> {
    let spec = catalog().get(kind)?;
    let mut n = Node::new(kind);
    for p in spec.params {
        n.params.insert(p.name.to_owned(), p.default.to_value());
    }
    Some(n)
}

/// The display title of a node: its own title, else the block's or the kind's name.
pub fn display_title(project: &Project, node: &Node) -> String {
    if !node.title.is_empty() {
        return node.title.clone();
    }
    if let Some(b) = node.block.as_deref().and_then(|b| project.block(b)) {
        return b.name.clone();
    }
    catalog()
        .get(&node.kind)
        .map(|s| s.name.to_owned())
        .unwrap_or_else(|| format!("{} (unknown)", node.kind))
}

/// A short summary of a node's non-default parameters (at most three, cut at 26 characters),
/// or `×N` for a repeated block.
pub fn param_summary(n: &Node) -> String {
    if n.is_block() {
        return if n.repeat > 1 {
            format!("×{}", n.repeat)
        } else {
            String::new()
        };
    }
    let Some(spec) = catalog().get(&n.kind) else {
        return String::new();
    };
    let mut parts = Vec::new();
    for p in spec.params.iter() {
        if let Some(v) = n.params.get(p.name)
            && *v != p.default.to_value()
        {
            parts.push(format!("{}={}", p.name, v));
        }
        if parts.len() == 3 {
            break;
        }
    }
    let s = parts.join(" ");
    if s.chars().count() > 26 {
        let cut: String = s.chars().take(25).collect();
        format!("{cut}…")
    } else {
        s
    }
}

/// About how large the canvas draws `node` at zoom 1 (width, height), for layouts made without
/// a window (presets, the CLI): title, parameter summary and one row per pin.
pub fn node_size_hint(project: &Project, node: &Node) -> [f32; 2] {
    let title = display_title(project, node).chars().count() as f32;
    let summary = param_summary(node).chars().count() as f32;
    let (ins, outs) = node_ports(project, node).map_or((1, 1), |(i, o)| (i.len(), o.len()));
    let open = if node.is_block() { 72.0 } else { 0.0 };
    let weights = catalog().get(&node.kind).is_some_and(|s| !s.params.is_empty()) || node.is_block();
    let width = (52.0 + 7.8 * title + open).max(30.0 + 6.6 * summary).clamp(90.0, 260.0);
    let body = if summary > 0.0 { 17.0 } else { 0.0 } + if weights { 17.0 } else { 0.0 };
    let height = 36.0 + body + 20.0 * ins.max(outs).max(1) as f32;
    [width, height]
}

/// Lays out the top-level graph and every block's inside (see [`doc::auto_layout`]), sizing nodes
/// by [`node_size_hint`]; `resolution` gives top-level nodes' output resolution when known.
pub fn layout_project(
    project: &mut Project,
    opts: &doc::LayoutOptions,
    resolution: &dyn Fn(doc::NodeId) -> Option<u64>,
) {
    let moves = {
        let p = &*project;
        let g = &p.graph;
        doc::auto_layout(
            g,
            opts,
            &|id| g.node(id).map_or(doc::DEFAULT_NODE_SIZE, |n| node_size_hint(p, n)),
            resolution,
        )
    };
    for (id, pos) in moves {
        if let Some(n) = project.graph.node_mut(id) {
            n.pos = pos;
        }
    }
    for b in 0..project.blocks.len() {
        let moves = {
            let p = &*project;
            let g = &p.blocks[b].graph;
            doc::auto_layout(
                g,
                opts,
                &|id| g.node(id).map_or(doc::DEFAULT_NODE_SIZE, |n| node_size_hint(p, n)),
                &|_| None,
            )
        };
        for (id, pos) in moves {
            if let Some(n) = project.blocks[b].graph.node_mut(id) {
                n.pos = pos;
            }
        }
    }
}

/// The palette category of a node (block instances have their own).
pub fn node_category(n: &Node) -> Option<Category> {
    if n.is_block() {
        return Some(Category::Block);
    }
    catalog().get(&n.kind).map(|s| s.category)
}

/// A count for people: 1234567 → "1.2M".
pub fn human_count(n: u64) -> String {
    match n {
        0..=9_999 => n.to_string(),
        10_000..=999_999 => format!("{:.1}k", n as f64 / 1e3),
        1_000_000..=999_999_999 => format!("{:.1}M", n as f64 / 1e6),
        _ => format!("{:.2}B", n as f64 / 1e9),
    }
}
