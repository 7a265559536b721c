//! The shape of the code: within each crate, no two modules import each
//! other, directly or around a circle, except the tape and its backward
//! walk (`autodiff::tape` ↔ `autodiff::backward`), which are one algorithm
//! in two files.
//!
//! The modules compared are a crate's top-level modules (`src/a.rs`, or
//! the directory `src/a/`), and, within each directory, its files
//! (`src/a/b.rs` against `src/a/c.rs`). An edge is any path a file names in
//! code — `use` items, `crate::…`, `super::…` and child-module paths,
//! comments and unit tests excluded — resolved to the file that defines the
//! item: a name the target module re-exports (`pub use x::Name`) leads on
//! to `x`. The crate root's re-exports are its facade, not a dependency.
//! Run with `--nocapture` to see every crate's file-level edges.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The Rust files under `dir`, recursively.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// The module a file of `src` holds, as its path segments.
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into()).collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts
}

/// A file's code without comments, string literals and its unit-test
/// module.
fn code(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => &text[..i],
        None => text,
    };
    // A macro's `$crate::…` paths belong to the module it expands in.
    let text = &text.replace("$crate", "$krate");
    let mut out = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '/' if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            '"' => {
                // A string literal: skipped, escapes included.
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            chars.next();
                        }
                        '"' => break,
                        _ => {}
                    }
                }
                out.push_str("\"\"");
            }
            // A char literal such as '{' must not open a use tree.
            '\'' => {
                let rest: String = chars.clone().take(3).collect();
                let close = match rest.strip_prefix('\\') {
                    Some(escaped) => escaped.find('\'').map(|i| i + 1),
                    None => rest.find('\''),
                };
                match close {
                    Some(i) if i <= 2 => {
                        for _ in 0..=i {
                            chars.next();
                        }
                        out.push_str("' '");
                    }
                    _ => out.push(c),
                }
            }
            _ => out.push(c),
        }
    }
    out
}

/// The paths of the use tree `tree` (`a::{b, c::{d, e}}`), each as its
/// segments, `self` leaves naming their parent.
fn expand(tree: &str) -> Vec<Vec<String>> {
    // `Name as Other` names Name; then spaces mean nothing.
    let words: Vec<&str> = tree.split_whitespace().collect();
    let mut kept = Vec::new();
    let mut i = 0;
    while i < words.len() {
        if words[i] == "as" {
            // Keep what follows the alias: a comma or a closing brace.
            let alias = words.get(i + 1).copied().unwrap_or("");
            kept.push(alias.trim_start_matches(|c: char| c.is_alphanumeric() || c == '_'));
            i += 2;
        } else {
            kept.push(words[i]);
            i += 1;
        }
    }
    let tree: String = kept.concat();
    let Some(open) = tree.find('{') else {
        return vec![tree.split("::").map(String::from).collect()];
    };
    let prefix: Vec<String> = tree[..open]
        .trim_end_matches("::")
        .split("::")
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    let inner = &tree[open + 1..tree.rfind('}').unwrap()];
    let (mut parts, mut depth, mut start) = (Vec::new(), 0, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[start..]);
    let mut out = Vec::new();
    for part in parts.into_iter().filter(|p| !p.is_empty()) {
        for rest in expand(part) {
            let rest: Vec<String> = rest.into_iter().filter(|s| s != "self").collect();
            out.push(prefix.iter().cloned().chain(rest).collect());
        }
    }
    out
}

/// Every path a file's code names: its `use` trees, then the `crate::…`
/// and `super::…` paths written inline. The flag says whether it is a
/// `pub use`.
fn named_paths(code: &str) -> Vec<(Vec<String>, bool)> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find("use ") {
        let before = rest[..i].chars().last();
        let word_start = before.is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
        let after = &rest[i + 4..];
        let end = after.find(';').unwrap_or(after.len());
        if word_start {
            let public = rest[..i].trim_end().ends_with("pub") || rest[..i].ends_with(") ");
            for path in expand(&after[..end]) {
                out.push((path, public));
            }
            rest = &after[end..];
        } else {
            rest = after;
        }
    }
    let tokens = code.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'));
    for token in tokens {
        if token.starts_with("crate::") || token.starts_with("super::") {
            let path: Vec<String> = token
                .split("::")
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect();
            // `crate::{a, b}` is a use tree, read above.
            if path.len() > 1 {
                out.push((path, false));
            }
        }
    }
    out
}

