//! Registration: turning a file or directory given by the operator into catalog keys, the
//! root-relative `/`-separated paths a FileListQuery lists and a FileRequest names.
//!
//! Directories are walked recursively. A link is followed only if its target is inside the
//! root (checked on its canonical path); a link that leaves the root, a dangling link, and
//! anything that is neither a file nor a directory are skipped. Directory cycles through
//! links are cut by remembering each canonical directory visited.

use super::CatalogError;
use std::collections::HashSet;
use std::path::{Component, Path, PathBuf};

/// A file found by registration: its key and its size at that time.
pub(crate) struct Found {
    pub(crate) key: String,
    pub(crate) size: u64,
}

/// The files under `path` (a file or a directory; relative paths are taken relative to
/// `root`, which must be canonical).
pub(crate) fn find_files(root: &Path, path: &Path) -> Result<Vec<Found>, CatalogError> {
    let given = if path.is_absolute() {
        path.to_path_buf()
    } else {
        root.join(path)
    };
    let canonical = given
        .canonicalize()
        .map_err(|e| CatalogError::io(&given, e))?;
    if !canonical.starts_with(root) {
        return Err(CatalogError::OutsideRoot {
            path: path.to_path_buf(),
            root: root.to_path_buf(),
        });
    }
    let metadata = std::fs::metadata(&canonical).map_err(|e| CatalogError::io(&canonical, e))?;
    let mut found = Vec::new();
    if metadata.is_dir() {
        let mut visited = HashSet::new();
        walk_dir(root, &canonical, &mut visited, &mut found)?;
    } else if metadata.is_file() {
        let key = key_of(root, &canonical).ok_or_else(|| CatalogError::UnservableName {
            path: canonical.clone(),
        })?;
        found.push(Found {
            key,
            size: metadata.len(),
        });
    }
    Ok(found)
}

/// Walks `dir` (inside `root`, by its lexical path) and collects its files.
fn walk_dir(
    root: &Path,
    dir: &Path,
    visited: &mut HashSet<PathBuf>,
    found: &mut Vec<Found>,
) -> Result<(), CatalogError> {
    let canonical = dir.canonicalize().map_err(|e| CatalogError::io(dir, e))?;
    if !canonical.starts_with(root) || !visited.insert(canonical) {
        return Ok(());
    }
    let entries = std::fs::read_dir(dir).map_err(|e| CatalogError::io(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| CatalogError::io(dir, e))?;
        let path = entry.path();
        // Follow links only to targets inside the root.
        let Ok(target) = path.canonicalize() else {
            continue; // dangling link, or vanished meanwhile
        };
        if !target.starts_with(root) {
            continue;
        }
        let Ok(metadata) = std::fs::metadata(&target) else {
            continue;
        };
        if metadata.is_dir() {
            walk_dir(root, &path, visited, found)?;
        } else if metadata.is_file() {
            // Names a peer could not ask for (non-UTF-8, backslash) are not served.
            if let Some(key) = key_of(root, &path) {
                found.push(Found {
                    key,
                    size: metadata.len(),
                });
            }
        }
    }
    Ok(())
}

/// The catalog key of `path` under `root`: its normal components joined by `/`.
pub(crate) fn key_of(root: &Path, path: &Path) -> Option<String> {
    let relative = path.strip_prefix(root).ok()?;
    let mut parts = Vec::new();
    for component in relative.components() {
        match component {
            Component::Normal(name) => {
                let name = name.to_str()?;
                if name.contains('\\') {
                    return None;
                }
                parts.push(name);
            }
            _ => return None,
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}
