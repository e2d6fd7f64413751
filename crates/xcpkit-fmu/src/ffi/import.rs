//! The importer's side of the C API (`xcpkit fmu serve`): an FMU's binary loaded with
//! `libloading`, its FMI 3.0 or FMI 2.0 Co-Simulation functions called as the standards
//! say, and its image read and written at its load address between calls.
//!
//! The image's extent comes from `/proc/self/maps` (the mappings of the loaded file and the
//! anonymous mapping right after them that holds the rest of `.bss`). Every access is
//! checked against it before it happens, and writes only reach writable mappings, so a bad
//! A2L address is an error, never a fault.

use std::collections::VecDeque;
use std::ffi::{CString, c_char, c_int, c_void};
use std::path::{Path, PathBuf};
use std::ptr::null_mut;
use std::sync::Mutex;

use super::text;

/// `fmi3LogMessageCallback`.
type Log3 = unsafe extern "C" fn(*mut c_void, c_int, *const c_char, *const c_char);
type Instantiate = unsafe extern "C" fn(
    *const c_char,
    *const c_char,
    *const c_char,
    bool,
    bool,
    bool,
    bool,
    *const u32,
    usize,
    *mut c_void,
    Option<Log3>,
    Option<IntermediateUpdate>,
) -> *mut c_void;
type Free = unsafe extern "C" fn(*mut c_void);
type EnterInit = unsafe extern "C" fn(*mut c_void, bool, f64, f64, bool, f64) -> c_int;
type Plain = unsafe extern "C" fn(*mut c_void) -> c_int;
type DoStep = unsafe extern "C" fn(
    *mut c_void,
    f64,
    f64,
    bool,
    *mut bool,
    *mut bool,
    *mut bool,
    *mut f64,
) -> c_int;
type Get<T> = unsafe extern "C" fn(*mut c_void, *const u32, usize, *mut T, usize) -> c_int;
type GetClock = unsafe extern "C" fn(*mut c_void, *const u32, usize, *mut bool) -> c_int;
type UpdateDiscreteStates = unsafe extern "C" fn(
    *mut c_void,
    *mut bool,
    *mut bool,
    *mut bool,
    *mut bool,
    *mut bool,
    *mut f64,
) -> c_int;
type Set<T> = unsafe extern "C" fn(*mut c_void, *const u32, usize, *const T, usize) -> c_int;

/// `fmi2CallbackLogger` (printf-like: the message is a format).
type Log2 =
    unsafe extern "C" fn(*mut c_void, *const c_char, c_int, *const c_char, *const c_char, ...);
/// The logger as this module defines it: the fixed arguments and the first of the format's.
type Log2Fixed = unsafe extern "C" fn(
    *mut c_void,
    *const c_char,
    c_int,
    *const c_char,
    *const c_char,
    *const c_char,
);
/// `fmi2CallbackFunctions`.
#[repr(C)]
struct Callbacks2 {
    logger: Log2,
    allocate: unsafe extern "C" fn(usize, usize) -> *mut c_void,
    free: unsafe extern "C" fn(*mut c_void),
    step_finished: Option<unsafe extern "C" fn(*mut c_void, c_int)>,
    environment: *mut c_void,
}
type Instantiate2 = unsafe extern "C" fn(
    *const c_char,
    c_int,
    *const c_char,
    *const c_char,
    *const Callbacks2,
    c_int,
    c_int,
) -> *mut c_void;
type Setup2 = unsafe extern "C" fn(*mut c_void, c_int, f64, f64, c_int, f64) -> c_int;
type DoStep2 = unsafe extern "C" fn(*mut c_void, f64, f64, c_int) -> c_int;
type Get2<T> = unsafe extern "C" fn(*mut c_void, *const u32, usize, *mut T) -> c_int;
type Set2<T> = unsafe extern "C" fn(*mut c_void, *const u32, usize, *const T) -> c_int;

unsafe extern "C" {
    fn calloc(n: usize, size: usize) -> *mut c_void;
    fn free(p: *mut c_void);
}

