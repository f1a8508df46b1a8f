//! Helpers shared by the shape rules of every family.

use super::spec::{Accept, FixAction, Inferred, ParamDefault, ParamKind, ParamSpec, PortDef, RuleError};
use super::types::{Dim, TensorType};
use std::borrow::Cow;

/// One required float input named `x`.
pub const X: &[PortDef] = &[port("x")];
/// One float output named `y`.
pub const Y: &[PortDef] = &[port("y")];
/// No ports.
pub const NONE: &[PortDef] = &[];

/// A required float port.
pub const fn port(name: &'static str) -> PortDef {
    PortDef {
        name: Cow::Borrowed(name),
        accept: Accept::Float,
        optional: false,
    }
}

/// A required integer port.
pub const fn int_port(name: &'static str) -> PortDef {
    PortDef {
        name: Cow::Borrowed(name),
        accept: Accept::Int,
        optional: false,
    }
}

/// A required port of any element type.
pub const fn any_port(name: &'static str) -> PortDef {
    PortDef {
        name: Cow::Borrowed(name),
        accept: Accept::Any,
        optional: false,
    }
}

/// An optional port.
pub const fn opt_port(name: &'static str, accept: Accept) -> PortDef {
    PortDef {
        name: Cow::Borrowed(name),
        accept,
        optional: true,
    }
}

/// Largest size parameter we accept (keeps every count far from overflow).
pub const BIG: i64 = 1 << 30;

/// An integer parameter.
pub const fn int(name: &'static str, default: i64, min: i64, max: i64, tooltip: &'static str) -> ParamSpec {
    ParamSpec {
        name,
        kind: ParamKind::Int { min, max },
        default: ParamDefault::Int(default),
        tooltip,
    }
}

/// A block reference (empty by default): see [`ParamKind::Block`].
pub const fn block_ref(
    name: &'static str,
    copies: &'static str,
    runs: &'static str,
    tooltip: &'static str,
) -> ParamSpec {
    ParamSpec {
        name,
        kind: ParamKind::Block { copies, runs },
        default: ParamDefault::Text(""),
        tooltip,
    }
}

/// A real parameter.
pub const fn float(name: &'static str, default: f64, min: f64, max: f64, tooltip: &'static str) -> ParamSpec {
    ParamSpec {
        name,
        kind: ParamKind::Float { min, max },
        default: ParamDefault::Float(default),
        tooltip,
    }
}

/// A boolean parameter.
pub const fn flag(name: &'static str, default: bool, tooltip: &'static str) -> ParamSpec {
    ParamSpec {
        name,
        kind: ParamKind::Bool,
        default: ParamDefault::Bool(default),
        tooltip,
    }
}

/// A choice parameter.
pub const fn choice(
    name: &'static str,
    default: &'static str,
    options: &'static [&'static str],
    tooltip: &'static str,
) -> ParamSpec {
    ParamSpec {
        name,
        kind: ParamKind::Choice(options),
        default: ParamDefault::Text(default),
        tooltip,
    }
}

/// Checked multiplication for parameter counts.
pub fn cm(a: u64, b: u64) -> Result<u64, RuleError> {
    a.checked_mul(b)
        .ok_or_else(|| RuleError::new("the layer is too large: its size overflows a 64-bit count — use smaller sizes"))
}

/// Checked sum.
pub fn cs(vals: &[u64]) -> Result<u64, RuleError> {
    vals.iter()
        .try_fold(0u64, |acc, v| acc.checked_add(*v))
        .ok_or_else(|| RuleError::new("the layer is too large: its size overflows a 64-bit count — use smaller sizes"))
}

/// A known size, or an error saying which size must be known.
pub fn known(d: Dim, port: &str, what: &str) -> Result<u64, RuleError> {
    d.known().ok_or_else(|| {
        RuleError::at(
            port,
            format!("the {what} must be a known number to size the weights, but it is {d}"),
        )
    })
}

