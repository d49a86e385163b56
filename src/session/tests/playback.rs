//! Playback commands: pause, resume, stop, seek, rate, quality, buffer, and refusals.

use std::collections::BTreeSet;

use super::pair::{videos, Pair};
use crate::session::{ClientEvent, PlatformEvent, SessionConfig, SessionError, TransferOutcome};
use crate::wire::{
    AdjustQuality, AudioHandling, BufferControl, FileRequest, Message, Pause, PauseRequest,
    PlaybackAck, PlaybackCommand, PlaybackControl, PlaybackState, RateChange, Resume,
    ResumeRequest, Seek, SeekDirection, SeekRequest, SeekType, SegmentMode, SetRate, StatusCode,
    Stop, TransferId,
};

fn ack_of(p: &Pair, seq: u64) -> Option<PlaybackAck> {
    p.platform_events.iter().find_map(|e| match e {
        PlatformEvent::PlaybackAcknowledged(a) if a.ack == seq => Some(a.clone()),
        _ => None,
    })
}

fn refusal_of(p: &Pair, seq: u64) -> Option<(StatusCode, String)> {
    p.platform_events.iter().find_map(|e| match e {
        PlatformEvent::RequestRefused { ack, report } if *ack == seq => {
            Some((report.error_code, report.error_message.clone()))
        }
        _ => None,
    })
}

fn control(p: &mut Pair, c: PlaybackCommand) -> u64 {
    let seq = p
        .platform
        .playback(p.now, PlaybackControl::new(c))
        .expect("playback");
    p.drive();
    seq
}

/// A paused-by-holding transfer of baseline.h264 in frame mode, 4 in flight.
fn held(mode: SegmentMode) -> (Pair, TransferId) {
    let config = SessionConfig {
        max_in_flight_segments: 4,
        ..SessionConfig::default()
    };
    let mut p = Pair::established(config);
    p.hold_segments = true;
    let mut r = FileRequest::new("baseline.h264");
    r.segment_mode = mode;
    let seq = p.request(r);
    let t = p.accepted(seq).unwrap().transfer_id;
    (p, t)
}

