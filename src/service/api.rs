//! The `/api` handlers and `/healthz`, `/metrics`: each parses its path and body, makes one
//! [`Platform`](crate::platform::Platform) call and answers JSON (docs/protocol.md D80).

use super::{ApiError, State};
use crate::platform::script::ScriptCommand;
use crate::platform::SessionDetails;
use crate::wire::{FileRequest, StatsRequest, TransferId};
use axum::body::Bytes;
use axum::extract::{Path, Query, State as Extract};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use std::time::SystemTime;
use uuid::Uuid;

type ApiResult = Result<Json<Value>, ApiError>;

/// A path's session id, or 400.
pub(crate) fn session_id(text: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(text).map_err(|_| ApiError::bad_request(format!("not a session id: {text:?}")))
}

/// A path's transfer id (12 hex digits), or 400.
pub(crate) fn transfer_id(text: &str) -> Result<TransferId, ApiError> {
    text.parse()
        .map_err(|_| ApiError::bad_request(format!("not a transfer id (12 hex digits): {text:?}")))
}

/// `GET /healthz`.
pub(crate) async fn healthz(Extract(state): Extract<State>) -> Json<Value> {
    let live = state
        .platform
        .sessions()
        .iter()
        .filter(|s| !s.ended)
        .count();
    Json(json!({"status": "ok", "sessions_active": live}))
}

/// Any other path: 404 in the API's shape.
pub(crate) async fn no_route() -> ApiError {
    ApiError::not_found("no such endpoint")
}

/// `GET /metrics`.
pub(crate) async fn metrics(Extract(state): Extract<State>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
}

fn rfc3339(t: SystemTime) -> Option<String> {
    time::OffsetDateTime::from(t)
        .format(&time::format_description::well_known::Rfc3339)
        .ok()
}

fn session_view(state: &State, d: &SessionDetails) -> Value {
    let info = &d.info;
    let phase = match (info.ready, info.ended) {
        (_, true) => "ended",
        (true, false) => "ready",
        (false, false) => "connecting",
    };
    json!({
        "session_id": info.session_id,
        "remote_addr": info.remote.to_string(),
        "state": phase,
        "connected_at": d.connected_at.and_then(rfc3339),
        // One protocol version exists; a ready session negotiated it (D82).
        "client_version": info.ready.then(|| crate::wire::ProtocolVersion::CURRENT.to_string()),
        "previous_session": info.previous_session,
        "ended_with": info.ended_with.as_ref().map(ToString::to_string),
        "rtt_ms": d.connection.as_ref().map(|c| c.path.rtt.as_secs_f64() * 1000.0),
        "transfer_ids": state.book.transfers_of(info.session_id),
    })
}

/// `GET /api/sessions`.
pub(crate) async fn sessions(Extract(state): Extract<State>) -> ApiResult {
    let all: Vec<Value> = state
        .platform
        .session_details()
        .iter()
        .map(|d| session_view(&state, d))
        .collect();
    Ok(Json(json!(all)))
}

/// `GET /api/sessions/{sid}`.
pub(crate) async fn session(Extract(state): Extract<State>, Path(sid): Path<String>) -> ApiResult {
    let sid = session_id(&sid)?;
    state
        .platform
        .session_details()
        .iter()
        .find(|d| d.info.session_id == sid)
        .map(|d| Json(session_view(&state, d)))
        .ok_or_else(|| ApiError::not_found(format!("no session {sid}")))
}

/// `?filter=` of the file list.
#[derive(Deserialize)]
pub(crate) struct FilesQuery {
    filter: Option<String>,
}

/// `GET /api/sessions/{sid}/files?filter=mp4`.
pub(crate) async fn files(
    Extract(state): Extract<State>,
    Path(sid): Path<String>,
    Query(q): Query<FilesQuery>,
) -> ApiResult {
    let sid = session_id(&sid)?;
    let filter = q.filter.filter(|f| !f.is_empty());
    let files = state
        .platform
        .query_files(sid, filter)
        .await
        .map_err(|e| count(&state, e))?;
    Ok(Json(json!({"session_id": sid, "files": files})))
}

