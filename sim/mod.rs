//! Deterministic simulation: the real platform and client drivers, quinn and rustls inside
//! the turmoil network simulator, with seeded faults, named scenarios and a harness to
//! write more.
//!
//! - [`harness`]: [`SimBuilder`] makes a world (links, faults, partitions, clients and the
//!   files they serve) and runs a script of platform API calls on the platform's host
//!   ([`PlatformCtx`]: the API, the simulated clock, per-segment arrival times, checks).
//! - [`scenarios`]: the named scenarios of `vstream sim` and `cargo xtask sim`, each seeded
//!   and asserting that the file arrived whole or failed with the expected typed error.
//! - [`ScenarioReport`]: what one run reports (JSON for the xtask).
//! - [`figures`]: figures measured in simulation (frame latency under realtime pacing).
//!
//! The same seed gives the same ordered event trace and the same datagrams with the Cubic
//! controller (see `docs/protocol.md`, D34-D36, for what that took and why BBR differs).

mod ctx;
pub mod figures;
mod files;
pub mod harness;
mod hosts;
mod recovery;
mod report;
pub mod scenarios;
mod trace;

pub use ctx::{Arrival, PlatformCtx, Pulled, SimObservation};
pub use files::{test_videos, SimFile};
pub use harness::{ClientOutcome, ClientSpec, SimBuilder, SimError, SimRun};
pub use hosts::PowerCut;
pub use report::{congestion_name, parse_congestion, ScenarioReport};
pub use scenarios::{scenario, scenarios, Options, Scenario};
pub use trace::{Trace, TraceEvent};
