//! Shape checking: symbolic shapes inferred over the whole graph in topological order, through
//! blocks and their repeats, with every problem reported at once as a [`Diagnostic`].

mod expand;
mod index;
pub mod memory;
mod report;

pub use expand::{ExpandError, Expanded, MAX_EXPANDED_NODES, Origin, expand};
pub use report::{Diagnostic, NodeReport, Report, Severity};

use index::{Csr, IdIndex, port_order};

use crate::catalog::{self, Ctx, Dim, ParamCheck, PortSpec, TensorType, check_param};
use crate::doc::{self, Graph, Node, Project};
use std::borrow::Cow;
use std::collections::VecDeque;

/// Most copies a repeated block may stand for.
pub const MAX_REPEAT: u32 = 10_000;
/// Deepest nesting of blocks.
pub const MAX_BLOCK_DEPTH: usize = 32;

/// Checks a whole project: the top-level graph, every block it uses, and the recipe's roles.
pub fn check(project: &Project) -> Report {
    let mut report = check_graph(project);
    check_roles(project, &mut report);
    report
}

/// Checks the graph and its blocks only, not what the recipe asks of it (what compiling needs).
pub fn check_graph(project: &Project) -> Report {
    let mut checker = Checker {
        project,
        stack: Vec::new(),
    };
    let mut diags = Vec::new();
    let res = checker.infer_graph(&project.graph, None, &mut diags);
    graph_report(&project.graph, res, diags)
}

/// Checks the inside of block `block_id` as its first top-level instance sees it: the types on
/// its `port_in` nodes come from the wires into that instance. The report is keyed by the
/// block's own node ids (shapes and counts of one copy). `None` when there is no such block.
pub fn check_block(project: &Project, block_id: &str) -> Option<Report> {
    let def = project.block(block_id)?;
    let root = check(project);
    let port_types: Vec<Option<TensorType>> = project
        .graph
        .nodes
        .iter()
        .find(|n| n.block.as_deref() == Some(block_id))
        .and_then(|inst| {
            let (ins, _) = catalog::node_ports(project, inst)?;
            Some(
                ins.iter()
                    .map(|p| {
                        project
                            .graph
                            .wires_into(inst.id)
                            .find(|w| w.input == p.name)
                            .and_then(|w| root.output_type(w.from, &w.out).cloned())
                    })
                    .collect(),
            )
        })
        .unwrap_or_default();
    let mut checker = Checker {
        project,
        stack: vec![block_id.to_owned()],
    };
    let mut diags = Vec::new();
    let res = checker.infer_graph(&def.graph, Some(&port_types), &mut diags);
    Some(graph_report(&def.graph, res, diags))
}

fn graph_report(g: &Graph, mut res: GraphResult, diagnostics: Vec<Diagnostic>) -> Report {
    let mut report = Report {
        nodes: Vec::with_capacity(g.nodes.len()),
        total_params: 0,
        total_macs: 0,
        diagnostics,
    };
    for (i, n) in g.nodes.iter().enumerate() {
        let outputs = res.out_names[i]
            .iter()
            .map(|p| p.name.clone())
            .zip(std::mem::take(&mut res.outputs[i]))
            .collect();
        report.total_params = report.total_params.saturating_add(res.params[i]);
        report.total_macs = report.total_macs.saturating_add(res.macs[i]);
        report.nodes.push(NodeReport {
            id: n.id,
            outputs,
            params: res.params[i],
            macs: res.macs[i],
        });
    }
    report
}

fn check_roles(project: &Project, report: &mut Report) {
    let mut found = Vec::new();
    check_roles_into(project, report, &mut found);
    report.diagnostics.extend(found);
}

