//! `vstream client`: connect to a platform and serve the files under `--dir` until the
//! platform closes the session (or Ctrl-C ends it).

use anyhow::{bail, Context, Result};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use vstream::catalog::Catalog;
use vstream::client::{run_client_watched, ClientConfig, ReconnectPolicy, RecoveryStrategy};
use vstream::net::{
    client_config, client_endpoint_with, load_certs_pem, ServerVerification, TransportSettings,
};

/// Arguments of `vstream client`.
#[derive(clap::Args, Debug)]
pub(crate) struct ClientArgs {
    /// Largest UDP payload sent and accepted; MTU discovery climbs up to it (D102). E.g.
    /// 8952 on a LAN with 9000-byte jumbo frames. The peer must allow it too.
    #[arg(long, value_name = "BYTES", default_value_t = 1452, value_parser = clap::value_parser!(u16).range(1200..=65527))]
    max_udp_payload: u16,
    /// UDP payload the path is known to carry: where MTU discovery starts and what it
    /// falls back to when large packets are lost (D102).
    #[arg(long, value_name = "BYTES", default_value_t = 1200, value_parser = clap::value_parser!(u16).range(1200..=65527))]
    min_udp_payload: u16,
    /// The platform, HOST:PORT.
    #[arg(long)]
    server: String,
    /// The folder served: FileRequest paths are relative to it.
    #[arg(long)]
    dir: PathBuf,
    /// Serve only these files or folders under `--dir` (default: everything under it).
    #[arg(long)]
    register: Vec<PathBuf>,
    /// Keep the files' checksums here across restarts (default:
    /// `$XDG_CACHE_HOME/vstream/checksums.json`, else `~/.cache/vstream/checksums.json`).
    #[arg(long, value_name = "FILE", conflicts_with = "no_checksum_cache")]
    checksum_cache: Option<PathBuf>,
    /// Keep no checksum cache: every file is hashed again after a restart.
    #[arg(long)]
    no_checksum_cache: bool,
    /// Trust this certificate (PEM), e.g. the one `vstream platform --write-cert` saved.
    #[arg(long, conflicts_with = "insecure")]
    ca: Option<PathBuf>,
    /// Accept any platform certificate (development only).
    #[arg(long)]
    insecure: bool,
    /// The name the platform's certificate must carry (default: the host of `--server`).
    #[arg(long)]
    server_name: Option<String>,
    /// Device authentication (mutual TLS, token).
    #[command(flatten)]
    security: super::security::ClientSecurityArgs,
    /// Reconnect after the connection breaks: immediate, exponential (100 ms x 2^n),
    /// linear (1 s x n), adaptive (500 ms + 200 ms x n), or none.
    #[arg(long, default_value = "exponential", value_parser = parse_reconnect)]
    reconnect: ReconnectChoice,
    /// Give up after this many failed reconnection attempts in a row (default: never).
    #[arg(long)]
    max_retries: Option<u32>,
    /// The longest wait between two reconnection attempts, in seconds.
    #[arg(long, default_value_t = 30.0, value_parser = parse_seconds)]
    max_backoff: f64,
    /// No progress display.
    #[arg(long)]
    quiet: bool,
    /// Read options from this TOML file (each key a long flag: `server = "host:8080"`);
    /// flags given here win over it.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Print the effective configuration as TOML (tokens redacted) and exit.
    #[arg(long)]
    print_config: bool,
    /// Give a connection up (and reconnect) when, for this many seconds, nothing came back
    /// from the platform, or segments in flight made no progress (D67). 0: never.
    #[arg(long, value_name = "SECS", default_value_t = 5.0, value_parser = parse_seconds)]
    stall_timeout: f64,
    /// How long one connection attempt may take before it counts as failed (then the
    /// --reconnect policy applies).
    #[arg(long, value_name = "SECS", default_value_t = 10.0, value_parser = parse_positive_seconds)]
    connect_timeout: f64,
}

/// `--connect-timeout`: seconds, more than 0.
fn parse_positive_seconds(s: &str) -> Result<f64, String> {
    parse_seconds(s).and_then(|v| {
        if v > 0.0 {
            Ok(v)
        } else {
            Err(format!("expected seconds above 0, got {s:?}"))
        }
    })
}

/// `--reconnect`: a strategy, or None for `none`.
#[derive(Debug, Clone, Copy)]
struct ReconnectChoice(Option<RecoveryStrategy>);

/// `--reconnect`: a strategy name, or `none` for no reconnection.
fn parse_reconnect(s: &str) -> Result<ReconnectChoice, String> {
    if s.eq_ignore_ascii_case("none") {
        return Ok(ReconnectChoice(None));
    }
    s.parse()
        .map(|strategy| ReconnectChoice(Some(strategy)))
        .map_err(|e| format!("{e} (or none)"))
}

