//! Fuzz target `dto`: see `xcp_proto::fuzzing::check_dto`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| xcp_proto::fuzzing::check_dto(data));
