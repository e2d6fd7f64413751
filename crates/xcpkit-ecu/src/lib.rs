//! The engine-and-vehicle model of the virtual ECU.
//!
//! Three periodic tasks (1 ms engine, 10 ms vehicle, 100 ms body) compute their signals into a
//! `#[repr(C)]` structure each and trigger their event with it, so every signal is an
//! event-relative measurement (address extension 2). Each task also increments its
//! loss-detection counter (`counter_1ms`, `counter_10ms`, `counter_100ms`: u32 global
//! variables at absolute addresses, extension 1) by exactly one per cycle, before the
//! trigger. The calibration segment `params` drives the model: pedal profile → throttle curve
//! → engine speed → torque map → vehicle speed, plus a test wave and the cooling fan.
//! With [`Stress`] a fourth thread fires the `stress` event back to back.
//!
//! `xcpkit ecu` serves it over TCP and UDP, `xcpkit demo` runs it in-process; any program
//! can do the same:
//!
//! ```
//! use std::time::Duration;
//! use xcp_slave::SlaveConfig;
//! use xcpkit_ecu::Ecu;
//!
//! let ecu = Ecu::build(SlaveConfig::default(), None)?;
//! // The slave describes the model in its A2L (GET_ID 4 uploads the same text).
//! assert!(ecu.slave.a2l().contains("/begin MEASUREMENT engine_speed"));
//! let tasks = ecu.start(None)?; // the 1 ms, 10 ms and 100 ms tasks run
//! // … serve `ecu.slave` with `xcp_slave::Server::start(&ecu.slave, transport)` …
//! std::thread::sleep(Duration::from_millis(30));
//! let cycles = tasks.stop();
//! assert!(cycles.task_1ms >= cycles.task_10ms && cycles.task_10ms >= cycles.task_100ms);
//! println!("{} cycles of the 1 ms task", cycles.task_1ms);
//! # Ok::<(), xcpkit_ecu::Error>(())
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytemuck::{Pod, Zeroable};
use xcp_slave::{
    CalSeg, CharKind, ElementType, Event, EventId, Field, FlashConfig, Global, Meta, SeedKey,
    Slave, SlaveBuilder, SlaveConfig, StructType,
};

/// The A2L module name of the ECU.
pub const NAME: &str = "xcpkit_ecu";
/// The secret of the demo seed & key algorithm `--seed-key` uses (documented in the README).
pub const SEED_KEY_SECRET: &[u8] = b"xcpkit";

/// Points of the pedal → throttle curve.
const CURVE_POINTS: usize = 8;
/// Engine-speed points of the torque map.
const MAP_X: usize = 8;
/// Throttle points of the torque map.
const MAP_Y: usize = 6;

/// The calibration parameters (segment `params`).
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
#[repr(C)]
pub(crate) struct Params {
    pub(crate) idle_rpm: f32,
    pub(crate) max_rpm: f32,
    /// Engine speed per % throttle above idle.
    pub(crate) rpm_per_throttle: f32,
    /// Time constant of the engine speed in seconds.
    pub(crate) rpm_time_constant: f32,
    pub(crate) wave_amplitude: f32,
    pub(crate) wave_frequency: f32,
    pub(crate) pedal_period: f32,
    pub(crate) ambient_temp: f32,
    pub(crate) fan_on_temp: f32,
    pub(crate) vehicle_mass: f32,
    pub(crate) drag_coefficient: f32,
    /// 1: the engine speed is limited to `max_rpm`.
    pub(crate) limiter_on: u8,
    pub(crate) _pad: [u8; 3],
    pub(crate) pedal_axis: [f32; CURVE_POINTS],
    pub(crate) throttle_curve: [f32; CURVE_POINTS],
    pub(crate) map_rpm_axis: [f32; MAP_X],
    pub(crate) map_throttle_axis: [f32; MAP_Y],
    /// Torque over engine speed (x) and throttle (y), `[x * MAP_Y + y]`.
    pub(crate) torque_map: [f32; MAP_X * MAP_Y],
}

/// The size in bytes of the calibration parameters (segment `params`): what
/// [`Stepper::param_bytes`] returns and [`Stepper::advance_to_with`] takes.
pub const PARAMS_SIZE: usize = size_of::<Params>();
const _: () = assert!(
    PARAMS_SIZE.is_multiple_of(4),
    "a record of 32-bit words and bytes"
);

const PARAMS: Params = Params {
    idle_rpm: 800.0,
    max_rpm: 6500.0,
    rpm_per_throttle: 55.0,
    rpm_time_constant: 0.3,
    wave_amplitude: 1.0,
    wave_frequency: 0.5,
    pedal_period: 20.0,
    ambient_temp: 20.0,
    fan_on_temp: 95.0,
    vehicle_mass: 1400.0,
    drag_coefficient: 0.4,
    limiter_on: 1,
    _pad: [0; 3],
    pedal_axis: [0.0, 10.0, 20.0, 30.0, 50.0, 70.0, 90.0, 100.0],
    throttle_curve: [0.0, 4.0, 10.0, 18.0, 35.0, 60.0, 88.0, 100.0],
    map_rpm_axis: [
        800.0, 1500.0, 2000.0, 2500.0, 3500.0, 4500.0, 5500.0, 6500.0,
    ],
    map_throttle_axis: [0.0, 20.0, 40.0, 60.0, 80.0, 100.0],
    torque_map: [
        0.0, 40.0, 70.0, 95.0, 110.0, 120.0, //  800 rpm
        0.0, 60.0, 100.0, 130.0, 150.0, 160.0, // 1500
        0.0, 70.0, 120.0, 160.0, 185.0, 200.0, // 2000
        0.0, 75.0, 130.0, 175.0, 205.0, 225.0, // 2500
        0.0, 75.0, 135.0, 185.0, 220.0, 245.0, // 3500
        0.0, 70.0, 130.0, 180.0, 215.0, 240.0, // 4500
        0.0, 60.0, 115.0, 160.0, 195.0, 215.0, // 5500
        0.0, 45.0, 90.0, 130.0, 160.0, 180.0, //  6500
    ],
};

/// Signals of the 1 ms engine task.
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
#[repr(C)]
struct Engine {
    engine_speed: f64,
    engine_cycles: u64,
    throttle: f32,
    pedal: f32,
    torque: f32,
    crank_angle: f32,
    lambda: f32,
    injection_time: u32,
    knock_level: u16,
    manifold_pressure_delta: i16,
    spark_advance: i8,
    misfire_count: u8,
    rev_limiter: u8,
    _pad: u8,
}

