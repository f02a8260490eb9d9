//! The layering rule of appkeys-server (docs/ARCHITECTURE.md, "Layers"), checked on the parsed source:
//!   1. a module imports only from layers below its own (`crate::…`, `super::…`, `self::…` paths, in
//!      `use` trees, in code, in types, and in the tokens of macro calls);
//!   2. no two files import each other, directly or through others (a parent module declaring and
//!      re-exporting its own children is ownership, not an import);
//!   3. no source file over [`MAX_FILE_LINES`] lines, no function over [`MAX_FN_LINES`] lines.
//!
//! Every file is parsed with `syn`, so string literals (raw ones too), char literals and comments are
//! tokens of their own and never hide or fake an import; a file that does not parse is a problem.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use proc_macro2::{Delimiter, TokenStream, TokenTree};
use syn::spanned::Spanned;
use syn::visit::Visit;

/// Longest source file.
pub const MAX_FILE_LINES: usize = 600;
/// Longest function (from its `fn` line to its closing brace).
pub const MAX_FN_LINES: usize = 120;

/// Bottom to top. A module may import modules of a lower rank only (and its own). The crate root
/// (`lib.rs`) and the binaries sit above everything.
pub const LAYERS: &[&[&str]] = &[
    &["error", "config", "util"],
    &["model"],
    &["crypto"],
    &["db"],
    &["service"],
    &["state"],
    &["jobs", "http"],
];

fn rank(module: &str) -> Option<usize> {
    LAYERS.iter().position(|names| names.contains(&module))
}

/// What the check found.
#[derive(Debug, Default)]
pub struct Report {
    /// Source files read.
    pub files: usize,
    /// Imports between different files.
    pub imports: usize,
    /// One line per violation (sorted, no repeats).
    pub problems: Vec<String>,
}

/// One source file: its path relative to the root, its module path and the crate it belongs to.
struct Source {
    rel: String,
    module: Vec<String>,
    krate: String,
    text: String,
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            rust_files(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    Ok(())
}

/// `a/b.rs` or `a/b/mod.rs` → `[a, b]`; `lib.rs` → `[]`; `bin/x/main.rs` → `[bin, x, main]`.
fn module_path(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().unwrap_or_default();
    let last = last.trim_end_matches(".rs").to_owned();
    if parts.is_empty() && last == "lib" {
        return parts;
    }
    if last != "mod" {
        parts.push(last);
    }
    parts
}

/// The crate of a module: the library, or the binary under `bin/NAME/`.
fn crate_of(module: &[String]) -> String {
    if module.first().map(String::as_str) == Some("bin") {
        module[..module.len().min(2)].join("/")
    } else {
        "lib".to_owned()
    }
}

/// A path found in a file, with the (in-crate) module it was written in.
struct FoundPath {
    within: Vec<String>,
    segments: Vec<String>,
}

/// A function's name, first line and length.
struct FnSize {
    name: String,
    line: usize,
    lines: usize,
}

/// Walks one parsed file: every path that starts at `crate`, `super` or `self`, and every function.
struct Collector {
    /// The module of the file inside its crate, then the inline `mod x { … }` being walked.
    within: Vec<String>,
    paths: Vec<FoundPath>,
    fns: Vec<FnSize>,
}

impl Collector {
    fn push(&mut self, segments: Vec<String>) {
        if matches!(
            segments.first().map(String::as_str),
            Some("crate" | "super" | "self")
        ) {
            self.paths.push(FoundPath {
                within: self.within.clone(),
                segments,
            });
        }
    }

    fn use_tree(&mut self, prefix: &[String], tree: &syn::UseTree) {
        let with = |ident: &syn::Ident| {
            let mut p = prefix.to_vec();
            p.push(ident.to_string());
            p
        };
        match tree {
            syn::UseTree::Path(p) => self.use_tree(&with(&p.ident), &p.tree),
            syn::UseTree::Name(n) if n.ident == "self" => self.push(prefix.to_vec()),
            syn::UseTree::Name(n) => self.push(with(&n.ident)),
            syn::UseTree::Rename(r) if r.ident == "self" => self.push(prefix.to_vec()),
            syn::UseTree::Rename(r) => self.push(with(&r.ident)),
            syn::UseTree::Glob(_) => self.push(prefix.to_vec()),
            syn::UseTree::Group(g) => {
                for item in &g.items {
                    self.use_tree(prefix, item);
                }
            }
        }
    }

