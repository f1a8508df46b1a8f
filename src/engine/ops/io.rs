//! Inputs and outputs: values enter from the recipe and leave to it.

use super::{Decode, Layer, OpSpec, StepParams, Value, stateless};

fn pass(_: &StepParams, _: Option<&Layer>, inputs: Vec<Value>) -> Result<Vec<Value>, String> {
    Ok(inputs)
}

/// Input values are placed by the recipe; output nodes hand their input to it.
pub const OPS: &[OpSpec] = &[
    OpSpec {
        kind: "input",
        build: stateless,
        forward: pass,
        decode: Decode::Alone,
    },
    OpSpec {
        kind: "output",
        build: stateless,
        forward: pass,
        decode: Decode::Alone,
    },
    OpSpec {
        kind: "identity",
        build: stateless,
        forward: pass,
        decode: Decode::Alone,
    },
];
