//! The named scenarios: each builds a world, pulls files through the real drivers, and
//! passes only if every file arrived whole (SHA-256 and byte for byte) or the failure is
//! the expected clean, typed error.

use super::ctx::{PlatformCtx, Pulled};
use super::harness::{ClientOutcome, ClientSpec, SimBuilder, SimError, SimRun};
use super::recovery;
use super::report::ScenarioReport;
use super::SimFile;
use crate::client::ClientError;
use crate::media::SegmentMode;
use crate::net::{Congestion, LinkFaults};
use crate::session::TransferOutcome;
use crate::wire::FileRequest;
use std::time::Duration;

/// A named scenario.
#[derive(Debug, Clone, Copy)]
pub struct Scenario {
    /// Its name (`vstream sim NAME`).
    pub name: &'static str,
    /// What it shows.
    pub about: &'static str,
    run: fn(&Options) -> ScenarioReport,
}

impl Scenario {
    /// Runs it once.
    pub fn run(&self, options: &Options) -> ScenarioReport {
        (self.run)(options)
    }
}

/// How to run a scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// The run's seed.
    pub seed: u64,
    /// Congestion controller of both ends.
    pub congestion: Congestion,
    /// Size of the main file instead of the scenario's own (figures: a 60 s transfer).
    pub file_size: Option<u64>,
    /// Simulated time limit instead of the harness's 300 s (a short one fails on purpose).
    pub time_limit: Option<Duration>,
}

impl Options {
    /// Seed `seed`, BBR (the specification's controller), the scenario's own file size.
    pub fn new(seed: u64) -> Self {
        Options {
            seed,
            congestion: Congestion::Bbr,
            file_size: None,
            time_limit: None,
        }
    }
}

pub(super) const MB: u64 = 1_000_000;

/// The QUIC interop runner's network: 10 Mbit/s, a 25-packet drop-tail queue (15 ms
/// one-way delay is set with the latency).
pub const INTEROP_LINK: LinkFaults = LinkFaults {
    loss: 0.0,
    duplicate: 0.0,
    max_datagram: 1472,
    rate_bps: Some(10_000_000),
    queue_packets: 25,
    reorder: 0.0,
    reorder_delay: Duration::from_millis(10),
};

