//! Configuration files (TOML) of `vstream platform` and `vstream client`
//! (docs/protocol.md D84).
//!
//! A file may set every option of its command: each key is the name of a long flag
//! (`max_udp_payload = 8952` is `--max-udp-payload 8952`), and a table names flags by
//! prefix (`[admin]` `listen` is `--admin`, `token_file` is `--admin-token-file`). The
//! file's options go before the command line's, and a flag given on the command line
//! wins over the same key of the file; the file wins over the built-in default. Because
//! the file is read through the command's own flag parser, it accepts exactly what the
//! flags accept, and a flag added later is configurable without touching this module.
//!
//! `--print-config` prints the effective configuration in this same format (tokens
//! redacted), so its output can be saved and given back with `--config`. Unknown keys are
//! errors naming their line.
//!
//! ```toml
//! # platform.toml
//! listen = "0.0.0.0:8080"
//! out = "received"
//! write_cert = "platform-cert.pem"
//!
//! [admin]
//! listen = "127.0.0.1:9090"
//! token_file = "admin.token"
//! ```

use std::ffi::{OsStr, OsString};
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
    /// Not TOML (the message has the line).
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The parser's message, with line and column.
        message: String,
    },
    /// A key that names no option of the command.
    #[error("{path}, line {line}: unknown key `{key}` (no option --{flag})")]
    UnknownKey {
        /// The file.
        path: PathBuf,
        /// The key as written (`admin.tokn`).
        key: String,
        /// The flag it would be.
        flag: String,
        /// Its line (1-based; 0 when not found).
        line: usize,
    },
    /// A value the file format cannot give a flag (a date, a nested table...).
    #[error("{path}: `{key}` must be a string, number, boolean or list of them")]
    BadValue {
        /// The file.
        path: PathBuf,
        /// The key.
        key: String,
    },
    /// `--config` without a file name.
    #[error("--config needs a file name")]
    NoFileName,
}

/// Flags a file may not set: they are about reading the file itself.
const NOT_IN_FILES: [&str; 4] = ["config", "print-config", "help", "version"];

/// The flag a key names: `max_udp_payload` is `max-udp-payload`; inside table `admin`,
/// `listen` is `admin` and `token_file` is `admin-token-file`.
fn flag_of(table: Option<&str>, key: &str) -> String {
    let key = key.replace('_', "-");
    match table {
        None => key,
        Some(t) if key == "listen" => t.replace('_', "-"),
        Some(t) => format!("{}-{key}", t.replace('_', "-")),
    }
}

/// The key (and table) a flag is written under: the inverse of [`flag_of`] for the
/// `admin` table, the flag name with underscores elsewhere.
fn key_of(flag: &str) -> (Option<&'static str>, String) {
    if flag == "admin" {
        return (Some("admin"), "listen".into());
    }
    match flag.strip_prefix("admin-") {
        Some(rest) => (Some("admin"), rest.replace('-', "_")),
        None => (None, flag.replace('-', "_")),
    }
}

/// The path after `--config` (or `--config=`) in `args`, the subcommand's arguments.
pub fn config_path(args: &[OsString]) -> Result<Option<PathBuf>, ConfigError> {
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--" {
            break;
        }
        if a == "--config" {
            return it
                .next()
                .map(|p| Some(PathBuf::from(p)))
                .ok_or(ConfigError::NoFileName);
        }
        if let Some(p) = a.to_str().and_then(|s| s.strip_prefix("--config=")) {
            return Ok(Some(PathBuf::from(p)));
        }
    }
    Ok(None)
}

/// The arguments of subcommand `cmd` read from `file`, for every option the command line
/// `given` (the subcommand's own arguments) does not set itself.
pub fn file_args(
    cmd: &clap::Command,
    file: &Path,
    given: &[OsString],
) -> Result<Vec<OsString>, ConfigError> {
    let text = std::fs::read_to_string(file).map_err(|source| ConfigError::Read {
        path: file.to_owned(),
        source,
    })?;
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| ConfigError::Invalid {
            path: file.to_owned(),
            message: e.to_string().trim_end().to_owned(),
        })?;
    let mut out = Vec::new();
    for (key, value) in &table {
        match value {
            toml::Value::Table(inner) => {
                for (k, v) in inner {
                    let flag = flag_of(Some(key), k);
                    push_option(
                        cmd,
                        file,
                        &text,
                        &format!("{key}.{k}"),
                        &flag,
                        v,
                        given,
                        &mut out,
                    )?;
                }
            }
            v => push_option(
                cmd,
                file,
                &text,
                key,
                &flag_of(None, key),
                v,
                given,
                &mut out,
            )?,
        }
    }
    Ok(out)
}

