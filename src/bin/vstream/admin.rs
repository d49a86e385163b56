//! `vstream platform --admin ADDR`: the admin HTTP API, `/metrics` and the web console
//! beside the QUIC listener (docs/protocol.md D80, D81), and the signals that stop the
//! command cleanly (SIGTERM, Ctrl-C).

use anyhow::{Context, Result};
use std::net::SocketAddr;
use std::path::PathBuf;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use vstream::platform::{Observation, Platform};
use vstream::service::{check_admin_access, AdminService};

/// The admin listener's settings, checked before anything starts.
pub(crate) struct Admin {
    addr: SocketAddr,
    token: Option<String>,
}

/// A running admin listener.
pub(crate) struct Running {
    _service: AdminService,
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Admin {
    /// None without `--admin`. Refuses a non-loopback address without a token; warns on
    /// loopback without one (any local user may steer the platform).
    pub(crate) fn check(
        addr: Option<SocketAddr>,
        token: &Option<String>,
        token_file: &Option<PathBuf>,
    ) -> Result<Option<Admin>> {
        let Some(addr) = addr else {
            return Ok(None);
        };
        let token = match (token, token_file) {
            (Some(t), _) => Some(t.clone()),
            (None, Some(file)) => Some(read_token(file)?),
            (None, None) => None,
        };
        check_admin_access(addr, token.as_deref())?;
        if token.is_none() {
            tracing::warn!(
                "the admin API on {addr} has no token: every local user can steer the platform (give --admin-token-file)"
            );
        }
        Ok(Some(Admin { addr, token }))
    }

    /// Binds the listener and serves the platform's admin API on it.
    pub(crate) async fn serve(
        self,
        platform: &Platform,
        observations: Option<mpsc::UnboundedReceiver<Observation>>,
    ) -> Result<Running> {
        let listener = tokio::net::TcpListener::bind(self.addr)
            .await
            .with_context(|| format!("admin API: listening on {}", self.addr))?;
        let local = listener.local_addr()?;
        let service = AdminService::start(platform.clone(), observations, self.token);
        let router = service.router();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
        });
        tracing::info!("admin API, metrics and console on http://{local}/");
        Ok(Running {
            _service: service,
            stop,
            task,
        })
    }
}

impl Running {
    /// Stops accepting requests and lets open ones finish (a second at most: event
    /// streams would otherwise hold it open).
    pub(crate) async fn stop(self) {
        let _ = self.stop.send(());
        let _ = tokio::time::timeout(std::time::Duration::from_secs(1), self.task).await;
    }
}

/// The first line of a token file.
fn read_token(file: &PathBuf) -> Result<String> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("reading the admin token file {}", file.display()))?;
    text.lines()
        .next()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .with_context(|| format!("{}: the token file is empty", file.display()))
}

/// Resolves at SIGTERM or Ctrl-C (SIGINT), with the signal's name.
pub(crate) async fn stop_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            return tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = tokio::signal::ctrl_c() => "Ctrl-C",
            };
        }
    }
    let _ = tokio::signal::ctrl_c().await;
    "Ctrl-C"
}
