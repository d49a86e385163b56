//! Sending segments: each on a unidirectional stream of its own, with the job's priority,
//! its header, then the file range it names, read in bounded chunks with positioned reads,
//! then finish.
//!
//! Streams are opened, and their headers written, one at a time in the order the machine
//! issued the jobs ([`open_in_order`], which opens control streams too); only then does each segment's data go on in a task
//! of its own. quinn sends equal-priority streams in the order they were first written to
//! (D38), so segments leave in index order; opened from their own tasks they could swap
//! places (seen on loopback: 56 before 55), and a post-seek IDR could follow a later
//! segment.
//!
//! The whole file is never in memory: at most one chunk per segment in flight.

use super::driver::Input;
use crate::session::SegmentJob;
use crate::wire::{CopyFragment, JsonEnvelope, StatusCode, MAX_COPY_LEN};
use bytes::Bytes;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

/// A stream the machine asked for, waiting to be opened: a segment's or a control
/// message's.
pub(super) enum Outgoing {
    /// A segment issued by the machine.
    Segment(OutgoingSegment),
    /// A control message: its stream is opened and the whole message written before the
    /// next stream opens (D89); `pending` counts it until the platform has every byte.
    Control {
        envelope: JsonEnvelope,
        pending: PendingControl,
    },
}

/// A segment the machine issued, waiting for its stream.
pub(super) struct OutgoingSegment {
    /// What to send.
    pub job: SegmentJob,
    /// The transfer's source file.
    pub file: Arc<File>,
    /// Bytes per positioned read.
    pub chunk: usize,
    /// Tail probes after the stream is finished, when the job asks for them (D109).
    pub probes: u8,
    /// A small segment's copy in datagrams after its stream, with the probes (D121).
    pub copies: bool,
}

/// One control message counted in the driver's number of control messages not yet
/// delivered (what a closing driver lingers for); dropped when it is delivered or lost.
pub(super) struct PendingControl(Arc<watch::Sender<usize>>);

impl PendingControl {
    /// Counts one more message in `count`.
    pub(super) fn new(count: &Arc<watch::Sender<usize>>) -> Self {
        count.send_modify(|n| *n += 1);
        PendingControl(Arc::clone(count))
    }
}

impl Drop for PendingControl {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n = n.saturating_sub(1));
    }
}

/// Opens the streams the driver hands over, one at a time in the order given (the
/// machine's), on one task, so that the driver itself never waits on the transport
/// (D89, D120):
///
/// - a segment's stream is opened and its header written, then the stream goes to a
///   task that sends the data and reports [`Input::SegmentSent`] or
///   [`Input::SegmentFailed`] on `tx`;
/// - a control message's stream is opened and the whole message written; finishing the
///   stream and waiting for the platform's acknowledgement go on in the background.
///
/// Every stream's first bytes are written before the next stream opens: the platform
/// judges streams in their order (D45), and a stream left empty while later streams'
/// data fills the connection's window would never be judged (D89). Waiting for stream
/// credit or flow control happens here, never in the driver's loop: a platform that
/// stops granting it stalls this task, and the driver's stall watch (D67) still runs.
/// Ends when `jobs` closes.
pub(super) async fn open_in_order(
    conn: quinn::Connection,
    mut jobs: mpsc::UnboundedReceiver<Outgoing>,
    tx: mpsc::UnboundedSender<Input>,
) {
    while let Some(outgoing) = jobs.recv().await {
        match outgoing {
            Outgoing::Segment(segment) => open_segment_stream(&conn, segment, &tx).await,
            Outgoing::Control { envelope, pending } => {
                if let Some(send) = open_control(&conn, &envelope).await {
                    tokio::spawn(async move {
                        crate::net::finish_and_wait(send).await;
                        drop(pending);
                    });
                }
            }
        }
    }
}

/// A new stream carrying `envelope` whole, at the control streams' priority; None when
/// the connection failed (the connection's end reports it).
async fn open_control(
    conn: &quinn::Connection,
    envelope: &JsonEnvelope,
) -> Option<quinn::SendStream> {
    let mut send = match conn.open_uni().await {
        Ok(send) => send,
        Err(e) => {
            tracing::debug!("cannot send {:?}: {e}", envelope.message_type);
            return None;
        }
    };
    let _ = send.set_priority(crate::net::CONTROL_PRIORITY);
    send.write_all(&envelope.to_bytes()).await.ok()?;
    Some(send)
}

