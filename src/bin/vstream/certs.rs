//! `vstream certs` and `vstream token`: what an operator needs to authenticate devices.

use anyhow::{Context, Result};
use std::path::PathBuf;
use vstream::auth::certs::{write_file_atomically, CertificateAuthority};
use vstream::auth::Token;

/// Arguments of `vstream certs`.
#[derive(clap::Args, Debug)]
pub(crate) struct CertsArgs {
    /// The folder: `ca.pem` and `ca-key.pem` are made there if missing (and reused if not);
    /// certificates are written beside them.
    #[arg(long)]
    dir: PathBuf,
    /// Make `platform.pem` / `platform-key.pem` for these names (DNS names or addresses).
    #[arg(long)]
    platform_name: Vec<String>,
    /// Make `DEVICE.pem` / `DEVICE-key.pem` whose subject name is the device id.
    #[arg(long)]
    device: Vec<String>,
}

/// Runs `vstream certs`.
pub(crate) fn run_certs(args: &CertsArgs) -> Result<()> {
    let ca_cert = args.dir.join("ca.pem");
    let ca_key = args.dir.join("ca-key.pem");
    let ca = if ca_cert.exists() && ca_key.exists() {
        let cert = std::fs::read_to_string(&ca_cert)?;
        let key = std::fs::read_to_string(&ca_key)?;
        println!("using the CA in {}", ca_cert.display());
        CertificateAuthority::from_pem(&cert, &key).context("reading the CA")?
    } else {
        let ca = CertificateAuthority::generate("vstream device CA")?;
        write_file_atomically(&ca_key, ca.pem.key_pem.as_bytes(), true)?;
        write_file_atomically(&ca_cert, ca.pem.cert_pem.as_bytes(), false)?;
        println!("wrote {} (the platform's --client-ca)", ca_cert.display());
        ca
    };
    if !args.platform_name.is_empty() {
        let issued = ca.issue_platform(&args.platform_name)?;
        write(&args.dir, "platform", &issued.cert_pem, &issued.key_pem)?;
    }
    for device in &args.device {
        anyhow::ensure!(
            vstream::wire::is_valid_device_id(device),
            "device id {device:?}: 1-128 characters of A-Z a-z 0-9 . _ - : @"
        );
        let issued = ca.issue_device(device)?;
        write(&args.dir, device, &issued.cert_pem, &issued.key_pem)?;
    }
    Ok(())
}

fn write(dir: &std::path::Path, name: &str, cert: &str, key: &str) -> Result<()> {
    let cert_path = dir.join(format!("{name}.pem"));
    let key_path = dir.join(format!("{name}-key.pem"));
    write_file_atomically(&key_path, key.as_bytes(), true)?;
    write_file_atomically(&cert_path, cert.as_bytes(), false)?;
    println!("wrote {} and {}", cert_path.display(), key_path.display());
    Ok(())
}

/// Arguments of `vstream token`.
#[derive(clap::Args, Debug)]
pub(crate) struct TokenArgs {
    /// The device the token is for.
    #[arg(long)]
    device: String,
}

/// Runs `vstream token`: a new token (for the device) and its line (for the platform's
/// `--tokens` file).
pub(crate) fn run_token(args: &TokenArgs) -> Result<()> {
    anyhow::ensure!(
        vstream::wire::is_valid_device_id(&args.device),
        "device id {:?}: 1-128 characters of A-Z a-z 0-9 . _ - : @",
        args.device
    );
    let token = Token::generate()?;
    println!(
        "token (give it to the device, e.g. in its --token-file): {}",
        token.as_str()
    );
    println!("line for the platform's --tokens file:");
    println!("{} {}", args.device, token.hash());
    Ok(())
}
