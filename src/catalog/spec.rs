//! What a node kind is: [`LayerSpec`] and its parts.

use super::types::{DType, Dim, TensorType};
use crate::doc::{ParamValue, Params};
use std::borrow::Cow;

/// Where a kind sits in the palette. Each category has an icon in `icons/`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Category {
    /// Inputs, outputs, constants, learned tensors, block ports.
    Io,
    /// Dense layers and regularisation.
    Core,
    /// Reshaping, slicing, joining.
    Shape,
    /// Element-wise and matrix arithmetic.
    Math,
    /// Non-linearities.
    Activation,
    /// Convolutions.
    Convolution,
    /// Pooling.
    Pooling,
    /// Normalisation.
    Normalization,
    /// Embeddings and positional encodings.
    Embedding,
    /// Attention and mixture of experts.
    Attention,
    /// Recurrent layers.
    Recurrent,
    /// Graph neural network layers.
    Graph,
    /// Parts of generative models (VAE, diffusion, DiT).
    Generative,
    /// Loss functions.
    Loss,
    /// Instances of reusable blocks.
    Block,
}

impl Category {
    /// The category's colour (node headers, pins, the minimap, exported pictures), as RGB.
    pub fn rgb(self) -> [u8; 3] {
        match self {
            Category::Io => [120, 120, 130],
            Category::Core => [70, 130, 200],
            Category::Convolution => [60, 160, 120],
            Category::Pooling => [80, 150, 150],
            Category::Normalization => [150, 120, 200],
            Category::Activation => [220, 160, 60],
            Category::Shape | Category::Math => [140, 140, 100],
            Category::Embedding => [200, 100, 140],
            Category::Attention => [230, 110, 80],
            Category::Recurrent => [100, 180, 220],
            Category::Graph => [120, 200, 120],
            Category::Generative => [200, 140, 220],
            Category::Loss => [220, 80, 80],
            Category::Block => [180, 180, 200],
        }
    }
}

impl Category {
    /// Every category, in palette order.
    pub const ALL: [Category; 15] = [
        Category::Io,
        Category::Core,
        Category::Convolution,
        Category::Pooling,
        Category::Normalization,
        Category::Activation,
        Category::Shape,
        Category::Math,
        Category::Embedding,
        Category::Attention,
        Category::Recurrent,
        Category::Graph,
        Category::Generative,
        Category::Loss,
        Category::Block,
    ];

    /// Display name.
    pub fn name(self) -> &'static str {
        match self {
            Category::Io => "Input / Output",
            Category::Core => "Core",
            Category::Shape => "Shape",
            Category::Math => "Math",
            Category::Activation => "Activation",
            Category::Convolution => "Convolution",
            Category::Pooling => "Pooling",
            Category::Normalization => "Normalization",
            Category::Embedding => "Embedding",
            Category::Attention => "Attention",
            Category::Recurrent => "Recurrent",
            Category::Graph => "Graph",
            Category::Generative => "Generative",
            Category::Loss => "Loss",
            Category::Block => "Blocks",
        }
    }

    /// Icon file name in `icons/`.
    pub fn icon(self) -> &'static str {
        match self {
            Category::Io => "io.svg",
            Category::Core => "core.svg",
            Category::Shape => "shape.svg",
            Category::Math => "math.svg",
            Category::Activation => "activation.svg",
            Category::Convolution => "convolution.svg",
            Category::Pooling => "pooling.svg",
            Category::Normalization => "normalization.svg",
            Category::Embedding => "embedding.svg",
            Category::Attention => "attention.svg",
            Category::Recurrent => "recurrent.svg",
            Category::Graph => "graph.svg",
            Category::Generative => "generative.svg",
            Category::Loss => "loss.svg",
            Category::Block => "block.svg",
        }
    }
}

/// The type and allowed range of a parameter.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ParamKind {
    /// A whole number in `min..=max`.
    Int {
        /// Smallest allowed value.
        min: i64,
        /// Largest allowed value.
        max: i64,
    },
    /// A real number in `min..=max`.
    Float {
        /// Smallest allowed value.
        min: f64,
        /// Largest allowed value.
        max: f64,
    },
    /// On/off.
    Bool,
    /// One of a fixed set of words.
    Choice(&'static [&'static str]),
    /// A shape: numbers and symbol letters, e.g. `["B", 1, 28, 28]`.
    Shape,
    /// A list of whole numbers, e.g. a permutation.
    Ints,
    /// Free text (a name).
    Text,
    /// The id of a block of this project that the layer runs inside itself (empty: none), e.g. a
    /// mixture of experts' expert. The block takes one tensor `[tokens, D]` and must return the
    /// same type; it is checked, counted and compiled once per copy.
    Block {
        /// The integer parameter saying how many independent copies (own weights) there are.
        copies: &'static str,
        /// The integer parameter saying how many copies each position runs through (for MACs).
        runs: &'static str,
    },
}