/// Signals of the 10 ms vehicle task.
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
#[repr(C)]
struct Vehicle {
    odometer: f64,
    sine_wave: f64,
    wheel_speeds: [f32; 4],
    vehicle_speed: f32,
    acceleration: f32,
    coolant_temp: f32,
    steering_angle: i32,
    oil_pressure: u16,
    battery_voltage: u16,
    yaw_rate: i16,
    sawtooth: u16,
    gear: u8,
    fuel_level: u8,
    square_wave: i8,
    _pad: [u8; 5],
}

/// The cabin climate structure (a TYPEDEF_STRUCTURE instance in the A2L).
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
#[repr(C)]
struct Cabin {
    temperature: f32,
    pressure: u16,
    humidity: u8,
    door_open: u8,
}

/// Signals of the 100 ms body task.
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
#[repr(C)]
struct Body {
    uptime: u64,
    energy: i64,
    ambient_temp: f32,
    status_word: u32,
    cabin: Cabin,
    fan_duty: u8,
    _pad: [u8; 7],
}

/// How the stress loop fires its event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stress {
    /// As fast as the transmit queue drains: it waits while the queue is half full.
    Paced,
    /// Back to back, overrunning the queue (drops counted, overload indicated).
    Overrun,
}

/// Signals of the stress event.
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
#[repr(C)]
struct StressSignals {
    stress_time: u64,
    stress_counter: u32,
    stress_values: [f32; 5],
    /// Bulk for throughput runs: byte 0 is the counter's low byte, byte i > 0 holds i.
    stress_block: [u8; 224],
}

impl Default for StressSignals {
    fn default() -> Self {
        Self::zeroed()
    }
}

/// Shared between the tasks: what one computes and another uses, as f64 bits.
#[derive(Default)]
struct Bus {
    torque: AtomicU64,
    engine_speed: AtomicU64,
    coolant_temp: AtomicU64,
}

fn put(a: &AtomicU64, v: f64) {
    a.store(v.to_bits(), Ordering::Relaxed);
}

fn get(a: &AtomicU64) -> f64 {
    f64::from_bits(a.load(Ordering::Relaxed))
}

/// The built ECU: the slave and the handles its tasks use.
pub struct Ecu {
    /// The slave the model is registered with: serve it with `xcp_slave::Server`.
    pub slave: Slave,
    params: CalSeg<Params>,
    events: [EventId; 4],
    counters: [Global<u32>; 3],
}

/// Running tasks; [`Tasks::stop`] ends them.
pub struct Tasks {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<u64>>,
}

impl Tasks {
    /// Stops and joins the tasks; returns how often each ran.
    pub fn stop(self) -> Cycles {
        self.stop.store(true, Ordering::Relaxed);
        let mut counts = [0u64; 4];
        for (i, t) in self.threads.into_iter().enumerate() {
            let n = t.join().unwrap_or_else(|_| {
                tracing::error!("an ECU task panicked");
                0
            });
            if let Some(c) = counts.get_mut(i) {
                *c = n;
            }
        }
        let [task_1ms, task_10ms, task_100ms, stress] = counts;
        Cycles {
            task_1ms,
            task_10ms,
            task_100ms,
            stress,
        }
    }
}

/// How often the tasks ran, from [`Tasks::stop`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cycles {
    /// Cycles of the 1 ms engine task.
    pub task_1ms: u64,
    /// Cycles of the 10 ms vehicle task.
    pub task_10ms: u64,
    /// Cycles of the 100 ms body task.
    pub task_100ms: u64,
    /// Triggers of the `stress` event (0 without [`Stress`]).
    pub stress: u64,
}

