//! Where a model's data files — an empirical distribution's samples, an arrival pattern's table of
//! rates — are read from. Paths inside a model are relative to the folder of the model file; a
//! model that is not written yet (`meshsim import` validates what it made before writing
//! anything) has its data files in memory instead, under the same relative paths, so that
//! checking it costs no files on disk.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The folder relative paths start from, and the files not yet written there.
#[derive(Clone, Copy, Debug)]
pub struct DataFiles<'a> {
    base: &'a Path,
    unwritten: Option<&'a Unwritten<'a>>,
}

/// Data files held in memory by their path relative to the model's folder.
#[derive(Debug, Default)]
pub struct Unwritten<'a>(HashMap<PathBuf, &'a [u8]>);

impl<'a> Unwritten<'a> {
    /// `files`: each a path relative to the model's folder and its bytes.
    pub fn new(files: &'a [(String, Vec<u8>)]) -> Unwritten<'a> {
        Unwritten(
            files
                .iter()
                .map(|(path, bytes)| (normal(Path::new(path)), bytes.as_slice()))
                .collect(),
        )
    }
}

/// The path without `.` components, so that `./a/b.csv` and `a/b.csv` name one file.
fn normal(path: &Path) -> PathBuf {
    path.components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .collect()
}

impl<'a> DataFiles<'a> {
    /// Files on disk, relative to `base`.
    pub fn on_disk(base: &'a Path) -> DataFiles<'a> {
        DataFiles {
            base,
            unwritten: None,
        }
    }

    /// `unwritten` first, then files on disk, relative to `base`.
    pub fn with_unwritten(base: &'a Path, unwritten: &'a Unwritten<'a>) -> DataFiles<'a> {
        DataFiles {
            base,
            unwritten: Some(unwritten),
        }
    }

    /// The text of the file at `relative` and the path that names it in messages, or a message
    /// saying why it cannot be read.
    pub fn read_to_string(&self, relative: &str) -> Result<(String, PathBuf), String> {
        let path = self.base.join(relative);
        let held = self
            .unwritten
            .and_then(|u| u.0.get(&normal(Path::new(relative))));
        let text = match held {
            Some(bytes) => std::str::from_utf8(bytes)
                .map(str::to_owned)
                .map_err(|e| e.to_string()),
            None => std::fs::read_to_string(&path).map_err(|e| e.to_string()),
        }
        .map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
        Ok((text, path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_held_in_memory_is_read_before_the_disk_and_named_where_it_will_be() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("on-disk.csv"), "1\n").unwrap();
        let held = [("data/held.csv".to_string(), b"2\n".to_vec())];
        let unwritten = Unwritten::new(&held);
        let files = DataFiles::with_unwritten(dir.path(), &unwritten);
        let (text, path) = files.read_to_string("./data/held.csv").unwrap();
        assert_eq!(text, "2\n");
        assert_eq!(path, dir.path().join("./data/held.csv"));
        assert!(!path.exists(), "nothing was written");
        assert_eq!(files.read_to_string("on-disk.csv").unwrap().0, "1\n");
        let missing = files.read_to_string("data/missing.csv").unwrap_err();
        assert!(
            missing.starts_with("cannot read `") && missing.contains("missing.csv"),
            "{missing}"
        );
    }
}