/// Opens `segment`'s stream and writes its header, then hands the stream to a task that
/// sends the data and reports how it ended.
async fn open_segment_stream(
    conn: &quinn::Connection,
    segment: OutgoingSegment,
    tx: &mpsc::UnboundedSender<Input>,
) {
    let OutgoingSegment {
        job,
        file,
        chunk,
        probes,
        copies,
    } = segment;
    let probes = if job.tail_probes { probes } else { 0 };
    let (transfer, index) = (job.transfer, job.index);
    let started = Instant::now();
    match open_segment(conn, &job).await {
        Ok(send) => {
            let tx = tx.clone();
            let conn = conn.clone();
            tokio::spawn(async move {
                let tail = Tail {
                    conn: &conn,
                    probes,
                    copies,
                };
                let input = match send_data(send, job, file, chunk, started, tail).await {
                    Ok(elapsed) => Input::SegmentSent {
                        transfer,
                        index,
                        elapsed,
                    },
                    Err(code) => Input::SegmentFailed {
                        transfer,
                        index,
                        code,
                    },
                };
                let _ = tx.send(input);
            });
        }
        Err(code) => {
            let _ = tx.send(Input::SegmentFailed {
                transfer,
                index,
                code,
            });
        }
    }
}

/// A new stream for `job`, with its priority set and its header written.
async fn open_segment(
    conn: &quinn::Connection,
    job: &SegmentJob,
) -> Result<quinn::SendStream, Option<StatusCode>> {
    let mut send = conn.open_uni().await.map_err(|_| None)?;
    let _ = send.set_priority(job.priority);
    let mut header = Vec::with_capacity(job.header.encoded_len());
    job.header.encode(&mut header);
    send.write_chunk(Bytes::from(header))
        .await
        .map_err(stopped_code)?;
    Ok(send)
}

/// Sends `job`'s data on `send` (its header already written) and finishes the stream.
///
/// # Returns
/// The time from `started` (the stream's opening) to the platform's acknowledgement of
/// every byte; or the status code the platform stopped the stream with (`Some`), or
/// `None` when the stream or connection failed without one.
async fn send_data(
    mut send: quinn::SendStream,
    job: SegmentJob,
    file: Arc<File>,
    chunk: usize,
    started: Instant,
    tail: Tail<'_>,
) -> Result<Duration, Option<StatusCode>> {
    // The segment's stream bytes again, for its copy (D121): small realtime segments.
    let stream_len = job.header.encoded_len() as u64 + u64::from(job.header.data_length());
    let mut copy =
        (tail.probes > 0 && tail.copies && stream_len <= MAX_COPY_LEN as u64).then(|| {
            let mut bytes = Vec::with_capacity(stream_len as usize);
            job.header.encode(&mut bytes);
            SegmentCopy {
                transfer: job.transfer,
                index: job.index,
                bytes,
            }
        });
    if let Some(rewrite) = &job.rewrite {
        // MP4 frame mode (D77): one sample, rewritten whole (bounded by the stream bound).
        let data = read_range(Arc::clone(&file), job.offset, rewrite.file_len as usize)
            .await
            .map_err(|e| e.to_string())
            .and_then(|sample| rewrite.apply(sample).map_err(|e| e.to_string()));
        let data = match data {
            Ok(data) => data,
            Err(e) => return Err(reset_unreadable(&mut send, &job, e)),
        };
        if let Some(copy) = copy.as_mut() {
            copy.bytes.extend_from_slice(&data);
        }
        send.write_chunk(Bytes::from(data))
            .await
            .map_err(stopped_code)?;
        return finish_and_wait(send, started, tail, copy).await;
    }
    let chunk = chunk.max(1) as u64;
    let end = job.offset.saturating_add(job.len);
    let mut pos = job.offset;
    while pos < end {
        let n = chunk.min(end - pos) as usize;
        let data = match read_range(Arc::clone(&file), pos, n).await {
            Ok(data) => data,
            Err(e) => {
                tracing::warn!(
                    "cannot read segment {} of transfer {} at offset {pos}: {e}",
                    job.index,
                    job.transfer
                );
                let reset = StatusCode::InternalError.to_u16();
                let _ = send.reset(quinn::VarInt::from_u32(u32::from(reset)));
                return Err(Some(StatusCode::InternalError));
            }
        };
        if let Some(copy) = copy.as_mut() {
            copy.bytes.extend_from_slice(&data);
        }
        // Handed over, not copied: the buffer becomes the stream's send buffer.
        send.write_chunk(Bytes::from(data))
            .await
            .map_err(stopped_code)?;
        pos += n as u64;
    }
    finish_and_wait(send, started, tail, copy).await
}

/// Resets a stream whose data cannot be read (500) and says why in the log.
fn reset_unreadable(
    send: &mut quinn::SendStream,
    job: &SegmentJob,
    e: String,
) -> Option<StatusCode> {
    tracing::warn!(
        "cannot read segment {} of transfer {}: {e}",
        job.index,
        job.transfer
    );
    let reset = StatusCode::InternalError.to_u16();
    let _ = send.reset(quinn::VarInt::from_u32(u32::from(reset)));
    Some(StatusCode::InternalError)
}

