//! The DMA FMU's static storage: the measured signals and the calibration parameters at
//! fixed places in the binary's image, named by exported symbols, so that an importer that
//! reads and writes the FMU's memory (fmi-ls-xcp section 5) finds them through the A2L's
//! SYMBOL_LINKs. One instance per process owns them (its modelDescription says
//! `canBeInstantiatedOnlyOncePerProcess`).
//!
//! The importer touches these bytes only between two calls into the FMU; the instance only
//! during a call. Both sides see whole values: every field is an atomic of its size.

#![allow(
    non_upper_case_globals,
    reason = "the symbols are C names the A2L's SYMBOL_LINKs spell"
)]

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use xcpkit_ecu::Outputs;

/// The signals, as [`Outputs`] and the tick count.
#[repr(C)]
pub(crate) struct Signals {
    engine_speed: AtomicU64,
    vehicle_speed: AtomicU64,
    sine_wave: AtomicU64,
    pedal: AtomicU64,
    counter_1ms: AtomicU32,
    _pad: AtomicU32,
}

/// 32-bit words: the parameters' record (`xcpkit_ecu::PARAMS_SIZE` bytes) is four-aligned.
const PARAM_WORDS: usize = xcpkit_ecu::PARAMS_SIZE / 4;

/// The calibration parameters, laid out as segment `params` of the ECU.
#[repr(C, align(8))]
pub(crate) struct ParamImage([AtomicU32; PARAM_WORDS]);

/// The symbol of [`Signals`].
pub(crate) const SIGNALS_SYMBOL: &str = "xcpkit_ecu_signals";
/// The symbol of the parameters.
pub(crate) const PARAMS_SYMBOL: &str = "xcpkit_ecu_params";

#[unsafe(no_mangle)]
#[used]
static xcpkit_ecu_signals: Signals = Signals {
    engine_speed: AtomicU64::new(0),
    vehicle_speed: AtomicU64::new(0),
    sine_wave: AtomicU64::new(0),
    pedal: AtomicU64::new(0),
    counter_1ms: AtomicU32::new(0),
    _pad: AtomicU32::new(0),
};

#[unsafe(no_mangle)]
#[used]
static xcpkit_ecu_params: ParamImage = ParamImage([const { AtomicU32::new(0) }; PARAM_WORDS]);

/// Whether an instance owns the storage.
static CLAIMED: AtomicBool = AtomicBool::new(false);

/// Byte offsets of the signals in [`Signals`], by the names the A2L gives them, with their
/// A2L datatype.
pub(crate) const SIGNAL_FIELDS: [(&str, usize, &str); 5] = [
    ("engine_speed", 0, "FLOAT64_IEEE"),
    ("vehicle_speed", 8, "FLOAT64_IEEE"),
    ("sine_wave", 16, "FLOAT64_IEEE"),
    ("pedal", 24, "FLOAT64_IEEE"),
    ("counter_1ms", 32, "ULONG"),
];

/// Takes the storage for one instance; `false` when another instance has it.
pub(crate) fn claim() -> bool {
    CLAIMED
        .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
        .is_ok()
}

/// Gives the storage back.
pub(crate) fn release() {
    CLAIMED.store(false, Ordering::Release);
}

/// Writes the parameter bytes (shorter input leaves the rest).
pub(crate) fn store_params(bytes: &[u8]) {
    for (w, chunk) in xcpkit_ecu_params.0.iter().zip(bytes.chunks_exact(4)) {
        let word = u32::from_ne_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        w.store(word, Ordering::Relaxed);
    }
}

/// The parameter bytes as they are now (an importer may have written them).
pub(crate) fn load_params() -> Vec<u8> {
    xcpkit_ecu_params
        .0
        .iter()
        .flat_map(|w| w.load(Ordering::Relaxed).to_ne_bytes())
        .collect()
}

/// Writes the signals after a step.
pub(crate) fn store_signals(o: &Outputs, counter: u32) {
    let s = &xcpkit_ecu_signals;
    s.engine_speed
        .store(o.engine_speed.to_bits(), Ordering::Relaxed);
    s.vehicle_speed
        .store(o.vehicle_speed.to_bits(), Ordering::Relaxed);
    s.sine_wave.store(o.sine_wave.to_bits(), Ordering::Relaxed);
    s.pedal.store(o.pedal.to_bits(), Ordering::Relaxed);
    s.counter_1ms.store(counter, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_layout_is_what_the_a2l_says() {
        assert_eq!(size_of::<Signals>(), 40);
        assert_eq!(
            std::mem::offset_of!(Signals, counter_1ms),
            SIGNAL_FIELDS[4].1
        );
        assert_eq!(std::mem::offset_of!(Signals, pedal), SIGNAL_FIELDS[3].1);
        assert_eq!(
            size_of::<ParamImage>(),
            xcpkit_ecu::PARAMS_SIZE.next_multiple_of(8)
        );
    }
}