/// Why the model could not be built, started or served.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The transport could not be opened (the address in use, not local).
    #[error("serving the ECU: {0}")]
    Transport(#[from] xcp_transport::TransportError),
    /// The slave refused a registration (a bug in the model, or a configuration too small
    /// for it).
    #[error("registering the ECU model with the slave: {0}")]
    Slave(#[from] xcp_slave::Error),
    /// A task's thread could not be started.
    #[error("cannot start the {task} task: {source}")]
    Thread {
        /// The task.
        task: String,
        /// The OS error.
        source: std::io::Error,
    },
}

fn field(
    name: &str,
    offset: usize,
    ty: ElementType,
    meta: Meta,
) -> (String, usize, ElementType, u16, Meta) {
    (name.to_owned(), offset, ty, 1, meta)
}

fn array(
    name: &str,
    offset: usize,
    ty: ElementType,
    len: u16,
    meta: Meta,
) -> (String, usize, ElementType, u16, Meta) {
    (name.to_owned(), offset, ty, len, meta)
}

/// A scalar signal named after its field: `sig!(Engine, torque, F32, meta)`.
macro_rules! sig {
    ($t:ty, $f:ident, $ty:ident, $meta:expr $(,)?) => {
        field(stringify!($f), off!($t, $f), ElementType::$ty, $meta)
    };
}

macro_rules! off {
    ($t:ty, $f:ident) => {
        core::mem::offset_of!($t, $f)
    };
}

impl Ecu {
    /// Registers the model with a slave of `config`: the four events, the loss-detection
    /// counters, the signals of each task, the `Cabin` structure, and the `params`
    /// calibration segment with its characteristics.
    ///
    /// # Errors
    /// [`Error::Slave`] when the slave refuses a registration.
    pub fn build(config: SlaveConfig, seed_key: Option<Box<dyn SeedKey>>) -> Result<Self, Error> {
        let mut b = Slave::builder(NAME)
            .epk(&format!("xcpkit ecu {}", env!("CARGO_PKG_VERSION")))
            .config(config)
            .flash(FlashConfig::default());
        if let Some(sk) = seed_key {
            b = b.seed_key(sk);
        }
        let ms = Duration::from_millis;
        let events = [
            b.event("1ms", Some(ms(1)), 3)?,
            b.event("10ms", Some(ms(10)), 2)?,
            b.event("100ms", Some(ms(100)), 1)?,
            b.event("stress", None, 0)?,
        ];
        let counters = register_counters(&mut b, events)?;
        register_signals(&mut b, events)?;
        register_cabin(&mut b, events[2])?;
        let params = register_params(&mut b)?;
        let slave = b.build()?;
        Ok(Self {
            slave,
            params,
            events,
            counters,
        })
    }
}

/// The u32 loss-detection counters of the three periodic tasks, at absolute addresses.
fn register_counters(
    b: &mut SlaveBuilder,
    [e1, e10, e100, _]: [EventId; 4],
) -> Result<[Global<u32>; 3], Error> {
    Ok([
        b.global::<u32>(
            "counter_1ms",
            Some(e1),
            Meta::new("cycles of the 1 ms task"),
        )?,
        b.global::<u32>(
            "counter_10ms",
            Some(e10),
            Meta::new("cycles of the 10 ms task"),
        )?,
        b.global::<u32>(
            "counter_100ms",
            Some(e100),
            Meta::new("cycles of the 100 ms task"),
        )?,
    ])
}

/// Every task's signals, event-relative in its `#[repr(C)]` structure.
fn register_signals(b: &mut SlaveBuilder, [e1, e10, e100, es]: [EventId; 4]) -> Result<(), Error> {
    let pct = || Meta::new("").unit("%").limits(0.0, 100.0);
    let on_off = |c: &str| Meta::new(c).verbal(&[(0, "off"), (1, "on")], "invalid");
    let engine = [
        sig!(
            Engine,
            engine_speed,
            F64,
            Meta::new("engine speed").unit("rpm")
        ),
        sig!(
            Engine,
            engine_cycles,
            U64,
            Meta::new("crankshaft revolutions")
        ),
        sig!(
            Engine,
            throttle,
            F32,
            Meta {
                comment: "throttle position (from throttle_curve)".into(),
                ..pct()
            }
        ),
        sig!(
            Engine,
            pedal,
            F32,
            Meta {
                comment: "accelerator pedal".into(),
                ..pct()
            }
        ),
        sig!(
            Engine,
            torque,
            F32,
            Meta::new("engine torque (from torque_map)").unit("Nm")
        ),
        sig!(
            Engine,
            crank_angle,
            F32,
            Meta::new("crankshaft angle").unit("deg")
        ),
        sig!(Engine, lambda, F32, Meta::new("air-fuel ratio")),
        sig!(
            Engine,
            injection_time,
            U32,
            Meta::new("injection time").unit("us")
        ),
        sig!(Engine, knock_level, U16, Meta::new("knock sensor level")),
        sig!(
            Engine,
            manifold_pressure_delta,
            I16,
            Meta::new("manifold pressure minus ambient").unit("hPa")
        ),
        sig!(
            Engine,
            spark_advance,
            I8,
            Meta::new("spark advance").unit("deg")
        ),
        sig!(Engine, misfire_count, U8, Meta::new("misfires (wrapping)")),
        sig!(Engine, rev_limiter, U8, on_off("rev limiter active")),
    ];
    let vehicle = [
        sig!(
            Vehicle,
            odometer,
            F64,
            Meta::new("distance driven").unit("m")
        ),
        sig!(
            Vehicle,
            sine_wave,
            F64,
            Meta::new("test wave: wave_amplitude * sin(2 pi wave_frequency t)")
        ),
        array(
            "wheel_speeds",
            off!(Vehicle, wheel_speeds),
            ElementType::F32,
            4,
            Meta::new("wheel speeds FL FR RL RR").unit("km/h"),
        ),
        sig!(
            Vehicle,
            vehicle_speed,
            F32,
            Meta::new("vehicle speed").unit("km/h")
        ),
        sig!(
            Vehicle,
            acceleration,
            F32,
            Meta::new("longitudinal acceleration").unit("m/s^2")
        ),
        sig!(
            Vehicle,
            coolant_temp,
            F32,
            Meta::new("coolant temperature").unit("degC")
        ),
        sig!(
            Vehicle,
            steering_angle,
            I32,
            Meta::new("steering wheel angle")
                .unit("deg")
                .linear(0.001, 0.0)
        ),
        sig!(
            Vehicle,
            oil_pressure,
            U16,
            Meta::new("oil pressure").unit("bar").linear(0.01, 0.0)
        ),
        sig!(
            Vehicle,
            battery_voltage,
            U16,
            Meta::new("battery voltage").unit("V").linear(0.001, 0.0)
        ),
        sig!(
            Vehicle,
            yaw_rate,
            I16,
            Meta::new("yaw rate").unit("deg/s").linear(0.01, 0.0)
        ),
        sig!(Vehicle, sawtooth, U16, Meta::new("test sawtooth 0..999")),
        sig!(
            Vehicle,
            gear,
            U8,
            Meta::new("gear").verbal(
                &[
                    (0, "N"),
                    (1, "1"),
                    (2, "2"),
                    (3, "3"),
                    (4, "4"),
                    (5, "5"),
                    (6, "6"),
                ],
                "invalid"
            ),
        ),
        sig!(
            Vehicle,
            fuel_level,
            U8,
            Meta {
                comment: "fuel level".into(),
                ..pct()
            }
        ),
        sig!(
            Vehicle,
            square_wave,
            I8,
            Meta::new("test square wave -1/+1")
        ),
    ];
    let body = [
        sig!(Body, uptime, U64, Meta::new("time since start").unit("ms")),
        sig!(
            Body,
            energy,
            I64,
            Meta::new("energy delivered by the engine").unit("J")
        ),
        sig!(
            Body,
            ambient_temp,
            F32,
            Meta::new("ambient temperature").unit("degC")
        ),
        sig!(
            Body,
            status_word,
            U32,
            Meta::new("status bits: 0 running, 1 fan, 2 limiter, 3 door")
        ),
        sig!(
            Body,
            fan_duty,
            U8,
            Meta {
                comment: "cooling fan duty".into(),
                ..pct()
            }
        ),
    ];
    let stress = [
        sig!(
            StressSignals,
            stress_time,
            U64,
            Meta::new("stress event time").unit("ns")
        ),
        sig!(
            StressSignals,
            stress_counter,
            U32,
            Meta::new("stress event count (wrapping)")
        ),
        array(
            "stress_values",
            off!(StressSignals, stress_values),
            ElementType::F32,
            5,
            Meta::new("stress payload"),
        ),
        array(
            "stress_block",
            off!(StressSignals, stress_block),
            ElementType::U8,
            224,
            Meta::new("stress bulk payload (byte 0 = counter low byte, byte i = i)"),
        ),
    ];
    for (event, fields) in [
        (e1, &engine[..]),
        (e10, &vehicle[..]),
        (e100, &body[..]),
        (es, &stress[..]),
    ] {
        for (name, offset, ty, len, meta) in fields.iter().cloned() {
            b.measurement(event, &name, offset, ty, len, meta)?;
        }
    }
    Ok(())
}

/// The `Cabin` structure type and its instance `cabin`, part of the body task's signals.
fn register_cabin(b: &mut SlaveBuilder, e100: EventId) -> Result<(), Error> {
    b.struct_type(StructType {
        name: "Cabin".into(),
        // A handful of bytes: the conversion cannot fail.
        size: u32::try_from(size_of::<Cabin>()).unwrap_or(u32::MAX),
        fields: vec![
            Field::scalar(
                "temperature",
                off!(Cabin, temperature),
                ElementType::F32,
                Meta::new("cabin temperature").unit("degC"),
            ),
            Field::scalar(
                "pressure",
                off!(Cabin, pressure),
                ElementType::U16,
                Meta::new("cabin pressure").unit("hPa"),
            ),
            Field::scalar(
                "humidity",
                off!(Cabin, humidity),
                ElementType::U8,
                Meta::new("relative humidity").unit("%"),
            ),
            Field::scalar(
                "door_open",
                off!(Cabin, door_open),
                ElementType::U8,
                Meta::new("a door is open").verbal(&[(0, "closed"), (1, "open")], "invalid"),
            ),
        ],
    })?;
    b.instance(e100, "cabin", "Cabin", off!(Body, cabin))?;
    Ok(())
}

/// The `params` calibration segment: its scalars, curve and map with their axes.
fn register_params(b: &mut SlaveBuilder) -> Result<CalSeg<Params>, Error> {
    let params = b.cal_segment("params", &PARAMS)?;
    let scalars = [
        (
            "idle_rpm",
            off!(Params, idle_rpm),
            Meta::new("idle engine speed")
                .unit("rpm")
                .limits(500.0, 1500.0),
        ),
        (
            "max_rpm",
            off!(Params, max_rpm),
            Meta::new("rev limiter speed")
                .unit("rpm")
                .limits(1000.0, 8000.0),
        ),
        (
            "rpm_per_throttle",
            off!(Params, rpm_per_throttle),
            Meta::new("engine speed per % throttle")
                .unit("rpm/%")
                .limits(0.0, 100.0),
        ),
        (
            "rpm_time_constant",
            off!(Params, rpm_time_constant),
            Meta::new("engine speed time constant")
                .unit("s")
                .limits(0.01, 10.0),
        ),
        (
            "wave_amplitude",
            off!(Params, wave_amplitude),
            Meta::new("amplitude of sine_wave").limits(0.0, 1000.0),
        ),
        (
            "wave_frequency",
            off!(Params, wave_frequency),
            Meta::new("frequency of sine_wave")
                .unit("Hz")
                .limits(0.0, 50.0),
        ),
        (
            "pedal_period",
            off!(Params, pedal_period),
            Meta::new("period of the pedal profile")
                .unit("s")
                .limits(1.0, 600.0),
        ),
        (
            "ambient_temp_setting",
            off!(Params, ambient_temp),
            Meta::new("ambient temperature")
                .unit("degC")
                .limits(-40.0, 60.0),
        ),
        (
            "fan_on_temp",
            off!(Params, fan_on_temp),
            Meta::new("coolant temperature that starts the fan")
                .unit("degC")
                .limits(60.0, 120.0),
        ),
        (
            "vehicle_mass",
            off!(Params, vehicle_mass),
            Meta::new("vehicle mass").unit("kg").limits(500.0, 5000.0),
        ),
        (
            "drag_coefficient",
            off!(Params, drag_coefficient),
            Meta::new("aerodynamic drag factor")
                .unit("N/(m/s)^2")
                .limits(0.0, 5.0),
        ),
    ];
    for (name, offset, meta) in scalars {
        b.characteristic(
            &params,
            name,
            offset,
            ElementType::F32,
            CharKind::Value,
            meta,
        )?;
    }
    b.characteristic(
        &params,
        "limiter_on",
        off!(Params, limiter_on),
        ElementType::U8,
        CharKind::Value,
        Meta::new("rev limiter switch").verbal(&[(0, "off"), (1, "on")], "invalid"),
    )?;
    let points = |n: usize| u16::try_from(n).unwrap_or(u16::MAX);
    b.axis(
        &params,
        "pedal_axis",
        off!(Params, pedal_axis),
        ElementType::F32,
        points(CURVE_POINTS),
        Meta::new("pedal points").unit("%"),
    )?;
    b.characteristic(
        &params,
        "throttle_curve",
        off!(Params, throttle_curve),
        ElementType::F32,
        CharKind::Curve {
            axis: "pedal_axis".into(),
        },
        Meta::new("throttle over pedal")
            .unit("%")
            .limits(0.0, 100.0),
    )?;
    b.axis(
        &params,
        "map_rpm_axis",
        off!(Params, map_rpm_axis),
        ElementType::F32,
        points(MAP_X),
        Meta::new("torque map speed points").unit("rpm"),
    )?;
    b.axis(
        &params,
        "map_throttle_axis",
        off!(Params, map_throttle_axis),
        ElementType::F32,
        points(MAP_Y),
        Meta::new("torque map throttle points").unit("%"),
    )?;
    b.characteristic(
        &params,
        "torque_map",
        off!(Params, torque_map),
        ElementType::F32,
        CharKind::Map {
            x_axis: "map_rpm_axis".into(),
            y_axis: "map_throttle_axis".into(),
        },
        Meta::new("torque over engine speed and throttle")
            .unit("Nm")
            .limits(-100.0, 1000.0),
    )?;
    Ok(params)
}

impl Ecu {
    /// Starts the periodic tasks (and the stress loop, with `stress`).
    ///
    /// # Errors
    /// [`Error::Thread`] when a task's thread cannot be started; [`Error::Slave`] for an
    /// event the slave does not know (a bug).
    pub fn start(&self, stress: Option<Stress>) -> Result<Tasks, Error> {
        let stop = Arc::new(AtomicBool::new(false));
        let bus = Arc::new(Bus::default());
        put(&bus.coolant_temp, 20.0);
        let [e1, e10, e100, es] = self.events;
        let [c1, c10, c100] = self.counters.clone();
        let mut threads = Vec::new();
        let spawn = |name: &str, f: Box<dyn FnOnce() -> u64 + Send>| {
            std::thread::Builder::new()
                .name(name.to_owned())
                .spawn(f)
                .map_err(|source| Error::Thread {
                    task: name.to_owned(),
                    source,
                })
        };
        let ms = Duration::from_millis;
        threads.push(self.periodic(
            "ecu-1ms",
            ms(1),
            c1,
            EngineTask::new(Arc::clone(&bus)),
            e1,
            &stop,
        )?);
        threads.push(self.periodic(
            "ecu-10ms",
            ms(10),
            c10,
            VehicleTask::new(Arc::clone(&bus)),
            e10,
            &stop,
        )?);
        threads.push(self.periodic(
            "ecu-100ms",
            ms(100),
            c100,
            BodyTask::new(Arc::clone(&bus)),
            e100,
            &stop,
        )?);
        if let Some(mode) = stress {
            let ev = self.slave.event(es)?;
            let s = Arc::clone(&stop);
            let slave = self.slave.clone();
            threads.push(spawn(
                "ecu-stress",
                Box::new(move || stress_loop(&s, &slave, &ev, mode)),
            )?);
        }
        Ok(Tasks { stop, threads })
    }
}

impl Ecu {
    /// The tasks run by the caller in simulated time instead of on threads (an FMU's
    /// `DoStep`): see [`Stepper`]. `start_ns` is the simulation's start time. Build the ECU
    /// with [`ClockSource::Simulated`](xcp_slave::ClockSource::Simulated) so that
    /// GET_DAQ_CLOCK answers the same time the DAQ timestamps carry.
    ///
    /// # Errors
    /// [`Error::Slave`] for an event the slave does not know (a bug).
    pub fn stepper(&self, start_ns: u64) -> Result<Stepper, Error> {
        let bus = Arc::new(Bus::default());
        put(&bus.coolant_temp, 20.0);
        let [e1, e10, e100, _] = self.events;
        self.slave.set_clock_ns(start_ns);
        Ok(Stepper {
            engine: EngineTask::new(Arc::clone(&bus)),
            vehicle: VehicleTask::new(Arc::clone(&bus)),
            body: BodyTask::new(bus),
            params: self.params.clone(),
            counters: self.counters.clone(),
            counts: [0; 3],
            events: [
                self.slave.event(e1)?,
                self.slave.event(e10)?,
                self.slave.event(e100)?,
            ],
            slave: self.slave.clone(),
            ticks: 0,
            start_ns,
        })
    }
}

/// The ECU's 1, 10 and 100 ms tasks stepped in simulated time by the caller.
///
/// Tick `k` (k ≥ 1) happens at `start + k ms`: the 1 ms task runs on every tick, the 10 ms
/// task on every tenth, the 100 ms task on every hundredth; each increments its counter,
/// computes its signals and triggers its event with the tick's time as the DAQ timestamp.
/// One [`advance_to`](Self::advance_to) uses one snapshot of the calibration parameters, so
/// a calibration written over XCP takes effect between two calls, never inside one.
///
/// ```
/// use xcp_slave::{ClockSource, SlaveConfig};
/// let ecu = xcpkit_ecu::Ecu::build(
///     SlaveConfig { clock: ClockSource::Simulated, ..SlaveConfig::default() },
///     None,
/// )?;
/// let mut stepper = ecu.stepper(0)?;
/// assert_eq!(stepper.advance_to(250_000_000), 250); // 250 ms: 250 ticks
/// assert_eq!(ecu.slave.now_ns(), 250_000_000); // the slave's clock is simulation time
/// assert!(stepper.outputs().engine_speed > 0.0);
/// # Ok::<(), xcpkit_ecu::Error>(())
/// ```
pub struct Stepper {
    engine: EngineTask,
    vehicle: VehicleTask,
    body: BodyTask,
    params: CalSeg<Params>,
    counters: [Global<u32>; 3],
    counts: [u32; 3],
    events: [Event; 3],
    slave: Slave,
    ticks: u64,
    start_ns: u64,
}

impl std::fmt::Debug for Stepper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stepper")
            .field("ticks", &self.ticks)
            .field("start_ns", &self.start_ns)
            .finish_non_exhaustive()
    }
}

