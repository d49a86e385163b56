//! The `vstream` command: platform, client, inspect.

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
    Inspect(InspectArgs),
}

#[derive(clap::Args, Debug)]
struct InspectArgs {
    /// The file to inspect.
    file: std::path::PathBuf,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Inspect(args) => anyhow::bail!("inspect {}: not built yet", args.file.display()),
    }
}
