//! Real devices through libusb (`rusb`): finding a device's XCP interface, claiming it, and
//! its bulk endpoints; and a listing of the devices that look like XCP on USB.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::time::Duration;

use rusb::{Context, Direction, TransferType, UsbContext};
use xcp_transport::TransportError;

use crate::device::{BulkIn, BulkOut, UsbDevice};
use crate::url::UsbUrl;

/// Transfers read ahead of the transport, per device.
const READ_AHEAD: usize = 64;

fn usb_error(what: String) -> impl FnOnce(rusb::Error) -> TransportError {
    move |e| TransportError::io(what, std::io::Error::other(e.to_string()))
}

fn context() -> Result<Context, TransportError> {
    Context::new().map_err(|e| {
        TransportError::io(
            "starting libusb (is there USB on this machine, and may this user open /dev/bus/usb?)",
            std::io::Error::other(e.to_string()),
        )
    })
}

/// An interface with bulk endpoints both ways.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XcpInterface {
    /// Interface number.
    pub number: u8,
    /// Its class (0xFF: vendor-specific, as XCP interfaces are).
    pub class: u8,
    /// The bulk OUT endpoint's address and its max packet size (the first, unless the URL
    /// names another of `outputs`).
    pub out: (u8, u16),
    /// Every bulk OUT endpoint's address.
    pub outputs: Vec<u8>,
    /// The bulk IN endpoints' addresses (responses first, then DAQ where separate).
    pub inputs: Vec<u8>,
}

/// One device in a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    /// Vendor ID.
    pub vendor: u16,
    /// Product ID.
    pub product: u16,
    /// Bus number.
    pub bus: u8,
    /// Address on the bus.
    pub address: u8,
    /// Manufacturer and product strings, where the device could be opened to read them.
    pub names: Option<String>,
    /// Interfaces with bulk endpoints both ways.
    pub interfaces: Vec<XcpInterface>,
}

impl Listing {
    /// Whether it looks like XCP on USB: a vendor-specific interface with bulk endpoints
    /// both ways.
    pub fn looks_like_xcp(&self) -> bool {
        self.interfaces.iter().any(|i| i.class == 0xFF)
    }
}

