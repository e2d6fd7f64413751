//! One FMU instance, in safe Rust: the ECU model, its XCP service, the FMI state machine and
//! the variables. The C functions in `ffi` only translate to and from this.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use xcp_slave::{ClockSource, Server, SlaveConfig, TransportDesc};
use xcp_transport::Boxed;
use xcp_transport_eth::{EthServer, Protocol, ServerConfig};
use xcpkit_ecu::{Ecu, Stepper};

use crate::vars::{self, DEFAULT_ADDRESS, DEFAULT_PORT, Kind, vr};

/// The FMI version an instance serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fmi {
    /// FMI 2.0: the settings are parameters; the service starts in `fmi2SetupExperiment`.
    V2,
    /// FMI 3.0: the settings are structural parameters; the service starts in the first
    /// `fmi3ExitConfigurationMode`, else in `fmi3EnterInitializationMode`.
    V3,
}

/// Where an instance is in the FMI state machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Instantiated, not yet initialising.
    Instantiated,
    /// FMI 3.0 Configuration Mode.
    Configuration,
    /// Initialization Mode.
    Initialization,
    /// Stepping.
    Step,
    /// FMI 3.0 Event Mode (the DMA FMU, when the importer uses it for its clock).
    Event,
    /// Terminated.
    Terminated,
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Instantiated => "Instantiated",
            Self::Configuration => "Configuration Mode",
            Self::Initialization => "Initialization Mode",
            Self::Step => "Step Mode",
            Self::Event => "Event Mode",
            Self::Terminated => "Terminated",
        })
    }
}

/// One transport's settings (the three role variables of TCP or UDP).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `XCPService…Enable`.
    pub enable: bool,
    /// `XCPService…Port`.
    pub port: u16,
    /// `XCPService…ListenAddress`.
    pub address: String,
}

/// Why a call failed; the text is what the importer's log shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal(pub String);

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn refuse<T>(text: impl Into<String>) -> Result<T, Refusal> {
    Err(Refusal(text.into()))
}

/// One instance of the FMU.
pub struct Instance {
    fmi: Fmi,
    name: String,
    ecu: Ecu,
    stepper: Option<Stepper>,
    mode: Mode,
    tcp: Endpoint,
    udp: Endpoint,
    /// The service settings changed since the service started (FMI 2.0 only: it restarts
    /// on entering Initialization Mode).
    changed: bool,
    /// The running service and the address it serves.
    service: Option<(Server, Vec<TransportDesc>)>,
    /// The service was started once (FMI 3.0: later Configuration Modes do not restart it).
    started: bool,
    pedal: f64,
    start_s: f64,
    time_s: f64,
    /// The DMA FMU's instance: signals and parameters also in static storage.
    dma: Option<Dma>,
}

/// What a DMA instance remembers between steps.
struct Dma {
    /// The calibration segment's bytes as last copied into static storage: when the
    /// segment differs (the own service calibrated), it is copied again; otherwise the
    /// static storage (which an importer may have written) is what the model uses.
    segment: Vec<u8>,
    /// The importer uses Event Mode: the `task_10ms` clock ticks.
    event_mode: bool,
    /// `task_10ms` ticked in the last step and the importer has not yet updated the
    /// discrete states.
    ticked: bool,
}

impl fmt::Debug for Instance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Instance")
            .field("name", &self.name)
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

/// Seconds to integer nanoseconds (negative times clamp to 0).
#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "simulation times are far inside u64 nanoseconds; negative ones clamp"
)]
pub(crate) fn ns(s: f64) -> u64 {
    (s * 1e9).round().max(0.0) as u64
}

impl Instance {
    /// A new instance named `name`: the ECU model built with a simulated clock.
    ///
    /// # Errors
    /// When the model cannot be registered (a bug).
    pub fn new(fmi: Fmi, name: &str) -> Result<Self, Refusal> {
        let ecu = Ecu::build(
            SlaveConfig {
                clock: ClockSource::Simulated,
                ..SlaveConfig::default()
            },
            None,
        )
        .map_err(|e| Refusal(format!("building the ECU model: {e}")))?;
        let endpoint = |enable| Endpoint {
            enable,
            port: DEFAULT_PORT,
            address: DEFAULT_ADDRESS.to_owned(),
        };
        Ok(Self {
            fmi,
            name: name.to_owned(),
            ecu,
            stepper: None,
            mode: Mode::Instantiated,
            tcp: endpoint(true),
            udp: endpoint(false),
            changed: false,
            service: None,
            started: false,
            pedal: -1.0,
            start_s: 0.0,
            time_s: 0.0,
            dma: None,
        })
    }