/// Model signals an FMU shows as variables, from [`Stepper::outputs`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Outputs {
    /// Accelerator pedal in % (the input, or the built-in profile).
    pub pedal: f64,
    /// Engine speed in rpm.
    pub engine_speed: f64,
    /// Vehicle speed in km/h.
    pub vehicle_speed: f64,
    /// The test wave `wave_amplitude * sin(2 pi wave_frequency t)`.
    pub sine_wave: f64,
}

impl Stepper {
    /// The tick period in nanoseconds (the 1 ms task's).
    pub const TICK_NS: u64 = 1_000_000;

    /// Drives the pedal from outside (clamped to 0–100 %), or with `None` by the built-in
    /// profile (`pedal_period`).
    pub const fn set_pedal(&mut self, pedal: Option<f64>) {
        self.engine.pedal = pedal;
    }

    /// Runs every tick due up to and including `until_ns` and sets the slave's simulated
    /// clock to `until_ns`; returns how many ticks ran.
    pub fn advance_to(&mut self, until_ns: u64) -> u64 {
        let p = *self.params.read();
        self.advance(until_ns, &p)
    }

    /// The calibration parameters the next [`advance_to`](Self::advance_to) would use: the
    /// bytes of segment `params` (its working page), laid out as the A2L describes them.
    pub fn param_bytes(&self) -> Vec<u8> {
        bytemuck::bytes_of(&*self.params.read()).to_vec()
    }