impl fmt::Display for Listing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "usb://{:04x}:{:04x}  bus {} address {}",
            self.vendor, self.product, self.bus, self.address
        )?;
        if let Some(n) = &self.names {
            write!(f, "  {n}")?;
        }
        for i in &self.interfaces {
            write!(
                f,
                "\n    interface {} (class 0x{:02X}): bulk OUT 0x{:02X} ({} bytes), bulk IN {}",
                i.number,
                i.class,
                i.out.0,
                i.out.1,
                i.inputs
                    .iter()
                    .map(|e| format!("0x{e:02X}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )?;
        }
        Ok(())
    }
}

fn interfaces<T: UsbContext>(device: &rusb::Device<T>) -> Vec<XcpInterface> {
    let Ok(config) = device.active_config_descriptor() else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for interface in config.interfaces() {
        for d in interface.descriptors() {
            let bulk = |dir| {
                d.endpoint_descriptors().filter(move |e| {
                    e.transfer_type() == TransferType::Bulk && e.direction() == dir
                })
            };
            let out = bulk(Direction::Out)
                .next()
                .map(|e| (e.address(), e.max_packet_size()));
            let outputs: Vec<u8> = bulk(Direction::Out).map(|e| e.address()).collect();
            let inputs: Vec<u8> = bulk(Direction::In).map(|e| e.address()).collect();
            if let Some(out) = out
                && !inputs.is_empty()
            {
                found.push(XcpInterface {
                    number: d.interface_number(),
                    class: d.class_code(),
                    out,
                    outputs,
                    inputs,
                });
            }
        }
    }
    found
}

/// Every device libusb sees (with `all`), or those that look like XCP on USB.
///
/// # Errors
/// [`TransportError::Io`] when libusb cannot start or list devices.
pub fn list(all: bool) -> Result<Vec<Listing>, TransportError> {
    let ctx = context()?;
    let devices = ctx
        .devices()
        .map_err(usb_error("listing USB devices".to_owned()))?;
    let mut out = Vec::new();
    for device in devices.iter() {
        let Ok(desc) = device.device_descriptor() else {
            continue;
        };
        let names = device.open().ok().map(|h| {
            let m = h.read_manufacturer_string_ascii(&desc).unwrap_or_default();
            let p = h.read_product_string_ascii(&desc).unwrap_or_default();
            format!("{m} {p}").trim().to_owned()
        });
        let listing = Listing {
            vendor: desc.vendor_id(),
            product: desc.product_id(),
            bus: device.bus_number(),
            address: device.address(),
            names,
            interfaces: interfaces(&device),
        };
        if all || listing.looks_like_xcp() {
            out.push(listing);
        }
    }
    Ok(out)
}

/// A device opened through libusb, its XCP interface claimed.
pub struct RusbDevice {
    handle: Arc<rusb::DeviceHandle<Context>>,
    interface: XcpInterface,
    name: String,
}

impl RusbDevice {
    /// Opens the device a URL names and claims its XCP interface.
    ///
    /// # Errors
    /// [`TransportError::Io`] when libusb cannot start, the device is not there (or not
    /// unique without `serial`), has no interface with bulk endpoints both ways, or cannot
    /// be claimed.
    pub fn open(url: &UsbUrl) -> Result<Self, TransportError> {
        let ctx = context()?;
        let name = format!("USB {:04x}:{:04x}", url.vendor, url.product);
        let devices = ctx
            .devices()
            .map_err(usb_error("listing USB devices".to_owned()))?;
        let mut matching = Vec::new();
        for device in devices.iter() {
            let Ok(desc) = device.device_descriptor() else {
                continue;
            };
            if (desc.vendor_id(), desc.product_id()) != (url.vendor, url.product) {
                continue;
            }
            if let Some(want) = &url.serial {
                let serial = device
                    .open()
                    .ok()
                    .and_then(|h| h.read_serial_number_string_ascii(&desc).ok());
                if serial.as_deref() != Some(want.as_str()) {
                    continue;
                }
            }
            matching.push(device);
        }
        let device = match matching.len() {
            1 => matching.remove(0),
            0 => {
                return Err(TransportError::Config(format!(
                    "no {name}{} is attached; `xcpkit usb list --all` shows what is",
                    url.serial
                        .as_ref()
                        .map_or_else(String::new, |s| format!(" with serial number {s}"))
                )));
            }
            n => {
                return Err(TransportError::Config(format!(
                    "{n} devices are {name}; pick one with serial=… in the URL"
                )));
            }
        };
        let found = interfaces(&device);
        let interface = match url.interface {
            Some(n) => found.into_iter().find(|i| i.number == n),
            None => {
                let vendor = found.iter().position(|i| i.class == 0xFF);
                vendor.map_or_else(|| found.first().cloned(), |i| found.get(i).cloned())
            }
        }
        .ok_or_else(|| {
            TransportError::Config(format!(
                "{name} has no interface{} with bulk endpoints both ways",
                url.interface.map_or_else(String::new, |n| format!(" {n}"))
            ))
        })?;
        // Endpoints the URL (or the A2L) names must be the interface's bulk endpoints.
        let mut interface = interface;
        if let Some(out) = url.out_endpoint {
            if !interface.outputs.contains(&out) {
                return Err(TransportError::Config(format!(
                    "{name}: endpoint 0x{out:02X} is no bulk OUT endpoint of interface {}",
                    interface.number
                )));
            }
            interface.out.0 = out;
        }
        if !url.in_endpoints.is_empty() {
            if let Some(bad) = url
                .in_endpoints
                .iter()
                .find(|e| !interface.inputs.contains(e))
            {
                return Err(TransportError::Config(format!(
                    "{name}: endpoint 0x{bad:02X} is no bulk IN endpoint of interface {}",
                    interface.number
                )));
            }
            interface.inputs.clone_from(&url.in_endpoints);
        }
        let handle = device
            .open()
            .map_err(usb_error(format!("opening {name}")))?;
        // Where the platform supports it, a kernel driver on the interface steps aside.
        let _ = handle.set_auto_detach_kernel_driver(true);
        handle
            .claim_interface(interface.number)
            .map_err(usb_error(format!(
                "claiming interface {} of {name}",
                interface.number
            )))?;
        Ok(Self {
            handle: Arc::new(handle),
            name: format!("{name} (interface {})", interface.number),
            interface,
        })
    }
}

impl UsbDevice for RusbDevice {
    type Out = RusbOut;
    type In = RusbIn;

    fn split(self) -> (RusbOut, RusbIn) {
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = sync_channel(READ_AHEAD);
        let readers = self
            .interface
            .inputs
            .iter()
            .map(|&ep| {
                let (handle, stop, tx) = (Arc::clone(&self.handle), Arc::clone(&stop), tx.clone());
                std::thread::Builder::new()
                    .name(format!("usb-in-{ep:02x}"))
                    .spawn(move || read_endpoint(&handle, ep, &stop, &tx))
                    .ok()
            })
            .collect();
        (
            RusbOut {
                handle: Arc::clone(&self.handle),
                endpoint: self.interface.out.0,
                name: self.name.clone(),
            },
            RusbIn {
                transfers: rx,
                stop,
                _readers: readers,
                name: self.name,
            },
        )
    }

    fn describe(&self) -> String {
        self.name.clone()
    }
}

/// Reads one IN endpoint into the shared channel until told to stop or the device is gone.
fn read_endpoint(
    handle: &rusb::DeviceHandle<Context>,
    ep: u8,
    stop: &AtomicBool,
    tx: &SyncSender<Result<Vec<u8>, String>>,
) {
    let mut buf = vec![0u8; 64 * 1024];
    while !stop.load(Ordering::Relaxed) {
        match handle.read_bulk(ep, &mut buf, Duration::from_millis(100)) {
            Ok(n) if n > 0 => {
                if tx.send(Ok(buf[..n].to_vec())).is_err() {
                    return;
                }
            }
            Ok(_) | Err(rusb::Error::Timeout | rusb::Error::Interrupted) => {}
            Err(e) => {
                let _ = tx.send(Err(format!("endpoint 0x{ep:02X}: {e}")));
                return;
            }
        }
    }
}

/// The bulk OUT endpoint of a [`RusbDevice`].
pub struct RusbOut {
    handle: Arc<rusb::DeviceHandle<Context>>,
    endpoint: u8,
    name: String,
}

impl BulkOut for RusbOut {
    fn write(&mut self, transfer: &[u8], timeout: Duration) -> Result<(), TransportError> {
        // libusb reads a zero timeout as "forever".
        let timeout = timeout.max(Duration::from_millis(1));
        match self.handle.write_bulk(self.endpoint, transfer, timeout) {
            Ok(n) if n == transfer.len() => Ok(()),
            Ok(_) | Err(rusb::Error::Timeout | rusb::Error::Pipe) => Err(TransportError::Stalled {
                peer: self.name.clone(),
                waited: timeout,
            }),
            Err(rusb::Error::NoDevice) => Err(TransportError::Disconnected {
                peer: self.name.clone(),
                reason: "the device was unplugged".to_owned(),
            }),
            Err(e) => Err(TransportError::io(
                format!("writing to {}", self.name),
                std::io::Error::other(e.to_string()),
            )),
        }
    }

    fn max_transfer(&self) -> usize {
        64 * 1024
    }
}

/// The bulk IN endpoints of a [`RusbDevice`], read by one thread each.
pub struct RusbIn {
    transfers: Receiver<Result<Vec<u8>, String>>,
    stop: Arc<AtomicBool>,
    _readers: Vec<Option<std::thread::JoinHandle<()>>>,
    name: String,
}

impl BulkIn for RusbIn {
    fn read(&mut self, buf: &mut [u8], timeout: Duration) -> Result<usize, TransportError> {
        match self.transfers.recv_timeout(timeout) {
            Ok(Ok(t)) if t.len() <= buf.len() => {
                buf[..t.len()].copy_from_slice(&t);
                Ok(t.len())
            }
            Ok(Ok(t)) => Err(TransportError::TooLong {
                len: t.len(),
                max: buf.len(),
            }),
            Ok(Err(reason)) => Err(TransportError::Disconnected {
                peer: self.name.clone(),
                reason,
            }),
            Err(RecvTimeoutError::Timeout) => Ok(0),
            Err(RecvTimeoutError::Disconnected) => Err(TransportError::Disconnected {
                peer: self.name.clone(),
                reason: "its IN endpoints stopped".to_owned(),
            }),
        }
    }
}

impl Drop for RusbIn {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