/// The instance environment the FMU's callbacks get: the messages it logged, for the
/// importer to print (bounded), and, during a step only, the importer's handler of
/// intermediate updates.
pub(crate) struct Env {
    lines: Mutex<VecDeque<String>>,
    dropped: std::sync::atomic::AtomicU64,
    /// A `*mut &mut dyn FnMut(f64)` while `Loaded::do_step` runs, else null.
    hook: std::cell::Cell<*mut c_void>,
}

impl Default for Env {
    fn default() -> Self {
        Self {
            lines: Mutex::default(),
            dropped: std::sync::atomic::AtomicU64::new(0),
            hook: std::cell::Cell::new(null_mut()),
        }
    }
}

/// `fmi3IntermediateUpdateCallback`.
type IntermediateUpdate =
    unsafe extern "C" fn(*mut c_void, f64, bool, bool, bool, bool, *mut bool, *mut f64);

/// The intermediate-update callback: hands the time to the step's handler when the FMU says
/// its variables may be read and the intermediate step is finished.
#[allow(
    clippy::too_many_arguments,
    clippy::fn_params_excessive_bools,
    reason = "the signature FMI 3.0 defines"
)]
unsafe extern "C" fn intermediate_update(
    env: *mut c_void,
    time: f64,
    _set_requested: bool,
    get_allowed: bool,
    step_finished: bool,
    _can_return_early: bool,
    early_return_requested: *mut bool,
    _early_return_time: *mut f64,
) {
    if !early_return_requested.is_null() {
        // SAFETY: FMI 3.0 passes a pointer to the FMU's variable.
        unsafe { *early_return_requested = false };
    }
    if env.is_null() || !get_allowed || !step_finished {
        return;
    }
    // SAFETY: `env` is the `Env` this module passed at instantiation, alive until the
    // instance is freed.
    let env = unsafe { &*env.cast::<Env>() };
    let hook = env.hook.get();
    if hook.is_null() {
        return;
    }
    // SAFETY: a non-null hook is the handler `Loaded::do_step` set for the duration of the
    // call this callback runs inside, on this thread.
    let handler = unsafe { &mut *hook.cast::<&mut dyn FnMut(f64)>() };
    handler(time);
}

/// At most this many messages wait to be printed; more are counted and dropped.
const LOG_LINES: usize = 1000;

impl Env {
    /// The messages logged since the last call, and how many were dropped meanwhile.
    pub(crate) fn take(&self) -> (Vec<String>, u64) {
        let lines = match self.lines.lock() {
            Ok(mut g) => g.drain(..).collect(),
            Err(p) => p.into_inner().drain(..).collect(),
        };
        let dropped = self.dropped.swap(0, std::sync::atomic::Ordering::Relaxed);
        (lines, dropped)
    }
}

