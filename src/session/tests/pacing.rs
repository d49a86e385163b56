//! Pacing: realtime release at media time / rate, rate changes from their instant on,
//! pause and resume of the clock, BufferControl's run-ahead, and the bandwidth caps.

use std::time::{Duration, Instant};

use super::pair::Pair;
use super::playback::{ack_of, control, flow};
use crate::session::SessionConfig;
use crate::wire::{
    AdjustQuality, BufferControl, FileRequest, Pacing, Pause, PlaybackCommand, PlaybackControl,
    Resume, SegmentMode, SetRate,
};

fn realtime(p: &mut Pair, file: &str, mode: SegmentMode, rate: f64) -> Instant {
    p.latency = Duration::from_millis(1);
    let mut r = FileRequest::new(file);
    r.segment_mode = mode;
    r.pacing = Pacing::Realtime;
    r.playback_rate = rate;
    p.platform.request_file(p.now, r).unwrap();
    // The first job is issued when the client accepts the request.
    while p.jobs.is_empty() && p.step() {}
    p.job_times[0]
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// Sends a command without running the pair to the end; returns its sequence number.
fn command(p: &mut Pair, c: PlaybackCommand) -> u64 {
    p.platform.playback(p.now, PlaybackControl::new(c)).unwrap()
}

fn set_rate(rate: f64) -> PlaybackCommand {
    PlaybackCommand::SetRate(SetRate {
        rate,
        smooth_transition: false,
        maintain_audio: false,
    })
}

#[test]
fn realtime_at_rate_2_sends_a_10_s_video_in_5_s() {
    let mut p = Pair::established(SessionConfig::default());
    let t0 = realtime(&mut p, "main_bframes.h264", SegmentMode::Frame, 2.0);
    p.drive();
    assert_eq!(p.jobs.len(), 300);
    for (i, at) in p.job_times.iter().enumerate() {
        let want = i as f64 / 60.0;
        let got = secs(*at - t0);
        assert!((got - want).abs() < 1e-6, "segment {i}: {got} vs {want}");
    }
}

#[test]
fn realtime_at_rate_half_takes_twice_the_duration() {
    let mut p = Pair::established(SessionConfig::default());
    let t0 = realtime(&mut p, "baseline.h264", SegmentMode::Gop, 0.5);
    p.drive();
    let last = secs(*p.job_times.last().unwrap() - t0);
    // 4 GOPs of 1 s: the last starts at media 3 s, released 6 s after the first.
    assert!((last - 6.0).abs() < 1e-6, "{last}");
}

#[test]
fn a_rate_change_changes_the_cadence_from_the_instant_it_is_applied() {
    let mut p = Pair::established(SessionConfig::default());
    let t0 = realtime(&mut p, "baseline.h264", SegmentMode::Frame, 1.0);
    p.run_until(t0 + Duration::from_millis(1010));
    let seq = command(&mut p, set_rate(2.0));
    p.drive();
    let applied = ack_of(&p, seq).expect("acknowledged");
    assert_eq!(applied.rate, 2.0);
    // The client applied it one latency (1 ms) after it was sent, at media 1.011 s.
    let at = 1.011;
    for (i, t) in p.job_times.iter().enumerate() {
        let got = secs(*t - t0);
        let media = i as f64 / 25.0;
        let want = if media <= at {
            media
        } else {
            at + (media - at) / 2.0
        };
        assert!((got - want).abs() < 1e-6, "segment {i}: {got} vs {want}");
    }
}

#[test]
fn a_pause_freezes_the_clock_and_resume_continues_it() {
    let mut p = Pair::established(SessionConfig::default());
    let t0 = realtime(&mut p, "baseline.h264", SegmentMode::Frame, 1.0);
    p.run_until(t0 + Duration::from_millis(1010));
    command(&mut p, PlaybackCommand::Pause(Pause::default()));
    p.run_until(t0 + Duration::from_millis(3010));
    let during = p.jobs.len();
    assert_eq!(during, 26, "segments 0..=25 (media <= 1.011 s)");
    command(&mut p, PlaybackCommand::Resume(Resume::default()));
    p.drive();
    let idx: Vec<u32> = p.jobs.iter().map(|j| j.index).collect();
    assert_eq!(idx, (0..100).collect::<Vec<_>>(), "no gap, no duplicate");
    // Paused from 1.011 s to 3.011 s: everything later is 2 s late, to the microsecond.
    for (i, t) in p.job_times.iter().enumerate().skip(26) {
        let got = secs(*t - t0);
        let want = i as f64 / 25.0 + 2.0;
        assert!((got - want).abs() < 1e-6, "segment {i}: {got} vs {want}");
    }
}

#[test]
fn buffer_control_lets_realtime_sending_run_ahead() {
    let mut p = Pair::established(SessionConfig::default());
    let t0 = realtime(&mut p, "baseline.h264", SegmentMode::Frame, 1.0);
    p.run_until(t0 + Duration::from_millis(500));
    let c = PlaybackCommand::BufferControl(BufferControl {
        target_buffer_size: Some(1.0),
        max_buffer_size: None,
        prebuffer_duration: None,
    });
    let seq = command(&mut p, c);
    p.drive();
    assert_eq!(ack_of(&p, seq).unwrap().run_ahead, Some(1.0));
    // From then on, segment i goes 1 s of media early.
    for (i, t) in p.job_times.iter().enumerate() {
        let got = secs(*t - t0);
        let media = i as f64 / 25.0;
        let want = (media - 1.0).max(0.501).min(media);
        let want = if media <= 0.501 { media } else { want };
        assert!((got - want).abs() < 1e-6, "segment {i}: {got} vs {want}");
    }
}

#[test]
fn max_bandwidth_spaces_segments() {
    let mut p = Pair::established(SessionConfig::default());
    p.latency = Duration::from_millis(1);
    let mut r = FileRequest::new("data.bin");
    r.max_bandwidth = Some(8 * 1024 * 1024); // 1 MiB/s; data.bin is 1.2 MiB
    let start = p.now;
    let seq = p.request(r);
    assert!(p.accepted(seq).is_some());
    let elapsed = p.now - start;
    // 3 chunks of 512 KiB: the third may open after 1 s.
    assert!(elapsed >= Duration::from_millis(1000), "{elapsed:?}");
}

#[test]
fn adjust_quality_caps_the_send_rate_and_says_so() {
    let config = SessionConfig {
        max_in_flight_segments: 1,
        ..SessionConfig::default()
    };
    let mut p = Pair::established(config);
    p.hold_segments = true;
    let seq = p.request(FileRequest::new("data.bin"));
    assert!(p.accepted(seq).is_some());
    let c = PlaybackCommand::AdjustQuality(AdjustQuality {
        target_bitrate: Some(8_000_000),
        max_resolution: None,
        adaptive: false,
    });
    let seq = control(&mut p, c);
    let ack = ack_of(&p, seq).unwrap();
    assert_eq!(ack.bandwidth_cap, Some(8_000_000));
    flow(&mut p);
    assert_eq!(p.jobs.len(), 3);
    // Chunk 1 (512 KiB) opened under the cap: chunk 2 waits its 0.52 s.
    let gap = secs(p.job_times[2] - p.job_times[1]);
    assert!(gap >= 512.0 * 1024.0 * 8.0 / 8e6 - 1e-9, "{gap}");
}
