//! `cargo xtask fuzz [--secs N] [--target NAME] [--engine libfuzzer|proptest]`: runs every
//! fuzz target of `fuzz/` for N seconds each (default 60) and prints the executions reached.
//!
//! - Seeds: `fuzz/corpus/<target>/` is filled from `golden/` (binary envelopes, payloads,
//!   segments, the specification's JSON envelopes) and `test_videos/` (the first 16 KiB of
//!   each H.264 stream; each MP4 with its `mdat` emptied), and a sample token file. The
//!   corpus folder is kept between runs (libFuzzer adds what it finds) and not committed.
//! - Engine: libFuzzer through cargo-fuzz when a nightly toolchain is installed (cargo-fuzz
//!   is installed with `cargo install` if missing); otherwise, or with `--engine proptest`,
//!   the same target bodies as long proptest runs (`fuzz/tests/proptest_targets.rs`), and
//!   it says so.
//! - A crash stops the run with a failure; libFuzzer leaves the input in
//!   `fuzz/artifacts/<target>/`, proptest prints the shrunk input. Keep each as a named
//!   regression test.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The targets, as `fuzz/src/lib.rs` names them.
const TARGETS: &[&str] = vstream_fuzz::TARGETS;

struct Options {
    secs: u64,
    target: Option<String>,
    engine: Option<String>,
}

fn parse(args: &[&str]) -> Result<Options> {
    let mut o = Options {
        secs: 60,
        target: None,
        engine: None,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = || it.next().copied().context(format!("{arg} needs a value"));
        match *arg {
            "--secs" => o.secs = value()?.parse().context("--secs")?,
            "--target" => o.target = Some(value()?.to_string()),
            "--engine" => o.engine = Some(value()?.to_string()),
            other => bail!("unknown option {other}"),
        }
    }
    if let Some(t) = &o.target {
        if !TARGETS.contains(&t.as_str()) {
            bail!("unknown target {t} (targets: {})", TARGETS.join(", "));
        }
    }
    Ok(o)
}

/// Runs the task; Ok(false) when a target failed.
pub fn run(args: &[&str]) -> Result<bool> {
    let o = parse(args)?;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .context("workspace root")?
        .to_path_buf();
    let corpus = root.join("fuzz/corpus");
    seed_corpus(&root, &corpus)?;
    let targets: Vec<&str> = match &o.target {
        Some(t) => vec![t.as_str()],
        None => TARGETS.to_vec(),
    };
    let engine = match o.engine.as_deref() {
        Some("libfuzzer") => "libfuzzer",
        Some("proptest") => "proptest",
        Some(other) => bail!("unknown engine {other} (libfuzzer or proptest)"),
        None if has_nightly() => "libfuzzer",
        None => {
            println!(
                "fuzz: no nightly toolchain (`rustup toolchain install nightly` for libFuzzer): \
                 running the same targets as long proptest runs"
            );
            "proptest"
        }
    };
    if engine == "libfuzzer" {
        ensure_cargo_fuzz()?;
        libfuzzer(&root, &corpus, &targets, o.secs)
    } else {
        proptest(&corpus, &targets, o.secs)
    }
}

