//! Sending one segment: a unidirectional stream with the job's priority, its header, then
//! the file range it names, read in bounded chunks with positioned reads, then finish.
//!
//! The whole file is never in memory: at most one chunk per segment in flight.

use crate::session::SegmentJob;
use crate::wire::StatusCode;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// Sends `job`'s header and data over a new stream of `conn`.
///
/// # Returns
/// The time from opening the stream to finishing it once the platform acknowledged every
/// byte; or the status code the platform stopped the stream with (`Some`), or `None` when
/// the stream or connection failed without one.
pub(super) async fn send_segment(
    conn: quinn::Connection,
    job: SegmentJob,
    file: Arc<File>,
    chunk: usize,
) -> Result<Duration, Option<StatusCode>> {
    let started = Instant::now();
    let mut send = conn.open_uni().await.map_err(|_| None)?;
    let _ = send.set_priority(job.priority);
    let mut header = Vec::with_capacity(job.header.encoded_len());
    job.header.encode(&mut header);
    send.write_all(&header).await.map_err(stopped_code)?;
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
                let _ = send.reset(quinn::VarInt::from_u32(500));
                return Err(Some(StatusCode::InternalError));
            }
        };
        send.write_all(&data).await.map_err(stopped_code)?;
        pos += n as u64;
    }
    send.finish().map_err(|_| None)?;
    let elapsed = started.elapsed();
    match send.stopped().await {
        Ok(None) => Ok(elapsed),
        Ok(Some(code)) => Err(Some(status_of(code))),
        Err(_) => Err(None),
    }
}

/// `n` bytes of `file` at `offset`, read on a blocking thread (inline in simulation).
async fn read_range(file: Arc<File>, offset: u64, n: usize) -> std::io::Result<Vec<u8>> {
    let read = crate::net::run_blocking(move || {
        let mut buf = vec![0; n];
        file.read_exact_at(&mut buf, offset).map(|()| buf)
    })
    .await;
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
