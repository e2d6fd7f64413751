//! The importer behind `xcpkit fmu serve`: an FMI 3.0 or 2.0 Co-Simulation FMU whose
//! fmi-ls-xcp interface supports direct memory access, run in this process and served over XCP by
//! `xcp-slave` (section 5 of the layered standard).
//!
//! - Memory is the FMU binary's image at its load address: the A2L's addresses are offsets
//!   from the image base, and only the extents of its MEASUREMENT, CHARACTERISTIC, AXIS_PTS
//!   and BLOB objects are reachable. Overlapping or touching extents are joined into
//!   mirrored regions ([`xcp_slave::SlaveBuilder::mirror`]); every other address is refused
//!   as for any region of the slave. An extent outside the image refuses the FMU.
//! - Reads and writes happen between steps (section 3.7): each [`Served::step`] takes the
//!   master's writes into the image, calls `fmi3DoStep` (`fmi2DoStep`), copies the regions
//!   back into the slave, and only then lets the master in again.
//! - Events: `communication point`, with the step size as its cycle, triggered after each
//!   step, and, for an FMI 3.0 FMU that provides them, `intermediate update`, triggered
//!   inside a step at each intermediate update the FMU makes (its regions copied first), and
//!   one per output clock of an FMI 3.0 FMU with Event Mode, triggered in Event Mode when
//!   the clock ticked; the slave's clock and the DAQ timestamps are simulation time.
//! - The A2L the slave uploads (GET_ID 4) is the FMU's, with its IF_DATA XCP replaced by
//!   one that describes this service (and the XCP A2ML added where the module has none).
//!
//! Refused with a message that says why: an interface without direct memory access, an A2L with `/include`, an FMU without a binary for this
//! platform, a second instance of the same FMU in this process (section 6).

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use fmi_ls_xcp::{Fmu, ModelDescription, check};
use xcp_slave::{ClockSource, MirrorHandle, Server, Slave, SlaveConfig, TransportDesc};
use xcp_transport::Boxed;
use xcp_transport_eth::{EthServer, Protocol, ServerConfig};

use crate::ffi::import::{Image, Loaded};
use crate::instance::ns;

/// The event triggered after every step.
pub const EVENT_NAME: &str = "communication point";

/// The event triggered at each intermediate update of an FMI 3.0 FMU that provides them
/// (`providesIntermediateUpdate`): inside a step, at the FMU's own points.
pub const INTERMEDIATE_EVENT_NAME: &str = "intermediate update";

/// The default TCP address of the service.
pub const DEFAULT_TCP: SocketAddr = SocketAddr::new(
    std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
    crate::vars::DEFAULT_PORT,
);

/// What `xcpkit fmu serve` was asked for.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The manifest's interface, 1 for the first (default: the first that supports direct
    /// memory access).
    pub interface: Option<usize>,
    /// Serve XCP on TCP here (`None`: no TCP).
    pub tcp: Option<SocketAddr>,
    /// Serve XCP on UDP here (`None`: no UDP).
    pub udp: Option<SocketAddr>,
    /// The communication step size in seconds (default: the model description's
    /// `DefaultExperiment stepSize`, else 1 ms).
    pub step: Option<f64>,
    /// The start time in seconds (default: the model description's, else 0).
    pub start_time: Option<f64>,
    /// Stop here (default: the model description's stop time, else run until stopped).
    pub stop_time: Option<f64>,
    /// Start values set before initialisation, by variable name, as text.
    pub starts: Vec<(String, String)>,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            interface: None,
            tcp: Some(DEFAULT_TCP),
            udp: None,
            step: None,
            start_time: None,
            stop_time: None,
            starts: Vec::new(),
        }
    }
}

/// Why an FMU cannot be served, or a step failed: words for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeError(pub String);

impl fmt::Display for ServeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ServeError {}

fn fail<T>(text: impl Into<String>) -> Result<T, ServeError> {
    Err(ServeError(text.into()))
}

/// The instantiation tokens of the FMUs served in this process.
static SERVED: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn served_tokens() -> std::sync::MutexGuard<'static, Vec<String>> {
    match SERVED.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

/// A mirrored region: A2L objects' extents joined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Region {
    /// Address extension of its objects.
    pub ext: u8,
    /// First address: the offset from the image base.
    pub offset: u32,
    /// Length in bytes.
    pub len: usize,
    /// Whether the master may write it (an object in it is writable by the A2L, and the
    /// image's memory there is writable).
    pub writable: bool,
    /// How many A2L objects lie in it.
    pub objects: usize,
}