/// `--max-backoff`: finite, non-negative seconds.
fn parse_seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && (0.0..=86_400.0).contains(&v) => Ok(v),
        _ => Err(format!("expected seconds between 0 and 86400, got {s:?}")),
    }
}

impl ClientArgs {
    /// The reconnection policy the flags describe (None with `--reconnect none`). The
    /// jitter seed is drawn from the OS so that devices that lost the platform together
    /// do not come back together.
    fn reconnect_policy(&self) -> Option<ReconnectPolicy> {
        let strategy = self.reconnect.0?;
        Some(ReconnectPolicy {
            strategy,
            max_retries: self.max_retries,
            max_backoff: Duration::from_secs_f64(self.max_backoff),
            seed: uuid::Uuid::new_v4().as_u64_pair().0,
            ..ReconnectPolicy::default()
        })
    }
}

/// Runs the client until the session ends.
pub(crate) async fn run(args: ClientArgs) -> Result<()> {
    let verification = match (&args.ca, args.insecure) {
        (Some(ca), _) => ServerVerification::Roots(
            load_certs_pem(ca).with_context(|| format!("reading {}", ca.display()))?,
        ),
        (None, true) => {
            tracing::warn!("--insecure: the platform's certificate is NOT verified");
            ServerVerification::Insecure
        }
        (None, false) => bail!(
            "give --ca FILE (the platform's certificate, e.g. from `vstream platform --write-cert`) or --insecure"
        ),
    };
    let (server, host) = resolve(&args.server).await?;
    let server_name = args.server_name.clone().unwrap_or(host);
    let catalog = match checksum_cache(&args) {
        Some(cache) => {
            tracing::info!("checksum cache: {}", cache.display());
            Catalog::with_checksum_cache(&args.dir, cache)
        }
        None => Catalog::new(&args.dir),
    }
    .with_context(|| format!("serving {}", args.dir.display()))?;
    let registered = if args.register.is_empty() {
        catalog.register_root()?
    } else {
        let mut n = 0;
        for path in &args.register {
            n += catalog
                .register(path)
                .with_context(|| format!("registering {}", path.display()))?;
        }
        n
    };
    tracing::info!("serving {registered} files from {}", args.dir.display());
    let crypto = super::security::client_tls(&args.security, &verification)?;
    let mut session_config = ClientConfig::default();
    session_config.session.session_start = super::security::session_start(&args.security)?;
    session_config.session.client_limits = args.security.client_limits();
    let transport = TransportSettings {
        max_udp_payload: args.max_udp_payload,
        min_udp_payload: args.min_udp_payload,
        ..TransportSettings::default()
    };
    let config = client_config(crypto, &transport)?;
    let bind: SocketAddr = if server.is_ipv6() {
        "[::]:0".parse()?
    } else {
        "0.0.0.0:0".parse()?
    };
    let endpoint = client_endpoint_with(bind, config, &transport)?;
    let shutdown = async {
        let signal = super::admin::stop_signal().await;
        tracing::info!("{signal}: ending the session");
    };
    let (progress_tx, progress_rx) = tokio::sync::watch::channel(Default::default());
    let shown = super::progress::watch_client(progress_rx, args.quiet);
    let summary = run_client_watched(
        endpoint.clone(),
        server,
        &server_name,
        Arc::new(catalog),
        ClientConfig {
            reconnect: args.reconnect_policy(),
            stall_timeout: (args.stall_timeout > 0.0)
                .then(|| Duration::from_secs_f64(args.stall_timeout)),
            connect_timeout: Duration::from_secs_f64(args.connect_timeout),
            ..session_config
        },
        shutdown,
        progress_tx,
    )
    .await
    .with_context(|| format!("session with {}", args.server));
    let _ = shown.await;
    let summary = summary?;
    endpoint.wait_idle().await;
    for t in &summary.transfers {
        tracing::info!(
            "{}: {}/{} segments, {} bytes, {:?}",
            t.file_path,
            t.uploaded_segments,
            t.total_segments,
            t.bytes,
            t.outcome
        );
    }
    Ok(())
}

/// The socket address of `HOST:PORT` and the host part (the certificate name).
async fn resolve(server: &str) -> Result<(SocketAddr, String)> {
    let host = match server.rsplit_once(':') {
        Some((host, _)) => host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string(),
        None => bail!("--server must be HOST:PORT, got {server:?}"),
    };
    let addr = tokio::net::lookup_host(server)
        .await
        .with_context(|| format!("resolving {server}"))?
        .next()
        .with_context(|| format!("{server} resolves to no address"))?;
    Ok((addr, host))
}

/// Where the catalog keeps checksums across restarts (D100), if anywhere.
fn checksum_cache(args: &ClientArgs) -> Option<PathBuf> {
    if args.no_checksum_cache {
        return None;
    }
    if let Some(file) = &args.checksum_cache {
        return Some(file.clone());
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("vstream").join("checksums.json"))
}