#[allow(clippy::too_many_arguments)]
fn push_option(
    cmd: &clap::Command,
    file: &Path,
    text: &str,
    key: &str,
    flag: &str,
    value: &toml::Value,
    given: &[OsString],
    out: &mut Vec<OsString>,
) -> Result<(), ConfigError> {
    let arg = cmd
        .get_arguments()
        .find(|a| a.get_long() == Some(flag))
        .filter(|_| !NOT_IN_FILES.contains(&flag));
    let Some(arg) = arg else {
        let last = key.rsplit('.').next().unwrap_or(key);
        return Err(ConfigError::UnknownKey {
            path: file.to_owned(),
            key: key.to_owned(),
            flag: flag.to_owned(),
            line: line_of(text, last),
        });
    };
    if on_command_line(arg, given) {
        return Ok(());
    }
    let bad = || ConfigError::BadValue {
        path: file.to_owned(),
        key: key.to_owned(),
    };
    let values: Vec<String> = match value {
        toml::Value::Array(items) => items
            .iter()
            .map(scalar)
            .collect::<Option<_>>()
            .ok_or_else(bad)?,
        v => vec![scalar(v).ok_or_else(bad)?],
    };
    let switch = !arg.get_action().takes_values();
    for v in values {
        if switch {
            // `quiet = true` is `--quiet`; `false` leaves the default.
            if v == "true" {
                out.push(format!("--{flag}").into());
            } else if v != "false" {
                return Err(bad());
            }
        } else {
            out.push(format!("--{flag}={v}").into());
        }
    }
    Ok(())
}