    /// The `crate::a::b` / `super::…` / `self::…` paths inside a macro call's tokens.
    fn tokens(&mut self, stream: TokenStream) {
        let tokens: Vec<TokenTree> = stream.into_iter().collect();
        let sep = |i: usize| {
            matches!((tokens.get(i), tokens.get(i + 1)),
                (Some(TokenTree::Punct(a)), Some(TokenTree::Punct(b))) if a.as_char() == ':' && b.as_char() == ':')
        };
        let mut i = 0;
        while i < tokens.len() {
            match &tokens[i] {
                TokenTree::Group(g) => self.tokens(g.stream()),
                TokenTree::Ident(id)
                    if matches!(id.to_string().as_str(), "crate" | "super" | "self") =>
                {
                    let mut segments = vec![id.to_string()];
                    let mut j = i + 1;
                    while sep(j) {
                        match tokens.get(j + 2) {
                            Some(TokenTree::Ident(next)) => {
                                segments.push(next.to_string());
                                j += 3;
                            }
                            // `crate::{a, b}` in a macro's tokens: each member.
                            Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Brace => {
                                for member in g.stream().into_iter() {
                                    if let TokenTree::Ident(m) = member {
                                        let mut p = segments.clone();
                                        p.push(m.to_string());
                                        self.push(p);
                                    }
                                }
                                j += 3;
                                break;
                            }
                            _ => break,
                        }
                    }
                    self.push(segments);
                    i = j;
                    continue;
                }
                _ => {}
            }
            i += 1;
        }
    }

    fn function(&mut self, sig: &syn::Signature, block: &syn::Block) {
        let first = sig.fn_token.span().start().line;
        let last = block.brace_token.span.close().end().line;
        self.fns.push(FnSize {
            name: sig.ident.to_string(),
            line: first,
            lines: last.saturating_sub(first) + 1,
        });
    }
}

impl<'ast> Visit<'ast> for Collector {
    fn visit_item_use(&mut self, item: &'ast syn::ItemUse) {
        if item.leading_colon.is_none() {
            self.use_tree(&[], &item.tree);
        }
    }

    fn visit_path(&mut self, path: &'ast syn::Path) {
        if path.leading_colon.is_none() {
            self.push(path.segments.iter().map(|s| s.ident.to_string()).collect());
        }
        syn::visit::visit_path(self, path);
    }

    /// `pub(super)`, `pub(in crate::x)`: who may see an item, not an import.
    fn visit_visibility(&mut self, _: &'ast syn::Visibility) {}

    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        self.visit_path(&mac.path);
        self.tokens(mac.tokens.clone());
    }

    fn visit_item_mod(&mut self, item: &'ast syn::ItemMod) {
        self.within.push(item.ident.to_string());
        syn::visit::visit_item_mod(self, item);
        self.within.pop();
    }

    fn visit_item_fn(&mut self, item: &'ast syn::ItemFn) {
        self.function(&item.sig, &item.block);
        syn::visit::visit_item_fn(self, item);
    }

    fn visit_impl_item_fn(&mut self, item: &'ast syn::ImplItemFn) {
        self.function(&item.sig, &item.block);
        syn::visit::visit_impl_item_fn(self, item);
    }

