//! The layer check behind tests/architecture.rs: it reads `src/` as the compiler does (the
//! module tree from `mod` declarations, `#[path]` included; use-trees, renames, globs and
//! re-exports resolved to the module that defines each item) and reports every import cycle
//! between modules, every import against the layers' direction, and every I/O in the domain.
//! It reads a source tree given as a directory, so tests can hand it a doctored copy.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use syn::visit::Visit;

/// The layers, lowest first: a module may import from its own layer and from lower ranks
/// only; two layers of one rank (aws, replay) may not import each other.
pub const LAYERS: &[(&str, u8)] = &[
    ("domain", 0),
    ("aws", 1),
    ("replay", 1),
    ("ops", 2),
    ("lambda", 3),
    ("cli", 4),
    // src/main.rs and src/bin/*.rs: crates of their own over the library.
    ("bin", 5),
];

/// External paths the domain may not name: the environment, files, sockets, processes,
/// threads, clocks, and the crates that do I/O.
const DOMAIN_FORBIDDEN_PATHS: &[&[&str]] = &[
    &["std", "env"],
    &["std", "fs"],
    &["std", "net"],
    &["std", "io"],
    &["std", "process"],
    &["std", "os"],
    &["std", "thread"],
    &["std", "time", "SystemTime"],
    &["std", "time", "Instant"],
    &["chrono", "Utc", "now"],
    &["chrono", "Local", "now"],
    &["tokio"],
    &["aws_config"],
    &["aws_smithy_runtime_api"],
    &["aws_smithy_http_client"],
    &["lambda_runtime"],
    &["tracing_subscriber"],
    &["reqwest"],
    &["hyper"],
];
/// Crates the domain may not name, by prefix (every AWS SDK crate).
const DOMAIN_FORBIDDEN_CRATE_PREFIXES: &[&str] = &["aws_sdk_"];
/// Macros that print or read the environment.
const DOMAIN_FORBIDDEN_MACROS: &[&str] = &[
    "println",
    "eprintln",
    "print",
    "eprint",
    "dbg",
    "env",
    "option_env",
];

/// One use-tree leaf: `use a::b::c as d;` is path [a, b, c], name `d`; a glob has no name.
#[derive(Debug, Clone)]
struct Import {
    path: Vec<String>,
    name: Option<String>,
    line: usize,
}

/// A module of the crate: what it declares, imports and names.
#[derive(Debug, Default)]
struct Module {
    file: PathBuf,
    children: BTreeSet<String>,
    items: BTreeSet<String>,
    imports: Vec<Import>,
    /// Paths named in code (types, calls, macro arguments), with their line.
    paths: Vec<(Vec<String>, usize)>,
    /// Macros invoked (their last segment), with their line.
    macros: Vec<(String, usize)>,
}

/// Where a path leads.
#[derive(Debug, Clone, PartialEq)]
enum Target {
    /// A module of the crate, and the modules whose re-exports the path went through.
    Module(String, Vec<String>),
    /// An item defined in a module of the crate, and the re-exporters passed.
    Item(String, Vec<String>),
    /// Something outside the crate: its full path.
    External(Vec<String>),
}

/// The crate as read: modules by name ("" is the library's root, "bin::x" a binary).
pub struct Crate {
    /// The `src` folder read; messages name files relative to it.
    root: PathBuf,
    modules: BTreeMap<String, Module>,
    /// Files the module tree reached.
    files: BTreeSet<PathBuf>,
}

/// A module's import of another, with where it is written.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Edge {
    pub from: String,
    pub to: String,
    pub at: String,
}

fn is_cfg_test(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| {
        a.path().is_ident("cfg") && {
            let text = a.meta.to_token_stream_string();
            text.contains("test") && !text.contains("not")
        }
    })
}

trait MetaText {
    fn to_token_stream_string(&self) -> String;
}

impl MetaText for syn::Meta {
    fn to_token_stream_string(&self) -> String {
        quote::ToTokens::to_token_stream(self).to_string()
    }
}

fn path_attr(attrs: &[syn::Attribute]) -> Option<String> {
    attrs.iter().find_map(|a| match &a.meta {
        syn::Meta::NameValue(nv) if nv.path.is_ident("path") => match &nv.value {
            syn::Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(s),
                ..
            }) => Some(s.value()),
            _ => None,
        },
        _ => None,
    })
}

