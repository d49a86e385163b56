//! The specification's log lines are part of the contract: both ends of a simulated upload
//! write them (receiver's five-line report, sender's completion line), and a connection
//! lost past the idle timeout is logged as such. One test per file: tracing-test installs
//! one global subscriber for the whole test binary.

use std::time::Duration;
use tracing_test::traced_test;
use vstream::media::SegmentMode;
use vstream::net::Congestion;
use vstream::sim::{ClientSpec, SimBuilder, SimFile};
use vstream::wire::FileRequest;

fn count(logs: &[&str], text: &str) -> usize {
    logs.iter().filter(|l| l.contains(text)).count()
}

#[traced_test]
#[test]
fn a_simulated_upload_writes_the_specification_log_lines_on_both_ends() {
    let run = SimBuilder::new(21)
        .congestion(Congestion::Cubic)
        .latency(Duration::from_millis(10))
        .client(ClientSpec::serving(vec![SimFile::test_video(
            "baseline.h264",
        )]))
        .run(|ctx| async move {
            let session = ctx.platform.wait_for_session().await.session_id;
            let mut request = FileRequest::new("baseline.h264");
            request.segment_mode = SegmentMode::Frame;
            let pulled = ctx.pull(session, request).await?;
            ctx.check_identical(&pulled.result, 0, "baseline.h264")?;
            Ok((session, pulled.ack.total_segments))
        });
    let (session, segments) = run.script.expect("the upload completes");
    logs_assert(|logs| {
        let checks = [
            // The receiver's report (specification, 接收端完成报告), once, verified.
            (
                format!("File reception completed for session {session}"),
                1,
            ),
            (format!("Segments: {segments} total ({segments} video, 0 audio)"), 1),
            ("(verified)".to_string(), 1),
            // One receiver line per segment, one sender line per frame.
            ("Received video segment".to_string(), segments as usize),
            ("Transmitted H.264 frame".to_string(), segments as usize),
            // The sender's completion line (发送端完成报告).
            (
                format!("H.264 frame-level transmission completed for session {session} ({segments} frames"),
                1,
            ),
        ];
        let wrong: Vec<String> = checks
            .iter()
            .map(|(text, want)| (text, *want, count(logs, text)))
            .filter(|(_, want, got)| got != want)
            .map(|(text, want, got)| format!("{got} lines contain {text:?}, expected {want}"))
            .collect();
        if wrong.is_empty() {
            Ok(())
        } else {
            Err(wrong.join("; "))
        }
    });
}

#[traced_test]
#[test]
fn a_connection_lost_past_the_idle_timeout_is_logged_as_timed_out() {
    let run = SimBuilder::new(22)
        .congestion(Congestion::Cubic)
        .latency(Duration::from_millis(15))
        .link(vstream::sim::scenarios::INTEROP_LINK)
        .partition(Duration::from_secs(1), Duration::from_secs(40))
        .client(ClientSpec::serving(vec![SimFile::generated(
            "cut.bin", 3_000_000,
        )]))
        .run(|ctx| async move {
            let session = ctx.platform.wait_for_session().await.session_id;
            let pulled = ctx.pull(session, FileRequest::new("cut.bin")).await?;
            Ok((session, pulled.result.outcome))
        });
    let (session, outcome) = run.script.expect("the pull ends");
    assert_eq!(outcome, vstream::session::TransferOutcome::ConnectionLost);
    assert!(logs_contain(&format!("session {session} ended: timed out")));
    assert!(logs_contain("File reception completed for session"));
    assert!(logs_contain("(unverified)"));
}
