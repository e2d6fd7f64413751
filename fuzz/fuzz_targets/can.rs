//! Fuzz target `can`: see `xcp_proto::fuzzing::check_can`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| xcp_proto::fuzzing::check_can(data));
