//! Reading the client's streams, each in its own task, with every read bounded.
//!
//! A unidirectional stream's first byte says what it carries (profile section 2): `{` a
//! JSON envelope, read to its end; 0x01/0x02 a segment, whose header is decoded as it
//! arrives and shown to the owner task, which answers with the machine's verdict before
//! any data is read; anything else is reported to the owner as a bad stream and stopped
//! with 400. A bidirectional stream carries one binary-enveloped message.

use super::output::DirectTarget;
use crate::session::{SegmentVerdict, StorageFailure};
use crate::store::charge;
use crate::wire::{
    classify_stream, BinaryEnvelope, JsonEnvelope, SegmentHeader, StatusCode, StreamKind,
    TransferId, WireError,
};
use bytes::Bytes;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

/// What stream tasks report to the connection's owner task.
pub(super) enum StreamInput {
    /// What unidirectional stream number `order` carried: a control message, why it was
    /// not one (→ `handle_bad_stream`), or None (a segment stream, or lost). A message from
    /// a bidirectional stream has no number and brings the stream its answer goes on.
    Control {
        order: Option<u64>,
        envelope: Option<Result<JsonEnvelope, WireError>>,
        binary_reply: Option<quinn::SendStream>,
    },
    /// A segment header of unidirectional stream number `order`: the owner answers with
    /// the machine's verdict, judging headers and control messages in stream order.
    SegmentHeader {
        order: u64,
        header: SegmentHeader,
        verdict: oneshot::Sender<Verdict>,
    },
    /// A segment's data, written by the stream task itself at its direct target.
    SegmentWritten {
        header: SegmentHeader,
        transfer: TransferId,
        index: u32,
        len: u64,
        receive_time: Duration,
    },
    /// A segment's data, read whole after a `Write` verdict.
    SegmentData {
        header: SegmentHeader,
        transfer: TransferId,
        index: u32,
        data: Vec<u8>,
        receive_time: Duration,
    },
    /// A segment stream failed (truncated, reset, too long, malformed header).
    SegmentFailed {
        header: Option<SegmentHeader>,
        error: WireError,
    },
    /// A segment's data arrived intact but could not be written (→
    /// `handle_output_failed`, never a retransmission request: D48).
    OutputFailed {
        transfer: TransferId,
        index: u32,
        error: std::io::Error,
    },
}

/// The owner's answer to a segment header: the machine's verdict and, for fixed-size
/// placement, the file and offset where the stream task writes the data itself as it
/// arrives (so received data never queues in memory behind the connection's task).
pub(super) struct Verdict {
    pub(super) verdict: SegmentVerdict,
    pub(super) target: Option<DirectTarget>,
}

/// Bounds of the readers.
#[derive(Debug, Clone, Copy)]
pub(super) struct Bounds {
    pub(super) control: usize,
}

/// A status code as a QUIC application error code (the machine or the codec chose it).
fn code(status: StatusCode) -> quinn::VarInt {
    quinn::VarInt::from_u32(u32::from(status.to_u16()))
}

/// Reads one unidirectional stream and reports what it carried.
pub(super) async fn read_uni(
    mut recv: quinn::RecvStream,
    order: u64,
    tx: mpsc::UnboundedSender<StreamInput>,
    bounds: Bounds,
) {
    let control = |envelope| StreamInput::Control {
        order: Some(order),
        envelope,
        binary_reply: None,
    };
    let opened = Instant::now();
    let first = match recv.read_chunk(64 * 1024, true).await {
        Ok(Some(chunk)) => chunk.bytes,
        Ok(None) => Bytes::new(),
        Err(e) => {
            tracing::debug!("stream lost before its first byte: {e}");
            let _ = tx.send(control(None));
            return;
        }
    };
    let Some(&first_byte) = first.first() else {
        let _ = tx.send(control(Some(Err(WireError::Truncated {
            kind: "UniStream",
            needed: 1,
            available: 0,
        }))));
        return;
    };
    match classify_stream(first_byte) {
        Err(error) => {
            let _ = recv.stop(code(error.status()));
            let _ = tx.send(control(Some(Err(error))));
        }
        Ok(StreamKind::JsonEnvelope) => {
            let envelope = read_rest(&mut recv, first.to_vec(), bounds.control)
                .await
                .and_then(|bytes| JsonEnvelope::decode(&bytes));
            let _ = tx.send(control(Some(envelope)));
        }
        Ok(StreamKind::VideoSegment | StreamKind::AudioSegment) => {
            // Its header takes the stream's turn among control messages (D45).
            read_segment(recv, first.to_vec(), opened, tx, order).await
        }
    }
}

