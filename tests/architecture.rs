//! The layer order of ARCHITECTURE.md, checked: every `crate::…` reference in the library's
//! non-test code points to a module strictly below its own. A new top-level module must be given a
//! place in [`LAYERS`]; an import against the order fails here, naming the file and the line.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

/// Bottom to top: a module may use only the modules before it. Keep ARCHITECTURE.md's map in
/// step with this list.
const LAYERS: &[&str] = &[
    "units", "plan", "pg", "input", "embedded", "seed", "diagnose", "advise", "suggest", "gate",
    "cache", "bench", "report", "demo", "schema", "config", "cli", "commands",
];

/// One `crate::<module>` reference from a module to another.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Edge {
    from: String,
    to: String,
    file: PathBuf,
    line: usize,
}

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level modules: `src/<name>.rs` and `src/<name>/`, without the crate roots.
fn top_level_modules() -> BTreeSet<String> {
    fs::read_dir(src_dir())
        .expect("read src")
        .map(|e| e.expect("directory entry").path())
        .filter_map(|p| {
            let name = p.file_stem()?.to_str()?.to_owned();
            let keep = p.is_dir() || p.extension().is_some_and(|e| e == "rs");
            (keep && name != "main" && name != "lib").then_some(name)
        })
        .collect()
}

/// Test code may reach anywhere: files named for tests, and everything from the first
/// `#[cfg(test)]` of a file on (test modules come last in this crate).
fn production_code(path: &Path, text: &str) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    if name.contains("test") {
        return None;
    }
    Some(text.split("#[cfg(test)]").next().unwrap_or("").to_owned())
}

/// The modules named by `crate::` paths on one line of code, `use crate::{a::x, b::y}` groups
/// included (they may span lines, so the caller joins a group before calling).
fn referenced_modules(code: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let after = &rest[at + "crate::".len()..];
        if let Some(group) = after.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let head: String = item
                    .trim()
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !head.is_empty() && head != "self" {
                    found.push(head);
                }
            }
        } else {
            let head: String = after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !head.is_empty() {
                found.push(head);
            }
        }
        rest = after;
    }
    found
}

fn edges() -> Vec<Edge> {
    let modules = top_level_modules();
    let root = src_dir();
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let mut edges = Vec::new();
    for file in files {
        let relative = file.strip_prefix(&root).expect("under src").to_path_buf();
        let Some(first) = relative.components().next() else {
            continue;
        };
        let owner = Path::new(first.as_os_str())
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_owned();
        if !modules.contains(&owner) {
            continue;
        }
        let text = fs::read_to_string(&file).expect("read source");
        let Some(code) = production_code(&file, &text) else {
            continue;
        };
        // Join `use crate::{...};` groups onto their first line; skip comments.
        let mut pending: Option<(usize, String)> = None;
        for (number, line) in code.lines().enumerate() {
            let trimmed = line.trim_start();
            if trimmed.starts_with("//") {
                continue;
            }
            let (start, joined) = match pending.take() {
                Some((start, mut so_far)) => {
                    so_far.push(' ');
                    so_far.push_str(trimmed);
                    (start, so_far)
                }
                None => (number + 1, trimmed.to_owned()),
            };
            let open_group = joined
                .rfind("crate::{")
                .is_some_and(|at| !joined[at..].contains('}'));
            if open_group {
                pending = Some((start, joined));
                continue;
            }
            for to in referenced_modules(&joined) {
                if to != owner && modules.contains(&to) {
                    edges.push(Edge {
                        from: owner.clone(),
                        to,
                        file: relative.clone(),
                        line: start,
                    });
                }
            }
        }
    }
    edges.sort();
    edges
}

fn rank(module: &str) -> Option<usize> {
    LAYERS.iter().position(|m| *m == module)
}

#[test]
fn every_top_level_module_has_a_layer() {
    let unplaced: Vec<_> = top_level_modules()
        .into_iter()
        .filter(|m| rank(m).is_none())
        .collect();
    assert!(
        unplaced.is_empty(),
        "give these modules a place in LAYERS (tests/architecture.rs) and ARCHITECTURE.md: {unplaced:?}"
    );
}

