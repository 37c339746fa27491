//! Properties of the HCL loader: any text, and any configuration built from the schema's own words
//! with wrong names, types, nestings and references mixed in, loads to `Ok` or to errors that each
//! name a place (file, line and column) — never a panic, never an error without a location.

use std::path::{Path, PathBuf};

use planner::load::{load_sources, LoadOptions};
use proptest::prelude::*;

fn load(text: &str) -> Result<planner::load::Loaded, planner::load::LoadErrors> {
    let opts = LoadOptions {
        env: Some(Vec::new()),
        ..LoadOptions::default()
    };
    load_sources(
        Path::new("/nonexistent-bmplan-props"),
        vec![(
            PathBuf::from("/nonexistent-bmplan-props/main.tf"),
            text.to_string(),
        )],
        &opts,
    )
}

/// Attribute names: the schema's, near misses, and strangers.
fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("name".to_string()),
        Just("vlan_id".to_string()),
        Just("bmc_url".to_string()),
        Just("username".to_string()),
        Just("password".to_string()),
        Just("insecure".to_string()),
        Just("ca_cert".to_string()),
        Just("profile".to_string()),
        Just("bios".to_string()),
        Just("count".to_string()),
        Just("for_each".to_string()),
        Just("max_parallel".to_string()),
        Just("vlan_di".to_string()),
        "[a-z_][a-z0-9_]{0,12}",
    ]
}

/// Expressions: literals of every type, strings with control characters, references (some
/// dangling, some cyclic), function calls and nested collections.
fn expr() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| format!("{f:?}")),
        any::<bool>().prop_map(|b| b.to_string()),
        "[ -~]{0,20}".prop_map(|s| format!("{:?}", s.replace(['$', '%'], ""))),
        Just("\"\\u0000\\u001b[31m\"".to_string()),
        Just("null".to_string()),
        Just("local.a".to_string()),
        Just("local.b".to_string()),
        Just("var.v".to_string()),
        Just("baremetal_network.n.name".to_string()),
        Just("each.key".to_string()),
        Just("count.index".to_string()),
        Just("range(5)".to_string()),
        Just("range(100000000)".to_string()),
        Just("format(\"%05d\", 3)".to_string()),
        Just("jsondecode(\"[1\")".to_string()),
        Just("file(\"/nonexistent\")".to_string()),
    ];
    leaf.prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|v| format!("[{}]", v.join(", "))),
            prop::collection::vec((name(), inner.clone()), 0..4).prop_map(|kv| {
                format!(
                    "{{ {} }}",
                    kv.into_iter()
                        .map(|(k, v)| format!("{k} = {v}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }),
            inner.clone().prop_map(|e| format!("\"${{{e}}}\"")),
            (inner.clone(), inner).prop_map(|(a, b)| format!("({a} == {b} ? {a} : {b})")),
        ]
    })
}

fn body() -> impl Strategy<Value = String> {
    prop::collection::vec((name(), expr()), 0..6).prop_map(|kv| {
        kv.into_iter()
            .map(|(k, v)| format!("  {k} = {v}\n"))
            .collect()
    })
}

/// Whole configurations: resources of known and unknown types, locals, variables, providers.
fn config() -> impl Strategy<Value = String> {
    let kind = prop_oneof![
        Just("baremetal_network"),
        Just("baremetal_node"),
        Just("baremetal_switch"),
        Just("baremetal_profile"),
        Just("baremetal_host"),
        Just("baremetal_nework"),
        Just("other_thing"),
    ];
    let block = prop_oneof![
        (kind, prop_oneof![Just("n"), Just("m"), Just("9x")], body())
            .prop_map(|(k, n, b)| format!("resource \"{k}\" \"{n}\" {{\n{b}}}\n")),
        body().prop_map(|b| format!("locals {{\n{b}}}\n")),
        body().prop_map(|b| format!("provider \"baremetal\" {{\n{b}}}\n")),
        (
            expr(),
            prop_oneof![
                Just("string"),
                Just("number"),
                Just("bool"),
                Just("list(string)")
            ]
        )
            .prop_map(|(d, t)| format!("variable \"v\" {{\n  type = {t}\n  default = {d}\n}}\n")),
        body().prop_map(|b| format!("resouce \"x\" {{\n{b}}}\n")),
    ];
    prop::collection::vec(block, 0..6).prop_map(|b| b.concat())
}

fn every_error_is_located(text: &str) -> Result<(), TestCaseError> {
    if let Err(errors) = load(text) {
        prop_assert!(!errors.0.is_empty());
        for e in &errors.0 {
            prop_assert!(
                e.location.is_some(),
                "an error without a location: {} (input {:?})",
                e.message,
                text
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn any_generated_configuration_loads_or_gives_located_errors(text in config()) {
        every_error_is_located(&text)?;
    }

    #[test]
    fn any_text_loads_or_gives_located_errors(text in "\\PC{0,400}") {
        every_error_is_located(&text)?;
    }

    #[test]
    fn any_bytes_as_a_file_load_or_give_located_errors(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("main.tf"), &bytes).unwrap();
        let opts = LoadOptions { env: Some(Vec::new()), ..LoadOptions::default() };
        if let Err(errors) = planner::load::load_dir(dir.path(), &opts) {
            for e in &errors.0 {
                prop_assert!(e.location.is_some(), "{}", e.message);
            }
        }
    }
}
