//! The slave: what the application registers (built once), and the handles it keeps.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytemuck::Pod;
use xcp_proto::Address;

use crate::clock::SlaveClock;
use crate::config::{FlashConfig, SlaveConfig};
use crate::daq::{DaqTables, Instance};
use crate::error::Error;
use crate::memory::{self, Globals, MAX_REGION};
use crate::persist;
use crate::poll::PollSlot;
use crate::seedkey::SeedKey;
use crate::shared::{
    AxisDef, CharacteristicDef, EventDef, InstanceDef, MeasurementDef, SegmentDef, Shared,
};
pub use crate::shared::{PredefinedList, TransportDesc};
use crate::sync::queue::ByteQueue;
use crate::sync::rcu::{CalPages, CalRead};
pub use crate::types::EventId;
use crate::types::{CharKind, Field, Meta, Scalar, StructType};
use xcp_proto::ElementType;

/// Counters of the slave's own view of its work.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SlaveStats {
    /// DTOs taken from the transmit queue (handed to the transport, or dropped at the end of
    /// a session).
    pub dtos_dequeued: u64,
    /// DTOs that found the transmit queue full (lost, and reported as overload).
    pub dtos_dropped: u64,
    /// ODT entries that could not be sampled (instance shorter than registered), or STIM
    /// entries that could not be written (event-relative entries of an event triggered
    /// without a writable instance).
    pub sample_errors: u64,
    /// STIM DTOs received and stored for their event.
    pub stim_received: u64,
    /// STIM DTOs dropped: not connected, STIM locked, no running STIM list or ODT of that
    /// number, or shorter than the ODT.
    pub stim_rejected: u64,
    /// STIM ODTs written into memory at their event.
    pub stim_applied: u64,
    /// Commands processed.
    pub commands: u64,
    /// Commands answered with ERR.
    pub errors: u64,
}

/// An XCP slave: the registry of events, calibration segments and measurements, the DAQ
/// tables and the transmit queue. Cheap to clone; serve it with [`crate::Server`] or drive
/// its [`crate::Core`] yourself.
#[derive(Clone)]
pub struct Slave {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for Slave {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slave")
            .field("name", &self.shared.name)
            .field("epk", &self.shared.epk)
            .finish_non_exhaustive()
    }
}

impl Slave {
    /// Starts registering a slave called `name` (the A2L module name).
    pub fn builder(name: &str) -> SlaveBuilder {
        SlaveBuilder::new(name)
    }

    /// The handle application threads trigger an event with.
    ///
    /// # Errors
    /// [`Error::Unknown`] when the event was not registered.
    pub fn event(&self, id: EventId) -> Result<Event, Error> {
        if usize::from(id.0) >= self.shared.events.len() {
            return Err(Error::Unknown {
                what: "event",
                name: id.0.to_string(),
            });
        }
        Ok(Event {
            shared: Arc::clone(&self.shared),
            id: id.0,
        })
    }

    /// The handle of the event called `name`.
    ///
    /// # Errors
    /// [`Error::Unknown`] when no event has that name.
    pub fn event_by_name(&self, name: &str) -> Result<Event, Error> {
        let i = self
            .shared
            .events
            .iter()
            .position(|e| e.name == name)
            .ok_or_else(|| Error::Unknown {
                what: "event",
                name: name.to_owned(),
            })?;
        self.event(EventId(u16::try_from(i).unwrap_or(u16::MAX)))
    }

    /// The EPK (software version string).
    pub fn epk(&self) -> &str {
        &self.shared.epk
    }

    /// The slave clock (Unix nanoseconds; simulation nanoseconds for
    /// [`ClockSource::Simulated`](crate::ClockSource::Simulated)).
    pub fn now_ns(&self) -> u64 {
        self.shared.clock.now_ns()
    }

    /// Sets a [`ClockSource::Simulated`](crate::ClockSource::Simulated) clock to `ns`
    /// (simulation time); `false`, and nothing changes, for a real clock.
    pub fn set_clock_ns(&self, ns: u64) -> bool {
        self.shared.clock.set_ns(ns)
    }

