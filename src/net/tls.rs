//! TLS 1.3 for both roles: the platform's certificate, and how the client checks it.
//!
//! The platform presents a self-signed certificate made at start-up (rcgen, Ed25519) or
//! PEM files given by the operator. The client verifies the platform against a CA file by
//! default; skipping verification is an explicit, logged choice for development only.
//!
//! Mutual TLS (docs/protocol.md D92): with a client CA the platform requires every client
//! to present a certificate chained to it ([`server_crypto_mtls`]); the client presents
//! its own ([`ClientIdentity`]); the device identity is the certificate's subject common
//! name ([`certificate_identity`], [`peer_certificate_identity`]).

use crate::net::ALPN;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{ring, CryptoProvider};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use std::path::Path;
use std::sync::Arc;

/// Why a TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// Certificate generation failed.
    #[error("certificate generation failed: {0}")]
    Generate(#[from] rcgen::Error),
    /// A PEM file could not be read or holds nothing usable.
    #[error("{path}: {reason}")]
    Pem {
        /// The file.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The client CA could not be used to verify clients.
    #[error("client CA unusable: {0}")]
    ClientVerifier(String),
    /// rustls refused the configuration (e.g. key does not match certificate).
    #[error("TLS configuration refused: {0}")]
    Rustls(#[from] rustls::Error),
}

/// A self-signed certificate and its private key, made for development and tests.
#[derive(Debug)]
pub struct SelfSignedCert {
    /// The certificate, DER.
    pub cert: CertificateDer<'static>,
    /// Its private key, PKCS#8 DER.
    pub key: PrivatePkcs8KeyDer<'static>,
    /// The certificate as PEM, e.g. to hand to a client as its `--ca` file.
    pub cert_pem: String,
    /// The private key as PEM.
    pub key_pem: String,
}

impl SelfSignedCert {
    /// Makes an Ed25519 certificate valid for `names` (DNS names or IP addresses).
    pub fn generate(names: &[&str]) -> Result<Self, TlsError> {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519)?;
        Self::with_key(names, key)
    }

    /// Makes a certificate for `names` signed by the given PKCS#8 Ed25519 key (the
    /// simulator passes a key derived from its seed, so runs are reproducible).
    pub fn from_pkcs8(names: &[&str], pkcs8_der: &[u8]) -> Result<Self, TlsError> {
        let der = PrivatePkcs8KeyDer::from(pkcs8_der.to_vec());
        let key = rcgen::KeyPair::from_pkcs8_der_and_sign_algo(&der, &rcgen::PKCS_ED25519)?;
        Self::with_key(names, key)
    }

    /// The certificate and key of PEM text (a certificate kept from an earlier start).
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Self, TlsError> {
        let pem_err = |reason: String| TlsError::Pem {
            path: "(kept certificate)".into(),
            reason,
        };
        let cert = CertificateDer::from_pem_slice(cert_pem.as_bytes())
            .map_err(|e| pem_err(e.to_string()))?;
        let key = PrivatePkcs8KeyDer::from_pem_slice(key_pem.as_bytes())
            .map_err(|e| pem_err(e.to_string()))?;
        Ok(SelfSignedCert {
            cert,
            key,
            cert_pem: cert_pem.to_owned(),
            key_pem: key_pem.to_owned(),
        })
    }

    fn with_key(names: &[&str], key: rcgen::KeyPair) -> Result<Self, TlsError> {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let params = rcgen::CertificateParams::new(names)?;
        let cert = params.self_signed(&key)?;
        Ok(SelfSignedCert {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            cert: cert.der().clone(),
            key: PrivatePkcs8KeyDer::from(key.serialize_der()),
        })
    }
}

/// Reads every certificate of a PEM file.
pub fn load_certs_pem(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem_err = |reason: String| TlsError::Pem {
        path: path.display().to_string(),
        reason,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| pem_err(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_err(e.to_string()))?;
    if certs.is_empty() {
        return Err(pem_err("no certificate in file".into()));
    }
    Ok(certs)
}

/// Reads the first private key of a PEM file (PKCS#8, PKCS#1 or SEC1).
pub fn load_key_pem(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| TlsError::Pem {
        path: path.display().to_string(),
        reason: e.to_string(),
    })
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(ring::default_provider())
}

/// The platform's rustls configuration: TLS 1.3 only, ALPN `video-streaming/1.0`, no
/// client authentication.
pub fn server_crypto(
    certs: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<rustls::ServerConfig, TlsError> {
    server_crypto_with(provider(), certs, key)
}

/// [`server_crypto`] with a given crypto provider (the simulator's is seeded).
pub fn server_crypto_with(
    provider: Arc<CryptoProvider>,
    certs: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<rustls::ServerConfig, TlsError> {
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    config.alpn_protocols = vec![ALPN.to_vec()];
    Ok(config)
}

/// The platform's rustls configuration with mutual TLS: as [`server_crypto`], and a client
/// certificate is asked for; one that is presented must chain to one of `client_roots`
/// (rustls fails the handshake otherwise). A client that presents none completes the TLS
/// handshake so that the session machine can refuse it with a readable 1004 at
/// SessionStart ([`crate::auth::DeviceAuth::require_certificate`], D92).
pub fn server_crypto_mtls(
    certs: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    client_roots: Vec<CertificateDer<'static>>,
) -> Result<rustls::ServerConfig, TlsError> {
    let provider = provider();
    let mut roots = rustls::RootCertStore::empty();
    for cert in client_roots {
        roots.add(cert)?;
    }
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        Arc::clone(&provider),
    )
    .allow_unauthenticated()
    .build()
    .map_err(|e| TlsError::ClientVerifier(e.to_string()))?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)?;
    config.alpn_protocols = vec![ALPN.to_vec()];
    Ok(config)
}

/// The device identity a certificate carries: its subject's common name, else the whole
/// subject as text; None when the bytes are not a certificate or the subject is empty.
pub fn certificate_identity(cert: &CertificateDer<'_>) -> Option<String> {
    use x509_parser::prelude::FromDer;
    let (_, parsed) = x509_parser::certificate::X509Certificate::from_der(cert.as_ref()).ok()?;
    let subject = parsed.subject();
    if let Some(cn) = subject.iter_common_name().next() {
        return cn.as_str().ok().map(str::to_owned);
    }
    let text = subject.to_string();
    (!text.is_empty()).then_some(text)
}

/// The identity of the certificate a connection's peer presented (mutual TLS), if any.
pub fn peer_certificate_identity(conn: &quinn::Connection) -> Option<String> {
    let identity = conn.peer_identity()?;
    let certs = identity.downcast::<Vec<CertificateDer<'static>>>().ok()?;
    certificate_identity(certs.first()?)
}

/// A client's own certificate chain and key, presented to a platform that asks (mutual TLS).
#[derive(Debug)]
pub struct ClientIdentity {
    /// The certificate chain, the device's certificate first.
    pub certs: Vec<CertificateDer<'static>>,
    /// Its private key.
    pub key: PrivateKeyDer<'static>,
}

impl ClientIdentity {
    /// Reads the chain and key from PEM files (the client's `--cert` and `--key`).
    pub fn load(cert: &Path, key: &Path) -> Result<Self, TlsError> {
        Ok(ClientIdentity {
            certs: load_certs_pem(cert)?,
            key: load_key_pem(key)?,
        })
    }
}

/// How a client checks the platform's certificate.
#[derive(Debug, Clone)]
pub enum ServerVerification {
    /// Verify the chain against these trusted roots (the `--ca` file).
    Roots(Vec<CertificateDer<'static>>),
    /// Accept any certificate (development only; the CLI warns).
    Insecure,
}

/// The client's rustls configuration: TLS 1.3 only, ALPN `alpn` (normally [`ALPN`]).
pub fn client_crypto(
    verification: &ServerVerification,
    alpn: &[u8],
) -> Result<rustls::ClientConfig, TlsError> {
    client_crypto_with(provider(), verification, alpn)
}

/// [`client_crypto`] with a given crypto provider (the simulator's is seeded).
pub fn client_crypto_with(
    provider: Arc<CryptoProvider>,
    verification: &ServerVerification,
    alpn: &[u8],
) -> Result<rustls::ClientConfig, TlsError> {
    client_crypto_full(provider, verification, alpn, None)
}

/// [`client_crypto`] presenting `identity` to a platform that asks for a client
/// certificate (mutual TLS).
pub fn client_crypto_with_identity(
    verification: &ServerVerification,
    alpn: &[u8],
    identity: ClientIdentity,
) -> Result<rustls::ClientConfig, TlsError> {
    client_crypto_full(provider(), verification, alpn, Some(identity))
}

fn client_crypto_full(
    provider: Arc<CryptoProvider>,
    verification: &ServerVerification,
    alpn: &[u8],
    identity: Option<ClientIdentity>,
) -> Result<rustls::ClientConfig, TlsError> {
    let verifier_provider = Arc::clone(&provider);
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?;
    let mut config = match verification {
        ServerVerification::Roots(roots) => {
            let mut store = rustls::RootCertStore::empty();
            for cert in roots {
                store.add(cert.clone())?;
            }
            let builder = builder.with_root_certificates(store);
            match identity {
                Some(id) => builder.with_client_auth_cert(id.certs, id.key)?,
                None => builder.with_no_client_auth(),
            }
        }
        ServerVerification::Insecure => {
            let builder = builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(
                    verifier_provider,
                )));
            match identity {
                Some(id) => builder.with_client_auth_cert(id.certs, id.key)?,
                None => builder.with_no_client_auth(),
            }
        }
    };
    config.alpn_protocols = vec![alpn.to_vec()];
    Ok(config)
}

/// Accepts any certificate but still checks the handshake signatures, so the connection
/// is encrypted to whoever holds the key presented: protection against passive
/// listeners only.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
