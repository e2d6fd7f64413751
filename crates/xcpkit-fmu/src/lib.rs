//! xcpkit's virtual ECU as an FMU with its own XCP service, as the FMI layered standard for
//! XCP (fmi-ls-xcp 1.0) describes it, for FMI 3.0 and FMI 2.0 Co-Simulation.
//!
//! The crate builds as a `cdylib` holding both APIs (`fmi3…` and `fmi2…`), and as a
//! library for the packer (`xcpkit-fmu-pack`, run by `cargo xtask fmu`), the tests and the
//! benches. Each instance owns an [`xcpkit_ecu::Ecu`] built with a simulated clock: every
//! `DoStep` runs the 1, 10 and 100 ms tasks for the simulated interval
//! ([`xcpkit_ecu::Stepper`]) and triggers their events with the simulation time as the DAQ
//! timestamp. The XCP service (TCP, and UDP when enabled) runs on its own threads from the
//! role variables (see [`vars`]): FMI 3.0 starts it in the first
//! `fmi3ExitConfigurationMode`, else in `fmi3EnterInitializationMode`; FMI 2.0 in
//! `fmi2SetupExperiment`. It stops in Terminate and FreeInstance. Instances share nothing.
//!
//! [`Instance`] is the whole behaviour in safe Rust; the C functions translate.
//!
//! The same binary is also the DMA FMU ([`DMA_MODEL_IDENTIFIER`]): its signals and
//! parameters in static storage for an importer's XCP service (fmi-ls-xcp section 5). The
//! importer is [`import::Served`], behind `xcpkit fmu serve`; [`elf`] gives A2L addresses
//! from a binary's symbols (and, for member and index paths, its DWARF).
//!
//! ```
//! use xcpkit_fmu::{Fmi, Instance, vars::vr};
//!
//! let mut fmu = Instance::new(Fmi::V3, "ecu")?;
//! fmu.set_bool(vr::TCP_ENABLE, false)?; // no socket in this example
//! fmu.enter_initialization_mode(Some(0.0))?;
//! fmu.exit_initialization_mode()?;
//! fmu.do_step(0.0, 0.5)?;
//! assert!(fmu.get_f64(vr::ENGINE_SPEED)? > 0.0);
//! assert_eq!(fmu.slave().now_ns(), 500_000_000); // the slave's clock is simulation time
//! fmu.terminate()?;
//! # Ok::<(), xcpkit_fmu::Refusal>(())
//! ```

mod dwarf;
pub mod elf;
mod ffi;
pub mod files;
pub mod import;
mod instance;
pub mod vars;

pub use instance::{Endpoint, Fmi, Instance, Mode, Refusal};

/// The FMU's model identifier: the binary's name and the `.fmu` file's stem.
pub const MODEL_IDENTIFIER: &str = "xcpkit_ecu";

/// FMI 3.0's `instantiationToken` and FMI 2.0's `guid`: the model description and the
/// binary belong together.
pub const INSTANTIATION_TOKEN: &str = "{4c1f0b7e-6a52-4d0e-9b3a-7c2e5d8f1a64}";

/// The DMA FMU's model identifier (FMI 3.0): the same binary under this name, its signals
/// and parameters in static storage that an importer's XCP service reads and writes
/// (fmi-ls-xcp section 5).
pub const DMA_MODEL_IDENTIFIER: &str = "xcpkit_ecu_dma";

/// The DMA FMU's `instantiationToken`.
pub const DMA_INSTANTIATION_TOKEN: &str = "{9d2b6c41-3e7a-4f85-a1c0-5b8e2f6d7c39}";
