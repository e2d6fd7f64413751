//! FMI 3.0 Co-Simulation.

use std::ffi::{c_char, c_int, c_void};
use std::ptr::null_mut;

use super::{
    ERROR, Handle, Log3, Logger, OK, free, get_each, into_c, set_each, slice, slice_mut, text,
    unsupported, with,
};
use crate::INSTANTIATION_TOKEN;
use crate::instance::{Fmi, Instance};

#[unsafe(no_mangle)]
extern "C" fn fmi3GetVersion() -> *const c_char {
    c"3.0".as_ptr()
}

#[unsafe(no_mangle)]
extern "C" fn fmi3SetDebugLogging(
    instance: *mut c_void,
    logging_on: bool,
    _n_categories: usize,
    _categories: *const *const c_char,
) -> c_int {
    with(instance, |h| {
        h.logging = logging_on;
        OK
    })
}

/// Logs through the importer's callback before there is a handle.
fn early_log(env: *mut c_void, f: Option<Log3>, message: &str) {
    Logger::V3 { env, f }.log(ERROR, message);
}

#[unsafe(no_mangle)]
#[allow(
    clippy::too_many_arguments,
    clippy::fn_params_excessive_bools,
    reason = "the signature FMI 3.0 defines"
)]
extern "C" fn fmi3InstantiateCoSimulation(
    instance_name: *const c_char,
    instantiation_token: *const c_char,
    _resource_path: *const c_char,
    _visible: bool,
    logging_on: bool,
    event_mode_used: bool,
    _early_return_allowed: bool,
    _required_intermediate_variables: *const u32,
    _n_required_intermediate_variables: usize,
    instance_environment: *mut c_void,
    log_message: Option<Log3>,
    intermediate_update: Option<super::IntermediateUpdate3>,
) -> *mut c_void {
    // SAFETY: FMI passes NUL-terminated strings (or null).
    let (name, token) = unsafe { (text(instance_name), text(instantiation_token)) };
    let dma = token == crate::DMA_INSTANTIATION_TOKEN;
    if token != INSTANTIATION_TOKEN && !dma {
        early_log(
            instance_environment,
            log_message,
            &format!(
                "{name}: instantiation token {token} is not this FMU's {INSTANTIATION_TOKEN} (a modelDescription.xml of another FMU?)"
            ),
        );
        return null_mut();
    }
    if event_mode_used && !dma {
        early_log(
            instance_environment,
            log_message,
            &format!("{name}: this FMU has no Event Mode (hasEventMode=\"false\")"),
        );
        return null_mut();
    }
    let new = || {
        if dma {
            let mut i = Instance::new_dma(Fmi::V3, &name)?;
            if event_mode_used {
                i.use_event_mode()?;
            }
            Ok(i)
        } else {
            Instance::new(Fmi::V3, &name)
        }
    };
    match std::panic::catch_unwind(new) {
        Ok(Ok(instance)) => into_c(Handle {
            instance,
            logger: Logger::V3 {
                env: instance_environment,
                f: log_message,
            },
            logging: logging_on,
            strings: Vec::new(),
            intermediate: intermediate_update.map(|f| (f, instance_environment)),
        }),
        Ok(Err(e)) => {
            early_log(instance_environment, log_message, &format!("{name}: {e}"));
            null_mut()
        }
        Err(_) => null_mut(),
    }
}

#[unsafe(no_mangle)]
extern "C" fn fmi3InstantiateModelExchange(
    instance_name: *const c_char,
    _instantiation_token: *const c_char,
    _resource_path: *const c_char,
    _visible: bool,
    _logging_on: bool,
    instance_environment: *mut c_void,
    log_message: Option<Log3>,
) -> *mut c_void {
    // SAFETY: FMI passes a NUL-terminated string (or null).
    let name = unsafe { text(instance_name) };
    early_log(
        instance_environment,
        log_message,
        &format!("{name}: this FMU offers Co-Simulation only"),
    );
    null_mut()
}

