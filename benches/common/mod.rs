//! Helpers shared by the multi-process benches (`pinned`, `capacity`): child processes
//! pinned with `taskset`, each reporting one JSON line; CPU and memory accounting; files.
#![allow(dead_code)] // each bench uses part of it

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use vstream::net::{
    client_config, client_crypto, client_endpoint, platform_endpoint, server_config, server_crypto,
    SelfSignedCert, ServerVerification, TransportSettings, ALPN,
};

pub const MIB: u64 = 1024 * 1024;
pub const GIB: f64 = (1024 * 1024 * 1024) as f64;
pub const LOOPBACK: &str = "127.0.0.1:0";

/// `VSTREAM_BENCH_SCALE` (default 1.0): every size scaled by it, at least 1 MiB.
pub fn scaled(bytes: u64) -> u64 {
    let scale: f64 = std::env::var("VSTREAM_BENCH_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    (((bytes as f64 * scale) as u64) / MIB * MIB).max(MIB)
}

pub fn verdict(ok: bool) -> &'static str {
    if ok {
        "PASS"
    } else {
        "FAIL"
    }
}

/// CPU seconds (user + system) this process used so far, every thread counted.
pub fn process_cpu() -> f64 {
    // SAFETY: getrusage only writes the struct it is given.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

/// A `/proc/self/status` field in KiB (`VmHWM`: peak RSS, `VmRSS`: RSS now).
pub fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// A file of `size` pseudo-random bytes (xorshift: incompressible, reproducible).
pub fn random_file(path: &Path, size: u64) {
    use std::io::Write;
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut block = vec![0u8; MIB as usize];
    let mut left = size;
    while left > 0 {
        for b in block.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            b.copy_from_slice(&x.to_le_bytes()[..b.len()]);
        }
        let n = left.min(MIB) as usize;
        f.write_all(&block[..n]).unwrap();
        left -= n as u64;
    }
}

/// Writes a self-signed certificate and key (`cert.pem`, `key.pem`) under `root`.
pub fn write_cert(root: &Path) {
    let tls = SelfSignedCert::generate(&["localhost"]).unwrap();
    std::fs::write(root.join("cert.pem"), &tls.cert_pem).unwrap();
    std::fs::write(root.join("key.pem"), &tls.key_pem).unwrap();
}

/// The platform's endpoint on loopback, with the certificate under `root`.
pub fn server_endpoint(root: &Path) -> quinn::Endpoint {
    let certs = vstream::net::load_certs_pem(&root.join("cert.pem")).unwrap();
    let key = vstream::net::load_key_pem(&root.join("key.pem")).unwrap();
    let crypto = server_crypto(certs, key).unwrap();
    let config = server_config(crypto, &TransportSettings::default()).unwrap();
    platform_endpoint(LOOPBACK.parse().unwrap(), config).unwrap()
}

/// A client endpoint on loopback trusting the certificate under `root`.
pub fn client_endpoint_for(root: &Path) -> quinn::Endpoint {
    let certs = vstream::net::load_certs_pem(&root.join("cert.pem")).unwrap();
    let crypto = client_crypto(&ServerVerification::Roots(certs), ALPN).unwrap();
    let config = client_config(crypto, &TransportSettings::default()).unwrap();
    client_endpoint(LOOPBACK.parse().unwrap(), config).unwrap()
}

/// Publishes the listening address for the other process (written, then renamed).
pub fn publish_addr(root: &Path, addr: SocketAddr) {
    std::fs::write(root.join("addr.tmp"), addr.to_string()).unwrap();
    std::fs::rename(root.join("addr.tmp"), root.join("addr")).unwrap();
}

/// Waits for the address the platform process published.
pub fn read_addr(root: &Path) -> SocketAddr {
    let path = root.join("addr");
    for _ in 0..6000 {
        if let Ok(s) = std::fs::read_to_string(&path) {
            return s.trim().parse().unwrap();
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("the platform process published no address in 60 s");
}

/// This bench binary re-run as `role`, pinned to `cpus` (a `taskset -c` list), with the
/// given environment; its stdout is piped (one JSON line).
pub fn spawn_role(
    wrapper: &[&str],
    cpus: &str,
    role: &str,
    root: &Path,
    env: &[(&str, String)],
) -> Child {
    let exe = std::env::current_exe().unwrap();
    let mut cmd = Command::new("taskset");
    cmd.args(["-c", cpus]).args(wrapper).arg(exe);
    cmd.env("VSTREAM_BENCH_ROLE", role)
        .env("VSTREAM_BENCH_ROOT", root)
        .stdout(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn()
        .expect("taskset (util-linux) must be installed to run this bench")
}

/// Waits for a child and parses the JSON line it printed last.
pub fn report(child: Child) -> serde_json::Value {
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "bench child failed: {}", out.status);
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().last().unwrap_or("");
    serde_json::from_str(line).unwrap_or_else(|e| panic!("child printed {line:?}: {e}"))
}

pub fn root_env() -> PathBuf {
    PathBuf::from(std::env::var("VSTREAM_BENCH_ROOT").unwrap())
}

pub fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_default()
}

/// A tokio runtime for a child: multi-threaded with as many workers as the cores it was
/// pinned to (tokio reads the affinity mask), or one thread when `VSTREAM_BENCH_WORKERS=1`
/// (callgrind: one thread counts repeatably).
pub fn child_runtime() -> tokio::runtime::Runtime {
    if env("VSTREAM_BENCH_WORKERS") == "1" {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap()
    }
}

/// This process's resource use so far (getrusage, every thread).
#[derive(Debug, Clone, Copy, Default)]
pub struct Usage {
    /// CPU seconds in user mode.
    pub user: f64,
    /// CPU seconds in the kernel.
    pub sys: f64,
    /// Voluntary context switches (the thread blocked: waiting for work, a wakeup).
    pub voluntary: u64,
    /// Involuntary context switches (the thread was preempted).
    pub involuntary: u64,
}

impl Usage {
    pub fn now() -> Usage {
        // SAFETY: getrusage only writes the struct it is given.
        let usage = unsafe {
            let mut usage: libc::rusage = std::mem::zeroed();
            libc::getrusage(libc::RUSAGE_SELF, &mut usage);
            usage
        };
        let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        Usage {
            user: secs(usage.ru_utime),
            sys: secs(usage.ru_stime),
            voluntary: usage.ru_nvcsw as u64,
            involuntary: usage.ru_nivcsw as u64,
        }
    }

    /// What was used since `earlier`.
    pub fn since(self, earlier: Usage) -> Usage {
        Usage {
            user: self.user - earlier.user,
            sys: self.sys - earlier.sys,
            voluntary: self.voluntary.saturating_sub(earlier.voluntary),
            involuntary: self.involuntary.saturating_sub(earlier.involuntary),
        }
    }
}
