//! `vstream platform --pull`: pull one file from the first client, run the playback
//! script against it, print the report (and every command's acknowledgement) and decide
//! the exit status.

use super::platform::PlatformArgs;
use anyhow::{bail, Context, Result};
use serde_json::json;
use std::io::Write;
use tokio::sync::watch;
use vstream::platform::{
    run_script, Platform, ScriptTarget, StepOutcome, StepReport, TransferResult,
};
use vstream::session::TransferOutcome;
use vstream::wire::FileRequest;

/// What a pull gave: the transfer's result, its segment count and the script's steps.
pub(crate) struct Pulled {
    pub(crate) result: TransferResult,
    pub(crate) total_segments: u32,
    pub(crate) steps: Vec<StepReport>,
}

/// Requests the file, runs the script from the acknowledgement on, waits for the end.
pub(crate) async fn pull_one(
    platform: &Platform,
    args: &PlatformArgs,
    path: String,
) -> Result<Pulled> {
    if let Some(resumed) = platform.wait_for_unfinished(&path) {
        // A restarted platform: the journal in --out names this file; it is asked for
        // again when its client comes back (D65). The script ran with the first attempt.
        tracing::info!(
            "{path} is unfinished in the output folder: waiting for its client to resume it"
        );
        let result = resumed
            .finished()
            .await
            .with_context(|| format!("receiving {path}"))?;
        let total_segments = result.report.file_segments;
        return Ok(Pulled {
            result,
            total_segments,
            steps: Vec::new(),
        });
    }
    let session = match args.security.pull_device() {
        Some(device) => {
            tracing::info!("waiting for device {device} to pull {path}");
            platform.wait_for_device(device).await.session_id
        }
        None => {
            tracing::info!("waiting for a client to pull {path}");
            platform.wait_for_session().await.session_id
        }
    };
    let mut request = FileRequest::new(path.clone());
    request.segment_mode = args.mode;
    request.seek_position = args.seek;
    request.pacing = args.pacing;
    request.playback_rate = args.rate;
    request.max_bandwidth = args.max_bandwidth;
    let handle = platform
        .request_file(session, request)
        .await
        .with_context(|| format!("requesting {path}"))?;
    let target = ScriptTarget {
        session,
        transfer: Some(handle.ack.transfer_id),
        start: tokio::time::Instant::now(),
    };
    let total_segments = handle.ack.total_segments;
    let shown = super::progress::PullProgress::start(platform, session, &handle.ack, args.quiet);
    let (ended_tx, ended) = watch::channel(false);
    let script = args.script.clone().unwrap_or_default();
    let as_json = args.json;
    let steps = async {
        run_script(platform, target, &script, ended, |step| {
            print_step(step, as_json)
        })
        .await
    };
    let finished = async {
        let result = handle.finished().await;
        let _ = ended_tx.send(true);
        result
    };
    let (result, steps) = tokio::join!(finished, steps);
    match &result {
        Ok(r) => shown.stop(
            r.outcome.name(),
            r.report.figures.bytes,
            r.report.figures.total_segments,
        ),
        Err(_) => shown.stop("failed", 0, 0),
    }
    let result = result.with_context(|| format!("receiving {path}"))?;
    Ok(Pulled {
        result,
        total_segments,
        steps,
    })
}

/// Each acknowledgement as it comes: on stdout, or on stderr when stdout carries JSON.
fn print_step(step: &StepReport, as_json: bool) {
    let line = step.line();
    if as_json {
        eprintln!("{line}");
    } else {
        println!("{line}");
        let _ = std::io::stdout().flush();
    }
}

/// Prints the report: one JSON object, or the text report.
pub(crate) fn print_result(p: &Pulled, as_json: bool) -> Result<()> {
    let (result, r) = (&p.result, &p.result.report);
    if !as_json {
        print!("{}", r.render());
        return Ok(());
    }
    let f = &r.figures;
    let playback: Vec<serde_json::Value> = p.steps.iter().map(StepReport::to_json).collect();
    let value = json!({
        "file_path": r.file_path,
        "session_id": r.session_id,
        "transfer_id": r.transfer_id,
        "outcome": r.outcome,
        "bytes": result.file.size,
        "received_bytes": f.bytes,
        "segments": f.total_segments,
        "total_segments": p.total_segments,
        "video_segments": f.video_segments,
        "audio_segments": f.audio_segments,
        "frames": r.frames,
        "keyframes": r.keyframes,
        "sha256_ok": result.sha256_ok,
        "expected_checksum": r.expected_checksum,
        "actual_checksum": r.actual_checksum,
        "output": r.output,
        "debug_file": r.debug_file,
        "report_file": r.report_file,
        "total_secs": f.total_secs,
        "first_segment_secs": f.first_segment_secs,
        "reception_secs": f.reception_secs,
        "overall_mbps": f.overall_mbps,
        "peak_mbps": f.peak_mbps,
        "avg_segment_ms": f.avg_segment_ms,
        "avg_segment_kb": f.avg_segment_kb,
        "efficiency_pct": f.efficiency_pct,
        "index_ranges": r.index_ranges,
        "media_ranges": r.media_ranges,
        "client_statistics": r.client_statistics,
        "resumed": r.resumed,
        "resent_bytes": r.resent_bytes,
        "playback": playback,
    });
    println!("{}", serde_json::to_string(&value)?);
    Ok(())
}

/// The exit verdict (docs: `vstream platform --help`, README "Playback"):
/// - every scripted command was acknowledged, or skipped because the transfer had ended;
/// - the transfer completed, or was stopped by the script's own `stop`;
/// - when the segments received cover the whole file, its SHA-256 matches; when a seek
///   or a stop left parts out, what arrived is written in index order and the report
///   lists the ranges (no whole-file checksum can match a part).
pub(crate) fn check(p: &Pulled) -> Result<()> {
    let r = &p.result.report;
    if let Some(refused) = p
        .steps
        .iter()
        .find(|s| matches!(s.outcome, StepOutcome::Refused { .. }))
    {
        bail!(
            "a scripted command was not acknowledged: {}",
            refused.line()
        );
    }
    let stopped_by_script = p.steps.iter().any(|s| {
        matches!(&s.outcome, StepOutcome::Acknowledged(a) if a.state == vstream::wire::PlaybackState::Stopped)
    });
    match p.result.outcome {
        TransferOutcome::Completed => {}
        TransferOutcome::Stopped if stopped_by_script => {}
        other => bail!("{} did not arrive completely ({other:?})", r.file_path),
    }
    if r.is_whole() && !p.result.sha256_ok {
        bail!(
            "{} arrived but its SHA-256 does not match the client's checksum",
            r.file_path
        );
    }
    Ok(())
}