#[unsafe(no_mangle)]
extern "C" fn fmi3InstantiateScheduledExecution(
    instance_name: *const c_char,
    _instantiation_token: *const c_char,
    _resource_path: *const c_char,
    _visible: bool,
    _logging_on: bool,
    instance_environment: *mut c_void,
    log_message: Option<Log3>,
) -> *mut c_void {
    fmi3InstantiateModelExchange(
        instance_name,
        _instantiation_token,
        _resource_path,
        _visible,
        _logging_on,
        instance_environment,
        log_message,
    )
}

#[unsafe(no_mangle)]
extern "C" fn fmi3FreeInstance(instance: *mut c_void) {
    free(instance);
}

#[unsafe(no_mangle)]
extern "C" fn fmi3EnterConfigurationMode(instance: *mut c_void) -> c_int {
    with(instance, |h| {
        let r = h.instance.enter_configuration_mode();
        h.report(r, |()| Vec::new())
    })
}

#[unsafe(no_mangle)]
extern "C" fn fmi3ExitConfigurationMode(instance: *mut c_void) -> c_int {
    with(instance, |h| {
        let r = h.instance.exit_configuration_mode();
        h.report(r, Clone::clone)
    })
}

#[unsafe(no_mangle)]
extern "C" fn fmi3EnterInitializationMode(
    instance: *mut c_void,
    _tolerance_defined: bool,
    _tolerance: f64,
    start_time: f64,
    _stop_time_defined: bool,
    _stop_time: f64,
) -> c_int {
    with(instance, |h| {
        let r = h.instance.enter_initialization_mode(Some(start_time));
        h.report(r, Clone::clone)
    })
}

#[unsafe(no_mangle)]
extern "C" fn fmi3ExitInitializationMode(instance: *mut c_void) -> c_int {
    with(instance, |h| {
        let r = h.instance.exit_initialization_mode();
        h.report(r, |()| Vec::new())
    })
}

#[unsafe(no_mangle)]
extern "C" fn fmi3Terminate(instance: *mut c_void) -> c_int {
    with(instance, |h| {
        let r = h.instance.terminate();
        h.report(r, |()| Vec::new())
    })
}

#[unsafe(no_mangle)]
extern "C" fn fmi3Reset(instance: *mut c_void) -> c_int {
    with(instance, |h| {
        let r = h.instance.reset();
        h.report(r, |()| Vec::new())
    })
}

#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments, reason = "the signature FMI 3.0 defines")]
extern "C" fn fmi3DoStep(
    instance: *mut c_void,
    current_communication_point: f64,
    communication_step_size: f64,
    _no_set_fmu_state_prior_to_current_point: bool,
    event_handling_needed: *mut bool,
    terminate_simulation: *mut bool,
    early_return: *mut bool,
    last_successful_time: *mut f64,
) -> c_int {
    with(instance, |h| {
        let r = match h.intermediate {
            Some((f, env)) => {
                let mut update = |time: f64| {
                    let (mut early, mut early_time) = (false, time);
                    // SAFETY: the importer's callback with its environment, as FMI 3.0 has
                    // it called: the variables may be read (intermediateVariableGetAllowed),
                    // none set, the intermediate step finished, no early return offered; the
                    // out-pointers are locals alive across the call.
                    unsafe {
                        f(
                            env,
                            time,
                            false,
                            true,
                            true,
                            false,
                            &raw mut early,
                            &raw mut early_time,
                        );
                    }
                };
                h.instance.do_step_with(
                    current_communication_point,
                    communication_step_size,
                    Some(&mut update),
                )
            }
            None => h
                .instance
                .do_step(current_communication_point, communication_step_size),
        };
        let t = h.instance.time();
        for flag in [event_handling_needed, terminate_simulation, early_return] {
            if !flag.is_null() {
                // SAFETY: FMI 3.0 passes these as pointers to the importer's variables.
                unsafe { *flag = false };
            }
        }
        if !event_handling_needed.is_null() {
            // SAFETY: as above.
            unsafe { *event_handling_needed = h.instance.event_needed() };
        }
        if !last_successful_time.is_null() {
            // SAFETY: as above.
            unsafe { *last_successful_time = t };
        }
        h.report(r, |()| Vec::new())
    })
}

