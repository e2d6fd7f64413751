//! Fuzz target `sxi`: see `xcp_proto::fuzzing::check_sxi`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| xcp_proto::fuzzing::check_sxi(data));
