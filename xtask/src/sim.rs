//! `cargo xtask sim`: every simulation scenario over K seeds, in the release binary, as a
//! table; a failing run prints the command that replays it.
//!
//! ```text
//! cargo xtask sim [--scenario NAME] [--seeds K] [--seed N] [--cc bbr|cubic]
//!                 [--time-limit SECS] [--determinism] [--figures] [--debug]
//! ```
//! - `--seeds K` runs seeds 1..=K (default 20); `--seed N` runs seed N only.
//! - `--determinism` runs every (scenario, seed) twice and compares the trace hashes.
//! - `--debug` uses the dev-profile binary (CI: already mostly built by the tests);
//!   the figures are only meaningful in release.
//! - `--figures` prints the issue's figures instead: goodput of `interop-goodput` and
//!   `loss-2` as a share of the link with BBR and with Cubic, and simulated seconds per
//!   wall second of a 60 s `loss-2` transfer; then frame latency under realtime pacing
//!   over all the seeds (`figures.rs`).

use anyhow::{bail, Context};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use vstream::sim::{scenarios, ScenarioReport};

struct Args {
    scenario: Option<String>,
    seeds: Vec<u64>,
    cc: String,
    time_limit: Option<String>,
    determinism: bool,
    figures: bool,
    debug: bool,
}

fn parse(args: &[&str]) -> anyhow::Result<Args> {
    let mut a = Args {
        scenario: None,
        seeds: (1..=20).collect(),
        cc: "bbr".into(),
        time_limit: None,
        determinism: false,
        figures: false,
        debug: false,
    };
    let mut it = args.iter();
    while let Some(&arg) = it.next() {
        let mut value = || {
            it.next()
                .copied()
                .with_context(|| format!("{arg} needs a value"))
        };
        match arg {
            "--scenario" => a.scenario = Some(value()?.to_string()),
            "--seeds" => a.seeds = (1..=value()?.parse::<u64>()?).collect(),
            "--seed" => a.seeds = vec![value()?.parse()?],
            "--cc" => a.cc = value()?.to_string(),
            "--time-limit" => a.time_limit = Some(value()?.to_string()),
            "--determinism" => a.determinism = true,
            "--figures" => a.figures = true,
            "--debug" => a.debug = true,
            other => bail!("unknown argument {other}"),
        }
    }
    Ok(a)
}

pub fn run(args: &[&str]) -> anyhow::Result<bool> {
    let args = parse(args)?;
    build(args.debug)?;
    BINARY
        .set(binary(args.debug))
        .map_err(|_| anyhow::anyhow!("binary chosen twice"))?;
    if args.figures {
        return figures(&args);
    }
    let names: Vec<&str> = match &args.scenario {
        Some(name) => vec![name.as_str()],
        None => scenarios().iter().map(|s| s.name).collect(),
    };
    let wall = std::time::Instant::now();
    let mut rows = Vec::new();
    let mut failures = Vec::new();
    for name in names {
        let mut reports = Vec::new();
        for &seed in &args.seeds {
            let report = run_one(name, seed, &args.cc, &[], args.time_limit.as_deref())?;
            if args.determinism {
                let again = run_one(name, seed, &args.cc, &[], args.time_limit.as_deref())?;
                if again.trace_hash != report.trace_hash {
                    failures.push(format!(
                        "{name} seed {seed}: trace {} then {} (not deterministic)",
                        report.trace_hash, again.trace_hash
                    ));
                }
            }
            if !report.passed {
                failures.push(format!(
                    "{name} seed {seed}: {}\n  replay: {}",
                    report.error.as_deref().unwrap_or("failed"),
                    replay(name, seed, &args)
                ));
            }
            reports.push(report);
        }
        rows.push(Row::of(name, &reports));
    }
    print_table(&rows, &args);
    for f in &failures {
        println!("FAILED {f}");
    }
    let runs: usize = rows.iter().map(|r| r.runs).sum();
    let passed: usize = rows.iter().map(|r| r.passed).sum();
    println!("{runs} runs in {:.1} s wall", wall.elapsed().as_secs_f64());
    println!("sim: {passed} passed, {} failed", runs - passed);
    Ok(failures.is_empty())
}

fn replay(name: &str, seed: u64, args: &Args) -> String {
    let mut cmd = format!("cargo xtask sim --scenario {name} --seed {seed}");
    if args.debug {
        cmd.push_str(" --debug");
    }
    if args.cc != "bbr" {
        cmd.push_str(&format!(" --cc {}", args.cc));
    }
    if let Some(limit) = &args.time_limit {
        cmd.push_str(&format!(" --time-limit {limit}"));
    }
    cmd.push_str(&format!(
        "   (or: RUST_LOG=info target/{}/vstream sim {name} --seed {seed} --cc {}",
        if args.debug { "debug" } else { "release" },
        args.cc
    ));
    if let Some(limit) = &args.time_limit {
        cmd.push_str(&format!(" --time-limit {limit}"));
    }
    cmd.push(')');
    cmd
}

/// The vstream binary the runs use.
static BINARY: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();

fn binary(debug: bool) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target
        .join(if debug { "debug" } else { "release" })
        .join("vstream")
}

fn build(debug: bool) -> anyhow::Result<()> {
    let mut args = vec!["build", "--quiet", "--bin", "vstream"];
    if !debug {
        args.push("--release");
    }
    let mut cargo = crate::cargo_command();
    let status = cargo.args(&args).status()?;
    if !status.success() {
        bail!("cargo {} failed", args.join(" "));
    }
    Ok(())
}