/// Reads a control stream to its end, `buf` holding what was read already.
async fn read_rest(
    recv: &mut quinn::RecvStream,
    mut buf: Vec<u8>,
    bound: usize,
) -> Result<Vec<u8>, WireError> {
    loop {
        if buf.len() > bound {
            let _ = recv.stop(code(StatusCode::StreamTooLong));
            return Err(WireError::StreamTooLong { limit: bound });
        }
        match recv.read_chunk(64 * 1024, true).await {
            Ok(Some(chunk)) => buf.extend_from_slice(&chunk.bytes),
            Ok(None) => return Ok(buf),
            Err(e) => {
                return Err(WireError::Truncated {
                    kind: "JsonEnvelope",
                    needed: buf.len() + 1,
                    available: buf.len(),
                })
                .inspect_err(|_| tracing::debug!("control stream lost: {e}"))
            }
        }
    }
}

fn truncated(header: &SegmentHeader, have: usize) -> WireError {
    let kind = match header {
        SegmentHeader::Video(_) => "VideoSegment",
        SegmentHeader::Audio(_) => "AudioSegment",
    };
    WireError::Truncated {
        kind,
        needed: header.data_length() as usize,
        available: have,
    }
}

/// Decodes a segment header as bytes arrive, asks the owner for the verdict, then reads,
/// drains or stops the stream accordingly. The header carries the stream's number
/// `order` (its turn among control streams); a stream that fails before its header gives
/// up its turn with nothing.
async fn read_segment(
    mut recv: quinn::RecvStream,
    buf: Vec<u8>,
    opened: Instant,
    tx: mpsc::UnboundedSender<StreamInput>,
    order: u64,
) {
    let Some((header, data)) = read_header(&mut recv, buf, &tx, order).await else {
        return;
    };
    let (verdict_tx, verdict_rx) = oneshot::channel();
    let asked = StreamInput::SegmentHeader {
        order,
        header: header.clone(),
        verdict: verdict_tx,
    };
    if tx.send(asked).is_err() {
        return;
    }
    let Ok(Verdict { verdict, target }) = verdict_rx.await else {
        return;
    };
    match verdict {
        SegmentVerdict::Write {
            transfer,
            index,
            len,
            too_long,
        } => {
            let taken = Taken {
                header,
                at: (transfer, index, too_long),
                len,
                opened,
            };
            take_data(&mut recv, data, taken, target, &tx).await;
        }
        SegmentVerdict::Duplicate | SegmentVerdict::NotYetKnown => {
            discard(&mut recv, data.len() as u64, header.data_length()).await;
        }
        SegmentVerdict::Refuse(status) => {
            let _ = recv.stop(code(status));
        }
    }
}

/// Decodes the segment header as bytes arrive (`buf` holds the first ones): the header
/// and the data bytes read past it. A stream that fails before its header gives up its
/// turn (D45) and is reported.
async fn read_header(
    recv: &mut quinn::RecvStream,
    mut buf: Vec<u8>,
    tx: &mpsc::UnboundedSender<StreamInput>,
    order: u64,
) -> Option<(SegmentHeader, Vec<u8>)> {
    let fail = |error: WireError| {
        let _ = tx.send(StreamInput::Control {
            order: Some(order),
            envelope: None,
            binary_reply: None,
        });
        let _ = tx.send(StreamInput::SegmentFailed {
            header: None,
            error,
        });
    };
    // The header (at most 42 bytes plus a 64 KiB metadata block): bounded by the codec.
    loop {
        match SegmentHeader::decode_maybe(&buf) {
            Ok(Some((header, consumed))) => return Some((header, buf.split_off(consumed))),
            Ok(None) => match recv.read_chunk(64 * 1024, true).await {
                Ok(Some(chunk)) => buf.extend_from_slice(&chunk.bytes),
                Ok(None) | Err(_) => {
                    let kind = if buf.first() == Some(&0x02) {
                        "AudioSegment"
                    } else {
                        "VideoSegment"
                    };
                    fail(WireError::Truncated {
                        kind,
                        needed: buf.len() + 1,
                        available: buf.len(),
                    });
                    return None;
                }
            },
            Err(error) => {
                let _ = recv.stop(code(error.status()));
                fail(error);
                return None;
            }
        }
    }
}

