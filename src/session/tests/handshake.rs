//! Handshake, file list, statistics, session end, garbage.

use std::time::Duration;

use uuid::Uuid;

use super::pair::Pair;
use super::{messages, reports, statuses};
use crate::session::{
    ClientAction, ClientEvent, ClientSession, PlatformAction, PlatformEvent, PlatformSession,
    SessionConfig, SessionError, TransferOutcome,
};
use crate::wire::{
    Ack, FileListQuery, FileRequest, JsonEnvelope, Message, MessageType, ProtocolVersion,
    StatsRequest, StatusCode, StatusResponse, Timestamp, WireError,
};

fn env(m: &Message, seq: u64) -> JsonEnvelope {
    JsonEnvelope::wrap(m, seq, Timestamp::UNIX_EPOCH, Uuid::nil())
}

#[test]
fn handshake_assigns_the_session_id() {
    let mut p = Pair::new(SessionConfig::default());
    p.drive();
    let id = Uuid::from_u128(0x5e55_1011);
    assert_eq!(p.client.session_id(), Some(id));
    assert!(p.client.is_established() && p.platform.is_established());
    // Client: VersionNegotiation (seq 1) then SessionStart (seq 2), nil session id.
    let sent = &p.to_platform;
    assert_eq!(sent[0].message_type, MessageType::VersionNegotiation);
    assert_eq!(sent[0].sequence_number, 1);
    assert_eq!(sent[0].payload, vec![1, 0, 0]);
    assert_eq!(sent[1].message_type, MessageType::SessionStart);
    assert_eq!(sent[1].sequence_number, 2);
    assert!(sent[0].session_id.is_nil() && sent[1].session_id.is_nil());
    // Platform: 200 {"ack":1}, then 200 {"ack":2,"session_id":id} in an envelope naming id.
    let st = statuses(&p.to_client);
    assert_eq!(st[0].code, StatusCode::Success);
    assert_eq!(
        Ack::from_status_response(&st[0]).unwrap(),
        Ack {
            ack: 1,
            session_id: None
        }
    );
    assert_eq!(
        Ack::from_status_response(&st[1]).unwrap(),
        Ack {
            ack: 2,
            session_id: Some(id)
        }
    );
    assert_eq!(p.to_client[1].session_id, id);
    assert!(p
        .client_events
        .iter()
        .any(|e| matches!(e, ClientEvent::SessionEstablished { session_id } if *session_id == id)));
    assert!(p.platform_events.iter().any(
        |e| matches!(e, PlatformEvent::SessionEstablished { session_id, .. } if *session_id == id)
    ));
    // From now on the client writes the id.
    p.client.end_session(p.now);
    p.drain();
    assert_eq!(p.to_platform.last().unwrap().session_id, id);
}

#[test]
fn reconnecting_client_names_its_previous_session() {
    let old = Uuid::from_u128(77);
    let mut p = Pair::with_ids(SessionConfig::default(), old, Some(old));
    p.drive();
    assert_eq!(p.to_platform[1].session_id, old);
    assert_eq!(p.client.session_id(), Some(old));
    assert_eq!(
        p.platform.requested_session(),
        None,
        "re-attached by the driver"
    );
    // A platform that no longer holds it assigns a new id; the client adopts it.
    let new = Uuid::from_u128(78);
    let mut p = Pair::with_ids(SessionConfig::default(), new, Some(old));
    p.drive();
    assert_eq!(p.platform.requested_session(), Some(old));
    assert_eq!(p.client.session_id(), Some(new));
    // One whose registry holds it re-attaches it: the machine takes the id (D52).
    let mut p = Pair::with_ids(SessionConfig::default(), new, Some(old));
    p.registry.push(old);
    p.drive();
    assert_eq!(p.platform.session_id(), old);
    assert_eq!(p.client.session_id(), Some(old));
    assert!(p.platform_events.iter().any(|e| matches!(e,
        PlatformEvent::SessionEstablished { session_id, reattached: true } if *session_id == old)));
}