/// A temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Result<Self, ServeError> {
        static N: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "xcpkit-fmu-serve-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(dir.join("resources"))
            .map_err(|e| ServeError(format!("cannot create {}: {e}", dir.display())))?;
        Ok(Self(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// An FMU running in this process and served over XCP.
pub struct Served {
    server: Option<Server>,
    serving: Vec<TransportDesc>,
    slave: Slave,
    mirrors: MirrorHandle,
    event: xcp_slave::Event,
    intermediate: Option<xcp_slave::Event>,
    /// Output clocks' value references, and their events in the same order.
    clock_vrs: Vec<u32>,
    clock_events: Vec<xcp_slave::Event>,
    regions: Vec<Region>,
    notes: Vec<String>,
    a2l: String,
    model: ModelDescription,
    token: String,
    start: f64,
    step: f64,
    stop_time: Option<f64>,
    steps: u64,
    terminated: bool,
    buffer: Vec<u8>,
    /// The binary's image as loaded (it does not move while the library is loaded).
    image: Image,
    /// Dropped after the service stops and before the directory holding the binary goes.
    loaded: Loaded,
    _dir: TempDir,
}

impl fmt::Debug for Served {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Served")
            .field("model", &self.model.model_name)
            .field("time", &self.time())
            .field("regions", &self.regions)
            .finish_non_exhaustive()
    }
}

/// The extent of one A2L object.
struct Extent {
    ext: u8,
    start: u64,
    end: u64,
    writable: bool,
    name: String,
}

impl Served {
    /// Opens `path` (a `.fmu` archive or an unpacked FMU), loads its binary, instantiates and
    /// initialises it, and starts the XCP service; the simulation stands at its start time.
    ///
    /// # Errors
    /// Every refusal the module docs list, an A2L object outside the image, a start value
    /// the FMU refuses, a port in use; the text says which.
    #[allow(
        clippy::too_many_lines,
        reason = "one check after the other, in the order a user meets them"
    )]
    pub fn open(path: &Path, options: &ServeOptions) -> Result<Self, ServeError> {
        let mut fmu = Fmu::open(path).map_err(|e| ServeError(e.to_string()))?;
        let report = check(&mut fmu).map_err(|e| ServeError(e.to_string()))?;
        let model = report.model.clone();
        if !model.interface_types.iter().any(|t| t == "CoSimulation") {
            return fail(format!(
                "{} offers {} but not Co-Simulation, which xcpkit fmu serve runs",
                path.display(),
                model.interface_types.join(", ")
            ));
        }
        let count = report.interfaces.len();
        let number = match options.interface {
            Some(n) => n,
            None => report
                .interfaces
                .iter()
                .position(|i| i.interface.supports_direct_memory_access)
                .map_or(1, |n| n + 1),
        };
        let Some(interface) = number.checked_sub(1).and_then(|n| report.interfaces.get(n)) else {
            return fail(format!(
                "the manifest has {count} interface(s); --interface takes 1 to {count}"
            ));
        };
        let label = interface.interface.label(number - 1);
        if !interface.interface.supports_direct_memory_access {
            return fail(format!(
                "{label} does not support direct memory access (supportsDirectMemoryAccess is not true): the importer cannot serve its memory{}",
                if interface.interface.contains_xcp_service {
                    "; the FMU serves XCP itself, connect to its own service"
                } else {
                    ""
                }
            ));
        }
        let Some(id) = model.model_identifier.clone() else {
            return fail("the model description names no modelIdentifier");
        };
        let binary_name = format!(
            "binaries/{}/{id}.{}",
            report.platform,
            std::env::consts::DLL_EXTENSION
        );
        if !report.binary {
            return fail(format!(
                "the FMU has no binary for this platform ({binary_name} is missing): it was built for other platforms, or is a source code FMU, which xcpkit fmu serve does not compile"
            ));
        }
        let Some(a2l_path) = interface.a2l_path.clone() else {
            return fail(format!(
                "{label}: the FMU has no A2L for {} ({})",
                report.platform,
                fmi_ls_xcp::a2l_path(&interface.interface.definition, &report.platform, true)
            ));
        };
        let read = |fmu: &mut Fmu, name: &str| {
            fmu.read(name)
                .map_err(|e| ServeError(e.to_string()))?
                .ok_or_else(|| ServeError(format!("the FMU has no {name}")))
        };
        let a2l_text = String::from_utf8(read(&mut fmu, &a2l_path)?)
            .map_err(|_| ServeError(format!("{a2l_path} is not UTF-8 text")))?;
        if let Some((line, file)) = xcp_a2l::includes(&a2l_text).first() {
            return fail(format!(
                "{a2l_path} line {line} includes {file}: the A2L of an FMU must be self-contained (fmi-ls-xcp section 3.1)"
            ));
        }
        let (a2l, _) = xcp_a2l::A2l::from_text(&a2l_text, &xcp_a2l::LoadOptions::default())
            .map_err(|e| ServeError(format!("{a2l_path}: {e}")))?;
        let extents = extents(&a2l);
        if extents.is_empty() {
            return fail(format!(
                "{a2l_path} has no MEASUREMENT, CHARACTERISTIC, AXIS_PTS or BLOB with an address: nothing to serve"
            ));
        }

        let token = model
            .instantiation_token
            .clone()
            .unwrap_or_else(|| id.clone());
        {
            let mut tokens = served_tokens();
            if tokens.contains(&token) {
                return fail(format!(
                    "{id} is already served in this process: fmi-ls-xcp section 6 allows one instance of an FMU per process with direct memory access (its memory is the binary's static storage)"
                ));
            }
            tokens.push(token.clone());
        }
        // From here on the token is released by `Drop` once `Self` exists, else here.
        let release = |token: &str| served_tokens().retain(|t| t != token);
        let built = (|| {
            let dir = TempDir::new()?;
            let binary = dir
                .0
                .join(format!("{id}.{}", std::env::consts::DLL_EXTENSION));
            std::fs::write(&binary, read(&mut fmu, &binary_name)?)
                .map_err(|e| ServeError(format!("cannot write {}: {e}", binary.display())))?;
            let loaded = Loaded::instantiate(
                &binary,
                model.is_fmi3(),
                model.is_fmi3() && model.provides_intermediate_update,
                !output_clocks(&model).is_empty(),
                &id,
                &token,
                &dir.0.join("resources"),
            )
            .map_err(ServeError)?;
            Self::build(loaded, dir, model, &token, &a2l_text, &extents, options)
        })();
        if built.is_err() {
            release(&token);
        }
        built
    }

    #[allow(
        clippy::too_many_lines,
        reason = "regions, slave, service, A2L, start values: the set-up in order"
    )]
    fn build(
        mut loaded: Loaded,
        dir: TempDir,
        model: ModelDescription,
        token: &str,
        a2l_text: &str,
        extents: &[Extent],
        options: &ServeOptions,
    ) -> Result<Self, ServeError> {
        let image = loaded.image();
        let mut notes = Vec::new();
        let outside: Vec<String> = extents
            .iter()
            .filter(|e| {
                usize::try_from(e.start).ok().is_none_or(|s| {
                    usize::try_from(e.end - e.start)
                        .ok()
                        .is_none_or(|n| image.access(s, n).is_none())
                })
            })
            .map(|e| format!("{} (0x{:X}..0x{:X})", e.name, e.start, e.end))
            .collect();
        if !outside.is_empty() {
            return fail(format!(
                "{} object(s) lie outside the FMU's image (0x0..0x{:X}), so the A2L does not belong to this binary: {}{}",
                outside.len(),
                image.len(),
                outside
                    .iter()
                    .take(5)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", "),
                if outside.len() > 5 { ", …" } else { "" }
            ));
        }
        let mut regions = join(extents);
        for r in &mut regions {
            if r.writable && image.access(r.offset as usize, r.len) != Some(true) {
                r.writable = false;
                notes.push(format!(
                    "0x{:X}..0x{:X} holds writable A2L objects in read-only memory of the FMU: served read-only",
                    r.offset,
                    r.offset as usize + r.len
                ));
            }
        }

        let step = options.step.or(model.default_step).unwrap_or(0.001);
        if !(step.is_finite() && step > 0.0) {
            return fail(format!("the step size {step} s is not a positive number"));
        }
        let start = options.start_time.or(model.default_start).unwrap_or(0.0);
        let stop_time = options.stop_time.or(model.default_stop);
        if !start.is_finite() {
            return fail(format!("the start time {start} s is not a number"));
        }
        if let Some(stop) = stop_time
            && (stop.is_nan() || stop < start)
        {
            return fail(format!(
                "the stop time {stop} s does not lie at or after the start time {start} s"
            ));
        }

        let mut b = Slave::builder(&model.model_name).config(SlaveConfig {
            clock: ClockSource::Simulated,
            ..SlaveConfig::default()
        });
        let period = Duration::from_secs_f64(step);
        let event = b
            .event(EVENT_NAME, Some(period), 0)
            .map_err(|e| ServeError(format!("the event: {e}")))?;
        let intermediate = (model.is_fmi3() && model.provides_intermediate_update)
            .then(|| b.event(INTERMEDIATE_EVENT_NAME, None, 0))
            .transpose()
            .map_err(|e| ServeError(format!("the intermediate-update event: {e}")))?;
        let clocks = output_clocks(&model)
            .into_iter()
            .map(|(name, vr)| {
                b.event(&format!("clock {name}"), None, 0)
                    .map(|id| (vr, id))
                    .map_err(|e| ServeError(format!("the event of clock {name}: {e}")))
            })
            .collect::<Result<Vec<_>, ServeError>>()?;
        for (n, r) in regions.iter().enumerate() {
            b.mirror(&format!("region{n}"), r.ext, r.offset, r.len, r.writable)
                .map_err(|e| ServeError(format!("the FMU's memory: {e}")))?;
        }
        let slave = b
            .build()
            .map_err(|e| ServeError(format!("the XCP slave: {e}")))?;
        let event = slave
            .event(event)
            .map_err(|e| ServeError(format!("the event: {e}")))?;
        let intermediate = intermediate
            .map(|id| slave.event(id))
            .transpose()
            .map_err(|e| ServeError(format!("the intermediate-update event: {e}")))?;
        let clock_vrs: Vec<u32> = clocks.iter().map(|(vr, _)| *vr).collect();
        let clock_events = clocks
            .into_iter()
            .map(|(_, id)| slave.event(id))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ServeError(format!("a clock's event: {e}")))?;

        let mut links = Vec::new();
        let mut serving = Vec::new();
        for (protocol, addr, words) in [
            (Protocol::Tcp, options.tcp, "TCP"),
            (Protocol::Udp, options.udp, "UDP"),
        ] {
            let Some(addr) = addr else { continue };
            let mut c = ServerConfig::new(protocol);
            c.bind = addr;
            let server = EthServer::bind(c)
                .map_err(|e| ServeError(format!("cannot serve XCP on {words} {addr}: {e}")))?;
            let local = server.local_addr();
            serving.push(match protocol {
                Protocol::Tcp => TransportDesc::Tcp(local),
                Protocol::Udp => TransportDesc::Udp(local),
            });
            links.push(Boxed::new(server));
        }
        slave.set_transports(serving.clone());
        let mut events = vec![event.id().0];
        events.extend(intermediate.as_ref().map(|e| e.id().0));
        events.extend(clock_events.iter().map(|e| e.id().0));
        let a2l = served_a2l(a2l_text, &slave.a2l_if_data(), &events).map_err(ServeError)?;
        slave.set_a2l_text(Some(a2l.clone()));

        for (name, value) in &options.starts {
            let Some(v) = model.variable(name) else {
                return fail(format!("--start {name}: the FMU has no variable {name}"));
            };
            let Some(vr) = v.value_reference else {
                return fail(format!(
                    "--start {name}: the variable has no valueReference"
                ));
            };
            if !matches!(
                v.causality.as_str(),
                "parameter" | "input" | "structuralParameter"
            ) || v.variability == "constant"
            {
                return fail(format!(
                    "--start {name}: a {} {} variable takes no start value",
                    v.variability, v.causality
                ));
            }
            loaded.set(vr, &v.ty, value).map_err(|e| {
                ServeError(format!("--start {name}={value}: {}", logged(&loaded, e)))
            })?;
        }
        loaded
            .initialize(start, stop_time)
            .map_err(|e| ServeError(format!("initialising the FMU: {}", logged(&loaded, e))))?;

        let mirrors = slave.mirrors();
        let server = match Boxed::join(links) {
            Some(link) => Some(
                Server::start(&slave, link)
                    .map_err(|e| ServeError(format!("starting the XCP service: {e}")))?,
            ),
            None => None,
        };
        let mut served = Self {
            server,
            serving,
            slave,
            mirrors,
            event,
            intermediate,
            clock_vrs,
            clock_events,
            regions,
            notes,
            a2l,
            model,
            token: token.to_owned(),
            start,
            step,
            stop_time,
            steps: 0,
            terminated: false,
            buffer: Vec::new(),
            image: loaded.image().clone(),
            loaded,
            _dir: dir,
        };
        served.slave.set_clock_ns(ns(start));
        let lock = served.mirrors.lock();
        let published = publish(&served.image, &served.regions, &lock, &mut served.buffer);
        drop(lock);
        published?;
        Ok(served)
    }

    /// The transports the service listens on.
    pub fn serving(&self) -> &[TransportDesc] {
        &self.serving
    }

    /// The A2L the service uploads.
    pub fn a2l(&self) -> &str {
        &self.a2l
    }

    /// The memory served: the A2L objects' extents joined.
    pub fn regions(&self) -> &[Region] {
        &self.regions
    }

    /// What the set-up noticed and the user should know (served read-only where the A2L
    /// says writable, …).
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// Where the FMU's binary is loaded, and the length of its image.
    pub fn image(&self) -> (usize, usize) {
        let i = self.loaded.image();
        (i.base(), i.len())
    }

    /// The slave, for its counters.
    pub const fn slave(&self) -> &Slave {
        &self.slave
    }

    /// The model description.
    pub const fn model(&self) -> &ModelDescription {
        &self.model
    }

    /// The current communication point, in seconds.
    #[allow(
        clippy::cast_precision_loss,
        reason = "step counts stay far below 2^52"
    )]
    pub fn time(&self) -> f64 {
        self.steps as f64 * self.step + self.start
    }

    /// The step size in seconds.
    pub const fn step_size(&self) -> f64 {
        self.step
    }

    /// Whether the stop time is reached.
    pub fn at_stop(&self) -> bool {
        self.stop_time
            .is_some_and(|stop| self.time() + self.step * 1e-6 >= stop)
    }

    /// What the FMU logged since the last call, and how many lines were dropped.
    pub fn take_log(&self) -> (Vec<String>, u64) {
        self.loaded.log()
    }

    /// One communication step: the master's writes into the FMU's memory, `DoStep`,
    /// the regions back into the slave, then the event (timestamp: the new communication
    /// point). `true` when the FMU asks to end the simulation.
    ///
    /// # Errors
    /// After termination; when the FMU's step fails (the simulation cannot go on).
    pub fn step(&mut self) -> Result<bool, ServeError> {
        if self.terminated {
            return fail("the FMU was terminated");
        }
        let t = self.time();
        let mut lock = self.mirrors.lock();
        for w in lock.take_writes() {
            let Some(r) = self.regions.get(w.region) else {
                continue;
            };
            self.loaded
                .write(r.offset as usize + w.offset, &w.bytes)
                .map_err(|e| ServeError(format!("a calibration write: {e}")))?;
        }
        let (image, regions, buffer, slave) =
            (&self.image, &self.regions, &mut self.buffer, &self.slave);
        let mut failed = None;
        let mut on_update = |time: f64| {
            // The FMU's variables may be read here: publish them and sample.
            if failed.is_none() {
                failed = publish(image, regions, &lock, buffer).err();
            }
            if let Some(e) = &self.intermediate {
                let now = ns(time);
                slave.set_clock_ns(now);
                e.trigger_at(&[], now);
            }
        };
        let handler: Option<&mut dyn FnMut(f64)> = if self.intermediate.is_some() {
            Some(&mut on_update)
        } else {
            None
        };
        let (mut end, event_needed) = self
            .loaded
            .do_step(t, self.step, handler)
            .map_err(|e| ServeError(format!("at {t} s: {}", logged(&self.loaded, e))))?;
        self.steps += 1;
        if let Some(e) = failed {
            return Err(e);
        }
        let now = ns(self.time());
        self.slave.set_clock_ns(now);
        if event_needed {
            // The clocks that ticked sample the variables as the event has them.
            let (image, regions, buffer, clocks) = (
                &self.image,
                &self.regions,
                &mut self.buffer,
                &self.clock_events,
            );
            let mut failed = None;
            end |= self
                .loaded
                .handle_events(&self.clock_vrs, &mut |ticked| {
                    failed = publish(image, regions, &lock, buffer).err();
                    for (e, &t) in clocks.iter().zip(ticked) {
                        if t {
                            e.trigger_at(&[], now);
                        }
                    }
                })
                .map_err(|e| {
                    ServeError(format!(
                        "events at {} s: {}",
                        self.time(),
                        logged(&self.loaded, e)
                    ))
                })?;
            if let Some(e) = failed {
                return Err(e);
            }
        }
        let published = publish(&self.image, &self.regions, &lock, &mut self.buffer);
        drop(lock);
        published?;
        self.event.trigger_at(&[], now);
        Ok(end)
    }

    /// The FMU's Float64 (FMI 2.0: Real) variables `names` now (through `fmi3GetFloat64` or
    /// `fmi2GetReal`).
    ///
    /// # Errors
    /// A name that is no Float64 variable; a failing call.
    pub fn get_f64(&mut self, names: &[&str]) -> Result<Vec<f64>, ServeError> {
        let vrs = names
            .iter()
            .map(|n| match self.model.variable(n) {
                Some(v) if is_float64(&v.ty) && v.scalar => v
                    .value_reference
                    .ok_or_else(|| ServeError(format!("{n} has no valueReference"))),
                Some(v) => fail(format!("{n} is a {} variable, not a Float64 scalar", v.ty)),
                None => fail(format!("the FMU has no variable {n}")),
            })
            .collect::<Result<Vec<u32>, ServeError>>()?;
        self.loaded.get_f64(&vrs).map_err(ServeError)
    }

    /// Steps paced against the wall clock (`speed` 1.0 is real time; `None` as fast as
    /// possible) until the stop time, the FMU's request to end, or `stop`; `each` runs after
    /// every step (to log, record outputs). Returns the steps taken.
    ///
    /// # Errors
    /// A failing step.
    pub fn run(
        &mut self,
        speed: Option<f64>,
        stop: &AtomicBool,
        mut each: impl FnMut(&mut Self),
    ) -> Result<u64, ServeError> {
        let (wall0, t0) = (Instant::now(), self.time());
        let mut taken = 0;
        while !stop.load(Ordering::Relaxed) && !self.at_stop() {
            if let Some(speed) = speed.filter(|s| *s > 0.0) {
                let due = wall0 + Duration::from_secs_f64(((self.time() - t0) / speed).max(0.0));
                // Wait in short slices so a stop request is seen promptly (parking may
                // end early; the loop looks at the clock again).
                loop {
                    let now = Instant::now();
                    if now >= due || stop.load(Ordering::Relaxed) {
                        break;
                    }
                    std::thread::park_timeout((due - now).min(Duration::from_millis(20)));
                }
                if stop.load(Ordering::Relaxed) {
                    break;
                }
            }
            let end = self.step()?;
            taken += 1;
            each(self);
            if end {
                break;
            }
        }
        Ok(taken)
    }

    /// `Terminate`; the service stops. Dropping without it does the same.
    ///
    /// # Errors
    /// When the FMU's Terminate fails.
    pub fn terminate(&mut self) -> Result<(), ServeError> {
        if let Some(server) = self.server.take() {
            server.stop();
        }
        if self.terminated {
            return Ok(());
        }
        self.terminated = true;
        self.loaded.terminate().map_err(ServeError)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.terminate();
        served_tokens().retain(|t| t != &self.token);
    }
}

