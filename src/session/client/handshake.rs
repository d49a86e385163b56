//! The client's side of the handshake (D20): VersionNegotiation answered 200, then
//! SessionStart answered 200 with the session id; a refusal closes the connection with its
//! code and is remembered for the reconnection verdict (D68).

use std::time::Instant;

use super::{ClientSession, Phase};
use crate::session::{ClientAction, ClientEvent};
use crate::wire::{Ack, JsonEnvelope, Message, SessionStart, StatusCode, StatusResponse};

impl ClientSession {
    /// A StatusResponse from the platform: it only answers the handshake.
    pub(super) fn on_status(&mut self, now: Instant, envelope: &JsonEnvelope, r: StatusResponse) {
        let ack = r.ack();
        match self.phase {
            Phase::AwaitVersion(v) if ack.is_none() || ack == Some(v) => {
                if r.code != StatusCode::Success {
                    self.handshake_refused(r);
                    return;
                }
                let start = self
                    .config
                    .session_start
                    .clone()
                    .unwrap_or_else(SessionStart::client_ready);
                let seq = self.send(now, &Message::SessionStart(start));
                self.phase = Phase::AwaitStart(seq);
            }
            Phase::AwaitStart(s) if ack.is_none() || ack == Some(s) => {
                if r.code != StatusCode::Success {
                    self.handshake_refused(r);
                    return;
                }
                let from_message = Ack::from_status_response(&r)
                    .ok()
                    .and_then(|a| a.session_id);
                let id = from_message
                    .or(Some(envelope.session_id).filter(|u| !u.is_nil()))
                    .or(self.resume_session);
                match id {
                    Some(id) => {
                        self.session_id = Some(id);
                        self.phase = Phase::Established;
                        self.events
                            .push_back(ClientEvent::SessionEstablished { session_id: id });
                    }
                    None => self.refuse(
                        now,
                        envelope.sequence_number,
                        StatusCode::BadRequest,
                        "SessionStart acknowledged without a session id",
                    ),
                }
            }
            _ => self.refuse(
                now,
                envelope.sequence_number,
                StatusCode::BadRequest,
                "unexpected StatusResponse (a platform only answers the handshake)",
            ),
        }
    }

    fn handshake_refused(&mut self, r: StatusResponse) {
        self.phase = Phase::Closed;
        self.refused = Some(r.code);
        self.events
            .push_back(ClientEvent::HandshakeRefused { code: r.code });
        self.actions.push_back(ClientAction::Close {
            code: r.code,
            reason: format!("handshake refused: {}", r.message),
        });
    }
}