/// `?transfer_id=` of the statistics.
#[derive(Deserialize)]
pub(crate) struct StatsQuery {
    transfer_id: Option<String>,
}

/// `GET /api/sessions/{sid}/stats` (StatsRequest).
pub(crate) async fn stats(
    Extract(state): Extract<State>,
    Path(sid): Path<String>,
    Query(q): Query<StatsQuery>,
) -> ApiResult {
    let sid = session_id(&sid)?;
    let transfer_id = q.transfer_id.as_deref().map(transfer_id).transpose()?;
    let stats = state
        .platform
        .stats(sid, StatsRequest { transfer_id })
        .await
        .map_err(|e| count(&state, e))?;
    Ok(Json(stats))
}

/// `DELETE /api/sessions/{sid}`: closes the session with 200.
pub(crate) async fn close_session(
    Extract(state): Extract<State>,
    Path(sid): Path<String>,
) -> ApiResult {
    let sid = session_id(&sid)?;
    state
        .platform
        .close_session(sid)
        .map_err(|e| count(&state, e))?;
    Ok(Json(json!({"session_id": sid, "closed": true})))
}

/// `POST /api/sessions/{sid}/transfers` with a FileRequest's JSON (the wire's fields and
/// checks): 201 with the client's acknowledgement; the transfer's end is recorded.
pub(crate) async fn request_file(
    Extract(state): Extract<State>,
    Path(sid): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let sid = session_id(&sid)?;
    let request = FileRequest::decode(&body)
        .map_err(|e| ApiError::bad_request(format!("bad FileRequest: {e}")))?;
    if request.resume_from_segment.is_some() {
        state.metrics.resumes_total.inc();
    }
    let handle = state
        .platform
        .request_file(sid, request)
        .await
        .map_err(|e| count(&state, e))?;
    let ack = handle.ack.clone();
    state.book.acknowledged(sid, &ack);
    let book = state.book.clone();
    tokio::spawn(async move {
        match handle.finished().await {
            Ok(result) => book.finished(ack.transfer_id, &result),
            Err(_) => book.failed(ack.transfer_id),
        }
    });
    let mut body = json!(ack);
    body["session_id"] = json!(sid);
    Ok((StatusCode::CREATED, Json(body)))
}

/// `GET /api/transfers`.
pub(crate) async fn transfers(Extract(state): Extract<State>) -> ApiResult {
    Ok(Json(json!(state.book.views())))
}

/// `GET /api/transfers/{tid}`: refreshed from the platform first.
pub(crate) async fn transfer(Extract(state): Extract<State>, Path(tid): Path<String>) -> ApiResult {
    let tid = transfer_id(&tid)?;
    let session = state
        .book
        .session_of(tid)
        .ok_or_else(|| ApiError::not_found(format!("no transfer {tid}")))?;
    refresh(&state, session, tid).await;
    state
        .book
        .view(tid)
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no transfer {tid}")))
}

/// Takes a fresh progress snapshot of one transfer into the book.
pub(crate) async fn refresh(state: &State, session: Uuid, tid: TransferId) {
    if state.book.is_finished(tid) {
        return;
    }
    if let Ok(all) = state.platform.transfers(session).await {
        if let Some(p) = all.into_iter().find(|p| p.status.transfer == tid) {
            state
                .book
                .update(session, p.status, std::time::Instant::now());
        }
    }
}

/// The body of `POST /api/transfers/{tid}/playback`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PlaybackBody {
    command: String,
    /// seek, resume: seconds.
    position: Option<f64>,
    /// rate: 0.25-4.0.
    rate: Option<f64>,
    /// quality: bits per second.
    bitrate: Option<u64>,
    /// buffer: seconds.
    seconds: Option<f64>,
}

