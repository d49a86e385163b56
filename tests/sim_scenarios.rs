//! The simulation over the real drivers: determinism (same seed, same trace; a failing
//! seed fails the same way twice), typed connection loss past the idle timeout, and the
//! harness's per-segment arrival times. Small files: these run in the debug test build;
//! `cargo xtask sim` runs every scenario over many seeds in release.

use std::time::Duration;
use vstream::media::SegmentMode;
use vstream::net::{Congestion, LinkFaults};
use vstream::sim::scenarios::INTEROP_LINK;
use vstream::sim::{scenario, ClientSpec, Options, SimBuilder, SimError, SimFile};
use vstream::wire::FileRequest;

fn small(seed: u64, congestion: Congestion) -> Options {
    Options {
        congestion,
        file_size: Some(600_000),
        ..Options::new(seed)
    }
}

fn run(name: &str, options: &Options) -> vstream::sim::ScenarioReport {
    let report = scenario(name).expect("scenario exists").run(options);
    assert!(report.passed, "{}", report.line());
    report
}

#[test]
fn the_same_seed_gives_the_same_trace_with_cubic_and_another_seed_differs() {
    let a = run("loss-2", &small(42, Congestion::Cubic));
    let b = run("loss-2", &small(42, Congestion::Cubic));
    assert_eq!(a.trace_hash, b.trace_hash, "seed 42 ran twice");
    assert_eq!(a.sim_secs, b.sim_secs);
    assert_eq!(a.link_events, b.link_events);
    let c = run("loss-2", &small(43, Congestion::Cubic));
    assert_ne!(a.trace_hash, c.trace_hash, "seeds 42 and 43");
}

#[test]
fn the_same_seed_gives_the_same_trace_with_bbr_too() {
    // quinn's BBR draws its gain-cycle start from an unseeded generator, but in quinn
    // 0.11 that gain only feeds the reported pacing rate, never what is sent (D36).
    let a = run("reorder", &small(7, Congestion::Bbr));
    let b = run("reorder", &small(7, Congestion::Bbr));
    assert_eq!(a.trace_hash, b.trace_hash);
}

/// A world made to fail: a 1 s idle timeout cannot outlive a 3 s partition.
fn doomed(seed: u64) -> vstream::sim::SimRun<()> {
    let mut world = SimBuilder::new(seed)
        .congestion(Congestion::Cubic)
        .latency(Duration::from_millis(15))
        .link(LinkFaults {
            loss: 0.02,
            ..INTEROP_LINK
        })
        .partition(Duration::from_millis(800), Duration::from_secs(3))
        .client(ClientSpec::serving(vec![SimFile::generated(
            "doomed.bin",
            2_000_000,
        )]));
    world.transport.idle_timeout = Duration::from_secs(1);
    world.run(|ctx| async move {
        let session = ctx.platform.wait_for_session().await.session_id;
        let pulled = ctx.pull(session, FileRequest::new("doomed.bin")).await?;
        ctx.check_identical(&pulled.result, 0, "doomed.bin")
    })
}

#[test]
fn a_failing_seed_fails_the_same_way_when_replayed() {
    let first = doomed(5);
    let again = doomed(5);
    let error = match &first.script {
        Err(e) => e.to_string(),
        Ok(()) => panic!("the transfer cannot survive the partition"),
    };
    assert_eq!(Some(error), again.script.err().map(|e| e.to_string()));
    assert_eq!(first.trace, again.trace);
    assert_eq!(first.trace_hash, again.trace_hash);
    assert_eq!(first.sim_time, again.sim_time);
}

#[test]
fn a_partition_past_the_idle_timeout_is_a_typed_loss_on_both_sides() {
    // The scenario asserts the platform's TransferOutcome::ConnectionLost and session
    // ended_with TimedOut, and the client's ClientError::Connection(TimedOut).
    let options = Options {
        congestion: Congestion::Cubic,
        ..Options::new(3)
    };
    let report = run("partition-40s-no-reconnect", &options);
    assert!(report.sim_secs > 30.0, "{}", report.line());
}

