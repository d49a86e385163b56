//! `GET /api/transfers/{tid}/events`: the transfer's Server-Sent Events. The first event
//! is its current view (`progress`), then one `progress` per sampler round while it
//! receives (twice a second), each playback acknowledgement (`ack`) and its end (`end`,
//! with the verdict and report), after which the stream closes.

use super::api::transfer_id;
use super::book::TransferEvent;
use super::{ApiError, State};
use axum::extract::{Path, State as Extract};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::stream::{self, Stream};
use serde_json::Value;
use std::convert::Infallible;
use tokio::sync::broadcast::{self, error::RecvError};

enum Phase {
    /// The view when the stream opened; `finished` when it had already ended.
    Start {
        view: Value,
        finished: bool,
    },
    /// The transfer had already ended: its end, then nothing.
    EndNow(Value),
    Follow,
    Done,
}

fn event(kind: &str, data: &Value) -> Event {
    Event::default().event(kind).data(data.to_string())
}

/// Opens the stream (404 for an unknown transfer).
pub(crate) async fn stream(
    Extract(state): Extract<State>,
    Path(tid): Path<String>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let tid = transfer_id(&tid)?;
    // Subscribe before reading the view: an end between the two is not missed.
    let events = state.book.subscribe();
    let view = state
        .book
        .view(tid)
        .ok_or_else(|| ApiError::not_found(format!("no transfer {tid}")))?;
    let finished = state.book.is_finished(tid);
    let start = (Phase::Start { view, finished }, events);
    let stream = stream::unfold(start, move |(phase, mut events)| async move {
        match phase {
            Phase::Start { view, finished } => {
                let next = if finished {
                    Phase::EndNow(view.clone())
                } else {
                    Phase::Follow
                };
                Some((Ok(event("progress", &view)), (next, events)))
            }
            Phase::EndNow(view) => Some((Ok(event("end", &view)), (Phase::Done, events))),
            Phase::Follow => {
                let e = next_of(&mut events, tid).await?;
                let next = if e.kind == "end" {
                    Phase::Done
                } else {
                    Phase::Follow
                };
                Some((Ok(event(e.kind, &e.data)), (next, events)))
            }
            Phase::Done => None,
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

/// The next event of transfer `tid` (skipping what a slow reader lost).
async fn next_of(
    events: &mut broadcast::Receiver<TransferEvent>,
    tid: crate::wire::TransferId,
) -> Option<TransferEvent> {
    loop {
        match events.recv().await {
            Ok(e) if e.transfer == tid => return Some(e),
            Ok(_) | Err(RecvError::Lagged(_)) => continue,
            Err(RecvError::Closed) => return None,
        }
    }
}
