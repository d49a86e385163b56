//! The two things the drivers take from their runtime besides sockets and timers: the wall
//! clock, and threads for blocking file work. Both follow the simulator when inside one.
//!
//! - [`system_time`]: the real clock; inside turmoil, the simulation's epoch plus its
//!   elapsed time (`Builder::epoch`), so envelope timestamps and `.debug` lines replay.
//! - [`run_blocking`]: tokio's blocking pool; inside turmoil, inline on the host. A pool
//!   thread finishes in real time: when several run at once (segment reads), the order in
//!   which their results reach the host, and so the order of stream writes and the bytes
//!   of every packet after, would depend on the machine's scheduler, not on the seed.
//!   Simulated time does not pass while the host waits either way (tokio does not
//!   auto-advance a paused clock while blocking work runs).

use std::time::SystemTime;

/// The wall-clock time now: real, or simulated inside turmoil.
pub fn system_time() -> SystemTime {
    #[cfg(feature = "sim")]
    if let Some(since) = turmoil::since_epoch() {
        return SystemTime::UNIX_EPOCH + since;
    }
    SystemTime::now()
}

/// True inside the simulator (always false without the `sim` feature).
fn in_simulation() -> bool {
    #[cfg(feature = "sim")]
    return turmoil::in_simulation();
    #[cfg(not(feature = "sim"))]
    false
}

/// The wall-clock time now (simulated inside turmoil) as a protocol timestamp, for the
/// machines' envelope timestamps (`SessionConfig::epoch`; moved here from the crate's
/// former `bridge.rs`).
pub fn wall_clock() -> crate::wire::Timestamp {
    use crate::wire::Timestamp;
    let ms = system_time()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    Timestamp::from_unix_millis(ms).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// Runs blocking work (file reads, hashing) off the async task: on tokio's blocking pool,
/// or inline inside the simulator. Returns None if the work panicked.
pub async fn run_blocking<T, F>(work: F) -> Option<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    if in_simulation() {
        return Some(work());
    }
    tokio::task::spawn_blocking(work).await.ok()
}
