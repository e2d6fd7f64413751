//! Tidy tests: house rules checked as ordinary tests (`cargo test -p xtask`).
//!
//! * the crate layering of STYLE.md §2, read from `cargo metadata`;
//! * `unsafe` only in the modules allowed to hold it;
//! * every crate starts with `//!` docs and inherits the workspace lints;
//! * tests neither sleep nor use `should_panic`.

#![cfg(test)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// Workspace crates each crate may depend on (normal and build dependencies).
/// Dev-dependencies may cross these lines: tests compose, production code does not.
const LAYERS: &[(&str, &[&str])] = &[
    ("xcp-proto", &[]),
    ("xcp-transport", &["xcp-proto"]),
    ("xcp-transport-eth", &["xcp-proto", "xcp-transport"]),
    ("xcp-transport-can", &["xcp-proto", "xcp-transport"]),
    ("xcp-transport-usb", &["xcp-proto", "xcp-transport"]),
    ("xcp-transport-sxi", &["xcp-proto", "xcp-transport"]),
    ("xcp-master", &["xcp-proto", "xcp-transport"]),
    ("xcp-slave", &["xcp-proto", "xcp-transport"]),
    ("xcp-a2l", &["xcp-proto"]),
    ("xcp-recorder", &["xcp-proto", "xcp-a2l"]),
    ("xcp-cal", &["xcp-a2l"]),
    ("fmi-ls-xcp", &["xcp-a2l"]),
    (
        "xcpkit-fmu",
        &[
            "xcpkit-ecu",
            "xcp-slave",
            "xcp-transport",
            "xcp-transport-eth",
            "xcp-a2l",
            "xcp-proto",
            "fmi-ls-xcp",
        ],
    ),
    ("xcpkit", &["*"]),
    (
        "xcpkit-ecu",
        &[
            "xcp-proto",
            "xcp-slave",
            "xcp-transport",
            "xcp-transport-eth",
            "xcp-transport-can",
        ],
    ),
    ("xcpkit-cli", &["*"]),
    ("xtask", &[]),
    (
        "xcp-fuzz",
        &[
            "xcp-proto",
            "xcp-slave",
            "xcp-transport",
            "xcp-transport-can",
        ],
    ),
];

/// External crates that must never appear among a crate's normal dependencies.
const FORBIDDEN_EXTERNAL: &[(&str, &[&str])] = &[
    (
        "xcp-proto",
        &["tokio", "tracing", "log", "socketcan", "serialport", "rusb"],
    ),
    ("xcp-transport", &["tokio"]),
    ("xcp-master", &["xcp-a2l", "a2lfile"]),
];

/// Source folders where `unsafe` code is allowed.
const UNSAFE_ALLOWED: &[&str] = &[
    "crates/xcp-slave/src/sync/",
    "crates/xcp-master/src/ffi/",
    "crates/xcpkit-fmu/src/ffi/",
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace root")
        .to_path_buf()
}

fn metadata() -> Value {
    let out = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .current_dir(root())
        .output()
        .expect("cargo metadata runs");
    assert!(out.status.success(), "cargo metadata failed");
    serde_json::from_slice(&out.stdout).expect("cargo metadata prints JSON")
}

fn packages(meta: &Value) -> Vec<&Value> {
    meta["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .collect()
}

#[test]
fn layering_holds() {
    let meta = metadata();
    let pkgs = packages(&meta);
    let names: BTreeSet<&str> = pkgs.iter().filter_map(|p| p["name"].as_str()).collect();
    let mut violations = Vec::new();
    for p in &pkgs {
        let name = p["name"].as_str().expect("name");
        let Some((_, allowed)) = LAYERS.iter().find(|(n, _)| *n == name) else {
            violations.push(format!(
                "{name} is not in the layering table of xtask/src/tidy.rs"
            ));
            continue;
        };
        let forbidden = FORBIDDEN_EXTERNAL
            .iter()
            .find(|(n, _)| *n == name)
            .map_or(&[][..], |(_, f)| *f);
        for d in p["dependencies"].as_array().expect("dependencies") {
            if d["kind"].as_str() == Some("dev") {
                continue;
            }
            let dep = d["name"].as_str().expect("dependency name");
            if names.contains(dep) && !allowed.contains(&"*") && !allowed.contains(&dep) {
                violations.push(format!("{name} depends on {dep}"));
            }
            if forbidden.contains(&dep) {
                violations.push(format!("{name} must not depend on {dep}"));
            }
        }
    }
    assert!(
        violations.is_empty(),
        "layering violations: {violations:#?}"
    );
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            if p.file_name().is_some_and(|n| n == "target") {
                continue;
            }
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

fn rel(p: &Path) -> String {
    p.strip_prefix(root())
        .unwrap_or(p)
        .to_string_lossy()
        .replace('\\', "/")
}

#[test]
fn unsafe_only_where_allowed() {
    let mut files = Vec::new();
    rust_files(&root().join("crates"), &mut files);
    rust_files(&root().join("fuzz"), &mut files);
    assert!(!files.is_empty());
    let kw = ["unsafe", " "].concat();
    let mut hits = Vec::new();
    for f in files {
        let path = rel(&f);
        if UNSAFE_ALLOWED.iter().any(|a| path.starts_with(a)) {
            continue;
        }
        let text = std::fs::read_to_string(&f).expect("readable source");
        for (i, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            let blocks = ["{", "fn ", "impl ", "trait ", "extern "];
            if blocks
                .iter()
                .any(|b| code.contains(&format!("{kw}{b}")) || code.contains(&format!("unsafe{b}")))
            {
                hits.push(format!("{path}:{}", i + 1));
            }
        }
    }
    assert!(
        hits.is_empty(),
        "unsafe outside {UNSAFE_ALLOWED:?}: {hits:#?}"
    );
}

#[test]
fn every_crate_has_docs_and_workspace_lints() {
    let meta = metadata();
    let mut problems = Vec::new();
    for p in packages(&meta) {
        let name = p["name"].as_str().expect("name");
        let manifest = PathBuf::from(p["manifest_path"].as_str().expect("manifest path"));
        let toml = std::fs::read_to_string(&manifest).expect("manifest readable");
        if !toml.contains("[lints]\nworkspace = true") {
            problems.push(format!(
                "{name}: Cargo.toml lacks `[lints] workspace = true`"
            ));
        }
        for t in p["targets"].as_array().expect("targets") {
            let kinds: Vec<&str> = t["kind"]
                .as_array()
                .expect("kinds")
                .iter()
                .filter_map(Value::as_str)
                .collect();
            if !(kinds.contains(&"lib") || (kinds.contains(&"bin") && name != "xcp-fuzz")) {
                continue;
            }
            let src = PathBuf::from(t["src_path"].as_str().expect("src path"));
            let text = std::fs::read_to_string(&src).expect("source readable");
            if !text.trim_start().starts_with("//!") {
                problems.push(format!("{}: does not start with `//!` docs", rel(&src)));
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn tests_do_not_sleep_or_expect_panics() {
    let mut files = Vec::new();
    rust_files(&root().join("crates"), &mut files);
    let sleep = ["thread", "::sleep"].concat();
    let should_panic = ["#[should", "_panic"].concat();
    let mut hits = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).expect("readable source");
        let is_test_file = rel(&f).contains("/tests/") || text.contains("#[cfg(test)]");
        for (i, line) in text.lines().enumerate() {
            if line.contains(&should_panic) || (is_test_file && line.contains(&sleep)) {
                hits.push(format!("{}:{}", rel(&f), i + 1));
            }
        }
    }
    assert!(hits.is_empty(), "sleep or should_panic in tests: {hits:#?}");
}