fn flatten(tree: &syn::UseTree, prefix: &mut Vec<String>, line: usize, out: &mut Vec<Import>) {
    match tree {
        syn::UseTree::Path(p) => {
            prefix.push(p.ident.to_string());
            flatten(&p.tree, prefix, line, out);
            prefix.pop();
        }
        syn::UseTree::Name(n) => {
            let name = n.ident.to_string();
            if name == "self" {
                let last = prefix.last().cloned();
                out.push(Import {
                    path: prefix.clone(),
                    name: last,
                    line,
                });
            } else {
                let mut path = prefix.clone();
                path.push(name.clone());
                out.push(Import {
                    path,
                    name: Some(name),
                    line,
                });
            }
        }
        syn::UseTree::Rename(r) => {
            let mut path = prefix.clone();
            if r.ident != "self" {
                path.push(r.ident.to_string());
            }
            out.push(Import {
                path,
                name: Some(r.rename.to_string()),
                line,
            });
        }
        syn::UseTree::Glob(_) => out.push(Import {
            path: prefix.clone(),
            name: None,
            line,
        }),
        syn::UseTree::Group(g) => {
            for tree in &g.items {
                flatten(tree, prefix, line, out);
            }
        }
    }
}

/// Collects the paths and macros of a module's code, not descending into nested modules
/// (modules of their own) nor into `#[cfg(test)]` items (tests are not dependencies).
struct Names<'a> {
    module: &'a mut Module,
}

impl<'ast> Visit<'ast> for Names<'_> {
    fn visit_item(&mut self, item: &'ast syn::Item) {
        let attrs = match item {
            syn::Item::Fn(i) => &i.attrs,
            syn::Item::Impl(i) => &i.attrs,
            syn::Item::Mod(i) => &i.attrs,
            syn::Item::Const(i) => &i.attrs,
            syn::Item::Static(i) => &i.attrs,
            syn::Item::Struct(i) => &i.attrs,
            syn::Item::Enum(i) => &i.attrs,
            syn::Item::Trait(i) => &i.attrs,
            syn::Item::Use(i) => &i.attrs,
            _ => return syn::visit::visit_item(self, item),
        };
        if is_cfg_test(attrs) || matches!(item, syn::Item::Mod(_) | syn::Item::Use(_)) {
            return;
        }
        syn::visit::visit_item(self, item);
    }

    fn visit_impl_item_fn(&mut self, f: &'ast syn::ImplItemFn) {
        if !is_cfg_test(&f.attrs) {
            syn::visit::visit_impl_item_fn(self, f);
        }
    }

    fn visit_path(&mut self, path: &'ast syn::Path) {
        let line = path
            .segments
            .first()
            .map(|s| s.ident.span().start().line)
            .unwrap_or_default();
        let segments = path.segments.iter().map(|s| s.ident.to_string()).collect();
        self.module.paths.push((segments, line));
        syn::visit::visit_path(self, path);
    }

    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        if let Some(last) = mac.path.segments.last() {
            let line = last.ident.span().start().line;
            self.module.macros.push((last.ident.to_string(), line));
        }
        self.visit_path(&mac.path);
        // Macro arguments are tokens to syn; most of ours are expressions (format!, tracing).
        use syn::parse::Parser;
        let parser = syn::punctuated::Punctuated::<syn::Expr, syn::Token![,]>::parse_terminated;
        if let Ok(exprs) = parser.parse2(mac.tokens.clone()) {
            for expr in &exprs {
                self.visit_expr(expr);
            }
        }
    }
}

impl Crate {
    /// Reads the library (`lib.rs`) and the binaries (`main.rs`, `bin/*.rs`) under `src`.
    pub fn read(src: &Path) -> Result<Crate, String> {
        let mut krate = Crate {
            root: src.to_path_buf(),
            modules: BTreeMap::new(),
            files: BTreeSet::new(),
        };
        krate.read_file(String::new(), &src.join("lib.rs"), src.to_path_buf())?;
        let mut bins = vec![src.join("main.rs")];
        if let Ok(entries) = std::fs::read_dir(src.join("bin")) {
            bins.extend(entries.filter_map(|e| e.ok().map(|e| e.path())));
        }
        for bin in bins.into_iter().filter(|p| p.is_file()) {
            let stem = bin
                .file_stem()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            let dir = bin.parent().unwrap_or(src).to_path_buf();
            krate.read_file(format!("bin::{stem}"), &bin, dir)?;
        }
        Ok(krate)
    }

