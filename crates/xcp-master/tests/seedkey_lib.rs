//! An ASAM seed & key shared library, built here from C with the system compiler, unlocks
//! the slave through `SeedKeyLibrary`; a library without the function or one that refuses
//! gives a clear error.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Link, SECRET, fixture, quick, serve};
use xcp_master::{Error, SeedKeyLibrary, block_on};
use xcp_proto::Resources;
use xcp_slave::SlaveConfig;

/// The slave fixture's demo algorithm (key[i] = seed[i] ^ secret[i % n] ^ resource ^ i) as an
/// ASAM seed & key library that refuses the DAQ resource.
fn library_source() -> String {
    let secret: Vec<String> = SECRET.iter().map(|b| b.to_string()).collect();
    format!(
        r#"#include <stdint.h>
static const uint8_t secret[] = {{{}}};
uint32_t XCP_GetAvailablePrivileges(uint8_t *p) {{ *p = 0x11; return 0; }}
uint32_t XCP_ComputeKeyFromSeed(uint8_t res, uint8_t n, const uint8_t *seed, uint8_t *klen, uint8_t *key) {{
    if (res == 0x04) return 1;
    if (*klen < n) return 3;
    for (unsigned i = 0; i < n; i++)
        key[i] = seed[i] ^ secret[i % sizeof secret] ^ res ^ (uint8_t)i;
    *klen = n;
    return 0;
}}
"#,
        secret.join(",")
    )
}

fn build(dir: &Path, name: &str, source: &str) -> PathBuf {
    let c = dir.join(format!("{name}.c"));
    let so = dir.join(format!("lib{name}.so"));
    std::fs::write(&c, source).expect("write C source");
    let status = Command::new("gcc")
        .args(["-shared", "-fPIC", "-O2", "-o"])
        .arg(&so)
        .arg(&c)
        .status()
        .expect("gcc runs (the machine image provides it)");
    assert!(status.success(), "gcc built {name}");
    so
}

#[test]
fn a_seed_and_key_library_unlocks_the_slave() {
    let dir = std::env::temp_dir().join(format!("xcp-master-sk-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let good = build(&dir, "xcpsk", &library_source());
    let empty = build(&dir, "nothing", "int unrelated(void) { return 0; }\n");

    let err = SeedKeyLibrary::load(&empty).expect_err("no function");
    assert!(err.to_string().contains("XCP_ComputeKeyFromSeed"), "{err}");
    let err = SeedKeyLibrary::load(&dir.join("missing.so")).expect_err("no file");
    assert!(err.to_string().contains("cannot load"), "{err}");

    let lib = SeedKeyLibrary::load(&good).expect("loads");
    assert_eq!(lib.privileges(), Some(Resources(0x11)));
    let f = fixture(SlaveConfig {
        protected: Resources::CAL_PAG.union(Resources::DAQ),
        ..SlaveConfig::default()
    });
    let (srv, mut m) = serve(&f, &Link::Mem, quick());
    block_on(m.connect()).expect("connect");
    m.set_seed_key(lib);
    // CAL/PAG through the library; the 40-byte seed and key each fit one packet here.
    block_on(m.download(f.params.address(0), &2.5f32.to_ne_bytes())).expect("unlocked");
    // DAQ: the library refuses, and says so.
    let err = block_on(m.unlock(Resources::DAQ)).expect_err("refused");
    assert!(
        matches!(&err, Error::Locked { reason, .. } if reason.contains("privilege not available")),
        "{err}"
    );
    drop(m);
    srv.stop();
    let _ = std::fs::remove_dir_all(&dir);
}
