//! Fuzz target `slave_process`: see `xcp_slave::fuzzing::check_process`.
#![no_main]

use std::sync::LazyLock;

static SLAVE: LazyLock<xcp_slave::Slave> = LazyLock::new(xcp_slave::fuzzing::fuzz_slave);

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    xcp_slave::fuzzing::check_process(&SLAVE, data);
});