    fn read_file(&mut self, name: String, file: &Path, dir: PathBuf) -> Result<(), String> {
        let text = std::fs::read_to_string(file)
            .map_err(|e| format!("{}: cannot read: {e}", file.display()))?;
        let parsed = syn::parse_file(&text)
            .map_err(|e| format!("{}: does not parse: {e}", file.display()))?;
        self.files.insert(file.to_path_buf());
        self.read_items(name, file, dir, &parsed.items)
    }

    /// One module's items; `dir` is where its `mod x;` files live.
    fn read_items(
        &mut self,
        name: String,
        file: &Path,
        dir: PathBuf,
        items: &[syn::Item],
    ) -> Result<(), String> {
        let shown = file.strip_prefix(&self.root).unwrap_or(file);
        let mut module = Module {
            file: Path::new("src").join(shown),
            ..Module::default()
        };
        let mut nested = Vec::new();
        for item in items {
            match item {
                // Tests are not dependencies; their files are in the tree all the same.
                syn::Item::Mod(m) if is_cfg_test(&m.attrs) => {
                    if m.content.is_none() {
                        let (found, _) = module_file(m, file, &dir)?;
                        self.files.insert(found);
                    }
                }
                syn::Item::Mod(m) => {
                    module.children.insert(m.ident.to_string());
                    nested.push(m);
                }
                syn::Item::Use(u) if !is_cfg_test(&u.attrs) => {
                    let line = u.use_token.span.start().line;
                    let mut prefix = Vec::new();
                    if u.leading_colon.is_some() {
                        prefix.push(String::new());
                    }
                    flatten(&u.tree, &mut prefix, line, &mut module.imports);
                }
                other => {
                    if let Some(ident) = item_ident(other) {
                        module.items.insert(ident);
                    }
                }
            }
        }
        let mut names = Names {
            module: &mut module,
        };
        for item in items {
            names.visit_item(item);
        }
        let child_name = |ident: &syn::Ident| {
            if name.is_empty() {
                ident.to_string()
            } else {
                format!("{name}::{ident}")
            }
        };
        self.modules.insert(name.clone(), module);
        for m in nested {
            let child = child_name(&m.ident);
            let child_dir = dir.join(m.ident.to_string());
            if let Some((_, content)) = &m.content {
                self.read_items(child, file, child_dir, content)?;
                continue;
            }
            let (found, found_dir) = module_file(m, file, &dir)?;
            self.read_file(child, &found, found_dir)?;
        }
        Ok(())
    }

    pub fn module_names(&self) -> impl Iterator<Item = &String> {
        self.modules.keys()
    }

    pub fn files(&self) -> &BTreeSet<PathBuf> {
        &self.files
    }

    /// Where `path`, written in module `from`, leads; `None` for what is not a crate path
    /// nor an external one (a local variable, a prelude name, a generic parameter).
    fn resolve(&self, from: &str, path: &[String], depth: usize) -> Option<Target> {
        let (first, rest) = path.split_first()?;
        if depth > 16 {
            return None;
        }
        let start = match first.as_str() {
            "crate" if from.starts_with("bin::") => return None,
            "crate" => String::new(),
            "kinesis_autoscaler" => String::new(),
            "self" => from.to_string(),
            "super" => parent(from),
            "" => return Some(Target::External(rest.to_vec())),
            _ => {
                return match self.lookup(from, first, depth) {
                    Some(target) => self.walk(target, rest, depth),
                    // Not in scope: an external crate (std, tokio) when followed by more.
                    None if !rest.is_empty() => Some(Target::External(path.to_vec())),
                    None => None,
                };
            }
        };
        let mut module = start;
        let mut rest = rest;
        while let Some(("super", tail)) = rest.split_first().map(|(h, t)| (h.as_str(), t)) {
            module = parent(&module);
            rest = tail;
        }
        self.walk(Target::Module(module, Vec::new()), rest, depth)
    }

    /// Follows `rest` from `target` one segment at a time.
    fn walk(&self, mut target: Target, rest: &[String], depth: usize) -> Option<Target> {
        for (i, segment) in rest.iter().enumerate() {
            target = match target {
                Target::Module(module, mut via) => {
                    let next = self.lookup(&module, segment, depth)?;
                    if !self.defines(&module, segment) {
                        via.push(module);
                    }
                    with_via(next, via)
                }
                Target::External(mut full) => {
                    full.extend(rest[i..].iter().cloned());
                    return Some(Target::External(full));
                }
                // Past an item: a variant, an associated item; the item's module stands.
                item @ Target::Item(..) => return Some(item),
            };
        }
        Some(target)
    }

