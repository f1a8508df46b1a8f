//! Symbolic tensor types: the dimensions the checker reasons with.

use crate::doc::ParamValue;
use std::fmt;

/// One dimension of a tensor: a number, `mul·S + add` for a symbol `S` (batch `B`, sequence
/// `T`, source length `S`, node count `N`), or unknown.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dim {
    /// A known size.
    Known(u64),
    /// `mul · sym + add`.
    Sym {
        /// The symbol letter.
        sym: char,
        /// Multiplier (≥ 1).
        mul: u64,
        /// Offset.
        add: i64,
    },
    /// Unknown size (compatible with anything).
    Any,
}

impl Dim {
    /// The plain symbol `s`.
    pub const fn sym(s: char) -> Dim {
        Dim::Sym { sym: s, mul: 1, add: 0 }
    }

    /// The batch dimension.
    pub const B: Dim = Dim::sym('B');

    /// The size, if known.
    pub fn known(self) -> Option<u64> {
        match self {
            Dim::Known(n) => Some(n),
            _ => None,
        }
    }

    /// True when the two dims can be the same size.
    pub fn compatible(self, other: Dim) -> bool {
        self == other || self == Dim::Any || other == Dim::Any
    }

    /// `self · k`.
    pub fn times(self, k: u64) -> Dim {
        match self {
            Dim::Known(n) => n.checked_mul(k).map_or(Dim::Any, Dim::Known),
            Dim::Sym { sym, mul, add } => match (
                mul.checked_mul(k),
                i64::try_from(k).ok().and_then(|k| add.checked_mul(k)),
            ) {
                (Some(mul), Some(add)) if k > 0 => Dim::Sym { sym, mul, add },
                _ => Dim::Any,
            },
            Dim::Any => Dim::Any,
        }
    }

    /// `self · other` (symbolic × symbolic is unknown).
    pub fn product(self, other: Dim) -> Dim {
        match (self, other) {
            (d, Dim::Known(k)) | (Dim::Known(k), d) => d.times(k),
            _ => Dim::Any,
        }
    }

    /// `self / k` when it divides exactly, else `None`.
    pub fn divide(self, k: u64) -> Option<Dim> {
        if k == 0 {
            return None;
        }
        match self {
            Dim::Known(n) => (n % k == 0).then_some(Dim::Known(n / k)),
            Dim::Sym { sym, mul, add } => {
                let ki = i64::try_from(k).ok()?;
                (mul % k == 0 && add % ki == 0).then_some(Dim::Sym {
                    sym,
                    mul: mul / k,
                    add: add / ki,
                })
            }
            Dim::Any => Some(Dim::Any),
        }
    }

    /// `self + delta` (may be negative); `None` when a known size would go below zero.
    pub fn offset(self, delta: i64) -> Option<Dim> {
        match self {
            Dim::Known(n) => {
                let v = i128::from(n) + i128::from(delta);
                u64::try_from(v).ok().map(Dim::Known)
            }
            Dim::Sym { sym, mul, add } => add.checked_add(delta).map(|add| Dim::Sym { sym, mul, add }),
            Dim::Any => Some(Dim::Any),
        }
    }

    /// `self + other`.
    pub fn plus(self, other: Dim) -> Dim {
        match (self, other) {
            (Dim::Known(a), Dim::Known(b)) => a.checked_add(b).map_or(Dim::Any, Dim::Known),
            (Dim::Sym { .. }, Dim::Known(b)) => i64::try_from(b).ok().and_then(|b| self.offset(b)).unwrap_or(Dim::Any),
            (Dim::Known(_), Dim::Sym { .. }) => other.plus(self),
            (
                Dim::Sym {
                    sym: s1,
                    mul: m1,
                    add: a1,
                },
                Dim::Sym {
                    sym: s2,
                    mul: m2,
                    add: a2,
                },
            ) if s1 == s2 => match (m1.checked_add(m2), a1.checked_add(a2)) {
                (Some(mul), Some(add)) => Dim::Sym { sym: s1, mul, add },
                _ => Dim::Any,
            },
            _ => Dim::Any,
        }
    }

    /// The size used for per-example cost estimates: symbols count as 1.
    pub fn cost_size(self) -> u64 {
        match self {
            Dim::Known(n) => n,
            Dim::Sym { mul, add, .. } => (i128::from(mul) + i128::from(add)).clamp(1, i128::from(u32::MAX)) as u64,
            Dim::Any => 1,
        }
    }

    /// Parses one entry of a shape parameter: a number or a symbol letter (`B`, `T`, ...).
    pub fn from_param(v: &ParamValue) -> Option<Dim> {
        match v {
            ParamValue::Int(n) if *n >= 0 => Some(Dim::Known(*n as u64)),
            ParamValue::Text(s) => {
                let s = s.trim();
                if s == "?" {
                    return Some(Dim::Any);
                }
                let mut chars = s.chars();
                let c = chars.next()?;
                (chars.next().is_none() && c.is_ascii_uppercase()).then_some(Dim::sym(c))
            }
            _ => None,
        }
    }
}

impl fmt::Display for Dim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Dim::Known(n) => write!(f, "{n}"),
            Dim::Sym { sym, mul, add } => {
                if mul != 1 {
                    write!(f, "{mul}")?;
                }
                write!(f, "{sym}")?;
                match add {
                    0 => Ok(()),
                    a if a > 0 => write!(f, "+{a}"),
                    a => write!(f, "{a}"),
                }
            }
            Dim::Any => write!(f, "?"),
        }
    }
}

/// Element type of a tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DType {
    /// Real values (activations, weights).
    Float,
    /// Integers (token ids, class labels).
    Int,
}

/// The type of the value on a wire: element type and symbolic shape.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TensorType {
    /// Element type.
    pub dtype: DType,
    /// Shape; empty for a scalar.
    pub dims: Vec<Dim>,
}

impl TensorType {
    /// A float tensor.
    pub fn float(dims: Vec<Dim>) -> Self {
        TensorType {
            dtype: DType::Float,
            dims,
        }
    }

    /// An integer tensor.
    pub fn int(dims: Vec<Dim>) -> Self {
        TensorType {
            dtype: DType::Int,
            dims,
        }
    }

    /// A float scalar (losses).
    pub fn scalar() -> Self {
        TensorType::float(Vec::new())
    }

    /// Rank.
    pub fn rank(&self) -> usize {
        self.dims.len()
    }

    /// The last dim.
    pub fn last(&self) -> Option<Dim> {
        self.dims.last().copied()
    }

    /// The same type with the last dim replaced.
    pub fn with_last(&self, d: Dim) -> Self {
        let mut t = self.clone();
        if let Some(l) = t.dims.last_mut() {
            *l = d;
        }
        t
    }

    /// Number of elements per example (symbols count as 1).
    pub fn cost_elements(&self) -> u64 {
        self.dims
            .iter()
            .skip(1)
            .fold(1u64, |acc, d| acc.saturating_mul(d.cost_size()))
    }

    /// True when both types can describe the same tensor.
    pub fn compatible(&self, other: &TensorType) -> bool {
        self.dtype == other.dtype
            && self.dims.len() == other.dims.len()
            && self.dims.iter().zip(&other.dims).all(|(a, b)| a.compatible(*b))
    }
}

impl fmt::Display for TensorType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.dtype == DType::Int {
            write!(f, "int")?;
        }
        write!(f, "[")?;
        for (i, d) in self.dims.iter().enumerate() {
            if i > 0 {
                write!(f, ", ")?;
            }
            write!(f, "{d}")?;
        }
        write!(f, "]")
    }
}
