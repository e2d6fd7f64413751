//! The FMU's variables: the six XCP service roles and four model signals, one table for
//! both FMI versions.

use fmi_ls_xcp::Role;

/// A variable's FMI type (the FMI 3.0 name; FMI 2.0 calls UInt16 `Integer` and Float64 `Real`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    /// `Boolean`.
    Boolean,
    /// `UInt16` (FMI 3.0) / `Integer` (FMI 2.0).
    UInt16,
    /// `String`.
    String,
    /// `Float64` (FMI 3.0) / `Real` (FMI 2.0).
    Float64,
}

/// What a variable is to the importer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An XCP service setting: a structural parameter (FMI 3.0) or a parameter (FMI 2.0),
    /// fixed, set before the service starts.
    Setting(Role),
    /// A model input.
    Input,
    /// A model output.
    Output,
}

/// One variable of the FMU.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Var {
    /// Its value reference.
    pub vr: u32,
    /// Its name.
    pub name: &'static str,
    /// Its type.
    pub ty: Type,
    /// What it is.
    pub kind: Kind,
    /// Its start value as the model description writes it (empty: none).
    pub start: &'static str,
    /// Its description.
    pub description: &'static str,
}

/// The port the service listens on unless an importer sets another.
pub const DEFAULT_PORT: u16 = 5555;
/// The address the service listens on unless an importer sets another: this machine only.
pub const DEFAULT_ADDRESS: &str = "127.0.0.1";

/// Value references.
pub mod vr {
    /// `XCPServiceTCPEnable`.
    pub const TCP_ENABLE: u32 = 1;
    /// `XCPServiceTCPPort`.
    pub const TCP_PORT: u32 = 2;
    /// `XCPServiceTCPListenAddress`.
    pub const TCP_ADDRESS: u32 = 3;
    /// `XCPServiceUDPEnable`.
    pub const UDP_ENABLE: u32 = 4;
    /// `XCPServiceUDPPort`.
    pub const UDP_PORT: u32 = 5;
    /// `XCPServiceUDPListenAddress`.
    pub const UDP_ADDRESS: u32 = 6;
    /// `pedal` (input, %; negative: the ECU's own pedal profile).
    pub const PEDAL: u32 = 10;
    /// `engine_speed` (output, rpm).
    pub const ENGINE_SPEED: u32 = 11;
    /// `vehicle_speed` (output, km/h).
    pub const VEHICLE_SPEED: u32 = 12;
    /// `sine_wave` (output).
    pub const SINE_WAVE: u32 = 13;
    /// `task_10ms` (the DMA FMU's output clock, FMI 3.0): ticks when the 10 ms task ran.
    pub const TASK_10MS: u32 = 20;
}

/// Every variable but FMI 3.0's `time` (value reference 0), in model-description order.
pub const VARS: [Var; 10] = [
    Var {
        vr: vr::TCP_ENABLE,
        name: "XCPServiceTCPEnable",
        ty: Type::Boolean,
        kind: Kind::Setting(Role::TcpEnable),
        start: "true",
        description: "serve XCP on TCP",
    },
    Var {
        vr: vr::TCP_PORT,
        name: "XCPServiceTCPPort",
        ty: Type::UInt16,
        kind: Kind::Setting(Role::TcpPort),
        start: "5555",
        description: "TCP port of the XCP service (0: any free port, named in the A2L it uploads)",
    },
    Var {
        vr: vr::TCP_ADDRESS,
        name: "XCPServiceTCPListenAddress",
        ty: Type::String,
        kind: Kind::Setting(Role::TcpListenAddress),
        start: DEFAULT_ADDRESS,
        description: "IP address the TCP service listens on",
    },
    Var {
        vr: vr::UDP_ENABLE,
        name: "XCPServiceUDPEnable",
        ty: Type::Boolean,
        kind: Kind::Setting(Role::UdpEnable),
        start: "false",
        description: "serve XCP on UDP",
    },
    Var {
        vr: vr::UDP_PORT,
        name: "XCPServiceUDPPort",
        ty: Type::UInt16,
        kind: Kind::Setting(Role::UdpPort),
        start: "5555",
        description: "UDP port of the XCP service",
    },
    Var {
        vr: vr::UDP_ADDRESS,
        name: "XCPServiceUDPListenAddress",
        ty: Type::String,
        kind: Kind::Setting(Role::UdpListenAddress),
        start: DEFAULT_ADDRESS,
        description: "IP address the UDP service listens on",
    },
    Var {
        vr: vr::PEDAL,
        name: "pedal",
        ty: Type::Float64,
        kind: Kind::Input,
        start: "-1",
        description: "accelerator pedal in % (negative: the ECU's own pedal profile)",
    },
    Var {
        vr: vr::ENGINE_SPEED,
        name: "engine_speed",
        ty: Type::Float64,
        kind: Kind::Output,
        start: "",
        description: "engine speed in rpm",
    },
    Var {
        vr: vr::VEHICLE_SPEED,
        name: "vehicle_speed",
        ty: Type::Float64,
        kind: Kind::Output,
        start: "",
        description: "vehicle speed in km/h",
    },
    Var {
        vr: vr::SINE_WAVE,
        name: "sine_wave",
        ty: Type::Float64,
        kind: Kind::Output,
        start: "",
        description: "test wave: wave_amplitude * sin(2 pi wave_frequency t)",
    },
];

/// The variable of value reference `vr`.
pub fn var(vr: u32) -> Option<&'static Var> {
    VARS.iter().find(|v| v.vr == vr)
}