    /// [`advance_to`](Self::advance_to) with parameters given as the bytes of segment
    /// `params` (from [`param_bytes`](Self::param_bytes), changed by the caller) instead of
    /// the segment's: for a model whose parameters live elsewhere (an FMU's static
    /// storage). `None`, and nothing run, when `params` is not the segment's size.
    pub fn advance_to_with(&mut self, until_ns: u64, params: &[u8]) -> Option<u64> {
        let p: Params = bytemuck::try_pod_read_unaligned(params).ok()?;
        Some(self.advance(until_ns, &p))
    }

    fn advance(&mut self, until_ns: u64, p: &Params) -> u64 {
        let mut ran = 0;
        loop {
            let k = self.ticks + 1;
            let at = self
                .start_ns
                .saturating_add(k.saturating_mul(Self::TICK_NS));
            if at > until_ns {
                break;
            }
            self.ticks = k;
            ran += 1;
            self.slave.set_clock_ns(at);
            self.tick(p, k, at);
        }
        self.slave.set_clock_ns(until_ns);
        ran
    }

    fn tick(&mut self, p: &Params, k: u64, at: u64) {
        let [c1, c10, c100] = &self.counters;
        let [n1, n10, n100] = &mut self.counts;
        let [e1, e10, e100] = &self.events;
        *n1 = n1.wrapping_add(1);
        c1.set(*n1);
        e1.trigger_at(bytemuck::bytes_of(self.engine.step(p, 0.001)), at);
        if k.is_multiple_of(10) {
            *n10 = n10.wrapping_add(1);
            c10.set(*n10);
            e10.trigger_at(bytemuck::bytes_of(self.vehicle.step(p, 0.01)), at);
        }
        if k.is_multiple_of(100) {
            *n100 = n100.wrapping_add(1);
            c100.set(*n100);
            e100.trigger_at(bytemuck::bytes_of(self.body.step(p, 0.1)), at);
        }
    }

