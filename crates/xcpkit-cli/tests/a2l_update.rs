//! `xcpkit a2l update --elf`: a small C shared object built here with gcc (globals, a
//! struct, an array, a structure holding an array of structures, a 2-D array), an A2L naming
//! them by SYMBOL_LINK (plain symbols, and member and index paths resolved through DWARF),
//! and the addresses the command writes checked against what `nm` says of the same binary
//! plus the C layout's offsets.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{ok, xcpkit};

const SOURCE: &str = r"
#include <stdint.h>
struct params { uint16_t mode; float gain; int32_t offset; };
volatile int32_t counter = 1;
volatile struct params params = { 1, 2.5f, -3 };
volatile float curve[8] = { 0, 1, 2, 3, 4, 5, 6, 7 };
volatile uint8_t flags;
struct outer { uint8_t a; struct params inner[2]; };
volatile struct outer nested;
volatile int16_t grid[3][4];
int step(void) { counter += (int32_t)params.gain; return counter; }
";

fn a2l(extra: &str) -> String {
    format!(
        r#"ASAP2_VERSION 1 71
/begin PROJECT p ""
/begin MODULE m ""
/begin COMPU_METHOD ident "" IDENTICAL "%6.2" "" /end COMPU_METHOD
/begin RECORD_LAYOUT f32 FNC_VALUES 1 FLOAT32_IEEE COLUMN_DIR DIRECT /end RECORD_LAYOUT
/begin MEASUREMENT counter "" SLONG ident 0 0 -1e9 1e9
  ECU_ADDRESS 0x0
  SYMBOL_LINK "counter" 0
/end MEASUREMENT
/begin MEASUREMENT flags "" UBYTE ident 0 0 0 255
  SYMBOL_LINK "flags" 0
/end MEASUREMENT
/begin MEASUREMENT kept "" UBYTE ident 0 0 0 255
  ECU_ADDRESS 0x1234
/end MEASUREMENT
/begin CHARACTERISTIC gain "" VALUE 0x0 f32 0 ident -1e6 1e6
  SYMBOL_LINK "params" 4
/end CHARACTERISTIC
/begin CHARACTERISTIC curve "" VAL_BLK 0x0 f32 0 ident -1e6 1e6
  MATRIX_DIM 8
  SYMBOL_LINK "curve" 0
/end CHARACTERISTIC
{extra}
/end MODULE
/end PROJECT
"#
    )
}

/// A scratch folder for one test, removed with everything in it when dropped.
struct Scratch(PathBuf);

impl std::ops::Deref for Scratch {
    type Target = PathBuf;
    fn deref(&self) -> &PathBuf {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn dir(name: &str) -> Scratch {
    let d = std::env::temp_dir().join(format!("xcpkit-a2l-update-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    Scratch(d)
}

/// Builds the shared object with debug info; its path.
fn build(dir: &Path) -> PathBuf {
    build_with(dir, &["-g"])
}

/// Builds the shared object with `flags`; its path.
fn build_with(dir: &Path, flags: &[&str]) -> PathBuf {
    let c = dir.join("params.c");
    std::fs::write(&c, SOURCE).expect("write C source");
    let so = dir.join("libparams.so");
    let out = Command::new("gcc")
        .args(flags)
        .args(["-O1", "-shared", "-fPIC", "-o"])
        .arg(&so)
        .arg(&c)
        .output()
        .expect("gcc runs (install gcc)");
    assert!(
        out.status.success(),
        "gcc: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    so
}

/// `xcpkit a2l update INPUT --elf SO -o OUTPUT`.
fn update_args<'a>(input: &'a Path, so: &'a Path, output: &'a Path) -> Vec<&'a str> {
    let utf8 = |p: &'a Path| p.to_str().expect("utf-8 path");
    vec![
        "a2l",
        "update",
        utf8(input),
        "--elf",
        utf8(so),
        "-o",
        utf8(output),
    ]
}

/// `nm`'s address for each defined symbol of `so`.
fn nm(so: &Path) -> HashMap<String, u64> {
    let out = Command::new("nm")
        .arg("--defined-only")
        .arg(so)
        .output()
        .expect("nm runs (binutils)");
    assert!(out.status.success(), "nm failed");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let addr = u64::from_str_radix(f.next()?, 16).ok()?;
            let _kind = f.next()?;
            Some((f.next()?.to_owned(), addr))
        })
        .collect()
}

/// The address `xcpkit a2l list --json` gives each object of `file`.
fn addresses(file: &Path) -> HashMap<String, u64> {
    let json = ok(&["a2l", "list", "--json", file.to_str().expect("utf-8 path")]);
    let list: serde_json::Value = serde_json::from_str(&json).expect("list --json is JSON");
    list.as_array()
        .expect("a list")
        .iter()
        .filter_map(|o| Some((o["name"].as_str()?.to_owned(), o["address"].as_u64()?)))
        .collect()
}

#[test]
fn addresses_come_from_the_symbol_table_as_nm_reads_it() {
    let d = dir("ok");
    let so = build(&d);
    let symbols = nm(&so);
    let input = d.join("in.a2l");
    std::fs::write(&input, a2l("")).expect("write A2L");
    let output = d.join("out.a2l");
    let stdout = ok(&[
        "a2l",
        "update",
        input.to_str().expect("utf-8"),
        "--elf",
        so.to_str().expect("utf-8"),
        "-o",
        output.to_str().expect("utf-8"),
        "--list",
    ]);
    assert!(
        stdout.contains("4 address(es)") && stdout.contains("relative to the image base"),
        "{stdout}"
    );
    assert!(
        stdout.contains("MEASUREMENT flags: SYMBOL_LINK \"flags\" 0 -> 0x")
            && stdout.contains("(ECU_ADDRESS added)"),
        "{stdout}"
    );
    let got = addresses(&output);
    for (object, symbol, offset) in [
        ("counter", "counter", 0),
        ("flags", "flags", 0),
        ("gain", "params", 4),
        ("curve", "curve", 0),
    ] {
        let want = symbols[symbol] + offset;
        assert_ne!(want, 0, "{symbol} has an address");
        assert_eq!(got[object], want, "{object} = {symbol} + {offset}");
    }
    assert_eq!(
        got["kept"], 0x1234,
        "objects without SYMBOL_LINK keep theirs"
    );
    // The input is untouched when -o names another file.
    assert_eq!(
        std::fs::read_to_string(&input).expect("read"),
        a2l(""),
        "input kept"
    );
}

#[test]
fn a_missing_symbol_fails_unless_lenient() {
    let d = dir("missing");
    let so = build(&d);
    let input = d.join("in.a2l");
    let extra = "/begin MEASUREMENT ghost \"\" UBYTE ident 0 0 0 255\n  ECU_ADDRESS 0x42\n  SYMBOL_LINK \"not_there\" 0\n/end MEASUREMENT";
    std::fs::write(&input, a2l(extra)).expect("write A2L");
    let output = d.join("out.a2l");
    let args = update_args(&input, &so, &output);
    let o = xcpkit(&args);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("MEASUREMENT ghost: SYMBOL_LINK \"not_there\": no such symbol"),
        "{stderr}"
    );
    assert!(!output.exists(), "nothing written without --lenient");

