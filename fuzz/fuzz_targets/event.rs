//! Fuzz target `event`: see `xcp_proto::fuzzing::check_event`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| xcp_proto::fuzzing::check_event(data));
