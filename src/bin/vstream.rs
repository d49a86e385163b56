//! The `vstream` command: platform, client, inspect, sim.

#[path = "vstream/admin.rs"]
mod admin;
#[path = "vstream/certs.rs"]
mod certs;
#[path = "vstream/client.rs"]
mod client;
#[path = "vstream/inspect.rs"]
mod inspect;
#[path = "vstream/platform.rs"]
mod platform;
#[path = "vstream/progress.rs"]
mod progress;
#[path = "vstream/pull.rs"]
mod pull;
#[path = "vstream/security.rs"]
mod security;
#[path = "vstream/sim.rs"]
mod sim;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use tracing_subscriber::EnvFilter;

/// On-demand video upload over QUIC (video-streaming/1.0).
#[derive(Parser, Debug)]
#[command(name = "vstream", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Accept clients and receive the files pulled from them (`--pull` for one file).
    Platform(platform::PlatformArgs),
    /// Connect to a platform and serve the files of a folder.
    Client(client::ClientArgs),
    /// Show how a file would be segmented: the segment table a user debugs with.
    Inspect(inspect::InspectArgs),
    /// Make a CA, the platform's and devices' certificates (mutual TLS).
    Certs(certs::CertsArgs),
    /// Make a device token and the line for the platform's `--tokens` file.
    Token(certs::TokenArgs),
    /// Run simulation scenarios (quinn in turmoil, seeded faults) and print their figures.
    Sim(sim::SimArgs),
}

fn main() -> std::process::ExitCode {
    let cli = match parse_with_config() {
        Ok(Some(cli)) => cli,
        Ok(None) => return std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vstream: error: {e:#}");
            return std::process::ExitCode::FAILURE;
        }
    };
    // A simulation logs every segment at info: only warnings unless RUST_LOG asks.
    let default_filter = match cli.command {
        Command::Sim(_) => "warn",
        _ => "info",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter)),
        )
        .with_writer(progress::LogWriter)
        .init();
    let result = match cli.command {
        Command::Inspect(args) => inspect::run(&args),
        Command::Sim(args) => sim::run(&args),
        Command::Certs(args) => certs::run_certs(&args),
        Command::Token(args) => certs::run_token(&args),
        Command::Platform(args) => runtime().and_then(|rt| rt.block_on(platform::run(args))),
        Command::Client(args) => runtime().and_then(|rt| rt.block_on(client::run(args))),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // One readable line with its causes, never a backtrace.
            eprintln!("vstream: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// The command line, with the options of `platform --config FILE` / `client --config FILE`
/// read in before the flags (flags win; `vstream::service::config`). None when
/// `--print-config` printed the effective configuration.
fn parse_with_config() -> anyhow::Result<Option<Cli>> {
    use vstream::service::config;
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let sub = args.get(1).and_then(|a| a.to_str()).map(str::to_owned);
    let sub = sub.filter(|s| s == "platform" || s == "client");
    if let Some(name) = &sub {
        let command = Cli::command();
        if let (Some(cmd), Some(file)) = (
            command.find_subcommand(name),
            config::config_path(&args[2..])?,
        ) {
            let from_file = config::file_args(cmd, &file, &args[2..])?;
            args.splice(2..2, from_file);
        }
    }
    let matches = Cli::command().get_matches_from(args);
    if let Some(name) = &sub {
        if let Some(m) = matches.subcommand_matches(name) {
            if m.get_flag("print_config") {
                let command = Cli::command();
                if let Some(cmd) = command.find_subcommand(name) {
                    print!("{}", config::render(cmd, m));
                }
                return Ok(None);
            }
        }
    }
    Ok(Some(Cli::from_arg_matches(&matches)?))
}