fn scalar(v: &toml::Value) -> Option<String> {
    match v {
        toml::Value::String(s) => Some(s.clone()),
        toml::Value::Integer(i) => Some(i.to_string()),
        toml::Value::Float(f) => Some(f.to_string()),
        toml::Value::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Whether the command line sets `arg` (long or short form).
fn on_command_line(arg: &clap::Arg, given: &[OsString]) -> bool {
    let long = arg.get_long().map(|l| format!("--{l}"));
    let short = arg.get_short().map(|s| format!("-{s}"));
    given
        .iter()
        .take_while(|a| *a != "--")
        .filter_map(|a| a.to_str())
        .any(|a| {
            long.as_deref()
                .is_some_and(|l| a == l || a.strip_prefix(l).is_some_and(|r| r.starts_with('=')))
                || short.as_deref().is_some_and(|s| a.starts_with(s))
        })
}

/// The line (1-based) where `key` is first written at the start of a line, 0 if nowhere.
fn line_of(text: &str, key: &str) -> usize {
    text.lines()
        .position(|l| {
            l.trim_start()
                .strip_prefix(key)
                .is_some_and(|r| r.trim_start().starts_with('='))
        })
        .map_or(0, |i| i + 1)
}

/// The effective configuration of subcommand `cmd` parsed into `matches`, as a file
/// `--config` reads back: every option with a value (defaults included), tokens shown as
/// `<redacted>`.
pub fn render(cmd: &clap::Command, matches: &clap::ArgMatches) -> String {
    let mut top = toml::Table::new();
    let mut admin = toml::Table::new();
    for arg in cmd.get_arguments() {
        let Some(flag) = arg.get_long() else { continue };
        if NOT_IN_FILES.contains(&flag) {
            continue;
        }
        let id = arg.get_id().as_str();
        let value = if !arg.get_action().takes_values() {
            match matches.try_get_one::<bool>(id) {
                Ok(Some(b)) => toml::Value::Boolean(*b),
                _ => continue,
            }
        } else {
            let Ok(Some(raw)) = matches.try_get_raw(id) else {
                continue;
            };
            let items: Vec<toml::Value> = raw.map(|v| typed(flag, v)).collect();
            let many = arg.get_num_args().is_some_and(|n| n.max_values() > 1)
                || matches!(arg.get_action(), clap::ArgAction::Append);
            match (many, items.len()) {
                (false, 1) => items
                    .into_iter()
                    .next()
                    .unwrap_or(toml::Value::Boolean(false)),
                _ => toml::Value::Array(items),
            }
        };
        match key_of(flag) {
            (Some(_), key) => admin.insert(key, value),
            (None, key) => top.insert(key, value),
        };
    }
    if !admin.is_empty() {
        top.insert("admin".into(), toml::Value::Table(admin));
    }
    toml::to_string(&top).unwrap_or_else(|e| format!("# cannot print: {e}\n"))
}

/// A raw flag value as TOML: secrets redacted, numbers as numbers, the rest as strings.
fn typed(flag: &str, raw: &OsStr) -> toml::Value {
    if is_secret(flag) {
        return toml::Value::String("<redacted>".into());
    }
    let s = raw.to_string_lossy();
    if let Ok(i) = s.parse::<i64>() {
        return toml::Value::Integer(i);
    }
    match s.parse::<f64>() {
        Ok(f) if f.is_finite() && s.contains('.') => toml::Value::Float(f),
        _ => toml::Value::String(s.into_owned()),
    }
}

/// Flags whose value is a secret itself (not a file naming one).
fn is_secret(flag: &str) -> bool {
    flag == "token" || flag == "admin-token" || flag.ends_with("-secret")
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{Arg, ArgAction, Command};

    fn command() -> Command {
        Command::new("platform")
            .arg(
                Arg::new("listen")
                    .long("listen")
                    .default_value("0.0.0.0:8080"),
            )
            .arg(Arg::new("out").long("out").required(true))
            .arg(Arg::new("rate").long("rate").default_value("1.0"))
            .arg(
                Arg::new("cert_name")
                    .long("cert-name")
                    .action(ArgAction::Append),
            )
            .arg(Arg::new("quiet").long("quiet").action(ArgAction::SetTrue))
            .arg(Arg::new("admin").long("admin"))
            .arg(Arg::new("admin_token").long("admin-token"))
            .arg(Arg::new("admin_token_file").long("admin-token-file"))
            .arg(Arg::new("config").long("config"))
    }

    const EXAMPLE: &str = r#"
listen = "0.0.0.0:9000"
out = "received"
rate = 2
cert_name = ["localhost", "::1"]
quiet = true

[admin]
listen = "127.0.0.1:9090"
token = "0123456789abcdef0123"
"#;

    fn write(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("platform.toml");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    fn parse(file: &Path, given: &[&str]) -> Result<clap::ArgMatches, ConfigError> {
        let given: Vec<OsString> = given.iter().map(OsString::from).collect();
        let mut args: Vec<OsString> = vec!["platform".into()];
        args.extend(file_args(&command(), file, &given)?);
        args.extend(given);
        Ok(command().try_get_matches_from(args).unwrap())
    }

    #[test]
    fn every_key_is_its_flag_and_flags_win_over_the_file() {
        let (_dir, path) = write(EXAMPLE);
        let m = parse(&path, &["--out", "elsewhere", "--config", "x"]).unwrap();
        let one = |id: &str| m.get_one::<String>(id).unwrap().clone();
        assert_eq!(one("out"), "elsewhere");
        assert_eq!(one("listen"), "0.0.0.0:9000");
        assert_eq!(one("rate"), "2");
        assert_eq!(one("admin"), "127.0.0.1:9090");
        assert_eq!(one("admin_token"), "0123456789abcdef0123");
        assert!(m.get_flag("quiet"));
        let names: Vec<&String> = m.get_many("cert_name").unwrap().collect();
        assert_eq!(names, ["localhost", "::1"]);
        let m = parse(&path, &["--cert-name=other", "--admin=127.0.0.1:1"]).unwrap();
        let names: Vec<&String> = m.get_many("cert_name").unwrap().collect();
        assert_eq!(names, ["other"]);
        assert_eq!(m.get_one::<String>("admin").unwrap(), "127.0.0.1:1");
    }

    #[test]
    fn an_unknown_key_is_an_error_naming_its_line() {
        let (_dir, path) =
            write("out = \"o\"\n\n[admin]\nlisten = \"127.0.0.1:1\"\ntokn = \"x\"\n");
        let e = parse(&path, &[]).unwrap_err();
        assert!(matches!(&e, ConfigError::UnknownKey { line: 5, .. }), "{e}");
        assert!(e.to_string().contains("admin.tokn"), "{e}");
        let (_dir, path) = write("config = \"other.toml\"\n");
        assert!(matches!(
            parse(&path, &[]),
            Err(ConfigError::UnknownKey { .. })
        ));
        let (_dir, path) = write("out = [[1]]\n");
        assert!(matches!(
            parse(&path, &[]),
            Err(ConfigError::BadValue { .. })
        ));
        let (_dir, path) = write("out = \n");
        assert!(matches!(
            parse(&path, &[]),
            Err(ConfigError::Invalid { .. })
        ));
    }

    #[test]
    fn the_printed_configuration_reads_back_with_secrets_redacted() {
        let (_dir, path) = write(EXAMPLE);
        let m = parse(&path, &["--out", "elsewhere"]).unwrap();
        let printed = render(&command(), &m);
        assert!(!printed.contains("0123456789abcdef0123"), "{printed}");
        assert!(printed.contains("token = \"<redacted>\""), "{printed}");
        assert!(printed.contains("out = \"elsewhere\""), "{printed}");
        let (_dir2, again) = write(&printed);
        let back = parse(&again, &[]).unwrap();
        assert_eq!(back.get_one::<String>("out").unwrap(), "elsewhere");
        assert_eq!(back.get_one::<String>("admin").unwrap(), "127.0.0.1:9090");
        assert!(back.get_flag("quiet"));
    }

    #[test]
    fn the_config_path_is_found_in_both_forms() {
        let args = |a: &[&str]| a.iter().map(OsString::from).collect::<Vec<_>>();
        assert_eq!(
            config_path(&args(&["--out", "o", "--config", "p.toml"])).unwrap(),
            Some(PathBuf::from("p.toml"))
        );
        assert_eq!(
            config_path(&args(&["--config=q.toml"])).unwrap(),
            Some(PathBuf::from("q.toml"))
        );
        assert_eq!(config_path(&args(&["--out", "o"])).unwrap(), None);
        assert!(config_path(&args(&["--config"])).is_err());
    }
}
