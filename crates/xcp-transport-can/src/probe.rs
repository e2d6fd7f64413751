//! What CAN backends this build has, and which interfaces or ports each can see (as pyXCP's
//! `xcp-probe-can-drivers` lists python-can's).

use std::fmt;

/// One backend and what it sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backend {
    /// Its name in CAN URLs.
    pub name: &'static str,
    /// Whether this build has it.
    pub available: bool,
    /// What it sees: interfaces, ports, groups.
    pub channels: Vec<String>,
    /// A word on it: why it is missing, what to write.
    pub note: String,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:<14} {}",
            self.name,
            if self.available {
                "available"
            } else {
                "not in this build"
            }
        )?;
        if !self.note.is_empty() {
            write!(f, "  ({})", self.note)?;
        }
        for c in &self.channels {
            write!(f, "\n    {c}")?;
        }
        Ok(())
    }
}

/// SocketCAN interfaces: network devices of type 280 (ARPHRD_CAN), with their state.
fn socketcan_interfaces() -> Vec<String> {
    let Ok(dir) = std::fs::read_dir("/sys/class/net") else {
        return Vec::new();
    };
    let mut out: Vec<String> = dir
        .filter_map(Result::ok)
        .filter(|e| std::fs::read_to_string(e.path().join("type")).is_ok_and(|t| t.trim() == "280"))
        .map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let state = std::fs::read_to_string(e.path().join("operstate"))
                .map(|s| s.trim().to_owned())
                .unwrap_or_default();
            format!("can://socketcan/{name}  ({state})")
        })
        .collect();
    out.sort();
    out
}

/// Every backend, in the order CAN URLs list them.
pub fn probe() -> Vec<Backend> {
    let socketcan = cfg!(all(target_os = "linux", feature = "socketcan"));
    let ports: Vec<String> = serialport::available_ports()
        .map(|ps| {
            ps.into_iter()
                .map(|p| format!("can://slcan/{}", p.port_name.trim_start_matches('/')))
                .collect()
        })
        .unwrap_or_default();
    vec![
        Backend {
            name: "socketcan",
            available: socketcan,
            channels: if socketcan {
                socketcan_interfaces()
            } else {
                Vec::new()
            },
            note: if socketcan {
                "CAN interfaces of the kernel".to_owned()
            } else {
                "Linux with the socketcan feature".to_owned()
            },
        },
        Backend {
            name: "slcan",
            available: true,
            channels: ports,
            note: "serial-line adapters (CANable, USBtin, …); every serial port is listed"
                .to_owned(),
        },
        Backend {
            name: "udp_multicast",
            available: true,
            channels: vec![
                "can://udp_multicast/default  (239.74.163.2:43113, python-can's group)".to_owned(),
            ],
            note: "python-can's multicast bus, on the loopback interface".to_owned(),
        },
        Backend {
            name: "virtual",
            available: true,
            channels: Vec::new(),
            note: "in-process buses: can://virtual/NAME".to_owned(),
        },
    ]
}