impl Env {
    fn push(&self, status: c_int, category: &str, message: &str) {
        let status = match status {
            0 => "OK",
            1 => "Warning",
            2 => "Discard",
            3 => "Error",
            4 => "Fatal",
            5 => "Pending",
            _ => "?",
        };
        let line = format!("{status} [{category}] {message}");
        let mut g = match self.lines.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if g.len() < LOG_LINES {
            g.push_back(line);
        } else {
            self.dropped
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

unsafe extern "C" fn log_message(
    env: *mut c_void,
    status: c_int,
    category: *const c_char,
    message: *const c_char,
) {
    if env.is_null() {
        return;
    }
    // SAFETY: `env` is the `Env` this module passed at instantiation, alive until the
    // instance is freed; the strings are NUL-terminated (FMI), valid during the call.
    let (sink, category, message) = unsafe { (&*env.cast::<Env>(), text(category), text(message)) };
    sink.push(status, &category, &message);
}

/// FMI 2.0's logger. The message is a printf format: a format of `%s` alone is replaced by
/// its argument (the first after the fixed ones, which the calling conventions this builds
/// for pass where a sixth fixed argument would be); any other is kept as written, so plain
/// text reads the same and a format with other conversions shows them unexpanded.
unsafe extern "C" fn log_message2(
    env: *mut c_void,
    _instance: *const c_char,
    status: c_int,
    category: *const c_char,
    message: *const c_char,
    first: *const c_char,
) {
    if env.is_null() {
        return;
    }
    // SAFETY: as for `log_message`: our sink, NUL-terminated strings valid during the call.
    let (sink, category, mut message) =
        unsafe { (&*env.cast::<Env>(), text(category), text(message)) };
    if message == "%s" {
        // SAFETY: a `%s` format comes with a NUL-terminated string as its argument.
        message = unsafe { text(first) };
    }
    sink.push(status, &category, &message);
}

/// The FMU binary's image in this process: its base address and the ranges (offsets from
/// the base) it may be read at, with whether they are writable.
#[derive(Debug, Clone)]
pub(crate) struct Image {
    base: usize,
    ranges: Vec<(usize, usize, bool)>,
}

impl Image {
    /// Finds `path`'s mappings in `maps` (the text of `/proc/self/maps`).
    fn find(maps: &str, path: &Path) -> Option<Self> {
        let want = path.to_string_lossy();
        let mut mapped: Vec<(usize, usize, bool)> = Vec::new();
        let mut last_end = None;
        for line in maps.lines() {
            let mut f = line.split_whitespace();
            let (Some(range), Some(perms)) = (f.next(), f.next()) else {
                continue;
            };
            let file = f.nth(3).unwrap_or("");
            let Some((a, b)) = range.split_once('-') else {
                continue;
            };
            let (Ok(start), Ok(end)) = (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16))
            else {
                continue;
            };
            let readable = perms.starts_with('r');
            let writable = perms.as_bytes().get(1) == Some(&b'w');
            if file == want {
                mapped.push((start, end, readable && writable));
                last_end = Some(end);
                if !readable {
                    mapped.pop();
                }
            } else if file.is_empty() && last_end == Some(start) && readable {
                // The rest of .bss, anonymous, right after the file's last mapping.
                mapped.push((start, end, writable));
                last_end = None;
            } else {
                last_end = None;
            }
        }
        let base = mapped.iter().map(|m| m.0).min()?;
        Some(Self {
            base,
            ranges: mapped
                .into_iter()
                .map(|(s, e, w)| (s - base, e - base, w))
                .collect(),
        })
    }

    /// Whether `[offset, offset + len)` can be read, and written.
    pub(crate) fn access(&self, offset: usize, len: usize) -> Option<bool> {
        let end = offset.checked_add(len)?;
        // Ranges are in address order; an extent may span adjacent ones.
        let mut at = offset;
        let mut writable = true;
        for &(s, e, w) in &self.ranges {
            if s <= at && at < e {
                writable &= w;
                at = e;
                if at >= end {
                    return Some(writable);
                }
            }
        }
        None
    }

    /// The address the image starts at.
    pub(crate) const fn base(&self) -> usize {
        self.base
    }

    /// The image's extent from its base.
    pub(crate) fn len(&self) -> usize {
        self.ranges.iter().map(|r| r.1).max().unwrap_or(0)
    }

    /// Copies `dst.len()` bytes of the image at `offset` into `dst`. The caller reads between
    /// the FMU's calls, or inside a callback where FMI lets variables be read.
    pub(crate) fn read(&self, offset: usize, dst: &mut [u8]) -> Result<(), String> {
        if self.access(offset, dst.len()).is_none() {
            return Err(format!(
                "0x{offset:X} + {} is outside the FMU's image",
                dst.len()
            ));
        }
        // SAFETY: the range lies in readable mappings of the loaded binary (checked above
        // against /proc/self/maps), which stay mapped while the library is loaded; the FMU
        // does not write them while the importer reads (the caller's contract above).
        unsafe {
            std::ptr::copy_nonoverlapping(
                (self.base + offset) as *const u8,
                dst.as_mut_ptr(),
                dst.len(),
            );
        }
        Ok(())
    }
}

/// The functions of one FMI version.
enum Api {
    V3 {
        free: Free,
        enter_init: EnterInit,
        exit_init: Plain,
        do_step: DoStep,
        enter_event_mode: Plain,
        enter_step_mode: Plain,
        get_clock: GetClock,
        update_discrete_states: UpdateDiscreteStates,
        terminate: Plain,
        get_f64: Get<f64>,
        set_f64: Set<f64>,
        set_bool: Set<bool>,
        set_u16: Set<u16>,
        set_i32: Set<i32>,
        set_string: Set<*const c_char>,
    },
    V2 {
        free: Free,
        setup: Setup2,
        enter_init: Plain,
        exit_init: Plain,
        do_step: DoStep2,
        terminate: Plain,
        get_real: Get2<f64>,
        set_real: Set2<f64>,
        set_int: Set2<c_int>,
        set_bool: Set2<c_int>,
        set_string: Set2<*const c_char>,
        /// The callbacks, alive as long as the instance (FMI 2.0 keeps the pointer).
        _callbacks: Box<Callbacks2>,
    },
}

/// One FMI 3.0 or 2.0 Co-Simulation instance of a loaded binary.
pub(crate) struct Loaded {
    instance: *mut c_void,
    api: Api,
    image: Image,
    log: Box<Env>,
    /// Kept last: the functions above point into it.
    _library: libloading::Library,
}

// SAFETY: FMI lets an importer call an instance from any thread as long as the calls do not
// overlap; `Loaded` is not `Sync` and its calls take `&mut self` or run while the owner
// holds it, so moving it to another thread keeps them serial. The callbacks' environment is
// the boxed log sink, which is `Sync`.
unsafe impl Send for Loaded {}

/// An FMI call's status as words (`call` is the function's name, `fmi3…` or `fmi2…`).
fn status(call: &str, s: c_int) -> Result<(), String> {
    let v = &call[..4];
    match s {
        0 | 1 => Ok(()),
        2 => Err(format!("{call} returned {v}Discard")),
        3 => Err(format!("{call} returned {v}Error")),
        4 => Err(format!("{call} returned {v}Fatal")),
        5 => Err(format!(
            "{call} returned {v}Pending, which this importer does not wait for"
        )),
        n => Err(format!("{call} returned the unknown status {n}")),
    }
}

/// The text of `/proc/self/maps`.
fn maps() -> Result<String, String> {
    std::fs::read_to_string("/proc/self/maps")
        .map_err(|e| format!("cannot read /proc/self/maps to find the FMU's image: {e}"))
}

impl Loaded {
    /// Loads `binary` and instantiates it for Co-Simulation as `name` with `token` (FMI 3.0's
    /// instantiation token, FMI 2.0's GUID); `resources` is the unpacked `resources/` folder;
    /// `intermediate` (FMI 3.0) gives the FMU the intermediate-update callback, which hands
    /// intermediate points to the handler of [`Self::do_step`]; `event_mode` (FMI 3.0) tells
    /// it the importer handles events (its clocks) in Event Mode.
    pub(crate) fn instantiate(
        binary: &Path,
        fmi3: bool,
        intermediate: bool,
        event_mode: bool,
        name: &str,
        token: &str,
        resources: &Path,
    ) -> Result<Self, String> {
        // SAFETY: loading runs the library's initialisers; an FMU is code the user chose to
        // run, as any importer does.
        let library = unsafe { libloading::Library::new(binary) }
            .map_err(|e| format!("cannot load {}: {e}", binary.display()))?;
        macro_rules! sym {
            ($name:literal) => {
                // SAFETY: the type is the one the FMI version gives this function.
                *unsafe { library.get($name) }.map_err(|e| {
                    format!(
                        "{} lacks {}: {e}",
                        binary.display(),
                        String::from_utf8_lossy(&$name[..$name.len() - 1])
                    )
                })?
            };
        }
        let canonical: PathBuf = binary
            .canonicalize()
            .map_err(|e| format!("{}: {e}", binary.display()))?;
        let image = Image::find(&maps()?, &canonical).ok_or_else(|| {
            format!(
                "{} is loaded but not in /proc/self/maps; cannot find its base address",
                canonical.display()
            )
        })?;
        let log = Box::<Env>::default();
        let c = |s: &str| CString::new(s.replace('\0', " ")).unwrap_or_default();
        let (cname, ctoken) = (c(name), c(token));
        let env = std::ptr::from_ref::<Env>(&log).cast_mut().cast::<c_void>();
        let (instance, api) = if fmi3 {
            let instantiate: Instantiate = sym!(b"fmi3InstantiateCoSimulation\0");
            let cres = c(&format!("{}/", resources.display()));
            // SAFETY: the arguments are what FMI 3.0 asks: NUL-terminated strings alive
            // across the call, no intermediate variables, our logger and (when asked) our
            // intermediate-update callback with their environment (the boxed `Env`, alive as
            // long as the instance).
            let instance = unsafe {
                instantiate(
                    cname.as_ptr(),
                    ctoken.as_ptr(),
                    cres.as_ptr(),
                    false,
                    true,
                    event_mode,
                    false,
                    std::ptr::null(),
                    0,
                    env,
                    Some(log_message),
                    intermediate.then_some(intermediate_update as IntermediateUpdate),
                )
            };
            let api = Api::V3 {
                free: sym!(b"fmi3FreeInstance\0"),
                enter_init: sym!(b"fmi3EnterInitializationMode\0"),
                exit_init: sym!(b"fmi3ExitInitializationMode\0"),
                do_step: sym!(b"fmi3DoStep\0"),
                enter_event_mode: sym!(b"fmi3EnterEventMode\0"),
                enter_step_mode: sym!(b"fmi3EnterStepMode\0"),
                get_clock: sym!(b"fmi3GetClock\0"),
                update_discrete_states: sym!(b"fmi3UpdateDiscreteStates\0"),
                terminate: sym!(b"fmi3Terminate\0"),
                get_f64: sym!(b"fmi3GetFloat64\0"),
                set_f64: sym!(b"fmi3SetFloat64\0"),
                set_bool: sym!(b"fmi3SetBoolean\0"),
                set_u16: sym!(b"fmi3SetUInt16\0"),
                set_i32: sym!(b"fmi3SetInt32\0"),
                set_string: sym!(b"fmi3SetString\0"),
            };
            (instance, api)
        } else {
            let instantiate: Instantiate2 = sym!(b"fmi2Instantiate\0");
            let cres = c(&format!("file://{}/", resources.display()));
            // SAFETY: FMI 2.0 calls the logger with a format and its arguments; on the C
            // calling conventions this builds for (System V x86-64, AArch64) a callee that
            // reads only the fixed arguments gets them where a variadic one would.
            let logger = unsafe { std::mem::transmute::<Log2Fixed, Log2>(log_message2) };
            let callbacks = Box::new(Callbacks2 {
                logger,
                allocate: calloc,
                free,
                step_finished: None,
                environment: env,
            });
            // SAFETY: the arguments are what FMI 2.0 asks: NUL-terminated strings alive
            // across the call, Co-Simulation (1), the callbacks boxed and kept as long as the
            // instance, not visible, logging on.
            let instance = unsafe {
                instantiate(
                    cname.as_ptr(),
                    1,
                    ctoken.as_ptr(),
                    cres.as_ptr(),
                    &raw const *callbacks,
                    0,
                    1,
                )
            };
            let api = Api::V2 {
                free: sym!(b"fmi2FreeInstance\0"),
                setup: sym!(b"fmi2SetupExperiment\0"),
                enter_init: sym!(b"fmi2EnterInitializationMode\0"),
                exit_init: sym!(b"fmi2ExitInitializationMode\0"),
                do_step: sym!(b"fmi2DoStep\0"),
                terminate: sym!(b"fmi2Terminate\0"),
                get_real: sym!(b"fmi2GetReal\0"),
                set_real: sym!(b"fmi2SetReal\0"),
                set_int: sym!(b"fmi2SetInteger\0"),
                set_bool: sym!(b"fmi2SetBoolean\0"),
                set_string: sym!(b"fmi2SetString\0"),
                _callbacks: callbacks,
            };
            (instance, api)
        };
        if instance.is_null() {
            let (lines, _) = log.take();
            return Err(format!(
                "{} failed{}",
                if fmi3 {
                    "fmi3InstantiateCoSimulation"
                } else {
                    "fmi2Instantiate"
                },
                if lines.is_empty() {
                    String::new()
                } else {
                    format!(": {}", lines.join("; "))
                }
            ));
        }
        Ok(Self {
            instance,
            api,
            image,
            log,
            _library: library,
        })
    }

    /// The binary's image.
    pub(crate) const fn image(&self) -> &Image {
        &self.image
    }

    /// What the FMU logged since the last call.
    pub(crate) fn log(&self) -> (Vec<String>, u64) {
        self.log.take()
    }

    /// Initialisation at `start` (with the stop time, when known): FMI 3.0
    /// `EnterInitializationMode`, FMI 2.0 `SetupExperiment` and `EnterInitializationMode`;
    /// then `ExitInitializationMode`. Start values are set before, with [`Self::set`].
    pub(crate) fn initialize(&mut self, start: f64, stop: Option<f64>) -> Result<(), String> {
        let c = self.instance;
        let stop_given = stop.is_some();
        let stop = stop.unwrap_or(0.0);
        match &self.api {
            Api::V3 {
                enter_init,
                exit_init,
                ..
            } => {
                // SAFETY: a live instance; plain values.
                let s = unsafe { enter_init(c, false, 0.0, start, stop_given, stop) };
                status("fmi3EnterInitializationMode", s)?;
                // SAFETY: as above.
                status("fmi3ExitInitializationMode", unsafe { exit_init(c) })
            }
            Api::V2 {
                setup,
                enter_init,
                exit_init,
                ..
            } => {
                // SAFETY: a live instance; plain values.
                let s = unsafe { setup(c, 0, 0.0, start, c_int::from(stop_given), stop) };
                status("fmi2SetupExperiment", s)?;
                // SAFETY: as above.
                status("fmi2EnterInitializationMode", unsafe { enter_init(c) })?;
                // SAFETY: as above.
                status("fmi2ExitInitializationMode", unsafe { exit_init(c) })
            }
        }
    }

    /// One step from `t` by `h`; whether the FMU asks to end the simulation, and whether it
    /// needs event handling (FMI 3.0, in Event Mode: a clock ticked). `on_update` gets the
    /// time of each intermediate update the FMU makes during the step (when instantiated
    /// for them), while the image may be read.
    pub(crate) fn do_step(
        &mut self,
        t: f64,
        h: f64,
        on_update: Option<&mut dyn FnMut(f64)>,
    ) -> Result<(bool, bool), String> {
        match &self.api {
            Api::V3 { do_step, .. } => {
                let (mut event, mut terminate, mut early, mut last) = (false, false, false, t);
                let mut handler = on_update;
                if let Some(f) = handler.as_mut() {
                    let f: &mut &mut dyn FnMut(f64) = f;
                    self.log.hook.set(std::ptr::from_mut(f).cast::<c_void>());
                }
                // SAFETY: a live instance; the out-pointers are locals alive across the call;
                // the hook points at `handler`, alive across it and cleared after it.
                let s = unsafe {
                    do_step(
                        self.instance,
                        t,
                        h,
                        true,
                        &raw mut event,
                        &raw mut terminate,
                        &raw mut early,
                        &raw mut last,
                    )
                };
                self.log.hook.set(null_mut());
                status("fmi3DoStep", s)?;
                Ok((terminate, event))
            }
            Api::V2 { do_step, .. } => {
                // SAFETY: a live instance; plain values.
                status("fmi2DoStep", unsafe { do_step(self.instance, t, h, 1) })?;
                Ok((false, false))
            }
        }
    }

    /// Event Mode after a step that asked for it (FMI 3.0): `fmi3EnterEventMode`, which of
    /// `clocks` ticked (`fmi3GetClock`), then `on_ticked` with them while the variables are
    /// those of the event, then `fmi3UpdateDiscreteStates` until nothing more needs
    /// updating (at most 100 rounds) and `fmi3EnterStepMode`. Returns whether the FMU asks
    /// to end the simulation.
    pub(crate) fn handle_events(
        &mut self,
        clocks: &[u32],
        on_ticked: &mut dyn FnMut(&[bool]),
    ) -> Result<bool, String> {
        let Api::V3 {
            enter_event_mode,
            enter_step_mode,
            get_clock,
            update_discrete_states,
            ..
        } = &self.api
        else {
            return Err("Event Mode is FMI 3.0's".into());
        };
        let c = self.instance;
        // SAFETY: a live instance.
        status("fmi3EnterEventMode", unsafe { enter_event_mode(c) })?;
        let mut ticked = vec![false; clocks.len()];
        if !clocks.is_empty() {
            // SAFETY: a live instance; both arrays hold `clocks.len()` elements.
            let s = unsafe { get_clock(c, clocks.as_ptr(), clocks.len(), ticked.as_mut_ptr()) };
            status("fmi3GetClock", s)?;
        }
        on_ticked(&ticked);
        let mut terminate = false;
        for _ in 0..100 {
            let (mut again, mut term, mut nominals, mut values, mut defined, mut next) =
                (false, false, false, false, false, 0.0);
            // SAFETY: a live instance; the out-pointers are locals alive across the call.
            let s = unsafe {
                update_discrete_states(
                    c,
                    &raw mut again,
                    &raw mut term,
                    &raw mut nominals,
                    &raw mut values,
                    &raw mut defined,
                    &raw mut next,
                )
            };
            status("fmi3UpdateDiscreteStates", s)?;
            terminate |= term;
            if !again || terminate {
                break;
            }
        }
        // SAFETY: a live instance.
        status("fmi3EnterStepMode", unsafe { enter_step_mode(c) })?;
        Ok(terminate)
    }

    /// The Float64 (FMI 3.0) or Real (FMI 2.0) values of `vrs`.
    pub(crate) fn get_f64(&mut self, vrs: &[u32]) -> Result<Vec<f64>, String> {
        let mut out = vec![0.0; vrs.len()];
        let (p, n, o) = (vrs.as_ptr(), vrs.len(), out.as_mut_ptr());
        let s = match &self.api {
            Api::V3 { get_f64, .. } => {
                // SAFETY: a live instance; both arrays hold `vrs.len()` elements.
                let s = unsafe { get_f64(self.instance, p, n, o, n) };
                ("fmi3GetFloat64", s)
            }
            Api::V2 { get_real, .. } => {
                // SAFETY: as above.
                let s = unsafe { get_real(self.instance, p, n, o) };
                ("fmi2GetReal", s)
            }
        };
        status(s.0, s.1).map(|()| out)
    }

    /// Sets one variable from its text, by its type (FMI 3.0 Float64, Boolean, UInt16,
    /// Int32, String; FMI 2.0 Real, Integer, Boolean, String).
    pub(crate) fn set(&mut self, vr: u32, ty: &str, value: &str) -> Result<(), String> {
        let bad = |what: &str| format!("{value:?} is not {what}");
        let v = value.trim();
        let vrs = [vr];
        let vp = vrs.as_ptr();
        let c = self.instance;
        let boolean = || match v {
            "true" | "1" => Ok(true),
            "false" | "0" => Ok(false),
            _ => Err(bad("true or false")),
        };
        let unsupported = |ty: &str| {
            format!(
                "setting a {ty} variable is not supported (Float64, Boolean, UInt16, Int32, String; FMI 2.0 Real, Integer, Boolean, String are)"
            )
        };
        let (call, s) = match (&self.api, ty) {
            (Api::V3 { set_f64, .. }, "Float64") => {
                let x: f64 = v.parse().map_err(|_| bad("a number"))?;
                // SAFETY: a live instance; one value reference and one value, alive across the call.
                ("fmi3SetFloat64", unsafe {
                    set_f64(c, vp, 1, &raw const x, 1)
                })
            }
            (Api::V3 { set_bool, .. }, "Boolean") => {
                let x = boolean()?;
                // SAFETY: as above.
                ("fmi3SetBoolean", unsafe {
                    set_bool(c, vp, 1, &raw const x, 1)
                })
            }
            (Api::V3 { set_u16, .. }, "UInt16") => {
                let x: u16 = v.parse().map_err(|_| bad("0 to 65535"))?;
                // SAFETY: as above.
                ("fmi3SetUInt16", unsafe {
                    set_u16(c, vp, 1, &raw const x, 1)
                })
            }
            (Api::V3 { set_i32, .. }, "Int32") => {
                let x: i32 = v.parse().map_err(|_| bad("a 32-bit integer"))?;
                // SAFETY: as above.
                ("fmi3SetInt32", unsafe {
                    set_i32(c, vp, 1, &raw const x, 1)
                })
            }
            (Api::V3 { set_string, .. }, "String") => {
                let x = CString::new(value).map_err(|_| bad("a string without NUL"))?;
                let p = x.as_ptr();
                // SAFETY: as above; the string outlives the call.
                ("fmi3SetString", unsafe {
                    set_string(c, vp, 1, &raw const p, 1)
                })
            }
            (Api::V2 { set_real, .. }, "Real") => {
                let x: f64 = v.parse().map_err(|_| bad("a number"))?;
                // SAFETY: a live instance; one value reference and one value, alive across the call.
                ("fmi2SetReal", unsafe { set_real(c, vp, 1, &raw const x) })
            }
            (Api::V2 { set_int, .. }, "Integer") => {
                let x: c_int = v.parse().map_err(|_| bad("a 32-bit integer"))?;
                // SAFETY: as above.
                ("fmi2SetInteger", unsafe { set_int(c, vp, 1, &raw const x) })
            }
            (Api::V2 { set_bool, .. }, "Boolean") => {
                let x = c_int::from(boolean()?);
                // SAFETY: as above.
                ("fmi2SetBoolean", unsafe {
                    set_bool(c, vp, 1, &raw const x)
                })
            }
            (Api::V2 { set_string, .. }, "String") => {
                let x = CString::new(value).map_err(|_| bad("a string without NUL"))?;
                let p = x.as_ptr();
                // SAFETY: as above; the string outlives the call.
                ("fmi2SetString", unsafe {
                    set_string(c, vp, 1, &raw const p)
                })
            }
            (_, other) => return Err(unsupported(other)),
        };
        status(call, s)
    }

    /// Copies `src` into the image at `offset`.
    pub(crate) fn write(&mut self, offset: usize, src: &[u8]) -> Result<(), String> {
        match self.image.access(offset, src.len()) {
            Some(true) => {}
            Some(false) => {
                return Err(format!(
                    "0x{offset:X} + {} is read-only memory of the FMU",
                    src.len()
                ));
            }
            None => {
                return Err(format!(
                    "0x{offset:X} + {} is outside the FMU's image",
                    src.len()
                ));
            }
        }
        // SAFETY: the range lies in writable mappings of the loaded binary (checked above);
        // no FMU call runs now, and the A2L says these bytes are the object written.
        unsafe {
            std::ptr::copy_nonoverlapping(
                src.as_ptr(),
                (self.image.base + offset) as *mut u8,
                src.len(),
            );
        }
        Ok(())
    }

    /// `Terminate`.
    pub(crate) fn terminate(&mut self) -> Result<(), String> {
        let (call, f) = match &self.api {
            Api::V3 { terminate, .. } => ("fmi3Terminate", terminate),
            Api::V2 { terminate, .. } => ("fmi2Terminate", terminate),
        };
        // SAFETY: a live instance.
        let s = unsafe { f(self.instance) };
        status(call, s)
    }
}

impl Drop for Loaded {
    fn drop(&mut self) {
        let (Api::V3 { free, .. } | Api::V2 { free, .. }) = &self.api;
        // SAFETY: the instance is live and freed once, before the library is unloaded
        // (fields drop after this).
        unsafe { free(self.instance) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_image_is_the_files_mappings_and_the_bss_after_them() {
        let maps = "\
5600-5700 r-xp 00000000 08:01 1 /bin/x
7f0000001000-7f0000002000 r--p 00000000 08:01 7 /tmp/lib.so
7f0000002000-7f0000004000 r-xp 00001000 08:01 7 /tmp/lib.so
7f0000004000-7f0000005000 r--p 00003000 08:01 7 /tmp/lib.so
7f0000005000-7f0000006000 rw-p 00004000 08:01 7 /tmp/lib.so
7f0000006000-7f0000008000 rw-p 00000000 00:00 0
7f0000009000-7f000000a000 rw-p 00000000 00:00 0
";
        let image = Image::find(maps, Path::new("/tmp/lib.so")).expect("found");
        assert_eq!(image.base(), 0x7f00_0000_1000);
        assert_eq!(image.len(), 0x7000);
        assert_eq!(image.access(0, 16), Some(false), "text is read-only");
        assert_eq!(image.access(0x4000, 0x2000), Some(true), ".data into .bss");
        assert_eq!(image.access(0x3FF0, 0x20), Some(false), "spans read-only");
        assert_eq!(image.access(0x6FFF, 2), None, "past the end");
        assert!(Image::find(maps, Path::new("/tmp/other.so")).is_none());
    }
}
