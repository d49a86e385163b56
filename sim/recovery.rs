//! Recovery scenarios (issue 11, D110-D114, D117): the link black-holes for long stretches or
//! flaps, the platform or the client host crashes; the client comes back by itself, the
//! platform resumes what it holds, and the file still arrives exact.

use super::ctx::{PlatformCtx, Pulled};
use super::harness::{ClientOutcome, ClientSpec, SimBuilder, SimError, SimRun};
use super::report::ScenarioReport;
use super::scenarios::{generated, interop, with_loss, Moved, Options, INTEROP_LINK, MB};
use crate::client::{ClientConfig, ReconnectPolicy};
use crate::media::SegmentMode;
use crate::platform::PlatformError;
use crate::session::SessionConfig;
use crate::wire::FileRequest;
use std::time::Duration;

/// Segments a recovering client keeps in flight: few, so that each completes soon after
/// it starts. With the default 64 every open segment advances together (the driver
/// writes each in 128 KiB pieces and quinn serves whichever stream has data), none
/// completes before the whole window has crossed the link, and a break loses all of them:
/// on the flapping link (up 3 s) a 10 MB transfer then never completes (D112).
pub(super) const RECOVERY_IN_FLIGHT: usize = 4;

/// A client as a device that must keep uploading is configured: reconnect forever
/// (exponential backoff capped at 1 s), give a silent connection up after 2 s (D67),
/// `in_flight` segments at once.
pub(super) fn recovering(files: Vec<super::SimFile>, in_flight: usize) -> ClientSpec {
    ClientSpec {
        config: ClientConfig {
            reconnect: Some(ReconnectPolicy {
                max_backoff: Duration::from_secs(1),
                ..ReconnectPolicy::default()
            }),
            stall_timeout: Some(Duration::from_secs(2)),
            session: SessionConfig {
                max_in_flight_segments: in_flight,
                ..SessionConfig::default()
            },
            ..ClientConfig::default()
        },
        ..ClientSpec::serving(files)
    }
}

/// One recovering client serving `files`; the platform pulls each, waiting through
/// breaks (D65), and checks it byte for byte; every file must be `Completed` at the
/// sender too, and `back_by` (if any) bounds when the last file may finish.
pub(super) fn upload_through(
    name: &str,
    o: &Options,
    world: SimBuilder,
    files: Vec<(super::SimFile, SegmentMode)>,
    back_by: Option<Duration>,
) -> ScenarioReport {
    let link = world.uplink.rate_bps;
    let spec = recovering(
        files.iter().map(|(f, _)| f.clone()).collect(),
        RECOVERY_IN_FLIGHT,
    );
    let run = world
        .wait_through_breaks()
        .client(spec)
        .run(move |ctx| async move {
            let moved = pull_each(&ctx, files).await?;
            if let Some(limit) = back_by {
                if ctx.now() > limit {
                    return Err(SimError::Check(format!(
                        "finished at {:.1} s, later than {:.1} s",
                        ctx.now().as_secs_f64(),
                        limit.as_secs_f64()
                    )));
                }
            }
            Ok(moved)
        });
    let clean_end = clients_ended(&run);
    ScenarioReport::from_run(name, o, &run, link).require(clean_end)
}

/// Pulls each file in turn from the first session and checks it; sums resumptions.
pub(super) async fn pull_each(
    ctx: &PlatformCtx,
    files: Vec<(super::SimFile, SegmentMode)>,
) -> Result<Moved, SimError> {
    let session = ctx.platform.wait_for_session().await.session_id;
    let mut moved = Moved::default();
    for (file, mode) in files {
        let mut request = FileRequest::new(file.name());
        request.segment_mode = mode;
        let pulled = pull_through(ctx, session, request).await?;
        ctx.check_identical(&pulled.result, 0, file.name())?;
        let report = &pulled.result.report;
        ctx.record(format!(
            "{}: resumed {} times, {} bytes re-sent",
            file.name(),
            report.resumed,
            report.resent_bytes
        ));
        moved.bytes += pulled.ack.file_size;
        moved.busy += pulled.finished_at.saturating_sub(pulled.requested_at);
        moved.resumed += report.resumed;
        moved.resent_bytes += report.resent_bytes;
    }
    Ok(moved)
}

