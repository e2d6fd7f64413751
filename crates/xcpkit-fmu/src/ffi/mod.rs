//! The C functions of FMI 3.0 (`fmi3…`) and FMI 2.0 (`fmi2…`) Co-Simulation, in one binary.
//!
//! Each function checks its handle and pointers, calls the safe [`Instance`] and reports a
//! refusal to the importer's logger with `fmi…Error`; a panic inside becomes `fmi…Fatal`
//! instead of unwinding into C. Every function an importer may look up exists; those this
//! FMU does not offer (Model Exchange, Scheduled Execution, clocks, FMU states, types it has
//! no variables of) log that and return `fmi…Error`. They are declared with the instance
//! argument alone: the C calling conventions of the platforms we build for (System V
//! x86-64, AArch64) leave the arguments a callee does not read untouched.

#![allow(unsafe_code)]

pub(crate) mod dma;
mod fmi2;
mod fmi3;
pub(crate) mod import;

use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::instance::{Instance, Refusal};

/// `fmi3OK` / `fmi2OK`.
const OK: c_int = 0;
/// `fmi3Warning` / `fmi2Warning`.
const WARNING: c_int = 1;
/// `fmi3Error` / `fmi2Error`.
const ERROR: c_int = 3;
/// `fmi3Fatal` / `fmi2Fatal`.
const FATAL: c_int = 4;

/// `fmi3LogMessageCallback`.
type Log3 = unsafe extern "C" fn(*mut c_void, c_int, *const c_char, *const c_char);
/// `fmi2CallbackLogger` (printf-like: the message is a format).
type Log2 =
    unsafe extern "C" fn(*mut c_void, *const c_char, c_int, *const c_char, *const c_char, ...);

/// The importer's logger.
enum Logger {
    V3 {
        env: *mut c_void,
        f: Option<Log3>,
    },
    V2 {
        env: *mut c_void,
        f: Option<Log2>,
        name: CString,
    },
}

/// What the C handle points to.
struct Handle {
    instance: Instance,
    logger: Logger,
    /// `SetDebugLogging`: informational messages too (errors are always logged).
    logging: bool,
    /// The strings `GetString` returned, valid until the next call on the instance.
    strings: Vec<CString>,
    /// FMI 3.0's intermediate-update callback and the importer's environment, when given.
    intermediate: Option<(IntermediateUpdate3, *mut c_void)>,
}

/// `fmi3IntermediateUpdateCallback`.
type IntermediateUpdate3 =
    unsafe extern "C" fn(*mut c_void, f64, bool, bool, bool, bool, *mut bool, *mut f64);

/// Text for C, with any NUL replaced.
fn c_text(s: &str) -> CString {
    CString::new(s.replace('\0', " ")).unwrap_or_default()
}

impl Logger {
    /// Passes `message` with `status` to the importer's callback, if it gave one.
    fn log(&self, status: c_int, message: &str) {
        let category = c_text(match status {
            OK => "logStatusOK",
            WARNING => "logStatusWarning",
            _ => "logStatusError",
        });
        let text = c_text(message);
        match self {
            Self::V3 { env, f: Some(f) } => {
                // SAFETY: the importer gave this callback with this environment at
                // instantiation; both strings live across the call.
                unsafe { f(*env, status, category.as_ptr(), text.as_ptr()) };
            }
            Self::V2 {
                env,
                f: Some(f),
                name,
            } => {
                // SAFETY: as above; the message is passed as the argument of a "%s"
                // format, so a '%' in it is not read as a conversion.
                unsafe {
                    f(
                        *env,
                        name.as_ptr(),
                        status,
                        category.as_ptr(),
                        c"%s".as_ptr(),
                        text.as_ptr(),
                    );
                };
            }
            _ => {}
        }
    }
}

impl Handle {
    /// Logs `message`; information only when the importer turned logging on.
    fn log(&self, status: c_int, message: &str) {
        if status != OK || self.logging {
            self.logger.log(status, message);
        }
    }

    /// Logs the notes (as information) or the refusal (as an error); the status for C.
    fn report<T>(&self, r: Result<T, Refusal>, notes: impl FnOnce(&T) -> Vec<String>) -> c_int {
        match r {
            Ok(v) => {
                for n in notes(&v) {
                    self.log(OK, &n);
                }
                OK
            }
            Err(e) => {
                self.log(ERROR, &format!("{}: {e}", self.instance.name()));
                ERROR
            }
        }
    }
}