/// `fmi3Get…`/`fmi3Set…` for one C type and one instance accessor.
macro_rules! get_set {
    ($get:ident, $set:ident, $t:ty, |$i:ident, $vr:ident| $read:expr, |$j:ident, $wvr:ident, $v:ident| $write:expr) => {
        #[unsafe(no_mangle)]
        extern "C" fn $get(
            instance: *mut c_void,
            vrs: *const u32,
            n_vrs: usize,
            values: *mut $t,
            n_values: usize,
        ) -> c_int {
            with(instance, |h| {
                // SAFETY: FMI passes arrays of the lengths it names.
                let (vrs, out) = unsafe { (slice(vrs, n_vrs), slice_mut(values, n_values)) };
                get_each(h, vrs, out, |$i: &Instance, $vr| $read)
            })
        }

        #[unsafe(no_mangle)]
        extern "C" fn $set(
            instance: *mut c_void,
            vrs: *const u32,
            n_vrs: usize,
            values: *const $t,
            n_values: usize,
        ) -> c_int {
            with(instance, |h| {
                // SAFETY: FMI passes arrays of the lengths it names.
                let (vrs, values) = unsafe { (slice(vrs, n_vrs), slice(values, n_values)) };
                set_each(h, vrs, values, |$j: &mut Instance, $wvr, $v: $t| $write)
            })
        }
    };
}

get_set!(
    fmi3GetFloat64,
    fmi3SetFloat64,
    f64,
    |i, vr| i.get_f64(vr),
    |i, vr, v| i.set_f64(vr, v)
);
get_set!(
    fmi3GetBoolean,
    fmi3SetBoolean,
    bool,
    |i, vr| i.get_bool(vr),
    |i, vr, v| i.set_bool(vr, v)
);
get_set!(
    fmi3GetUInt16,
    fmi3SetUInt16,
    u16,
    |i, vr| i.get_int(vr),
    |i, vr, v| i.set_int(vr, i64::from(v))
);