    /// An instance of the DMA FMU (`xcpkit_ecu_dma`): the same model, its signals and
    /// parameters also in static storage for an importer's XCP service (see
    /// [`files::dma_a2l`](crate::files::dma_a2l)); its own service starts disabled.
    ///
    /// # Errors
    /// When another instance in this process has the static storage.
    pub fn new_dma(fmi: Fmi, name: &str) -> Result<Self, Refusal> {
        if !crate::ffi::dma::claim() {
            return refuse(format!(
                "{name}: {} can be instantiated once per process (its signals and parameters are static storage), and an instance exists",
                crate::DMA_MODEL_IDENTIFIER
            ));
        }
        let mut me = Self::new(fmi, name).inspect_err(|_| crate::ffi::dma::release())?;
        me.tcp.enable = false;
        me.dma = Some(Dma {
            segment: Vec::new(),
            event_mode: false,
            ticked: false,
        });
        Ok(me)
    }

    /// Whether this is an instance of the DMA FMU.
    pub const fn is_dma(&self) -> bool {
        self.dma.is_some()
    }

    /// The instance's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where it is in the state machine.
    pub const fn mode(&self) -> Mode {
        self.mode
    }

    /// The slave inside (its A2L, its statistics).
    pub const fn slave(&self) -> &xcp_slave::Slave {
        &self.ecu.slave
    }

    /// The addresses the service serves (empty while it does not run).
    pub fn serving(&self) -> Vec<TransportDesc> {
        self.service
            .as_ref()
            .map(|(_, d)| d.clone())
            .unwrap_or_default()
    }

    /// The current communication point in seconds.
    pub const fn time(&self) -> f64 {
        self.time_s
    }

    fn expect(&self, allowed: &[Mode], call: &str) -> Result<(), Refusal> {
        if allowed.contains(&self.mode) {
            Ok(())
        } else {
            refuse(format!("{call} is not allowed in {}", self.mode))
        }
    }

    /// `fmi3EnterConfigurationMode`.
    ///
    /// # Errors
    /// Outside Instantiated (the settings are fixed, so there is no reconfiguration).
    pub fn enter_configuration_mode(&mut self) -> Result<(), Refusal> {
        self.expect(&[Mode::Instantiated], "fmi3EnterConfigurationMode")?;
        if self.started {
            return refuse(
                "fmi3EnterConfigurationMode: the XCP service settings are fixed structural parameters and the service already runs",
            );
        }
        self.mode = Mode::Configuration;
        Ok(())
    }

    /// `fmi3ExitConfigurationMode`: starts the XCP service.
    ///
    /// # Errors
    /// Outside Configuration Mode; when the service cannot start (the port in use, an
    /// address that is not this machine's).
    pub fn exit_configuration_mode(&mut self) -> Result<Vec<String>, Refusal> {
        self.expect(&[Mode::Configuration], "fmi3ExitConfigurationMode")?;
        self.mode = Mode::Instantiated;
        self.start_service()
    }

    /// `fmi2SetupExperiment`: the start time; starts the XCP service.
    ///
    /// # Errors
    /// Outside Instantiated; when the service cannot start.
    pub fn setup_experiment(&mut self, start_s: f64) -> Result<Vec<String>, Refusal> {
        self.expect(&[Mode::Instantiated], "fmi2SetupExperiment")?;
        self.start_s = start_s;
        self.time_s = start_s;
        self.start_service()
    }

