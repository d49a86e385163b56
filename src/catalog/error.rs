//! Errors of the catalog, each mapped to the protocol status code a client reports.

use std::path::PathBuf;

/// Why a file could not be registered or served.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CatalogError {
    /// The requested `file_path` is not served: absent, unregistered, vanished, malformed
    /// (absolute, `..`, backslash, NUL) or leading out of the root through a link. One variant
    /// for all of these, with the same message, so a peer learns nothing about the disk.
    #[error("file not found: {file_path:?}")]
    NotFound {
        /// The path as the peer asked for it.
        file_path: String,
    },
    /// A path given to `register` lies outside the served root (possibly through a link).
    #[error("{path:?} is outside the served root {root:?}")]
    OutsideRoot {
        /// The path, as given.
        path: PathBuf,
        /// The served root.
        root: PathBuf,
    },
    /// A path given to `register` cannot be written as a `/`-separated UTF-8 `file_path`
    /// (non-UTF-8 name, or a backslash in a name).
    #[error("{path:?} cannot be served: its name is not UTF-8 or holds a backslash")]
    UnservableName {
        /// The path, as found.
        path: PathBuf,
    },
    /// The root given to [`Catalog::new`](super::Catalog::new) is not a directory.
    #[error("served root {0:?} is not a directory")]
    RootNotADirectory(PathBuf),
    /// Reading the file system failed.
    #[error("I/O error on {path:?}: {source}")]
    Io {
        /// The path being read.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl CatalogError {
    /// The protocol status code this error maps to: 404 for anything not served, 400 for an
    /// unservable name, 500 for I/O.
    pub fn status_code(&self) -> u16 {
        match self {
            CatalogError::NotFound { .. } | CatalogError::OutsideRoot { .. } => 404,
            CatalogError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => 404,
            CatalogError::UnservableName { .. } => 400,
            CatalogError::RootNotADirectory(_) | CatalogError::Io { .. } => 500,
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        CatalogError::Io {
            path: path.into(),
            source,
        }
    }
}