/// Every scenario, in the order the table prints them.
pub fn scenarios() -> &'static [Scenario] {
    &[
        Scenario { name: "clean", about: "no faults, 5 ms one-way, 100 Mbit/s: an H.264 file in frame mode and 4 MB in fixed chunks", run: clean },
        Scenario { name: "rtt-50ms", about: "50 ms RTT on the 10 Mbit/s interop link, 4 MB", run: rtt_50ms },
        Scenario { name: "interop-goodput", about: "10 Mbit/s, 15 ms one-way, 25-packet queue, 10 MB: goodput against capacity", run: interop_goodput },
        Scenario { name: "loss-2", about: "interop link, 2% of datagrams lost each way, 4 MB", run: loss_2 },
        Scenario { name: "loss-5", about: "interop link, 5% of datagrams lost each way, 2 MB", run: loss_5 },
        Scenario { name: "loss-10", about: "interop link, 10% of datagrams lost each way, 1 MB", run: loss_10 },
        Scenario { name: "reorder", about: "interop link, 5% of datagrams held back 20 ms, 4 MB", run: reorder },
        Scenario { name: "duplicate", about: "interop link, 5% of datagrams sent twice, 4 MB", run: duplicate },
        Scenario { name: "partition-2s", about: "interop link, cut for 2 s mid-transfer: quinn recovers, 6 MB complete", run: partition_2s },
        Scenario { name: "partition-40s-no-reconnect", about: "interop link, cut for 40 s mid-transfer, a client without a reconnection policy: both sides report TimedOut", run: partition_40s_no_reconnect },
        Scenario { name: "partition-40s", about: "interop link, cut for 40 s mid-transfer: the client reconnects, the platform resumes, 6 MB exact", run: recovery::partition_40s },
        Scenario { name: "partition-5min", about: "interop link, cut for 5 minutes mid-transfer: the client reconnects, the platform resumes, 6 MB exact", run: recovery::partition_5min },
        Scenario { name: "flapping", about: "interop link up 3 s, down 2 s, repeated: 10 MB exact through every cut", run: recovery::flapping },
        Scenario { name: "client-crash", about: "the client host crashes 2 s into 6 MB and restarts 3 s later without its session: resumed by device and file identity, exact", run: recovery::client_crash },
        Scenario { name: "platform-crash", about: "the platform host crashes 2 s into 6 MB and restarts 3 s later: journal reloaded, the reconnecting client resumed, exact", run: recovery::platform_crash },
        Scenario { name: "sweep-loss-0", about: "loss sweep (recovering client), no loss, 2 MB", run: recovery::sweep_0 },
        Scenario { name: "sweep-loss-5", about: "loss sweep, 5% each way, 2 MB", run: recovery::sweep_5 },
        Scenario { name: "sweep-loss-10", about: "loss sweep, 10% each way, 2 MB", run: recovery::sweep_10 },
        Scenario { name: "sweep-loss-15", about: "loss sweep, 15% each way, 2 MB", run: recovery::sweep_15 },
        Scenario { name: "sweep-loss-20", about: "loss sweep, 20% each way, 2 MB", run: recovery::sweep_20 },
        Scenario { name: "sweep-loss-25", about: "loss sweep, 25% each way, 2 MB", run: recovery::sweep_25 },
        Scenario { name: "sweep-loss-30", about: "loss sweep, 30% each way, 2 MB", run: recovery::sweep_30 },
        Scenario { name: "many-clients", about: "20 clients upload 1 MB each at once, 10 Mbit/s uplinks", run: many_clients },
        Scenario { name: "long-rtt", about: "750 ms RTT on the 10 Mbit/s interop link, 2 MB", run: long_rtt },
    ]
}

/// The scenario called `name`.
pub fn scenario(name: &str) -> Option<&'static Scenario> {
    scenarios().iter().find(|s| s.name == name)
}

pub(super) fn world(o: &Options, latency_ms: u64, link: LinkFaults) -> SimBuilder {
    let world = SimBuilder::new(o.seed)
        .congestion(o.congestion)
        .latency(Duration::from_millis(latency_ms))
        .link(link);
    match o.time_limit {
        Some(limit) => world.time_limit(limit),
        None => world,
    }
}

pub(super) fn interop(o: &Options) -> SimBuilder {
    world(o, 15, INTEROP_LINK)
}

pub(super) fn with_loss(loss: f64) -> LinkFaults {
    LinkFaults {
        loss,
        ..INTEROP_LINK
    }
}

pub(super) fn generated(o: &Options, size: u64) -> (SimFile, SegmentMode) {
    let size = o.file_size.unwrap_or(size);
    (SimFile::generated("upload.bin", size), SegmentMode::Auto)
}

fn clean(o: &Options) -> ScenarioReport {
    let link = LinkFaults {
        rate_bps: Some(100_000_000),
        queue_packets: 100,
        ..LinkFaults::default()
    };
    let files = vec![
        (SimFile::test_video("main_bframes.h264"), SegmentMode::Frame),
        generated(o, 4 * MB),
    ];
    upload("clean", o, world(o, 5, link), files)
}

fn rtt_50ms(o: &Options) -> ScenarioReport {
    upload(
        "rtt-50ms",
        o,
        world(o, 25, INTEROP_LINK),
        vec![generated(o, 4 * MB)],
    )
}

fn interop_goodput(o: &Options) -> ScenarioReport {
    upload(
        "interop-goodput",
        o,
        interop(o),
        vec![generated(o, 10 * MB)],
    )
}

fn loss_2(o: &Options) -> ScenarioReport {
    let world = interop(o).link(with_loss(0.02));
    upload("loss-2", o, world, vec![generated(o, 4 * MB)])
}

