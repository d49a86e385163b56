//! Project tasks: `cargo xtask <task>`.
//!
//! - `conformance`: replays every case under `conformance/cases/`, prints one line per case
//!   and a closing `N passed, M failed`; exits non-zero on any failure.
//! - `bless-golden`: rewrites the binary golden files under `golden/` from the expected
//!   values in `vstream_conformance::golden` (the golden test never writes them).
//! - `bench media`: the media segmentation benchmark (release build).
//! - `bench upload`: client and platform as separate pinned processes: vstream against
//!   plain quinn, CPU per GiB each side; then frame mode and peak RSS (release build).
//! - `bench capacity`: 100 concurrent uploads, 1,000 idle devices, one platform.
//! - `bench capacity-profile`: where the capacity CPU goes, 1 vs 10 vs 100 connections.
//! - `bench callgrind`: the platform's instruction count receiving 64 MiB.
//! - `bench all`: every figure of issue 15 in one output (see `bench.rs`).
//! - `bench first-segment`: FileRequest to first segment stored before the checksum is
//!   known, 1 MiB / 256 MiB / 4 GiB (release build).
//! - `bench datagrams`: 1452 vs 8952-byte datagrams, plain quinn and vstream (release).
//! - `sim`: the simulation scenarios over K seeds in the release binary, as a table (see
//!   `sim.rs` for the options); a failure prints the command that replays it.
//! - `fuzz [--secs N] [--target NAME] [--engine libfuzzer|proptest]`: every fuzz target for
//!   N seconds (see `fuzz.rs`), with the executions reached.

mod bench;
mod figures;
mod fuzz;
mod sim;

use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        ["conformance", rest @ ..] => conformance(rest),
        ["bless-golden"] => bless_golden(),
        ["sim", rest @ ..] => sim::run(rest),
        ["fuzz", rest @ ..] => fuzz::run(rest),
        ["bench", name, rest @ ..] => bench::run(name, rest),
        _ => {
            eprintln!(
                "usage: cargo xtask <conformance [FILTER] | bless-golden | bench upload|capacity|capacity-profile|callgrind|first-segment|datagrams|media|all | sim [--scenario NAME] [--seeds K] [--seed N] [--cc bbr|cubic] [--determinism] [--figures] | fuzz [--secs N] [--target NAME] [--engine libfuzzer|proptest]>"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("xtask: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn conformance(filter: &[&str]) -> anyhow::Result<bool> {
    let dir = vstream_conformance::cases_dir();
    let outcome = vstream_conformance::run_dir(&dir, filter.first().copied())?;
    for case in &outcome.cases {
        println!("{}", case);
    }
    println!("{} passed, {} failed", outcome.passed(), outcome.failed());
    Ok(outcome.failed() == 0)
}

fn bless_golden() -> anyhow::Result<bool> {
    let dir = vstream_conformance::golden::golden_dir();
    for path in vstream_conformance::golden::bless(&dir)? {
        println!("wrote {}", path.display());
    }
    let failures = vstream_conformance::golden::check(&dir);
    for f in &failures {
        eprintln!("{f}");
    }
    Ok(failures.is_empty())
}

/// A `cargo` command without the variables `cargo run` gave this process for the xtask
/// package: a build script that watches one (ring's: `CARGO_MANIFEST_DIR`) would otherwise
/// rebuild its crate, and everything above it, on every call.
fn cargo_command() -> Command {
    let cargo = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    without_cargo_env(cargo)
}

/// `cargo` removes the variables above from `command`'s environment (see [`cargo_command`]).
fn without_cargo_env(mut cargo: Command) -> Command {
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy().into_owned();
        if name.starts_with("CARGO_PKG_")
            || matches!(
                name.as_str(),
                "CARGO_MANIFEST_DIR"
                    | "CARGO_MANIFEST_PATH"
                    | "CARGO_CRATE_NAME"
                    | "CARGO_BIN_NAME"
                    | "CARGO_PRIMARY_PACKAGE"
            )
        {
            cargo.env_remove(name);
        }
    }
    cargo
}