    /// Counters.
    pub fn stats(&self) -> SlaveStats {
        SlaveStats {
            dtos_dequeued: self.shared.queue.popped(),
            dtos_dropped: self.shared.queue.dropped(),
            sample_errors: self.shared.daq.sample_errors.load(Ordering::Relaxed),
            stim_received: self.shared.daq.stim_received.load(Ordering::Relaxed),
            stim_rejected: self.shared.daq.stim_rejected.load(Ordering::Relaxed),
            stim_applied: self.shared.daq.stim_applied.load(Ordering::Relaxed),
            commands: self.shared.commands.load(Ordering::Relaxed),
            errors: self.shared.errors.load(Ordering::Relaxed),
        }
    }

    /// Declares the transports the A2L's IF_DATA describes (the server does this itself).
    pub fn set_transports(&self, transports: Vec<TransportDesc>) {
        *self
            .shared
            .transports
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = transports;
    }

    /// Lets SET_DAQ_ID put DAQ lists on channels of their own: the slave writes each running
    /// list's channel into `routes` by PID (absolute ODT numbers), and the transport, given
    /// the same `routes`, sends their DTOs there (XCP on CAN: `CanTransport::with_routes`).
    pub fn set_dto_routes(&self, routes: Arc<xcp_transport::DtoRoutes>) {
        *self
            .shared
            .dto_routes
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(routes);
    }

    /// The runtime A2L describing this slave (deterministic for the same registrations).
    pub fn a2l(&self) -> String {
        crate::a2l::text(&self.shared)
    }

    /// The MODULE's IF_DATA XCP block as the generated A2L has it (protocol layer, DAQ and
    /// events, the transports set with [`Self::set_transports`]), for an application that
    /// serves an A2L of its own with [`Self::set_a2l_text`].
    pub fn a2l_if_data(&self) -> String {
        crate::a2l::if_data(&self.shared)
    }

    /// The A2L GET_ID 4 uploads from now on (sessions that uploaded before keep theirs);
    /// `None` returns to the generated one.
    pub fn set_a2l_text(&self, text: Option<String>) {
        match self.shared.a2l_text.lock() {
            Ok(mut g) => *g = text,
            Err(p) => *p.into_inner() = text,
        }
    }

    /// The mirrored regions ([`SlaveBuilder::mirror`]) and the lock an application holds
    /// while it steps.
    pub fn mirrors(&self) -> crate::MirrorHandle {
        crate::MirrorHandle {
            shared: Arc::clone(&self.shared),
        }
    }

    /// A command processor for one session over this slave.
    pub fn core(&self) -> crate::Core {
        crate::Core::new(Arc::clone(&self.shared))
    }

    /// Bytes waiting in the transmit queue (headers and padding included) and its capacity.
    /// A trigger that finds no room drops its DTOs (counted); a producer that would rather
    /// wait than overrun the queue, such as a load generator or a replay, checks this first.
    pub fn queue_level(&self) -> (usize, usize) {
        (self.shared.queue.used_bytes(), self.shared.queue.capacity())
    }

    /// Takes the next queued DTO (what the transmit thread does); `false` when none waits.
    pub fn pop_dto(&self, out: &mut Vec<u8>) -> bool {
        self.shared.queue.pop_into(out)
    }
}

/// An event channel: application threads call `trigger*` when the event happens.
///
/// Triggering samples every running DAQ list of the event into the transmit queue: no lock,
/// no allocation, no system call, no logging. With no list running it costs one atomic load.
#[derive(Clone)]
pub struct Event {
    shared: Arc<Shared>,
    id: u16,
}

impl std::fmt::Debug for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Event").field("id", &self.id).finish()
    }
}

impl Event {
    /// The event channel number.
    pub fn id(&self) -> EventId {
        EventId(self.id)
    }

    /// Triggers the event for lists that sample only global or calibration memory.
    #[inline]
    pub fn trigger(&self) {
        self.trigger_bytes(&[]);
    }

    /// Triggers the event with the instance its event-relative measurements live in.
    #[inline]
    pub fn trigger_with<T: Pod>(&self, instance: &T) {
        self.trigger_bytes(bytemuck::bytes_of(instance));
    }

    /// Triggers the event with the instance as bytes.
    #[inline]
    pub fn trigger_bytes(&self, instance: &[u8]) {
        if self.idle() {
            return;
        }
        let now = self.shared.clock.now_ns();
        self.shared
            .trigger_at(self.id, Instance::Shared(instance), now);
    }

