//! `xcpkit a2l update --elf`: a small C shared object built here with gcc (globals, a
//! struct, an array), an A2L naming them by SYMBOL_LINK, and the addresses the command
//! writes checked against what `nm` says of the same binary.

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

fn dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("xcpkit-a2l-update-{}", std::process::id()));
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// Builds the shared object with debug info; its path.
fn build(dir: &Path) -> PathBuf {
    let c = dir.join("params.c");
    std::fs::write(&c, SOURCE).expect("write C source");
    let so = dir.join("libparams.so");
    let out = Command::new("gcc")
        .args(["-g", "-O1", "-shared", "-fPIC", "-o"])
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
    let d = dir().join("ok");
    std::fs::create_dir_all(&d).expect("dir");
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
    let d = dir().join("missing");
    std::fs::create_dir_all(&d).expect("dir");
    let so = build(&d);
    let input = d.join("in.a2l");
    let extra = "/begin MEASUREMENT ghost \"\" UBYTE ident 0 0 0 255\n  ECU_ADDRESS 0x42\n  SYMBOL_LINK \"not_there\" 0\n/end MEASUREMENT";
    std::fs::write(&input, a2l(extra)).expect("write A2L");
    let output = d.join("out.a2l");
    let args = [
        "a2l",
        "update",
        input.to_str().expect("utf-8"),
        "--elf",
        so.to_str().expect("utf-8"),
        "-o",
        output.to_str().expect("utf-8"),
    ];
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
    let d = dir().join("notelf");
    std::fs::create_dir_all(&d).expect("dir");
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
