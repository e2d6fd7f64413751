//! Fuzz target `python_can`: see `xcp_transport_can::fuzzing::check_python_can`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| xcp_transport_can::fuzzing::check_python_can(data));