/// A failed FMI call's text with what the FMU logged about it.
fn logged(loaded: &Loaded, error: String) -> String {
    let (lines, _) = loaded.log();
    if lines.is_empty() {
        error
    } else {
        format!("{error}; the FMU logged: {}", lines.join("; "))
    }
}

/// The output clocks of an FMI 3.0 FMU with Event Mode (name, value reference): each gets
/// an event; none when the FMU has no Event Mode.
fn output_clocks(model: &ModelDescription) -> Vec<(String, u32)> {
    if !model.is_fmi3() || !model.has_event_mode {
        return Vec::new();
    }
    model
        .variables
        .iter()
        .filter(|v| v.ty == "Clock" && v.causality == "output")
        .filter_map(|v| Some((v.name.clone(), v.value_reference?)))
        .collect()
}

/// Whether a variable's type is a 64-bit float: FMI 3.0 `Float64`, FMI 2.0 `Real`.
pub fn is_float64(ty: &str) -> bool {
    matches!(ty, "Float64" | "Real")
}

/// Copies every region of the image into the slave's copy.
fn publish(
    image: &Image,
    regions: &[Region],
    lock: &xcp_slave::MirrorLock<'_>,
    buffer: &mut Vec<u8>,
) -> Result<(), ServeError> {
    for (n, r) in regions.iter().enumerate() {
        buffer.resize(r.len, 0);
        image
            .read(r.offset as usize, buffer)
            .map_err(|e| ServeError(format!("reading the FMU's memory: {e}")))?;
        if !lock.publish(n, 0, buffer) {
            return fail(format!("region {n} does not take its own bytes (a bug)"));
        }
    }
    Ok(())
}

