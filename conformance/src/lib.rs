//! The conformance runner: replays trace cases under `conformance/cases/`.
//!
//! (Skeleton: the trace format and runner are being built under issue 2.)

use std::fmt;
use std::path::{Path, PathBuf};

/// The folder holding the cases.
pub fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("cases")
}

/// One case's result.
pub struct CaseResult {
    /// Case name (file stem).
    pub name: String,
    /// None when it passed, else why it failed.
    pub failure: Option<String>,
}

impl fmt::Display for CaseResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.failure {
            None => write!(f, "ok   {}", self.name),
            Some(why) => write!(f, "FAIL {}: {}", self.name, why),
        }
    }
}

/// Results of a run.
pub struct Outcome {
    /// Every case run, in name order.
    pub cases: Vec<CaseResult>,
}

impl Outcome {
    /// Cases that passed.
    pub fn passed(&self) -> usize {
        self.cases.iter().filter(|c| c.failure.is_none()).count()
    }
    /// Cases that failed.
    pub fn failed(&self) -> usize {
        self.cases.len() - self.passed()
    }
}

/// Runs every case in `dir` whose name contains `filter`.
pub fn run_dir(dir: &Path, filter: Option<&str>) -> anyhow::Result<Outcome> {
    let _ = (dir, filter);
    Ok(Outcome { cases: Vec::new() })
}