    fn visit_trait_item_fn(&mut self, item: &'ast syn::TraitItemFn) {
        if let Some(block) = &item.default {
            self.function(&item.sig, block);
        }
        syn::visit::visit_trait_item_fn(self, item);
    }
}

/// The in-crate module a `crate::`/`super::`/`self::` path written in module `within` points into.
fn target(within: &[String], segments: &[String]) -> Option<Vec<String>> {
    let (head, rest) = segments.split_first()?;
    let mut at: Vec<String> = match head.as_str() {
        "crate" => Vec::new(),
        "self" => within.to_vec(),
        "super" => within[..within.len().checked_sub(1)?].to_vec(),
        _ => return None,
    };
    let mut rest = rest;
    while rest.first().map(String::as_str) == Some("super") {
        at.pop()?;
        rest = &rest[1..];
    }
    at.extend(rest.iter().cloned());
    Some(at)
}

/// Checks the server source tree at `root` (a copy of `server/src`).
pub fn check(root: &Path) -> std::io::Result<Report> {
    let mut paths = Vec::new();
    rust_files(root, &mut paths)?;
    let mut sources = Vec::new();
    for path in &paths {
        let rel = path.strip_prefix(root).unwrap_or(path);
        let module = module_path(rel);
        sources.push(Source {
            rel: rel.to_string_lossy().into_owned(),
            krate: crate_of(&module),
            module,
            text: std::fs::read_to_string(path)?,
        });
    }
    let by_module: BTreeMap<(String, Vec<String>), usize> = sources
        .iter()
        .enumerate()
        .map(|(i, s)| ((s.krate.clone(), s.module.clone()), i))
        .collect();
    // The file defining the longest prefix of an absolute module path.
    let resolve = |krate: &str, path: &[String]| {
        (0..=path.len()).rev().find_map(|n| {
            by_module
                .get(&(krate.to_owned(), path[..n].to_vec()))
                .copied()
        })
    };

    let mut problems = BTreeSet::new();
    let mut edges: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); sources.len()];
    for (i, s) in sources.iter().enumerate() {
        let lines = s.text.lines().count();
        if lines > MAX_FILE_LINES {
            problems.insert(format!(
                "{}: {lines} lines (at most {MAX_FILE_LINES})",
                s.rel
            ));
        }
        let file = match syn::parse_file(&s.text) {
            Ok(file) => file,
            Err(e) => {
                let at = e.span().start();
                problems.insert(format!(
                    "{}:{}: does not parse as Rust: {e}",
                    s.rel, at.line
                ));
                continue;
            }
        };
        // Module paths inside the crate: the library's from lib.rs, a binary's from its main.rs.
        let in_crate: Vec<String> = match s.krate.as_str() {
            "lib" => s.module.clone(),
            _ => s.module[2.min(s.module.len())..].to_vec(),
        };
        let mut found = Collector {
            within: in_crate,
            paths: Vec::new(),
            fns: Vec::new(),
        };
        found.visit_file(&file);
        for f in &found.fns {
            if f.lines > MAX_FN_LINES {
                problems.insert(format!(
                    "{}:{}: fn {} is {} lines (at most {MAX_FN_LINES})",
                    s.rel, f.line, f.name, f.lines
                ));
            }
        }
        for p in &found.paths {
            let Some(mut absolute) = target(&p.within, &p.segments) else {
                continue;
            };
            if s.krate != "lib" {
                absolute.splice(0..0, s.module[..2].iter().cloned());
            }
            let Some(j) = resolve(&s.krate, &absolute) else {
                continue;
            };
            let to = &sources[j];
            // A parent module naming its own descendants owns them; that is no import.
            let owns = to.module.len() > s.module.len() && to.module.starts_with(&s.module);
            if j == i || owns {
                continue;
            }
            edges[i].insert(j);
            if s.krate != "lib" {
                continue;
            }
            let (Some(from), Some(into)) = (s.module.first(), to.module.first()) else {
                continue;
            };
            if from == into {
                continue;
            }
            match (rank(from), rank(into)) {
                (None, _) => {
                    problems.insert(format!(
                        "{}: module '{from}' has no layer (add it to LAYERS)",
                        s.rel
                    ));
                }
                (_, None) => {
                    problems.insert(format!(
                        "{}: module '{into}' has no layer (add it to LAYERS)",
                        to.rel
                    ));
                }
                (Some(rf), Some(rt)) if rt >= rf => {
                    problems.insert(format!(
                        "{}: '{}' — layer '{from}' ({rf}) may not import '{into}' ({rt}): only lower layers",
                        s.rel,
                        p.segments.join("::")
                    ));
                }
                _ => {}
            }
        }
    }
    for component in cycles(&edges) {
        let mut names: Vec<&str> = component.iter().map(|&k| sources[k].rel.as_str()).collect();
        names.sort_unstable();
        problems.insert(format!("import cycle: {}", names.join(" <-> ")));
    }
    Ok(Report {
        files: sources.len(),
        imports: edges.iter().map(BTreeSet::len).sum(),
        problems: problems.into_iter().collect(),
    })
}

/// The strongly connected components of more than one node (Tarjan's algorithm).
fn cycles(edges: &[BTreeSet<usize>]) -> Vec<Vec<usize>> {
    struct Tarjan<'a> {
        edges: &'a [BTreeSet<usize>],
        next: usize,
        index: Vec<Option<usize>>,
        low: Vec<usize>,
        on_stack: Vec<bool>,
        stack: Vec<usize>,
        found: Vec<Vec<usize>>,
    }
    impl Tarjan<'_> {
        fn strong(&mut self, v: usize) {
            self.index[v] = Some(self.next);
            self.low[v] = self.next;
            self.next += 1;
            self.stack.push(v);
            self.on_stack[v] = true;
            for &w in &self.edges[v] {
                match self.index[w] {
                    None => {
                        self.strong(w);
                        self.low[v] = self.low[v].min(self.low[w]);
                    }
                    Some(iw) if self.on_stack[w] => self.low[v] = self.low[v].min(iw),
                    Some(_) => {}
                }
            }
            if Some(self.low[v]) == self.index[v] {
                let mut component = Vec::new();
                while let Some(w) = self.stack.pop() {
                    self.on_stack[w] = false;
                    component.push(w);
                    if w == v {
                        break;
                    }
                }
                if component.len() > 1 {
                    self.found.push(component);
                }
            }
        }
    }
    let n = edges.len();
    let mut t = Tarjan {
        edges,
        next: 0,
        index: vec![None; n],
        low: vec![0; n],
        on_stack: vec![false; n],
        stack: Vec::new(),
        found: Vec::new(),
    };
    for v in 0..n {
        if t.index[v].is_none() {
            t.strong(v);
        }
    }
    t.found
}