/// For recipes that invert their graph (flows): walks back from each output with one of the
/// recipe's roles and names the first node without an exact inverse, or an input that is not
/// the data.
fn check_invertible(project: &Project, recipe: &catalog::RecipeSpec, diags: &mut Vec<Diagnostic>) {
    let g = &project.graph;
    for out in g.nodes.iter().filter(|n| n.kind == "output") {
        let role = out.params.get("role").and_then(|v| v.as_text()).unwrap_or("prediction");
        if !recipe.roles.iter().any(|r| r.role == role) {
            continue;
        }
        let mut at = g.wires.iter().find(|w| w.to == out.id).map(|w| w.from);
        let mut seen = 0usize;
        while let Some(id) = at {
            let Some(node) = g.node(id) else { break };
            seen += 1;
            if node.kind == "input" {
                let source = node.params.get("source").and_then(|v| v.as_text()).unwrap_or("dataset");
                if source != "dataset" {
                    diags.push(
                        Diagnostic::error(
                            Some(id),
                            None,
                            format!(
                                "the {} recipe maps the data to '{role}', but this Input takes values from '{source}'",
                                recipe.name
                            ),
                        )
                        .with_fix("set the Input's source to 'dataset'"),
                    );
                }
                break;
            }
            if !catalog::flow::invertible(&node.kind) || seen > g.nodes.len() {
                let title = catalog::display_title(project, node);
                let kind = catalog::catalog()
                    .get(&node.kind)
                    .map_or(node.kind.as_str(), |s| s.name);
                diags.push(
                    Diagnostic::error(
                        Some(id),
                        None,
                        format!(
                            "'{title}' ({kind}) has no inverse: the {} recipe inverts every layer between the data and '{role}'",
                            recipe.name
                        ),
                    )
                    .with_fix("use invertible layers only (Affine coupling, ActNorm, Invertible 1×1 conv, Squeeze), or choose another recipe"),
                );
                break;
            }
            at = g.wires.iter().find(|w| w.to == id).map(|w| w.from);
        }
    }
}

fn check_roles_into(project: &Project, report: &Report, diags: &mut Vec<Diagnostic>) {
    let Some(recipe) = catalog::recipe(&project.recipe.id) else {
        let known: Vec<&str> = catalog::recipes().iter().map(|r| r.id).collect();
        diags.push(
            Diagnostic::error(None, None, format!("unknown recipe '{}'", project.recipe.id))
                .with_fix(format!("choose one of: {}", known.join(", "))),
        );
        return;
    };
    // The recipe's settings, checked like layer parameters.
    for (name, value) in &project.recipe.settings {
        match recipe.setting(name) {
            None => diags.push(Diagnostic {
                severity: Severity::Warning,
                node: None,
                port: None,
                message: format!("the {} recipe has no setting '{name}'; it is ignored", recipe.name),
                fix: None,
            }),
            Some(spec) => match check_param(spec, value) {
                ParamCheck::Ok => {}
                ParamCheck::Invalid(m) | ParamCheck::OutOfRange(m) => diags.push(
                    Diagnostic::error(None, None, format!("recipe setting '{name}': {m}"))
                        .with_fix(format!("set '{name}' in the project settings")),
                ),
            },
        }
    }
    if project.training.batch_size == 0 {
        diags.push(
            Diagnostic::error(
                None,
                None,
                "the batch size is 0: each training step needs at least one example",
            )
            .with_fix("set the batch size in the project settings (e.g. 64)"),
        );
    }
    for source in recipe.sources {
        let present = project.graph.nodes.iter().any(|n| {
            n.kind == "input" && n.params.get("source").and_then(|v| v.as_text()).unwrap_or("dataset") == *source
        });
        if !present {
            diags.push(
                Diagnostic::error(
                    None,
                    None,
                    format!(
                        "the {} recipe needs an Input with source '{source}', and there is none",
                        recipe.name
                    ),
                )
                .with_fix(format!("add an Input node and set its source to '{source}'")),
            );
        }
    }
    if recipe.invertible {
        check_invertible(project, recipe, diags);
    }
    let role_of = |n: &Node| -> String {
        n.params
            .get("role")
            .and_then(|v| v.as_text())
            .unwrap_or("prediction")
            .to_owned()
    };
    let outputs: Vec<&Node> = project.graph.nodes.iter().filter(|n| n.kind == "output").collect();
    for spec in recipe.roles {
        let with_role: Vec<&&Node> = outputs.iter().filter(|n| role_of(n) == spec.role).collect();
        if with_role.is_empty() {
            if spec.required {
                diags.push(
                    Diagnostic::error(
                        None,
                        None,
                        format!(
                            "the {} recipe needs an Output with role '{}', and there is none",
                            recipe.name, spec.role
                        ),
                    )
                    .with_fix(format!("add an Output node and set its role to '{}'", spec.role)),
                );
            }
            continue;
        }
        if !spec.many {
            for n in with_role.iter().skip(1) {
                diags.push(
                    Diagnostic::error(
                        Some(n.id),
                        None,
                        format!(
                            "two Outputs have the role '{}'; the {} recipe reads one",
                            spec.role, recipe.name
                        ),
                    )
                    .with_fix("give this Output another role, or delete it"),
                );
            }
        }
        for n in &with_role {
            let Some(w) = project.graph.wires.iter().find(|w| w.to == n.id) else {
                continue; // the graph check reports the unconnected input
            };
            let Some(t) = report.output_type(w.from, &w.out).cloned() else {
                continue;
            };
            if let Some(dt) = spec.dtype
                && t.dtype != dt
            {
                diags.push(Diagnostic::error(
                    Some(n.id),
                    Some("x".into()),
                    format!(
                        "the role '{}' needs {} values but gets {t}",
                        spec.role,
                        if dt == catalog::DType::Int { "integer" } else { "float" }
                    ),
                ));
            } else if !spec.ranks.is_empty() && !spec.ranks.contains(&t.rank()) {
                let ranks: Vec<String> = spec.ranks.iter().map(|r| r.to_string()).collect();
                diags.push(Diagnostic::error(
                    Some(n.id),
                    Some("x".into()),
                    format!(
                        "the role '{}' of the {} recipe needs a tensor of rank {} but gets {t}",
                        spec.role,
                        recipe.name,
                        ranks.join(" or ")
                    ),
                ));
            }
        }
    }
}

