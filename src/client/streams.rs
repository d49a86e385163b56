//! The client's input work off the owner task: reading the platform's streams (bounded)
//! and resolving and planning requested files on a blocking thread.

use super::driver::Input;
use crate::catalog::{Catalog, ServedFile};
use crate::media::plan::PlanOptions;
use crate::media::probe::plan_file;
use crate::session::{PreparedTransfer, TransferRefusal};
use crate::wire::{
    classify_stream, BinaryEnvelope, FileRequest, JsonEnvelope, StatusCode, StreamKind, WireError,
};
use tokio::sync::mpsc;
use uuid::Uuid;

/// Resolves and plans a requested file (runs on a blocking thread) without waiting for its
/// checksum (D101): when the catalog does not know it yet, the file is also returned, for
/// [`Catalog::checksum`] to hash once the acknowledgement is on its way.
pub(super) fn prepare(
    catalog: &Catalog,
    request: &FileRequest,
) -> Result<(PreparedTransfer, Option<ServedFile>), TransferRefusal> {
    let refusal = |code: u16, message: String| TransferRefusal {
        code: StatusCode::from_u16(code),
        message,
    };
    let resolved = catalog
        .resolve_at_once(&request.file_path)
        .map_err(|e| refusal(e.status_code(), e.to_string()))?;
    let (_format, plan, media) =
        plan_file(&resolved.path, request.segment_mode, PlanOptions::default())
            .map_err(|e| refusal(e.status_code(), e.to_string()))?;
    let later = resolved.checksum.is_none().then(|| resolved.clone());
    let prepared = PreparedTransfer {
        local_path: resolved.path,
        file_path: resolved.file_path,
        file_size: resolved.size,
        checksum: resolved.checksum,
        plan,
        media,
    };
    Ok((prepared, later))
}

/// Reads one control stream to its end (bounded) and hands the envelope to the owner.
pub(super) async fn read_control(
    mut recv: quinn::RecvStream,
    order: u64,
    tx: mpsc::UnboundedSender<Input>,
    bound: usize,
) {
    let decoded = match recv.read_to_end(bound).await {
        // The platform sends only control messages on unidirectional streams: a segment's
        // first byte is as unexpected here as an unknown one (profile section 2).
        Ok(bytes) => match bytes.first().map(|&b| (b, classify_stream(b))) {
            Some((_, Ok(StreamKind::JsonEnvelope))) => JsonEnvelope::decode(&bytes),
            Some((b, Ok(_))) => Err(WireError::UnknownStreamType(b)),
            Some((_, Err(e))) => Err(e),
            None => Err(WireError::Truncated {
                kind: "UniStream",
                needed: 1,
                available: 0,
            }),
        },
        Err(quinn::ReadToEndError::TooLong) => {
            let too_long = StatusCode::StreamTooLong.to_u16();
            let _ = recv.stop(quinn::VarInt::from_u32(u32::from(too_long)));
            Err(WireError::StreamTooLong { limit: bound })
        }
        Err(quinn::ReadToEndError::Read(e)) => {
            tracing::debug!("control stream lost: {e}");
            let _ = tx.send(Input::Control {
                order: Some(order),
                envelope: None,
            });
            return;
        }
    };
    let _ = tx.send(Input::Control {
        order: Some(order),
        envelope: Some(decoded),
    });
}

/// A bidirectional stream carrying one binary-enveloped message (profile section 2): fed
/// to the machine like any control message; its answer travels as usual.
pub(super) async fn read_binary(
    mut send: quinn::SendStream,
    mut recv: quinn::RecvStream,
    tx: mpsc::UnboundedSender<Input>,
    bound: usize,
) {
    let decoded = match recv.read_to_end(bound).await {
        Ok(bytes) => BinaryEnvelope::decode_exact(&bytes).and_then(|b| b.into_json(Uuid::nil())),
        Err(quinn::ReadToEndError::TooLong) => {
            let too_long = StatusCode::StreamTooLong.to_u16();
            let _ = recv.stop(quinn::VarInt::from_u32(u32::from(too_long)));
            Err(WireError::StreamTooLong { limit: bound })
        }
        Err(_) => return,
    };
    let _ = send.finish();
    let _ = tx.send(Input::Control {
        order: None,
        envelope: Some(decoded),
    });
}
