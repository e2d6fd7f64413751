//! XCP on USB for the master: packets in bulk transfers as the USB transport layer
//! specifies, one per transfer, several per transfer aligned to 8, 16, 32 or 64 bits, or
//! streamed across transfers (`xcp_proto::tl::usb` frames them).
//!
//! Below the transport is the [`UsbDevice`] trait, with two implementations: libusb
//! ([`rusb_device::RusbDevice`], feature `rusb`, libusb built from its bundled source) for
//! real devices, and [`memory::in_process`], a device in this process whose function side is
//! itself an XCP transport that `xcp-slave` serves, so the transport is tested without
//! hardware. Every transfer waits at most [`UsbSettings::timeout`]; a halted endpoint or an
//! unplugged device is an error that says so, never a hang.
//!
//! ```
//! use xcp_transport::{PacketRx, PacketTx, Transport};
//! use xcp_transport_usb::{UsbSettings, master, memory};
//!
//! let (device, function, _control) = memory::in_process(UsbSettings::default(), 16)?;
//! let (mut host_tx, _host_rx) = master(device, UsbSettings::default())?.split();
//! let (_dev_tx, mut dev_rx) = function.split();
//! host_tx.send_now(&[0xFF, 0x00])?;
//! let got = dev_rx.recv(std::time::Duration::from_secs(1))?;
//! assert_eq!(got, Some(&[0xFF, 0x00][..]));
//! # Ok::<(), xcp_transport::TransportError>(())
//! ```

pub mod device;
mod link;
pub mod memory;
#[cfg(feature = "rusb")]
pub mod rusb_device;
pub mod url;

pub use device::{BulkIn, BulkOut, UsbDevice};
pub use link::{UsbLink, UsbRx, UsbSettings, UsbTransport, UsbTx, master};
pub use url::{UrlError, UsbUrl};
