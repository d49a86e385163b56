//! Where received segments land: the output file, its `.debug` log and its `.report`.
//!
//! Layout under the platform's `--out DIR`:
//! ```text
//! DIR/<session id>/<source file name>          the received file
//! DIR/<session id>/<source file name>.debug    one record per segment
//! DIR/<session id>/<source file name>.report   the summary
//! ```
//! The source's name and extension are kept (a `.h264` stays `.h264`), so what arrives
//! is what was sent and players recognise it.

mod budget;
mod commit_thread;
pub mod container;
mod debug_log;
pub mod durable_fs;
pub mod journal;
mod output;
mod report;
#[cfg(feature = "sim")]
mod sim_fs;
mod vectored;

pub(crate) use budget::charge;
pub use budget::DiskBudget;
pub use debug_log::{mbps, DebugLog, SegmentKind, SegmentRecord};
pub use output::{
    FinishedFile, Holding, Placement, ReceivedFile, WriteOutcome, DEFAULT_REORDER_MEMORY,
};
pub use report::{ReceptionFigures, ReceptionReport, ReceptionStats};
pub use vectored::write_chunks_at;

use std::path::{Path, PathBuf};

/// The three paths of one received file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputPaths {
    /// The received file.
    pub file: PathBuf,
    /// Its `.debug` log.
    pub debug: PathBuf,
    /// Its `.report`.
    pub report: PathBuf,
}

impl OutputPaths {
    /// Paths for `source_path` (as the client names it, `/`-separated) received in
    /// session `session_id` under `out_dir`. Only the source's final component is used,
    /// so nothing the client sends can place a file outside `out_dir/<session id>/`.
    pub fn new(out_dir: &Path, session_id: &str, source_path: &str) -> Self {
        let name = source_path
            .rsplit(['/', '\\'])
            .find(|c| !c.is_empty() && *c != "." && *c != "..")
            .unwrap_or("received");
        let dir = out_dir.join(session_id);
        OutputPaths {
            file: dir.join(name),
            debug: dir.join(format!("{name}.debug")),
            report: dir.join(format!("{name}.report")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_paths_keep_the_name_and_stay_in_the_session_folder() {
        let p = OutputPaths::new(Path::new("/out"), "s1", "test_videos/video1.mp4");
        assert_eq!(p.file, Path::new("/out/s1/video1.mp4"));
        assert_eq!(p.debug, Path::new("/out/s1/video1.mp4.debug"));
        assert_eq!(p.report, Path::new("/out/s1/video1.mp4.report"));
        for hostile in ["../../etc/passwd", "a/..", "/", "", "..\\..\\x"] {
            let p = OutputPaths::new(Path::new("/out"), "s1", hostile);
            assert!(
                p.file.starts_with("/out/s1/"),
                "{hostile:?} -> {:?}",
                p.file
            );
            assert_ne!(p.file.file_name().unwrap(), "..");
        }
    }
}