fn loss_5(o: &Options) -> ScenarioReport {
    let world = interop(o).link(with_loss(0.05));
    upload("loss-5", o, world, vec![generated(o, 2 * MB)])
}

fn loss_10(o: &Options) -> ScenarioReport {
    let world = interop(o).link(with_loss(0.10));
    upload("loss-10", o, world, vec![generated(o, MB)])
}

fn reorder(o: &Options) -> ScenarioReport {
    let link = LinkFaults {
        reorder: 0.05,
        reorder_delay: Duration::from_millis(20),
        ..INTEROP_LINK
    };
    upload(
        "reorder",
        o,
        interop(o).link(link),
        vec![generated(o, 4 * MB)],
    )
}

fn duplicate(o: &Options) -> ScenarioReport {
    let link = LinkFaults {
        duplicate: 0.05,
        ..INTEROP_LINK
    };
    upload(
        "duplicate",
        o,
        interop(o).link(link),
        vec![generated(o, 4 * MB)],
    )
}

fn partition_2s(o: &Options) -> ScenarioReport {
    let world = interop(o).partition(Duration::from_secs(1), Duration::from_secs(2));
    upload("partition-2s", o, world, vec![generated(o, 6 * MB)])
}

fn long_rtt(o: &Options) -> ScenarioReport {
    upload(
        "long-rtt",
        o,
        world(o, 375, INTEROP_LINK),
        vec![generated(o, 2 * MB)],
    )
}

/// Figures of the files a script pulled.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Moved {
    pub(crate) bytes: u64,
    pub(crate) busy: Duration,
    /// Times the platform re-requested a file after a break (recovery scenarios).
    pub(crate) resumed: u32,
    /// Bytes the platform stored twice across those breaks.
    pub(crate) resent_bytes: u64,
}

/// One client serving `files`; the platform pulls them one after another and checks
/// each; the client must then end cleanly when the platform closes the session.
fn upload(
    name: &str,
    o: &Options,
    world: SimBuilder,
    files: Vec<(SimFile, SegmentMode)>,
) -> ScenarioReport {
    let link = world.uplink.rate_bps;
    let spec = ClientSpec::serving(files.iter().map(|(f, _)| f.clone()).collect());
    let run = world.client(spec).run(move |ctx| pull_all(ctx, files));
    let clean_end = clients_ended_cleanly(&run);
    ScenarioReport::from_run(name, o, &run, link).require(clean_end)
}

async fn pull_all(ctx: PlatformCtx, files: Vec<(SimFile, SegmentMode)>) -> Result<Moved, SimError> {
    let session = ctx.platform.wait_for_session().await.session_id;
    let mut moved = Moved::default();
    for (file, mode) in files {
        let mut request = FileRequest::new(file.name());
        request.segment_mode = mode;
        let pulled = ctx.pull(session, request).await?;
        ctx.check_identical(&pulled.result, 0, file.name())?;
        moved.bytes += pulled.ack.file_size;
        moved.busy += pulled.finished_at.saturating_sub(pulled.requested_at);
    }
    Ok(moved)
}

/// Every client's run ended with the platform's close: received (`Ok`), or, when the one
/// CONNECTION_CLOSE packet was lost on a lossy link, learnt from the stateless reset the
/// platform's endpoint answers the client's next packet with (RFC 9000, 10.3).
fn clients_ended_cleanly<T>(run: &SimRun<T>) -> Result<(), String> {
    for (i, outcome) in run.clients.iter().enumerate() {
        match outcome {
            Some(ClientOutcome {
                result: Ok(summary),
                ..
            }) => {
                // The sender saw every transfer through (its completion line).
                if let Some(t) = summary
                    .transfers
                    .iter()
                    .find(|t| t.outcome != Some(TransferOutcome::Completed))
                {
                    return Err(format!(
                        "client {i}: {} ended {:?} at the sender",
                        t.file_path, t.outcome
                    ));
                }
            }
            Some(ClientOutcome {
                result: Err(ClientError::Connection(quinn::ConnectionError::Reset)),
                ..
            }) => {}
            Some(ClientOutcome { result: Err(e), .. }) => {
                return Err(format!("client {i} failed: {e}"))
            }
            None => return Err(format!("client {i} never finished")),
        }
    }
    Ok(())
}