    /// `fmi3EnterInitializationMode` (with the start time) / `fmi2EnterInitializationMode`
    /// (`None`: the time of `fmi2SetupExperiment`): starts the service if it does not run
    /// yet (FMI 2.0: restarts it when a setting changed after `fmi2SetupExperiment`).
    ///
    /// # Errors
    /// Outside Instantiated; when the service cannot start.
    pub fn enter_initialization_mode(
        &mut self,
        start_s: Option<f64>,
    ) -> Result<Vec<String>, Refusal> {
        self.expect(&[Mode::Instantiated], "EnterInitializationMode")?;
        if let Some(s) = start_s {
            self.start_s = s;
            self.time_s = s;
        }
        let mut notes = Vec::new();
        if self.changed {
            self.stop_service();
            self.started = false;
            notes.push("the XCP service settings changed after fmi2SetupExperiment: the service restarts with them".to_owned());
        }
        notes.extend(self.start_service()?);
        let stepper = self
            .ecu
            .stepper(ns(self.start_s))
            .map_err(|e| Refusal(format!("starting the ECU model: {e}")))?;
        if let Some(d) = self.dma.as_mut() {
            d.segment = stepper.param_bytes();
            crate::ffi::dma::store_params(&d.segment);
            crate::ffi::dma::store_signals(&stepper.outputs(), 0);
        }
        self.stepper = Some(stepper);
        self.apply_pedal();
        self.mode = Mode::Initialization;
        Ok(notes)
    }

    /// `ExitInitializationMode`.
    ///
    /// # Errors
    /// Outside Initialization Mode.
    pub fn exit_initialization_mode(&mut self) -> Result<(), Refusal> {
        self.expect(&[Mode::Initialization], "ExitInitializationMode")?;
        self.mode = Mode::Step;
        Ok(())
    }

    /// `DoStep`: runs the ECU's tasks from `t` to `t + h` (calibration written meanwhile over
    /// XCP applies from the next step on).
    ///
    /// # Errors
    /// Outside Step Mode; a communication point other than the current one; a negative step.
    pub fn do_step(&mut self, t: f64, h: f64) -> Result<(), Refusal> {
        self.do_step_with(t, h, None)
    }