    fn defines(&self, module: &str, name: &str) -> bool {
        self.modules
            .get(module)
            .is_some_and(|m| m.children.contains(name) || m.items.contains(name))
    }

    /// A name in a module's scope: a child module, an item, an import or a glob's name.
    fn lookup(&self, module: &str, name: &str, depth: usize) -> Option<Target> {
        let m = self.modules.get(module)?;
        if m.children.contains(name) {
            let child = if module.is_empty() {
                name.to_string()
            } else {
                format!("{module}::{name}")
            };
            return Some(Target::Module(child, Vec::new()));
        }
        if m.items.contains(name) {
            return Some(Target::Item(module.to_string(), Vec::new()));
        }
        if let Some(import) = m.imports.iter().find(|i| i.name.as_deref() == Some(name)) {
            return self.resolve(module, &import.path, depth + 1);
        }
        for glob in m.imports.iter().filter(|i| i.name.is_none()) {
            if let Some(Target::Module(source, via)) = self.resolve(module, &glob.path, depth + 1) {
                if let Some(found) = self.lookup(&source, name, depth + 1) {
                    let mut via = via;
                    via.push(source);
                    return Some(with_via(found, via));
                }
            }
        }
        None
    }

    /// Every import of one module by another: each use-tree leaf and each path in code,
    /// resolved through re-exports, to the module defining the item and to every module
    /// whose re-export it went through. A module's own descendants are included, its
    /// ancestors not (a child always sees its parent).
    pub fn edges(&self) -> BTreeSet<Edge> {
        let mut edges = BTreeSet::new();
        for (name, module) in &self.modules {
            let named = module
                .imports
                .iter()
                .map(|i| (&i.path, i.line))
                .chain(module.paths.iter().map(|(p, line)| (p, *line)));
            for (path, line) in named {
                let targets = match self.resolve(name, path, 0) {
                    Some(Target::Module(m, via)) | Some(Target::Item(m, via)) => {
                        via.into_iter().chain([m]).collect::<Vec<_>>()
                    }
                    _ => continue,
                };
                for to in targets {
                    let is_ancestor = name.starts_with(&format!("{to}::")) || to.is_empty();
                    if to != *name && !is_ancestor {
                        let at = format!("{}:{line}", module.file.display());
                        edges.insert(Edge {
                            from: name.clone(),
                            to,
                            at,
                        });
                    }
                }
            }
        }
        edges
    }

    /// Every external path the domain names that does I/O, and every printing macro.
    pub fn domain_io(&self) -> Vec<String> {
        let mut found = Vec::new();
        for (name, module) in self.modules.iter().filter(|(n, _)| layer(n) == "domain") {
            let named = module
                .imports
                .iter()
                .map(|i| (&i.path, i.line))
                .chain(module.paths.iter().map(|(p, line)| (p, *line)));
            for (path, line) in named {
                let Some(Target::External(full)) = self.resolve(name, path, 0) else {
                    continue;
                };
                let full: Vec<&str> = full.iter().map(String::as_str).collect();
                let forbidden = DOMAIN_FORBIDDEN_PATHS.iter().any(|p| full.starts_with(p))
                    || DOMAIN_FORBIDDEN_CRATE_PREFIXES
                        .iter()
                        .any(|p| full.first().is_some_and(|c| c.starts_with(p)));
                if forbidden {
                    found.push(format!(
                        "{name} ({}:{line}) names {}: the domain does no I/O",
                        module.file.display(),
                        full.join("::")
                    ));
                }
            }
            for (mac, line) in &module.macros {
                if DOMAIN_FORBIDDEN_MACROS.contains(&mac.as_str()) {
                    found.push(format!(
                        "{name} ({}:{line}) calls {mac}!: the domain does no I/O",
                        module.file.display()
                    ));
                }
            }
        }
        found.sort();
        found.dedup();
        found
    }
}

/// The file of `mod x;` declared in `file` (whose `mod` files live in `dir`), and the folder
/// of the files it declares in turn.
fn module_file(m: &syn::ItemMod, file: &Path, dir: &Path) -> Result<(PathBuf, PathBuf), String> {
    let candidates = match path_attr(&m.attrs) {
        Some(path) => vec![file.parent().unwrap_or(dir).join(path)],
        None => vec![
            dir.join(format!("{}.rs", m.ident)),
            dir.join(m.ident.to_string()).join("mod.rs"),
        ],
    };
    let Some(found) = candidates.into_iter().find(|p| p.is_file()) else {
        return Err(format!("{}: `mod {}` has no file", file.display(), m.ident));
    };
    let found_dir = if found.file_name().is_some_and(|n| n == "mod.rs") {
        found.parent().unwrap_or(dir).to_path_buf()
    } else {
        dir.join(m.ident.to_string())
    };
    Ok((found, found_dir))
}

