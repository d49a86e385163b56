//! The admin HTTP API end to end: a platform on loopback QUIC with a real client, its
//! admin service on loopback HTTP, driven with an HTTP client. Every endpoint, bad input
//! (unknown ids 404, bad fields 400, no or wrong token 401), the event stream, and the
//! Prometheus text parsed and checked against what was transferred, including a transfer
//! that a network cut broke and the platform resumed.

mod e2e_support;
mod recovery_support;
mod service_support;

use e2e_support::*;
use futures_util::StreamExt;
use recovery_support::udp_relay::UdpRelay;
use serde_json::Value;
use service_support::*;
use std::time::{Duration, Instant};

/// Polls `GET /api/transfers/{tid}` until `done` holds (or fails after `secs`).
async fn wait_transfer(s: &Service, tid: &str, secs: u64, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let t = s.get_json(&format!("/api/transfers/{tid}"), 200).await;
        if done(&t) {
            return t;
        }
        assert!(Instant::now() < deadline, "transfer {tid} stuck: {t}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// How many `.h264` files there are under `dir`, recursively.
fn walk_h264(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| {
            if p.is_dir() {
                walk_h264(&p)
            } else {
                usize::from(p.extension().is_some_and(|e| e == "h264"))
            }
        })
        .sum()
}

/// The session id of the one connected client.
async fn one_session(s: &Service) -> String {
    let sessions = s.get_json("/api/sessions", 200).await;
    let list = sessions.as_array().unwrap();
    assert_eq!(list.len(), 1, "{sessions}");
    let sid = list[0]["session_id"].as_str().unwrap().to_owned();
    assert_eq!(list[0]["state"], "ready");
    assert!(list[0]["remote_addr"]
        .as_str()
        .unwrap()
        .starts_with("127.0.0.1:"));
    assert!(list[0]["connected_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(list[0]["client_version"], "1.0.0");
    sid
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_token_every_api_route_and_metrics_answer_401() {
    let s = start_service().await;
    let (_endpoint, _client) = connect_client(&s.h).await;
    s.h.platform.wait_for_session().await;
    let sid = uuid::Uuid::nil();
    for path in [
        "/api/sessions".to_owned(),
        format!("/api/sessions/{sid}/files"),
        "/api/transfers".into(),
        "/api/transfers/000000000001/events".into(),
        "/metrics".into(),
    ] {
        let r = s
            .http
            .get(format!("{}{path}", s.base))
            .send()
            .await
            .unwrap();
        json_of(r, 401, &path).await;
        let r = s
            .http
            .get(format!("{}{path}", s.base))
            .bearer_auth("wrong-token-0123456789abcdef")
            .send()
            .await
            .unwrap();
        json_of(r, 401, &path).await;
    }
    let r = s
        .http
        .post(format!("{}/api/sessions/{sid}/transfers", s.base))
        .body(r#"{"file_path":"test_videos/av.mp4"}"#)
        .send()
        .await
        .unwrap();
    json_of(r, 401, "POST transfers").await;
    // Nothing was requested of the client.
    assert!(s.h.platform.all_transfers().await.is_empty());
    // The health check and the console need no token; the token also works as a query
    // parameter (the console's EventSource cannot send headers).
    let r = s
        .http
        .get(format!("{}/healthz", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(json_of(r, 200, "healthz").await["sessions_active"], 1);
    let r = s.http.get(format!("{}/", s.base)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = s
        .http
        .get(format!("{}/api/sessions?access_token={TOKEN}", s.base))
        .send()
        .await
        .unwrap();
    json_of(r, 200, "sessions with access_token").await;
    // ... percent-encoded as the console's encodeURIComponent would (every byte here).
    let encoded: String = TOKEN.bytes().map(|b| format!("%{b:02X}")).collect();
    let r = s
        .http
        .get(format!("{}/api/sessions?access_token={encoded}", s.base))
        .send()
        .await
        .unwrap();
    json_of(r, 200, "sessions with an encoded access_token").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_lists_pulls_and_verifies_a_file_over_http() {
    let s = start_service().await;
    let (_endpoint, _client) = connect_client(&s.h).await;
    s.h.platform.wait_for_session().await;
    let sid = one_session(&s).await;
    let s1 = s.get_json(&format!("/api/sessions/{sid}"), 200).await;
    assert_eq!(s1["session_id"], sid.as_str());

    // Files, filtered by format.
    let files = s
        .get_json(&format!("/api/sessions/{sid}/files?filter=h264"), 200)
        .await;
    let files = files["files"].as_array().unwrap();
    let h264 = walk_h264(&repo().join("test_videos"));
    assert_eq!(files.len(), h264, "{files:?}");
    assert!(files.iter().all(|f| f["format"] == "h264"));
    let all = s.get_json(&format!("/api/sessions/{sid}/files"), 200).await;
    assert!(all["files"].as_array().unwrap().len() > h264);

    // Bad ids and unknown ones.
    s.get_json("/api/sessions/not-a-uuid/files", 400).await;
    let stranger = uuid::Uuid::new_v4();
    s.get_json(&format!("/api/sessions/{stranger}/files"), 404)
        .await;
    s.get_json(&format!("/api/sessions/{stranger}"), 404).await;
    s.post(
        &format!("/api/sessions/{stranger}/transfers"),
        r#"{"file_path":"test_videos/av.mp4"}"#,
        404,
    )
    .await;
    s.get_json("/api/transfers/xyz", 400).await;
    s.get_json("/api/transfers/00000000abcd", 404).await;
    s.get_json("/api/no/such/route", 404).await;

    // Bad FileRequests: not JSON, no path, a field out of range; the client's 404.
    let path = format!("/api/sessions/{sid}/transfers");
    s.post(&path, "{not json", 400).await;
    s.post(&path, r#"{"segment_mode":"frame"}"#, 400).await;
    s.post(
        &path,
        r#"{"file_path":"test_videos/av.mp4","playback_rate":9}"#,
        400,
    )
    .await;
    let refused = s
        .post(&path, r#"{"file_path":"test_videos/missing.mp4"}"#, 404)
        .await;
    assert_eq!(refused["protocol_code"], 404);

    // A pull at full speed: 201 with the acknowledgement, then completed and verified.
    let ack = s
        .post(
            &path,
            r#"{"file_path":"test_videos/av.mp4","segment_mode":"auto"}"#,
            201,
        )
        .await;
    let tid = ack["transfer_id"].as_str().unwrap().to_owned();
    assert_eq!(ack["file_size"], 649_476);
    assert!(ack["checksum"].as_str().unwrap().starts_with("sha256:"));
    let done = wait_transfer(&s, &tid, 30, |t| {
        t["state"] == "completed" && t["sha256_ok"] == true
    })
    .await;
    assert_eq!(done["bytes_received"], 649_476);
    assert_eq!(done["percent"], 100.0);
    assert_eq!(done["segments_received"], done["total_segments"]);
    let output = done["output"].as_str().unwrap();
    assert_eq!(
        std::fs::read(output).unwrap(),
        std::fs::read(repo().join("test_videos/av.mp4")).unwrap()
    );
    // The received file over HTTP (the console's <video>): the MP4 itself.
    assert_eq!(done["playable"], output);
    let served = s.get(&format!("/api/transfers/{tid}/file")).await;
    assert_eq!(served.status(), 200);
    assert_eq!(served.headers()["content-type"], "video/mp4");
    assert_eq!(
        served.bytes().await.unwrap().as_ref(),
        std::fs::read(repo().join("test_videos/av.mp4")).unwrap()
    );
    s.get_json("/api/transfers/00000000abcd/file", 404).await;
    // A raw H.264 pull: its playable copy (`<output>.mp4`) is what is served.
    let h264 = s
        .post(
            &path,
            r#"{"file_path":"test_videos/baseline.h264","segment_mode":"gop"}"#,
            201,
        )
        .await;
    let h264 = h264["transfer_id"].as_str().unwrap().to_owned();
    // The state reads `completed` as soon as the last segment is judged; the report (and
    // with it the output and its playable copy) follows once the file is verified.
    let raw = wait_transfer(&s, &h264, 30, |t| {
        t["state"] == "completed" && t["report"].is_object()
    })
    .await;
    let copy = raw["playable"]
        .as_str()
        .unwrap_or_else(|| panic!("completed without a playable copy: {raw:#}"));
    assert_eq!(copy, format!("{}.mp4", raw["output"].as_str().unwrap()));
    let served = s.get(&format!("/api/transfers/{h264}/file")).await;
    assert_eq!(served.headers()["content-type"], "video/mp4");
    let body = served.bytes().await.unwrap();
    assert_eq!(&body[4..8], b"ftyp", "not an MP4");
    let listed = s.get_json("/api/transfers", 200).await;
    assert!(listed
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["transfer_id"] == tid.as_str()));
    let session = s.get_json(&format!("/api/sessions/{sid}"), 200).await;
    let mut ids: Vec<&str> = session["transfer_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    ids.sort_unstable();
    let mut want = [tid.as_str(), h264.as_str()];
    want.sort_unstable();
    assert_eq!(ids, want);
    // Its event stream, opened after the end: the final view, then the end.
    let events = s.get(&format!("/api/transfers/{tid}/events")).await;
    assert_eq!(events.status(), 200);
    let text = events.text().await.unwrap();
    assert!(
        text.contains("event: progress") && text.contains("event: end"),
        "{text}"
    );

    // Statistics (StatsRequest), for the session and for one transfer.
    let stats = s.get_json(&format!("/api/sessions/{sid}/stats"), 200).await;
    assert!(stats.is_object(), "{stats}");
    s.get_json(&format!("/api/sessions/{sid}/stats?transfer_id={tid}"), 200)
        .await;
    s.get_json(&format!("/api/sessions/{sid}/stats?transfer_id=nope"), 400)
        .await;

    // The counters moved by what was transferred.
    let m = s.metrics().await;
    assert!(m.has("vstream_sessions_total") && m.has("vstream_sessions_active"));
    assert_eq!(
        m.value("vstream_bytes_received_total"),
        649_476.0 + raw["bytes_received"].as_f64().unwrap(),
        "{:?}",
        m.0
    );
    assert_eq!(
        m.value("vstream_transfers_total{outcome=\"completed\"}"),
        2.0
    );
    let segments = m.value("vstream_segments_received_total{kind=\"keyframe\"}")
        + m.value("vstream_segments_received_total{kind=\"delta\"}");
    assert_eq!(
        segments,
        done["segments_received"].as_f64().unwrap() + raw["segments_received"].as_f64().unwrap()
    );
    assert_eq!(
        m.value("vstream_errors_total{code=\"404\"}"),
        1.0,
        "the client's refusal"
    );
    assert!(m.has("vstream_segment_retransmissions_total"));
    assert!(m.has("vstream_resumes_total"));
    assert!(m.has("vstream_lost_packets_total"));
    // The sampler's figures: one session accepted and up, its transport sampled.
    assert_eq!(m.value("vstream_sessions_total"), 1.0, "{:?}", m.0);
    assert_eq!(m.value("vstream_sessions_active"), 1.0, "{:?}", m.0);
    assert_eq!(m.value("vstream_transfers_active"), 0.0, "{:?}", m.0);
    for histogram in [
        "vstream_connection_rtt_seconds",
        "vstream_connection_congestion_window_bytes",
    ] {
        let count = m.value(&format!("{histogram}_count"));
        assert!(count >= 1.0, "{histogram}: {:?}", m.0);
        let sum = m.value(&format!("{histogram}_sum"));
        assert!(sum > 0.0, "{histogram}: {:?}", m.0);
    }
    assert!(
        !m.0.keys().any(|k| k.contains(&sid)),
        "no per-session labels"
    );

    // Closing the session.
    s.delete(&format!("/api/sessions/{sid}"), 200).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while s.get_json(&format!("/api/sessions/{sid}"), 200).await["state"] != "ended" {
        assert!(Instant::now() < deadline, "session not ended");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    s.delete(&format!("/api/sessions/{sid}"), 404).await;
    s.get_json(&format!("/api/sessions/{sid}/files"), 404).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(s.metrics().await.value("vstream_sessions_active"), 0.0);
}

/// Reads SSE events (`event:` and `data:` lines) from a response until `stop` is true of
/// one of them, or `secs` pass.
async fn read_events(
    stream: &mut (impl futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin),
    buffer: &mut String,
    secs: f64,
    mut stop: impl FnMut(&str, &Value) -> bool,
) -> Vec<(String, Value)> {
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs_f64(secs);
    loop {
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let mut kind = String::new();
            let mut data = Value::Null;
            for line in block.lines() {
                if let Some(k) = line.strip_prefix("event: ") {
                    kind = k.to_owned();
                } else if let Some(d) = line.strip_prefix("data: ") {
                    data = serde_json::from_str(d).unwrap();
                }
            }
            if kind.is_empty() {
                continue; // keep-alive comment
            }
            let done = stop(&kind, &data);
            got.push((kind, data));
            if done {
                return got;
            }
        }
        match tokio::time::timeout_at(deadline, stream.next()).await {
            Ok(Some(chunk)) => buffer.push_str(std::str::from_utf8(&chunk.unwrap()).unwrap()),
            Ok(None) | Err(_) => return got,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_realtime_pull_is_followed_paused_resumed_and_stopped_over_http() {
    let s = start_service().await;
    let (_endpoint, _client) = connect_client(&s.h).await;
    s.h.platform.wait_for_session().await;
    let sid = one_session(&s).await;
    let ack = s
        .post(
            &format!("/api/sessions/{sid}/transfers"),
            r#"{"file_path":"test_videos/main_bframes.h264","segment_mode":"frame","pacing":"realtime"}"#,
            201,
        )
        .await;
    let tid = ack["transfer_id"].as_str().unwrap().to_owned();
    let events = s.get(&format!("/api/transfers/{tid}/events")).await;
    assert_eq!(events.status(), 200);
    let mut stream = events.bytes_stream();
    let mut buffer = String::new();

    // At least one progress event a second while data flows, with growing bytes.
    let started = Instant::now();
    let progress = read_events(&mut stream, &mut buffer, 5.0, |_, _| {
        started.elapsed() > Duration::from_millis(2100)
    })
    .await;
    let bytes: Vec<u64> = progress
        .iter()
        .filter(|(k, _)| k == "progress")
        .map(|(_, d)| d["bytes_received"].as_u64().unwrap())
        .collect();
    assert!(bytes.len() >= 3, "{progress:?}");
    assert!(bytes.last() > bytes.first(), "{bytes:?}");
    let moving = s.get_json(&format!("/api/transfers/{tid}"), 200).await;
    assert!(moving["rate_bps"].as_f64().unwrap() > 0.0, "{moving}");
    assert!(moving["eta_secs"].as_f64().unwrap() > 0.0, "{moving}");

    // Bad commands.
    let playback = format!("/api/transfers/{tid}/playback");
    s.post(&playback, r#"{"command":"jump"}"#, 400).await;
    s.post(&playback, r#"{"command":"seek"}"#, 400).await;
    s.post(&playback, r#"{"command":"rate","rate":9}"#, 400)
        .await;
    s.post(&playback, r#"{"command":"pause","bogus":1}"#, 400)
        .await;
    s.post(&playback, "[]", 400).await;
    s.post(
        "/api/transfers/00000000abcd/playback",
        r#"{"command":"pause"}"#,
        404,
    )
    .await;

    // Pause: acknowledged, shown as paused, and the bytes stop.
    let paused = s.post(&playback, r#"{"command":"pause"}"#, 200).await;
    assert_eq!(paused["state"], "paused");
    let acked = read_events(&mut stream, &mut buffer, 3.0, |k, _| k == "ack").await;
    assert_eq!(acked.last().unwrap().1["state"], "paused", "{acked:?}");
    tokio::time::sleep(Duration::from_millis(700)).await;
    let a = s.get_json(&format!("/api/transfers/{tid}"), 200).await;
    assert_eq!(a["state"], "paused");
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let b = s.get_json(&format!("/api/transfers/{tid}"), 200).await;
    assert_eq!(
        a["bytes_received"], b["bytes_received"],
        "paused but data still flows"
    );

    // Resume, then faster, then stop: each acknowledged; the stream ends.
    let resumed = s.post(&playback, r#"{"command":"resume"}"#, 200).await;
    assert_eq!(resumed["state"], "streaming");
    let faster = s
        .post(&playback, r#"{"command":"rate","rate":2}"#, 200)
        .await;
    assert_eq!(faster["rate"], 2.0);
    tokio::time::sleep(Duration::from_millis(600)).await;
    let c = s.get_json(&format!("/api/transfers/{tid}"), 200).await;
    assert!(
        c["bytes_received"].as_u64() > b["bytes_received"].as_u64(),
        "{c}"
    );
    let stopped = s.post(&playback, r#"{"command":"stop"}"#, 200).await;
    assert_eq!(stopped["state"], "stopped");
    let end = read_events(&mut stream, &mut buffer, 10.0, |k, _| k == "end").await;
    let (kind, last) = end.last().unwrap();
    assert_eq!(kind, "end", "{end:?}");
    assert_eq!(last["state"], "stopped");
    assert!(last["report"]["index_ranges"].is_array(), "{last}");
    // The stream closed after its end.
    assert!(read_events(&mut stream, &mut buffer, 1.0, |_, _| true)
        .await
        .is_empty());
    tokio::time::sleep(Duration::from_millis(700)).await; // one sampler round
    let m = s.metrics().await;
    assert_eq!(m.value("vstream_transfers_total{outcome=\"stopped\"}"), 1.0);
    assert_eq!(m.value("vstream_transfers_active"), 0.0);
}

/// A transfer that a network cut breaks mid-way is resumed by the platform on the client's
/// next connection (D64), and the service counts it: `/metrics` shows
/// `vstream_resumes_total 1` (issues 11, 12) and the transfer's report `resumed: 1`. Real
/// quinn endpoints: the client, which comes back by itself, reaches the platform through
/// a UDP relay that black-holes every datagram for 6 s (the client gives a silent
/// connection up after 2 s; the rate cap sends a segment every 2 s, so one goes into the
/// dark).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transfer_resumed_after_a_network_cut_shows_as_one_resume_in_the_metrics() {
    let s = start_service_with(|c| c.wait_through_breaks = true).await;
    let relay = UdpRelay::start(s.h.addr).await.unwrap();
    let (stop, client) = spawn_reconnecting_client(&s.h, relay.addr());
    tokio::time::timeout(Duration::from_secs(10), s.h.platform.wait_for_session())
        .await
        .expect("the client connected");
    let sid = one_session(&s).await;
    assert_eq!(s.metrics().await.value("vstream_resumes_total"), 0.0);

    // 1.2 MB at 2 Mbit/s: about 5 s, so the cut lands mid-transfer.
    let path = "test_videos/data.bin";
    let ack = s
        .post(
            &format!("/api/sessions/{sid}/transfers"),
            &format!(r#"{{"file_path":"{path}","segment_mode":"fixed","max_bandwidth":2000000}}"#),
            201,
        )
        .await;
    let tid = ack["transfer_id"].as_str().unwrap().to_owned();
    let size = ack["file_size"].as_u64().unwrap();
    let moving = wait_transfer(&s, &tid, 20, |t| {
        t["bytes_received"].as_u64().is_some_and(|b| b > 0)
    })
    .await;
    assert!(
        moving["bytes_received"].as_u64() < Some(size),
        "the transfer ended before the cut: {moving}"
    );

    relay.black_hole_for(Duration::from_secs(6)).await;
    // Ended: the report comes with the transfer's result.
    let done = wait_transfer(&s, &tid, 40, |t| t["report"].is_object()).await;
    assert_eq!(done["state"], "completed", "{done}");
    assert_eq!(done["sha256_ok"], true, "{done}");
    assert_eq!(done["report"]["resumed"], 1, "{done}");
    assert_eq!(
        std::fs::read(done["output"].as_str().unwrap()).unwrap(),
        std::fs::read(repo().join(path)).unwrap()
    );
    let m = s.metrics().await;
    assert_eq!(m.value("vstream_resumes_total"), 1.0, "{:?}", m.0);
    println!(
        "resumed after a 6 s cut: report {}; relay dropped {} datagrams; metrics: resumes {}, sessions {}, completed {}",
        done["report"],
        relay.counts().1,
        m.value("vstream_resumes_total"),
        m.value("vstream_sessions_total"),
        m.value("vstream_transfers_total{outcome=\"completed\"}")
    );

    let _ = stop.send(());
    let ended = tokio::time::timeout(Duration::from_secs(10), client)
        .await
        .expect("the client ends when asked")
        .unwrap();
    assert!(ended.is_ok(), "{ended:?}");
}
