//! Failures the machines learn as inputs (docs/protocol.md D48, D49): an output the
//! platform could not open or write, a transfer the peer declared failed, and the bound on
//! retransmissions of one segment.

use crate::wire::{ErrorReport, StatusCode, TransferId};

/// How many times one segment may be sent again on request when the ErrorReport does not
/// say (the specification's `max_retries` default).
pub const DEFAULT_MAX_RETRIES: u32 = 3;

/// Why the platform could not open or write a transfer's output, as the driver saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageFailure {
    /// The disk (or the platform's byte budget, or a quota) is full: 1003 StorageFull.
    NoSpace,
    /// The output folder or file may not be written: 500.
    Permission,
    /// Any other I/O error: 500.
    Other,
}

impl StorageFailure {
    /// The kind of an I/O error: ENOSPC and EDQUOT (Rust's `StorageFull`,
    /// `QuotaExceeded`) are `NoSpace`; EACCES, EPERM and EROFS are `Permission`.
    pub fn of(error: &std::io::Error) -> StorageFailure {
        use std::io::ErrorKind;
        match error.kind() {
            ErrorKind::StorageFull | ErrorKind::QuotaExceeded | ErrorKind::FileTooLarge => {
                StorageFailure::NoSpace
            }
            ErrorKind::PermissionDenied | ErrorKind::ReadOnlyFilesystem => {
                StorageFailure::Permission
            }
            _ => StorageFailure::Other,
        }
    }

    /// The status code the transfer fails with (the ErrorReport's and the stop code of
    /// its segment streams).
    pub fn status(self) -> StatusCode {
        match self {
            StorageFailure::NoSpace => StatusCode::StorageFull,
            StorageFailure::Permission | StorageFailure::Other => StatusCode::InternalError,
        }
    }
}

/// The ErrorReport that ends transfer `transfer` with `code`: `details.transfer_id`, no
/// `ack` and no `segment_id` (so it is neither a reply nor a retransmission request).
pub(crate) fn transfer_failed_report(
    transfer: TransferId,
    code: StatusCode,
    why: impl Into<String>,
) -> ErrorReport {
    ErrorReport::new(code, why).with_detail("transfer_id", transfer.to_string())
}

/// The transfer an ErrorReport declares failed: `details.transfer_id` on a report that
/// answers no request (`ack`) and asks for no segment (`segment_id`).
pub(crate) fn failed_transfer(report: &ErrorReport) -> Option<TransferId> {
    let details = report.details.as_ref()?;
    if report.ack().is_some() || details.contains_key("segment_id") {
        return None;
    }
    details.get("transfer_id")?.as_str()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_map_to_their_kind_and_status() {
        let full = std::io::Error::from_raw_os_error(28); // ENOSPC
        assert_eq!(StorageFailure::of(&full), StorageFailure::NoSpace);
        assert_eq!(StorageFailure::NoSpace.status(), StatusCode::StorageFull);
        let denied = std::io::Error::from_raw_os_error(13); // EACCES
        assert_eq!(StorageFailure::of(&denied), StorageFailure::Permission);
        assert_eq!(
            StorageFailure::Permission.status(),
            StatusCode::InternalError
        );
        let other = std::io::Error::other("boom");
        assert_eq!(
            StorageFailure::of(&other).status(),
            StatusCode::InternalError
        );
    }

    #[test]
    fn only_a_report_naming_a_transfer_alone_fails_it() {
        let id = TransferId::new(0xabc).unwrap();
        let r = transfer_failed_report(id, StatusCode::StorageFull, "full");
        assert_eq!(failed_transfer(&r), Some(id));
        assert_eq!(failed_transfer(&r.clone().with_ack(3)), None);
        let with_segment = r.with_detail("segment_id", "x");
        assert_eq!(failed_transfer(&with_segment), None);
        let plain = ErrorReport::new(StatusCode::BadRequest, "no");
        assert_eq!(failed_transfer(&plain), None);
    }
}