/// A segment the machine said to write: its header, (transfer, index, stop code when too
/// long), the exact data length, and when its stream opened.
struct Taken {
    header: SegmentHeader,
    at: (TransferId, u32, StatusCode),
    len: u64,
    opened: Instant,
}

/// Takes a `Write` segment's data (`data`: bytes already read): written by this task at
/// its direct target, or read whole for the connection's task, then reported.
async fn take_data(
    recv: &mut quinn::RecvStream,
    mut data: Vec<u8>,
    taken: Taken,
    target: Option<DirectTarget>,
    tx: &mpsc::UnboundedSender<StreamInput>,
) {
    let Taken {
        header,
        at,
        len,
        opened,
    } = taken;
    let (transfer, index, _) = at;
    let data_len = usize::try_from(len).unwrap_or(usize::MAX);
    let result = match target {
        Some(target) => write_through(recv, data, data_len, &target)
            .await
            .map(|()| StreamInput::SegmentWritten {
                receive_time: opened.elapsed(),
                header: header.clone(),
                transfer,
                index,
                len,
            }),
        None => read_exact_then_end(recv, &mut data, data_len)
            .await
            .map(|()| StreamInput::SegmentData {
                receive_time: opened.elapsed(),
                header: header.clone(),
                transfer,
                index,
                data,
            }),
    };
    match result {
        Ok(input) => {
            let _ = tx.send(input);
        }
        Err(error) => data_failed(recv, header, at, error, tx),
    }
}

/// Reads and discards a stream's data, bounded like a write: past `announced` bytes it is
/// stopped with [`SegmentVerdict::TOO_LONG`].
async fn discard(recv: &mut quinn::RecvStream, mut seen: u64, announced: u32) {
    loop {
        if seen > u64::from(announced) {
            let _ = recv.stop(code(SegmentVerdict::TOO_LONG));
            return;
        }
        match recv.read_chunk(64 * 1024, true).await {
            Ok(Some(chunk)) => seen += chunk.bytes.len() as u64,
            _ => return,
        }
    }
}

/// A segment's data could not be taken: stops the stream with the status the failure
/// calls for (1006 too long; a disk failure's code, D48; a truncated stream has already
/// ended) and reports it.
fn data_failed(
    recv: &mut quinn::RecvStream,
    header: SegmentHeader,
    (transfer, index, too_long): (TransferId, u32, StatusCode),
    error: DataError,
    tx: &mpsc::UnboundedSender<StreamInput>,
) {
    let error = match error {
        DataError::TooLong => {
            let _ = recv.stop(code(too_long));
            let limit = usize::try_from(header.stream_len()).unwrap_or(usize::MAX);
            WireError::StreamTooLong { limit }
        }
        DataError::Truncated(have) => truncated(&header, have),
        DataError::Disk(error) => {
            let status = StorageFailure::of(&error).status();
            let _ = recv.stop(code(status));
            let _ = tx.send(StreamInput::OutputFailed {
                transfer,
                index,
                error,
            });
            return;
        }
    };
    let _ = tx.send(StreamInput::SegmentFailed {
        header: Some(header),
        error,
    });
}

enum DataError {
    TooLong,
    Truncated(usize),
    Disk(std::io::Error),
}

