//! Fuzz target `command`: see `xcp_proto::fuzzing::check_command`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| xcp_proto::fuzzing::check_command(data));