#[test]
fn version_mismatch_is_refused_with_1008_and_close() {
    let now = std::time::Instant::now();
    let mut platform = PlatformSession::new(SessionConfig::default(), now, Uuid::from_u128(1));
    platform.handle_message(
        now,
        env(
            &Message::VersionNegotiation(ProtocolVersion::new(2, 0, 0)),
            1,
        ),
    );
    let mut sent = Vec::new();
    let mut closed = None;
    while let Some(a) = platform.poll_action() {
        match a {
            PlatformAction::SendControl(e) => sent.push(e),
            PlatformAction::Close { code, .. } => closed = Some(code),
            other => panic!("unexpected {other:?}"),
        }
    }
    let st = statuses(&sent);
    assert_eq!(st.len(), 1);
    assert_eq!(st[0].code, StatusCode::ProtocolVersionMismatch);
    assert_eq!(st[0].ack(), Some(1));
    assert_eq!(closed, Some(StatusCode::ProtocolVersionMismatch));
    assert!(
        matches!(platform.poll_event(), Some(PlatformEvent::VersionRefused { theirs }) if theirs == "2.0.0")
    );
    assert!(!platform.is_established());

    // The client side of a refusal: HandshakeRefused and Close.
    let mut client = ClientSession::new(SessionConfig::default(), now, None);
    while client.poll_action().is_some() {}
    let r = StatusResponse::new(StatusCode::ProtocolVersionMismatch, r#"{"ack":1}"#);
    client.handle_message(now, env(&Message::StatusResponse(r), 1));
    assert!(matches!(
        client.poll_action(),
        Some(ClientAction::Close {
            code: StatusCode::ProtocolVersionMismatch,
            ..
        })
    ));
    assert!(matches!(
        client.poll_event(),
        Some(ClientEvent::HandshakeRefused {
            code: StatusCode::ProtocolVersionMismatch
        })
    ));
    assert!(!client.is_established());
}

#[test]
fn a_compatible_minor_version_is_accepted() {
    let now = std::time::Instant::now();
    let mut platform = PlatformSession::new(SessionConfig::default(), now, Uuid::from_u128(1));
    platform.handle_message(
        now,
        env(
            &Message::VersionNegotiation(ProtocolVersion::new(1, 3, 9)),
            1,
        ),
    );
    let Some(PlatformAction::SendControl(e)) = platform.poll_action() else {
        panic!()
    };
    assert_eq!(statuses(&[e])[0].code, StatusCode::Success);
}

#[test]
fn out_of_order_handshake_is_answered_400() {
    let now = std::time::Instant::now();
    let mut platform = PlatformSession::new(SessionConfig::default(), now, Uuid::from_u128(1));
    platform.handle_message(
        now,
        env(
            &Message::SessionStart(crate::wire::SessionStart::client_ready()),
            1,
        ),
    );
    let Some(PlatformAction::SendControl(e)) = platform.poll_action() else {
        panic!()
    };
    let r = &reports(&[e])[0];
    assert_eq!((r.error_code, r.ack()), (StatusCode::BadRequest, Some(1)));
    assert!(!platform.is_established());
    assert_eq!(platform.query_files(now, None), Err(SessionError::NotReady));
}

#[test]
fn file_list_round_trip() {
    let mut p = Pair::established(SessionConfig::default());
    let seq = p.platform.query_files(p.now, Some("h264".into())).unwrap();
    p.drive();
    let files = p
        .platform_events
        .iter()
        .find_map(|e| match e {
            PlatformEvent::FileList {
                request_seq: ack,
                files,
            } if *ack == seq => Some(files.clone()),
            _ => None,
        })
        .expect("FileList");
    assert!(files.len() >= 5);
    assert!(files.iter().all(|f| f.file_path.contains("h264")));
}

#[test]
fn stats_request_is_answered_with_the_ack_and_figures() {
    let mut p = Pair::established(SessionConfig::default());
    let ack = p.request(FileRequest::new("baseline.h264"));
    let t = p.accepted(ack).unwrap().transfer_id;
    let seq = p
        .platform
        .send_request(
            p.now,
            Message::StatsRequest(StatsRequest { transfer_id: None }),
        )
        .unwrap();
    p.drive();
    let stats = p
        .platform_events
        .iter()
        .find_map(|e| match e {
            PlatformEvent::Stats {
                request_seq: ack,
                stats,
            } if *ack == seq => Some(stats.clone()),
            _ => None,
        })
        .expect("Stats");
    assert_eq!(stats["session_id"], p.platform.session_id().to_string());
    let tr = &stats["transfers"][0];
    assert_eq!(tr["transfer_id"], t.to_string());
    assert_eq!(tr["segments_sent"], tr["segments_total"]);
    assert_eq!(tr["state"], "completed");
    assert_eq!(tr["rate"], 1.0);
    // The wire reply carries the ack.
    let st = statuses(&p.to_platform);
    assert!(st.iter().any(|s| s.ack() == Some(seq)));
    // The client's stats() is the same object without ack.
    assert_eq!(
        p.client.stats()["transfers"][0]["transfer_id"],
        t.to_string()
    );
    // send_request refuses what is not a request.
    assert!(matches!(
        p.platform.send_request(p.now, Message::SessionEnd),
        Err(SessionError::Invalid(_))
    ));
}

#[test]
fn session_end_finishes_open_transfers_as_connection_lost() {
    let mut p = Pair::established(SessionConfig::default());
    p.hold_segments = true;
    let ack = p.request(FileRequest::new("baseline.h264"));
    let t = p.accepted(ack).unwrap().transfer_id;
    p.client.end_session(p.now);
    p.drive();
    assert!(p
        .platform_events
        .iter()
        .any(|e| matches!(e, PlatformEvent::SessionEnded)));
    assert_eq!(
        p.platform_finished(t),
        vec![(TransferOutcome::ConnectionLost, false)]
    );
    assert!(!p.platform.is_established());
    assert_eq!(
        p.platform.query_files(p.now, None),
        Err(SessionError::Closed)
    );
}

#[test]
fn garbage_is_answered_400_and_the_session_lives_on() {
    let mut p = Pair::established(SessionConfig::default());
    let before = p.to_client.len();
    p.platform
        .handle_bad_stream(p.now, WireError::UnknownStreamType(0x55));
    p.client
        .handle_bad_stream(p.now, WireError::UnknownStreamType(0x66));
    p.drive();
    let r = reports(&p.to_client[before..]);
    assert_eq!(r[0].error_code, StatusCode::BadRequest);
    assert!(reports(&p.to_platform)
        .iter()
        .any(|r| r.error_code == StatusCode::BadRequest));
    // A bad payload in a good envelope: 400 naming its sequence number.
    let mut bad = env(&Message::FileListQuery(FileListQuery { filter: None }), 99);
    bad.payload = b"[1,2".to_vec();
    p.client.handle_message(p.now, bad);
    p.drain();
    let last = reports(&p.to_platform).pop().unwrap();
    assert_eq!(
        (last.error_code, last.ack()),
        (StatusCode::BadRequest, Some(99))
    );
    // Still working.
    let seq = p.platform.query_files(p.now, None).unwrap();
    p.drive();
    assert!(p
        .platform_events
        .iter()
        .any(|e| matches!(e, PlatformEvent::FileList { request_seq: ack, .. } if *ack == seq)));
    assert!(p.client.is_established());
}

#[test]
fn messages_not_for_the_client_are_refused_with_ack() {
    let mut p = Pair::established(SessionConfig::default());
    for (i, m) in [
        Message::SessionEnd,
        Message::FileListResponse(crate::wire::FileListResponse {
            files: vec![],
            ack: None,
        }),
        Message::VersionNegotiation(ProtocolVersion::CURRENT),
        Message::StatusResponse(StatusResponse::new(StatusCode::Success, "{}")),
    ]
    .into_iter()
    .enumerate()
    {
        let seq = 500 + i as u64;
        p.client.handle_message(p.now, env(&m, seq));
        p.drain();
        let r = reports(&p.to_platform).pop().unwrap();
        assert_eq!(
            (r.error_code, r.ack()),
            (StatusCode::BadRequest, Some(seq)),
            "{m:?}"
        );
    }
    assert!(p.client.is_established());
    let _ = messages(&p.to_platform);
}

#[test]
fn requests_before_the_handshake_are_refused() {
    let now = std::time::Instant::now();
    let mut client = ClientSession::new(SessionConfig::default(), now, None);
    while client.poll_action().is_some() {}
    client.handle_message(
        now,
        env(&Message::FileRequest(FileRequest::new("a.h264")), 3),
    );
    let Some(ClientAction::SendControl(e)) = client.poll_action() else {
        panic!()
    };
    let r = &reports(&[e])[0];
    assert_eq!((r.error_code, r.ack()), (StatusCode::BadRequest, Some(3)));
    let _ = Duration::ZERO;
}

#[test]
fn requests_naming_an_unknown_transfer_are_refused_locally() {
    use crate::wire::{Pause, PauseRequest, TransferId};
    let mut p = Pair::established(SessionConfig::default());
    let unknown = TransferId::new(42);
    let m = Message::PauseRequest(PauseRequest {
        pause: Pause::default(),
        transfer_id: unknown,
    });
    assert_eq!(
        p.platform.send_request(p.now, m),
        Err(SessionError::NoSuchTransfer)
    );
    let m = Message::StatsRequest(StatsRequest {
        transfer_id: unknown,
    });
    assert_eq!(
        p.platform.send_request(p.now, m),
        Err(SessionError::NoSuchTransfer)
    );
    p.drain();
    assert!(p
        .to_client
        .iter()
        .all(|e| e.message_type != MessageType::PauseRequest));
}
