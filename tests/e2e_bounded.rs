//! Bounded state over real quinn on loopback (issue 10, D51): connect-handshake-close
//! cycles leave the platform's registry at its configured size and its memory flat.
//!
//! `cargo test --test e2e_bounded -- --ignored --nocapture` runs the figure:
//! 10,000 cycles, RSS after them within 5 MB of RSS after the first 1,000. The CI-sized
//! test runs 2,000 cycles and asserts the registry sizes and the same RSS bound.

mod e2e_support;

use e2e_support::*;
use std::time::Duration;
use vstream::net::ALPN;
use vstream::wire::{Message, ProtocolVersion, SessionStart, StatusCode};

/// Resident set size of this process (platform and clients), bytes.
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

const HISTORY: usize = 100;

async fn cycles(total: usize, warmup: usize) {
    let h = start_platform_with(|c| c.session_history = HISTORY);
    let endpoint = client_endpoint_for(&h, ALPN);
    let mut after_warmup = 0;
    for i in 1..=total {
        let conn = endpoint
            .connect(h.addr, "localhost")
            .unwrap()
            .await
            .unwrap();
        send(
            &conn,
            &Message::VersionNegotiation(ProtocolVersion::CURRENT),
            1,
        )
        .await;
        assert_eq!(status_of(&receive(&conn).await), StatusCode::Success);
        send(
            &conn,
            &Message::SessionStart(SessionStart::client_ready()),
            2,
        )
        .await;
        assert_eq!(status_of(&receive(&conn).await), StatusCode::Success);
        conn.close(0u32.into(), b"cycle");
        if i % 500 == 0 {
            // Let the platform's connection tasks see their closes.
            let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
            while h.platform.registry_size().0 > 0 && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            let (live, finished) = h.platform.registry_size();
            println!(
                "{i} cycles: RSS {} KiB, registry {live} live, {finished} finished",
                rss() / 1024
            );
            assert_eq!(live, 0, "every connection ended");
            assert_eq!(finished, HISTORY, "the history is full and capped");
            assert!(h.platform.sessions().len() <= HISTORY);
        }
        if i == warmup {
            after_warmup = rss();
        }
    }
    let end = rss();
    let grown = end.saturating_sub(after_warmup);
    println!(
        "RSS after {warmup} cycles {} KiB, after {total} {} KiB: +{} KiB",
        after_warmup / 1024,
        end / 1024,
        grown / 1024
    );
    assert!(grown < 5 * 1024 * 1024, "RSS grew {grown} bytes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_handshake_close_cycles_keep_the_registry_and_memory_bounded() {
    cycles(2_000, 1_000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the issue's full figure: 10,000 cycles (about a minute)"]
async fn ten_thousand_cycles_stay_within_5_mb_of_the_first_thousand() {
    cycles(10_000, 1_000).await;
}
