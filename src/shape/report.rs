//! What the checker reports: per-node shapes, counts and the diagnostics.

use crate::catalog::{Fix, TensorType};
use crate::doc::NodeId;
use std::borrow::Cow;

/// How bad a problem is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// The graph cannot be compiled or trained until this is fixed.
    Error,
    /// Worth knowing; the graph still works.
    Warning,
}

/// One problem, placed on a node and port where possible, with a fix where one exists.
#[derive(Clone, Debug, PartialEq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// The top-level node concerned (for problems inside a block: the instance node).
    pub node: Option<NodeId>,
    /// The input port concerned.
    pub port: Option<String>,
    /// What is wrong, in the user's words.
    pub message: String,
    /// What to do.
    pub fix: Option<Fix>,
}

impl Diagnostic {
    pub(super) fn error(node: Option<NodeId>, port: Option<String>, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            node,
            port,
            message: message.into(),
            fix: None,
        }
    }

    pub(super) fn with_fix(mut self, label: impl Into<String>) -> Self {
        self.fix = Some(Fix {
            label: label.into(),
            action: None,
        });
        self
    }
}

/// What the checker found out about one node.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeReport {
    /// The node.
    pub id: NodeId,
    /// Output port names and their types (`None`: unknown because of a problem upstream).
    pub outputs: Vec<(Cow<'static, str>, Option<TensorType>)>,
    /// Learned parameters (all copies of a repeated block).
    pub params: u64,
    /// Multiply-accumulates per example.
    pub macs: u64,
}

/// The checker's result for a project.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Report {
    /// One report per top-level node, in id order.
    pub nodes: Vec<NodeReport>,
    /// Sum of parameters.
    pub total_params: u64,
    /// Sum of multiply-accumulates per example.
    pub total_macs: u64,
    /// Every problem found.
    pub diagnostics: Vec<Diagnostic>,
}

impl Report {
    /// True when there are no errors.
    pub fn is_valid(&self) -> bool {
        !self.diagnostics.iter().any(|d| d.severity == Severity::Error)
    }

    /// The report of node `id`.
    pub fn node(&self, id: NodeId) -> Option<&NodeReport> {
        self.nodes
            .binary_search_by_key(&id, |n| n.id)
            .ok()
            .map(|i| &self.nodes[i])
    }

    /// The type on output `port` of node `id` (what a wire from there carries).
    pub fn output_type(&self, id: NodeId, port: &str) -> Option<&TensorType> {
        self.node(id)?
            .outputs
            .iter()
            .find(|(p, _)| p == port)
            .and_then(|(_, t)| t.as_ref())
    }

    /// Diagnostics about node `id`.
    pub fn diagnostics_for(&self, id: NodeId) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().filter(move |d| d.node == Some(id))
    }
}
