//! Path arguments to sources: `-` is standard input, a directory means every `.sql` file below it
//! (hidden directories skipped, sorted, so a run is reproducible), a file is read whatever its
//! name.

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};

use super::text::unreadable;
use super::{InputError, Origin};

/// The sources named by `args`, in the order given; each directory's files sorted. A file named
/// twice (directly, or also below a directory given) is read once, where it first appears.
pub fn expand(args: &[PathBuf]) -> Result<Vec<Origin>, InputError> {
    let mut origins = Vec::new();
    let mut seen = HashSet::new();
    let mut named_paths = Vec::new();
    let mut found_files = false;
    for arg in args {
        let origin = Origin::from_arg(arg);
        let Origin::File(path) = origin else {
            origins.push(origin);
            continue;
        };
        named_paths.push(path.display().to_string());
        let meta = std::fs::metadata(&path).map_err(|e| unreadable(&path, &e))?;
        let files = if meta.is_dir() {
            let mut below = BTreeSet::new();
            walk(&path, &mut below)?;
            below.into_iter().collect()
        } else {
            vec![path]
        };
        for file in files {
            found_files = true;
            if seen.insert(file.clone()) {
                origins.push(Origin::File(file));
            }
        }
    }
    if !named_paths.is_empty() && !found_files {
        return Err(InputError::NoSqlFiles(named_paths.join(", ")));
    }
    Ok(origins)
}

fn walk(dir: &Path, files: &mut BTreeSet<PathBuf>) -> Result<(), InputError> {
    let entries = std::fs::read_dir(dir).map_err(|e| unreadable(dir, &e))?;
    for entry in entries {
        let entry = entry.map_err(|e| unreadable(dir, &e))?;
        let path = entry.path();
        let hidden = entry.file_name().to_string_lossy().starts_with('.');
        let file_type = entry.file_type().map_err(|e| unreadable(&path, &e))?;
        if file_type.is_dir() && !hidden {
            walk(&path, files)?;
        } else if file_type.is_file() && path.extension().is_some_and(|e| e == "sql") {
            files.insert(path);
        }
    }
    Ok(())
}
