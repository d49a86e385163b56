//! Capacity of one platform process (issue 15), the platform pinned to CPU 1 and every
//! client in one other process pinned to CPU 0:
//! 1. 100 concurrent fixed-mode uploads of 32 MiB (one connection each) against one upload
//!    of the same size alone: aggregate MiB/s (target >= 0.9x the single upload's), the
//!    platform's CPU seconds per GiB, its peak RSS (target < 256 MB);
//! 2. 1,000 idle connected devices (sessions ready, keep-alives only): the platform's RSS
//!    (target < 128 MB) and the CPU it uses while idle over 10 s.
//!
//! The clients' catalogs hash the file before connecting (D100), as for files served
//! before. `cargo bench --bench capacity` (or `cargo xtask bench capacity`);
//! `VSTREAM_BENCH_SCALE` scales the file size, `VSTREAM_BENCH_UPLOADS` (100) and
//! `VSTREAM_BENCH_DEVICES` (1000) the counts.
//!
//! `cargo bench --bench capacity -- profile` (`cargo xtask bench capacity-profile`) instead
//! explains where the platform's CPU per byte goes as the same bytes are split over more
//! connections (D86): see [`profile`].

mod common;

use common::*;
use serde_json::json;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use vstream::catalog::Catalog;
use vstream::client::{Client, ClientConfig};
use vstream::media::SegmentMode;
use vstream::platform::{Platform, PlatformConfig};
use vstream::wire::FileRequest;

const FILE: &str = "cap.bin";
/// How long the idle platform's CPU is measured.
const IDLE: Duration = Duration::from_secs(10);

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    if let Ok(role) = std::env::var("VSTREAM_BENCH_ROLE") {
        child_runtime().block_on(child(&role));
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write_cert(root);
    if std::env::args().any(|a| a == "profile") {
        profile(root);
        return;
    }
    let size = scaled(32 * MIB);
    random_file(&root.join(FILE), size);
    let uploads: usize = env("VSTREAM_BENCH_UPLOADS").parse().unwrap_or(100);
    let devices: usize = env("VSTREAM_BENCH_DEVICES").parse().unwrap_or(1000);
    println!(
        "capacity: one platform process (CPU 1), the clients in one other process (CPU 0), loopback, release"
    );
    let single = pair(root, "uploads", 1, size);
    let many = pair(root, "uploads", uploads, size);
    let mib = |n: usize| (size * n as u64) as f64 / MIB as f64;
    let rate = |r: &serde_json::Value, n: usize| mib(n) / r["secs"].as_f64().unwrap();
    let cpu_gib = |r: &serde_json::Value, n: usize| {
        r["cpu"].as_f64().unwrap() / ((size * n as u64) as f64 / GIB)
    };
    println!(
        "  1 upload of {} MiB: {:8.1} MiB/s, platform CPU {:.2} s/GiB, peak RSS {:.1} MiB",
        size / MIB,
        rate(&single, 1),
        cpu_gib(&single, 1),
        single["hwm_kib"].as_f64().unwrap() / 1024.0
    );
    let ratio = rate(&many, uploads) / rate(&single, 1);
    let hwm = many["hwm_kib"].as_u64().unwrap();
    println!(
        "  {uploads} concurrent uploads of {} MiB: {:8.1} MiB/s aggregate, {ratio:.2}x the single upload (target >= 0.9) {}",
        size / MIB,
        rate(&many, uploads),
        verdict(ratio >= 0.9)
    );
    println!(
        "    platform CPU {:.2} s/GiB; peak RSS {:.1} MiB (target < 256 MB) {}",
        cpu_gib(&many, uploads),
        hwm as f64 / 1024.0,
        verdict(hwm * 1024 < 256_000_000)
    );
    let idle = pair(root, "idle", devices, size);
    let rss = idle["rss_kib"].as_u64().unwrap();
    println!(
        "  {devices} idle connected devices: platform RSS {:.1} MiB (target < 128 MB) {}; CPU while idle {:.2}% of a core ({:.3} s over {} s); connecting them took {:.1} s",
        rss as f64 / 1024.0,
        verdict(rss * 1024 < 128_000_000),
        idle["cpu"].as_f64().unwrap() / IDLE.as_secs_f64() * 100.0,
        idle["cpu"].as_f64().unwrap(),
        IDLE.as_secs(),
        idle["connect_secs"].as_f64().unwrap()
    );
}