#[test]
fn a_short_partition_is_survived_and_the_file_completes() {
    let options = Options {
        file_size: Some(3_000_000),
        ..small(9, Congestion::Cubic)
    };
    let report = run("partition-2s", &options);
    assert!(report.sim_secs > 3.0, "{}", report.line());
}

#[test]
fn the_harness_reports_every_segment_arrival_in_simulated_time() {
    let run = SimBuilder::new(11)
        .congestion(Congestion::Cubic)
        .latency(Duration::from_millis(20))
        .client(ClientSpec::serving(vec![SimFile::test_video(
            "main_bframes.h264",
        )]))
        .run(|ctx| async move {
            let session = ctx.platform.wait_for_session().await.session_id;
            let mut request = FileRequest::new("main_bframes.h264");
            request.segment_mode = SegmentMode::Frame;
            let pulled = ctx.pull(session, request).await?;
            ctx.check_identical(&pulled.result, 0, "main_bframes.h264")?;
            Ok((pulled, ctx.arrivals()))
        });
    let (pulled, arrivals) = run.script.expect("pulled");
    assert_eq!(arrivals.len() as u32, pulled.ack.total_segments);
    let mut indices: Vec<u32> = arrivals.iter().map(|a| a.index).collect();
    indices.sort_unstable();
    assert_eq!(indices, (0..pulled.ack.total_segments).collect::<Vec<_>>());
    // Nothing arrives before the request went out and one one-way delay passed.
    let first = arrivals.iter().map(|a| a.at).min().expect("arrivals");
    assert!(first >= pulled.requested_at + Duration::from_millis(40));
    assert!(arrivals.iter().all(|a| a.at <= pulled.finished_at));
    assert!(arrivals.windows(2).all(|w| w[0].at <= w[1].at));
}

#[test]
fn a_script_error_is_reported_not_hidden() {
    let run = SimBuilder::new(1)
        .client(ClientSpec::serving(vec![SimFile::generated("a.bin", 1000)]))
        .run(|ctx| async move {
            let session = ctx.platform.wait_for_session().await.session_id;
            ctx.pull(session, FileRequest::new("missing.bin")).await?;
            Ok(())
        });
    match run.script {
        Err(SimError::Platform(e)) => {
            assert_eq!(e.status_code(), Some(vstream::wire::StatusCode::NotFound))
        }
        other => panic!("expected a 404 refusal, got {other:?}"),
    }
}

#[test]
fn realtime_pacing_spreads_the_arrivals_over_the_video_duration() {
    use vstream::wire::Pacing;
    let run = SimBuilder::new(7)
        .congestion(Congestion::Cubic)
        .latency(Duration::from_millis(20))
        .link(INTEROP_LINK)
        .client(ClientSpec::serving(vec![SimFile::test_video(
            "main_bframes.h264",
        )]))
        .run(|ctx| async move {
            let session = ctx.platform.wait_for_session().await.session_id;
            let mut request = FileRequest::new("main_bframes.h264");
            request.segment_mode = SegmentMode::Frame;
            request.pacing = Pacing::Realtime;
            let handle = ctx.platform.request_file(session, request).await?;
            let result = handle.finished().await?;
            ctx.check_identical(&result, 0, "main_bframes.h264")?;
            Ok(ctx.arrivals())
        });
    let arrivals = run.script.expect("the realtime pull completes");
    let first = arrivals.first().expect("arrivals");
    let last = arrivals.last().expect("arrivals");
    let media = last.timestamp - first.timestamp;
    let spread = (last.at - first.at).as_secs_f64();
    // Released at media time: the spread matches the media span within a few ms.
    assert!(media > 9.0, "a 10 s clip: {media}");
    assert!(
        (spread - media).abs() < 0.05,
        "spread {spread} s, media {media} s"
    );
}