/// Checks the rank is at least `min`.
pub fn min_rank(t: &TensorType, port: &str, min: usize, layout: &str) -> Result<(), RuleError> {
    if t.rank() < min {
        return Err(RuleError::at(
            port,
            format!("expects {layout} (at least {min} dims) but gets {t}"),
        ));
    }
    Ok(())
}

/// Checks the rank is exactly `rank`, with a Flatten fix when the input has more dims.
pub fn exact_rank(t: &TensorType, port: &str, rank: usize, layout: &str, kind: &str) -> Result<(), RuleError> {
    if t.rank() != rank {
        let e = RuleError::at(port, format!("{kind} expects {layout} but gets {t}"));
        if t.rank() > rank && rank == 2 {
            return Err(e.fix(
                "insert Flatten",
                Some(FixAction::InsertBefore {
                    port: port.to_owned(),
                    kind: "flatten",
                    params: vec![],
                }),
            ));
        }
        return Err(e);
    }
    Ok(())
}

/// An output equal to input 0, no parameters, one op per element.
pub fn same(t: &TensorType) -> Inferred {
    Inferred {
        outputs: vec![t.clone()],
        params: 0,
        macs: t.cost_elements(),
    }
}

/// Normalises a possibly negative axis for a tensor of rank `rank`.
pub fn axis(dim: i64, rank: usize, port: &str) -> Result<usize, RuleError> {
    let r = rank as i64;
    let a = if dim < 0 { dim + r } else { dim };
    if a < 0 || a >= r {
        return Err(RuleError::at(
            port,
            format!("dim {dim} is out of range for a tensor of rank {rank}"),
        ));
    }
    Ok(a as usize)
}

/// Output length of a convolution / pooling window.
pub fn window_out(len: Dim, k: u64, s: u64, p: u64, d: u64, ceil: bool, port: &str) -> Result<Dim, RuleError> {
    let span = d.saturating_mul(k.saturating_sub(1)).saturating_add(1);
    match len {
        Dim::Known(n) => {
            let padded = n.saturating_add(2 * p);
            if padded < span {
                return Err(RuleError::at(
                    port,
                    format!(
                        "the input ({n}) is smaller than the window ({span}) — use a smaller kernel or more padding"
                    ),
                ));
            }
            let s = s.max(1);
            let mut out = (padded - span) / s + 1;
            if ceil && !(padded - span).is_multiple_of(s) {
                out += 1;
                // PyTorch: the last window must start inside the input or left padding.
                if (out - 1) * s >= n + p {
                    out -= 1;
                }
            }
            Ok(Dim::Known(out))
        }
        Dim::Sym { .. } if s <= 1 => {
            let delta = 2 * p as i64 - (span as i64 - 1);
            Ok(len.offset(delta).unwrap_or(Dim::Any))
        }
        Dim::Sym { .. } => Ok(len
            .offset(2 * p as i64 - span as i64)
            .and_then(|d| d.divide(s))
            .and_then(|d| d.offset(1))
            .unwrap_or(Dim::Any)),
        Dim::Any => Ok(Dim::Any),
    }
}

/// Numpy-style broadcast of two shapes.
pub fn broadcast(a: &TensorType, b: &TensorType, port: &str) -> Result<TensorType, RuleError> {
    let r = a.rank().max(b.rank());
    let at = |t: &TensorType, i: usize| {
        if i + t.rank() >= r {
            t.dims[i + t.rank() - r]
        } else {
            Dim::Known(1)
        }
    };
    let dims = (0..r)
        .map(|i| {
            let (da, db) = (at(a, i), at(b, i));
            if da == db || db == Dim::Known(1) {
                Ok(da)
            } else if da == Dim::Known(1) || da == Dim::Any {
                Ok(db)
            } else if db == Dim::Any {
                Ok(da)
            } else {
                Err(RuleError::at(
                    port,
                    format!("shapes {a} and {b} do not match (dim {i}: {da} vs {db})"),
                ))
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(TensorType { dtype: a.dtype, dims })
}