/// One run of the release binary: its JSON report.
fn run_one(
    name: &str,
    seed: u64,
    cc: &str,
    extra: &[&str],
    time_limit: Option<&str>,
) -> anyhow::Result<ScenarioReport> {
    let mut cmd = Command::new(BINARY.get().cloned().unwrap_or_else(|| binary(false)));
    cmd.args([
        "sim",
        name,
        "--seed",
        &seed.to_string(),
        "--cc",
        cc,
        "--json",
    ])
    .args(extra);
    if let Some(limit) = time_limit {
        cmd.args(["--time-limit", limit]);
    }
    let out = cmd.output().context("running target/release/vstream")?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().next().unwrap_or_default();
    serde_json::from_str(line).with_context(|| {
        format!(
            "vstream sim {name} --seed {seed} printed no report: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

struct Row {
    name: String,
    runs: usize,
    passed: usize,
    sim: f64,
    wall: f64,
    goodput: Option<f64>,
    share: Option<f64>,
    /// Resumptions after breaks, mean over seeds (recovery scenarios).
    resumed: f64,
    /// Bytes the platform stored twice, mean over seeds.
    resent: f64,
}

impl Row {
    fn of(name: &str, reports: &[ScenarioReport]) -> Row {
        let n = reports.len().max(1) as f64;
        let mean = |f: &dyn Fn(&ScenarioReport) -> Option<f64>| {
            let v: Vec<f64> = reports.iter().filter_map(f).collect();
            (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
        };
        Row {
            name: name.to_string(),
            runs: reports.len(),
            passed: reports.iter().filter(|r| r.passed).count(),
            sim: reports.iter().map(|r| r.sim_secs).sum::<f64>() / n,
            wall: reports.iter().map(|r| r.wall_secs).sum::<f64>() / n,
            goodput: mean(&|r| r.goodput_bps),
            share: mean(&|r| r.goodput_share()),
            resumed: reports.iter().map(|r| f64::from(r.resumed)).sum::<f64>() / n,
            resent: reports.iter().map(|r| r.resent_bytes as f64).sum::<f64>() / n,
        }
    }
}

fn print_table(rows: &[Row], args: &Args) {
    println!(
        "controller {}; mean over seeds; goodput: file bytes over request-to-finish time",
        args.cc
    );
    println!(
        "{:<26} {:>8} {:>10} {:>10} {:>12} {:>8} {:>8} {:>10}",
        "scenario",
        "passed",
        "sim (s)",
        "wall (s)",
        "goodput kb/s",
        "of link",
        "resumed",
        "re-sent B"
    );
    for r in rows {
        let goodput = r
            .goodput
            .map_or("-".into(), |g| format!("{:.0}", g / 1000.0));
        let share = r.share.map_or("-".into(), |s| format!("{:.1}%", s * 100.0));
        println!(
            "{:<26} {:>8} {:>10.2} {:>10.3} {:>12} {:>8} {:>8.1} {:>10.0}",
            r.name,
            format!("{}/{}", r.passed, r.runs),
            r.sim,
            r.wall,
            goodput,
            share,
            r.resumed,
            r.resent
        );
    }
}

/// The issue's figures: goodput shares with both controllers, and simulation speed on a
/// 60 s `loss-2` transfer with the better controller.
fn figures(args: &Args) -> anyhow::Result<bool> {
    let seeds: Vec<u64> = args.seeds.iter().copied().take(5).collect();
    let mut shares: BTreeMap<(&str, &str), f64> = BTreeMap::new();
    println!("goodput as a share of link capacity (mean of seeds {seeds:?}):");
    println!("{:<16} {:>10} {:>10}", "scenario", "bbr", "cubic");
    for name in ["interop-goodput", "loss-2"] {
        let mut cells = Vec::new();
        for cc in ["bbr", "cubic"] {
            let mut sum = 0.0;
            for &seed in &seeds {
                let r = run_one(name, seed, cc, &[], None)?;
                if !r.passed {
                    bail!("{name} seed {seed} {cc} failed: {:?}", r.error);
                }
                sum += r.goodput_share().unwrap_or(0.0);
            }
            let share = sum / seeds.len().max(1) as f64;
            shares.insert((name, cc), share);
            cells.push(format!("{:.1}%", share * 100.0));
        }
        println!("{:<16} {:>10} {:>10}", name, cells[0], cells[1]);
    }
    let better = if shares[&("loss-2", "bbr")] >= shares[&("loss-2", "cubic")] {
        "bbr"
    } else {
        "cubic"
    };
    // A file that takes about 60 simulated seconds at the measured goodput.
    let size = (shares[&("loss-2", better)] * 10_000_000.0 * 60.0 / 8.0) as u64;
    println!("simulation speed, loss-2 with {better}, {size} bytes (about 60 s simulated):");
    for &seed in &seeds {
        let r = run_one("loss-2", seed, better, &["--size", &size.to_string()], None)?;
        let per_cpu = r
            .cpu_secs
            .map_or("-".into(), |c| format!("{:.0}", r.sim_secs / c.max(1e-9)));
        println!(
            "  seed {seed}: {:.1} s simulated in {:.2} s wall: {:.0} simulated s per wall s ({:.0} while stepping; {per_cpu} per CPU s; {})",
            r.sim_secs,
            r.wall_secs,
            r.sim_secs / r.wall_secs.max(1e-9),
            r.sim_secs / r.step_wall_secs.max(1e-9),
            if r.passed { "ok" } else { "FAILED" }
        );
    }
    let binary = BINARY.get().cloned().unwrap_or_else(|| binary(false));
    crate::figures::frame_latency(&binary, &args.seeds, &args.cc)
}