/// The extents of the A2L's objects that have an address.
fn extents(a2l: &xcp_a2l::A2l) -> Vec<Extent> {
    a2l.names()
        .filter_map(|(name, _)| {
            let o = a2l.object(&name).ok()?;
            let a = o.address?;
            let size = o.size() as u64;
            (size > 0).then(|| Extent {
                ext: a.ext,
                start: u64::from(a.addr),
                end: u64::from(a.addr) + size,
                writable: o.writable,
                name,
            })
        })
        .collect()
}

/// Joins overlapping or touching extents (per address extension) into regions.
#[allow(
    clippy::cast_possible_truncation,
    reason = "A2L addresses are 32-bit, so every extent ends at or below 2^32"
)]
fn join(extents: &[Extent]) -> Vec<Region> {
    let mut sorted: Vec<&Extent> = extents.iter().collect();
    sorted.sort_by_key(|e| (e.ext, e.start));
    let mut out: Vec<(u8, u64, u64, bool, usize)> = Vec::new();
    for e in sorted {
        match out.last_mut() {
            Some(last) if last.0 == e.ext && e.start <= last.2 => {
                last.2 = last.2.max(e.end);
                last.3 |= e.writable;
                last.4 += 1;
            }
            _ => out.push((e.ext, e.start, e.end, e.writable, 1)),
        }
    }
    out.into_iter()
        .map(|(ext, start, end, writable, objects)| Region {
            ext,
            offset: start as u32,
            len: (end - start) as usize,
            writable,
            objects,
        })
        .collect()
}

