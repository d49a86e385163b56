//! Registration: turning a file or directory given by the operator into catalog keys, the
//! root-relative `/`-separated paths a FileListQuery lists and a FileRequest names.
//!
//! Directories are walked recursively. A link is followed only if its target is inside the
//! root (checked on its canonical path); a link that leaves the root, a dangling link, and
//! anything that is neither a file nor a directory are skipped. A directory reached through
//! a link is listed under the link's path too (keys do not depend on the order `read_dir`
//! returns entries); a link back to one of its own ancestors is skipped, which cuts cycles,
//! and walks stop at depth 32. The root is the operator's, so a tree of links crafted to
//! blow up is theirs to avoid; a peer cannot create links.

use super::CatalogError;
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
        let mut ancestors = Vec::new();
        walk_dir(root, &canonical, &mut ancestors, &mut found)?;
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

/// Deepest directory nesting walked.
const MAX_DEPTH: usize = 32;

/// Walks `dir` (inside `root`, by its lexical path) and collects its files. `ancestors`
/// holds the canonical paths of the directories being walked above it.
fn walk_dir(
    root: &Path,
    dir: &Path,
    ancestors: &mut Vec<PathBuf>,
    found: &mut Vec<Found>,
) -> Result<(), CatalogError> {
    let canonical = dir.canonicalize().map_err(|e| CatalogError::io(dir, e))?;
    if !canonical.starts_with(root)
        || ancestors.contains(&canonical)
        || ancestors.len() >= MAX_DEPTH
    {
        return Ok(());
    }
    ancestors.push(canonical);
    let result = walk_entries(root, dir, ancestors, found);
    ancestors.pop();
    result
}

/// The entries of one directory, recursing into subdirectories.
fn walk_entries(
    root: &Path,
    dir: &Path,
    ancestors: &mut Vec<PathBuf>,
    found: &mut Vec<Found>,
) -> Result<(), CatalogError> {
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
            walk_dir(root, &path, ancestors, found)?;
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
