//! `vstream platform`: accept clients and receive what is pulled from them; with `--pull`,
//! pull one file from the first client, verify it, print the report and exit.

use anyhow::{bail, Context, Result};
use serde_json::json;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use vstream::media::SegmentMode;
use vstream::net::{
    load_certs_pem, load_key_pem, platform_endpoint, server_config, server_crypto, SelfSignedCert,
    TransportSettings,
};
use vstream::platform::{Platform, PlatformConfig, TransferResult};
use vstream::session::TransferOutcome;
use vstream::wire::FileRequest;

/// Arguments of `vstream platform`.
#[derive(clap::Args, Debug)]
pub(crate) struct PlatformArgs {
    /// UDP address to listen on.
    #[arg(long, default_value = "0.0.0.0:8080")]
    listen: SocketAddr,
    /// Where received files, `.debug` and `.report` files go (`DIR/<session id>/`).
    #[arg(long)]
    out: PathBuf,
    /// Certificate chain (PEM). Without it a self-signed certificate is generated.
    #[arg(long, requires = "key")]
    cert: Option<PathBuf>,
    /// Private key (PEM) of `--cert`.
    #[arg(long, requires = "cert")]
    key: Option<PathBuf>,
    /// Save the generated self-signed certificate here (PEM), for clients' `--ca`.
    #[arg(long, conflicts_with = "cert")]
    write_cert: Option<PathBuf>,
    /// Names of the generated certificate (DNS names or IP addresses).
    #[arg(long, default_values = ["localhost", "127.0.0.1", "::1"])]
    cert_name: Vec<String>,
    /// One-shot: wait for the first client, pull this file (a path under the client's
    /// `--dir`), verify it, print the report and exit (0 only if it arrived whole and
    /// verified; with `--seek`, if everything from the seek point arrived).
    #[arg(long)]
    pull: Option<String>,
    /// Segment mode of the pull: frame, gop, time, fixed or auto.
    #[arg(long, default_value = "auto", value_parser = parse_mode)]
    mode: SegmentMode,
    /// Start position of the pull, in seconds.
    #[arg(long)]
    seek: Option<f64>,
    /// With `--pull`: print one JSON object instead of the text report.
    #[arg(long)]
    json: bool,
    /// With `--pull`: give up after this many seconds (waiting for a client included).
    #[arg(long)]
    timeout: Option<f64>,
}

fn parse_mode(s: &str) -> Result<SegmentMode, String> {
    SegmentMode::from_name(s).ok_or_else(|| {
        format!("unknown segment mode {s:?} (expected frame, gop, time, fixed or auto)")
    })
}

/// Runs the platform (long-running, or one pull).
pub(crate) async fn run(args: PlatformArgs) -> Result<()> {
    let (certs, key) = match (&args.cert, &args.key) {
        (Some(cert), Some(key)) => (
            load_certs_pem(cert).with_context(|| format!("reading {}", cert.display()))?,
            load_key_pem(key).with_context(|| format!("reading {}", key.display()))?,
        ),
        _ => {
            let names: Vec<&str> = args.cert_name.iter().map(String::as_str).collect();
            let generated = SelfSignedCert::generate(&names).context("generating a certificate")?;
            if let Some(path) = &args.write_cert {
                write_atomically(path, generated.cert_pem.as_bytes())
                    .with_context(|| format!("writing {}", path.display()))?;
                tracing::info!("self-signed certificate written to {}", path.display());
            }
            (vec![generated.cert], generated.key.into())
        }
    };
    let crypto = server_crypto(certs, key).context("TLS configuration")?;
    let config = server_config(crypto, &TransportSettings::default())?;
    let endpoint = platform_endpoint(args.listen, config)
        .with_context(|| format!("listening on {}", args.listen))?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let platform = Platform::start(endpoint, PlatformConfig::new(&args.out));
    tracing::info!("platform listening on {}", platform.local_addr()?);
    let Some(path) = args.pull.clone() else {
        tokio::signal::ctrl_c().await?;
        platform.shutdown().await;
        return Ok(());
    };
    let pull = pull_one(&platform, &args, path);
    let result = match args.timeout {
        Some(secs) => tokio::time::timeout(Duration::from_secs_f64(secs.max(0.0)), pull)
            .await
            .unwrap_or_else(|_| bail_timeout(secs)),
        None => pull.await,
    };
    platform.shutdown().await;
    let result = result?;
    print_result(&result, args.json)?;
    if result.outcome != TransferOutcome::Completed {
        bail!(
            "{} did not arrive completely ({:?})",
            result.report.file_path,
            result.outcome
        );
    }
    // From a seek position on, the file is partial by request: its SHA-256 cannot match.
    if !result.sha256_ok && args.seek.is_none() {
        bail!(
            "{} arrived but its SHA-256 does not match the client's checksum",
            result.report.file_path
        );
    }
    Ok(())
}

fn bail_timeout(secs: f64) -> Result<TransferResult> {
    bail!("no complete transfer within {secs} s")
}

async fn pull_one(
    platform: &Platform,
    args: &PlatformArgs,
    path: String,
) -> Result<TransferResult> {
    tracing::info!("waiting for a client to pull {path}");
    let session = platform.wait_for_session().await;
    let mut request = FileRequest::new(path.clone());
    request.segment_mode = args.mode;
    request.seek_position = args.seek;
    let handle = platform
        .request_file(session.session_id, request)
        .await
        .with_context(|| format!("requesting {path}"))?;
    let result = handle
        .finished()
        .await
        .with_context(|| format!("receiving {path}"))?;
    Ok(result)
}

fn print_result(result: &TransferResult, as_json: bool) -> Result<()> {
    let r = &result.report;
    if as_json {
        let f = &r.figures;
        let value = json!({
            "file_path": r.file_path,
            "session_id": r.session_id,
            "transfer_id": r.transfer_id,
            "outcome": r.outcome,
            "bytes": result.file.size,
            "received_bytes": f.bytes,
            "segments": f.total_segments,
            "video_segments": f.video_segments,
            "audio_segments": f.audio_segments,
            "frames": r.frames,
            "keyframes": r.keyframes,
            "sha256_ok": result.sha256_ok,
            "expected_checksum": r.expected_checksum,
            "actual_checksum": r.actual_checksum,
            "output": r.output,
            "debug_file": r.debug_file,
            "report_file": r.report_file,
            "total_secs": f.total_secs,
            "reception_secs": f.reception_secs,
            "overall_mbps": f.overall_mbps,
            "peak_mbps": f.peak_mbps,
            "avg_segment_ms": f.avg_segment_ms,
            "avg_segment_kb": f.avg_segment_kb,
            "efficiency_pct": f.efficiency_pct,
            "media_ranges": r.media_ranges,
        });
        println!("{}", serde_json::to_string(&value)?);
    } else {
        print!("{}", r.render());
    }
    Ok(())
}

/// Writes `bytes` to `path` through a temporary file renamed into place, creating the
/// folder if needed: a client polling for the certificate never reads half of it.
fn write_atomically(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}
