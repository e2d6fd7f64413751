//! ASAM seed & key shared libraries, loaded at run time.
//!
//! Such a library exports `XCP_ComputeKeyFromSeed(privilege: u8, seed_len: u8, seed: *const
//! u8, key_len: *mut u8, key: *mut u8) -> u32` (C calling convention; `key_len` holds the
//! buffer size on entry and the key length on return; 0 means success, 1 privilege not
//! available, 2 invalid seed length, 3 key buffer too small) and optionally
//! `XCP_GetAvailablePrivileges(privileges: *mut u8) -> u32`.
//!
//! This is the crate's only `unsafe` code: calling into the library. Loading a library runs
//! its initialisers; the caller chooses which file to trust.
#![allow(unsafe_code)]

use std::path::{Path, PathBuf};

use xcp_proto::Resources;

use crate::error::Error;
use crate::session::SeedKey;

type ComputeKey = unsafe extern "C" fn(u8, u8, *const u8, *mut u8, *mut u8) -> u32;
type Privileges = unsafe extern "C" fn(*mut u8) -> u32;

/// The largest key the library may return (UNLOCK's length field is one byte).
const KEY_BUFFER: usize = 255;

/// A seed & key library with the ASAM `XCP_ComputeKeyFromSeed` interface.
#[derive(Debug)]
pub struct SeedKeyLibrary {
    lib: libloading::Library,
    path: PathBuf,
}

impl SeedKeyLibrary {
    /// Loads the library at `path` and checks that it exports `XCP_ComputeKeyFromSeed`.
    ///
    /// # Errors
    /// [`Error::Locked`] naming the file when it cannot be loaded or lacks the function.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let fail = |reason: String| Error::Locked {
            resource: "seed & key",
            reason,
        };
        // SAFETY: loading runs the library's initialisers; the user named this file as their
        // seed & key library, which is the trust decision this API documents.
        let lib = unsafe { libloading::Library::new(path) }
            .map_err(|e| fail(format!("cannot load {}: {e}", path.display())))?;
        // SAFETY: the symbol is only looked up here, with the type the ASAM interface gives.
        unsafe { lib.get::<ComputeKey>(b"XCP_ComputeKeyFromSeed\0") }.map_err(|e| {
            fail(format!(
                "{} does not export XCP_ComputeKeyFromSeed: {e}",
                path.display()
            ))
        })?;
        Ok(Self {
            lib,
            path: path.to_owned(),
        })
    }

    /// The resources the library can unlock (`XCP_GetAvailablePrivileges`), when it says.
    pub fn privileges(&self) -> Option<Resources> {
        // SAFETY: the symbol has the ASAM signature; the pointer is to a local byte that
        // outlives the call.
        let f = unsafe { self.lib.get::<Privileges>(b"XCP_GetAvailablePrivileges\0") }.ok()?;
        let mut p = 0u8;
        // SAFETY: as above; the function writes one byte through the pointer.
        let rc = unsafe { f(&raw mut p) };
        (rc == 0).then_some(Resources(p))
    }
}

impl SeedKey for SeedKeyLibrary {
    fn key(&mut self, resource: Resources, seed: &[u8]) -> Result<Vec<u8>, String> {
        let seed_len =
            u8::try_from(seed.len()).map_err(|_| format!("a {}-byte seed", seed.len()))?;
        // SAFETY: checked at load; the type is the ASAM signature.
        let f = unsafe { self.lib.get::<ComputeKey>(b"XCP_ComputeKeyFromSeed\0") }
            .map_err(|e| e.to_string())?;
        let mut key = vec![0u8; KEY_BUFFER];
        let mut key_len = u8::MAX;
        // SAFETY: `seed` is valid for `seed_len` bytes; `key` has room for `key_len` (255)
        // bytes, the most the interface can report; `key_len` is a local the function
        // updates. The library must not keep the pointers (the interface gives it no reason).
        let rc = unsafe {
            f(
                resource.0,
                seed_len,
                seed.as_ptr(),
                &raw mut key_len,
                key.as_mut_ptr(),
            )
        };
        match rc {
            0 => {
                key.truncate(usize::from(key_len));
                Ok(key)
            }
            1 => Err(format!(
                "{} cannot unlock resource 0x{:02X} (privilege not available)",
                self.path.display(),
                resource.0
            )),
            2 => Err(format!(
                "{} rejects a {}-byte seed",
                self.path.display(),
                seed.len()
            )),
            3 => Err(format!(
                "{}: key longer than 255 bytes",
                self.path.display()
            )),
            other => Err(format!("{} returned {other}", self.path.display())),
        }
    }
}
