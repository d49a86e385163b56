//! The binary envelope: the specification's compact framing, used on bidirectional streams.
//!
//! Its type byte collides with segment type bytes 0x01/0x02, so it never travels on
//! unidirectional streams: the opener of a bidirectional stream sends one binary-enveloped
//! message and finishes; the peer answers on the same stream (profile section 2).

use bytes::{Buf, BufMut};

use super::{Message, MessageType, WireError};

const KIND: &str = "BinaryEnvelope";

/// A control message in the binary envelope.
///
/// # Format
/// ```text
///  0      1                 9                17           21
/// +------+-----------------+-----------------+------------+----------------+
/// | type | sequence (u64)  | timestamp ms    | length u32 | payload        |
/// +------+-----------------+-----------------+------------+----------------+
///                            (u64, Unix ms)                 (length bytes)
/// ```
/// All integers big-endian. There is no session id: see profile section 7.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BinaryEnvelope {
    message_type: MessageType,
    sequence_number: u64,
    timestamp_ms: u64,
    payload: Vec<u8>,
}

impl BinaryEnvelope {
    /// Bytes before the payload.
    pub const HEADER_LEN: usize = 21;

    /// An envelope; fails with `TooLong` if the payload exceeds `u32::MAX` bytes.
    pub fn new(
        message_type: MessageType,
        sequence_number: u64,
        timestamp_ms: u64,
        payload: Vec<u8>,
    ) -> Result<Self, WireError> {
        if u32::try_from(payload.len()).is_err() {
            return Err(WireError::TooLong {
                kind: KIND,
                len: payload.len(),
                max: u32::MAX as usize,
            });
        }
        Ok(BinaryEnvelope {
            message_type,
            sequence_number,
            timestamp_ms,
            payload,
        })
    }

    /// An envelope carrying `message`, encoded.
    pub fn wrap(
        message: &Message,
        sequence_number: u64,
        timestamp_ms: u64,
    ) -> Result<Self, WireError> {
        Self::new(
            message.message_type(),
            sequence_number,
            timestamp_ms,
            message.to_payload(),
        )
    }

    /// What the payload is.
    pub fn message_type(&self) -> MessageType {
        self.message_type
    }
    /// The sender's sequence number.
    pub fn sequence_number(&self) -> u64 {
        self.sequence_number
    }
    /// Milliseconds since the Unix epoch.
    pub fn timestamp_ms(&self) -> u64 {
        self.timestamp_ms
    }
    /// The payload bytes.
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }
    /// The payload, by value.
    pub fn into_payload(self) -> Vec<u8> {
        self.payload
    }

    /// The payload decoded as the message its type announces.
    pub fn message(&self) -> Result<Message, WireError> {
        Message::decode(self.message_type, &self.payload)
    }

    /// Writes the 21-byte header and the payload.
    pub fn encode(&self, buf: &mut impl BufMut) {
        buf.put_u8(self.message_type.to_u8());
        buf.put_u64(self.sequence_number);
        buf.put_u64(self.timestamp_ms);
        // `new` guarantees the length fits.
        buf.put_u32(self.payload.len() as u32);
        buf.put_slice(&self.payload);
    }

    /// The envelope as bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(Self::HEADER_LEN + self.payload.len());
        self.encode(&mut v);
        v
    }

    /// Reads one envelope and its payload; `Truncated` if either is incomplete (what was
    /// read is then consumed: a stream that ends early is discarded whole).
    ///
    /// Bytes after the payload are left in `buf` (a caller reading one envelope per stream
    /// checks the buffer is then empty; see [`BinaryEnvelope::decode_exact`]).
    pub fn decode(buf: &mut impl Buf) -> Result<Self, WireError> {
        let available = buf.remaining();
        if available < Self::HEADER_LEN {
            return Err(WireError::Truncated {
                kind: KIND,
                needed: Self::HEADER_LEN,
                available,
            });
        }
        let message_type = MessageType::from_u8(buf.get_u8());
        let sequence_number = buf.get_u64();
        let timestamp_ms = buf.get_u64();
        let len = buf.get_u32() as usize;
        if buf.remaining() < len {
            return Err(WireError::Truncated {
                kind: KIND,
                needed: Self::HEADER_LEN.saturating_add(len),
                available,
            });
        }
        let mut payload = vec![0u8; len];
        buf.copy_to_slice(&mut payload);
        Ok(BinaryEnvelope {
            message_type,
            sequence_number,
            timestamp_ms,
            payload,
        })
    }

    /// Reads exactly one envelope from `bytes`; `Trailing` if anything follows it.
    pub fn decode_exact(bytes: &[u8]) -> Result<Self, WireError> {
        let mut b = bytes;
        let env = Self::decode(&mut b)?;
        if !b.is_empty() {
            return Err(WireError::Trailing {
                kind: KIND,
                extra: b.len(),
            });
        }
        Ok(env)
    }
}