struct GraphResult {
    out_names: Vec<Cow<'static, [PortSpec]>>,
    outputs: Vec<Vec<Option<TensorType>>>,
    params: Vec<u64>,
    macs: Vec<u64>,
    /// For block interiors: the types reaching each `port_out`, in port order.
    port_outputs: Vec<Option<TensorType>>,
}

struct Checker<'p> {
    project: &'p Project,
    stack: Vec<String>,
}

impl<'p> Checker<'p> {
    /// Infers every node of `g`. `port_types` is `Some` inside a block: the types entering its
    /// `port_in` nodes in port order.
    fn infer_graph(
        &mut self,
        g: &Graph,
        port_types: Option<&[Option<TensorType>]>,
        diags: &mut Vec<Diagnostic>,
    ) -> GraphResult {
        let n = g.nodes.len();
        let mut in_ports: Vec<Option<Cow<'static, [PortSpec]>>> = Vec::with_capacity(n);
        let mut out_names: Vec<Cow<'static, [PortSpec]>> = Vec::with_capacity(n);
        let cat = catalog::catalog();
        let mut specs: Vec<Option<&'static catalog::LayerSpec>> = Vec::with_capacity(n);
        for node in &g.nodes {
            let spec = if node.is_block() { None } else { cat.get(&node.kind) };
            specs.push(spec);
            let ports = match spec {
                Some(s) => Some((s.input_ports(&node.params), s.output_ports(&node.params))),
                None => catalog::node_ports(self.project, node),
            };
            match ports {
                Some((i, o)) => {
                    out_names.push(o);
                    in_ports.push(Some(i));
                }
                None => {
                    // Unknown kind: keep the port names its wires use.
                    let mut outs: Vec<PortSpec> = Vec::new();
                    for w in g.wires_from(node.id) {
                        if !outs.iter().any(|o| o.name == w.out) {
                            outs.push(PortSpec {
                                name: Cow::Owned(w.out.clone()),
                                accept: catalog::Accept::Any,
                                optional: true,
                            });
                        }
                    }
                    out_names.push(Cow::Owned(outs));
                    in_ports.push(None);
                }
            }
        }
        // Incoming wires, flat: node b's input ii is at in_off[b] + ii.
        let mut in_off = Vec::with_capacity(n + 1);
        in_off.push(0usize);
        for p in &in_ports {
            let last = in_off[in_off.len() - 1];
            in_off.push(last + p.as_ref().map_or(0, |p| p.len()));
        }
        let mut incoming: Vec<Option<(usize, usize)>> = vec![None; in_off[n]];
        let mut edges: Vec<(usize, usize)> = Vec::with_capacity(g.wires.len());
        let index = IdIndex::new(g);
        let mut indeg = vec![0usize; n];
        for w in &g.wires {
            let (Some(a), Some(b)) = (index.get(w.from), index.get(w.to)) else {
                let (id, missing) = if index.get(w.from).is_none() {
                    (w.to, w.from)
                } else {
                    (w.from, w.to)
                };
                diags.push(
                    Diagnostic::error(
                        Some(id),
                        None,
                        format!("a wire connects to node {missing}, which does not exist"),
                    )
                    .with_fix("delete the dangling wire"),
                );
                continue;
            };
            let Some(oi) = out_names[a].iter().position(|p| p.name == w.out) else {
                diags.push(
                    Diagnostic::error(
                        Some(w.from),
                        None,
                        format!("'{}' has no output named '{}'", self.title(&g.nodes[a]), w.out),
                    )
                    .with_fix("delete the wire and connect an existing output"),
                );
                continue;
            };
            if let Some(ports) = &in_ports[b] {
                let Some(ii) = ports.iter().position(|p| p.name == w.input) else {
                    diags.push(
                        Diagnostic::error(
                            Some(w.to),
                            Some(w.input.clone()),
                            format!("'{}' has no input named '{}'", self.title(&g.nodes[b]), w.input),
                        )
                        .with_fix("delete the wire and connect an existing input"),
                    );
                    continue;
                };
                if incoming[in_off[b] + ii].is_some() {
                    diags.push(
                        Diagnostic::error(
                            Some(w.to),
                            Some(w.input.clone()),
                            format!("input '{}' has more than one wire", w.input),
                        )
                        .with_fix("keep one wire; join values with Add or Concat first"),
                    );
                    continue;
                }
                incoming[in_off[b] + ii] = Some((a, oi));
            }
            edges.push((a, b));
            indeg[b] += 1;
        }
        let succ = Csr::new(n, &edges);
        // Topological order (Kahn).
        let mut order = Vec::with_capacity(n);
        let mut queue: VecDeque<usize> = (0..n).filter(|&i| indeg[i] == 0).collect();
        while let Some(i) = queue.pop_front() {
            order.push(i);
            for &s in succ.of(i) {
                indeg[s] -= 1;
                if indeg[s] == 0 {
                    queue.push_back(s);
                }
            }
        }
        if order.len() < n {
            self.report_cycles(g, &indeg, &succ, diags);
        }
        let mut res = GraphResult {
            outputs: out_names.iter().map(|o| vec![None; o.len()]).collect(),
            out_names,
            params: vec![0; n],
            macs: vec![0; n],
            port_outputs: Vec::new(),
        };
        let port_in_order = port_order(g, doc::PORT_IN_KIND);
        let port_out_order = port_order(g, doc::PORT_OUT_KIND);
        res.port_outputs = vec![None; port_out_order.len()];
        for &i in &order {
            let node = &g.nodes[i];
            let Some(ports) = &in_ports[i] else {
                if !node.is_block() {
                    diags.push(Diagnostic {
                        severity: Severity::Warning,
                        node: Some(node.id),
                        port: None,
                        message: format!(
                            "unknown layer kind '{}' (made by a newer Strata?) — kept as is, but it cannot be checked or trained",
                            node.kind
                        ),
                        fix: None,
                    });
                } else {
                    let b = node.block.clone().unwrap_or_default();
                    diags.push(Diagnostic::error(
                        Some(node.id),
                        None,
                        format!("block '{b}' is not defined in this project"),
                    ));
                }
                continue;
            };
            // Gather inputs (by reference: nothing is cloned on the way in).
            let mut inputs: Vec<Option<&TensorType>> = Vec::with_capacity(ports.len());
            let mut ready = true;
            for (pi, p) in ports.iter().enumerate() {
                match incoming[in_off[i] + pi] {
                    Some((src, oi)) => match &res.outputs[src][oi] {
                        Some(t) => {
                            if !p.accept.accepts(t.dtype) {
                                let want = match p.accept {
                                    catalog::Accept::Int => "integer ids",
                                    _ => "a float tensor",
                                };
                                let mut d = Diagnostic::error(
                                    Some(node.id),
                                    Some(p.name.to_string()),
                                    format!("input '{}' expects {want} but gets {t}", p.name),
                                );
                                if t.dtype == catalog::DType::Int {
                                    d = d.with_fix("insert Embedding to turn ids into vectors");
                                }
                                diags.push(d);
                                ready = false;
                            }
                            inputs.push(Some(t));
                        }
                        None => {
                            ready = false;
                            inputs.push(None);
                        }
                    },
                    None if p.optional => inputs.push(None),
                    None => {
                        diags.push(
                            Diagnostic::error(
                                Some(node.id),
                                Some(p.name.to_string()),
                                format!("input '{}' is not connected", p.name),
                            )
                            .with_fix(format!("connect a wire to '{}'", p.name)),
                        );
                        ready = false;
                        inputs.push(None);
                    }
                }
            }
            if node.kind == doc::PORT_OUT_KIND {
                if let Some(pos) = port_out_order.iter().position(|&k| k == i) {
                    res.port_outputs[pos] = inputs.first().copied().flatten().cloned();
                }
                continue;
            }
            if node.kind == doc::PORT_IN_KIND {
                match port_types {
                    Some(types) => {
                        let pos = port_in_order.iter().position(|&k| k == i).unwrap_or(usize::MAX);
                        res.outputs[i] = vec![types.get(pos).cloned().flatten()];
                    }
                    None => diags.push(Diagnostic::error(
                        Some(node.id),
                        None,
                        "a block input belongs inside a block, not in the top-level graph",
                    )),
                }
                continue;
            }
            if node.is_block() {
                if !ready {
                    continue;
                }
                let owned: Vec<Option<TensorType>> = inputs.iter().map(|t| t.cloned()).collect();
                if let Some((outs, params, macs)) = self.infer_block(node, &owned, diags) {
                    for (k, t) in outs.into_iter().enumerate() {
                        if let Some(slot) = res.outputs[i].get_mut(k) {
                            *slot = t;
                        }
                    }
                    res.params[i] = params;
                    res.macs[i] = macs;
                }
                continue;
            }
            let Some(spec) = specs[i] else { continue };
            // Parameters.
            for (name, v) in &node.params {
                match spec.param(name) {
                    None => diags.push(Diagnostic {
                        severity: Severity::Warning,
                        node: Some(node.id),
                        port: None,
                        message: format!("{} has no parameter '{name}' — it is kept but ignored", spec.name),
                        fix: None,
                    }),
                    Some(ps) => match check_param(ps, v) {
                        ParamCheck::Ok => {}
                        ParamCheck::Invalid(m) | ParamCheck::OutOfRange(m) => {
                            diags.push(Diagnostic::error(
                                Some(node.id),
                                None,
                                format!("parameter '{name}': {m}"),
                            ));
                            ready = false;
                        }
                    },
                }
            }
            if !ready {
                continue;
            }
            let ctx = Ctx {
                params: &node.params,
                specs: spec.params,
                inputs: &inputs,
                ports,
            };
            let result = (spec.infer)(&ctx);
            let first = inputs.first().copied().flatten().cloned();
            drop(inputs);
            match result {
                Ok(inf) => {
                    for (k, t) in inf.outputs.into_iter().enumerate() {
                        if let Some(slot) = res.outputs[i].get_mut(k) {
                            *slot = Some(t);
                        }
                    }
                    let (params, macs) = self.inner_blocks(node, spec, first.as_ref(), diags);
                    res.params[i] = inf.params.saturating_add(params);
                    res.macs[i] = inf.macs.saturating_add(macs);
                }
                Err(e) => diags.push(Diagnostic {
                    severity: Severity::Error,
                    node: Some(node.id),
                    port: e.port,
                    message: e.message,
                    fix: e.fix.map(|f| *f),
                }),
            }
        }
        res
    }