fn has_nightly() -> bool {
    Command::new("rustup")
        .args(["run", "nightly", "rustc", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `cargo` of the nightly toolchain, through rustup (the `CARGO` this task runs under is
/// the stable toolchain's own binary, which knows no `+nightly`).
fn nightly_cargo() -> Command {
    let mut rustup = Command::new("rustup");
    rustup
        .args(["run", "nightly", "cargo"])
        .env_remove("RUSTUP_TOOLCHAIN");
    crate::without_cargo_env(rustup)
}

fn ensure_cargo_fuzz() -> Result<()> {
    let present = nightly_cargo()
        .args(["fuzz", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !present {
        println!("fuzz: installing cargo-fuzz (cargo install cargo-fuzz --locked)");
        let ok = crate::cargo_command()
            .args(["install", "cargo-fuzz", "--locked"])
            .status()?
            .success();
        if !ok {
            bail!("cargo install cargo-fuzz failed");
        }
    }
    Ok(())
}

/// libFuzzer on each target: bounded input length, memory and per-input time, so a hang
/// or an unbounded allocation is a failure too.
fn libfuzzer(root: &Path, corpus: &Path, targets: &[&str], secs: u64) -> Result<bool> {
    // One build first: a build failure is one message, not one per target.
    let built = nightly_cargo()
        .current_dir(root)
        .args(["fuzz", "build", "--features", "libfuzzer"])
        .args(targets.iter().take(usize::from(targets.len() == 1)))
        .status()
        .context("running cargo fuzz build")?;
    if !built.success() {
        bail!("cargo fuzz build failed");
    }
    let mut all_ok = true;
    let mut table = Vec::new();
    for target in targets {
        let max_len = match *target {
            "h264" | "mp4" => 65536,
            _ => 4096,
        };
        let output = nightly_cargo()
            .current_dir(root)
            .args(["fuzz", "run", "--features", "libfuzzer", target])
            .arg(corpus.join(target))
            .args([
                "--",
                &format!("-max_total_time={secs}"),
                &format!("-max_len={max_len}"),
                "-rss_limit_mb=1024",
                "-malloc_limit_mb=256",
                "-timeout=10",
                "-print_final_stats=1",
            ])
            .stdout(Stdio::inherit())
            .stderr(Stdio::piped())
            .output()
            .with_context(|| format!("running cargo fuzz run {target}"))?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        let executions = stderr
            .lines()
            .find_map(|l| l.strip_prefix("stat::number_of_executed_units:"))
            .map(|n| n.trim().to_string())
            .unwrap_or_else(|| "?".into());
        let ok = output.status.success();
        if !ok {
            eprintln!("{stderr}");
            all_ok = false;
        }
        let verdict = if ok { "ok" } else { "FAILED" };
        println!("fuzz(libfuzzer) {target}: {executions} executions in {secs} s: {verdict}");
        table.push((target.to_string(), executions, verdict));
    }
    print_table("libfuzzer", secs, &table);
    Ok(all_ok)
}

/// The proptest engine: `fuzz/tests/proptest_targets.rs`, one test per target, in the
/// test profile (the workspace's compiled dependencies are reused).
fn proptest(corpus: &Path, targets: &[&str], secs: u64) -> Result<bool> {
    let mut all_ok = true;
    let mut table = Vec::new();
    for target in targets {
        let output = crate::cargo_command()
            .args(["test", "-p", "vstream-fuzz", "--test", "proptest_targets"])
            .args(["--", "--exact", target, "--nocapture"])
            .env("FUZZ_SECS", secs.to_string())
            .env("FUZZ_CORPUS", corpus)
            .stderr(Stdio::inherit())
            .output()
            .context("running the proptest targets")?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        let executions = stdout
            .lines()
            .find_map(|l| l.strip_prefix(&format!("fuzz(proptest) {target}: ")))
            .and_then(|l| l.split_whitespace().next())
            .unwrap_or("?")
            .to_string();
        let ok = output.status.success();
        if !ok {
            println!("{stdout}");
            all_ok = false;
        }
        let verdict = if ok { "ok" } else { "FAILED" };
        println!("fuzz(proptest) {target}: {executions} executions in {secs} s: {verdict}");
        table.push((target.to_string(), executions, verdict));
    }
    print_table("proptest", secs, &table);
    Ok(all_ok)
}

fn print_table(engine: &str, secs: u64, rows: &[(String, String, &str)]) {
    println!("\n| target ({engine}, {secs} s each) | executions | result |");
    println!("| --- | ---: | --- |");
    for (target, executions, verdict) in rows {
        println!("| {target} | {executions} | {verdict} |");
    }
}

/// Fills `corpus/<target>/` with seeds (files are overwritten, libFuzzer's finds kept).
fn seed_corpus(root: &Path, corpus: &Path) -> Result<()> {
    let golden = root.join("golden");
    let videos = root.join("test_videos");
    let put = |target: &str, name: &str, bytes: &[u8]| -> Result<()> {
        let dir = corpus.join(target);
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join(format!("seed-{name}")), bytes)?;
        Ok(())
    };
    for path in files(&golden)? {
        let name = file_name(&path);
        let bytes = std::fs::read(&path)?;
        if name.starts_with("segment-") {
            put("segment", &name, &bytes)?;
        } else if name.ends_with(".bin") {
            put("binary_envelope", &name, &bytes)?;
            // type byte + payload (the binary envelope's header is 21 bytes).
            if bytes.len() >= 21 {
                let mut payload = vec![bytes[0]];
                payload.extend_from_slice(&bytes[21..]);
                put("payload", &name, &payload)?;
            }
        }
    }
    for path in files(&golden.join("spec-json"))? {
        put("json_envelope", &file_name(&path), &std::fs::read(&path)?)?;
    }
    for path in files(&videos)? {
        let name = file_name(&path);
        if name.ends_with(".h264") {
            let bytes = std::fs::read(&path)?;
            put("h264", &name, &bytes[..bytes.len().min(16 * 1024)])?;
        } else if name.ends_with(".mp4") {
            put("mp4", &name, &empty_mdat(&std::fs::read(&path)?))?;
        }
    }
    put(
        "token_file",
        "sample",
        b"# devices\ncam-01 sha256:0000000000000000000000000000000000000000000000000000000000000000\n\
          cam-02\tsha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff\n",
    )?;
    Ok(())
}

/// The MP4's top-level boxes with every `mdat` emptied (its sample tables still point into
/// it, which the parser must survive), so a seed is a few KiB.
fn empty_mdat(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut at = 0usize;
    while at + 8 <= bytes.len() {
        let size = u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
        let size = match size {
            0 => bytes.len() - at,
            1 => break, // 64-bit sizes: keep what we have
            n => n as usize,
        };
        let end = (at + size.max(8)).min(bytes.len());
        if &bytes[at + 4..at + 8] == b"mdat" {
            out.extend_from_slice(&8u32.to_be_bytes());
            out.extend_from_slice(b"mdat");
        } else {
            out.extend_from_slice(&bytes[at..end]);
        }
        at = end;
    }
    out
}

fn files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    out.sort();
    Ok(out)
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}
