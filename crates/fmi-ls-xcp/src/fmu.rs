//! An FMU's files, from a `.fmu` archive or an unpacked directory.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use crate::Error;

/// Files larger than this are refused (a guard against archives that unpack to far more
/// than they hold).
const MAX_FILE: u64 = 512 << 20;

enum Source {
    Dir(PathBuf),
    Zip(Box<zip::ZipArchive<std::fs::File>>),
}

/// An FMU opened for reading.
pub struct Fmu {
    path: PathBuf,
    source: Source,
}

impl Fmu {
    /// Opens a `.fmu` archive or a directory holding an unpacked FMU.
    ///
    /// # Errors
    /// [`Error::Io`] when it cannot be read, [`Error::Archive`] when it is no ZIP archive.
    pub fn open(path: &Path) -> Result<Self, Error> {
        let io = |source| Error::Io {
            path: path.to_owned(),
            source,
        };
        let source = if path.is_dir() {
            Source::Dir(path.to_owned())
        } else {
            let f = std::fs::File::open(path).map_err(io)?;
            let z = zip::ZipArchive::new(f).map_err(|e| Error::Archive {
                path: path.to_owned(),
                reason: e.to_string(),
            })?;
            Source::Zip(Box::new(z))
        };
        Ok(Self {
            path: path.to_owned(),
            source,
        })
    }

    /// Where it was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The bytes of `name` (a path inside the FMU, `/`-separated), if it holds that file.
    ///
    /// # Errors
    /// [`Error::Io`] / [`Error::Archive`] when the file exists but cannot be read, or is
    /// larger than 512 MiB.
    pub fn read(&mut self, name: &str) -> Result<Option<Vec<u8>>, Error> {
        let too_big = |path: &Path| Error::Archive {
            path: path.to_owned(),
            reason: format!("{name} is larger than {} MiB", MAX_FILE >> 20),
        };
        match &mut self.source {
            Source::Dir(dir) => {
                let p = dir.join(name);
                if !p.is_file() {
                    return Ok(None);
                }
                let len = p.metadata().map(|m| m.len()).unwrap_or(0);
                if len > MAX_FILE {
                    return Err(too_big(&p));
                }
                std::fs::read(&p)
                    .map(Some)
                    .map_err(|source| Error::Io { path: p, source })
            }
            Source::Zip(z) => {
                let mut entry = match z.by_name(name) {
                    Ok(e) => e,
                    Err(zip::result::ZipError::FileNotFound) => return Ok(None),
                    Err(e) => {
                        return Err(Error::Archive {
                            path: self.path.clone(),
                            reason: format!("{name}: {e}"),
                        });
                    }
                };
                let mut out = Vec::new();
                (&mut entry)
                    .take(MAX_FILE + 1)
                    .read_to_end(&mut out)
                    .map_err(|source| Error::Io {
                        path: self.path.join(name),
                        source,
                    })?;
                if out.len() as u64 > MAX_FILE {
                    return Err(too_big(&self.path));
                }
                Ok(Some(out))
            }
        }
    }

    /// Whether any file lies under the folder `prefix` (`binaries/x86_64-linux/`).
    pub fn has_dir(&mut self, prefix: &str) -> bool {
        match &mut self.source {
            Source::Dir(dir) => dir.join(prefix).is_dir(),
            Source::Zip(z) => z
                .file_names()
                .any(|n| n.is_ok_and(|n| n.starts_with(prefix))),
        }
    }
}

/// This machine's platform folder for an FMI version: `x86_64-linux` (FMI 3.0),
/// `linux64` (FMI 2.0).
pub fn platform(fmi3: bool) -> String {
    let arch = std::env::consts::ARCH;
    let os = match std::env::consts::OS {
        "macos" => "darwin",
        other => other,
    };
    if fmi3 {
        let arch = if arch == "x86" { "x86" } else { arch };
        return format!("{arch}-{os}");
    }
    let bits = if cfg!(target_pointer_width = "64") {
        "64"
    } else {
        "32"
    };
    let os = if os == "windows" { "win" } else { os };
    format!("{os}{bits}")
}
