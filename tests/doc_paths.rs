//! Every path of the repository that README.md, docs/*.md or infra/*.md names exists: a
//! renamed or split file must take its mentions along.

use std::path::Path;

/// The paths under src/, scripts/, docs/, infra/ and tests/ that `text` names.
fn named_paths(text: &str) -> Vec<String> {
    const ROOTS: [&str; 5] = ["src/", "scripts/", "docs/", "infra/", "tests/"];
    let is_path_char = |c: char| c.is_ascii_alphanumeric() || "_./-*".contains(c);
    let mut found = Vec::new();
    for (at, _) in text.char_indices() {
        let before = text[..at].chars().next_back();
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
            continue;
        }
        if let Some(root) = ROOTS.iter().find(|r| text[at..].starts_with(**r)) {
            let path: String = text[at..]
                .chars()
                .take_while(|c| is_path_char(*c))
                .collect();
            // A sentence's full stop or a trailing slash is not part of the path.
            let path = path.trim_end_matches(['.', '/']).to_string();
            if path.len() > root.len() {
                found.push(path);
            }
        }
    }
    found
}

fn documents(root: &Path) -> Vec<std::path::PathBuf> {
    let mut docs = vec![root.join("README.md")];
    for dir in ["docs", "infra"] {
        for entry in std::fs::read_dir(root.join(dir))
            .expect("the folder exists")
            .flatten()
        {
            if entry.path().extension().is_some_and(|e| e == "md") {
                docs.push(entry.path());
            }
        }
    }
    docs
}

/// A path with a `*` names at least one file: `docs/*.md`.
fn exists(root: &Path, path: &str) -> bool {
    let Some((dir, pattern)) = path.rsplit_once('/').filter(|_| path.contains('*')) else {
        return root.join(path).exists();
    };
    let (prefix, suffix) = pattern.split_once('*').unwrap_or((pattern, ""));
    std::fs::read_dir(root.join(dir)).is_ok_and(|entries| {
        entries.flatten().any(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.starts_with(prefix) && name.ends_with(suffix)
        })
    })
}

#[test]
fn every_path_a_document_names_exists() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut missing = Vec::new();
    let mut checked = 0;
    for doc in documents(root) {
        let text = std::fs::read_to_string(&doc).expect("a readable document");
        for path in named_paths(&text) {
            checked += 1;
            if !exists(root, &path) {
                missing.push(format!("{}: {path}", doc.display()));
            }
        }
    }
    assert!(checked > 20, "the documents name paths: {checked}");
    assert!(
        missing.is_empty(),
        "named but missing:\n{}",
        missing.join("\n")
    );
}

#[test]
fn the_scan_finds_paths_in_prose_and_code_spans() {
    let text =
        "see `src/ops/autoscaler/alarm.rs`, scripts/test.sh. And docs/*.md or (infra/README.md); \
                not xsrc/nothing.rs";
    assert_eq!(
        named_paths(text),
        [
            "src/ops/autoscaler/alarm.rs",
            "scripts/test.sh",
            "docs/*.md",
            "infra/README.md"
        ]
    );
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    assert!(!exists(root, "src/handler.rs"));
    assert!(exists(root, "docs/*.md"));
}
