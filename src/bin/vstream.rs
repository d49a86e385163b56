//! The `vstream` command: platform, client, inspect.

#[path = "vstream/inspect.rs"]
mod inspect;

use clap::{Parser, Subcommand};

/// On-demand video upload over QUIC (video-streaming/1.0).
#[derive(Parser, Debug)]
#[command(name = "vstream", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Show how a file would be segmented: the segment table a user debugs with.
    Inspect(inspect::InspectArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Inspect(args) => inspect::run(&args),
    }
}