    /// The simulation time of the next tick, in nanoseconds.
    pub const fn next_tick_ns(&self) -> u64 {
        self.start_ns
            .saturating_add(self.ticks.saturating_add(1).saturating_mul(Self::TICK_NS))
    }

    /// Ticks run since the start.
    pub const fn ticks(&self) -> u64 {
        self.ticks
    }

    /// The signals an FMU shows, as of the last tick.
    pub fn outputs(&self) -> Outputs {
        Outputs {
            pedal: f64::from(self.engine.s.pedal),
            engine_speed: self.engine.s.engine_speed,
            vehicle_speed: f64::from(self.vehicle.s.vehicle_speed),
            sine_wave: self.vehicle.s.sine_wave,
        }
    }
}

impl Ecu {
    /// Starts one periodic task on its own thread.
    fn periodic<T: Step>(
        &self,
        name: &str,
        period: Duration,
        counter: Global<u32>,
        task: T,
        event: EventId,
        stop: &Arc<AtomicBool>,
    ) -> Result<JoinHandle<u64>, Error> {
        let event = self.slave.event(event)?;
        let stop = Arc::clone(stop);
        let params = self.params.clone();
        std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || periodic(&stop, period, &params, &counter, task, event))
            .map_err(|source| Error::Thread {
                task: name.to_owned(),
                source,
            })
    }
}

/// One step of a periodic task: advance the model by `dt` seconds with the parameters `p`
/// and fill its signals.
trait Step: Send + 'static {
    type Signals: Pod;
    fn step(&mut self, p: &Params, dt: f64) -> &Self::Signals;
}

/// Runs `task` every `period` until `stop`: counter + 1, step, trigger. A late cycle runs at
/// once; after a stall of ten periods the schedule restarts from now instead of bursting.
fn periodic<T: Step>(
    stop: &AtomicBool,
    period: Duration,
    params: &CalSeg<Params>,
    counter: &Global<u32>,
    mut task: T,
    event: Event,
) -> u64 {
    let dt = period.as_secs_f64();
    let mut next = Instant::now();
    let mut cycles = 0u64;
    let mut count = 0u32;
    while !stop.load(Ordering::Relaxed) {
        count = count.wrapping_add(1);
        counter.set(count);
        let p = *params.read();
        let signals = task.step(&p, dt);
        event.trigger_with(signals);
        cycles += 1;
        next += period;
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        } else if now - next > period * 10 {
            next = now;
        }
    }
    cycles
}

/// Fires the stress event back to back, yielding the core after every 1024 triggers.
fn stress_loop(stop: &AtomicBool, slave: &Slave, event: &Event, mode: Stress) -> u64 {
    let mut s = StressSignals::default();
    for (i, b) in (0u8..).zip(s.stress_block.iter_mut()) {
        *b = i;
    }
    let (_, capacity) = slave.queue_level();
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        if mode == Stress::Paced {
            // 64 triggers take a few tens of KiB of a queue of a MiB: waiting until it is
            // less than half full leaves room for every one of them. The wait sleeps (half a
            // MiB takes the link hundreds of microseconds), so the CPU goes to the threads
            // that drain the queue (the transmit thread, a master on the same machine), and
            // it ends with the ECU.
            while slave.queue_level().0 > capacity / 2 && !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_micros(50));
            }
        }
        for _ in 0..64 {
            s.stress_counter = s.stress_counter.wrapping_add(1);
            // One clock read per sample: the signal and the DTO timestamp carry the same
            // time (a second read would cost as much as the rest of the trigger).
            let now = slave.now_ns();
            s.stress_time = now;
            let x = f32::from(u16::try_from(s.stress_counter & 0xFFFF).unwrap_or(0));
            s.stress_values = [x, -x, x * 0.5, x * 2.0, 1.0];
            s.stress_block[0] = s.stress_counter.to_le_bytes()[0];
            event.trigger_at(bytemuck::bytes_of(&s), now);
        }
        n += 64;
        if mode == Stress::Overrun && n.is_multiple_of(1024) {
            std::thread::yield_now();
        }
    }
    n
}

/// Linear interpolation in a table, clamped at both ends.
fn interp(axis: &[f32], values: &[f32], x: f64) -> f64 {
    let n = axis.len().min(values.len());
    let (Some(&first), Some(&last)) = (axis.first(), axis.get(n.saturating_sub(1))) else {
        return 0.0;
    };
    if n == 0 {
        return 0.0;
    }
    if x <= f64::from(first) {
        return f64::from(values[0]);
    }
    if x >= f64::from(last) {
        return f64::from(values[n - 1]);
    }
    for i in 1..n {
        let (x0, x1) = (f64::from(axis[i - 1]), f64::from(axis[i]));
        if x <= x1 {
            let (y0, y1) = (f64::from(values[i - 1]), f64::from(values[i]));
            let t = if x1 > x0 { (x - x0) / (x1 - x0) } else { 0.0 };
            return y0 + t * (y1 - y0);
        }
    }
    f64::from(values[n - 1])
}

/// The fractional position of `x` on `axis`: (index, weight of index + 1).
fn locate(axis: &[f32], x: f64) -> (usize, f64) {
    let n = axis.len();
    if n < 2 || x <= f64::from(axis[0]) {
        return (0, 0.0);
    }
    for i in 1..n {
        let (x0, x1) = (f64::from(axis[i - 1]), f64::from(axis[i]));
        if x <= x1 {
            return (i - 1, if x1 > x0 { (x - x0) / (x1 - x0) } else { 0.0 });
        }
    }
    (n - 2, 1.0)
}

/// Bilinear interpolation in the torque map.
fn torque_of(p: &Params, rpm: f64, throttle: f64) -> f64 {
    let (ix, tx) = locate(&p.map_rpm_axis, rpm);
    let (iy, ty) = locate(&p.map_throttle_axis, throttle);
    let at = |x: usize, y: usize| {
        let x = x.min(MAP_X - 1);
        let y = y.min(MAP_Y - 1);
        f64::from(p.torque_map[x * MAP_Y + y])
    };
    let a = at(ix, iy) + ty * (at(ix, iy + 1) - at(ix, iy));
    let b = at(ix + 1, iy) + ty * (at(ix + 1, iy + 1) - at(ix + 1, iy));
    a + tx * (b - a)
}

