//! FMI 2.0 Co-Simulation.

use std::ffi::{c_char, c_int, c_void};
use std::ptr::null_mut;

use super::{
    ERROR, Handle, Log2, Logger, OK, free, get_each, into_c, set_each, slice, slice_mut, text,
    unsupported, with,
};
use crate::INSTANTIATION_TOKEN;
use crate::instance::{Fmi, Instance, Refusal};

/// `fmi2CallbackFunctions`.
#[repr(C)]
struct Callbacks {
    logger: Option<Log2>,
    allocate_memory: *mut c_void,
    free_memory: *mut c_void,
    step_finished: *mut c_void,
    component_environment: *mut c_void,
}

/// `fmi2CoSimulation` of `fmi2Type`.
const CO_SIMULATION: c_int = 1;

#[unsafe(no_mangle)]
extern "C" fn fmi2GetTypesPlatform() -> *const c_char {
    c"default".as_ptr()
}

#[unsafe(no_mangle)]
extern "C" fn fmi2GetVersion() -> *const c_char {
    c"2.0".as_ptr()
}

#[unsafe(no_mangle)]
extern "C" fn fmi2SetDebugLogging(
    c: *mut c_void,
    logging_on: c_int,
    _n_categories: usize,
    _categories: *const *const c_char,
) -> c_int {
    with(c, |h| {
        h.logging = logging_on != 0;
        OK
    })
}

#[unsafe(no_mangle)]
extern "C" fn fmi2Instantiate(
    instance_name: *const c_char,
    fmu_type: c_int,
    fmu_guid: *const c_char,
    _fmu_resource_location: *const c_char,
    functions: *const Callbacks,
    _visible: c_int,
    logging_on: c_int,
) -> *mut c_void {
    // SAFETY: FMI passes NUL-terminated strings (or null).
    let (name, guid) = unsafe { (text(instance_name), text(fmu_guid)) };
    // SAFETY: FMI 2.0 passes the importer's callback structure (or null).
    let (env, log) = unsafe { functions.as_ref() }
        .map_or((null_mut(), None), |f| (f.component_environment, f.logger));
    let logger = || Logger::V2 {
        env,
        f: log,
        name: super::c_text(&name),
    };
    let early = |message: String| logger().log(ERROR, &message);
    if fmu_type != CO_SIMULATION {
        early(format!("{name}: this FMU offers Co-Simulation only"));
        return null_mut();
    }
    let dma = guid == crate::DMA_INSTANTIATION_TOKEN;
    if guid != INSTANTIATION_TOKEN && !dma {
        early(format!(
            "{name}: GUID {guid} is not this FMU's {INSTANTIATION_TOKEN} (a modelDescription.xml of another FMU?)"
        ));
        return null_mut();
    }
    match std::panic::catch_unwind(|| {
        if dma {
            Instance::new_dma(Fmi::V2, &name)
        } else {
            Instance::new(Fmi::V2, &name)
        }
    }) {
        Ok(Ok(instance)) => into_c(Handle {
            instance,
            logger: logger(),
            logging: logging_on != 0,
            strings: Vec::new(),
            intermediate: None,
        }),
        Ok(Err(e)) => {
            early(format!("{name}: {e}"));
            null_mut()
        }
        Err(_) => null_mut(),
    }
}

#[unsafe(no_mangle)]
extern "C" fn fmi2FreeInstance(c: *mut c_void) {
    free(c);
}

#[unsafe(no_mangle)]
extern "C" fn fmi2SetupExperiment(
    c: *mut c_void,
    _tolerance_defined: c_int,
    _tolerance: f64,
    start_time: f64,
    _stop_time_defined: c_int,
    _stop_time: f64,
) -> c_int {
    with(c, |h| {
        let r = h.instance.setup_experiment(start_time);
        h.report(r, Clone::clone)
    })
}

#[unsafe(no_mangle)]
extern "C" fn fmi2EnterInitializationMode(c: *mut c_void) -> c_int {
    with(c, |h| {
        let r = h.instance.enter_initialization_mode(None);
        h.report(r, Clone::clone)
    })
}

#[unsafe(no_mangle)]
extern "C" fn fmi2ExitInitializationMode(c: *mut c_void) -> c_int {
    with(c, |h| {
        let r = h.instance.exit_initialization_mode();
        h.report(r, |()| Vec::new())
    })
}

#[unsafe(no_mangle)]
extern "C" fn fmi2Terminate(c: *mut c_void) -> c_int {
    with(c, |h| {
        let r = h.instance.terminate();
        h.report(r, |()| Vec::new())
    })
}

#[unsafe(no_mangle)]
extern "C" fn fmi2Reset(c: *mut c_void) -> c_int {
    with(c, |h| {
        let r = h.instance.reset();
        h.report(r, |()| Vec::new())
    })
}