/// One token of an A2L text: its byte range.
#[derive(Debug, Clone, Copy)]
struct Token {
    start: usize,
    end: usize,
}

/// The tokens of an A2L text outside comments (strings are one token each).
fn tokens(text: &str) -> Vec<Token> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if b[i..].starts_with(b"/*") {
            i = text[i + 2..].find("*/").map_or(b.len(), |n| i + 2 + n + 2);
        } else if b[i..].starts_with(b"//") {
            i = text[i..].find('\n').map_or(b.len(), |n| i + n + 1);
        } else if c == b'"' {
            let start = i;
            i += 1;
            while i < b.len() && b[i] != b'"' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i = (i + 1).min(b.len());
            out.push(Token { start, end: i });
        } else {
            let start = i;
            while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b'"' {
                i += 1;
            }
            out.push(Token { start, end: i });
        }
    }
    out
}

/// The FMU's A2L with the first module's IF_DATA XCP replaced by `if_data`, the XCP A2ML
/// added after the module's header when the module declares none, and each MEASUREMENT
/// without an IF_DATA XCP of its own given `events` (one: a fixed list; more: all
/// available, the first the default).
///
/// # Errors
/// A text without a complete MODULE, or with blocks that do not nest.
fn served_a2l(text: &str, if_data: &str, events: &[u16]) -> Result<String, String> {
    let list = |events: &[u16]| {
        events
            .iter()
            .map(|e| format!("EVENT {e}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let daq_event = match events {
        [] => String::new(),
        [one] => format!(
            "/begin IF_DATA XCP /begin DAQ_EVENT FIXED_EVENT_LIST EVENT {one} /end DAQ_EVENT /end IF_DATA\n"
        ),
        [first, ..] => format!(
            "/begin IF_DATA XCP /begin DAQ_EVENT VARIABLE /begin AVAILABLE_EVENT_LIST {} /end AVAILABLE_EVENT_LIST /begin DEFAULT_EVENT_LIST EVENT {first} /end DEFAULT_EVENT_LIST /end DAQ_EVENT /end IF_DATA\n",
            list(events)
        ),
    };
    struct Open<'a> {
        name: &'a str,
        at: usize,
        has_xcp: bool,
    }
    let toks = tokens(text);
    let word = |t: &Token| &text[t.start..t.end];
    let mut stack: Vec<Open<'_>> = Vec::new();
    let mut edits: Vec<(usize, usize, String)> = Vec::new();
    let mut header_end = None;
    let mut module_end = None;
    let mut has_a2ml = false;
    let mut modules = 0;
    let in_first_module = |stack: &[Open<'_>], modules: usize| {
        stack.len() == 2 && stack[1].name == "MODULE" && modules == 1
    };
    let mut i = 0;
    while i < toks.len() {
        match word(&toks[i]) {
            "/begin" if i + 1 < toks.len() => {
                let name = word(&toks[i + 1]);
                if name == "MODULE" && stack.len() == 1 {
                    modules += 1;
                    if modules == 1 {
                        // `/begin MODULE name "long identifier"`.
                        header_end = toks.get(i + 3).map(|t| t.end);
                    }
                }
                if in_first_module(&stack, modules) && name == "A2ML" {
                    has_a2ml = true;
                }
                if name == "IF_DATA"
                    && toks.get(i + 2).is_some_and(|t| word(t) == "XCP")
                    && let Some(parent) = stack.last_mut()
                {
                    parent.has_xcp = true;
                }
                stack.push(Open {
                    name,
                    at: i,
                    has_xcp: false,
                });
                i += 2;
            }
            "/end" if i + 1 < toks.len() => {
                let name = word(&toks[i + 1]);
                let Some(open) = stack.pop() else {
                    return Err(format!("the A2L has /end {name} without /begin"));
                };
                if open.name != name {
                    return Err(format!(
                        "the A2L's /begin {} ends with /end {name}",
                        open.name
                    ));
                }
                if in_first_module(&stack, modules) {
                    if name == "IF_DATA" && toks.get(open.at + 2).is_some_and(|t| word(t) == "XCP")
                    {
                        edits.push((toks[open.at].start, toks[i + 1].end, String::new()));
                    }
                    if name == "MEASUREMENT" && !open.has_xcp && !daq_event.is_empty() {
                        edits.push((toks[i].start, toks[i].start, daq_event.clone()));
                    }
                }
                if name == "MODULE" && stack.len() == 1 && modules == 1 && module_end.is_none() {
                    module_end = Some(toks[i].start);
                }
                i += 2;
            }
            _ => i += 1,
        }
    }
    let (Some(header_end), Some(module_end)) = (header_end, module_end) else {
        return Err("the A2L has no complete MODULE".into());
    };
    if !has_a2ml {
        let mut a2ml = String::from("\n/begin A2ML\n");
        a2ml.push_str(xcp_proto::a2ml::XCP_A2ML);
        a2ml.push_str("\n/end A2ML");
        edits.push((header_end, header_end, a2ml));
    }
    edits.push((module_end, module_end, format!("{}\n", if_data.trim_end())));
    edits.sort_by_key(|e| std::cmp::Reverse(e.0));
    let mut out = text.to_owned();
    for (s, e, with) in edits {
        out.replace_range(s..e, &with);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A2L: &str = r#"ASAP2_VERSION 1 71
/begin PROJECT p ""
/begin MODULE m "a \"quoted\" /begin IF_DATA XCP"
/* /begin IF_DATA XCP in a comment */
/begin IF_DATA XCP /begin PROTOCOL_LAYER 1 /end PROTOCOL_LAYER /end IF_DATA
/begin IF_DATA CANAPE x /end IF_DATA
/begin MEASUREMENT s "" UBYTE NO_COMPU_METHOD 0 0 0 255
  /begin IF_DATA XCP /begin DAQ_EVENT FIXED_EVENT_LIST EVENT 0 /end DAQ_EVENT /end IF_DATA
/end MEASUREMENT
/begin MEASUREMENT t "" UBYTE NO_COMPU_METHOD 0 0 0 255
/end MEASUREMENT
/end MODULE
/end PROJECT
"#;

    #[test]
    fn the_module_if_data_xcp_is_replaced_and_the_a2ml_added() {
        let out = served_a2l(A2L, "/begin IF_DATA XCP NEW /end IF_DATA", &[7]).expect("spliced");
        assert!(!out.contains("PROTOCOL_LAYER 1"), "{out}");
        assert!(out.contains("/begin MEASUREMENT t \"\" UBYTE NO_COMPU_METHOD 0 0 0 255\n/begin IF_DATA XCP /begin DAQ_EVENT FIXED_EVENT_LIST EVENT 7 /end DAQ_EVENT /end IF_DATA\n/end MEASUREMENT"), "{out}");
        assert_eq!(
            out.matches("DAQ_EVENT FIXED").count(),
            2,
            "a measurement with its own keeps it"
        );
        assert!(
            out.contains("/begin IF_DATA XCP NEW /end IF_DATA\n/end MODULE"),
            "{out}"
        );
        assert!(
            out.contains("/begin IF_DATA CANAPE x /end IF_DATA"),
            "others stay"
        );
        assert!(
            out.contains("FIXED_EVENT_LIST EVENT 0"),
            "object IF_DATA stays"
        );
        assert!(
            out.contains("a \\\"quoted\\\" /begin IF_DATA XCP\"\n/begin A2ML\n"),
            "{out}"
        );
        assert!(out.contains("/* /begin IF_DATA XCP in a comment */"));
        assert_eq!(out.matches("/begin A2ML").count(), 1);
        // An A2L that declares its A2ML keeps it.
        let with = A2L.replace(
            "/begin IF_DATA CANAPE",
            "/begin A2ML x /end A2ML\n/begin IF_DATA CANAPE",
        );
        let out =
            served_a2l(&with, "/begin IF_DATA XCP NEW /end IF_DATA", &[0, 1]).expect("spliced");
        assert_eq!(out.matches("/begin A2ML").count(), 1);
        assert!(out.contains("/begin MEASUREMENT t \"\" UBYTE NO_COMPU_METHOD 0 0 0 255\n/begin IF_DATA XCP /begin DAQ_EVENT VARIABLE /begin AVAILABLE_EVENT_LIST EVENT 0 EVENT 1 /end AVAILABLE_EVENT_LIST /begin DEFAULT_EVENT_LIST EVENT 0 /end DEFAULT_EVENT_LIST /end DAQ_EVENT /end IF_DATA\n/end MEASUREMENT"), "{out}");
        assert!(served_a2l("ASAP2_VERSION 1 71", "", &[0]).is_err());
        assert!(
            served_a2l(
                "/begin PROJECT p \"\" /begin MODULE m \"\" /end PROJECT",
                "",
                &[0]
            )
            .is_err()
        );
    }

    #[test]
    fn the_shared_corpus_is_served_with_our_if_data_and_loads() {
        // A slave with two events and TCP at port 4711: its IF_DATA XCP replaces each file's.
        let mut b = Slave::builder("corpus");
        b.event(EVENT_NAME, Some(Duration::from_millis(1)), 0)
            .expect("event");
        b.event(INTERMEDIATE_EVENT_NAME, None, 0).expect("event");
        let slave = b.build().expect("slave");
        slave.set_transports(vec![TransportDesc::Tcp(SocketAddr::from((
            [127, 0, 0, 1],
            4711,
        )))]);
        let if_data = slave.a2l_if_data();
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/a2l");
        let mut served = 0;
        for entry in std::fs::read_dir(&dir).expect("the shared corpus") {
            let path = entry.expect("entry").path();
            if path.extension().is_none_or(|x| x != "a2l") {
                continue;
            }
            // XCPlite's files /include their A2ML; served FMU A2Ls have none, so the line
            // goes (the splice then adds our A2ML).
            let text: String = std::fs::read_to_string(&path)
                .expect("text")
                .lines()
                .filter(|l| !l.trim_start().starts_with("/include"))
                .map(|l| format!("{l}\n"))
                .collect();
            let opts = xcp_a2l::LoadOptions::default();
            let (before, _) = xcp_a2l::A2l::from_text(&text, &opts)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let out = served_a2l(&text, &if_data, &[0, 1])
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let (after, _) = xcp_a2l::A2l::from_text(&out, &opts)
                .unwrap_or_else(|e| panic!("{} served: {e}", path.display()));
            let xcp = after.xcp();
            assert!(
                xcp.transports.iter().any(|t| matches!(
                    t,
                    xcp_a2l::ifdata::Transport::Ip {
                        port: Some(4711),
                        ..
                    }
                )),
                "{}: our transport",
                path.display()
            );
            assert_eq!(
                xcp.daq.as_ref().map(|d| d.events.len()),
                Some(2),
                "{}: our events",
                path.display()
            );
            assert_eq!(after.counts(), before.counts(), "{}", path.display());
            // MEASUREMENT blocks get the events; instance members keep what they had.
            for (name, kind) in before.names() {
                if kind != xcp_a2l::ObjectKind::Measurement
                    || !text.contains(&format!("/begin MEASUREMENT {name} "))
                {
                    continue;
                }
                let (b, a) = (
                    before.object(&name).expect("before"),
                    after.object(&name).expect("after"),
                );
                assert_eq!(a.address, b.address, "{name}");
                let want = if b.events.is_empty() {
                    vec![0, 1]
                } else {
                    b.events
                };
                assert_eq!(a.events, want, "{}: {name}", path.display());
            }
            served += 1;
        }
        assert!(served >= 5, "{served} corpus files served");
    }

    #[test]
    fn touching_and_overlapping_extents_join_per_extension() {
        let e = |ext, start, end, writable| Extent {
            ext,
            start,
            end,
            writable,
            name: String::new(),
        };
        let regions = join(&[
            e(0, 16, 20, false),
            e(0, 0, 8, true),
            e(0, 8, 12, false),
            e(0, 10, 14, false),
            e(1, 12, 16, false),
        ]);
        let got: Vec<_> = regions
            .iter()
            .map(|r| (r.ext, r.offset, r.len, r.writable, r.objects))
            .collect();
        assert_eq!(
            got,
            [
                (0, 0, 14, true, 3),
                (0, 16, 4, false, 1),
                (1, 12, 4, false, 1)
            ]
        );
    }
}
