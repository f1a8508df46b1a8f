//! Supervised learning against labels: classification, regression, per-pixel segmentation.

use super::*;

/// The declaration.
pub const SPEC: RecipeSpec = RecipeSpec {
    id: "supervised",
    name: "Supervised",
    doc: "Classification, regression or per-pixel segmentation against labels (cross-entropy or squared error).",
    paper: "",
    networks: &[NetworkSpec {
        name: "model",
        roles: &["prediction"],
    }],
    roles: &[role("prediction", Some(DType::Float), &[2, 4])],
    settings: &[],
    data: &[DataKind::Examples],
    series: &[
        series("loss", "loss", "Loss", When::Step),
        series("val_loss", "validation loss", "Loss", When::Eval),
        percent("accuracy", "accuracy", "Accuracy", When::Step),
        percent("val_accuracy", "validation accuracy", "Accuracy", When::Eval),
        series("val_rmse", "validation RMSE", "Error", When::Eval),
        percent("val_miou", "validation mean IoU", "Accuracy", When::Eval),
    ],
    views: &[
        ViewSpec {
            channel: "samples",
            title: "Predictions",
            doc: "Validation images framed green where the model is right, red where it is wrong (masks beside them for segmentation)",
            on_node: Some("prediction"),
        },
        ViewSpec {
            channel: "class_attention",
            title: "Class-token attention",
            doc: "Vision transformers: where the class token looks in the last attention layer (mean over heads), each validation image beside its patch grid — brighter is more attention",
            on_node: None,
        },
        ViewSpec {
            channel: "confusion",
            title: "Confusion matrix",
            doc: "How often each true class was predicted as each class",
            on_node: None,
        },
    ],
    headline: &["val_miou", "val_accuracy", "val_rmse", "val_loss"],

    invertible: false,
    sources: &[],
    generate: None,
};
