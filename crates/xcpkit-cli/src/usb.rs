//! `xcpkit usb list`: the USB devices that look like XCP on USB (a vendor-specific interface
//! with bulk endpoints both ways), or every device with `--all`.

use anyhow::Context;
use clap::{Args, Subcommand};

/// Options of `xcpkit usb`.
#[derive(Debug, Args)]
pub(crate) struct UsbArgs {
    #[command(subcommand)]
    command: UsbCommand,
}

#[derive(Debug, Subcommand)]
enum UsbCommand {
    /// List the devices whose descriptors look like XCP on USB, with their interfaces and
    /// bulk endpoints (`usb://VID:PID` opens one).
    List {
        /// Every device libusb sees.
        #[arg(long)]
        all: bool,
    },
}

/// Runs `xcpkit usb …`.
pub(crate) fn run(args: &UsbArgs) -> anyhow::Result<()> {
    match &args.command {
        UsbCommand::List { all } => {
            let devices =
                xcp_transport_usb::rusb_device::list(*all).context("listing USB devices")?;
            if devices.is_empty() {
                out!(
                    "no {}USB device found",
                    if *all { "" } else { "XCP-on-USB-like " }
                );
            }
            for d in devices {
                out!("{d}");
            }
            Ok(())
        }
    }
}
