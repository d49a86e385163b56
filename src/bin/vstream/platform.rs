//! `vstream platform`: accept clients and receive what is pulled from them; with `--pull`,
//! pull one file from the first client, verify it, print the report and exit.

use super::pull::{check, print_result, pull_one, Pulled};
use anyhow::{bail, Context, Result};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use vstream::media::SegmentMode;
use vstream::net::{
    load_certs_pem, load_key_pem, platform_endpoint_with, server_config, TransportSettings,
};
use vstream::platform::{Platform, PlatformConfig, PlaybackScript};
use vstream::store::container::Container;
use vstream::wire::Pacing;

/// Arguments of `vstream platform`.
#[derive(clap::Args, Debug)]
pub(crate) struct PlatformArgs {
    /// Largest UDP payload sent and accepted; MTU discovery climbs up to it (D102). E.g.
    /// 8952 on a LAN with 9000-byte jumbo frames. The peer must allow it too.
    #[arg(long, value_name = "BYTES", default_value_t = 1452, value_parser = clap::value_parser!(u16).range(1200..=65527))]
    max_udp_payload: u16,
    /// UDP payload the path is known to carry: where MTU discovery starts and what it
    /// falls back to when large packets are lost (D102).
    #[arg(long, value_name = "BYTES", default_value_t = 1200, value_parser = clap::value_parser!(u16).range(1200..=65527))]
    min_udp_payload: u16,
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
    /// `--dir`), run `--script`, print the report and exit. Exit status 0 when every
    /// scripted command was acknowledged (or skipped because the transfer had ended), the
    /// transfer completed (or was stopped by the script's `stop`), and, when the segments
    /// received cover the whole file, its SHA-256 matches the client's. After a seek
    /// forward, a `--seek` start or a stop, what arrived is written in index order and the
    /// report lists the segment and media ranges received.
    #[arg(long)]
    pub(crate) pull: Option<String>,
    /// Segment mode of the pull: frame, gop, time, fixed or auto.
    #[arg(long, default_value = "auto", value_parser = parse_mode)]
    pub(crate) mode: SegmentMode,
    /// Start position of the pull, in seconds.
    #[arg(long)]
    pub(crate) seek: Option<f64>,
    /// Pacing of the pull: max_speed (as fast as the network allows) or realtime
    /// (segments released at media time / rate).
    #[arg(long, default_value = "max_speed", value_parser = parse_pacing)]
    pub(crate) pacing: Pacing,
    /// Send-rate cap of the pull, bits per second (the FileRequest's `max_bandwidth`).
    #[arg(long, value_name = "BITS")]
    pub(crate) max_bandwidth: Option<u64>,
    /// Playback rate of the pull, 0.25-4.0 (realtime pacing follows it).
    #[arg(long, default_value_t = 1.0)]
    pub(crate) rate: f64,
    /// Playback commands at wall-clock seconds after the transfer was acknowledged:
    /// `pause@1.0,resume@2.0,seek:30@2.5,rate:2@3.0,stop@9`; also `resume:POS@t`,
    /// `quality:BITRATE@t` (bits/s, k/M suffix) and `buffer:SECONDS@t`. Times must not
    /// decrease. Each acknowledgement (or refusal) is printed as it comes.
    #[arg(long, value_parser = parse_script)]
    pub(crate) script: Option<PlaybackScript>,
    /// With `--pull`: print one JSON object instead of the text report (the script's
    /// acknowledgements in its `playback` array, and on stderr as they come).
    #[arg(long)]
    pub(crate) json: bool,
    /// With `--pull`: give up after this many seconds (waiting for a client included, and
    /// waiting for it to come back after a break).
    #[arg(long)]
    timeout: Option<f64>,
    /// Journals of unfinished transfers older than this many seconds are removed with
    /// their `.part` at start-up (default 7 days).
    #[arg(long, value_name = "SECS", default_value_t = 7.0 * 24.0 * 3600.0)]
    journal_max_age: f64,
    /// Device authentication and the kept certificate.
    #[command(flatten)]
    pub(crate) security: super::security::PlatformSecurityArgs,
    /// What an H.264 pull in frame, GOP or time mode writes: `raw` (the byte-exact
    /// stream), `mp4` (a playable fragmented MP4, `<name>.mp4`) or `both`.
    #[arg(long, default_value = "both", value_parser = parse_container)]
    container: Container,
    /// Serve the admin HTTP API, `/metrics` and the web console on this TCP address
    /// (e.g. 127.0.0.1:9090). Off loopback it needs `--admin-token` or
    /// `--admin-token-file`.
    #[arg(long, value_name = "ADDR")]
    admin: Option<SocketAddr>,
    /// The admin API's bearer token (16-256 visible ASCII characters); prefer
    /// `--admin-token-file`, which keeps it out of the process list.
    #[arg(long, value_name = "TOKEN", conflicts_with = "admin_token_file")]
    admin_token: Option<String>,
    /// A file whose first line is the admin API's bearer token.
    #[arg(long, value_name = "FILE")]
    admin_token_file: Option<PathBuf>,
    /// No progress display.
    #[arg(long)]
    pub(crate) quiet: bool,
    /// Read options from this TOML file (each key a long flag: `out = "received"`,
    /// `[admin] listen = "127.0.0.1:9090"`); flags given here win over it.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Print the effective configuration (defaults, file and flags; tokens redacted) as
    /// TOML and exit.
    #[arg(long)]
    print_config: bool,
}

