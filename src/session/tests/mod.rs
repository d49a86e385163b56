//! Two-party tests of the session machines, in virtual time (see [`pair::Pair`]).

mod drain_order;
mod failures;
mod handshake;
mod pacing;
mod pair;
mod playback;
mod props;
mod recovery;
mod seek;
mod transfer;

use crate::wire::{ErrorReport, JsonEnvelope, Message, StatusResponse};

/// The decoded messages of `envs`.
pub(crate) fn messages(envs: &[JsonEnvelope]) -> Vec<Message> {
    envs.iter().filter_map(|e| e.message().ok()).collect()
}

/// The ErrorReports among `envs`.
pub(crate) fn reports(envs: &[JsonEnvelope]) -> Vec<ErrorReport> {
    messages(envs)
        .into_iter()
        .filter_map(|m| match m {
            Message::ErrorReport(r) => Some(r),
            _ => None,
        })
        .collect()
}

/// The StatusResponses among `envs`.
pub(crate) fn statuses(envs: &[JsonEnvelope]) -> Vec<StatusResponse> {
    messages(envs)
        .into_iter()
        .filter_map(|m| match m {
            Message::StatusResponse(r) => Some(r),
            _ => None,
        })
        .collect()
}
