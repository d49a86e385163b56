//! `cargo xtask sim --figures`, the frame-latency part (issue 15): every seed's access
//! units pulled with realtime pacing over 10 Mbit/s, 20 ms one-way, 1% loss (see
//! `vstream::sim::figures`), the delay from release at the client to storage at the
//! platform as p50/p99/max over all seeds, and the target: p99 of (delay - the unit's
//! serialization time) <= one-way delay + 1 RTT, i.e. p99 <= one-way + serialization +
//! 1 RTT per access unit.
//!
//! Measured twice over the same seeds: without tail probes, then with the client's default
//! (D109), whose figure decides PASS/FAIL; the difference in what the client sent is the
//! probes' overhead.

use anyhow::{bail, Context};
use std::path::Path;
use std::process::Command;
use vstream::client::TAIL_PROBES;
use vstream::sim::figures::{quantile, FrameLatencyReport};

/// What one setting measured over every seed.
#[derive(Default)]
struct Measured {
    delays: Vec<f64>,
    excess: Vec<f64>,
    one_way: f64,
    failed: usize,
    datagrams: u64,
    bytes: u64,
    secs: f64,
}

/// Runs the seeds in `binary`'s `vstream sim --frame-latency` without tail probes and with
/// the default, and prints the figure; false when the target is missed (with the default)
/// or a seed failed.
pub fn frame_latency(binary: &Path, seeds: &[u64], cc: &str) -> anyhow::Result<bool> {
    let without = measure(binary, seeds, cc, 0)?;
    let with = measure(binary, seeds, cc, TAIL_PROBES)?;
    let one_way = with.one_way.max(without.one_way);
    let rtt = 2.0 * one_way;
    let target = one_way + rtt;
    println!(
        "frame latency, realtime pacing, 10 Mbit/s, {one_way:.0} ms one-way, 1% loss each way, {cc}, {} seeds, {} access units:",
        seeds.len(),
        with.delays.len()
    );
    for (name, m) in [
        ("no tail probes".to_string(), &without),
        (
            format!("{TAIL_PROBES} tail probes with segment copies (default, D121)"),
            &with,
        ),
    ] {
        println!(
            "  {name}: release to storage p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; p99 of (delay - serialization) {:.1} ms; client sent {:.1} datagrams/s, {:.0} bytes/s",
            quantile(&m.delays, 0.5),
            quantile(&m.delays, 0.99),
            quantile(&m.delays, 1.0),
            quantile(&m.excess, 0.99),
            m.datagrams as f64 / m.secs.max(1e-9),
            m.bytes as f64 / m.secs.max(1e-9),
        );
    }
    println!(
        "  probe and copy overhead: +{:.1} datagrams/s, +{:.0} bytes/s of UDP payload ({:+.1}% of the client's bytes)",
        with.datagrams as f64 / with.secs.max(1e-9)
            - without.datagrams as f64 / without.secs.max(1e-9),
        with.bytes as f64 / with.secs.max(1e-9) - without.bytes as f64 / without.secs.max(1e-9),
        (with.bytes as f64 / without.bytes.max(1) as f64 - 1.0) * 100.0,
    );
    let p99_excess = quantile(&with.excess, 0.99);
    let ok =
        with.failed == 0 && without.failed == 0 && !with.delays.is_empty() && p99_excess <= target;
    println!(
        "  p99 of (delay - serialization) {p99_excess:.1} ms (target <= one-way + 1 RTT = {target:.0} ms) {}",
        if ok { "PASS" } else { "FAIL" }
    );
    Ok(ok)
}

/// Every seed with `probes` tail probes.
fn measure(binary: &Path, seeds: &[u64], cc: &str, probes: u8) -> anyhow::Result<Measured> {
    let mut m = Measured::default();
    for &seed in seeds {
        let out = Command::new(binary)
            .args([
                "sim",
                "--frame-latency",
                "--seed",
                &seed.to_string(),
                "--cc",
                cc,
                "--tail-probes",
                &probes.to_string(),
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
            println!(
                "  seed {seed} ({probes} tail probes) FAILED: {}",
                r.error.unwrap_or_default()
            );
            m.failed += 1;
            continue;
        }
        m.one_way = r.one_way_ms;
        m.datagrams += r.client_datagrams;
        m.bytes += r.client_bytes;
        m.secs += r.transfer_secs;
        for (delay, ser) in r.samples {
            m.delays.push(delay);
            m.excess.push(delay - ser);
        }
    }
    Ok(m)
}
