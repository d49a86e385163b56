//! Playback commands: pause, resume, stop, seek, rate, quality, buffer, and refusals.

use super::pair::{videos, Pair};
use crate::session::{ClientEvent, PlatformEvent, SessionConfig, SessionError, TransferOutcome};
use crate::wire::{
    AdjustQuality, AudioHandling, BufferControl, FileRequest, JsonEnvelope, Message, Pause,
    PauseRequest, PlaybackAck, PlaybackCommand, PlaybackControl, PlaybackState, RateChange, Resume,
    ResumeRequest, Seek, SegmentMode, SetRate, StatusCode, Stop, Timestamp, TransferId,
};

pub(super) fn ack_of(p: &Pair, seq: u64) -> Option<PlaybackAck> {
    p.platform_events.iter().find_map(|e| match e {
        PlatformEvent::PlaybackAcknowledged(a) if a.ack == seq => Some(a.clone()),
        _ => None,
    })
}

pub(super) fn refusal_of(p: &Pair, seq: u64) -> Option<(StatusCode, String)> {
    p.platform_events.iter().find_map(|e| match e {
        PlatformEvent::RequestRefused {
            request_seq: ack,
            report,
        } if *ack == seq => Some((report.error_code, report.error_message.clone())),
        _ => None,
    })
}

pub(super) fn control(p: &mut Pair, c: PlaybackCommand) -> u64 {
    let seq = p
        .platform
        .playback(p.now, PlaybackControl::new(c))
        .expect("playback");
    p.drive();
    seq
}

/// Lets the held segment jobs go and every later one, and runs until idle.
pub(super) fn flow(p: &mut Pair) {
    p.hold_segments = false;
    p.release_held();
    p.drive();
}

/// Delivers the held segment jobs (they finish), keeping later ones held.
pub(super) fn finish_in_flight(p: &mut Pair) {
    p.release_held();
    p.drive();
}

pub(super) fn seek(position: f64) -> PlaybackCommand {
    PlaybackCommand::Seek(Seek {
        position,
        accurate: false,
        resume_after_seek: true,
    })
}

/// What the client answers to `message` (injected as sequence number `seq`).
pub(super) fn client_reply(p: &mut Pair, seq: u64, message: &Message) -> Message {
    let session = p.client.session_id().unwrap_or_default();
    let env = JsonEnvelope::wrap(message, seq, Timestamp::UNIX_EPOCH, session);
    let before = p.to_platform.len();
    p.client.handle_message(p.now, env);
    p.drive();
    let sent = super::messages(&p.to_platform[before..]);
    sent.into_iter()
        .find(|m| matches!(m, Message::StatusResponse(_) | Message::ErrorReport(_)))
        .expect("a reply")
}