/// A platform process and a client process with `n` connections; the platform's report.
fn pair(root: &Path, what: &str, n: usize, size: u64) -> serde_json::Value {
    pair_wrapped(&[], &[], root, what, n, size)
}

/// [`pair`], the platform process run under `wrapper` (valgrind, perf) with `extra`
/// environment.
fn pair_wrapped(
    wrapper: &[&str],
    extra: &[(&str, String)],
    root: &Path,
    what: &str,
    n: usize,
    size: u64,
) -> serde_json::Value {
    let _ = std::fs::remove_file(root.join("addr"));
    let mut env = vec![
        ("VSTREAM_BENCH_WHAT", what.to_string()),
        ("VSTREAM_BENCH_N", n.to_string()),
        ("VSTREAM_BENCH_SIZE", size.to_string()),
    ];
    env.extend(extra.iter().cloned());
    let platform = spawn_role(wrapper, "1", "platform", root, &env);
    let _ = read_addr(root);
    let clients = spawn_role(&[], "0", "clients", root, &env);
    let r = report(platform);
    report(clients);
    r
}

async fn child(role: &str) {
    let root = root_env();
    let n: usize = env("VSTREAM_BENCH_N").parse().unwrap();
    let idle = env("VSTREAM_BENCH_WHAT") == "idle";
    let line = match role {
        "platform" => platform(&root, n, idle).await,
        _ => clients(&root, n).await,
    };
    println!("{line}");
}

async fn platform(root: &Path, n: usize, idle: bool) -> serde_json::Value {
    let out = tempfile::tempdir_in(root).unwrap();
    let platform = Platform::start(server_endpoint(root), PlatformConfig::new(out.path()));
    publish_addr(root, platform.local_addr().unwrap());
    let connecting = Instant::now();
    let sessions = platform.wait_for_sessions(n).await;
    let connect_secs = connecting.elapsed().as_secs_f64();
    let report = if idle {
        // Let the last handshakes' work settle, then measure a quiet platform.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let cpu = process_cpu();
        tokio::time::sleep(IDLE).await;
        let cpu = process_cpu() - cpu;
        json!({"cpu": cpu, "rss_kib": status_kib("VmRSS:"), "connect_secs": connect_secs})
    } else {
        let (start, usage) = (Instant::now(), Usage::now());
        let mut handles = Vec::new();
        for s in &sessions {
            let mut request = FileRequest::new(FILE);
            request.segment_mode = SegmentMode::Fixed;
            handles.push(platform.request_file(s.session_id, request).await.unwrap());
        }
        for handle in handles {
            assert!(handle.finished().await.unwrap().sha256_ok, "not verified");
        }
        let (secs, used) = (start.elapsed().as_secs_f64(), Usage::now().since(usage));
        json!({
            "secs": secs,
            "cpu": used.user + used.sys,
            "user": used.user,
            "sys": used.sys,
            "voluntary": used.voluntary,
            "involuntary": used.involuntary,
            "hwm_kib": status_kib("VmHWM:"),
            "quic": quic_totals(&platform),
        })
    };
    for s in sessions {
        let _ = platform.close_session(s.session_id);
    }
    platform.shutdown().await;
    report
}

async fn clients(root: &Path, n: usize) -> serde_json::Value {
    let catalog = Arc::new(Catalog::new(root).unwrap());
    catalog.register(FILE).unwrap();
    catalog.wait_for_checksums();
    let endpoint = client_endpoint_for(root);
    let addr = read_addr(root);
    let mut running = Vec::new();
    for _ in 0..n {
        let client = Client::connect(
            &endpoint,
            addr,
            "localhost",
            Arc::clone(&catalog),
            ClientConfig::default(),
        )
        .await
        .unwrap();
        running.push(tokio::spawn(client.finished()));
    }
    for c in running {
        let _ = c.await;
    }
    json!({})
}