/// A parameter's default value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ParamDefault {
    /// Integer default.
    Int(i64),
    /// Real default.
    Float(f64),
    /// Boolean default.
    Bool(bool),
    /// Text or choice default.
    Text(&'static str),
    /// Shape default written as `"B,784"`.
    Shape(&'static str),
    /// Integer list default.
    Ints(&'static [i64]),
}

impl ParamDefault {
    /// The default as a document value.
    pub fn to_value(self) -> ParamValue {
        match self {
            ParamDefault::Int(v) => ParamValue::Int(v),
            ParamDefault::Float(v) => ParamValue::Float(v),
            ParamDefault::Bool(v) => ParamValue::Bool(v),
            ParamDefault::Text(v) => ParamValue::Text(v.to_owned()),
            ParamDefault::Shape(s) => ParamValue::List(
                s.split(',')
                    .map(|t| {
                        let t = t.trim();
                        t.parse::<i64>()
                            .map(ParamValue::Int)
                            .unwrap_or_else(|_| ParamValue::Text(t.to_owned()))
                    })
                    .collect(),
            ),
            ParamDefault::Ints(v) => ParamValue::List(v.iter().map(|i| ParamValue::Int(*i)).collect()),
        }
    }
}

/// One typed parameter of a kind.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ParamSpec {
    /// Name in files.
    pub name: &'static str,
    /// Type and range.
    pub kind: ParamKind,
    /// Default value.
    pub default: ParamDefault,
    /// One line for the inspector tooltip.
    pub tooltip: &'static str,
}

/// What a port accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accept {
    /// Float tensors.
    Float,
    /// Integer tensors (ids, labels).
    Int,
    /// Either.
    Any,
}

impl Accept {
    /// True when a value of `dtype` may connect.
    pub fn accepts(self, dtype: DType) -> bool {
        matches!(
            (self, dtype),
            (Accept::Any, _) | (Accept::Float, DType::Float) | (Accept::Int, DType::Int)
        )
    }
}

/// A port declaration (the same type as a concrete port; kept as a name for readability).
pub type PortDef = PortSpec;

/// One port of a concrete node (after variadic ports are expanded).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortSpec {
    /// Port name.
    pub name: Cow<'static, str>,
    /// Accepted element type.
    pub accept: Accept,
    /// May stay unconnected.
    pub optional: bool,
}

/// A kind's ports: a fixed list, or `count` ports named `prefix0..` where `count` is a param.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ports {
    /// Fixed list.
    Fixed(&'static [PortSpec]),
    /// `prefix0 .. prefix{n-1}` where `n` is the value of parameter `count`.
    Variadic {
        /// Name prefix.
        prefix: &'static str,
        /// Name of the int parameter giving the count.
        count: &'static str,
        /// Accepted type.
        accept: Accept,
    },
}

/// Result of a shape rule.
#[derive(Clone, Debug, PartialEq)]
pub struct Inferred {
    /// One type per output port.
    pub outputs: Vec<TensorType>,
    /// Learned parameters.
    pub params: u64,
    /// Multiply-accumulates per example (symbolic lengths count as 1).
    pub macs: u64,
}

/// What the checker can offer to fix a problem.
#[derive(Clone, Debug, PartialEq)]
pub enum FixAction {
    /// Insert a node of `kind` in front of input `port`.
    InsertBefore {
        /// The input port.
        port: String,
        /// Kind to insert.
        kind: &'static str,
        /// Its parameters.
        params: Vec<(&'static str, ParamValue)>,
    },
    /// Set a parameter of this node.
    SetParam {
        /// Parameter.
        name: &'static str,
        /// Value.
        value: ParamValue,
    },
}

/// A suggested fix: words for the user and, where it can be done in one click, the action.
#[derive(Clone, Debug, PartialEq)]
pub struct Fix {
    /// What to do, in words ("insert Flatten").
    pub label: String,
    /// The one-click action, if any.
    pub action: Option<FixAction>,
}

/// A shape rule's complaint.
#[derive(Clone, Debug, PartialEq)]
pub struct RuleError {
    /// Input port concerned, if any.
    pub port: Option<String>,
    /// The message in the user's words.
    pub message: String,
    /// A fix, if there is one (boxed: rules return this on every error path).
    pub fix: Option<Box<Fix>>,
}

impl RuleError {
    /// An error about the node as a whole.
    pub fn new(message: impl Into<String>) -> Self {
        RuleError {
            port: None,
            message: message.into(),
            fix: None,
        }
    }

    /// An error about one input port.
    pub fn at(port: &str, message: impl Into<String>) -> Self {
        RuleError {
            port: Some(port.to_owned()),
            message: message.into(),
            fix: None,
        }
    }

    /// Adds a fix.
    pub fn fix(mut self, label: impl Into<String>, action: Option<FixAction>) -> Self {
        self.fix = Some(Box::new(Fix {
            label: label.into(),
            action,
        }));
        self
    }
}

/// The inputs and parameters a shape rule sees.
pub struct Ctx<'a> {
    /// The node's parameter values (missing ones fall back to defaults).
    pub params: &'a Params,
    /// The kind's parameter specs.
    pub specs: &'static [ParamSpec],
    /// One entry per input port: `None` for an unconnected optional port.
    pub inputs: &'a [Option<&'a TensorType>],
    /// The input ports, aligned with `inputs`.
    pub ports: &'a [PortSpec],
}