/// Saturating float → integer conversions for signal values.
#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "`as` from f64 saturates, which is what a signal should do"
)]
mod sat {
    pub(super) fn u8(x: f64) -> u8 {
        x as u8
    }
    pub(super) fn u16(x: f64) -> u16 {
        x as u16
    }
    pub(super) fn u32(x: f64) -> u32 {
        x as u32
    }
    pub(super) fn u64(x: f64) -> u64 {
        x as u64
    }
    pub(super) fn i8(x: f64) -> i8 {
        x as i8
    }
    pub(super) fn i16(x: f64) -> i16 {
        x as i16
    }
    pub(super) fn i32(x: f64) -> i32 {
        x as i32
    }
    pub(super) fn i64(x: f64) -> i64 {
        x as i64
    }
    pub(super) fn f32(x: f64) -> f32 {
        x as f32
    }
}

struct EngineTask {
    bus: Arc<Bus>,
    t: f64,
    revolutions: f64,
    /// The pedal set from outside (an FMU input), instead of the built-in profile.
    pedal: Option<f64>,
    s: Engine,
}

impl EngineTask {
    fn new(bus: Arc<Bus>) -> Self {
        Self {
            bus,
            pedal: None,
            t: 0.0,
            revolutions: 0.0,
            s: Engine {
                engine_speed: f64::from(PARAMS.idle_rpm),
                lambda: 1.0,
                ..Engine::default()
            },
        }
    }
}

impl Step for EngineTask {
    type Signals = Engine;

    fn step(&mut self, p: &Params, dt: f64) -> &Engine {
        self.t += dt;
        // Pedal: set from outside, or a triangle between 0 and 100 % over `pedal_period`.
        let period = f64::from(p.pedal_period).max(0.1);
        let phase = (self.t / period).fract();
        let pedal = self.pedal.map_or_else(
            || {
                if phase < 0.5 {
                    phase * 200.0
                } else {
                    (1.0 - phase) * 200.0
                }
            },
            |x| x.clamp(0.0, 100.0),
        );
        let throttle = interp(&p.pedal_axis, &p.throttle_curve, pedal).clamp(0.0, 100.0);
        let mut target = f64::from(p.idle_rpm) + throttle * f64::from(p.rpm_per_throttle);
        let limited = p.limiter_on != 0 && target > f64::from(p.max_rpm);
        if limited {
            target = f64::from(p.max_rpm);
        }
        let tau = f64::from(p.rpm_time_constant).max(0.001);
        let rpm = self.s.engine_speed + (target - self.s.engine_speed) * (dt / tau).min(1.0);
        let torque = torque_of(p, rpm, throttle);
        self.revolutions += rpm / 60.0 * dt;
        let s = &mut self.s;
        s.engine_speed = rpm;
        s.engine_cycles = sat::u64(self.revolutions);
        s.throttle = sat::f32(throttle);
        s.pedal = sat::f32(pedal);
        s.torque = sat::f32(torque);
        s.crank_angle = sat::f32((self.revolutions.fract()) * 360.0);
        s.lambda = sat::f32(1.0 + 0.02 * (self.t * 7.0).sin());
        s.injection_time = sat::u32(500.0 + throttle * 80.0);
        s.knock_level = sat::u16((rpm / 10.0) * (1.0 + 0.1 * (self.t * 31.0).sin()));
        s.manifold_pressure_delta = sat::i16(throttle * 8.0 - 600.0);
        s.spark_advance = sat::i8(30.0 - throttle * 0.3);
        if (self.t * 10.0).fract() < dt * 10.0 && throttle > 90.0 {
            s.misfire_count = s.misfire_count.wrapping_add(1);
        }
        s.rev_limiter = u8::from(limited);
        put(&self.bus.torque, torque);
        put(&self.bus.engine_speed, rpm);
        &self.s
    }
}

struct VehicleTask {
    bus: Arc<Bus>,
    t: f64,
    speed: f64,
    coolant: f64,
    ticks: u64,
    s: Vehicle,
}

impl VehicleTask {
    fn new(bus: Arc<Bus>) -> Self {
        Self {
            bus,
            t: 0.0,
            speed: 0.0,
            coolant: 20.0,
            ticks: 0,
            s: Vehicle::default(),
        }
    }
}

/// Gear ratios (overall, wheel radius included) of gears 1–6, in (m/s) per rpm.
const GEAR_SPEED_PER_RPM: [f64; 6] = [0.0022, 0.0040, 0.0058, 0.0075, 0.0092, 0.0110];

impl Step for VehicleTask {
    type Signals = Vehicle;

    fn step(&mut self, p: &Params, dt: f64) -> &Vehicle {
        self.t += dt;
        self.ticks += 1;
        let torque = get(&self.bus.torque);
        let rpm = get(&self.bus.engine_speed);
        // Gear from the speed; driving force from the torque through the gear.
        let gear = match self.speed {
            v if v < 0.5 && torque < 10.0 => 0,
            v if v < 5.0 => 1,
            v if v < 10.0 => 2,
            v if v < 16.0 => 3,
            v if v < 23.0 => 4,
            v if v < 30.0 => 5,
            _ => 6,
        };
        let force = if gear == 0 {
            0.0
        } else {
            let ratio = GEAR_SPEED_PER_RPM[gear - 1];
            // Power balance: F v = T ω  →  F = T (2π/60) / ratio.
            torque * (2.0 * core::f64::consts::PI / 60.0) / ratio
        };
        let drag = f64::from(p.drag_coefficient) * self.speed * self.speed + 150.0;
        let mass = f64::from(p.vehicle_mass).max(100.0);
        let accel = (force - drag) / mass;
        self.speed = (self.speed + accel * dt).max(0.0);
        let heat = rpm / 6000.0 * 40.0 * dt;
        let cooling = (self.coolant - f64::from(p.ambient_temp)) * 0.01 * dt;
        self.coolant += heat - cooling;
        put(&self.bus.coolant_temp, self.coolant);
        let kmh = self.speed * 3.6;
        let s = &mut self.s;
        s.odometer += self.speed * dt;
        s.sine_wave = f64::from(p.wave_amplitude)
            * (2.0 * core::f64::consts::PI * f64::from(p.wave_frequency) * self.t).sin();
        let steer = 90.0 * (self.t * 0.2).sin();
        s.wheel_speeds = [
            sat::f32(kmh * (1.0 + steer / 3600.0)),
            sat::f32(kmh * (1.0 - steer / 3600.0)),
            sat::f32(kmh),
            sat::f32(kmh),
        ];
        s.vehicle_speed = sat::f32(kmh);
        s.acceleration = sat::f32(accel);
        s.coolant_temp = sat::f32(self.coolant);
        s.steering_angle = sat::i32(steer * 1000.0);
        s.oil_pressure = sat::u16((1.0 + rpm / 1500.0) * 100.0);
        s.battery_voltage = sat::u16(if rpm > 500.0 { 14_200.0 } else { 12_600.0 });
        s.yaw_rate = sat::i16(steer * kmh / 100.0);
        s.sawtooth = u16::try_from(self.ticks % 1000).unwrap_or(0);
        s.gear = u8::try_from(gear).unwrap_or(0);
        s.fuel_level = sat::u8(100.0 - (s.odometer / 10_000.0).min(100.0));
        s.square_wave = if (self.t * 0.5).fract() < 0.5 { 1 } else { -1 };
        &self.s
    }
}

