//! Masked language models (BERT): hide 15 % of a text's tokens and predict them from both sides.

use super::*;
use crate::catalog::rules::float;
use crate::catalog::{ParamDefault, ParamKind, ParamSpec};

/// The declaration.
pub const SPEC: RecipeSpec = RecipeSpec {
    id: "masked_lm",
    name: "Masked language model",
    doc: "BERT's pre-training: in each window of the text 15 % of the positions are chosen; of those 80 % become the [MASK] token, 10 % a random token and 10 % stay, and the 'logits' Output ([B, T, vocabulary]) is scored with cross-entropy at the chosen positions only. The token Input is integer [B, T]; [MASK] is the id after the last character, so the embedding table needs vocabulary + 1 rows. Attention sees both sides (no causal mask).",
    paper: "Devlin, Chang, Lee & Toutanova, BERT: Pre-training of Deep Bidirectional Transformers for Language Understanding, NAACL 2019",
    networks: &[NetworkSpec {
        name: "model",
        roles: &["logits"],
    }],
    roles: &[role("logits", Some(DType::Float), &[3])],
    settings: &[
        super::language_model::CONTEXT,
        super::language_model::TOKENIZER,
        super::language_model::VOCAB_SIZE,
        float(
            "mask_rate",
            0.15,
            0.01,
            0.9,
            "Share of positions chosen for prediction (BERT: 0.15)",
        ),
        ParamSpec {
            name: "prompt",
            kind: ParamKind::Text,
            default: ParamDefault::Text(
                "It is a truth universally ac#####edged, that a single man in pos#ession of a good fortune must be in want of a w#fe.",
            ),
            tooltip: "Text with blanks written as '#': the model fills them in (the Generate tab and the live view)",
        },
    ],
    data: &[DataKind::Corpus],
    series: &[
        series(
            "loss",
            "cross-entropy at the chosen positions (nats)",
            "Loss",
            When::Step,
        ),
        series(
            "val_loss",
            "validation loss at the chosen positions (nats)",
            "Loss",
            When::Eval,
        ),
        percent(
            "val_masked_accuracy",
            "validation accuracy at the chosen positions",
            "Masked accuracy",
            When::Eval,
        ),
    ],
    views: &[ViewSpec {
        channel: "text",
        title: "Filled-in text",
        doc: "The prompt's blanks ('#') and a validation passage with 15 % of its characters hidden, as the model fills them in",
        on_node: None,
    }],
    headline: &["val_masked_accuracy", "val_loss"],
    invertible: false,
    sources: &[],
    generate: Some(GenerateSpec {
        doc: "Blanks ('#') in your text filled in by the model with the current weights",
        class: false,
        guidance: false,
        steps: false,
        prompt: true,
    }),
};