    fn title(&self, n: &Node) -> String {
        catalog::display_title(self.project, n)
    }

    /// Reports every cycle among the nodes Kahn's algorithm could not order. Nodes merely
    /// downstream of a cycle are not blamed (their outputs just stay unknown).
    fn report_cycles(&self, g: &Graph, indeg: &[usize], succ: &Csr, diags: &mut Vec<Diagnostic>) {
        let n = g.nodes.len();
        let mut preds: Vec<Vec<usize>> = vec![Vec::new(); n];
        for a in 0..n {
            for &b in succ.of(a) {
                if indeg[a] > 0 && indeg[b] > 0 {
                    preds[b].push(a);
                }
            }
        }
        // Every stuck node has a stuck predecessor, so walking backwards must close a loop.
        let mut state = vec![0u8; n]; // 0 new, 1 on the current walk, 2 done
        for s in (0..n).filter(|&i| indeg[i] > 0) {
            let mut path = Vec::new();
            let mut cur = s;
            loop {
                if state[cur] == 2 {
                    break;
                }
                if state[cur] == 1 {
                    let at = path.iter().position(|&p| p == cur).unwrap_or(0);
                    let mut cycle: Vec<usize> = path[at..].to_vec();
                    cycle.reverse();
                    let mut names: Vec<String> = cycle.iter().map(|&i| self.title(&g.nodes[i])).collect();
                    names.push(names[0].clone());
                    let text = names.join(" → ");
                    for &i in &cycle {
                        diags.push(
                            Diagnostic::error(
                                Some(g.nodes[i].id),
                                None,
                                format!("this node is part of a cycle ({text}); values must flow one way"),
                            )
                            .with_fix("remove one wire of the cycle (use a recurrent layer for loops over time)"),
                        );
                    }
                    break;
                }
                state[cur] = 1;
                path.push(cur);
                match preds[cur].first() {
                    Some(&p) => cur = p,
                    None => break,
                }
            }
            for &i in &path {
                state[i] = 2;
            }
        }
    }