struct BodyTask {
    bus: Arc<Bus>,
    t: f64,
    energy: f64,
    s: Body,
}

impl BodyTask {
    fn new(bus: Arc<Bus>) -> Self {
        Self {
            bus,
            t: 0.0,
            energy: 0.0,
            s: Body::default(),
        }
    }
}

impl Step for BodyTask {
    type Signals = Body;

    fn step(&mut self, p: &Params, dt: f64) -> &Body {
        self.t += dt;
        let torque = get(&self.bus.torque);
        let rpm = get(&self.bus.engine_speed);
        let coolant = get(&self.bus.coolant_temp);
        self.energy += torque * rpm * (2.0 * core::f64::consts::PI / 60.0) * dt;
        let fan = coolant > f64::from(p.fan_on_temp);
        let door = (self.t / 30.0).fract() > 0.95;
        let s = &mut self.s;
        s.uptime = sat::u64((self.t * 1000.0).round());
        s.energy = sat::i64(self.energy);
        s.ambient_temp = p.ambient_temp;
        s.status_word =
            1 | u32::from(fan) << 1 | u32::from(p.limiter_on != 0) << 2 | u32::from(door) << 3;
        s.fan_duty = if fan { 100 } else { 0 };
        s.cabin = Cabin {
            temperature: sat::f32(f64::from(p.ambient_temp) + 2.0 + (self.t / 60.0).sin()),
            pressure: sat::u16(1013.0 + 3.0 * (self.t / 100.0).sin()),
            humidity: sat::u8(45.0 + 10.0 * (self.t / 40.0).sin()),
            door_open: u8::from(door),
        };
        &self.s
    }
}

/// The ECU built with the default configuration, served over XCP on TCP (or on a CAN bus,
/// [`start_can`](Self::start_can)) in this process with its tasks running: for demos,
/// examples and tests that want a realistic slave without starting a process. Stops (tasks
/// first, then the server) when dropped.
///
/// ```
/// let ecu = xcpkit_ecu::InProcess::start_tcp("127.0.0.1:0".parse()?)?;
/// println!("measure me at {}", ecu.url());
/// let cycles = ecu.stop();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct InProcess {
    addr: Option<std::net::SocketAddr>,
    url: String,
    ecu: Ecu,
    running: Option<(xcp_slave::Server, Tasks)>,
}

impl std::fmt::Debug for InProcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InProcess")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl InProcess {
    /// Builds the model and serves it on `bind` (port 0 picks a free port; [`addr`](Self::addr)
    /// says which).
    ///
    /// # Errors
    /// [`Error::Transport`] when the address cannot be bound; as [`Ecu::build`] and
    /// [`Ecu::start`].
    pub fn start_tcp(bind: std::net::SocketAddr) -> Result<Self, Error> {
        use xcp_transport_eth::{EthServer, Protocol, ServerConfig};
        let ecu = Ecu::build(SlaveConfig::default(), None)?;
        let mut c = ServerConfig::new(Protocol::Tcp);
        c.bind = bind;
        let server = EthServer::bind(c)?;
        let addr = server.local_addr();
        ecu.slave
            .set_transports(vec![xcp_slave::TransportDesc::Tcp(addr)]);
        let server = xcp_slave::Server::start(&ecu.slave, server)?;
        let tasks = ecu.start(None)?;
        Ok(Self {
            addr: Some(addr),
            url: format!("tcp://{addr}"),
            ecu,
            running: Some((server, tasks)),
        })
    }

    /// Builds the model for a CAN bus (MAX_CTO and MAX_DTO the bus's MAX_DLC, a one-byte
    /// identification field, no PID_OFF, XCP_ON_CAN in its A2L) and serves it on the bus of
    /// `url` (`can://virtual/demo?…` keeps everything in this process).
    ///
    /// # Errors
    /// [`Error::Transport`] when the bus cannot be opened; as [`Ecu::build`] and
    /// [`Ecu::start`].
    pub fn start_can(url: &xcp_transport_can::CanUrl) -> Result<Self, Error> {
        let max = url.xcp.link.max_dlc;
        let config = SlaveConfig {
            max_cto: max,
            max_dto: u16::from(max),
            id_field: xcp_proto::IdField::AbsoluteOdt,
            pid_off: false,
            ..SlaveConfig::default()
        };
        let ecu = Ecu::build(config, None)?;
        ecu.slave
            .set_transports(vec![xcp_slave::TransportDesc::Can {
                link: url.xcp.link,
                broadcast: url.xcp.broadcast,
                bitrate: url.bitrate,
                data_bitrate: url.data_bitrate,
            }]);
        let routes = Arc::new(xcp_transport::DtoRoutes::new());
        ecu.slave.set_dto_routes(Arc::clone(&routes));
        let link =
            xcp_transport_can::CanTransport::slave(url.open()?, url.xcp)?.with_routes(routes);
        let server = xcp_slave::Server::start(&ecu.slave, link)?;
        let tasks = ecu.start(None)?;
        Ok(Self {
            addr: None,
            url: url.to_string(),
            ecu,
            running: Some((server, tasks)),
        })
    }

    /// Where it listens on TCP (`None` on CAN).
    pub const fn addr(&self) -> Option<std::net::SocketAddr> {
        self.addr
    }

    /// Its URL for `xcpkit::Session::open` and `xcpkit -t`.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// The slave, for its statistics and its A2L.
    pub const fn slave(&self) -> &Slave {
        &self.ecu.slave
    }

    /// Stops the tasks, then the server; returns how often the tasks ran.
    pub fn stop(mut self) -> Cycles {
        self.halt()
    }

    fn halt(&mut self) -> Cycles {
        let Some((server, tasks)) = self.running.take() else {
            return Cycles::default();
        };
        let cycles = tasks.stop();
        server.stop();
        cycles
    }
}

impl Drop for InProcess {
    fn drop(&mut self) {
        self.halt();
    }
}