/// Writes the stream's data at `offset` of `file` as it arrives (starting with `head`,
/// already read after the header) until exactly `len` bytes came and the stream ended.
/// Chunks are gathered until [`BATCH`] of them or [`WRITE_AT`] bytes are held (or the
/// stream ends), then go to disk in one positioned vectored write: with many connections
/// each wakeup brings only a few packets' worth, and writing each wakeup's chunks cost
/// three times the `pwritev` calls per MiB at 100 connections (D86). Writes into the page
/// cache are short, so they run on the stream's task.
async fn write_through(
    recv: &mut quinn::RecvStream,
    head: Vec<u8>,
    len: usize,
    target: &DirectTarget,
) -> Result<(), DataError> {
    /// Chunks (each about one packet's payload) held at most before a write.
    const BATCH: usize = 32;
    /// Bytes held at most before a write.
    const WRITE_AT: usize = 64 * 1024;
    let (file, offset) = (&target.file, target.offset);
    let budget = target.budget.as_deref();
    if head.len() > len {
        return Err(DataError::TooLong);
    }
    charge(budget, head.len() as u64).map_err(DataError::Disk)?;
    file.write_all_at(&head, offset).map_err(DataError::Disk)?;
    let mut written = head.len();
    let mut chunks: [Bytes; BATCH] = Default::default();
    // Chunks[..held] are read, not yet written: `pending` bytes.
    let (mut held, mut pending) = (0, 0);
    let flush = |chunks: &mut [Bytes], held: &mut usize, pending: &mut usize, at: usize| {
        charge(budget, *pending as u64).map_err(DataError::Disk)?;
        file.write_chunks_at(&chunks[..*held], offset + at as u64)
            .map_err(DataError::Disk)?;
        // Release the stream's buffers now, not at the next read.
        chunks
            .iter_mut()
            .take(*held)
            .for_each(|c| *c = Bytes::new());
        let n = *pending;
        (*held, *pending) = (0, 0);
        Ok::<usize, DataError>(n)
    };
    loop {
        match recv.read_chunks(&mut chunks[held..]).await {
            Ok(Some(n)) => {
                let got: usize = chunks[held..held + n].iter().map(Bytes::len).sum();
                if written + pending + got > len {
                    return Err(DataError::TooLong);
                }
                held += n;
                pending += got;
                if held == BATCH || pending >= WRITE_AT {
                    written += flush(&mut chunks, &mut held, &mut pending, written)?;
                }
            }
            Ok(None) => {
                written += flush(&mut chunks, &mut held, &mut pending, written)?;
                if written == len {
                    return Ok(());
                }
                return Err(DataError::Truncated(written));
            }
            Err(_) => return Err(DataError::Truncated(written + pending)),
        }
    }
}

/// Reads until `data` holds exactly `len` bytes and the stream ends.
async fn read_exact_then_end(
    recv: &mut quinn::RecvStream,
    data: &mut Vec<u8>,
    len: usize,
) -> Result<(), DataError> {
    loop {
        if data.len() > len {
            return Err(DataError::TooLong);
        }
        let want = (len - data.len()).clamp(1, 256 * 1024);
        match recv.read_chunk(want, true).await {
            Ok(Some(chunk)) => {
                if data.len() + chunk.bytes.len() > len {
                    return Err(DataError::TooLong);
                }
                data.extend_from_slice(&chunk.bytes);
            }
            Ok(None) if data.len() == len => return Ok(()),
            Ok(None) | Err(_) => return Err(DataError::Truncated(data.len())),
        }
    }
}

/// Reads a bidirectional stream's binary-enveloped message.
pub(super) async fn read_bi(
    send: quinn::SendStream,
    mut recv: quinn::RecvStream,
    tx: mpsc::UnboundedSender<StreamInput>,
    bounds: Bounds,
) {
    let envelope = match recv.read_to_end(bounds.control).await {
        Ok(bytes) => BinaryEnvelope::decode_exact(&bytes),
        Err(quinn::ReadToEndError::TooLong) => {
            let _ = recv.stop(code(StatusCode::StreamTooLong));
            Err(WireError::StreamTooLong {
                limit: bounds.control,
            })
        }
        Err(quinn::ReadToEndError::Read(e)) => {
            tracing::debug!("bidirectional stream lost: {e}");
            return;
        }
    };
    let envelope = envelope.and_then(|b| b.into_json(uuid::Uuid::nil()));
    let _ = tx.send(StreamInput::Control {
        order: None,
        envelope: Some(envelope),
        binary_reply: Some(send),
    });
}
