//! The Registry-layout docs under `docs/` are generated from the shared schema and `examples/`: this
//! fails when they are stale. `UPDATE_DOCS=1 cargo test -p planner --test docs` rewrites them.

use std::path::Path;

#[test]
fn registry_docs_match_the_schema_and_the_examples() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let pages = planner::docs::registry_docs(&root.join("examples"));
    assert_eq!(pages.len(), 1 + 8 + 4 + 2 + 4 + 1);
    let update = std::env::var("UPDATE_DOCS").is_ok();
    let mut stale = Vec::new();
    for (path, text) in &pages {
        let file = root.join("docs").join(path);
        if update {
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(&file, text).unwrap();
        } else if std::fs::read_to_string(&file).ok().as_deref() != Some(text.as_str()) {
            stale.push(path.display().to_string());
        }
        // Every attribute is described, and every resource page has its example and import.
        assert!(!text.contains("() \n"), "{}", path.display());
        assert!(
            text.contains("## Example Usage"),
            "{} has no example",
            path.display()
        );
        if path.starts_with("resources") {
            assert!(
                text.contains("terraform import"),
                "{} has no import",
                path.display()
            );
        }
    }
    assert!(
        stale.is_empty(),
        "stale docs (run UPDATE_DOCS=1 cargo test -p planner --test docs): {stale:?}"
    );
}

#[cfg(all(feature = "cli", feature = "demo"))]
#[test]
fn the_command_reference_matches_the_grammar() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/reference/bmplan.md");
    let text = planner::cli::reference::markdown();
    if std::env::var("UPDATE_DOCS").is_ok() {
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, &text).unwrap();
    }
    assert_eq!(
        std::fs::read_to_string(&file).ok().as_deref(),
        Some(text.as_str()),
        "docs/reference/bmplan.md is stale: run UPDATE_DOCS=1 cargo test -p planner --test docs"
    );
}
