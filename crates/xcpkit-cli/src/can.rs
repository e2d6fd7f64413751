//! `xcpkit can`: the CAN backends this build has (`probe`), and an slcan adapter emulated on
//! a pseudo-terminal (`emulate-slcan`) for tools that want a serial CAN adapter.

use std::sync::mpsc;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};
use xcp_transport_can::CanUrl;

/// Options of `xcpkit can`.
#[derive(Debug, Args)]
pub(crate) struct CanArgs {
    #[command(subcommand)]
    command: CanCommand,
}

#[derive(Debug, Subcommand)]
enum CanCommand {
    /// List the CAN backends of this build and the interfaces or ports each can see.
    Probe,
    /// Emulate an slcan adapter on a pseudo-terminal, bridged to a CAN bus, until Ctrl-C:
    /// python-can's `slcan` interface (and so pyXCP) or `can://slcan/PTY` opens it.
    EmulateSlcan {
        /// The bus the adapter is on: a CAN URL (`can://udp_multicast/default`).
        #[arg(long, value_name = "URL")]
        to: String,
    },
}

/// Runs `xcpkit can …`.
pub(crate) fn run(args: &CanArgs) -> anyhow::Result<()> {
    match &args.command {
        CanCommand::Probe => {
            for b in xcp_transport_can::probe::probe() {
                out!("{b}");
            }
            Ok(())
        }
        CanCommand::EmulateSlcan { to } => {
            let url: CanUrl =
                to.parse()
                    .map_err(|e: xcp_transport_can::UrlError| xcpkit::Error::Url {
                        url: to.clone(),
                        reason: e.to_string(),
                    })?;
            let bus = url.open().with_context(|| format!("opening {url}"))?;
            let emu = xcp_transport_can::slcan::Emulator::start(bus)
                .context("starting the emulated slcan adapter")?;
            out!("slcan adapter emulated on {}, bridged to {url}", emu.path());
            out!("press Ctrl-C to stop");
            let (stop_tx, stop_rx) = mpsc::sync_channel(1);
            ctrlc::set_handler(move || {
                let _ = stop_tx.try_send(());
            })
            .context("cannot install the Ctrl-C handler")?;
            while let Err(mpsc::RecvTimeoutError::Timeout) =
                stop_rx.recv_timeout(Duration::from_millis(200))
            {}
            drop(emu);
            Ok(())
        }
    }
}
