//! The security options of `vstream platform` and `vstream client` (issue 13, D90-D93):
//! device authentication by mutual TLS and tokens, and the platform's kept certificate.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use vstream::auth::certs::load_or_generate_platform_cert;
use vstream::auth::{DeviceAuth, Token, TokenFile};
use vstream::net::{
    client_crypto, client_crypto_with_identity, load_certs_pem, server_crypto, server_crypto_mtls,
    ClientIdentity, SelfSignedCert, ServerVerification, ALPN,
};
use vstream::wire::SessionStart;

/// Device authentication on the platform.
#[derive(clap::Args, Debug)]
pub(crate) struct PlatformSecurityArgs {
    /// Require client certificates chained to this CA (PEM): mutual TLS. The device
    /// identity is the certificate's subject common name (`vstream certs --device ID`).
    #[arg(long)]
    client_ca: Option<PathBuf>,
    /// Require a token: the file lists `DEVICE_ID sha256:HEX` lines (`vstream token`).
    #[arg(long)]
    tokens: Option<PathBuf>,
    /// Where the generated certificate and key are kept and reused across restarts
    /// (default: `--out`).
    #[arg(long)]
    state_dir: Option<PathBuf>,
    /// With `--pull`: pull only from this device, once it authenticated (needs
    /// `--client-ca` or `--tokens`); other clients are left waiting.
    #[arg(long, requires = "pull")]
    from: Option<String>,
    /// Live sessions at most (further connections are refused).
    #[arg(long, default_value_t = 1000)]
    max_sessions: usize,
    /// Handshakes per second one source address may start (burst: twice as many).
    #[arg(long, default_value_t = 20.0)]
    handshakes_per_sec: f64,
    /// From this many live sessions on, clients prove their address with a QUIC Retry.
    #[arg(long, default_value_t = 64)]
    retry_above: usize,
}

impl PlatformSecurityArgs {
    /// The connection limits asked for.
    pub(crate) fn limits(&self) -> vstream::platform::ConnectionLimits {
        vstream::platform::ConnectionLimits {
            max_sessions: self.max_sessions,
            handshakes_per_sec: self.handshakes_per_sec.max(0.001),
            handshake_burst: (2.0 * self.handshakes_per_sec).max(1.0),
            retry_above: self.retry_above,
        }
    }

    /// The device `--from` names.
    pub(crate) fn pull_device(&self) -> Option<&str> {
        self.from.as_deref()
    }
}

/// The generated (or kept) self-signed certificate of the platform.
pub(crate) fn platform_certificate(
    security: &PlatformSecurityArgs,
    out: &Path,
    names: &[&str],
) -> Result<SelfSignedCert> {
    let dir = security.state_dir.as_deref().unwrap_or(out);
    let (cert, generated) = load_or_generate_platform_cert(dir, names)
        .with_context(|| format!("platform certificate in {}", dir.display()))?;
    if generated {
        tracing::info!("generated a certificate, kept in {}", dir.display());
    } else {
        tracing::info!("reusing the certificate kept in {}", dir.display());
    }
    Ok(cert)
}

/// The platform's TLS configuration and authentication policy. Says once, at start-up,
/// when any device may connect.
pub(crate) fn platform_auth(
    security: &PlatformSecurityArgs,
    certs: Vec<rustls::pki_types::CertificateDer<'static>>,
    key: rustls::pki_types::PrivateKeyDer<'static>,
) -> Result<(rustls::ServerConfig, DeviceAuth)> {
    if security.from.is_some() && security.client_ca.is_none() && security.tokens.is_none() {
        bail!(
            "--from needs --client-ca or --tokens: without authentication a device id proves \
             nothing"
        );
    }
    let mut auth = DeviceAuth::open();
    let crypto = match &security.client_ca {
        Some(ca) => {
            let roots = load_certs_pem(ca).with_context(|| format!("reading {}", ca.display()))?;
            auth.require_certificate = true;
            server_crypto_mtls(certs, key, roots).context("TLS configuration")?
        }
        None => server_crypto(certs, key).context("TLS configuration")?,
    };
    if let Some(path) = &security.tokens {
        let file = TokenFile::load(path).with_context(|| format!("reading {}", path.display()))?;
        if file.is_empty() {
            tracing::warn!(
                "{} lists no device: every device is refused",
                path.display()
            );
        }
        tracing::info!("{} device tokens from {}", file.len(), path.display());
        auth.tokens = Some(Arc::new(file));
    }
    if auth.is_open() {
        tracing::warn!(
            "no device authentication configured (--client-ca, --tokens): any device may connect"
        );
    }
    Ok((crypto, auth))
}

/// How the client proves who it is.
#[derive(clap::Args, Debug)]
pub(crate) struct ClientSecurityArgs {
    /// This device's certificate (PEM), for a platform with `--client-ca`.
    #[arg(long, requires = "key")]
    cert: Option<PathBuf>,
    /// The private key (PEM) of `--cert`.
    #[arg(long, requires = "cert")]
    key: Option<PathBuf>,
    /// This device's id, sent in SessionStart (required with a token).
    #[arg(long)]
    device_id: Option<String>,
    /// This device's token (prefer `--token-file`: command lines are visible to others).
    #[arg(long, requires = "device_id", conflicts_with = "token_file")]
    token: Option<String>,
    /// A file holding this device's token.
    #[arg(long, requires = "device_id")]
    token_file: Option<PathBuf>,
}

/// The client's rustls configuration, with its certificate when given.
pub(crate) fn client_tls(
    security: &ClientSecurityArgs,
    verification: &ServerVerification,
) -> Result<rustls::ClientConfig> {
    Ok(match (&security.cert, &security.key) {
        (Some(cert), Some(key)) => {
            let identity = ClientIdentity::load(cert, key)
                .with_context(|| format!("reading {} and {}", cert.display(), key.display()))?;
            client_crypto_with_identity(verification, ALPN, identity)?
        }
        _ => client_crypto(verification, ALPN)?,
    })
}

/// What the client sends as SessionStart: its device id and token, when given.
pub(crate) fn session_start(security: &ClientSecurityArgs) -> Result<Option<SessionStart>> {
    let Some(id) = &security.device_id else {
        return Ok(None);
    };
    let token = match (&security.token, &security.token_file) {
        (Some(t), _) => Some(Token::new(t)),
        (None, Some(path)) => Some(Token::new(
            &std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?,
        )),
        (None, None) => None,
    };
    match SessionStart::with_device(id, token.as_ref().map(Token::as_str)) {
        Some(start) => Ok(Some(start)),
        None => bail!(
            "--device-id must be 1-128 characters of A-Z a-z 0-9 . _ - : @, and the token \
             1-256 printable ASCII characters"
        ),
    }
}