/// A paused-by-holding transfer of baseline.h264 in frame mode, 4 in flight.
pub(super) fn held(mode: SegmentMode) -> (Pair, TransferId) {
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

pub(super) fn keyframes() -> Vec<u32> {
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
    let a = ack_of(&p, seq).expect("a pause is acknowledged at once");
    assert_eq!(a.state, PlaybackState::Paused);
    assert_eq!(a.transfer_id, Some(t));
    assert_eq!(a.position, 4.0 / 25.0, "the next segment to send");
    let before = p.jobs.len();
    // The streams in flight finish; nothing new opens.
    finish_in_flight(&mut p);
    assert_eq!(p.jobs.len(), before);
    let seq = control(&mut p, PlaybackCommand::Resume(Resume::default()));
    assert_eq!(ack_of(&p, seq).unwrap().state, PlaybackState::Streaming);
    flow(&mut p);
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
    assert!(
        ack_of(&p, seq).is_none(),
        "waits for the segments in flight"
    );
    finish_in_flight(&mut p);
    let a = ack_of(&p, seq).unwrap();
    assert_eq!(a.state, PlaybackState::Streaming);
    assert!(a.start_segment.is_some());
    assert_eq!(a.position, 2.0);
}

#[test]
fn stop_ends_the_transfer_and_hands_the_client_statistics_to_the_platform() {
    let (mut p, t) = held(SegmentMode::Frame);
    let seq = control(&mut p, PlaybackCommand::Stop(Stop::default()));
    assert!(
        ack_of(&p, seq).is_none(),
        "waits for the segments in flight"
    );
    let n = p.jobs.len();
    flow(&mut p);
    let a = ack_of(&p, seq).unwrap();
    assert_eq!(a.state, PlaybackState::Stopped);
    assert_eq!(a.position, 4.0 / 25.0, "where it stopped");
    let stats = a
        .statistics
        .clone()
        .expect("send_statistics defaults to true");
    assert_eq!(stats["segments_sent"], 4, "{stats}");
    assert_eq!(p.jobs.len(), n, "no more segments");
    assert!(p.client_events.iter().any(|e| matches!(e,
        ClientEvent::TransferFinished { transfer, outcome: TransferOutcome::Stopped, .. } if *transfer == t)));
    assert_eq!(
        p.platform_finished(t),
        vec![(TransferOutcome::Stopped, false)]
    );
    // What was in flight at the stop was written before the output finished.
    assert_eq!(p.outputs[&t].segments.len(), 4);
    let status = p.platform.transfers().into_iter().find(|s| s.transfer == t);
    assert_eq!(status.unwrap().client_statistics, Some(stats));
    // Once stopped, a seek is refused.
    let seq = control(&mut p, seek(1.0));
    assert_eq!(refusal_of(&p, seq).unwrap().0, StatusCode::BadRequest);
}

#[test]
fn stop_without_statistics_carries_none() {
    let (mut p, _t) = held(SegmentMode::Frame);
    let stop = Stop {
        send_statistics: false,
        ..Stop::default()
    };
    let seq = control(&mut p, PlaybackCommand::Stop(stop));
    flow(&mut p);
    assert_eq!(ack_of(&p, seq).unwrap().statistics, None);
}

#[test]
fn rate_quality_and_buffer_are_acknowledged_with_what_was_applied() {
    let (mut p, _t) = held(SegmentMode::Frame);
    let seq = control(
        &mut p,
        PlaybackCommand::SetRate(SetRate {
            rate: 2.0,
            smooth_transition: true,
            maintain_audio: false,
        }),
    );
    let a = ack_of(&p, seq).unwrap();
    assert_eq!(a.rate, 2.0);
    assert_eq!(a.not_applied, vec!["smooth_transition".to_string()]);
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
    assert!(a.not_applied.is_empty());
    let seq = control(
        &mut p,
        PlaybackCommand::AdjustQuality(AdjustQuality {
            target_bitrate: Some(1_000_000),
            max_resolution: Some("720p".into()),
            adaptive: true,
        }),
    );
    let a = ack_of(&p, seq).unwrap();
    assert_eq!(a.state, PlaybackState::Streaming);
    assert_eq!(a.bandwidth_cap, Some(1_000_000));
    assert_eq!(a.not_applied, vec!["max_resolution", "adaptive"]);
    let seq = control(
        &mut p,
        PlaybackCommand::BufferControl(BufferControl {
            target_buffer_size: Some(2.0),
            max_buffer_size: Some(1.5),
            prebuffer_duration: Some(1.0),
        }),
    );
    let a = ack_of(&p, seq).unwrap();
    assert_eq!(a.run_ahead, Some(1.5), "the target, at most the maximum");
    assert_eq!(a.bandwidth_cap, Some(1_000_000), "still in force");
    assert_eq!(a.not_applied, vec!["prebuffer_duration"]);
    let stats = p.client.stats();
    assert_eq!(stats["transfers"][0]["rate"], 0.5);
    assert_eq!(stats["transfers"][0]["bandwidth_cap"], 1_000_000);
}

#[test]
fn bad_playback_values_are_refused_with_the_ack() {
    // No transfer yet.
    let mut p = Pair::established(SessionConfig::default());
    let seq = control(&mut p, PlaybackCommand::Pause(Pause::default()));
    assert_eq!(refusal_of(&p, seq).unwrap().0, StatusCode::BadRequest);
    let (mut p, t) = held(SegmentMode::Frame);
    let rate = |rate| {
        PlaybackCommand::SetRate(SetRate {
            rate,
            smooth_transition: false,
            maintain_audio: false,
        })
    };
    let bad = [
        rate(5.0),
        rate(0.1),
        rate(f64::NAN),
        seek(100.0),
        seek(-1.0),
        PlaybackCommand::Resume(Resume {
            from_position: Some(1e9),
            fade_in: false,
        }),
        PlaybackCommand::AdjustQuality(AdjustQuality {
            target_bitrate: Some(0),
            max_resolution: None,
            adaptive: false,
        }),
    ];
    for (n, cmd) in bad.into_iter().enumerate() {
        // The platform refuses what it can check itself before sending...
        let c = PlaybackControl::new(cmd.clone());
        let local = p.platform.playback(p.now, c.clone());
        if let Err(e) = &local {
            assert!(matches!(e, SessionError::Invalid(_)), "{cmd:?}: {e:?}");
        }
        // ...and the client refuses it too, with the ack, when it arrives anyway.
        let reply = client_reply(&mut p, 9000 + n as u64, &Message::PlaybackControl(c));
        match reply {
            Message::ErrorReport(r) => {
                assert_eq!(r.error_code, StatusCode::BadRequest, "{cmd:?}");
                assert_eq!(r.ack(), Some(9000 + n as u64), "{cmd:?}");
            }
            other => panic!("{cmd:?} was not refused: {other:?}"),
        }
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
    let mut c = PlaybackControl::new(seek(0.5));
    c.transfer_id = Some(tb);
    let seq = p.platform.playback(p.now, c).unwrap();
    p.drive();
    let (code, why) = refusal_of(&p, seq).unwrap();
    assert_eq!(code, StatusCode::BadRequest);
    assert!(why.contains("no time axis"), "{why}");
    assert_ne!(t, tb);
}

#[test]
fn acknowledgements_of_one_transfer_keep_command_order() {
    let (mut p, _t) = held(SegmentMode::Frame);
    let s1 = control(&mut p, seek(2.0));
    let s2 = control(&mut p, PlaybackCommand::Pause(Pause::default()));
    assert!(ack_of(&p, s1).is_none() && ack_of(&p, s2).is_none());
    finish_in_flight(&mut p);
    let order: Vec<u64> = super::statuses(&p.to_platform)
        .iter()
        .filter_map(|r| r.ack())
        .filter(|a| *a == s1 || *a == s2)
        .collect();
    assert_eq!(order, vec![s1, s2]);
    assert_eq!(ack_of(&p, s2).unwrap().state, PlaybackState::Paused);
}