#[unsafe(no_mangle)]
extern "C" fn fmi3GetString(
    instance: *mut c_void,
    vrs: *const u32,
    n_vrs: usize,
    values: *mut *const c_char,
    n_values: usize,
) -> c_int {
    with(instance, |h| {
        // SAFETY: FMI passes arrays of the lengths it names.
        let (vrs, out) = unsafe { (slice(vrs, n_vrs), slice_mut(values, n_values)) };
        let mut texts = Vec::with_capacity(vrs.len());
        for &vr in vrs {
            match h.instance.get_string(vr) {
                Ok(s) => texts.push(super::c_text(s)),
                Err(e) => return h.report::<()>(Err(e), |()| Vec::new()),
            }
        }
        if texts.len() != out.len() {
            return h.report::<()>(
                Err(crate::instance::Refusal(format!(
                    "{} value references but room for {} values",
                    texts.len(),
                    out.len()
                ))),
                |()| Vec::new(),
            );
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
extern "C" fn fmi3SetString(
    instance: *mut c_void,
    vrs: *const u32,
    n_vrs: usize,
    values: *const *const c_char,
    n_values: usize,
) -> c_int {
    with(instance, |h| {
        // SAFETY: FMI passes arrays of the lengths it names, of NUL-terminated strings.
        let (vrs, values) = unsafe { (slice(vrs, n_vrs), slice(values, n_values)) };
        // SAFETY: each element is a NUL-terminated string or null.
        let texts: Vec<String> = values.iter().map(|&p| unsafe { text(p) }).collect();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        set_each(h, vrs, &refs, |i, vr, v| i.set_string(vr, v))
    })
}

#[unsafe(no_mangle)]
extern "C" fn fmi3EnterEventMode(instance: *mut c_void) -> c_int {
    with(instance, |h| {
        let r = h.instance.enter_event_mode();
        h.report(r, |()| Vec::new())
    })
}

#[unsafe(no_mangle)]
extern "C" fn fmi3EnterStepMode(instance: *mut c_void) -> c_int {
    with(instance, |h| {
        let r = h.instance.enter_step_mode();
        h.report(r, |()| Vec::new())
    })
}

#[unsafe(no_mangle)]
extern "C" fn fmi3GetClock(
    instance: *mut c_void,
    vrs: *const u32,
    n_vrs: usize,
    values: *mut bool,
) -> c_int {
    with(instance, |h| {
        if n_vrs > 0 && values.is_null() {
            h.log(ERROR, "fmi3GetClock: no array for the values");
            return ERROR;
        }
        // SAFETY: FMI passes an array of `n_vrs` value references.
        let vrs = unsafe { slice(vrs, n_vrs) };
        for (i, &vr) in vrs.iter().enumerate() {
            match h.instance.get_clock(vr) {
                // SAFETY: FMI passes an array of `n_vrs` values to fill.
                Ok(v) => unsafe { *values.add(i) = v },
                Err(e) => return h.report::<()>(Err(e), |()| Vec::new()),
            }
        }
        OK
    })
}

#[unsafe(no_mangle)]
#[allow(clippy::similar_names, reason = "the out-parameters FMI 3.0 names")]
extern "C" fn fmi3UpdateDiscreteStates(
    instance: *mut c_void,
    discrete_states_need_update: *mut bool,
    terminate_simulation: *mut bool,
    nominals_changed: *mut bool,
    values_changed: *mut bool,
    next_event_time_defined: *mut bool,
    next_event_time: *mut f64,
) -> c_int {
    with(instance, |h| {
        let r = h.instance.update_discrete_states();
        for flag in [
            discrete_states_need_update,
            terminate_simulation,
            nominals_changed,
            values_changed,
            next_event_time_defined,
        ] {
            if !flag.is_null() {
                // SAFETY: FMI 3.0 passes these as pointers to the importer's variables.
                unsafe { *flag = false };
            }
        }
        if !next_event_time.is_null() {
            // SAFETY: as above.
            unsafe { *next_event_time = 0.0 };
        }
        h.report(r, |()| Vec::new())
    })
}

unsupported!(
    fmi3GetFloat32,
    fmi3GetInt8,
    fmi3GetUInt8,
    fmi3GetInt16,
    fmi3GetInt32,
    fmi3GetUInt32,
    fmi3GetInt64,
    fmi3GetUInt64,
    fmi3GetBinary,
    fmi3SetFloat32,
    fmi3SetInt8,
    fmi3SetUInt8,
    fmi3SetInt16,
    fmi3SetInt32,
    fmi3SetUInt32,
    fmi3SetInt64,
    fmi3SetUInt64,
    fmi3SetBinary,
    fmi3SetClock,
    fmi3GetNumberOfVariableDependencies,
    fmi3GetVariableDependencies,
    fmi3GetFMUState,
    fmi3SetFMUState,
    fmi3FreeFMUState,
    fmi3SerializedFMUStateSize,
    fmi3SerializeFMUState,
    fmi3DeserializeFMUState,
    fmi3GetDirectionalDerivative,
    fmi3GetAdjointDerivative,
    fmi3EnterContinuousTimeMode,
    fmi3CompletedIntegratorStep,
    fmi3SetTime,
    fmi3SetContinuousStates,
    fmi3GetContinuousStateDerivatives,
    fmi3GetEventIndicators,
    fmi3GetContinuousStates,
    fmi3GetNominalsOfContinuousStates,
    fmi3GetNumberOfEventIndicators,
    fmi3GetNumberOfContinuousStates,
    fmi3EvaluateDiscreteStates,
    fmi3GetIntervalDecimal,
    fmi3GetIntervalFraction,
    fmi3GetShiftDecimal,
    fmi3GetShiftFraction,
    fmi3SetIntervalDecimal,
    fmi3SetIntervalFraction,
    fmi3SetShiftDecimal,
    fmi3SetShiftFraction,
    fmi3ActivateModelPartition,
    fmi3GetOutputDerivatives,
);
