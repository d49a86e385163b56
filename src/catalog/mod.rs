//! The files a client serves: registration, FileListQuery filtering, checksums.
