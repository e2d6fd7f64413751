//! The `slave_process` fuzz target's body over random and structured inputs, on stable.

use proptest::prelude::*;
use xcp_slave::fuzzing::{check_process, fuzz_slave};

/// One command: a valid command code followed by random bytes, length-prefixed.
fn command() -> impl Strategy<Value = Vec<u8>> {
    (0xC0u8..=0xFF, proptest::collection::vec(any::<u8>(), 0..40)).prop_map(|(code, body)| {
        let mut c = vec![code];
        c.extend(body);
        let mut framed = vec![u8::try_from(c.len()).unwrap_or(u8::MAX)];
        framed.extend(c);
        framed
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn command_sequences_never_break_the_slave(cmds in proptest::collection::vec(command(), 1..40)) {
        let slave = fuzz_slave();
        let _ = check_process(&slave, &cmds.concat());
    }

    #[test]
    fn raw_bytes_never_break_the_slave(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        let slave = fuzz_slave();
        let _ = check_process(&slave, &data);
    }
}

#[test]
fn a_realistic_daq_setup_runs_through_the_target() {
    // FREE_DAQ, ALLOC_DAQ 1, ALLOC_ODT 0 1, ALLOC_ODT_ENTRY 0 0 1, SET_DAQ_PTR, WRITE_DAQ of
    // the counter (ext 1, 0x00010000), SET_DAQ_LIST_MODE on event 0, START.
    let cmds: &[&[u8]] = &[
        &[0xD6],
        &[0xD5, 0, 1, 0],
        &[0xD4, 0, 0, 0, 1],
        &[0xD3, 0, 0, 0, 0, 1],
        &[0xE2, 0, 0, 0, 0, 0],
        &[0xE1, 0, 0xFF, 4, 1, 0x00, 0x00, 0x01, 0x00],
        &[0xE0, 0x10, 0, 0, 0, 0, 1, 0],
        &[0xDE, 1, 0, 0],
    ];
    let mut data = Vec::new();
    for c in cmds {
        data.push(u8::try_from(c.len()).expect("short"));
        data.extend_from_slice(c);
    }
    let slave = fuzz_slave();
    // Eight commands, each followed by one trigger: the trigger after START samples once.
    assert_eq!(check_process(&slave, &data), 1);
}
