//! The catalog registry: unique ids, complete specs, defaults that fit their own ranges.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use strata::catalog::{self, Catalog, Category, ParamCheck, check_param};

#[test]
fn registry_rejects_duplicate_ids() {
    let mut specs = Catalog::builtin_specs();
    assert!(Catalog::new(specs.clone()).is_ok());
    specs.push(specs[3]);
    let err = Catalog::new(specs).unwrap_err();
    assert!(err.to_string().contains("two layer kinds use the id"));
}

#[test]
fn every_spec_is_documented_and_its_defaults_are_valid() {
    let cat = catalog::catalog();
    for s in cat.all() {
        assert!(!s.name.is_empty() && !s.doc.is_empty(), "{}", s.id);
        assert!(
            s.id.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
            "{}",
            s.id
        );
        for p in s.params {
            assert!(!p.tooltip.is_empty(), "{}.{}", s.id, p.name);
            assert_eq!(
                check_param(p, &p.default.to_value()),
                ParamCheck::Ok,
                "{}.{} default",
                s.id,
                p.name
            );
        }
        // Parameter names are unique within a kind.
        let mut names: Vec<_> = s.params.iter().map(|p| p.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), s.params.len(), "{}", s.id);
    }
}

#[test]
fn catalog_covers_the_seed_archetypes() {
    let required = [
        "input",
        "output",
        "constant",
        "parameter",
        "linear",
        "conv1d",
        "conv2d",
        "conv_transpose2d",
        "upsample",
        "max_pool2d",
        "avg_pool2d",
        "adaptive_avg_pool2d",
        "global_avg_pool",
        "flatten",
        "reshape",
        "permute",
        "transpose",
        "squeeze",
        "unsqueeze",
        "slice",
        "split",
        "concat",
        "add",
        "multiply",
        "matmul",
        "mean",
        "relu",
        "leaky_relu",
        "gelu",
        "silu",
        "sigmoid",
        "tanh",
        "softmax",
        "mish",
        "dropout",
        "batch_norm",
        "layer_norm",
        "group_norm",
        "rms_norm",
        "embedding",
        "positional_sinusoidal",
        "positional_learned",
        "timestep_embedding",
        "multi_head_attention",
        "rnn",
        "lstm",
        "gru",
        "gcn_conv",
        "sage_conv",
        "gat_conv",
        "reparameterize",
        "modulate",
        "patch_embed",
        "unpatchify",
        "moe",
        "cross_entropy",
        "mse",
        "bce",
        "kl_divergence",
        "nll",
    ];
    for id in required {
        assert!(catalog::catalog().get(id).is_some(), "missing kind {id}");
    }
    // Every category but Block has kinds; every category has an icon file.
    for c in Category::ALL {
        let icon = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("icons")
            .join(c.icon());
        assert!(icon.exists(), "missing icon {}", icon.display());
        assert!(catalog::catalog().in_category(c).next().is_some(), "{c:?} is empty");
    }
}

#[test]
fn default_nodes_carry_every_parameter() {
    let n = catalog::default_node("conv2d").unwrap();
    assert_eq!(n.params.len(), catalog::catalog().get("conv2d").unwrap().params.len());
    assert!(catalog::default_node("no_such_kind").is_none());
}

#[test]
fn recipes_name_known_roles() {
    assert_eq!(catalog::duplicate_recipe_id(), None);
    for r in catalog::recipes() {
        for role in r.roles {
            assert!(catalog::ROLES.contains(&role.role), "{}: {}", r.id, role.role);
        }
        for net in r.networks {
            for role in net.roles {
                assert!(
                    r.roles.iter().any(|s| s.role == *role),
                    "{}: network {} feeds unknown role {role}",
                    r.id,
                    net.name
                );
            }
        }
        for key in r.headline {
            assert!(r.series(key).is_some(), "{}: headline {key} is not a series", r.id);
        }
    }
}