/// The QUIC traffic of every live connection, summed (quinn's statistics): what the
/// platform received and sent, and how many system calls that took.
fn quic_totals(platform: &Platform) -> serde_json::Value {
    let (mut dg_in, mut io_in, mut dg_out, mut io_out) = (0, 0, 0, 0);
    let (mut acks_out, mut credit_out, mut stream_in, mut acks_in) = (0, 0, 0, 0);
    for d in platform.session_details() {
        let Some(s) = d.connection.filter(|_| !d.info.ended) else {
            continue;
        };
        dg_in += s.udp_rx.datagrams;
        io_in += s.udp_rx.ios;
        dg_out += s.udp_tx.datagrams;
        io_out += s.udp_tx.ios;
        acks_out += s.frame_tx.acks;
        credit_out += s.frame_tx.max_data + s.frame_tx.max_stream_data;
        stream_in += s.frame_rx.stream;
        acks_in += s.frame_rx.acks;
    }
    json!({
        "datagrams_in": dg_in,
        "receive_batches": io_in,
        "datagrams_out": dg_out,
        "send_calls": io_out,
        "acks_out": acks_out,
        "flow_credit_out": credit_out,
        "stream_frames_in": stream_in,
        "acks_in": acks_in,
    })
}

// ---------------------------------------------------------------- profile (D86)

/// Per connection in the "tiny" runs whose cost is subtracted (handshake, request, report,
/// close): less than one 512 KiB segment.
const TINY: u64 = 64 * 1024;

/// Syscalls counted natively (perf's tracepoints), those this kernel has.
const SYSCALLS: [&str; 13] = [
    "recvmmsg",
    "recvmsg",
    "sendmsg",
    "sendmmsg",
    "pwritev",
    "pwrite64",
    "pread64",
    "fsync",
    "fdatasync",
    "renameat",
    "rename",
    "futex",
    "epoll_wait",
];

