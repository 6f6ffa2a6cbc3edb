//! Files meshsim writes: atomically (a temporary file in the same directory, then a rename), so
//! a crash never leaves a half-written result, and one error type naming the path.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Why an output could not be written.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("cannot write `{}`: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Writes `bytes` to `path` so that readers see either the old file or the whole new one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), OutputError> {
    let tmp = written_beside(path, bytes)?;
    tmp.as_file().sync_all().map_err(io_error(path))?;
    tmp.persist(path).map_err(|e| io_error(path)(e.error))?;
    Ok(())
}

/// [`write_atomic`] for many files at once: each is written beside its path and closed (a
/// user's limit on open files is often 1,024), then the filesystems they are on are flushed
/// once, then each is renamed into place. Importing the traces of a 10,000-service system
/// writes a samples file per endpoint, and flushing each on its own took most of the import.
pub fn write_atomic_all(files: &[(PathBuf, &[u8])]) -> Result<(), OutputError> {
    let mut written = Vec::with_capacity(files.len());
    let mut filesystems = Filesystems::default();
    for (path, bytes) in files {
        let tmp = written_beside(path, bytes)?;
        filesystems.add(&tmp, path)?;
        written.push((tmp.into_temp_path(), path));
    }
    filesystems.flush()?;
    for (tmp, path) in written {
        tmp.persist(path).map_err(|e| io_error(path)(e.error))?;
    }
    Ok(())
}

/// A temporary file in `path`'s directory holding `bytes`, readable by all (tempfile makes its
/// files readable by their owner only; results are for sharing), not yet flushed.
fn written_beside(path: &Path, bytes: &[u8]) -> Result<tempfile::NamedTempFile, OutputError> {
    let err = io_error(path);
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".meshsim-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(err)?;
    tmp.write_all(bytes).map_err(io_error(path))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))
            .map_err(io_error(path))?;
    }
    Ok(tmp)
}

/// The filesystems some files were written to, to flush them once each: on Linux, an open
/// file per filesystem for `syncfs`; elsewhere every file, each flushed on its own.
#[derive(Default)]
struct Filesystems {
    /// A device number and an open file on it, with the path to name in an error.
    open: Vec<(u64, std::fs::File, PathBuf)>,
}

impl Filesystems {
    /// Notes the filesystem of `tmp`, written for `path`.
    fn add(&mut self, tmp: &tempfile::NamedTempFile, path: &Path) -> Result<(), OutputError> {
        #[cfg(target_os = "linux")]
        {
            use std::os::unix::fs::MetadataExt;
            let device = tmp.as_file().metadata().map_err(io_error(path))?.dev();
            if !self.open.iter().any(|(d, _, _)| *d == device) {
                let file = tmp.reopen().map_err(io_error(path))?;
                self.open.push((device, file, path.to_path_buf()));
            }
        }
        #[cfg(not(target_os = "linux"))]
        tmp.as_file().sync_all().map_err(io_error(path))?;
        Ok(())
    }

    /// Makes everything written to them durable: one `syncfs` each.
    fn flush(self) -> Result<(), OutputError> {
        #[cfg(target_os = "linux")]
        for (_, file, path) in &self.open {
            use std::os::fd::AsRawFd;
            // SAFETY: the descriptor is the open file's, valid for the call.
            if unsafe { libc::syncfs(file.as_raw_fd()) } != 0 {
                return Err(io_error(path)(std::io::Error::last_os_error()));
            }
        }
        Ok(())
    }
}

/// The error for an I/O failure on `path`.
fn io_error(path: &Path) -> impl Fn(std::io::Error) -> OutputError + '_ {
    move |source| OutputError::Io {
        path: path.to_path_buf(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_file_and_leaves_no_temporary_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.csv");
        write_atomic(&path, b"old").unwrap();
        write_atomic(&path, b"new").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn many_files_replace_theirs_and_leave_no_temporary_behind() {
        let dir = tempfile::tempdir().unwrap();
        let paths: Vec<PathBuf> = (0..5)
            .map(|i| dir.path().join(format!("{i}.csv")))
            .collect();
        write_atomic(&paths[2], b"old").unwrap();
        let files: Vec<(PathBuf, &[u8])> = paths.iter().map(|p| (p.clone(), &b"new"[..])).collect();
        write_atomic_all(&files).unwrap();
        for p in &paths {
            assert_eq!(std::fs::read(p).unwrap(), b"new");
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 5);
    }

    #[test]
    fn a_missing_directory_is_an_error_naming_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing/a.csv");
        let e = write_atomic(&path, b"x").unwrap_err();
        assert!(e.to_string().contains("missing/a.csv"), "{e}");
    }
}