    /// Triggers the event with a writable instance: STIM lists of the event first write the
    /// data the master sent into its event-relative entries (and into global variables),
    /// then DAQ lists sample it. Use this where a master bypasses or stimulates values.
    #[inline]
    pub fn trigger_with_mut<T: Pod>(&self, instance: &mut T) {
        self.trigger_bytes_mut(bytemuck::bytes_of_mut(instance));
    }

    /// [`Self::trigger_with_mut`] with the instance as bytes.
    #[inline]
    pub fn trigger_bytes_mut(&self, instance: &mut [u8]) {
        if self.idle() {
            return;
        }
        let now = self.shared.clock.now_ns();
        self.shared
            .trigger_at(self.id, Instance::Exclusive(instance), now);
    }

    /// Triggers the event with a timestamp the caller already has (Unix ns, e.g. simulation
    /// time mapped to the wall clock), saving the clock read.
    #[inline]
    pub fn trigger_at(&self, instance: &[u8], now_ns: u64) {
        self.shared
            .trigger_at(self.id, Instance::Shared(instance), now_ns);
    }

    /// No list runs on this event and no poll waits for it: the cheap early exit of every
    /// trigger (one relaxed load for the lists, and one for the poll when no list runs).
    #[inline]
    fn idle(&self) -> bool {
        self.shared.daq.events[usize::from(self.id)]
            .count
            .load(Ordering::Relaxed)
            == 0
            && !self.shared.polls[usize::from(self.id)].is_armed()
    }
}

/// A calibration segment of type `T`: application threads read it wait-free.
pub struct CalSeg<T> {
    pages: CalPages<T>,
    index: u8,
}

impl<T> Clone for CalSeg<T> {
    fn clone(&self) -> Self {
        Self {
            pages: self.pages.clone(),
            index: self.index,
        }
    }
}

impl<T: Pod> CalSeg<T> {
    /// A consistent view of the values the ECU uses now. Wait-free; drop it soon.
    #[inline]
    pub fn read(&self) -> CalRead<'_, T> {
        self.pages.read()
    }

    /// The XCP segment number.
    pub fn number(&self) -> u8 {
        self.index
    }

    /// The segment-relative address of byte `offset` of this segment (extension 0).
    pub fn address(&self, offset: usize) -> Address {
        Address::new(
            memory::EXT_SEGMENT,
            memory::segment_address(self.index, u16::try_from(offset).unwrap_or(u16::MAX)),
        )
    }
}

/// A global measurement variable of scalar type `T` at a fixed absolute address.
#[derive(Clone)]
pub struct Global<T> {
    globals: Arc<Globals>,
    offset: usize,
    _type: std::marker::PhantomData<fn(T) -> T>,
}

impl<T: Scalar> Global<T> {
    /// Stores a new value (one atomic store).
    #[inline]
    pub fn set(&self, value: T) {
        self.globals.store(self.offset, bytemuck::bytes_of(&value));
    }

    /// Reads the value: the application's last [`Self::set`], or what a STIM list wrote.
    pub fn get(&self) -> T {
        let mut v = T::zeroed();
        self.globals
            .load(self.offset, bytemuck::bytes_of_mut(&mut v));
        v
    }

    /// The absolute address (extension 1).
    pub fn address(&self) -> Address {
        Address::new(
            memory::EXT_ABSOLUTE,
            memory::GLOBALS_BASE + u32::try_from(self.offset).unwrap_or(u32::MAX),
        )
    }
}

/// A global array of `T` at a fixed absolute address.
#[derive(Clone)]
pub struct GlobalArray<T> {
    inner: Global<T>,
    len: usize,
}

impl<T: Scalar> GlobalArray<T> {
    /// Stores element `i` (ignored beyond the end).
    pub fn set(&self, i: usize, value: T) {
        if i < self.len {
            self.inner.globals.store(
                self.inner.offset + i * size_of::<T>(),
                bytemuck::bytes_of(&value),
            );
        }
    }

