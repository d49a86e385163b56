//! What one scenario run reports: verdict, times, goodput, trace hash. One JSON object per
//! run (`vstream sim --json`) is what `cargo xtask sim` reads.

use super::harness::SimRun;
use super::scenarios::{Moved, Options};
use crate::net::Congestion;
use serde::{Deserialize, Serialize};

/// The outcome of one scenario run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScenarioReport {
    /// The scenario's name.
    pub scenario: String,
    /// The seed it ran with.
    pub seed: u64,
    /// `bbr` or `cubic`.
    pub congestion: String,
    /// Whether every check held.
    pub passed: bool,
    /// The first check that failed.
    pub error: Option<String>,
    /// Simulated seconds the run took.
    pub sim_secs: f64,
    /// Wall-clock seconds the run took (writing and checking files included).
    pub wall_secs: f64,
    /// Wall-clock seconds spent stepping the simulation (all but writing the served files).
    pub step_wall_secs: f64,
    /// CPU seconds of the simulating thread (None where not measurable).
    pub cpu_secs: Option<f64>,
    /// File bytes moved.
    pub bytes: u64,
    /// File bytes over the transfers' simulated time, bits per second.
    pub goodput_bps: Option<f64>,
    /// The link's capacity, bits per second.
    pub link_bps: Option<u64>,
    /// Hash of the ordered event trace and of every datagram (hex).
    pub trace_hash: String,
    /// Datagrams lost, dropped at a queue, duplicated, held back, refused (all sockets).
    pub link_events: [u64; 5],
    /// Times the platform re-requested a file after a break (D64).
    #[serde(default)]
    pub resumed: u32,
    /// Bytes the platform stored twice across those breaks.
    #[serde(default)]
    pub resent_bytes: u64,
    /// Length of the platform's `.part` files just before its host crashed (every byte
    /// written, synced or not; D116), summed over crashes and files.
    #[serde(default)]
    pub part_before_crash: u64,
    /// Their length after the crash: what had been synced (the power cut took the rest).
    #[serde(default)]
    pub part_after_crash: u64,
}

impl ScenarioReport {
    pub(crate) fn from_run(
        name: &str,
        o: &Options,
        run: &SimRun<Moved>,
        link_bps: Option<u64>,
    ) -> Self {
        let moved = run.script.as_ref().ok().copied().unwrap_or_default();
        let secs = moved.busy.as_secs_f64();
        let goodput_bps = (secs > 0.0).then(|| moved.bytes as f64 * 8.0 / secs);
        let mut link_events = [0u64; 5];
        let links = std::iter::once(&run.platform_link)
            .chain(run.clients.iter().flatten().map(|c| &c.link));
        for l in links {
            for (slot, n) in link_events.iter_mut().zip([
                l.lost,
                l.queue_dropped,
                l.duplicated,
                l.reordered,
                l.refused,
            ]) {
                *slot += n;
            }
        }
        ScenarioReport {
            scenario: name.to_string(),
            seed: o.seed,
            congestion: congestion_name(o.congestion).to_string(),
            passed: run.script.is_ok(),
            error: run.script.as_ref().err().map(|e| e.to_string()),
            sim_secs: run.sim_time.as_secs_f64(),
            wall_secs: run.wall_time.as_secs_f64(),
            step_wall_secs: run.step_wall_time.as_secs_f64(),
            cpu_secs: run.cpu_time.map(|t| t.as_secs_f64()),
            bytes: moved.bytes,
            goodput_bps,
            link_bps,
            trace_hash: format!("{:016x}", run.trace_hash),
            link_events,
            resumed: moved.resumed,
            resent_bytes: moved.resent_bytes,
            part_before_crash: run.power_cuts.iter().map(|c| c.written).sum(),
            part_after_crash: run.power_cuts.iter().map(|c| c.durable).sum(),
        }
    }

    /// Fails the report with `check`'s error, unless it already failed.
    pub(crate) fn require(mut self, check: Result<(), String>) -> Self {
        if let (true, Err(e)) = (self.passed, check) {
            self.passed = false;
            self.error = Some(e);
        }
        self
    }

    /// Goodput as a share of the link's capacity (0.0-1.0).
    pub fn goodput_share(&self) -> Option<f64> {
        match (self.goodput_bps, self.link_bps) {
            (Some(g), Some(l)) if l > 0 => Some(g / l as f64),
            _ => None,
        }
    }

    /// One human-readable line.
    pub fn line(&self) -> String {
        let goodput = match (self.goodput_bps, self.goodput_share()) {
            (Some(g), Some(share)) => {
                format!("{:.0} kbit/s ({:.1}% of link)", g / 1000.0, share * 100.0)
            }
            (Some(g), None) => format!("{:.0} kbit/s", g / 1000.0),
            _ => "-".to_string(),
        };
        let verdict = if self.passed { "ok" } else { "FAILED" };
        let mut line = format!(
            "{} seed {} {}: {verdict}, {:.2} s simulated in {:.3} s wall, goodput {goodput}, trace {}",
            self.scenario, self.seed, self.congestion, self.sim_secs, self.wall_secs, self.trace_hash
        );
        if self.resumed > 0 {
            line.push_str(&format!(
                ", resumed {} times, {} bytes re-sent",
                self.resumed, self.resent_bytes
            ));
        }
        if self.part_before_crash > 0 {
            line.push_str(&format!(
                ", power cut: .part {} -> {} bytes",
                self.part_before_crash, self.part_after_crash
            ));
        }
        if let Some(e) = &self.error {
            line.push_str(&format!(": {e}"));
        }
        line
    }
}

/// `bbr` or `cubic`.
pub fn congestion_name(c: Congestion) -> &'static str {
    match c {
        Congestion::Bbr => "bbr",
        Congestion::Cubic => "cubic",
    }
}

/// The controller named `bbr` or `cubic`.
pub fn parse_congestion(name: &str) -> Option<Congestion> {
    match name {
        "bbr" => Some(Congestion::Bbr),
        "cubic" => Some(Congestion::Cubic),
        _ => None,
    }
}
