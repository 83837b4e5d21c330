//! The layout's rules, checked on the source: no module imports another that imports it back
//! (directly or around a longer loop), and the domain does no I/O (no tokio, no SDK).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Every module of `src/` (`ops::scale`, `domain`, ...) and its source without comments.
fn modules() -> BTreeMap<String, String> {
    fn walk(dir: &Path, out: &mut BTreeMap<String, String>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .expect("src/ is readable")
            .map(|e| e.expect("a directory entry").path())
            .collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                walk(&path, out);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let relative = path
                .strip_prefix(concat!(env!("CARGO_MANIFEST_DIR"), "/src"))
                .expect("under src/")
                .with_extension("");
            let mut parts: Vec<String> = relative
                .iter()
                .map(|p| p.to_string_lossy().into_owned())
                .collect();
            if matches!(
                parts.last().map(String::as_str),
                Some("mod" | "lib" | "main")
            ) {
                parts.pop();
            }
            let source = std::fs::read_to_string(&path).expect("a readable source file");
            // Tests and comments (doc links) are not dependencies of the module.
            let tests_at = [
                "#[cfg(test)]\nmod tests",
                "#[cfg(test)]\npub(crate) mod tests",
            ]
            .iter()
            .filter_map(|marker| source.find(marker))
            .min()
            .unwrap_or(source.len());
            let code = source[..tests_at]
                .lines()
                .map(|line| line.split("//").next().unwrap_or_default())
                .collect::<Vec<_>>()
                .join("\n");
            out.insert(parts.join("::"), code);
        }
    }
    let mut out = BTreeMap::new();
    walk(
        Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/src")),
        &mut out,
    );
    out
}

/// The modules `code` (of module `name`) names through `crate::` or `super::` paths.
fn imports(name: &str, code: &str, known: &BTreeMap<String, String>) -> BTreeSet<String> {
    let parent: Vec<&str> = name.split("::").filter(|p| !p.is_empty()).collect();
    let parent = parent[..parent.len().saturating_sub(1)].join("::");
    let mut found = BTreeSet::new();
    for (prefix, base) in [("crate::", String::new()), ("super::", parent)] {
        for (at, _) in code.match_indices(prefix) {
            let path: String = code[at + prefix.len()..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            let full: Vec<&str> = base
                .split("::")
                .chain(path.split("::"))
                .filter(|p| !p.is_empty())
                .collect();
            // The longest known module the path starts with.
            if let Some(target) = (1..=full.len())
                .rev()
                .map(|n| full[..n].join("::"))
                .find(|m| known.contains_key(m))
            {
                let is_ancestor = name.starts_with(&format!("{target}::"));
                if target != name && !is_ancestor {
                    found.insert(target);
                }
            }
        }
    }
    found
}

#[test]
fn no_module_imports_one_that_imports_it_back() {
    let modules = modules();
    let graph: BTreeMap<&str, BTreeSet<String>> = modules
        .iter()
        .map(|(name, code)| (name.as_str(), imports(name, code, &modules)))
        .collect();
    assert!(graph.len() > 30, "the walk found the modules: {graph:?}");
    assert!(graph["ops::scale"].contains("ops::gather"), "{graph:?}");
    // Depth-first search for a path from each module back to itself.
    let mut cycles = Vec::new();
    for start in graph.keys() {
        let mut stack = vec![(start.to_string(), vec![start.to_string()])];
        let mut seen = BTreeSet::new();
        while let Some((node, path)) = stack.pop() {
            for next in graph.get(node.as_str()).into_iter().flatten() {
                if next == start {
                    cycles.push(format!("{} -> {start}", path.join(" -> ")));
                } else if seen.insert(next.clone()) {
                    let mut longer = path.clone();
                    longer.push(next.clone());
                    stack.push((next.clone(), longer));
                }
            }
        }
    }
    assert!(cycles.is_empty(), "import cycles:\n{}", cycles.join("\n"));
}

#[test]
fn the_domain_does_no_io() {
    for (name, code) in modules() {
        if name == "domain" || name.starts_with("domain::") {
            for forbidden in [
                "tokio",
                "aws_sdk",
                "aws_config",
                "std::fs",
                "std::net",
                "reqwest",
            ] {
                assert!(
                    !code.contains(forbidden),
                    "{name} names {forbidden}: the domain is pure decisions"
                );
            }
        }
    }
}
