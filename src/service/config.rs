//! Configuration files (TOML) of `vstream platform` and `vstream client`
//! (docs/protocol.md D84).
//!
//! A file may set every option of its command; a flag given on the command line wins over
//! the file, and the file over the built-in default. `--print-config` prints the effective
//! configuration in this same format (the admin token redacted), so its output can be
//! saved and given back with `--config`. Unknown keys are errors, with their line.
//!
//! ```toml
//! # platform.toml
//! listen = "0.0.0.0:8080"
//! out = "received"
//! write_cert = "platform-cert.pem"
//! quiet = false
//!
//! [admin]
//! listen = "127.0.0.1:9090"
//! token_file = "admin.token"
//! ```

use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Why a configuration file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Not TOML, an unknown key or a value of the wrong type (the message has the line).
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The parser's message, with line and column.
        message: String,
    },
    /// The token file is empty.
    #[error("{0}: the token file is empty")]
    EmptyToken(PathBuf),
}

/// The `[admin]` table: the HTTP admin API, metrics and console.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// Where the admin HTTP listener binds (`--admin`); none: no admin listener.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
    /// The bearer token (`--admin-token`); prefer `token_file`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// A file holding the bearer token (first line).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_file: Option<PathBuf>,
}

/// The `[pull]` table: the one-shot pull of `vstream platform --pull`.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PullConfig {
    /// The file to pull (`--pull`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Segment mode (`--mode`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// Start position, seconds (`--seek`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seek: Option<f64>,
    /// `max_speed` or `realtime` (`--pacing`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pacing: Option<String>,
    /// Playback rate (`--rate`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
    /// Playback script (`--script`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub script: Option<String>,
    /// Print JSON (`--json`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub json: Option<bool>,
    /// Give up after this many seconds (`--timeout`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<f64>,
}

/// `vstream platform --config FILE`.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlatformFile {
    /// UDP address of the QUIC listener (`--listen`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
    /// Where received files go (`--out`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub out: Option<PathBuf>,
    /// Certificate chain, PEM (`--cert`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert: Option<PathBuf>,
    /// Its private key, PEM (`--key`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<PathBuf>,
    /// Where to save a generated certificate (`--write-cert`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub write_cert: Option<PathBuf>,
    /// Names of a generated certificate (`--cert-name`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert_names: Option<Vec<String>>,
    /// No progress display (`--quiet`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quiet: Option<bool>,
    /// The admin listener.
    #[serde(default)]
    pub admin: AdminConfig,
    /// The one-shot pull.
    #[serde(default, skip_serializing_if = "is_default")]
    pub pull: PullConfig,
}

/// `vstream client --config FILE`.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientFile {
    /// The platform, HOST:PORT (`--server`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// The folder served (`--dir`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dir: Option<PathBuf>,
    /// Serve only these files or folders (`--register`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub register: Option<Vec<PathBuf>>,
    /// Trust this certificate (`--ca`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca: Option<PathBuf>,
    /// Accept any certificate (`--insecure`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub insecure: Option<bool>,
    /// The certificate's expected name (`--server-name`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
    /// No progress display (`--quiet`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quiet: Option<bool>,
}

fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

fn load<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    toml::from_str(&text).map_err(|e| ConfigError::Invalid {
        path: path.to_owned(),
        message: e.to_string().trim_end().to_owned(),
    })
}

/// `a` where set, else `b`.
fn over<T>(a: Option<T>, b: Option<T>) -> Option<T> {
    a.or(b)
}

impl PlatformFile {
    /// Reads a file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        load(path)
    }

    /// The options set here, and those of `under` where unset here (flags over a file).
    pub fn overlay(self, under: PlatformFile) -> PlatformFile {
        let (a, b) = (self, under);
        PlatformFile {
            listen: over(a.listen, b.listen),
            out: over(a.out, b.out),
            cert: over(a.cert, b.cert),
            key: over(a.key, b.key),
            write_cert: over(a.write_cert, b.write_cert),
            cert_names: over(a.cert_names, b.cert_names),
            quiet: over(a.quiet, b.quiet),
            admin: AdminConfig {
                listen: over(a.admin.listen, b.admin.listen),
                token: over(a.admin.token, b.admin.token),
                token_file: over(a.admin.token_file, b.admin.token_file),
            },
            pull: PullConfig {
                file: over(a.pull.file, b.pull.file),
                mode: over(a.pull.mode, b.pull.mode),
                seek: over(a.pull.seek, b.pull.seek),
                pacing: over(a.pull.pacing, b.pull.pacing),
                rate: over(a.pull.rate, b.pull.rate),
                script: over(a.pull.script, b.pull.script),
                json: over(a.pull.json, b.pull.json),
                timeout: over(a.pull.timeout, b.pull.timeout),
            },
        }
    }

    /// The admin token: `admin.token`, else the first line of `admin.token_file`.
    pub fn admin_token(&self) -> Result<Option<String>, ConfigError> {
        if let Some(t) = &self.admin.token {
            return Ok(Some(t.clone()));
        }
        let Some(path) = &self.admin.token_file else {
            return Ok(None);
        };
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })?;
        match text.lines().next().map(str::trim).filter(|t| !t.is_empty()) {
            Some(t) => Ok(Some(t.to_owned())),
            None => Err(ConfigError::EmptyToken(path.clone())),
        }
    }

    /// The TOML of this configuration, the token replaced by `"<redacted>"`.
    pub fn to_toml_redacted(&self) -> String {
        let mut shown = self.clone();
        if shown.admin.token.is_some() {
            shown.admin.token = Some("<redacted>".into());
        }
        toml::to_string(&shown).unwrap_or_else(|e| format!("# cannot print: {e}\n"))
    }
}

