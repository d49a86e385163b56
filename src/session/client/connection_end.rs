//! After a connection ended: reconnect, or end the run (decision D68).
//!
//! The driver says how its connection ended ([`ConnectionEnd`]); the machine, which knows
//! whether the session was ended by the client or refused by the platform, answers with an
//! [`AfterConnection`] verdict. The supervisor in `client/` only performs it (when and how
//! often it connects again is its [`ReconnectPolicy`](crate::client::ReconnectPolicy)).

use crate::wire::StatusCode;

/// How a connection ended, as the driver saw it: the input of
/// [`ClientSession::handle_connection_end`](super::ClientSession::handle_connection_end).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionEnd {
    /// This side closed it: the application's shutdown, or the machine's `Close`.
    ClosedLocally,
    /// The platform closed it with this application code.
    ClosedByPlatform(StatusCode),
    /// The platform's TLS said no (a certificate that does not fit, a client certificate
    /// it does not accept): the same handshake would fail again.
    TlsRefused,
    /// The driver gave it up: nothing came back for the stall timeout while it sent, or the
    /// platform granted no flow control for that long while segments were in flight (D67).
    Stalled,
    /// It broke: idle timeout, reset (a restarted platform), a transport error.
    Broken,
}

/// What the client does once its connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterConnection {
    /// Connect again, naming this session (profile section 3), on the reconnection
    /// policy's schedule.
    Reconnect,
    /// The run is over: the session was ended, or the platform's answer is final.
    End,
}

/// True for the platform's codes that say "not now" rather than "no": 503
/// ServiceUnavailable, 1007 ConnectionTimeout and 1009 RateLimitExceeded. Every other code a
/// platform closes with or refuses a handshake with (200, 401, 1004 AuthenticationFailed,
/// 1008 ProtocolVersionMismatch, ...) is final.
pub fn is_retryable(code: StatusCode) -> bool {
    matches!(
        code,
        StatusCode::ServiceUnavailable
            | StatusCode::ConnectionTimeout
            | StatusCode::RateLimitExceeded
    )
}

/// The verdict: `ended_by_client` (SessionEnd was sent) and `refused` (the platform's
/// handshake refusal) come from the machine, `end` from the driver.
pub(super) fn verdict(
    ended_by_client: bool,
    refused: Option<StatusCode>,
    end: ConnectionEnd,
) -> AfterConnection {
    let again = |yes: bool| {
        if yes {
            AfterConnection::Reconnect
        } else {
            AfterConnection::End
        }
    };
    if ended_by_client {
        return AfterConnection::End;
    }
    if let Some(code) = refused {
        return again(is_retryable(code));
    }
    match end {
        ConnectionEnd::ClosedLocally | ConnectionEnd::TlsRefused => AfterConnection::End,
        ConnectionEnd::ClosedByPlatform(code) => again(is_retryable(code)),
        ConnectionEnd::Stalled | ConnectionEnd::Broken => AfterConnection::Reconnect,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use AfterConnection::{End, Reconnect};

    #[test]
    fn breaks_and_stalls_reconnect_answers_end() {
        assert_eq!(verdict(false, None, ConnectionEnd::Broken), Reconnect);
        assert_eq!(verdict(false, None, ConnectionEnd::Stalled), Reconnect);
        assert_eq!(verdict(false, None, ConnectionEnd::ClosedLocally), End);
        assert_eq!(verdict(false, None, ConnectionEnd::TlsRefused), End);
        let closed = |code| verdict(false, None, ConnectionEnd::ClosedByPlatform(code));
        assert_eq!(closed(StatusCode::Success), End);
        assert_eq!(closed(StatusCode::AuthenticationFailed), End);
        assert_eq!(closed(StatusCode::ServiceUnavailable), Reconnect);
        assert_eq!(closed(StatusCode::RateLimitExceeded), Reconnect);
        // A connection the platform closed as silent (D117) comes back (D118).
        assert_eq!(closed(StatusCode::ConnectionTimeout), Reconnect);
    }

    #[test]
    fn a_session_the_client_ended_or_the_platform_refused_for_good_is_not_reconnected() {
        assert_eq!(verdict(true, None, ConnectionEnd::Broken), End);
        let refused = |code| verdict(false, Some(code), ConnectionEnd::ClosedLocally);
        assert_eq!(refused(StatusCode::AuthenticationFailed), End);
        assert_eq!(refused(StatusCode::ProtocolVersionMismatch), End);
        assert_eq!(refused(StatusCode::RateLimitExceeded), Reconnect);
    }
}