/// Where the platform's CPU per byte goes when the same bytes come over more connections
/// (issue 15, D86). For each split K (`VSTREAM_BENCH_SPLITS`, default `1,10,100`), K
/// concurrent fixed-mode uploads of total/K each into one platform process:
///
/// 1. natively (platform on CPU 1, clients on CPU 0, as the capacity figure), 512 MiB in
///    all: the platform's user and system CPU per GiB, its context switches, quinn's
///    counts of datagrams, receive batches, send calls, ACK and flow-credit frames, and the
///    system calls by kind (perf tracepoints, if perf can count them), each per MiB;
/// 2. under callgrind (platform on one tokio thread, as `bench callgrind`), 32 MiB in all:
///    user-space instructions per MiB by component and the functions that grow most
///    (splits from `VSTREAM_BENCH_CALLGRIND_SPLITS`, default `1,10,100`).
///
/// Counts that cover the whole process (perf, callgrind) have a run of K uploads of 64 KiB
/// each subtracted, which leaves the cost of the bytes (handshakes, requests, reports and
/// closes cancel out). `VSTREAM_BENCH_CALLGRIND=0` skips part 2; `VSTREAM_BENCH_SCALE`
/// scales both totals.
fn profile(root: &Path) {
    let counts = splits("VSTREAM_BENCH_SPLITS", "1,10,100");
    let total = scaled(512 * MIB);
    let syscalls = perf_syscalls(root);
    println!(
        "capacity profile: one platform process, the same {} MiB over 1..{} connections (fixed mode, loopback, release)",
        total / MIB,
        counts.iter().max().unwrap_or(&1)
    );
    println!(
        "native (platform CPU 1, clients CPU 0){}; per MiB received unless said:",
        if syscalls.is_empty() {
            "; perf cannot count syscalls here, skipped"
        } else {
            "; syscalls counted by perf, a 64 KiB-per-connection run subtracted"
        }
    );
    println!(
        "  {:>5} {:>9} {:>8} {:>16} {:>9} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}",
        "conns",
        "MiB each",
        "MiB/s",
        "CPU s/GiB (u+s)",
        "ctx sw",
        "dgrams",
        "rx batch",
        "tx calls",
        "ACKs out",
        "credit",
        "dg/batch"
    );
    let mut sys_rows = Vec::new();
    for &k in &counts {
        let size = total / k as u64;
        let full_root = case_root(root, &format!("native-{k}"), size);
        let tiny_root = case_root(root, &format!("native-tiny-{k}"), TINY);
        let (full, full_sys) = native_run(&full_root, k, size, &syscalls);
        let bytes = (size * k as u64) as f64;
        let mib = bytes / MIB as f64;
        let q = &full["quic"];
        let per = |v: &serde_json::Value| v.as_f64().unwrap_or(0.0) / mib;
        let (user, sys) = (
            full["user"].as_f64().unwrap(),
            full["sys"].as_f64().unwrap(),
        );
        println!(
            "  {k:>5} {:>9.2} {:>8.1} {:>16} {:>9.1} {:>8.1} {:>8.1} {:>8.1} {:>8.1} {:>8.2} {:>8.1}",
            size as f64 / MIB as f64,
            mib / full["secs"].as_f64().unwrap(),
            format!(
                "{:.2} ({:.2}+{:.2})",
                (user + sys) / (bytes / GIB),
                user / (bytes / GIB),
                sys / (bytes / GIB)
            ),
            (full["voluntary"].as_f64().unwrap() + full["involuntary"].as_f64().unwrap()) / mib,
            per(&q["datagrams_in"]),
            per(&q["receive_batches"]),
            per(&q["send_calls"]),
            per(&q["acks_out"]),
            per(&q["flow_credit_out"]),
            q["datagrams_in"].as_f64().unwrap_or(0.0)
                / q["receive_batches"].as_f64().unwrap_or(1.0).max(1.0),
        );
        if !syscalls.is_empty() {
            let (_, tiny_sys) = native_run(&tiny_root, k, TINY, &syscalls);
            let data_mib = (bytes - (TINY * k as u64) as f64) / MIB as f64;
            let row: Vec<(String, f64)> = full_sys
                .iter()
                .map(|(name, n)| {
                    let base = tiny_sys
                        .iter()
                        .find(|(n, _)| n == name)
                        .map_or(0, |(_, v)| *v);
                    (name.clone(), n.saturating_sub(base) as f64 / data_mib)
                })
                .collect();
            sys_rows.push((k, row));
        }
    }
    if !sys_rows.is_empty() {
        println!("  system calls per MiB received (perf tracepoints):");
        for (k, row) in &sys_rows {
            let cells: Vec<String> = row
                .iter()
                .filter(|(_, v)| *v >= 0.05)
                .map(|(name, v)| format!("{name} {v:.1}"))
                .collect();
            println!("  {k:>5} conns: {}", cells.join(", "));
        }
    }
    if env("VSTREAM_BENCH_CALLGRIND") != "0" {
        profile_callgrind(root, &splits("VSTREAM_BENCH_CALLGRIND_SPLITS", "1,10,100"));
    }
}

/// A comma-separated list of connection counts from `var` (or `default`).
fn splits(var: &str, default: &str) -> Vec<usize> {
    std::env::var(var)
        .unwrap_or_else(|_| default.into())
        .split(',')
        .filter_map(|k| k.trim().parse().ok())
        .filter(|&k| k > 0)
        .collect()
}

/// A directory for one case: the certificate and a `size`-byte [`FILE`].
fn case_root(root: &Path, name: &str, size: u64) -> std::path::PathBuf {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    for f in ["cert.pem", "key.pem"] {
        std::fs::copy(root.join(f), dir.join(f)).unwrap();
    }
    random_file(&dir.join(FILE), size);
    dir
}