fn keyframes() -> Vec<u32> {
    let text = std::fs::read_to_string(videos().join("truth/baseline.h264.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["keyframe_indices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_u64().unwrap() as u32)
        .collect()
}

#[test]
fn pause_stops_new_segments_and_resume_continues_without_gap_or_duplicate() {
    let (mut p, t) = held(SegmentMode::Frame);
    let seq = control(&mut p, PlaybackCommand::Pause(Pause::default()));
    let a = ack_of(&p, seq).expect("pause ack");
    assert_eq!(a.state, PlaybackState::Paused);
    assert_eq!(a.transfer_id, Some(t));
    assert_eq!(a.position, 4.0 / 25.0, "the next segment to send");
    let before = p.jobs.len();
    // The streams in flight finish; nothing new opens.
    p.release_held();
    p.drive();
    assert_eq!(p.jobs.len(), before);
    let seq = control(&mut p, PlaybackCommand::Resume(Resume::default()));
    assert_eq!(ack_of(&p, seq).unwrap().state, PlaybackState::Streaming);
    p.hold_segments = false;
    p.release_held();
    p.drive();
    let idx: Vec<u32> = p.jobs_for(t).iter().map(|j| j.index).collect();
    assert_eq!(idx, (0..100).collect::<Vec<_>>());
    assert_eq!(
        p.platform_finished(t),
        vec![(TransferOutcome::Completed, true)]
    );
}

#[test]
fn standalone_pause_and_resume_requests() {
    let (mut p, t) = held(SegmentMode::Gop);
    let req = PauseRequest {
        pause: Pause::default(),
        transfer_id: Some(t),
    };
    let seq = p
        .platform
        .send_request(p.now, Message::PauseRequest(req))
        .unwrap();
    p.drive();
    assert_eq!(ack_of(&p, seq).unwrap().state, PlaybackState::Paused);
    let req = ResumeRequest {
        resume: Resume {
            from_position: Some(2.1),
            fade_in: false,
        },
        transfer_id: None,
    };
    let seq = p
        .platform
        .send_request(p.now, Message::ResumeRequest(req))
        .unwrap();
    p.drive();
    let a = ack_of(&p, seq).unwrap();
    assert_eq!(a.state, PlaybackState::Streaming);
    assert!(a.start_segment.is_some());
    assert_eq!(a.position, 2.0);
}

#[test]
fn stop_ends_the_transfer() {
    let (mut p, t) = held(SegmentMode::Frame);
    let seq = control(&mut p, PlaybackCommand::Stop(Stop::default()));
    assert_eq!(ack_of(&p, seq).unwrap().state, PlaybackState::Stopped);
    let n = p.jobs.len();
    p.hold_segments = false;
    p.release_held();
    p.drive();
    assert_eq!(p.jobs.len(), n, "no more segments");
    assert!(p.client_events.iter().any(|e| matches!(e,
        ClientEvent::TransferFinished { transfer, outcome: TransferOutcome::Stopped, .. } if *transfer == t)));
    assert_eq!(
        p.platform_finished(t),
        vec![(TransferOutcome::Stopped, false)]
    );
    // Once stopped, a seek is refused.
    let seq = control(
        &mut p,
        PlaybackCommand::Seek(Seek {
            position: 1.0,
            accurate: false,
            resume_after_seek: true,
        }),
    );
    assert_eq!(refusal_of(&p, seq).unwrap().0, StatusCode::BadRequest);
}

#[test]
fn seek_restarts_at_the_keyframe_segment_at_or_before_the_target() {
    let kf = keyframes();
    assert_eq!(kf, vec![0, 25, 50, 75]);
    for (target, expect_frame) in [(2.5, 50u32), (1.0, 25), (0.99, 0), (3.96, 75), (0.0, 0)] {
        let (mut p, t) = held(SegmentMode::Frame);
        let n = p.jobs.len();
        let seq = control(
            &mut p,
            PlaybackCommand::Seek(Seek {
                position: target,
                accurate: false,
                resume_after_seek: true,
            }),
        );
        let a = ack_of(&p, seq).unwrap();
        let expect = *kf
            .iter()
            .filter(|&&k| f64::from(k) / 25.0 <= target + 1e-9)
            .max()
            .unwrap();
        assert_eq!(expect, expect_frame);
        assert_eq!(a.start_segment, Some(expect), "target {target}");
        assert_eq!(a.position, f64::from(expect) / 25.0);
        p.hold_segments = false;
        p.release_held();
        p.drive();
        let after: Vec<u32> = p.jobs[n..].iter().map(|j| j.index).collect();
        assert_eq!(after.first(), Some(&expect), "target {target}");
        assert_eq!(after, (expect..100).collect::<Vec<_>>());
        // The platform's expected range moved: it completes once.
        let done = p.platform_finished(t);
        assert_eq!(done.len(), 1);
        assert_eq!(done[0].0, TransferOutcome::Completed);
    }
}

#[test]
fn seek_request_in_gop_mode() {
    let (mut p, t) = held(SegmentMode::Gop);
    let req = SeekRequest {
        target_position: 3.5,
        seek_type: SeekType::Keyframe,
        direction: SeekDirection::Nearest,
        max_seek_time: None,
        transfer_id: Some(t),
    };
    let seq = p
        .platform
        .send_request(p.now, Message::SeekRequest(req))
        .unwrap();
    p.drive();
    let a = ack_of(&p, seq).unwrap();
    // The segment starting with IDR 75 (3.0 s), whatever GOP size cap applies.
    assert_eq!(a.position, 3.0);
    let k = a.start_segment.unwrap();
    let n = p.jobs.len();
    p.hold_segments = false;
    p.release_held();
    p.drive();
    let first = &p.jobs[n];
    assert_eq!(first.index, k);
    assert_eq!(first.header.timestamp(), 3.0);
    assert!(first
        .header
        .flags()
        .contains(crate::wire::SegmentFlags::KEYFRAME));
    assert_eq!(p.platform_finished(t).len(), 1);
}

#[test]
fn rate_quality_and_buffer_are_acknowledged() {
    let (mut p, _t) = held(SegmentMode::Frame);
    let seq = control(
        &mut p,
        PlaybackCommand::SetRate(SetRate {
            rate: 2.0,
            smooth_transition: false,
            maintain_audio: false,
        }),
    );
    assert_eq!(ack_of(&p, seq).unwrap().rate, 2.0);
    let rc = RateChange {
        new_rate: 0.5,
        transition_duration: None,
        audio_handling: AudioHandling::Normal,
        transfer_id: None,
    };
    let seq = p
        .platform
        .send_request(p.now, Message::RateChange(rc))
        .unwrap();
    p.drive();
    let a = ack_of(&p, seq).unwrap();
    assert_eq!((a.rate, a.state), (0.5, PlaybackState::Streaming));
    let seq = control(
        &mut p,
        PlaybackCommand::AdjustQuality(AdjustQuality {
            target_bitrate: Some(1_000_000),
            max_resolution: Some("720p".into()),
            adaptive: true,
        }),
    );
    assert_eq!(ack_of(&p, seq).unwrap().state, PlaybackState::Streaming);
    let seq = control(
        &mut p,
        PlaybackCommand::BufferControl(BufferControl {
            target_buffer_size: Some(2.0),
            max_buffer_size: None,
            prebuffer_duration: None,
        }),
    );
    assert_eq!(ack_of(&p, seq).unwrap().state, PlaybackState::Streaming);
    assert_eq!(p.client.stats()["transfers"][0]["rate"], 0.5);
}

#[test]
fn bad_playback_values_are_refused_with_the_ack() {
    // No transfer yet.
    let mut p = Pair::established(SessionConfig::default());
    let seq = control(&mut p, PlaybackCommand::Pause(Pause::default()));
    assert_eq!(refusal_of(&p, seq).unwrap().0, StatusCode::BadRequest);
    let (mut p, t) = held(SegmentMode::Frame);
    for cmd in [
        PlaybackCommand::SetRate(SetRate {
            rate: 5.0,
            smooth_transition: false,
            maintain_audio: false,
        }),
        PlaybackCommand::SetRate(SetRate {
            rate: 0.1,
            smooth_transition: false,
            maintain_audio: false,
        }),
        PlaybackCommand::Seek(Seek {
            position: 100.0,
            accurate: false,
            resume_after_seek: true,
        }),
        PlaybackCommand::Seek(Seek {
            position: -1.0,
            accurate: false,
            resume_after_seek: true,
        }),
        PlaybackCommand::Resume(Resume {
            from_position: Some(1e9),
            fade_in: false,
        }),
    ] {
        let seq = control(&mut p, cmd.clone());
        assert_eq!(
            refusal_of(&p, seq).map(|r| r.0),
            Some(StatusCode::BadRequest),
            "{cmd:?}"
        );
    }
    // A refused command changed nothing.
    assert_eq!(p.client.stats()["transfers"][0]["rate"], 1.0);
    // Naming a transfer the platform does not know: refused locally.
    let mut c = PlaybackControl::new(PlaybackCommand::Pause(Pause::default()));
    c.transfer_id = TransferId::new(5);
    assert_eq!(
        p.platform.playback(p.now, c),
        Err(SessionError::NoSuchTransfer)
    );
    // Seek on a file with no time axis.
    let seq = p.request(FileRequest::new("data.bin"));
    let tb = p.accepted(seq).unwrap().transfer_id;
    let mut c = PlaybackControl::new(PlaybackCommand::Seek(Seek {
        position: 0.5,
        accurate: false,
        resume_after_seek: true,
    }));
    c.transfer_id = Some(tb);
    let seq = p.platform.playback(p.now, c).unwrap();
    p.drive();
    let (code, why) = refusal_of(&p, seq).unwrap();
    assert_eq!(code, StatusCode::BadRequest);
    assert!(why.contains("no time axis"), "{why}");
    let _ = (t, BTreeSet::<u32>::new());
}

#[test]
fn realtime_pacing_releases_segments_at_their_timestamps() {
    let mut p = Pair::established(SessionConfig::default());
    p.latency = std::time::Duration::from_millis(1);
    let mut r = FileRequest::new("baseline.h264");
    r.segment_mode = SegmentMode::Gop;
    r.pacing = crate::wire::Pacing::Realtime;
    r.playback_rate = 2.0;
    let start = p.now;
    let seq = p.request(r);
    let t = p.accepted(seq).unwrap().transfer_id;
    // 4 GOPs of 1 s at rate 2: the last released 1.5 s after the first.
    assert_eq!(p.platform_finished(t).len(), 1);
    let elapsed = p.now - start;
    assert!(
        elapsed >= std::time::Duration::from_millis(1500),
        "{elapsed:?}"
    );
    assert!(
        elapsed < std::time::Duration::from_millis(1600),
        "{elapsed:?}"
    );
}

#[test]
fn max_bandwidth_spaces_segments() {
    let mut p = Pair::established(SessionConfig::default());
    p.latency = std::time::Duration::from_millis(1);
    let mut r = FileRequest::new("data.bin");
    r.max_bandwidth = Some(8 * 1024 * 1024); // 1 MiB/s; data.bin is 1.2 MiB
    let start = p.now;
    let seq = p.request(r);
    assert!(p.accepted(seq).is_some());
    let elapsed = p.now - start;
    // 3 chunks of 512 KiB: the third may open after 1 s.
    assert!(
        elapsed >= std::time::Duration::from_millis(1000),
        "{elapsed:?}"
    );
}

fn truth(name: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(videos().join(format!("truth/{name}.json"))).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Seeks over a grid of targets on every H.264 test file (frame and GOP modes) and on the
/// MP4 (fixed chunks): the restart is the keyframe of the truth files at or before the
/// target.
#[test]
fn seeks_match_the_truth_keyframes_of_every_test_file() {
    let mut checked = 0;
    for (file, mode) in [
        ("baseline.h264", SegmentMode::Frame),
        ("main_bframes.h264", SegmentMode::Frame),
        ("main_bframes.h264", SegmentMode::Gop),
        ("high_slices.h264", SegmentMode::Frame),
        ("novui.h264", SegmentMode::Gop),
        ("aud.h264", SegmentMode::Frame),
        ("av.mp4", SegmentMode::Auto),
    ] {
        let v = truth(file);
        let fps = v["frame_rate"].as_f64().unwrap();
        let frames = v["frames"].as_u64().unwrap();
        let kf: Vec<u64> = v["keyframe_indices"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k.as_u64().unwrap())
            .collect();
        let duration = frames as f64 / fps;
        let config = SessionConfig {
            max_in_flight_segments: 1,
            ..SessionConfig::default()
        };
        let mut p = Pair::established(config);
        p.hold_segments = true;
        let mut r = FileRequest::new(file);
        r.segment_mode = mode;
        let seq = p.request(r);
        let a = p.accepted(seq).unwrap();
        let mut t = 0.0;
        while t < duration {
            let frame = (t * fps + 1e-9).floor() as u64;
            let k = *kf.iter().filter(|&&k| k <= frame).max().unwrap();
            let c = PlaybackControl::new(PlaybackCommand::Seek(Seek {
                position: t,
                accurate: false,
                resume_after_seek: true,
            }));
            let seq = p.platform.playback(p.now, c).unwrap();
            p.drive();
            let ack = ack_of(&p, seq).unwrap_or_else(|| panic!("{file} seek {t}"));
            let start = ack.start_segment.unwrap();
            if a.segment_mode == SegmentMode::Fixed {
                let offsets: Vec<u64> = v["keyframe_byte_offsets"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|o| o.as_u64().unwrap())
                    .collect();
                let pos = kf.iter().position(|&x| x == k).unwrap();
                let size = a.segment_size.unwrap();
                assert_eq!(u64::from(start), offsets[pos] / size, "{file} seek {t}");
            } else {
                let want = k as f64 / fps;
                assert!(
                    (ack.position - want).abs() < 1e-6,
                    "{file} {mode:?} seek {t}: {} vs {want}",
                    ack.position
                );
                if mode == SegmentMode::Frame {
                    assert_eq!(u64::from(start), k, "{file} seek {t}");
                }
            }
            checked += 1;
            t += 0.37;
        }
    }
    assert!(checked > 60, "{checked}");
}