    /// Stores all elements from a slice (as many as fit).
    pub fn set_all(&self, values: &[T]) {
        let n = values.len().min(self.len);
        self.inner
            .globals
            .store(self.inner.offset, bytemuck::cast_slice(&values[..n]));
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the array has no elements.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The absolute address of element 0.
    pub fn address(&self) -> Address {
        self.inner.address()
    }
}

/// Registers events, calibration segments, measurements and characteristics, then builds the
/// [`Slave`]. Registration order is the numbering order, so the same program gives the same
/// A2L every time.
pub struct SlaveBuilder {
    name: String,
    epk: Option<String>,
    config: SlaveConfig,
    segments: Vec<SegmentDef>,
    globals: Arc<Globals>,
    globals_used: usize,
    events: Vec<EventDef>,
    measurements: Vec<MeasurementDef>,
    characteristics: Vec<CharacteristicDef>,
    axes: Vec<AxisDef>,
    structs: Vec<StructType>,
    instances: Vec<InstanceDef>,
    predefined: Vec<PredefinedList>,
    flash: Option<FlashConfig>,
    seed_key: Option<Box<dyn SeedKey>>,
    names: HashSet<String>,
    a2l_options: crate::a2l::A2lOptions,
    mirrors: Vec<crate::mirror::MirrorDef>,
}

/// Bytes reserved for global measurement variables.
const GLOBALS_BYTES: usize = MAX_REGION;

fn check_name(name: &str) -> Result<(), Error> {
    let mut chars = name.chars();
    let ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '[' || c == ']');
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidName(name.to_owned()))
    }
}

