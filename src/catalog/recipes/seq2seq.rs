//! Sequence to sequence: an encoder reads the source, a decoder writes the target one token at
//! a time (trained with teacher forcing, decoded greedily or by beam search).

use super::*;
use crate::catalog::rules::int;
use crate::catalog::{ParamDefault, ParamKind, ParamSpec};

/// The declaration.
pub const SPEC: RecipeSpec = RecipeSpec {
    id: "seq2seq",
    name: "Sequence to sequence",
    doc: "Encoder–decoder with teacher forcing: the graph gets the source tokens (integer Input, field 'source', [B, S]), the target shifted right behind <s> (field 'target', [B, T]) and, if it has one, the source's padding mask (field 'source_mask', 1 = token, 0 = padding); its 'logits' Output ([B, T, vocabulary]) is scored with cross-entropy against the target (padding ignored). The decoder must be causal. Answers are written greedily (validation exact match) and by beam search (the views and the Generate tab).",
    paper: "Sutskever, Vinyals & Le, Sequence to Sequence Learning with Neural Networks, NeurIPS 2014; Bahdanau, Cho & Bengio, ICLR 2015",
    networks: &[NetworkSpec {
        name: "model",
        roles: &["logits"],
    }],
    roles: &[role("logits", Some(DType::Float), &[3])],
    settings: &[
        int("beam", 4, 1, 64, "Beams of the beam search (1: greedy)"),
        int(
            "attention_layer",
            0,
            0,
            1_000,
            "Which attention layer the alignment view shows, counted from 1 in run order (0: the last one over the source)",
        ),
        ParamSpec {
            name: "prompt",
            kind: ParamKind::Text,
            default: ParamDefault::Text("31415926"),
            tooltip: "A source the live view and the Generate tab answer (characters of the task's vocabulary)",
        },
    ],
    data: &[DataKind::Pairs],
    series: &[
        series("loss", "cross-entropy per target token (nats)", "Loss", When::Step),
        series(
            "val_loss",
            "validation loss per target token (nats)",
            "Loss",
            When::Eval,
        ),
        percent(
            "val_token_accuracy",
            "validation next-token accuracy (teacher forcing)",
            "Accuracy",
            When::Eval,
        ),
        percent(
            "val_exact_match",
            "validation answers exactly right (greedy decoding)",
            "Accuracy",
            When::Eval,
        ),
    ],
    views: &[
        ViewSpec {
            channel: "text",
            title: "Answers",
            doc: "The prompt and validation sources answered by greedy and beam decoding, with the right answers",
            on_node: None,
        },
        ViewSpec {
            channel: "alignment",
            title: "Alignment",
            doc: "For the prompt: how much each written token (rows, top to bottom) attends to each source token (columns, left to right); one block per head",
            on_node: None,
        },
    ],
    headline: &["val_exact_match", "val_loss"],
    invertible: false,
    sources: &[],
    generate: Some(GenerateSpec {
        doc: "The answer to your source, by beam search with the current weights",
        class: false,
        guidance: false,
        steps: false,
        prompt: true,
    }),
};