fn partition_40s_no_reconnect(o: &Options) -> ScenarioReport {
    let size = o.file_size.unwrap_or(6 * MB);
    let world = interop(o).partition(Duration::from_secs(1), Duration::from_secs(40));
    let spec = ClientSpec::serving(vec![SimFile::generated("upload.bin", size)]);
    let run = world.client(spec).run(|ctx| async move {
        let session = ctx.platform.wait_for_session().await.session_id;
        let lost = ctx.pull(session, FileRequest::new("upload.bin")).await;
        let outcome = match lost {
            Ok(Pulled { result, .. }) => result.outcome,
            Err(SimError::Platform(crate::platform::PlatformError::ConnectionLost)) => {
                TransferOutcome::ConnectionLost
            }
            Err(e) => return Err(e),
        };
        if outcome != TransferOutcome::ConnectionLost {
            return Err(SimError::Check(format!("transfer ended {outcome:?}")));
        }
        let info = ctx
            .platform
            .sessions()
            .into_iter()
            .find(|s| s.session_id == session);
        match info.and_then(|s| s.ended_with) {
            Some(quinn::ConnectionError::TimedOut) => Ok(Moved::default()),
            other => Err(SimError::Check(format!(
                "platform session ended with {other:?}"
            ))),
        }
    });
    let client_timed_out = match run.clients.first() {
        Some(Some(ClientOutcome {
            result: Err(ClientError::Connection(quinn::ConnectionError::TimedOut)),
            ..
        })) => Ok(()),
        Some(Some(other)) => Err(format!("client ended with {:?}", other.result)),
        _ => Err("the client never finished".to_string()),
    };
    ScenarioReport::from_run("partition-40s-no-reconnect", o, &run, INTEROP_LINK.rate_bps)
        .require(client_timed_out)
}

const MANY: usize = 20;

fn many_clients(o: &Options) -> ScenarioReport {
    let size = o.file_size.unwrap_or(MB);
    let platform_link = LinkFaults {
        rate_bps: Some(100_000_000),
        queue_packets: 200,
        ..LinkFaults::default()
    };
    let mut world = interop(o);
    world.downlink = platform_link;
    for i in 0..MANY {
        let file = SimFile::generated(format!("clip-{i}.bin"), size);
        world = world.client(ClientSpec::serving(vec![file]));
    }
    let run = world.run(|ctx| async move {
        let sessions = ctx.platform.wait_for_sessions(MANY).await;
        let mut handles = Vec::new();
        let started = ctx.now();
        for s in &sessions {
            let host = turmoil::reverse_lookup(s.remote.ip()).unwrap_or_default();
            let client: usize = host
                .strip_prefix("client-")
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| SimError::Check(format!("unknown peer {}", s.remote)))?;
            let name = format!("clip-{client}.bin");
            let handle = ctx
                .platform
                .request_file(s.session_id, FileRequest::new(&name))
                .await?;
            handles.push((client, name, handle));
        }
        let mut moved = Moved::default();
        for (client, name, handle) in handles {
            let size = handle.ack.file_size;
            let result = handle.finished().await?;
            ctx.check_identical(&result, client, &name)?;
            moved.bytes += size;
        }
        moved.busy = ctx.now().saturating_sub(started);
        Ok(moved)
    });
    let clean_end = clients_ended_cleanly(&run);
    // Capacity: the clients' links together.
    let capacity = INTEROP_LINK.rate_bps.map(|r| r * MANY as u64);
    ScenarioReport::from_run("many-clients", o, &run, capacity).require(clean_end)
}
