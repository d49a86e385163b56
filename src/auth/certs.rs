//! Certificates an operator needs, made with rcgen: a CA, the platform's certificate, one
//! per device; and the platform's generated certificate kept across restarts.
//!
//! - [`CertificateAuthority`]: an Ed25519 CA (10 years) that signs platform certificates
//!   (server auth, the given DNS names / IP addresses) and device certificates (client auth,
//!   subject common name = device id, which is the identity mutual TLS gives the device),
//!   each valid 825 days.
//! - [`load_or_generate_platform_cert`]: the platform's self-signed certificate and key in
//!   its state folder (`platform-cert.pem`, `platform-key.pem`, the key readable by its
//!   owner only), made on first start and reused after, so clients' `--ca` stays valid.

use crate::net::{SelfSignedCert, TlsError};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use std::io::Write;
use std::path::{Path, PathBuf};
use time::{Duration, OffsetDateTime};

/// A certificate and its key, as PEM text.
#[derive(Debug, Clone)]
pub struct IssuedCert {
    /// The certificate (PEM).
    pub cert_pem: String,
    /// Its private key (PKCS#8 PEM).
    pub key_pem: String,
}

/// A CA able to sign: its certificate and key.
pub struct CertificateAuthority {
    /// The CA certificate and key.
    pub pem: IssuedCert,
    issuer: Issuer<'static, KeyPair>,
}

impl std::fmt::Debug for CertificateAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateAuthority")
            .finish_non_exhaustive()
    }
}

fn validity(params: &mut CertificateParams, days: i64) {
    let now = OffsetDateTime::now_utc();
    params.not_before = now - Duration::days(1);
    params.not_after = now + Duration::days(days);
}

impl CertificateAuthority {
    /// A new CA named `name`.
    pub fn generate(name: &str) -> Result<Self, TlsError> {
        let key = KeyPair::generate_for(&rcgen::PKCS_ED25519)?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        validity(&mut params, 3650);
        let cert = params.self_signed(&key)?;
        let pem = IssuedCert {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        };
        Ok(CertificateAuthority {
            pem,
            issuer: Issuer::new(params, key),
        })
    }

    /// The CA of existing PEM text (certificate and key).
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Self, TlsError> {
        let key = KeyPair::from_pem(key_pem)?;
        let issuer = Issuer::from_ca_cert_pem(cert_pem, key)?;
        Ok(CertificateAuthority {
            pem: IssuedCert {
                cert_pem: cert_pem.to_owned(),
                key_pem: key_pem.to_owned(),
            },
            issuer,
        })
    }

    /// A platform certificate for `names` (DNS names or IP addresses).
    pub fn issue_platform(&self, names: &[String]) -> Result<IssuedCert, TlsError> {
        let mut params = CertificateParams::new(names.to_vec())?;
        if let Some(first) = names.first() {
            params.distinguished_name.push(DnType::CommonName, first);
        }
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.issue(params)
    }

    /// A device certificate whose subject common name is `device_id`.
    pub fn issue_device(&self, device_id: &str) -> Result<IssuedCert, TlsError> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params
            .distinguished_name
            .push(DnType::CommonName, device_id);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.issue(params)
    }

    fn issue(&self, mut params: CertificateParams) -> Result<IssuedCert, TlsError> {
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.use_authority_key_identifier_extension = true;
        validity(&mut params, 825);
        let key = KeyPair::generate_for(&rcgen::PKCS_ED25519)?;
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(IssuedCert {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

/// Writes `bytes` to `path` through a temporary file renamed into place (after fsync), so a
/// reader never sees half a file; `private` files are created readable by the owner only.
pub fn write_file_atomically(path: &Path, bytes: &[u8], private: bool) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut file = options.open(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if let Ok(dir) = std::fs::File::open(dir) {
            let _ = dir.sync_all();
        }
    }
    Ok(())
}

/// The platform's certificate file in its state folder.
pub const PLATFORM_CERT_FILE: &str = "platform-cert.pem";
/// The platform's key file in its state folder.
pub const PLATFORM_KEY_FILE: &str = "platform-key.pem";

/// The platform's self-signed certificate: read from `state_dir` when both files are there,
/// otherwise made for `names` and written there (key mode 0600). The bool says whether it
/// was generated now.
pub fn load_or_generate_platform_cert(
    state_dir: &Path,
    names: &[&str],
) -> Result<(SelfSignedCert, bool), TlsError> {
    let cert_path = state_dir.join(PLATFORM_CERT_FILE);
    let key_path = state_dir.join(PLATFORM_KEY_FILE);
    let io_err = |path: &Path, e: std::io::Error| TlsError::Pem {
        path: path.display().to_string(),
        reason: e.to_string(),
    };
    if cert_path.exists() && key_path.exists() {
        let cert_pem = std::fs::read_to_string(&cert_path).map_err(|e| io_err(&cert_path, e))?;
        let key_pem = std::fs::read_to_string(&key_path).map_err(|e| io_err(&key_path, e))?;
        return Ok((SelfSignedCert::from_pem(&cert_pem, &key_pem)?, false));
    }
    let generated = SelfSignedCert::generate(names)?;
    write_file_atomically(&key_path, generated.key_pem.as_bytes(), true)
        .map_err(|e| io_err(&key_path, e))?;
    write_file_atomically(&cert_path, generated.cert_pem.as_bytes(), false)
        .map_err(|e| io_err(&cert_path, e))?;
    Ok((generated, true))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::certificate_identity;
    use rustls::pki_types::{pem::PemObject, CertificateDer};

    fn der(pem: &str) -> CertificateDer<'static> {
        CertificateDer::from_pem_slice(pem.as_bytes()).unwrap()
    }

    #[test]
    fn device_certificates_carry_the_device_id_as_subject() {
        let ca = CertificateAuthority::generate("vstream test CA").unwrap();
        let device = ca.issue_device("cam-07").unwrap();
        assert_eq!(
            certificate_identity(&der(&device.cert_pem)).as_deref(),
            Some("cam-07")
        );
        // A CA read back from its PEM signs too.
        let again = CertificateAuthority::from_pem(&ca.pem.cert_pem, &ca.pem.key_pem).unwrap();
        let other = again.issue_device("cam-08").unwrap();
        assert_eq!(
            certificate_identity(&der(&other.cert_pem)).as_deref(),
            Some("cam-08")
        );
    }

    #[test]
    fn the_platform_certificate_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let (first, generated) =
            load_or_generate_platform_cert(dir.path(), &["localhost"]).unwrap();
        assert!(generated);
        let (second, generated) =
            load_or_generate_platform_cert(dir.path(), &["localhost"]).unwrap();
        assert!(!generated);
        assert_eq!(first.cert, second.cert);
        assert_eq!(first.key_pem, second.key_pem);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(PLATFORM_KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "key readable by others: {mode:o}");
        }
    }
}
