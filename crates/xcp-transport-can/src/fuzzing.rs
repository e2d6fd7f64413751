//! Fuzz-target bodies for the decoders of this crate, shared by `fuzz/` (cargo-fuzz) and the
//! corpus replay test (`tests/corpus.rs`). Each takes arbitrary bytes, must not panic, and
//! checks that what decodes encodes back to the same frame.

use crate::frame::CanFrame;
use crate::slcan::{self, Line};
use crate::udp_multicast::{self, Decoded};

fn same(a: &CanFrame, b: &CanFrame) -> bool {
    (a.id, a.data(), a.fd, a.brs) == (b.id, b.data(), b.fd, b.brs)
}

/// `data[0]` bit 0: the line ended in BEL; the rest is one slcan line.
pub fn check_slcan(data: &[u8]) {
    let Some((&sel, line)) = data.split_first() else {
        return;
    };
    if let Ok(Line::Frame(f)) = slcan::parse(line, sel & 1 != 0) {
        let mut out = Vec::new();
        slcan::encode(&f, &mut out);
        let Ok(Line::Frame(back)) = slcan::parse(&out[..out.len() - 1], false) else {
            panic!(
                "{f} does not read back from {:?}",
                String::from_utf8_lossy(&out)
            )
        };
        assert!(same(&f, &back), "{f} read back as {back}");
    }
}

/// One python-can `udp_multicast` datagram.
pub fn check_python_can(data: &[u8]) {
    if let Ok(Decoded::Frame(f)) = udp_multicast::decode(data) {
        let mut out = Vec::new();
        udp_multicast::encode(&f, &mut out);
        let Ok(Decoded::Frame(back)) = udp_multicast::decode(&out) else {
            panic!("{f} does not read back")
        };
        assert!(same(&f, &back), "{f} read back as {back}");
    }
}

/// A fuzz-target body.
pub type Check = fn(&[u8]);

/// The targets by corpus folder name.
pub const TARGETS: &[(&str, Check)] = &[("slcan", check_slcan), ("python_can", check_python_can)];