    let mut lenient = args.to_vec();
    lenient.push("--lenient");
    let stdout = ok(&lenient);
    assert!(stdout.contains("1 symbol(s) not found"), "{stdout}");
    let got = addresses(&output);
    assert_eq!(got["ghost"], 0x42, "an unresolved object keeps its address");
    assert_eq!(got["counter"], nm(&so)["counter"]);
}

#[test]
fn a_file_that_is_not_elf_is_refused_with_its_name() {
    let d = dir("notelf");
    let input = d.join("in.a2l");
    std::fs::write(&input, a2l("")).expect("write A2L");
    let bogus = d.join("bogus.so");
    std::fs::write(&bogus, b"not a binary").expect("write");
    let o = xcpkit(&[
        "a2l",
        "update",
        input.to_str().expect("utf-8"),
        "--elf",
        bogus.to_str().expect("utf-8"),
    ]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        stderr.contains("bogus.so") && stderr.contains("ELF"),
        "{stderr}"
    );
}

/// A MEASUREMENT `name` linked to `symbol` + `offset`.
fn linked(name: &str, symbol: &str, offset: u32) -> String {
    format!(
        "/begin MEASUREMENT {name} \"\" UBYTE ident 0 0 0 255\n  ECU_ADDRESS 0x0\n  SYMBOL_LINK \"{symbol}\" {offset}\n/end MEASUREMENT\n"
    )
}

#[test]
fn member_and_index_paths_resolve_through_dwarf() {
    let d = dir("dwarf");
    let so = build(&d);
    let symbols = nm(&so);
    // The C layout on this ABI: struct params { u16 mode @0; float gain @4; i32 offset @8 }
    // (12 bytes); struct outer { u8 a @0; struct params inner[2] @4 }; int16_t grid[3][4].
    let cases = [
        ("p_gain", "params.gain", 0, "params", 4),
        ("p_offset", "params.offset", 0, "params", 8),
        ("c3", "curve[3]", 0, "curve", 12),
        ("deep", "nested.inner[1].offset", 0, "nested", 4 + 12 + 8),
        ("g21", "grid[2][1]", 0, "grid", (2 * 4 + 1) * 2),
        ("g1_plus", "grid[1]", 2, "grid", 4 * 2 + 2),
    ];
    let mut extra: String = cases
        .iter()
        .map(|(name, path, offset, _, _)| linked(name, path, *offset))
        .collect();
    for (name, path) in [
        ("no_member", "params.nope"),
        ("too_far", "curve[8]"),
        ("half_indexed", "grid[1].x"),
        ("no_var", "ghost.x"),
    ] {
        extra.push_str(&linked(name, path, 0));
    }
    let input = d.join("in.a2l");
    std::fs::write(&input, a2l(&extra)).expect("write A2L");
    let output = d.join("out.a2l");
    let args = update_args(&input, &so, &output);
    let o = xcpkit(&args);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    for reason in [
        "\"params.nope\": params.nope: the structure has no member nope",
        "\"curve[8]\": curve[8]: [8] is past the dimension 8",
        "\"grid[1].x\": grid[1].x: .x follows an array indexed in 1 fewer dimension(s) than it has",
        "\"ghost.x\": the debug information has no variable ghost",
    ] {
        assert!(stderr.contains(reason), "{reason} in {stderr}");
    }
    let mut lenient = args.to_vec();
    lenient.push("--lenient");
    ok(&lenient);
    let got = addresses(&output);
    for (name, path, _, symbol, offset) in cases {
        assert_eq!(got[name], symbols[symbol] + offset, "{name}: {path}");
    }

    // Without debug information a path cannot be placed, and says why.
    let nodebug = d.join("nodebug");
    std::fs::create_dir_all(&nodebug).expect("dir");
    let so = build_with(&nodebug, &["-g0"]);
    let o = xcpkit(&update_args(&input, &so, &output));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("needs debug information"), "{stderr}");
}