    /// [`Self::do_step`] with an importer's intermediate updates (FMI 3.0): a DMA instance
    /// stops at every 1 ms tick inside the step, puts its outputs into static storage and
    /// calls `intermediate` with the tick's time in seconds, so the importer can sample its
    /// memory there. Other instances ignore it.
    ///
    /// # Errors
    /// As [`Self::do_step`].
    pub fn do_step_with(
        &mut self,
        t: f64,
        h: f64,
        mut intermediate: Option<&mut dyn FnMut(f64)>,
    ) -> Result<(), Refusal> {
        self.expect(&[Mode::Step], "DoStep")?;
        if h.is_nan() || h < 0.0 {
            return refuse(format!(
                "DoStep: the communication step size {h} is not >= 0"
            ));
        }
        if (t - self.time_s).abs() > 1e-9 * t.abs().max(1.0) {
            return refuse(format!(
                "DoStep: the communication point {t} s is not the current time {} s",
                self.time_s
            ));
        }
        let Some(stepper) = self.stepper.as_mut() else {
            return refuse("DoStep: the model was not initialised");
        };
        match self.dma.as_mut() {
            None => {
                stepper.advance_to(ns(t + h));
            }
            Some(d) => {
                let segment = stepper.param_bytes();
                if segment != d.segment {
                    crate::ffi::dma::store_params(&segment);
                    d.segment = segment;
                }
                let params = crate::ffi::dma::load_params();
                #[allow(
                    clippy::cast_possible_truncation,
                    reason = "counter_1ms wraps like the ECU's 32-bit counter"
                )]
                let store = |s: &Stepper| {
                    crate::ffi::dma::store_signals(&s.outputs(), s.ticks() as u32);
                };
                let end = ns(t + h);
                let tens = stepper.ticks() / 10;
                if let Some(f) = intermediate.as_mut() {
                    loop {
                        let next = stepper.next_tick_ns();
                        if next >= end {
                            break;
                        }
                        if stepper.advance_to_with(next, &params).is_none() {
                            return refuse(
                                "DoStep: the parameters in static storage have the wrong size (a bug)",
                            );
                        }
                        store(stepper);
                        #[allow(
                            clippy::cast_precision_loss,
                            reason = "simulation times in ns stay far below 2^52"
                        )]
                        f(next as f64 / 1e9);
                    }
                }
                if stepper.advance_to_with(end, &params).is_none() {
                    return refuse(
                        "DoStep: the parameters in static storage have the wrong size (a bug)",
                    );
                }
                store(stepper);
                if d.event_mode && stepper.ticks() / 10 != tens {
                    d.ticked = true;
                }
            }
        }
        self.time_s = t + h;
        Ok(())
    }

    /// The DMA FMU with an importer that uses Event Mode: its `task_10ms` clock ticks at
    /// the end of each step in which the 10 ms task ran, and DoStep then asks for event
    /// handling.
    ///
    /// # Errors
    /// For any other instance (it has no clock).
    pub fn use_event_mode(&mut self) -> Result<(), Refusal> {
        match self.dma.as_mut() {
            Some(d) => {
                d.event_mode = true;
                Ok(())
            }
            None => refuse(format!(
                "{}: this FMU has no Event Mode (hasEventMode=\"false\")",
                self.name
            )),
        }
    }

    /// Whether the last step needs event handling (a clock ticked).
    pub fn event_needed(&self) -> bool {
        self.dma.as_ref().is_some_and(|d| d.ticked)
    }

    /// `fmi3EnterEventMode`.
    ///
    /// # Errors
    /// Outside Step Mode, or without Event Mode in use.
    pub fn enter_event_mode(&mut self) -> Result<(), Refusal> {
        self.expect(&[Mode::Step], "fmi3EnterEventMode")?;
        if !self.dma.as_ref().is_some_and(|d| d.event_mode) {
            return refuse("fmi3EnterEventMode: the importer did not ask for Event Mode");
        }
        self.mode = Mode::Event;
        Ok(())
    }

    /// `fmi3GetClock` of `task_10ms`.
    ///
    /// # Errors
    /// Outside Event Mode; another value reference.
    pub fn get_clock(&self, vr: u32) -> Result<bool, Refusal> {
        self.expect(&[Mode::Event], "fmi3GetClock")?;
        if vr != vr::TASK_10MS {
            return refuse(format!("fmi3GetClock: {vr} is not a clock of this FMU"));
        }
        Ok(self.event_needed())
    }

    /// `fmi3UpdateDiscreteStates`: the clock's tick is handled.
    ///
    /// # Errors
    /// Outside Event Mode.
    pub fn update_discrete_states(&mut self) -> Result<(), Refusal> {
        self.expect(&[Mode::Event], "fmi3UpdateDiscreteStates")?;
        if let Some(d) = self.dma.as_mut() {
            d.ticked = false;
        }
        Ok(())
    }

    /// `fmi3EnterStepMode`.
    ///
    /// # Errors
    /// Outside Event Mode.
    pub fn enter_step_mode(&mut self) -> Result<(), Refusal> {
        self.expect(&[Mode::Event], "fmi3EnterStepMode")?;
        self.mode = Mode::Step;
        Ok(())
    }

    /// `Terminate`: stops the XCP service.
    ///
    /// # Errors
    /// In Instantiated or Configuration Mode.
    pub fn terminate(&mut self) -> Result<(), Refusal> {
        self.expect(
            &[
                Mode::Initialization,
                Mode::Step,
                Mode::Event,
                Mode::Terminated,
            ],
            "Terminate",
        )?;
        self.stop_service();
        self.mode = Mode::Terminated;
        Ok(())
    }

    /// `Reset`: the service stops, the model starts over, the settings keep their values.
    ///
    /// # Errors
    /// When the model cannot be rebuilt (a bug).
    pub fn reset(&mut self) -> Result<(), Refusal> {
        self.stop_service();
        let fresh = Self::new(self.fmi, &self.name)?;
        let (tcp, udp, pedal) = (self.tcp.clone(), self.udp.clone(), self.pedal);
        // A DMA instance keeps its claim on the static storage across the reset.
        let dma = self.dma.take().map(|d| Dma {
            segment: Vec::new(),
            event_mode: d.event_mode,
            ticked: false,
        });
        *self = fresh;
        self.dma = dma;
        self.tcp = tcp;
        self.udp = udp;
        self.pedal = pedal;
        Ok(())
    }

    fn apply_pedal(&mut self) {
        let pedal = (self.pedal >= 0.0).then_some(self.pedal);
        if let Some(s) = self.stepper.as_mut() {
            s.set_pedal(pedal);
        }
    }

    /// Starts the service on the enabled transports, once; returns what to log.
    fn start_service(&mut self) -> Result<Vec<String>, Refusal> {
        if self.started {
            return Ok(Vec::new());
        }
        self.started = true;
        self.changed = false;
        let mut links = Vec::new();
        let mut descs = Vec::new();
        let mut serving = Vec::new();
        for (protocol, e, role) in [
            (Protocol::Tcp, &self.tcp, "TCP"),
            (Protocol::Udp, &self.udp, "UDP"),
        ] {
            let ip: Option<IpAddr> = e.address.trim().parse().ok();
            let describe = |addr| match protocol {
                Protocol::Tcp => TransportDesc::Tcp(addr),
                Protocol::Udp => TransportDesc::Udp(addr),
            };
            if !e.enable {
                // Described all the same, so the A2L the service uploads is the FMU's own
                // for the same settings; nothing listens there.
                descs.extend(ip.map(|ip| describe(SocketAddr::new(ip, e.port))));
                continue;
            }
            let Some(ip) = ip else {
                return refuse(format!(
                    "XCPService{role}ListenAddress {:?} is not an IP address",
                    e.address
                ));
            };
            let mut c = ServerConfig::new(protocol);
            c.bind = SocketAddr::new(ip, e.port);
            let server = EthServer::bind(c).map_err(|err| {
                Refusal(format!(
                    "cannot start the XCP service (XCPService{role}Port, XCPService{role}ListenAddress): {err}"
                ))
            })?;
            let addr = server.local_addr();
            descs.push(describe(addr));
            serving.push(describe(addr));
            links.push(Boxed::new(server));
        }
        self.ecu.slave.set_transports(descs);
        let Some(link) = Boxed::join(links) else {
            return Ok(vec![
                "the XCP service is disabled: no socket opened".to_owned(),
            ]);
        };
        let server = Server::start(&self.ecu.slave, link)
            .map_err(|e| Refusal(format!("starting the XCP service: {e}")))?;
        let notes = serving
            .iter()
            .map(|d| format!("XCP service on {}", url(d)))
            .collect();
        self.service = Some((server, serving));
        Ok(notes)
    }

    fn stop_service(&mut self) {
        if let Some((server, _)) = self.service.take() {
            server.stop();
        }
    }

    /// Sets a setting before the service starts (FMI 3.0: Instantiated or Configuration
    /// Mode; FMI 2.0: Instantiated, where a change after `fmi2SetupExperiment` restarts the
    /// service on entering Initialization Mode).
    fn setting(&mut self, vr: u32) -> Result<&mut Endpoint, Refusal> {
        let name = vars::var(vr).map_or("?", |v| v.name);
        let open = match self.fmi {
            Fmi::V3 => {
                matches!(self.mode, Mode::Instantiated | Mode::Configuration) && !self.started
            }
            Fmi::V2 => self.mode == Mode::Instantiated,
        };
        if !open {
            return refuse(format!(
                "{name} is fixed once the XCP service has started (now in {})",
                self.mode
            ));
        }
        if self.started {
            self.changed = true;
        }
        Ok(
            if matches!(vr, vr::TCP_ENABLE | vr::TCP_PORT | vr::TCP_ADDRESS) {
                &mut self.tcp
            } else {
                &mut self.udp
            },
        )
    }

    /// Sets a Boolean variable.
    ///
    /// # Errors
    /// An unknown value reference or one of another type; a setting once fixed.
    pub fn set_bool(&mut self, vr: u32, v: bool) -> Result<(), Refusal> {
        match vr {
            vr::TCP_ENABLE | vr::UDP_ENABLE => self.setting(vr)?.enable = v,
            _ => return refuse(not_of_type(vr, "Boolean")),
        }
        Ok(())
    }

    /// Sets a port (UInt16 in FMI 3.0, Integer in FMI 2.0).
    ///
    /// # Errors
    /// An unknown value reference or one of another type; a port outside 0–65535; a setting
    /// once fixed.
    pub fn set_int(&mut self, vr: u32, v: i64) -> Result<(), Refusal> {
        match vr {
            vr::TCP_PORT | vr::UDP_PORT => {
                let Ok(port) = u16::try_from(v) else {
                    return refuse(format!(
                        "{} = {v}: a port is 0 to 65535",
                        vars::var(vr).map_or("?", |x| x.name)
                    ));
                };
                self.setting(vr)?.port = port;
            }
            _ => return refuse(not_of_type(vr, "UInt16 (FMI 2.0: Integer)")),
        }
        Ok(())
    }

    /// Sets a String variable.
    ///
    /// # Errors
    /// An unknown value reference or one of another type; a setting once fixed.
    pub fn set_string(&mut self, vr: u32, v: &str) -> Result<(), Refusal> {
        match vr {
            vr::TCP_ADDRESS | vr::UDP_ADDRESS => v.clone_into(&mut self.setting(vr)?.address),
            _ => return refuse(not_of_type(vr, "String")),
        }
        Ok(())
    }

    /// Sets a Float64 (FMI 2.0: Real) variable: the pedal.
    ///
    /// # Errors
    /// An unknown value reference or one of another type.
    pub fn set_f64(&mut self, vr: u32, v: f64) -> Result<(), Refusal> {
        match vr {
            vr::PEDAL => {
                self.pedal = v;
                self.apply_pedal();
            }
            _ => return refuse(not_of_type(vr, "Float64 (FMI 2.0: Real) input")),
        }
        Ok(())
    }

    /// A Boolean variable.
    ///
    /// # Errors
    /// An unknown value reference or one of another type.
    pub fn get_bool(&self, vr: u32) -> Result<bool, Refusal> {
        match vr {
            vr::TCP_ENABLE => Ok(self.tcp.enable),
            vr::UDP_ENABLE => Ok(self.udp.enable),
            _ => refuse(not_of_type(vr, "Boolean")),
        }
    }

    /// A port.
    ///
    /// # Errors
    /// An unknown value reference or one of another type.
    pub fn get_int(&self, vr: u32) -> Result<u16, Refusal> {
        match vr {
            vr::TCP_PORT => Ok(self.tcp.port),
            vr::UDP_PORT => Ok(self.udp.port),
            _ => refuse(not_of_type(vr, "UInt16 (FMI 2.0: Integer)")),
        }
    }

    /// A String variable.
    ///
    /// # Errors
    /// An unknown value reference or one of another type.
    pub fn get_string(&self, vr: u32) -> Result<&str, Refusal> {
        match vr {
            vr::TCP_ADDRESS => Ok(&self.tcp.address),
            vr::UDP_ADDRESS => Ok(&self.udp.address),
            _ => refuse(not_of_type(vr, "String")),
        }
    }

    /// A Float64 (FMI 2.0: Real) variable; value reference 0 is FMI 3.0's `time`.
    ///
    /// # Errors
    /// An unknown value reference or one of another type.
    pub fn get_f64(&self, vr: u32) -> Result<f64, Refusal> {
        let out = self.stepper.as_ref().map(Stepper::outputs);
        let or0 = |f: fn(&xcpkit_ecu::Outputs) -> f64| out.as_ref().map_or(0.0, f);
        match vr {
            0 if self.fmi == Fmi::V3 => Ok(self.time_s),
            vr::PEDAL => Ok(self.pedal),
            vr::ENGINE_SPEED => Ok(or0(|o| o.engine_speed)),
            vr::VEHICLE_SPEED => Ok(or0(|o| o.vehicle_speed)),
            vr::SINE_WAVE => Ok(or0(|o| o.sine_wave)),
            _ => refuse(not_of_type(vr, "Float64 (FMI 2.0: Real)")),
        }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.stop_service();
        if self.dma.is_some() {
            crate::ffi::dma::release();
        }
    }
}

/// A served transport as a master's URL.
fn url(d: &TransportDesc) -> String {
    match d {
        TransportDesc::Tcp(a) => format!("tcp://{a}"),
        TransportDesc::Udp(a) => format!("udp://{a}"),
        _ => "another transport".to_owned(),
    }
}

fn not_of_type(vr: u32, ty: &str) -> String {
    match vars::var(vr) {
        Some(v) => format!(
            "value reference {vr} ({}) is not a {ty} variable{}",
            v.name,
            if v.kind == Kind::Output {
                " that can be set"
            } else {
                ""
            }
        ),
        None => format!("value reference {vr} is not a {ty} variable of this FMU"),
    }
}