/// The syscall tracepoints of [`SYSCALLS`] that `perf stat` can count here (none without
/// perf or permission).
fn perf_syscalls(root: &Path) -> Vec<String> {
    SYSCALLS
        .iter()
        .map(|s| format!("syscalls:sys_enter_{s}"))
        .filter(|event| {
            std::process::Command::new("perf")
                .args(["stat", "-x,", "-o"])
                .arg(root.join("perf-probe.txt"))
                .args(["-e", event, "--", "true"])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
        .collect()
}

/// One native run of `k` uploads of `size`; the platform's report and, when `syscalls`
/// is not empty, perf's count of each over the whole platform process.
fn native_run(
    root: &Path,
    k: usize,
    size: u64,
    syscalls: &[String],
) -> (serde_json::Value, Vec<(String, u64)>) {
    if syscalls.is_empty() {
        return (pair(root, "uploads", k, size), Vec::new());
    }
    let out = root.join("perf.txt");
    let out_arg = out.display().to_string();
    let events = syscalls.join(",");
    let wrapper = ["perf", "stat", "-x,", "-o", &out_arg, "-e", &events, "--"];
    let report = pair_wrapped(&wrapper, &[], root, "uploads", k, size);
    let text = std::fs::read_to_string(&out).unwrap_or_default();
    let counts = text
        .lines()
        .filter_map(|l| {
            let fields: Vec<&str> = l.split(',').collect();
            let n = fields.first()?.parse::<u64>().ok()?;
            let name = fields.get(2)?.strip_prefix("syscalls:sys_enter_")?;
            Some((name.to_string(), n))
        })
        .collect();
    (report, counts)
}

/// One callgrind run: the platform's instructions, self cost by function.
struct Counted {
    total: u64,
    functions: std::collections::HashMap<String, u64>,
}

fn callgrind_run(root: &Path, k: usize, size: u64) -> Counted {
    let out = root.join("callgrind.out");
    let wrapper = [
        "valgrind",
        "--tool=callgrind",
        "--quiet",
        &format!("--callgrind-out-file={}", out.display()),
    ];
    let extra = [("VSTREAM_BENCH_WORKERS", "1".to_string())];
    pair_wrapped(&wrapper, &extra, root, "uploads", k, size);
    let annotated = std::process::Command::new("callgrind_annotate")
        .args(["--threshold=100", "--auto=no"])
        .arg(&out)
        .output()
        .expect("callgrind_annotate (valgrind) must be installed");
    let text = String::from_utf8_lossy(&annotated.stdout);
    let mut total = 0;
    let mut functions = std::collections::HashMap::new();
    for line in text.lines() {
        let line = line.trim();
        let Some((count, rest)) = line.split_once(' ') else {
            continue;
        };
        let Ok(count) = count.replace(',', "").parse::<u64>() else {
            continue;
        };
        // "(12.34%)  file:function [object]"
        let rest = rest.trim_start();
        let rest = match rest.split_once(") ") {
            Some((pct, name)) if pct.starts_with('(') => name.trim(),
            _ => rest,
        };
        if rest.starts_with("PROGRAM TOTALS") {
            total = count;
            continue;
        }
        let name = rest.split_once(':').map_or(rest, |(_, f)| f);
        let name = name.rsplit_once(" [").map_or(name, |(f, _)| f);
        *functions.entry(name.to_string()).or_insert(0) += count;
    }
    assert!(total > 0, "no totals in callgrind_annotate's output");
    Counted { total, functions }
}

/// A function's component, by what its name shows (first match; generic code is counted
/// with the first crate its name mentions).
fn component(function: &str) -> &'static str {
    let f = function;
    if f.contains("compress256") || f.contains("sha2::") {
        return "SHA-256 (portable under valgrind)";
    }
    if f.contains("aes") || f.contains("gcm") || f.contains("ghash") || f.contains("ring") {
        return "AEAD, header protection (ring)";
    }
    if f.contains("memcpy") || f.contains("memmove") || f.contains("memset") {
        return "memcpy/memmove/memset";
    }
    if f.contains("malloc")
        || f.contains("free")
        || f.contains("realloc")
        || f.contains("_int_")
        || f.contains("__rust_alloc")
        || f.contains("__rust_dealloc")
        || f.contains("__rdl_")
    {
        return "allocator";
    }
    let crates = [
        ("quinn_proto", "quinn-proto (QUIC state machine)"),
        ("quinn_udp", "quinn-udp (socket I/O)"),
        ("quinn::", "quinn (endpoint and connection drivers)"),
        ("tokio::", "tokio (scheduler, timers, I/O driver)"),
        ("mio::", "tokio (scheduler, timers, I/O driver)"),
        ("vstream::", "vstream"),
        ("rustls", "rustls"),
    ];
    crates
        .iter()
        .filter_map(|(marker, name)| f.find(marker).map(|at| (at, *name)))
        .min_by_key(|(at, _)| *at)
        .map_or("other (std, core, libc, ...)", |(_, name)| name)
}

/// Part 2 of [`profile`]: instructions per MiB by split, by component, and the functions
/// that grow the most from one connection to the most.
fn profile_callgrind(root: &Path, splits: &[usize]) {
    use std::collections::{BTreeMap, HashMap};
    let total = scaled(32 * MIB);
    println!(
        "callgrind (platform on one tokio thread), {} MiB in all; instructions per MiB received, the 64 KiB-per-connection run subtracted:",
        total / MIB
    );
    let mut per_split: Vec<(usize, HashMap<String, f64>)> = Vec::new();
    let mut tiny_totals = Vec::new();
    for &k in splits {
        let size = total / k as u64;
        let full_root = case_root(root, &format!("cg-{k}"), size);
        let tiny_root = case_root(root, &format!("cg-tiny-{k}"), TINY);
        let full = callgrind_run(&full_root, k, size);
        let tiny = callgrind_run(&tiny_root, k, TINY);
        let data_mib = ((size - TINY) * k as u64) as f64 / MIB as f64;
        let mut per_fn: HashMap<String, f64> = HashMap::new();
        for (name, &n) in &full.functions {
            let base = tiny.functions.get(name).copied().unwrap_or(0);
            per_fn.insert(name.clone(), (n as f64 - base as f64) / data_mib);
        }
        let all = (full.total as f64 - tiny.total as f64) / data_mib;
        let sha: f64 = per_fn
            .iter()
            .filter(|(n, _)| component(n).starts_with("SHA"))
            .map(|(_, v)| v)
            .sum();
        println!(
            "  {k:>5} connections of {:.2} MiB: {:.2} M per MiB; without SHA-256 {:.2} M",
            size as f64 / MIB as f64,
            all / 1e6,
            (all - sha) / 1e6
        );
        tiny_totals.push((k, tiny.total));
        per_split.push((k, per_fn));
    }
    if let (Some(&(k1, t1)), Some(&(kn, tn))) = (tiny_totals.first(), tiny_totals.last()) {
        if kn > k1 {
            println!(
                "  each further connection's own cost (handshake, request, report, close): {:.2} M instructions",
                (tn as f64 - t1 as f64) / (kn - k1) as f64 / 1e6
            );
        }
    }
    let mut by_component: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for (i, (_, per_fn)) in per_split.iter().enumerate() {
        for (name, v) in per_fn {
            let row = by_component
                .entry(component(name))
                .or_insert_with(|| vec![0.0; per_split.len()]);
            row[i] += v;
        }
    }
    let header: Vec<String> = per_split.iter().map(|(k, _)| format!("{k:>8}")).collect();
    println!(
        "  M instructions per MiB by component, connections: {}",
        header.join("")
    );
    let mut rows: Vec<_> = by_component.into_iter().collect();
    rows.sort_by(|a, b| {
        b.1.last()
            .unwrap_or(&0.0)
            .total_cmp(a.1.last().unwrap_or(&0.0))
    });
    for (name, values) in rows {
        let cells: Vec<String> = values.iter().map(|v| format!("{:>8.2}", v / 1e6)).collect();
        println!("    {name:<42}{}", cells.join(""));
    }
    let (Some((k1, first)), Some((kn, last))) = (per_split.first(), per_split.last()) else {
        return;
    };
    let mut grown: Vec<(&String, f64)> = last
        .iter()
        .map(|(name, v)| (name, v - first.get(name).copied().unwrap_or(0.0)))
        .collect();
    grown.sort_by(|a, b| b.1.total_cmp(&a.1));
    println!("  functions that grow most per MiB from {k1} to {kn} connections (self cost):");
    for (name, delta) in grown.iter().take(15) {
        let short: String = name.chars().take(120).collect();
        println!(
            "    {:+8.3} M  ({:.3} -> {:.3})  {short}",
            delta / 1e6,
            first.get(*name).copied().unwrap_or(0.0) / 1e6,
            last[*name] / 1e6
        );
    }
}