/// One crate's modules and what each file names.
struct Crate {
    modules: BTreeSet<Vec<String>>,
    paths: BTreeMap<Vec<String>, Vec<(Vec<String>, bool)>>,
}

impl Crate {
    fn read(src: &Path) -> Crate {
        let mut modules = BTreeSet::new();
        let mut paths = BTreeMap::new();
        for file in files(src) {
            let module = module_of(src, &file);
            let text = fs::read_to_string(&file).unwrap();
            paths.insert(module.clone(), named_paths(&code(&text)));
            modules.insert(module);
        }
        Crate { modules, paths }
    }

    /// `path`, named in `from`, as an absolute path, or `None` for another
    /// crate's.
    fn absolute(&self, from: &[String], path: &[String]) -> Option<Vec<String>> {
        let (base, rest): (Vec<String>, &[String]) = match path.first()?.as_str() {
            "crate" => (Vec::new(), &path[1..]),
            "self" => (from.to_vec(), &path[1..]),
            "super" => {
                let mut base = from.to_vec();
                let mut rest = path;
                while rest.first().is_some_and(|s| s == "super") {
                    base.pop();
                    rest = &rest[1..];
                }
                (base, rest)
            }
            first => {
                let child: Vec<String> = from.iter().cloned().chain([first.to_string()]).collect();
                if !self.modules.contains(&child) {
                    return None;
                }
                (from.to_vec(), path)
            }
        };
        Some(base.into_iter().chain(rest.iter().cloned()).collect())
    }

    /// The module that defines what absolute path `path` names: its longest
    /// module prefix, followed through that module's re-exports.
    fn target(&self, path: &[String], depth: usize) -> Vec<String> {
        let mut n = path.len();
        while !self.modules.contains(&path[..n]) {
            n -= 1;
        }
        let module = path[..n].to_vec();
        if let (Some(name), true) = (path.get(n), depth < 8) {
            for (used, public) in &self.paths[&module] {
                if *public && used.last() == Some(name) {
                    if let Some(abs) = self.absolute(&module, used) {
                        if abs != path {
                            return self.target(&abs, depth + 1);
                        }
                    }
                }
            }
        }
        module
    }

    /// Module → the modules it depends on.
    fn edges(&self) -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
        let mut edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
        for (from, paths) in &self.paths {
            for (path, public) in paths {
                // The root's re-exports are its facade.
                if from.is_empty() && *public {
                    continue;
                }
                if let Some(abs) = self.absolute(from, path) {
                    let to = self.target(&abs, 0);
                    if &to != from {
                        edges.entry(from.clone()).or_default().insert(to);
                    }
                }
            }
        }
        edges
    }
}

/// The strongly connected components of more than one module (Tarjan's
/// algorithm, written as a plain recursion).
fn circles(edges: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>) -> Vec<BTreeSet<Vec<String>>> {
    struct State<'a> {
        edges: &'a BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        index: BTreeMap<&'a Vec<String>, usize>,
        low: BTreeMap<&'a Vec<String>, usize>,
        stack: Vec<&'a Vec<String>>,
        out: Vec<BTreeSet<Vec<String>>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a Vec<String>) {
        let i = s.index.len();
        s.index.insert(v, i);
        s.low.insert(v, i);
        s.stack.push(v);
        for w in s.edges.get(v).into_iter().flatten() {
            if !s.index.contains_key(w) {
                visit(s, w);
                let low = s.low[v].min(s.low[w]);
                s.low.insert(v, low);
            } else if s.stack.contains(&w) {
                let low = s.low[v].min(s.index[w]);
                s.low.insert(v, low);
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = BTreeSet::new();
            while let Some(w) = s.stack.pop() {
                component.insert(w.clone());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                s.out.push(component);
            }
        }
    }
    let mut s = State {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        out: Vec::new(),
    };
    let nodes: BTreeSet<&Vec<String>> = edges.keys().chain(edges.values().flatten()).collect();
    for v in nodes {
        if !s.index.contains_key(v) {
            visit(&mut s, v);
        }
    }
    s.out
}

