//! The conformance suite: trace cases under `conformance/cases/`, their runner, and the
//! golden vectors shared by the golden test and `cargo xtask bless-golden`.
//!
//! # Layout
//! - [`trace`]: the case file format (`rule`, `kind`, then `key: value` entries).
//! - `codec`: the runner for `kind: codec` cases (decode bytes, check the outcome).
//! - `session`: the runner for `kind: session` cases (a script of messages into one
//!   session machine and the replies that must come out).
//! - [`golden`]: the binary golden vectors and their blessing.
//! - [`spec_json`]: the specification's JSON examples and their expected decodings.
//!
//! A case whose `kind` has no runner fails, as does a case that checks nothing: a case that
//! cannot fail is a defect.
#![warn(missing_docs)]

mod codec;
pub mod golden;
mod session;
pub mod spec_json;
pub mod trace;

use std::fmt;
use std::path::{Path, PathBuf};

/// The folder holding the cases.
pub fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("cases")
}

/// One case's result.
pub struct CaseResult {
    /// Case name: path under the cases folder, without `.trace` (e.g. `codec/version-erratum`).
    pub name: String,
    /// The rule the case checks.
    pub rule: String,
    /// None when it passed, else why it failed.
    pub failure: Option<String>,
}

impl fmt::Display for CaseResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.failure {
            None => write!(f, "ok   {}  [{}]", self.name, self.rule),
            Some(why) => write!(f, "FAIL {}  [{}]: {}", self.name, self.rule, why),
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

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "trace") {
            out.push(path);
        }
    }
    Ok(())
}

/// Replays one case's text; Err says why it failed.
pub fn run_case(text: &str) -> Result<trace::Case, (Option<trace::Case>, String)> {
    let case = trace::parse(text).map_err(|e| (None, e))?;
    let result = match case.kind.as_str() {
        "codec" => codec::run(&case.entries),
        "session" => session::run(&case.entries),
        other => Err(format!("no runner for kind `{other}`")),
    };
    match result {
        Ok(()) => Ok(case),
        Err(e) => Err((Some(case), e)),
    }
}

/// Runs every `*.trace` case under `dir` (recursively) whose name contains `filter`.
pub fn run_dir(dir: &Path, filter: Option<&str>) -> anyhow::Result<Outcome> {
    let mut paths = Vec::new();
    collect(dir, &mut paths)?;
    paths.sort();
    let mut cases = Vec::new();
    for path in paths {
        let name = path
            .strip_prefix(dir)
            .unwrap_or(&path)
            .with_extension("")
            .to_string_lossy()
            .replace('\\', "/");
        if filter.is_some_and(|f| !name.contains(f)) {
            continue;
        }
        let text = std::fs::read_to_string(&path)?;
        let (rule, failure) = match run_case(&text) {
            Ok(case) => (case.rule, None),
            Err((case, why)) => (case.map(|c| c.rule).unwrap_or_default(), Some(why)),
        };
        cases.push(CaseResult {
            name,
            rule,
            failure,
        });
    }
    Ok(Outcome { cases })
}
