//! `vstream sim`: run named simulation scenarios (turmoil) from the binary.

use anyhow::bail;
use clap::Args;
use vstream::sim::{parse_congestion, scenario, scenarios, Options, Scenario};

/// Arguments of `vstream sim`.
#[derive(Args, Debug)]
pub struct SimArgs {
    /// The scenario to run (all of them if absent; `--list` names them).
    scenario: Option<String>,
    /// The first seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// How many consecutive seeds to run, from `--seed`.
    #[arg(long, default_value_t = 1)]
    seeds: u64,
    /// Congestion controller: bbr (the specification's) or cubic.
    #[arg(long, default_value = "bbr")]
    cc: String,
    /// Size in bytes of the scenario's main file instead of its own.
    #[arg(long)]
    size: Option<u64>,
    /// Simulated time limit in seconds instead of 300 (a short one fails on purpose).
    #[arg(long)]
    time_limit: Option<f64>,
    /// One JSON object per run instead of a line.
    #[arg(long)]
    json: bool,
    /// List the scenarios and exit.
    #[arg(long)]
    list: bool,
    /// Instead of scenarios: the frame-latency figure (realtime pacing, 10 Mbit/s, 20 ms
    /// one-way, 1% loss), one JSON object per seed (`cargo xtask sim --figures`).
    #[arg(long)]
    frame_latency: bool,
    /// With `--frame-latency`: tail probes after each segment (D109; 0 turns them off).
    #[arg(long, default_value_t = vstream::client::TAIL_PROBES)]
    tail_probes: u8,
    /// With `--frame-latency`: no copies of realtime segments in datagrams (D121).
    #[arg(long)]
    no_segment_copies: bool,
}

pub fn run(args: &SimArgs) -> anyhow::Result<()> {
    if args.list {
        for s in scenarios() {
            println!("{:<16} {}", s.name, s.about);
        }
        return Ok(());
    }
    let Some(congestion) = parse_congestion(&args.cc) else {
        bail!("--cc must be bbr or cubic, not {}", args.cc);
    };
    if args.frame_latency {
        for seed in args.seed..args.seed.saturating_add(args.seeds) {
            let report = vstream::sim::figures::frame_latency_with(
                seed,
                congestion,
                args.tail_probes,
                !args.no_segment_copies,
            );
            println!("{}", serde_json::to_string(&report)?);
        }
        return Ok(());
    }
    let chosen: Vec<&Scenario> = match &args.scenario {
        Some(name) => match scenario(name) {
            Some(s) => vec![s],
            None => bail!("no scenario {name} (vstream sim --list)"),
        },
        None => scenarios().iter().collect(),
    };
    let time_limit = match args.time_limit {
        Some(secs) => match std::time::Duration::try_from_secs_f64(secs) {
            Ok(limit) => Some(limit),
            Err(_) => bail!("--time-limit must be a number of seconds, not {secs}"),
        },
        None => None,
    };
    let mut failed = 0;
    for s in chosen {
        for seed in args.seed..args.seed.saturating_add(args.seeds) {
            let options = Options {
                seed,
                congestion,
                file_size: args.size,
                time_limit,
            };
            let report = s.run(&options);
            if args.json {
                println!("{}", serde_json::to_string(&report)?);
            } else {
                println!("{}", report.line());
            }
            if !report.passed {
                failed += 1;
            }
        }
    }
    if failed > 0 {
        bail!("{failed} run(s) failed");
    }
    Ok(())
}
