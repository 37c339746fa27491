//! The layout's rules, checked on the code as it is (see `docs/guides/architecture.md`): the core
//! crate links no runtime, network, database or SSH crate; the provider links neither the lab nor
//! the command-line crates (clap, indicatif); a driver is constructed only in its factory; and no module of the
//! planner or its core imports, through others, a module that imports it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The `planner` package's directory (its `src`, `core/src`, `inventory/src`).
fn planner_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn workspace() -> PathBuf {
    planner_dir().parent().unwrap().to_path_buf()
}

/// The crates `package` links in a normal build of it alone (its own features, not the workspace's).
fn linked(package: &str) -> BTreeSet<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(workspace())
        .args([
            "tree",
            "--offline",
            "-e",
            "normal",
            "--prefix",
            "none",
            "-p",
            package,
        ])
        .output()
        .expect("cargo tree runs");
    assert!(
        out.status.success(),
        "cargo tree -p {package}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

#[test]
fn the_core_crate_links_no_runtime_network_database_or_ssh_crate() {
    let deps = linked("planner-core");
    assert!(deps.contains("hcl-rs"), "the tree was read: {deps:?}");
    for banned in ["tokio", "sqlx", "reqwest", "russh", "hyper", "rustls"] {
        assert!(!deps.contains(banned), "planner-core links {banned}");
    }
}

#[test]
fn the_provider_links_neither_the_lab_nor_the_command_line_crates() {
    let deps = linked("terraform-provider-baremetal");
    assert!(deps.contains("planner"), "the tree was read: {deps:?}");
    for banned in ["lab", "clap", "indicatif"] {
        assert!(!deps.contains(banned), "the provider links {banned}");
    }
}

/// Every `.rs` file under `dir`, with its text.
fn sources(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                let text = std::fs::read_to_string(&p).unwrap();
                out.push((p, text));
            }
        }
    }
    out.sort();
    out
}

/// The code of a file without comments and without its test module.
fn code(text: &str) -> String {
    let text = text.split("#[cfg(test)]\nmod tests").next().unwrap_or(text);
    text.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn drivers_are_constructed_only_in_their_factories() {
    let src = planner_dir().join("src");
    let factories: BTreeMap<&str, &str> = [
        ("RedfishBmc::new(", "bmc/mod.rs"),
        ("RedfishBmc::snapshot(", "bmc/mod.rs"),
        ("IosSwitch::new(", "switch/mod.rs"),
        ("NetconfSwitch::new(", "switch/mod.rs"),
        ("EapiSwitch::new(", "switch/mod.rs"),
    ]
    .into_iter()
    .collect();
    let mut found: BTreeSet<&str> = BTreeSet::new();
    for (path, text) in sources(&src) {
        let rel = path
            .strip_prefix(&src)
            .unwrap()
            .to_string_lossy()
            .to_string();
        let code = code(&text);
        for (call, home) in &factories {
            // The snapshot constructor calls `new` on itself, inside the driver.
            let own = rel == "bmc/redfish/mod.rs" && *call == "RedfishBmc::new(";
            if code.contains(call) {
                assert!(rel == *home || own, "{rel} constructs a driver: {call}");
                if rel == *home {
                    found.insert(call);
                }
            }
        }
    }
    // Each constructor is called in its factory: the check looked at the right places.
    assert_eq!(
        found.len(),
        factories.len(),
        "found in their factories: {found:?}"
    );
}

/// Top-level module → the top-level modules of the same crate it names (`crate::x`).
fn module_graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (path, text) in sources(src) {
        let rel = path.strip_prefix(src).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let module = first.trim_end_matches(".rs").to_string();
        if module == "lib" || module == "bin" || module == "main" {
            continue;
        }
        let code = code(&text);
        let mut names: BTreeSet<String> = BTreeSet::new();
        for (i, _) in code.match_indices("crate::") {
            let rest = &code[i + "crate::".len()..];
            if let Some(group) = rest.strip_prefix('{') {
                // The group's top-level items only: `crate::{a::{b, c}, d}` names a and d.
                let mut items = vec![String::new()];
                let mut depth = 0;
                for c in group.chars() {
                    match c {
                        '}' if depth == 0 => break,
                        ',' if depth == 0 => items.push(String::new()),
                        _ => {
                            depth += (c == '{') as i32 - (c == '}') as i32;
                            if let Some(last) = items.last_mut() {
                                last.push(c);
                            }
                        }
                    }
                }
                for item in items {
                    let name: String = item
                        .trim()
                        .chars()
                        .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
                        .collect();
                    names.insert(name);
                }
            } else {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
                    .collect();
                names.insert(name);
            }
        }
        names.retain(|n| !n.is_empty() && *n != module);
        graph.entry(module).or_default().extend(names);
    }
    graph
}

/// A cycle of the graph, if it has one (as the modules that form it, the first again at the end).
fn cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = stack.iter().position(|s| s == n) {
            let mut c = stack[at..].to_vec();
            c.push(n.to_string());
            return Some(c);
        }
        if done.contains(n) {
            return None;
        }
        stack.push(n.to_string());
        for m in graph.get(n).into_iter().flatten() {
            if graph.contains_key(m) {
                if let Some(c) = visit(m, graph, stack, done) {
                    return Some(c);
                }
            }
        }
        stack.pop();
        done.insert(n.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|n| visit(n, graph, &mut Vec::new(), &mut done))
}

#[test]
fn no_module_of_the_planner_or_its_core_imports_one_that_imports_it() {
    for dir in ["src", "core/src", "inventory/src"] {
        let src = planner_dir().join(dir);
        let graph = module_graph(&src);
        assert!(graph.len() > 5, "{dir}: the modules were read: {graph:?}");
        assert_eq!(cycle(&graph), None, "{dir}: an import circle");
    }
    // The check sees a circle when there is one.
    let mut looped: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    looped.insert("a".into(), ["b".to_string()].into());
    looped.insert("b".into(), ["a".to_string()].into());
    assert_eq!(
        cycle(&looped),
        Some(vec!["a".to_string(), "b".to_string(), "a".to_string()])
    );
}

#[test]
fn the_bmplan_binary_stays_thin() {
    // Parsing is the grammar's (`planner::cli`), the work the engine's: the binary dispatches and
    // prints.
    let bin = planner_dir().join("src/bin/bmplan");
    let lines: usize = sources(&bin).iter().map(|(_, t)| t.lines().count()).sum();
    assert!(lines > 100, "the binary was read: {lines} lines");
    assert!(
        lines < 800,
        "the bmplan binary is {lines} lines (under 800 expected)"
    );
}