fn with_via(target: Target, mut via: Vec<String>) -> Target {
    match target {
        Target::Module(m, more) => {
            via.extend(more);
            Target::Module(m, via)
        }
        Target::Item(m, more) => {
            via.extend(more);
            Target::Item(m, via)
        }
        external => external,
    }
}

fn item_ident(item: &syn::Item) -> Option<String> {
    let ident = match item {
        syn::Item::Const(i) => &i.ident,
        syn::Item::Enum(i) => &i.ident,
        syn::Item::ExternCrate(i) => &i.ident,
        syn::Item::Fn(i) => &i.sig.ident,
        syn::Item::Macro(i) => i.ident.as_ref()?,
        syn::Item::Static(i) => &i.ident,
        syn::Item::Struct(i) => &i.ident,
        syn::Item::Trait(i) => &i.ident,
        syn::Item::TraitAlias(i) => &i.ident,
        syn::Item::Type(i) => &i.ident,
        syn::Item::Union(i) => &i.ident,
        _ => return None,
    };
    Some(ident.to_string())
}

fn parent(module: &str) -> String {
    module
        .rsplit_once("::")
        .map(|(p, _)| p.to_string())
        .unwrap_or_default()
}

/// A module's layer: its first segment (`ops::autoscaler::alarm` is in `ops`); the binaries are `bin`.
pub fn layer(module: &str) -> &str {
    module.split("::").next().unwrap_or_default()
}

fn rank(layer: &str) -> Option<u8> {
    LAYERS.iter().find(|(l, _)| *l == layer).map(|(_, r)| *r)
}

/// Imports against the layers' direction, and modules in no known layer.
pub fn direction_violations(krate: &Crate, edges: &BTreeSet<Edge>) -> Vec<String> {
    let mut found = Vec::new();
    for name in krate.module_names().filter(|n| !n.is_empty()) {
        if rank(layer(name)).is_none() {
            found.push(format!(
                "{name} is in no layer (tests/architecture/check.rs LAYERS)"
            ));
        }
    }
    for edge in edges {
        let (from, to) = (layer(&edge.from), layer(&edge.to));
        if from == to || edge.from.is_empty() {
            continue;
        }
        let (Some(rf), Some(rt)) = (rank(from), rank(to)) else {
            continue;
        };
        if rt >= rf {
            found.push(format!(
                "{} -> {} ({}): {from} may not import {to}",
                edge.from, edge.to, edge.at
            ));
        }
    }
    found
}

/// Every cycle of imports between modules, each as `a -> b -> a` with where each step is.
pub fn cycles(edges: &BTreeSet<Edge>) -> Vec<String> {
    let mut graph: BTreeMap<&str, Vec<&Edge>> = BTreeMap::new();
    for edge in edges {
        graph.entry(edge.from.as_str()).or_default().push(edge);
    }
    let mut found = BTreeSet::new();
    for start in graph.keys() {
        let mut stack: Vec<(&str, Vec<&Edge>)> = vec![(start, Vec::new())];
        let mut seen = BTreeSet::new();
        while let Some((node, path)) = stack.pop() {
            for edge in graph.get(node).into_iter().flatten() {
                let mut longer = path.clone();
                longer.push(edge);
                if edge.to == *start {
                    found.insert(render_cycle(&longer));
                } else if seen.insert(edge.to.as_str()) {
                    stack.push((edge.to.as_str(), longer));
                }
            }
        }
    }
    found.into_iter().collect()
}

fn render_cycle(path: &[&Edge]) -> String {
    // Rotated to start at its smallest module, so one cycle is reported once.
    let min = (0..path.len()).min_by_key(|&i| &path[i].from).unwrap_or(0);
    let rotated: Vec<&&Edge> = path[min..].iter().chain(&path[..min]).collect();
    let mut text = rotated.first().map(|e| e.from.clone()).unwrap_or_default();
    for edge in rotated {
        text.push_str(&format!(" -> {} ({})", edge.to, edge.at));
    }
    text
}
