//! The master's `async` methods need no particular runtime: here one tokio task drives two
//! slaves at once, each command of one overlapping the other's.
//! `cargo run -p xcpkit --example two_slaves_tokio`.

#![allow(
    clippy::print_stdout,
    reason = "an example shows its results on stdout"
)]

use xcpkit::master::{Config, Master};
use xcpkit::proto::Address;
use xcpkit_ecu::InProcess;

/// `counter_1ms` of the virtual ECU: u32 at an absolute address (extension 1).
const COUNTER: Address = Address::new(1, 0x0001_0000);

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a = InProcess::start_tcp("127.0.0.1:0".parse()?)?;
    let b = InProcess::start_tcp("127.0.0.1:0".parse()?)?;
    let open = |ecu: &InProcess| -> Result<Master, Box<dyn std::error::Error>> {
        let link = xcp_transport_eth::connect(
            ecu.addr().ok_or("the ECU serves TCP")?,
            xcp_transport_eth::Protocol::Tcp,
            &xcp_transport_eth::EthConfig::default(),
        )?;
        Ok(Master::new(link, Config::default())?)
    };
    let (mut ma, mut mb) = (open(&a)?, open(&b)?);
    let (ca, cb) = tokio::join!(ma.connect(), mb.connect());
    ca?;
    cb?;
    for _ in 0..3 {
        let (x, y) = tokio::join!(ma.upload(COUNTER, 4), mb.upload(COUNTER, 4));
        let value = |b: Vec<u8>| b.try_into().map(u32::from_le_bytes).unwrap_or(0);
        println!("counter_1ms: A {}, B {}", value(x?), value(y?));
    }
    let (da, db) = tokio::join!(ma.disconnect(), mb.disconnect());
    da?;
    db?;
    Ok(())
}
