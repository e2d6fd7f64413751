//! Fuzz target `eth_stream`: see `xcp_proto::fuzzing::check_eth_stream`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| xcp_proto::fuzzing::check_eth_stream(data));
