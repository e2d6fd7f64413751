//! Fuzz target `slcan`: see `xcp_transport_can::fuzzing::check_slcan`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| xcp_transport_can::fuzzing::check_slcan(data));