fn parse_container(s: &str) -> Result<Container, String> {
    Container::from_name(s)
        .ok_or_else(|| format!("unknown container {s:?} (expected raw, mp4 or both)"))
}

fn parse_pacing(s: &str) -> Result<Pacing, String> {
    Pacing::from_name(s)
        .ok_or_else(|| format!("unknown pacing {s:?} (expected max_speed or realtime)"))
}

fn parse_script(s: &str) -> Result<PlaybackScript, String> {
    s.parse()
        .map_err(|e: vstream::platform::ScriptError| e.to_string())
}

fn parse_mode(s: &str) -> Result<SegmentMode, String> {
    SegmentMode::from_name(s).ok_or_else(|| {
        format!("unknown segment mode {s:?} (expected frame, gop, time, fixed or auto)")
    })
}

/// Runs the platform (long-running, or one pull).
pub(crate) async fn run(args: PlatformArgs) -> Result<()> {
    let admin = super::admin::Admin::check(args.admin, &args.admin_token, &args.admin_token_file)?;
    let (certs, key) = match (&args.cert, &args.key) {
        (Some(cert), Some(key)) => (
            load_certs_pem(cert).with_context(|| format!("reading {}", cert.display()))?,
            load_key_pem(key).with_context(|| format!("reading {}", key.display()))?,
        ),
        _ => {
            let names: Vec<&str> = args.cert_name.iter().map(String::as_str).collect();
            let generated =
                super::security::platform_certificate(&args.security, &args.out, &names)?;
            if let Some(path) = &args.write_cert {
                write_atomically(path, generated.cert_pem.as_bytes())
                    .with_context(|| format!("writing {}", path.display()))?;
                tracing::info!("self-signed certificate written to {}", path.display());
            }
            (vec![generated.cert], generated.key.into())
        }
    };
    let (crypto, auth) = super::security::platform_auth(&args.security, certs, key)?;
    let transport = TransportSettings {
        max_udp_payload: args.max_udp_payload,
        min_udp_payload: args.min_udp_payload,
        ..TransportSettings::default()
    };
    let config = server_config(crypto, &transport)?;
    let endpoint = platform_endpoint_with(args.listen, config, &transport)
        .with_context(|| format!("listening on {}", args.listen))?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let mut platform_config = PlatformConfig::new(&args.out);
    platform_config.session.auth = auth;
    platform_config.limits = args.security.limits();
    platform_config.container = args.container;
    platform_config.journal_max_age = Duration::from_secs_f64(args.journal_max_age.max(0.0));
    // A pull lives through breaks: the transfer resumes when the client comes back (D65).
    platform_config.wait_through_breaks = args.pull.is_some();
    let observations = admin.as_ref().map(|_| {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        platform_config.observer = Some(tx);
        rx
    });
    let platform = Platform::start(endpoint, platform_config);
    tracing::info!("platform listening on {}", platform.local_addr()?);
    let admin = match admin {
        Some(admin) => Some(admin.serve(&platform, observations).await?),
        None => None,
    };
    let stop = super::admin::stop_signal();
    let Some(path) = args.pull.clone() else {
        let signal = stop.await;
        tracing::info!("{signal}: closing every session (received data and reports are kept)");
        platform.shutdown().await;
        if let Some(admin) = admin {
            admin.stop().await;
        }
        return Ok(());
    };
    let pull = pull_one(&platform, &args, path);
    let pull = async {
        match args.timeout {
            Some(secs) => tokio::time::timeout(Duration::from_secs_f64(secs.max(0.0)), pull)
                .await
                .unwrap_or_else(|_| bail_timeout(secs)),
            None => pull.await,
        }
    };
    let result = tokio::select! {
        result = pull => result,
        signal = stop => Err(anyhow::anyhow!(
            "{signal}: pull interrupted; what arrived and its report are kept under {}",
            args.out.display()
        )),
    };
    platform.shutdown().await;
    if let Some(admin) = admin {
        admin.stop().await;
    }
    let pulled = result?;
    print_result(&pulled, args.json)?;
    check(&pulled)
}

fn bail_timeout(secs: f64) -> Result<Pulled> {
    bail!("no complete transfer within {secs} s")
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