impl Ctx<'_> {
    fn value(&self, name: &str) -> Option<ParamValue> {
        self.params
            .get(name)
            .cloned()
            .or_else(|| self.specs.iter().find(|s| s.name == name).map(|s| s.default.to_value()))
    }

    /// Integer parameter (default when missing).
    pub fn int(&self, name: &str) -> i64 {
        self.value(name).and_then(|v| v.as_int()).unwrap_or(0)
    }

    /// Non-negative integer parameter as `u64`.
    pub fn uint(&self, name: &str) -> u64 {
        self.int(name).max(0) as u64
    }

    /// Real parameter.
    pub fn float(&self, name: &str) -> f64 {
        self.value(name).and_then(|v| v.as_float()).unwrap_or(0.0)
    }

    /// Boolean parameter.
    pub fn bool(&self, name: &str) -> bool {
        self.value(name).and_then(|v| v.as_bool()).unwrap_or(false)
    }

    /// Text / choice parameter.
    pub fn text(&self, name: &str) -> String {
        self.value(name)
            .and_then(|v| v.as_text().map(str::to_owned))
            .unwrap_or_default()
    }

    /// Shape parameter.
    pub fn shape(&self, name: &str) -> Vec<Dim> {
        self.value(name)
            .and_then(|v| v.as_list().map(|l| l.iter().filter_map(Dim::from_param).collect()))
            .unwrap_or_default()
    }

    /// Integer-list parameter.
    pub fn ints(&self, name: &str) -> Vec<i64> {
        self.value(name)
            .and_then(|v| v.as_list().map(|l| l.iter().filter_map(ParamValue::as_int).collect()))
            .unwrap_or_default()
    }

    /// Input `i`, which the checker guarantees is present for required ports.
    pub fn input(&self, i: usize) -> Result<&TensorType, RuleError> {
        self.inputs
            .get(i)
            .copied()
            .flatten()
            .ok_or_else(|| RuleError::new(format!("input {} is not connected", self.port_name(i))))
    }

    /// Optional input `i`.
    pub fn optional(&self, i: usize) -> Option<&TensorType> {
        self.inputs.get(i).copied().flatten()
    }

    /// Name of input port `i`.
    pub fn port_name(&self, i: usize) -> String {
        self.ports
            .get(i)
            .map(|p| p.name.to_string())
            .unwrap_or_else(|| format!("#{i}"))
    }
}

/// A shape rule: outputs, parameter count and cost from inputs and parameters.
pub type ShapeRule = fn(&Ctx) -> Result<Inferred, RuleError>;

/// Everything Strata knows about one node kind.
#[derive(Clone, Copy, Debug)]
pub struct LayerSpec {
    /// Stable id used in files (`conv2d`).
    pub id: &'static str,
    /// Display name ("Conv2d").
    pub name: &'static str,
    /// Palette category.
    pub category: Category,
    /// One line: what it does.
    pub doc: &'static str,
    /// The paper it comes from ("" for basic operations).
    pub paper: &'static str,
    /// Parameters.
    pub params: &'static [ParamSpec],
    /// Input ports.
    pub inputs: Ports,
    /// Output ports.
    pub outputs: Ports,
    /// Shape rule.
    pub infer: ShapeRule,
}

impl LayerSpec {
    /// The parameter spec named `name`.
    pub fn param(&self, name: &str) -> Option<&'static ParamSpec> {
        self.params.iter().find(|p| p.name == name)
    }

    /// Concrete input ports for a node with `params` (borrowed for fixed lists: no allocation).
    pub fn input_ports(&self, params: &Params) -> Cow<'static, [PortSpec]> {
        expand(self.inputs, params, self.params)
    }

    /// Concrete output ports for a node with `params`.
    pub fn output_ports(&self, params: &Params) -> Cow<'static, [PortSpec]> {
        expand(self.outputs, params, self.params)
    }
}

/// Largest number of variadic ports a node may have.
pub const MAX_VARIADIC_PORTS: i64 = 64;

fn expand(ports: Ports, params: &Params, specs: &'static [ParamSpec]) -> Cow<'static, [PortSpec]> {
    match ports {
        Ports::Fixed(list) => Cow::Borrowed(list),
        Ports::Variadic { prefix, count, accept } => {
            let n = params
                .get(count)
                .and_then(ParamValue::as_int)
                .or_else(|| {
                    specs
                        .iter()
                        .find(|s| s.name == count)
                        .and_then(|s| s.default.to_value().as_int())
                })
                .unwrap_or(2)
                .clamp(1, MAX_VARIADIC_PORTS);
            Cow::Owned(
                (0..n)
                    .map(|i| PortSpec {
                        name: Cow::Owned(format!("{prefix}{i}")),
                        accept,
                        optional: false,
                    })
                    .collect(),
            )
        }
    }
}