impl SlaveBuilder {
    fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            epk: None,
            config: SlaveConfig::default(),
            segments: vec![SegmentDef {
                name: "epk".to_owned(),
                pages: None,
                mode: AtomicU8::new(0),
                xcp_page: AtomicU8::new(0),
            }],
            globals: Arc::new(Globals::new(GLOBALS_BYTES)),
            globals_used: 0,
            events: Vec::new(),
            measurements: Vec::new(),
            characteristics: Vec::new(),
            axes: Vec::new(),
            structs: Vec::new(),
            instances: Vec::new(),
            predefined: Vec::new(),
            flash: None,
            seed_key: None,
            names: HashSet::new(),
            a2l_options: crate::a2l::A2lOptions::default(),
            mirrors: Vec::new(),
        }
    }

    /// Registers a region of the application's own memory, `len` bytes at `(ext, base)`,
    /// served from a copy the application keeps current ([`crate::MirrorHandle`]): an FMU's
    /// variables at the addresses its A2L gives. Returns the region's number. DAQ samples
    /// the copy; the master's writes (when `writable`) reach the copy at once and the
    /// application's memory when it takes them between two steps.
    ///
    /// # Errors
    /// [`Error::Config`] for an empty region, extension 2 (event-relative), a region that
    /// reaches the calibration segments (extension 0 from `0x8000_0000`) or overlaps another
    /// mirrored region (the global variables and flash are checked by [`Self::build`]), or
    /// more than 16 383 regions.
    pub fn mirror(
        &mut self,
        name: &str,
        ext: u8,
        base: u32,
        len: usize,
        writable: bool,
    ) -> Result<usize, Error> {
        let bad = |why: String| Err(Error::Config(format!("mirrored region {name}: {why}")));
        let end = u64::from(base) + len as u64;
        if len == 0 {
            return bad("is empty".into());
        }
        if ext == memory::EXT_EVENT {
            return bad("extension 2 is event-relative memory".into());
        }
        if end > 1 << 32 {
            return bad(format!(
                "0x{base:X} + {len} passes the 32-bit address space"
            ));
        }
        if ext == memory::EXT_SEGMENT && end > u64::from(memory::SEGMENT_BASE) {
            return bad(format!(
                "extension 0 from 0x{:X} is the calibration segments'",
                memory::SEGMENT_BASE
            ));
        }
        if let Some(o) = self.mirrors.iter().find(|m| {
            m.ext == ext
                && u64::from(m.base) < end
                && u64::from(base) < u64::from(m.base) + m.len as u64
        }) {
            return bad(format!("overlaps {}", o.name));
        }
        if self.mirrors.len() >= 0x3FFF {
            return Err(Error::TooMany {
                what: "mirrored regions",
                max: 0x3FFF,
            });
        }
        self.mirrors.push(crate::mirror::MirrorDef {
            name: name.to_owned(),
            ext,
            base,
            image: Globals::new(len),
            len,
            writable,
        });
        Ok(self.mirrors.len() - 1)
    }

    fn claim(&mut self, name: &str) -> Result<(), Error> {
        check_name(name)?;
        if !self.names.insert(name.to_owned()) {
            return Err(Error::Duplicate(name.to_owned()));
        }
        Ok(())
    }

    /// Sets the configuration.
    #[must_use]
    pub fn config(mut self, config: SlaveConfig) -> Self {
        self.config = config;
        self
    }

    /// The configuration, to adjust in place.
    pub fn config_mut(&mut self) -> &mut SlaveConfig {
        &mut self.config
    }

    /// Sets the EPK (software version string); the default is `"<name> <crate version>"`.
    #[must_use]
    pub fn epk(mut self, epk: &str) -> Self {
        self.epk = Some(epk.to_owned());
        self
    }

    /// Sets A2L generation options.
    #[must_use]
    pub fn a2l_options(mut self, options: crate::a2l::A2lOptions) -> Self {
        self.a2l_options = options;
        self
    }

    /// Protects resources with seed & key (set [`SlaveConfig::protected`] too).
    #[must_use]
    pub fn seed_key(mut self, seed_key: Box<dyn SeedKey>) -> Self {
        self.seed_key = Some(seed_key);
        self
    }

    /// Adds simulated flash memory for PROGRAM_* commands.
    #[must_use]
    pub fn flash(mut self, flash: FlashConfig) -> Self {
        self.flash = Some(flash);
        self
    }

    /// Registers an event; `period` is `None` for sporadic events. Priority 0 is lowest.
    ///
    /// # Errors
    /// Duplicate or invalid name, or more than 65535 events.
    pub fn event(
        &mut self,
        name: &str,
        period: Option<Duration>,
        priority: u8,
    ) -> Result<EventId, Error> {
        // Event names are A2L strings (EVENT_CHANNEL_NAME, up to 100 characters), not
        // identifiers, so "1ms" is fine; they are unique among events.
        if name.is_empty() || name.len() > 100 || name.chars().any(char::is_control) {
            return Err(Error::InvalidName(name.to_owned()));
        }
        if self.events.iter().any(|e| e.name == name) {
            return Err(Error::Duplicate(name.to_owned()));
        }
        let id = u16::try_from(self.events.len()).map_err(|_| Error::TooMany {
            what: "events",
            max: 0x3FFF,
        })?;
        if id >= 0x3FFF {
            return Err(Error::TooMany {
                what: "events",
                max: 0x3FFF,
            });
        }
        self.events.push(EventDef {
            name: name.to_owned(),
            period,
            priority,
        });
        Ok(EventId(id))
    }

    /// Registers a calibration segment initialised (reference and working page) from `init`.
    ///
    /// # Errors
    /// Duplicate or invalid name, a type larger than 64 KiB or aligned above 8 bytes, more
    /// than 254 segments.
    pub fn cal_segment<T: Pod>(&mut self, name: &str, init: &T) -> Result<CalSeg<T>, Error> {
        self.claim(name)?;
        if size_of::<T>() > MAX_REGION {
            return Err(Error::TooLarge {
                what: format!("calibration segment {name:?}"),
                size: size_of::<T>(),
                max: MAX_REGION,
            });
        }
        let index = u8::try_from(self.segments.len())
            .ok()
            .filter(|&i| i < 255)
            .ok_or(Error::TooMany {
                what: "calibration segments",
                max: 254,
            })?;
        let pages = CalPages::new(init).ok_or_else(|| Error::Alignment(name.to_owned()))?;
        self.segments.push(SegmentDef {
            name: name.to_owned(),
            pages: Some(Arc::clone(pages.raw())),
            mode: AtomicU8::new(0),
            xcp_page: AtomicU8::new(0),
        });
        Ok(CalSeg { pages, index })
    }

    fn segment_len(&self, segment: u8) -> Result<usize, Error> {
        self.segments
            .get(usize::from(segment))
            .and_then(|s| s.pages.as_ref())
            .map(|p| p.len())
            .ok_or_else(|| Error::Unknown {
                what: "calibration segment",
                name: segment.to_string(),
            })
    }

    fn check_in_segment(
        &self,
        name: &str,
        segment: u8,
        offset: usize,
        size: usize,
    ) -> Result<(), Error> {
        let len = self.segment_len(segment)?;
        if offset + size > len {
            return Err(Error::OutOfRegion {
                name: name.to_owned(),
                offset,
                size,
                region: self.segments[usize::from(segment)].name.clone(),
                len,
            });
        }
        Ok(())
    }

    /// Registers a characteristic at `offset` of a calibration segment.
    ///
    /// # Errors
    /// Duplicate or invalid name, unknown axis, or an object outside the segment.
    pub fn characteristic<T>(
        &mut self,
        segment: &CalSeg<T>,
        name: &str,
        offset: usize,
        ty: ElementType,
        kind: CharKind,
        meta: Meta,
    ) -> Result<(), Error> {
        let elements = match &kind {
            CharKind::Value => 1,
            CharKind::Array { len } => usize::from(*len),
            CharKind::Ascii { len } => usize::from(*len) / ty.size().max(1),
            CharKind::Curve { axis } => self.axis_len(axis)?,
            CharKind::Map { x_axis, y_axis } => self.axis_len(x_axis)? * self.axis_len(y_axis)?,
        };
        self.check_in_segment(name, segment.index, offset, elements * ty.size())?;
        self.claim(name)?;
        self.characteristics.push(CharacteristicDef {
            name: name.to_owned(),
            segment: segment.index,
            offset: u32::try_from(offset).unwrap_or(u32::MAX),
            ty,
            kind,
            meta,
        });
        Ok(())
    }

    fn axis_len(&self, name: &str) -> Result<usize, Error> {
        self.axes
            .iter()
            .find(|a| a.name == name)
            .map(|a| usize::from(a.len))
            .ok_or_else(|| Error::Unknown {
                what: "axis",
                name: name.to_owned(),
            })
    }

    /// Registers an axis (`AXIS_PTS`) of `len` points at `offset` of a calibration segment.
    ///
    /// # Errors
    /// Duplicate or invalid name, or an axis outside the segment.
    pub fn axis<T>(
        &mut self,
        segment: &CalSeg<T>,
        name: &str,
        offset: usize,
        ty: ElementType,
        len: u16,
        meta: Meta,
    ) -> Result<(), Error> {
        self.check_in_segment(name, segment.index, offset, usize::from(len) * ty.size())?;
        self.claim(name)?;
        self.axes.push(AxisDef {
            name: name.to_owned(),
            segment: segment.index,
            offset: u32::try_from(offset).unwrap_or(u32::MAX),
            ty,
            len,
            meta,
        });
        Ok(())
    }

    fn alloc_global(&mut self, name: &str, bytes: usize) -> Result<usize, Error> {
        let offset = self.globals_used.next_multiple_of(8);
        if offset + bytes > self.globals.len() {
            return Err(Error::TooLarge {
                what: format!("global variables up to {name:?}"),
                size: offset + bytes,
                max: self.globals.len(),
            });
        }
        self.globals_used = offset + bytes;
        Ok(offset)
    }

    /// Registers a global scalar measurement variable at the next absolute address. `event`
    /// is the event the A2L suggests measuring it on (any event may sample it).
    ///
    /// # Errors
    /// Duplicate or invalid name, or the 64 KiB of global variables are used up.
    pub fn global<T: Scalar>(
        &mut self,
        name: &str,
        event: Option<EventId>,
        meta: Meta,
    ) -> Result<Global<T>, Error> {
        Ok(self.global_array::<T>(name, 1, event, meta)?.inner)
    }

    /// Registers a global array of `len` elements.
    ///
    /// # Errors
    /// As [`Self::global`].
    pub fn global_array<T: Scalar>(
        &mut self,
        name: &str,
        len: u16,
        event: Option<EventId>,
        meta: Meta,
    ) -> Result<GlobalArray<T>, Error> {
        self.claim(name)?;
        let offset = self.alloc_global(name, usize::from(len.max(1)) * size_of::<T>())?;
        let global = Global {
            globals: Arc::clone(&self.globals),
            offset,
            _type: std::marker::PhantomData,
        };
        self.measurements.push(MeasurementDef {
            name: name.to_owned(),
            ty: T::TYPE,
            len: len.max(1),
            addr: global.address(),
            event: event.map(|e| e.0),
            meta,
        });
        Ok(GlobalArray {
            inner: global,
            len: usize::from(len.max(1)),
        })
    }

    /// Registers a measurement in the instance passed to `event`'s trigger, at `offset`
    /// (event-relative addressing; measurable by DAQ on that event only).
    ///
    /// # Errors
    /// Duplicate or invalid name, unknown event, or an offset beyond 64 KiB.
    pub fn measurement(
        &mut self,
        event: EventId,
        name: &str,
        offset: usize,
        ty: ElementType,
        len: u16,
        meta: Meta,
    ) -> Result<Address, Error> {
        let addr = self.event_relative(event, name, offset, ty.size() * usize::from(len.max(1)))?;
        self.claim(name)?;
        self.measurements.push(MeasurementDef {
            name: name.to_owned(),
            ty,
            len: len.max(1),
            addr,
            event: Some(event.0),
            meta,
        });
        Ok(addr)
    }

    fn event_relative(
        &self,
        event: EventId,
        name: &str,
        offset: usize,
        size: usize,
    ) -> Result<Address, Error> {
        if usize::from(event.0) >= self.events.len() {
            return Err(Error::Unknown {
                what: "event",
                name: event.0.to_string(),
            });
        }
        if offset + size > MAX_REGION {
            return Err(Error::OutOfRegion {
                name: name.to_owned(),
                offset,
                size,
                region: format!(
                    "the instance of event {}",
                    self.events[usize::from(event.0)].name
                ),
                len: MAX_REGION,
            });
        }
        Ok(Address::new(
            memory::EXT_EVENT,
            memory::event_address(event.0, u16::try_from(offset).unwrap_or(u16::MAX)),
        ))
    }

    /// Registers a structure type for instances (A2L `TYPEDEF_STRUCTURE`).
    ///
    /// # Errors
    /// Duplicate or invalid name, or a field outside the structure.
    pub fn struct_type(&mut self, ty: StructType) -> Result<(), Error> {
        self.claim(&ty.name)?;
        for f in &ty.fields {
            check_name(&f.name)?;
            let end = f.offset as usize + f.ty.size() * usize::from(f.len.max(1));
            if end > ty.size as usize {
                return Err(Error::OutOfRegion {
                    name: format!("{}.{}", ty.name, f.name),
                    offset: f.offset as usize,
                    size: end - f.offset as usize,
                    region: ty.name.clone(),
                    len: ty.size as usize,
                });
            }
        }
        self.structs.push(ty);
        Ok(())
    }

    /// Registers an instance of a structure type at `offset` of `event`'s instance.
    ///
    /// # Errors
    /// Duplicate or invalid name, unknown type or event, or an instance beyond 64 KiB.
    pub fn instance(
        &mut self,
        event: EventId,
        name: &str,
        type_name: &str,
        offset: usize,
    ) -> Result<Address, Error> {
        let type_index = self
            .structs
            .iter()
            .position(|s| s.name == type_name)
            .ok_or_else(|| Error::Unknown {
                what: "structure type",
                name: type_name.to_owned(),
            })?;
        let addr =
            self.event_relative(event, name, offset, self.structs[type_index].size as usize)?;
        self.claim(name)?;
        self.instances.push(InstanceDef {
            name: name.to_owned(),
            type_index,
            event: event.0,
            offset: u32::try_from(offset).unwrap_or(u32::MAX),
        });
        Ok(addr)
    }

    /// Defines a predefined DAQ list (its entries are fixed; the master starts and stops it).
    ///
    /// # Errors
    /// Unknown event.
    pub fn predefined_list(&mut self, list: PredefinedList) -> Result<(), Error> {
        if usize::from(list.event.0) >= self.events.len() {
            return Err(Error::Unknown {
                what: "event",
                name: list.event.0.to_string(),
            });
        }
        self.predefined.push(list);
        Ok(())
    }

    /// Helper: the fields of a structure type as flattened scalar measurements.
    pub fn fields_of(&self, type_name: &str) -> Option<&[Field]> {
        self.structs
            .iter()
            .find(|s| s.name == type_name)
            .map(|s| s.fields.as_slice())
    }

    /// Builds the slave; restores frozen calibration pages from the persistence directory
    /// when a file for this EPK is there.
    ///
    /// # Errors
    /// [`Error::Config`] for an inconsistent configuration, [`Error::Io`] when a persistence
    /// file exists but cannot be read.
    pub fn build(self) -> Result<Slave, Error> {
        let c = &self.config;
        if c.max_cto < 8 {
            return Err(Error::Config(format!("MAX_CTO {} is below 8", c.max_cto)));
        }
        if c.max_dto < 8 {
            return Err(Error::Config(format!("MAX_DTO {} is below 8", c.max_dto)));
        }
        if ![0, 1, 2, 4].contains(&c.timestamp_size) {
            return Err(Error::Config(format!(
                "timestamp size {} is not 0, 1, 2 or 4 bytes",
                c.timestamp_size
            )));
        }
        if c.timestamp_unit_code().is_none() {
            return Err(Error::Config(format!(
                "timestamp unit {} ns is not a power of ten up to 1 s",
                c.timestamp_unit_ns
            )));
        }
        if c.protected.0 != 0 && self.seed_key.is_none() {
            return Err(Error::Config(
                "protected resources need a seed & key algorithm (SlaveBuilder::seed_key)".into(),
            ));
        }
        if c.max_lists_per_event == 0 {
            return Err(Error::Config(
                "max_lists_per_event must be at least 1".into(),
            ));
        }
        let ext1 = |from: u64, len: u64| {
            self.mirrors.iter().find(|m| {
                m.ext == memory::EXT_ABSOLUTE
                    && u64::from(m.base) < from + len
                    && from < u64::from(m.base) + m.len as u64
            })
        };
        if let Some(m) = ext1(u64::from(memory::GLOBALS_BASE), self.globals.len() as u64) {
            return Err(Error::Config(format!(
                "mirrored region {} overlaps the global variables (extension 1 from 0x{:X})",
                m.name,
                memory::GLOBALS_BASE
            )));
        }
        if let Some(f) = &self.flash
            && let Some(m) = ext1(
                u64::from(f.base),
                u64::from(f.sector_size) * u64::from(f.sectors),
            )
        {
            return Err(Error::Config(format!(
                "mirrored region {} overlaps the flash (extension 1 from 0x{:X})",
                m.name, f.base
            )));
        }
        let epk = self
            .epk
            .clone()
            .unwrap_or_else(|| format!("{} {}", self.name, env!("CARGO_PKG_VERSION")));
        let events = u16::try_from(self.events.len().max(1)).unwrap_or(u16::MAX);
        let seg_pages = self.segments.iter().map(|s| s.pages.clone()).collect();
        let shared = Shared {
            polls: (0..events).map(|_| PollSlot::default()).collect(),
            daq: DaqTables::new(
                c.max_daq_lists,
                c.max_odts,
                c.max_entries,
                events,
                c.max_lists_per_event,
            ),
            queue: ByteQueue::with_capacity(c.queue_bytes),
            clock: SlaveClock::new(c.clock).skewed(c.clock_offset_ns, c.clock_rate_ppm),
            ts_unit: u64::from(c.timestamp_unit_ns.max(1)),
            config: self.config,
            name: self.name,
            epk,
            segments: self.segments,
            seg_pages,
            globals: self.globals,
            globals_used: self.globals_used,
            mirrors: crate::mirror::Mirrors::new(self.mirrors),
            a2l_text: Mutex::new(None),
            events: self.events,
            measurements: self.measurements,
            characteristics: self.characteristics,
            axes: self.axes,
            structs: self.structs,
            instances: self.instances,
            predefined: self.predefined,
            flash: self.flash,
            seed_key: self.seed_key,
            transports: Mutex::new(Vec::new()),
            dto_routes: Mutex::new(None),
            a2l_options: self.a2l_options,
            commands: AtomicU64::new(0),
            errors: AtomicU64::new(0),
        };
        if let Some(dir) = &shared.config.persist_dir {
            persist::restore(&shared, dir)?;
        }
        Ok(Slave {
            shared: Arc::new(shared),
        })
    }
}