#[unsafe(no_mangle)]
extern "C" fn fmi2DoStep(
    c: *mut c_void,
    current_communication_point: f64,
    communication_step_size: f64,
    _no_set_fmu_state_prior: c_int,
) -> c_int {
    with(c, |h| {
        let r = h
            .instance
            .do_step(current_communication_point, communication_step_size);
        h.report(r, |()| Vec::new())
    })
}

/// `fmi2Get…`/`fmi2Set…` for one C type and one instance accessor (FMI 2.0 passes one
/// length for both arrays).
macro_rules! get_set {
    ($get:ident, $set:ident, $t:ty, |$i:ident, $vr:ident| $read:expr, |$j:ident, $wvr:ident, $v:ident| $write:expr) => {
        #[unsafe(no_mangle)]
        extern "C" fn $get(c: *mut c_void, vrs: *const u32, n: usize, values: *mut $t) -> c_int {
            with(c, |h| {
                // SAFETY: FMI 2.0 passes two arrays of `n` elements.
                let (vrs, out) = unsafe { (slice(vrs, n), slice_mut(values, n)) };
                get_each(h, vrs, out, |$i: &Instance, $vr| $read)
            })
        }

        #[unsafe(no_mangle)]
        extern "C" fn $set(c: *mut c_void, vrs: *const u32, n: usize, values: *const $t) -> c_int {
            with(c, |h| {
                // SAFETY: FMI 2.0 passes two arrays of `n` elements.
                let (vrs, values) = unsafe { (slice(vrs, n), slice(values, n)) };
                set_each(h, vrs, values, |$j: &mut Instance, $wvr, $v: $t| $write)
            })
        }
    };
}

get_set!(
    fmi2GetReal,
    fmi2SetReal,
    f64,
    |i, vr| i.get_f64(vr),
    |i, vr, v| i.set_f64(vr, v)
);
get_set!(
    fmi2GetBoolean,
    fmi2SetBoolean,
    c_int,
    |i, vr| i.get_bool(vr).map(c_int::from),
    |i, vr, v| i.set_bool(vr, v != 0)
);
get_set!(
    fmi2GetInteger,
    fmi2SetInteger,
    c_int,
    |i, vr| i.get_int(vr).map(c_int::from),
    |i, vr, v| i.set_int(vr, i64::from(v))
);

#[unsafe(no_mangle)]
extern "C" fn fmi2GetString(
    c: *mut c_void,
    vrs: *const u32,
    n: usize,
    values: *mut *const c_char,
) -> c_int {
    with(c, |h| {
        // SAFETY: FMI 2.0 passes two arrays of `n` elements.
        let (vrs, out) = unsafe { (slice(vrs, n), slice_mut(values, n)) };
        let mut texts = Vec::with_capacity(vrs.len());
        for &vr in vrs {
            match h.instance.get_string(vr) {
                Ok(s) => texts.push(super::c_text(s)),
                Err(e) => return h.report::<()>(Err(e), |()| Vec::new()),
            }
        }
        if texts.len() != out.len() {
            return h.report::<()>(Err(Refusal("no room for the strings".into())), |()| {
                Vec::new()
            });
        }
        // The strings stay valid until the next call that returns strings.
        h.strings = texts;
        for (slot, s) in out.iter_mut().zip(&h.strings) {
            *slot = s.as_ptr();
        }
        OK
    })
}

#[unsafe(no_mangle)]
extern "C" fn fmi2SetString(
    c: *mut c_void,
    vrs: *const u32,
    n: usize,
    values: *const *const c_char,
) -> c_int {
    with(c, |h| {
        // SAFETY: FMI 2.0 passes two arrays of `n` elements.
        let (vrs, values) = unsafe { (slice(vrs, n), slice(values, n)) };
        // SAFETY: each element is a NUL-terminated string or null.
        let texts: Vec<String> = values.iter().map(|&p| unsafe { text(p) }).collect();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        set_each(h, vrs, &refs, |i, vr, v| i.set_string(vr, v))
    })
}

unsupported!(
    fmi2CancelStep,
    fmi2GetStatus,
    fmi2GetRealStatus,
    fmi2GetIntegerStatus,
    fmi2GetBooleanStatus,
    fmi2GetStringStatus,
    fmi2SetRealInputDerivatives,
    fmi2GetRealOutputDerivatives,
    fmi2GetFMUstate,
    fmi2SetFMUstate,
    fmi2FreeFMUstate,
    fmi2SerializedFMUstateSize,
    fmi2SerializeFMUstate,
    fmi2DeSerializeFMUstate,
    fmi2GetDirectionalDerivative,
);
