//! `cargo xtask sim --figures`, the frame-latency part (issue 15): every seed's access
//! units pulled with realtime pacing over 10 Mbit/s, 20 ms one-way, 1% loss (see
//! `vstream::sim::figures`), the delay from release at the client to storage at the
//! platform as p50/p99/max over all seeds, and the target: p99 of (delay - the unit's
//! serialization time) <= one-way delay + 1 RTT, i.e. p99 <= one-way + serialization +
//! 1 RTT per access unit.

use anyhow::{bail, Context};
use std::path::Path;
use std::process::Command;
use vstream::sim::figures::{quantile, FrameLatencyReport};

/// Runs the seeds in `binary`'s `vstream sim --frame-latency` and prints the figure;
/// false when the target is missed or a seed failed.
pub fn frame_latency(binary: &Path, seeds: &[u64], cc: &str) -> anyhow::Result<bool> {
    let mut delays = Vec::new();
    let mut excess = Vec::new();
    let mut one_way = 0.0;
    let mut failed = 0;
    for &seed in seeds {
        let out = Command::new(binary)
            .args([
                "sim",
                "--frame-latency",
                "--seed",
                &seed.to_string(),
                "--cc",
                cc,
            ])
            .output()
            .with_context(|| format!("running {}", binary.display()))?;
        if !out.status.success() {
            bail!("seed {seed}: {}", String::from_utf8_lossy(&out.stderr));
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let r: FrameLatencyReport = serde_json::from_str(text.trim())
            .with_context(|| format!("seed {seed} printed {text:?}"))?;
        if !r.passed {
            println!("  seed {seed} FAILED: {}", r.error.unwrap_or_default());
            failed += 1;
            continue;
        }
        one_way = r.one_way_ms;
        for (delay, ser) in r.samples {
            delays.push(delay);
            excess.push(delay - ser);
        }
    }
    let rtt = 2.0 * one_way;
    let target = one_way + rtt;
    let p99_excess = quantile(&excess, 0.99);
    println!(
        "frame latency, realtime pacing, 10 Mbit/s, {one_way:.0} ms one-way, 1% loss each way, {cc}, {} seeds, {} access units:",
        seeds.len(),
        delays.len()
    );
    println!(
        "  release to storage: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        quantile(&delays, 0.5),
        quantile(&delays, 0.99),
        quantile(&delays, 1.0)
    );
    let ok = failed == 0 && !delays.is_empty() && p99_excess <= target;
    println!(
        "  p99 of (delay - serialization) {p99_excess:.1} ms (target <= one-way + 1 RTT = {target:.0} ms) {}",
        if ok { "PASS" } else { "FAIL" }
    );
    Ok(ok)
}