impl ClientFile {
    /// Reads a file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        load(path)
    }

    /// The options set here, and those of `under` where unset here (flags over a file).
    pub fn overlay(self, under: ClientFile) -> ClientFile {
        let (a, b) = (self, under);
        ClientFile {
            server: over(a.server, b.server),
            dir: over(a.dir, b.dir),
            register: over(a.register, b.register),
            ca: over(a.ca, b.ca),
            insecure: over(a.insecure, b.insecure),
            server_name: over(a.server_name, b.server_name),
            quiet: over(a.quiet, b.quiet),
        }
    }

    /// The TOML of this configuration.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_else(|e| format!("# cannot print: {e}\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"
listen = "0.0.0.0:8080"
out = "received"
cert_names = ["localhost"]

[admin]
listen = "127.0.0.1:9090"
token = "0123456789abcdef0123"

[pull]
file = "test_videos/av.mp4"
pacing = "realtime"
"#;

    fn parse(text: &str) -> Result<PlatformFile, toml::de::Error> {
        toml::from_str(text)
    }

    #[test]
    fn a_platform_file_reads_every_table() {
        let f = parse(EXAMPLE).unwrap();
        assert_eq!(f.listen, Some("0.0.0.0:8080".parse().unwrap()));
        assert_eq!(f.admin.listen, Some("127.0.0.1:9090".parse().unwrap()));
        assert_eq!(f.pull.pacing.as_deref(), Some("realtime"));
        assert_eq!(
            f.admin_token().unwrap().as_deref(),
            Some("0123456789abcdef0123")
        );
    }

    #[test]
    fn an_unknown_key_is_an_error_naming_its_line() {
        let e = parse("listen = \"0.0.0.0:1\"\nlsiten = 3\n").unwrap_err();
        let text = e.to_string();
        assert!(text.contains("lsiten") && text.contains('2'), "{text}");
        assert!(parse("listen = \"nowhere\"").is_err());
    }

    #[test]
    fn flags_win_over_the_file_and_the_printed_config_reads_back() {
        let file = parse(EXAMPLE).unwrap();
        let flags = PlatformFile {
            out: Some("elsewhere".into()),
            ..PlatformFile::default()
        };
        let effective = flags.overlay(file);
        assert_eq!(effective.out, Some(PathBuf::from("elsewhere")));
        assert_eq!(effective.listen, Some("0.0.0.0:8080".parse().unwrap()));
        let printed = effective.to_toml_redacted();
        assert!(!printed.contains("0123456789abcdef0123"), "{printed}");
        let mut back = parse(&printed).unwrap();
        assert_eq!(back.admin.token.as_deref(), Some("<redacted>"));
        back.admin.token = effective.admin.token.clone();
        assert_eq!(back, effective);
    }

    #[test]
    fn a_token_file_gives_its_first_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "abcdefghijklmnopqrstu\n").unwrap();
        let f = PlatformFile {
            admin: AdminConfig {
                token_file: Some(path.clone()),
                ..AdminConfig::default()
            },
            ..PlatformFile::default()
        };
        assert_eq!(
            f.admin_token().unwrap().as_deref(),
            Some("abcdefghijklmnopqrstu")
        );
        std::fs::write(&path, "\n").unwrap();
        assert!(matches!(f.admin_token(), Err(ConfigError::EmptyToken(_))));
    }

    #[test]
    fn a_client_file_overlays_too() {
        let file: ClientFile =
            toml::from_str("server = \"h:1\"\ndir = \"v\"\ninsecure = true\n").unwrap();
        let flags = ClientFile {
            server: Some("other:2".into()),
            ..ClientFile::default()
        };
        let e = flags.overlay(file);
        assert_eq!(e.server.as_deref(), Some("other:2"));
        assert_eq!(e.insecure, Some(true));
        let back: ClientFile = toml::from_str(&e.to_toml()).unwrap();
        assert_eq!(back, e);
    }
}