impl PlaybackBody {
    fn command(&self) -> Result<ScriptCommand, ApiError> {
        let need = |v: Option<f64>, field: &str| {
            v.ok_or_else(|| ApiError::bad_request(format!("{:?} needs {field:?}", self.command)))
        };
        Ok(match self.command.as_str() {
            "pause" => ScriptCommand::Pause,
            "resume" => ScriptCommand::Resume(self.position),
            "stop" => ScriptCommand::Stop,
            "seek" => ScriptCommand::Seek(need(self.position, "position")?),
            "rate" => ScriptCommand::Rate(need(self.rate, "rate")?),
            "buffer" => ScriptCommand::Buffer(need(self.seconds, "seconds")?),
            "quality" => ScriptCommand::Quality(self.bitrate.ok_or_else(|| {
                ApiError::bad_request("\"quality\" needs \"bitrate\" (bits per second)")
            })?),
            other => {
                return Err(ApiError::bad_request(format!(
                    "unknown command {other:?} (pause, resume, stop, seek, rate, quality, buffer)"
                )))
            }
        })
    }
}

/// `POST /api/transfers/{tid}/playback`: the client's acknowledgement.
pub(crate) async fn playback(
    Extract(state): Extract<State>,
    Path(tid): Path<String>,
    body: Bytes,
) -> ApiResult {
    let tid = transfer_id(&tid)?;
    let body: PlaybackBody = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("bad playback command: {e}")))?;
    let command = body.command()?;
    let session = state
        .book
        .session_of(tid)
        .ok_or_else(|| ApiError::not_found(format!("no transfer {tid}")))?;
    let control = command.control(Some(tid));
    control
        .validate()
        .map_err(|e| ApiError::bad_request(format!("bad playback command: {e}")))?;
    let ack = state
        .platform
        .playback(session, control)
        .await
        .map_err(|e| count(&state, e))?;
    // The observer publishes the acknowledgement; record it now so that a GET right
    // after this answer shows it.
    state.book.playback_acknowledged(&ack, false);
    Ok(Json(json!(ack)))
}

/// Counts a failed call's protocol code (the client's refusals are counted from the
/// platform's observations, whoever made the request).
fn count(state: &State, e: crate::platform::PlatformError) -> ApiError {
    let refused = matches!(e, crate::platform::PlatformError::Refused { .. });
    let error = ApiError::from(e);
    match error.protocol_code {
        Some(code) if !refused => state.metrics.error(code),
        _ => {}
    }
    error
}

/// `GET /api/transfers/{tid}/file`: the received file of a finished transfer, its playable
/// MP4 copy when there is one (for the console's `<video>`), streamed in 64 KiB chunks.
pub(crate) async fn file(
    Extract(state): Extract<State>,
    Path(tid): Path<String>,
) -> Result<axum::response::Response, ApiError> {
    use tokio::io::AsyncReadExt;
    let tid = transfer_id(&tid)?;
    let view = state
        .book
        .view(tid)
        .ok_or_else(|| ApiError::not_found(format!("no transfer {tid}")))?;
    if !state.book.is_finished(tid) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("transfer {tid} has not ended"),
        ));
    }
    // The playable copy when there is one (the console's <video>), else the output.
    let output = view["playable"]
        .as_str()
        .or_else(|| view["output"].as_str())
        .ok_or_else(|| ApiError::not_found(format!("transfer {tid} left no output")))?
        .to_owned();
    let file = tokio::fs::File::open(&output)
        .await
        .map_err(|e| ApiError::not_found(format!("{output}: {e}")))?;
    let len = file.metadata().await.map(|m| m.len()).unwrap_or(0);
    let content_type = match std::path::Path::new(&output)
        .extension()
        .and_then(|e| e.to_str())
    {
        Some("mp4" | "m4v") => "video/mp4",
        Some("h264" | "264") => "video/h264",
        _ => "application/octet-stream",
    };
    // The stream ends after the first read error (the state becomes None).
    let chunks = futures_util::stream::unfold(Some(file), |file| async move {
        let mut file = file?;
        let mut buf = vec![0u8; 64 * 1024];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<_, std::io::Error>(Bytes::from(buf)), Some(file)))
            }
            Err(e) => Some((Err(e), None)),
        }
    });
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (header::CONTENT_LENGTH, len.to_string()),
        ],
        axum::body::Body::from_stream(chunks),
    )
        .into_response())
}