/// Finishes the stream, probes the connection's tail if asked (D109), and waits for the
/// platform to acknowledge every byte.
async fn finish_and_wait(
    mut send: quinn::SendStream,
    started: Instant,
    tail: Tail<'_>,
    copy: Option<SegmentCopy>,
) -> Result<Duration, Option<StatusCode>> {
    send.finish().map_err(|_| None)?;
    let elapsed = started.elapsed();
    probe_tail(tail.conn, tail.probes, copy.as_ref()).await;
    match send.stopped().await {
        Ok(None) => Ok(elapsed),
        Ok(Some(code)) => Err(Some(status_of(code))),
        Err(_) => Err(None),
    }
}

/// The connection a segment goes on, how many tail probes follow it (0: none), and
/// whether a small one's copy goes with them (D121).
#[derive(Clone, Copy)]
pub(super) struct Tail<'a> {
    conn: &'a quinn::Connection,
    probes: u8,
    copies: bool,
}

/// The default [`ClientConfig::tail_probes`](super::ClientConfig::tail_probes): quinn's
/// packet threshold (3), so that the acknowledgement of the last probe declares a lost
/// last packet before it at once.
pub const TAIL_PROBES: u8 = 3;

/// Scheduler turns a probe waits for the connection to send what is queued before it.
const PROBE_TURNS: usize = 8;

/// Tail probes (D109): `count` empty QUIC DATAGRAM frames, each in a packet of its own after
/// the segment's last one. A segment under realtime pacing is followed by silence until the
/// next frame (~33 ms), so a lost last packet would be found only by the probe timeout or
/// the next frame's acknowledgement. The platform acknowledges a packet after a gap at once
/// (RFC 9000 13.2.1); once it acknowledges a packet `count` (quinn's packet threshold, 3)
/// beyond the lost one, the loss is declared on that acknowledgement, about one round trip
/// after the segment left, and the data is sent again.
///
/// Each probe waits (a few scheduler turns) until the connection has sent a packet since
/// the previous one was queued: queued together, quinn would put a datagram in the same
/// packet as the stream's data (DATAGRAM frames are written before STREAM frames) or the
/// probes in one packet. Nothing is sent to a peer that did not advertise datagram
/// support, and a probe that cannot be queued ends the probing; probes are unreliable
/// and never retransmitted.
async fn probe_tail(conn: &quinn::Connection, count: u8, copy: Option<&SegmentCopy>) {
    let Some(max) = conn.max_datagram_size() else {
        return;
    };
    if count == 0 {
        return;
    }
    // The copy's fragments go first and count as probes (D121); empty probes make up
    // the rest.
    let fragments = copy
        .and_then(|c| CopyFragment::split(c.transfer, c.index, &c.bytes, max))
        .unwrap_or_default();
    let empties = usize::from(count).saturating_sub(fragments.len());
    let datagrams = fragments
        .into_iter()
        .chain(std::iter::repeat_n(Bytes::new(), empties));
    let mut seen = conn.stats().path.sent_packets;
    for datagram in datagrams {
        for _ in 0..PROBE_TURNS {
            tokio::task::yield_now().await;
            if conn.stats().path.sent_packets > seen {
                break;
            }
        }
        seen = conn.stats().path.sent_packets;
        if conn.send_datagram(datagram).is_err() {
            return;
        }
    }
}

/// A small realtime segment's stream bytes (header and data), to be sent again in
/// datagrams (D121).
struct SegmentCopy {
    transfer: crate::wire::TransferId,
    index: u32,
    bytes: Vec<u8>,
}

/// Reads of at most this many bytes run on the task itself: handing a read to the
/// blocking pool cost more than the read (frame mode's access units average ~1.3 KB; the
/// handoff was 9% of a frame-mode upload's CPU, the reads 1.4%). The segmenter has just
/// read the file, so such reads come from the page cache in microseconds.
const INLINE_READ: usize = 64 * 1024;

/// `n` bytes of `file` at `offset`: inline when small, else on a blocking thread (always
/// inline in simulation).
///
/// The buffer is allocated here, on the runtime's thread, not on the blocking thread:
/// glibc gives each thread that allocates its own arena, and buffers born on dozens of
/// short-lived blocking threads (then freed by quinn on a runtime thread once the peer
/// acknowledged them) left ~17 MiB of a 1 GiB upload's peak RSS in idle arenas.
async fn read_range(file: Arc<File>, offset: u64, n: usize) -> std::io::Result<Vec<u8>> {
    let mut buf = vec![0; n];
    if n <= INLINE_READ {
        return file.read_exact_at(&mut buf, offset).map(|()| buf);
    }
    let read =
        crate::net::run_blocking(move || file.read_exact_at(&mut buf, offset).map(|()| buf)).await;
    read.unwrap_or_else(|| Err(std::io::Error::other("the read task panicked")))
}

fn stopped_code(e: quinn::WriteError) -> Option<StatusCode> {
    match e {
        quinn::WriteError::Stopped(code) => Some(status_of(code)),
        _ => None,
    }
}

fn status_of(code: quinn::VarInt) -> StatusCode {
    StatusCode::from_u16(u16::try_from(code.into_inner()).unwrap_or(u16::MAX))
}
