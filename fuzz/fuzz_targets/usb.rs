//! Fuzz target `usb`: see `xcp_proto::fuzzing::check_usb`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| xcp_proto::fuzzing::check_usb(data));