    /// Checks the blocks a node runs inside itself (parameters of kind [`catalog::ParamKind::Block`],
    /// e.g. a mixture of experts' expert) on one token `[tokens, D]` of its first input: one
    /// input, one output of the input's type. Returns their parameters (× copies) and MACs per
    /// example (× runs × positions).
    fn inner_blocks(
        &mut self,
        node: &Node,
        spec: &catalog::LayerSpec,
        input: Option<&TensorType>,
        diags: &mut Vec<Diagnostic>,
    ) -> (u64, u64) {
        let (mut params, mut macs) = (0u64, 0u64);
        for p in spec.params {
            let catalog::ParamKind::Block { copies, runs } = p.kind else {
                continue;
            };
            let id = node.params.get(p.name).and_then(|v| v.as_text()).unwrap_or("").trim();
            if id.is_empty() {
                continue;
            }
            let Some(def) = self.project.block(id) else {
                let known: Vec<&str> = self.project.blocks.iter().map(|b| b.id.as_str()).collect();
                diags.push(
                    Diagnostic::error(
                        Some(node.id),
                        None,
                        format!(
                            "'{}' uses block '{id}' as its {}, and there is no such block",
                            self.title(node),
                            p.name
                        ),
                    )
                    .with_fix(if known.is_empty() {
                        format!(
                            "make a block (select nodes, then Group into block) or clear '{}'",
                            p.name
                        )
                    } else {
                        format!("choose one of: {}", known.join(", "))
                    }),
                );
                continue;
            };
            let (ins, outs) = (
                port_order(&def.graph, doc::PORT_IN_KIND).len(),
                port_order(&def.graph, doc::PORT_OUT_KIND).len(),
            );
            if ins != 1 || outs != 1 {
                diags.push(
                    Diagnostic::error(
                        Some(node.id),
                        None,
                        format!(
                            "block '{}' has {ins} inputs and {outs} outputs; as the {} of '{}' it needs one of each",
                            def.name,
                            p.name,
                            self.title(node)
                        ),
                    )
                    .with_fix("give the block one input port and one output port"),
                );
                continue;
            }
            let Some(x) = input else { continue };
            let Some(&d) = x.dims.last() else { continue };
            let token = TensorType {
                dtype: x.dtype,
                dims: vec![
                    Dim::Sym {
                        sym: 'B',
                        mul: 1,
                        add: 0,
                    },
                    d,
                ],
            };
            let mut probe = Node::block_instance(id, 1);
            probe.id = node.id;
            let Some((out, block_params, block_macs)) = self.infer_block(&probe, &[Some(token.clone())], diags) else {
                continue;
            };
            if out.first().cloned().flatten().as_ref() != Some(&token) {
                let got = out
                    .first()
                    .cloned()
                    .flatten()
                    .map_or("nothing".to_owned(), |t| t.to_string());
                diags.push(
                    Diagnostic::error(
                        Some(node.id),
                        None,
                        format!(
                            "block '{}' turns a token {token} into {got}; as the {} of '{}' it must return the same shape",
                            def.name,
                            p.name,
                            self.title(node)
                        ),
                    )
                    .with_fix(format!("make the block's last layer return {d} features")),
                );
                continue;
            }
            let int = |name: &str| {
                node.params
                    .get(name)
                    .and_then(|v| v.as_int())
                    .or_else(|| spec.param(name).and_then(|s| s.default.to_value().as_int()))
                    .unwrap_or(1)
                    .max(0) as u64
            };
            let positions = x.dims[1..x.rank().saturating_sub(1).max(1)]
                .iter()
                .fold(1u64, |a, d| a.saturating_mul(d.cost_size()));
            params = params.saturating_add(block_params.saturating_mul(int(copies)));
            macs = macs.saturating_add(block_macs.saturating_mul(int(runs)).saturating_mul(positions));
        }
        (params, macs)
    }