/// Requests a file and waits for its end; a request whose connection broke before the
/// client acknowledged it (so no transfer exists to resume) is sent again once the session
/// is back (re-attached under the same id, D52), as an operator's retry would.
async fn pull_through(
    ctx: &PlatformCtx,
    session: uuid::Uuid,
    request: FileRequest,
) -> Result<Pulled, SimError> {
    loop {
        match ctx.pull(session, request.clone()).await {
            Err(SimError::Platform(PlatformError::ConnectionLost | PlatformError::Timeout)) => {
                ctx.record("the request broke before its acknowledgement; again once back");
                while !ctx
                    .platform
                    .sessions()
                    .iter()
                    .any(|s| s.session_id == session && s.ready && !s.ended)
                {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
            other => return other,
        }
    }
}

/// Every client ended cleanly: with the platform's close, its stateless reset, or (a
/// reconnecting client whose copy of the close was lost, and which would otherwise try
/// again forever) stopped by the harness after the platform shut down. The platform's
/// byte-for-byte check is the verdict on the files; what the sender saw may lag it by the
/// acknowledgement lost with the last break.
pub(super) fn clients_ended<T>(run: &SimRun<T>) -> Result<(), String> {
    for (i, outcome) in run.clients.iter().enumerate() {
        match outcome {
            Some(ClientOutcome { result: Ok(_), .. }) => {}
            Some(ClientOutcome {
                result: Err(crate::client::ClientError::Connection(quinn::ConnectionError::Reset)),
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

/// The path black-holes for `length` from 2 s on (6 MB take about 5 s on the interop
/// link): the client gives the silent connection up, keeps trying, is back within about
/// a second of the path returning, and the platform resumes at the first missing segment.
fn partition(name: &str, o: &Options, length: Duration) -> ScenarioReport {
    let at = Duration::from_secs(2);
    // The rest of the file (at most ~5 s at the link's rate) plus the reconnect.
    let back_by = at + length + Duration::from_secs(10);
    let world = interop(o)
        .partition(at, length)
        .time_limit(o.time_limit.unwrap_or(length + Duration::from_secs(120)));
    let report = upload_through(name, o, world, vec![generated(o, 6 * MB)], Some(back_by));
    let resumed = if report.passed && report.resumed == 0 {
        Err("the transfer completed without a resumption".to_string())
    } else {
        Ok(())
    };
    report.require(resumed)
}

pub(super) fn partition_40s(o: &Options) -> ScenarioReport {
    partition("partition-40s", o, Duration::from_secs(40))
}

pub(super) fn partition_5min(o: &Options) -> ScenarioReport {
    partition("partition-5min", o, Duration::from_secs(300))
}

/// Up 3 s, down 2 s, from the start to the end of the run, through a 10 MB transfer
/// (about 9 s of link time, so at least three cuts land in it).
pub(super) fn flapping(o: &Options) -> ScenarioReport {
    let limit = o.time_limit.unwrap_or(Duration::from_secs(120));
    let mut world = interop(o).time_limit(limit);
    let mut up_at = Duration::ZERO;
    while up_at < limit {
        world = world.partition(up_at + Duration::from_secs(3), Duration::from_secs(2));
        up_at += Duration::from_secs(5);
    }
    upload_through("flapping", o, world, vec![generated(o, 10 * MB)], None)
}

/// Loss `percent` each way on the interop link (a 2 MB file): the sweep of D111.
fn loss_sweep(name: &str, o: &Options, percent: u32) -> ScenarioReport {
    let world = interop(o).link(with_loss(f64::from(percent) / 100.0));
    upload_through(name, o, world, vec![generated(o, 2 * MB)], None)
}

macro_rules! sweep {
    ($($f:ident = $pct:literal),*) => {
        $(pub(super) fn $f(o: &Options) -> ScenarioReport {
            loss_sweep(concat!("sweep-loss-", $pct), o, $pct)
        })*
    };
}
sweep!(
    sweep_0 = 0,
    sweep_5 = 5,
    sweep_10 = 10,
    sweep_15 = 15,
    sweep_20 = 20,
    sweep_25 = 25,
    sweep_30 = 30
);

/// The client's host crashes 2 s into a 6 MB transfer and restarts 3 s later with no
/// memory of its session: it connects as a new session of the same device (anonymous
/// here: `None` matches `None`, D64); the platform closes the crashed client's connection,
/// silent since the crash, about 7 s after it (D117), offers the new session the unfinished
/// transfer by file identity and resumes at the first missing segment. The file must be
/// finished by [`CLIENT_CRASH_BY`] (before D117 it waited for the 30 s idle timeout and
/// finished about 34 s after the crash, D114).
pub(super) fn client_crash(o: &Options) -> ScenarioReport {
    let world = interop(o).crash_clients(Duration::from_secs(2), Duration::from_secs(3));
    let report = upload_through(
        "client-crash",
        o,
        world,
        vec![generated(o, 6 * MB)],
        Some(CLIENT_CRASH_BY),
    );
    let resumed = if report.passed && report.resumed == 0 {
        Err("the transfer completed without a resumption".to_string())
    } else {
        Ok(())
    };
    report.require(resumed)
}

/// When `client-crash` must have finished: the crash at 2 s, the old connection closed as
/// silent about 7 s later (D117), the rest of 6 MB (about 4 s of link), and slack for
/// Cubic's slower start on the new connection.
const CLIENT_CRASH_BY: Duration = Duration::from_secs(16);

/// The platform's host crashes 2 s into a 6 MB transfer and restarts 3 s later: it keeps
/// its certificate, and its store is the host's own filesystem (turmoil's, D115), so the
/// crash is a power cut: every byte of the `.part` and every name not synced is lost. The
/// restarted platform loads the journal (which never claims a byte the cut could lose,
/// D61), and resumes the transfer when the client, which reconnects by itself, comes
/// back. The run must show the cut discarding written, unsynced bytes of the `.part`
/// ([`SimRun::power_cuts`](super::SimRun::power_cuts)), and the file must still end exact.
pub(super) fn platform_crash(o: &Options) -> ScenarioReport {
    let world = interop(o)
        .crash_platform(Duration::from_secs(2), Duration::from_secs(3))
        .wait_through_breaks();
    let file = generated(o, 6 * MB);
    let name = file.0.name().to_string();
    let spec = recovering(vec![file.0.clone()], RECOVERY_IN_FLIGHT);
    let run = world.client(spec).run_restartable(move |ctx, start| {
        let (file, name) = (file.clone(), name.clone());
        async move {
            if start == 0 {
                // Never finishes: the host crashes under it.
                return pull_each(&ctx, vec![file]).await;
            }
            let restarted_at = ctx.now();
            let mut waiting = ctx.platform.wait_for_unfinished(&name);
            while waiting.is_none() {
                if ctx.now() > restarted_at + Duration::from_secs(5) {
                    return Err(SimError::Check(format!(
                        "the restarted platform holds no unfinished {name}: {:?}",
                        ctx.platform.unfinished()
                    )));
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
                waiting = ctx.platform.wait_for_unfinished(&name);
            }
            let result = match waiting {
                Some(w) => w.finished().await?,
                None => return Err(SimError::Check("unreachable".into())),
            };
            ctx.check_identical(&result, 0, &name)?;
            ctx.record(format!(
                "{name}: resumed {} times after the restart",
                result.report.resumed
            ));
            Ok(Moved {
                bytes: ctx.store().file_len(&result.file.path)?,
                // No goodput: part of the file crossed before the crash.
                busy: Duration::ZERO,
                resumed: result.report.resumed,
                resent_bytes: result.report.resent_bytes,
            })
        }
    });
    let clean_end = clients_ended(&run);
    let cut = match run.power_cuts.as_slice() {
        [] => Err("no .part in the store when the platform's host crashed".to_string()),
        cuts if cuts.iter().all(|c| c.lost() == 0) => Err(format!(
            "the crash discarded nothing (every written byte was synced): {cuts:?}"
        )),
        _ => Ok(()),
    };
    ScenarioReport::from_run("platform-crash", o, &run, INTEROP_LINK.rate_bps)
        .require(clean_end)
        .require(cut)
}