fn name(module: &[String]) -> String {
    if module.is_empty() {
        "lib".into()
    } else {
        module.join("::")
    }
}

/// `edges` between the modules directly below `parent` (the top-level
/// modules for the root), each edge taken to the child that holds its end;
/// edges from or to `parent` itself are left out.
fn below(
    edges: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
    parent: &[String],
) -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    let child = |m: &Vec<String>| {
        (m.len() > parent.len() && m.starts_with(parent)).then(|| m[..=parent.len()].to_vec())
    };
    let mut out: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for (from, to) in edges {
        for to in to {
            if let (Some(a), Some(b)) = (child(from), child(to)) {
                if a != b {
                    out.entry(a).or_default().insert(b);
                }
            }
        }
    }
    out
}

#[test]
fn no_two_modules_of_a_crate_import_each_other_but_the_tape_and_its_walk() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("crates");
    let mut found = Vec::new();
    let mut names: Vec<PathBuf> = fs::read_dir(&crates)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    for dir in names {
        let krate = dir.file_name().unwrap().to_string_lossy().to_string();
        let krate_modules = Crate::read(&dir.join("src"));
        let edges = krate_modules.edges();
        println!("{krate}:");
        for (from, to) in &edges {
            let to: Vec<String> = to.iter().map(|m| name(m)).collect();
            println!("  {} → {}", name(from), to.join(", "));
        }
        // The top-level modules, then the files of each directory module
        // among themselves (a directory's mod.rs declares what its files
        // share, and they use it: that is one module, not a circle).
        for parent in std::iter::once(&Vec::new()).chain(&krate_modules.modules) {
            for circle in circles(&below(&edges, parent)) {
                let modules: Vec<String> = circle.iter().map(|m| name(m)).collect();
                found.push(format!("{krate}: {}", modules.join(" ↔ ")));
            }
        }
    }
    found.sort();
    found.dedup();
    // The tape and its walk may import each other; nothing else may.
    found.retain(|c| c != "autodiff: backward ↔ tape");
    assert!(found.is_empty(), "import circles: {found:#?}");
}

#[test]
fn the_check_sees_a_circle_through_a_re_export() {
    // a uses b's item through the root's re-export, b uses a: one circle.
    let dir = std::env::temp_dir().join(format!("gradlab-arch-{}", std::process::id()));
    let src = dir.join("src");
    fs::create_dir_all(src.join("c")).unwrap();
    let write = |f: &str, text: &str| fs::write(src.join(f), text).unwrap();
    write("lib.rs", "mod a;\nmod b;\nmod c;\npub use b::Thing;\n");
    write(
        "a.rs",
        "use crate::Thing;\n// use crate::c::X; is a comment\n",
    );
    write(
        "b.rs",
        "pub struct Thing;\nfn f() { let _ = crate::a::g(); }\n",
    );
    write("c/mod.rs", "mod d;\npub use d::Deep;\n");
    write(
        "c/d.rs",
        "use super::super::b::{self, Thing as T};\npub struct Deep;\n",
    );
    let edges = Crate::read(&src).edges();
    let m = |s: &str| s.split("::").map(String::from).collect::<Vec<_>>();
    assert_eq!(edges[&m("a")], BTreeSet::from([m("b")]));
    assert_eq!(edges[&m("c::d")], BTreeSet::from([m("b")]));
    assert_eq!(edges[&m("c")], BTreeSet::from([m("c::d")]));
    assert_eq!(circles(&edges), [BTreeSet::from([m("a"), m("b")])]);
    let _ = fs::remove_dir_all(&dir);
}
