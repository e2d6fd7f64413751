//! Fuzz target `response`: see `xcp_proto::fuzzing::check_response`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| xcp_proto::fuzzing::check_response(data));