    fn infer_block(
        &mut self,
        node: &Node,
        inputs: &[Option<TensorType>],
        diags: &mut Vec<Diagnostic>,
    ) -> Option<(Vec<Option<TensorType>>, u64, u64)> {
        let block_id = node.block.clone().unwrap_or_default();
        let def = self.project.block(&block_id)?;
        if self.stack.contains(&block_id) || self.stack.len() >= MAX_BLOCK_DEPTH {
            diags.push(
                Diagnostic::error(
                    Some(node.id),
                    None,
                    format!(
                        "block '{}' contains itself (directly or through other blocks)",
                        def.name
                    ),
                )
                .with_fix("remove the inner instance of this block"),
            );
            return None;
        }
        if node.repeat > MAX_REPEAT {
            diags.push(Diagnostic::error(
                Some(node.id),
                None,
                format!("repeat ×{} is too many (at most {MAX_REPEAT})", node.repeat),
            ));
            return None;
        }
        self.stack.push(block_id.clone());
        let mut current: Vec<Option<TensorType>> = inputs.to_vec();
        let (mut params, mut macs) = (0u64, 0u64);
        let mut result = None;
        let mut copy = 0u32;
        while copy < node.repeat {
            let mut inner = Vec::new();
            let r = self.infer_graph(&def.graph, Some(&current), &mut inner);
            let errors: Vec<Diagnostic> = inner.into_iter().filter(|d| d.severity == Severity::Error).collect();
            if !errors.is_empty() {
                for d in errors {
                    let where_ = d
                        .node
                        .and_then(|id| def.graph.node(id))
                        .map(|n| format!(", node '{}'", self.title(n)))
                        .unwrap_or_default();
                    let copy_note = if node.repeat > 1 {
                        format!(" (copy {} of {})", copy + 1, node.repeat)
                    } else {
                        String::new()
                    };
                    diags.push(Diagnostic {
                        severity: Severity::Error,
                        node: Some(node.id),
                        port: None,
                        message: format!("inside block '{}'{copy_note}{where_}: {}", def.name, d.message),
                        fix: d.fix,
                    });
                }
                result = None;
                break;
            }
            let copy_params: u64 = r.params.iter().fold(0u64, |a, p| a.saturating_add(*p));
            let copy_macs: u64 = r.macs.iter().fold(0u64, |a, p| a.saturating_add(*p));
            let outs = r.port_outputs;
            let mut next = current.clone();
            for (k, t) in outs.iter().enumerate() {
                if k < next.len() {
                    next[k] = t.clone();
                }
            }
            copy += 1;
            if next == current && copy < node.repeat {
                // A fixed point: every remaining copy is identical to this one.
                let rest = u64::from(node.repeat - copy + 1);
                params = params.saturating_add(copy_params.saturating_mul(rest));
                macs = macs.saturating_add(copy_macs.saturating_mul(rest));
                result = Some(outs);
                break;
            }
            params = params.saturating_add(copy_params);
            macs = macs.saturating_add(copy_macs);
            current = next;
            result = Some(outs);
        }
        self.stack.pop();
        result.map(|outs| (outs, params, macs))
    }
}

/// Per channel, how many positions node `id`'s first output has (H·W for `[B, C, H, W]`), when
/// the report knows its shape and it has spatial dimensions: what auto-layout reads to find a
/// U-Net's levels.
pub fn resolution(report: &Report, id: doc::NodeId) -> Option<u64> {
    let node = report.node(id)?;
    let ty = node.outputs.first()?.1.as_ref()?;
    if ty.dims.len() < 3 {
        return None;
    }
    ty.dims[2..].iter().try_fold(1u64, |acc, d| match d {
        crate::catalog::Dim::Known(k) => Some(acc * k),
        _ => None,
    })
}

/// Lays out `project` (top level and blocks) as auto-layout does in the app, with node sizes
/// estimated from the catalog and resolutions from the shape check.
pub fn layout_project(project: &mut doc::Project, opts: &doc::LayoutOptions) {
    let report = check(project);
    crate::catalog::layout_project(project, opts, &|id| resolution(&report, id));
}