#[test]
fn dependencies_flow_down_the_layers_only() {
    let all = edges();
    assert!(
        all.iter().any(|e| e.from == "diagnose" && e.to == "plan"),
        "the reader found no diagnose -> plan edge: it is reading the sources wrong"
    );
    let upward: Vec<String> = all
        .iter()
        .filter(|e| match (rank(&e.from), rank(&e.to)) {
            (Some(from), Some(to)) => to >= from,
            _ => false,
        })
        .map(|e| {
            format!(
                "src/{}:{}: {} -> {} (against the layer order)",
                e.file.display(),
                e.line,
                e.from,
                e.to
            )
        })
        .collect();
    assert!(upward.is_empty(), "{}", upward.join("\n"));
}

/// The production code of every file under `src/<module>`, with its path.
fn production_files(module: &str) -> Vec<(PathBuf, String)> {
    let root = src_dir();
    let mut files = Vec::new();
    let dir = root.join(module);
    if dir.is_dir() {
        rust_files(&dir, &mut files);
    }
    let single = root.join(format!("{module}.rs"));
    if single.is_file() {
        files.push(single);
    }
    files
        .into_iter()
        .filter_map(|file| {
            let text = fs::read_to_string(&file).expect("read source");
            let code = production_code(&file, &text)?;
            Some((
                file.strip_prefix(&root).expect("under src").to_path_buf(),
                code,
            ))
        })
        .collect()
}

/// The pure stages do no I/O: no database client, no runtime, no files, no processes. They are
/// tested from saved plans alone, and `cargo test --lib` needs no server.
#[test]
fn the_pure_stages_do_no_io() {
    const IO: &[&str] = &[
        "tokio_postgres",
        "tokio::",
        "redis::",
        "std::fs",
        "std::process",
        "std::net",
        "async fn",
    ];
    let mut offending = Vec::new();
    for module in ["units", "plan", "diagnose", "advise", "report"] {
        for (file, code) in production_files(module) {
            for (number, line) in code.lines().enumerate() {
                if line.trim_start().starts_with("//") {
                    continue;
                }
                for needle in IO {
                    if line.contains(needle) {
                        offending.push(format!("src/{}:{}: {needle}", file.display(), number + 1));
                    }
                }
            }
        }
    }
    assert!(
        offending.is_empty(),
        "I/O in a pure stage:\n{}",
        offending.join("\n")
    );
}

/// `commands` holds one module per subcommand; they share only what `commands/mod.rs` defines,
/// never each other's code.
#[test]
fn commands_never_import_each_other() {
    let siblings: Vec<String> = fs::read_dir(src_dir().join("commands"))
        .expect("read src/commands")
        .filter_map(|e| {
            let path = e.ok()?.path();
            let stem = path.file_stem()?.to_str()?.to_owned();
            (stem != "mod").then_some(stem)
        })
        .collect();
    let mut offending = Vec::new();
    for (file, code) in production_files("commands") {
        let own = file
            .components()
            .nth(1)
            .and_then(|c| {
                Path::new(c.as_os_str())
                    .file_stem()?
                    .to_str()
                    .map(str::to_owned)
            })
            .unwrap_or_default();
        for (number, line) in code.lines().enumerate() {
            // A sibling reached through `super::` (from `commands/<name>.rs`) counts too.
            if file.components().count() == 2 {
                for sibling in siblings.iter().filter(|s| **s != own) {
                    if line.contains(&format!("super::{sibling}::"))
                        || line.contains(&format!("super::{{{sibling}"))
                    {
                        offending.push(format!(
                            "src/{}:{}: uses commands::{sibling}",
                            file.display(),
                            number + 1
                        ));
                    }
                }
            }
            let Some(at) = line.find("crate::commands::") else {
                continue;
            };
            let target: String = line[at + "crate::commands::".len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if target != own {
                offending.push(format!(
                    "src/{}:{}: uses commands::{target}",
                    file.display(),
                    number + 1
                ));
            }
        }
    }
    assert!(offending.is_empty(), "{}", offending.join("\n"));
}

#[test]
fn the_reader_sees_grouped_and_inline_references() {
    assert_eq!(
        referenced_modules("use crate::{plan::Plan, units::fmt_ms, self};"),
        ["plan", "units"]
    );
    assert_eq!(
        referenced_modules("let x = crate::pg::quote_ident(a) + crate::units::fmt_pct(b);"),
        ["pg", "units"]
    );
}
