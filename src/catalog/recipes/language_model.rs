//! Language models: predict each next token of a text from the ones before it (causal), then
//! write text from a prompt by sampling one token at a time.

use super::*;
use crate::catalog::rules::{choice, flag, float, int};
use crate::catalog::{ParamDefault, ParamKind, ParamSpec};

/// Tokens per training window (shared by the text recipes).
pub const CONTEXT: ParamSpec = int(
    "context",
    64,
    2,
    4096,
    "Tokens per training window (T); at most the position table's length",
);
/// Characters or byte-pair tokens (shared by the text recipes).
pub const TOKENIZER: ParamSpec = choice(
    "tokenizer",
    "characters",
    &["characters", "bpe"],
    "One token per character, or byte-pair tokens learned from the training text (the embedding and the last layer must then have vocab_size rows / features)",
);
/// How many byte-pair tokens to learn (shared by the text recipes).
pub const VOCAB_SIZE: ParamSpec = int(
    "vocab_size",
    512,
    2,
    65_536,
    "Tokens byte-pair encoding learns (the characters included)",
);

/// The declaration.
pub const SPEC: RecipeSpec = RecipeSpec {
    id: "language_model",
    name: "Language model",
    doc: "Next-token prediction: the token Input (an integer [B, T] Input on the dataset) gets windows of the text, the 'logits' Output ([B, T, vocabulary]) is scored with cross-entropy against the same windows shifted by one; the graph must be causal (masked attention, or no mixing across positions). Text is written from the prompt by sampling one token at a time with a temperature and top-k.",
    paper: "Radford et al., Improving Language Understanding by Generative Pre-Training, OpenAI 2018; Karpathy, char-rnn / nanoGPT",
    networks: &[NetworkSpec {
        name: "model",
        roles: &["logits"],
    }],
    roles: &[role("logits", Some(DType::Float), &[3])],
    settings: &[
        CONTEXT,
        TOKENIZER,
        VOCAB_SIZE,
        ParamSpec {
            name: "prompt",
            kind: ParamKind::Text,
            default: ParamDefault::Text("Elizabeth "),
            tooltip: "Text the samples start from (characters of the training text only)",
        },
        float(
            "temperature",
            0.8,
            0.05,
            2.0,
            "Sampling temperature: lower is safer and more repetitive, 1 is the model itself",
        ),
        int(
            "top_k",
            0,
            0,
            1_000_000,
            "Sample only among the k likeliest tokens (0: all of them)",
        ),
        int("length", 300, 1, 10_000, "Tokens written per sample"),
        flag(
            "kv_cache",
            true,
            "Write text with a cache of each attention layer's keys and values, running only the newest token (graphs of causal attention and per-position layers; others rerun the whole window)",
        ),
        int(
            "attention_layer",
            0,
            0,
            1_000,
            "Which attention layer the attention view shows, counted from 1 in run order (0: the last)",
        ),
    ],
    data: &[DataKind::Corpus],
    series: &[
        series("loss", "cross-entropy per token (nats)", "Loss", When::Step),
        series("val_loss", "validation loss per token (nats)", "Loss", When::Eval),
        series(
            "val_bits_per_char",
            "validation bits per token",
            "Bits per token",
            When::Eval,
        ),
    ],
    views: &[
        ViewSpec {
            channel: "text",
            title: "Generated text",
            doc: "Written from the prompt with the current weights, one token at a time",
            on_node: None,
        },
        ViewSpec {
            channel: "attention",
            title: "Attention",
            doc: "Where each of the last 32 characters of the written text looks, one heat map per head of the chosen attention layer (rows: the character attending, columns: the ones it attends to; brighter is more weight)",
            on_node: None,
        },
        ViewSpec {
            channel: "experts",
            title: "Expert load",
            doc: "Mixture-of-experts layers: each expert's share of the tokens per training step (rows: experts, layer by layer; columns: the last 400 steps; white is an even share, red more, blue less)",
            on_node: None,
        },
    ],
    headline: &["val_loss"],
    invertible: false,
    sources: &[],
    generate: Some(GenerateSpec {
        doc: "Text written from your prompt with the current weights, one token at a time",
        class: false,
        guidance: false,
        steps: false,
        prompt: true,
    }),
};