/// Runs `f` on the instance behind `instance`: `fmi…Error` for a null handle, `fmi…Fatal`
/// when `f` panics.
fn with(instance: *mut c_void, f: impl FnOnce(&mut Handle) -> c_int) -> c_int {
    if instance.is_null() {
        return ERROR;
    }
    // SAFETY: a non-null instance is the pointer Instantiate returned from `Box::into_raw`
    // and FreeInstance has not taken back; FMI lets an importer call one instance from one
    // thread at a time, so this is the only reference.
    let h = unsafe { &mut *instance.cast::<Handle>() };
    catch_unwind(AssertUnwindSafe(|| f(h))).unwrap_or(FATAL)
}

/// Boxes a new handle for C.
fn into_c(h: Handle) -> *mut c_void {
    Box::into_raw(Box::new(h)).cast()
}

/// Takes back and drops the handle (FreeInstance): the service stops.
fn free(instance: *mut c_void) {
    if instance.is_null() {
        return;
    }
    // SAFETY: as in `with`; FreeInstance is the last call on the instance, so the box is
    // taken back exactly once.
    let h = unsafe { Box::from_raw(instance.cast::<Handle>()) };
    let _ = catch_unwind(AssertUnwindSafe(move || drop(h)));
}

/// The `n` elements at `p` (none for a null pointer).
///
/// # Safety
/// `p` points to `n` valid elements, or is null.
unsafe fn slice<'a, T>(p: *const T, n: usize) -> &'a [T] {
    if p.is_null() || n == 0 {
        return &[];
    }
    // SAFETY: the caller's contract.
    unsafe { std::slice::from_raw_parts(p, n) }
}

/// The `n` elements at `p`, writable (none for a null pointer).
///
/// # Safety
/// `p` points to `n` valid, writable elements not otherwise borrowed, or is null.
unsafe fn slice_mut<'a, T>(p: *mut T, n: usize) -> &'a mut [T] {
    if p.is_null() || n == 0 {
        return &mut [];
    }
    // SAFETY: the caller's contract.
    unsafe { std::slice::from_raw_parts_mut(p, n) }
}

/// A C string (empty for null, lossy UTF-8).
///
/// # Safety
/// `p` is null or points to a NUL-terminated string.
unsafe fn text(p: *const c_char) -> String {
    if p.is_null() {
        return String::new();
    }
    // SAFETY: the caller's contract.
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

/// Reads values: `get(vr)` for each value reference into `out`, which must be as long.
fn get_each<T: Copy>(
    h: &mut Handle,
    vrs: &[u32],
    out: &mut [T],
    get: impl Fn(&Instance, u32) -> Result<T, Refusal>,
) -> c_int {
    if vrs.len() != out.len() {
        let n = (vrs.len(), out.len());
        return h.report::<()>(
            Err(Refusal(format!(
                "{} value references but room for {} values",
                n.0, n.1
            ))),
            |()| Vec::new(),
        );
    }
    for (vr, slot) in vrs.iter().zip(out.iter_mut()) {
        match get(&h.instance, *vr) {
            Ok(v) => *slot = v,
            Err(e) => return h.report::<()>(Err(e), |()| Vec::new()),
        }
    }
    OK
}

/// Writes values: `set(vr, value)` for each pair.
fn set_each<T: Copy>(
    h: &mut Handle,
    vrs: &[u32],
    values: &[T],
    set: impl Fn(&mut Instance, u32, T) -> Result<(), Refusal>,
) -> c_int {
    if vrs.len() != values.len() {
        let n = (vrs.len(), values.len());
        return h.report::<()>(
            Err(Refusal(format!(
                "{} value references but {} values",
                n.0, n.1
            ))),
            |()| Vec::new(),
        );
    }
    for (vr, v) in vrs.iter().zip(values) {
        if let Err(e) = set(&mut h.instance, *vr, *v) {
            return h.report::<()>(Err(e), |()| Vec::new());
        }
    }
    OK
}

/// Logs that `call` is not offered and returns `fmi…Error`.
fn refuse_call(instance: *mut c_void, call: &str) -> c_int {
    with(instance, |h| {
        h.log(ERROR, &format!("{call} is not supported by this FMU"));
        ERROR
    })
}

/// Stubs for functions this FMU does not offer (see the module docs).
macro_rules! unsupported {
    ($($name:ident),* $(,)?) => {$(
        #[unsafe(no_mangle)]
        extern "C" fn $name(instance: *mut c_void) -> c_int {
            $crate::ffi::refuse_call(instance, stringify!($name))
        }
    )*};
}
use unsupported;
