//! The outbound half: encoded frames waiting for the transport, bounded by
//! [`Config::max_outbound_bytes`](super::Config::max_outbound_bytes).

use alloc::boxed::Box;
use alloc::vec::Vec;

use super::{MaskKeys, SendError};
use crate::frame::{encode_frame, FrameHeader, OpCode, MAX_CONTROL_PAYLOAD};

/// A buffer whose capacity is given back once drained, past this size, so a connection that
/// once sent a large message does not hold its memory while idle.
const RETAINED_CAPACITY: usize = 64 << 10;

/// Frames queued for the transport, in order.
pub(super) struct Outbound {
    bytes: Vec<u8>,
    /// The latest pong owed while the queue was full: the RFC allows answering only the most
    /// recent ping, so a ping flood costs at most one pending pong.
    owed_pong: Option<([u8; MAX_CONTROL_PAYLOAD], u8)>,
    /// Present for clients, which mask every frame.
    mask_keys: Option<Box<dyn MaskKeys + Send>>,
    limit: usize,
}

impl Outbound {
    pub(super) fn new(limit: usize, mask_keys: Option<Box<dyn MaskKeys + Send>>) -> Self {
        Self {
            bytes: Vec::new(),
            owed_pong: None,
            mask_keys,
            limit,
        }
    }

    /// Bytes queued, the owed pong included.
    pub(super) fn queued(&self) -> usize {
        self.bytes.len()
            + self
                .owed_pong
                .map_or(0, |(_, len)| self.frame_len(usize::from(len)))
    }

    /// Queues a frame the caller asked for, if it fits under the limit.
    pub(super) fn push_data(&mut self, opcode: OpCode, payload: &[u8]) -> Result<(), SendError> {
        let needed = self.frame_len(payload.len());
        let limit = self.limit;
        if needed > limit {
            return Err(SendError::TooLarge { needed, limit });
        }
        let queued = self.queued();
        if queued + needed > limit {
            return Err(SendError::OutboundFull {
                queued,
                needed,
                limit,
            });
        }
        self.encode(opcode, payload);
        Ok(())
    }

    /// Queues a control frame regardless of the limit: close frames and keepalive pings are
    /// small and few.
    pub(super) fn push_control(&mut self, opcode: OpCode, payload: &[u8]) {
        self.flush_owed_pong();
        self.encode(opcode, payload);
    }

    /// Answers a ping: queued in order while there is room, otherwise kept as the one owed
    /// pong, replacing an older one.
    pub(super) fn push_pong(&mut self, payload: &[u8]) {
        let needed = self.frame_len(payload.len());
        if self.owed_pong.is_none() && self.bytes.len() + needed <= self.limit {
            self.encode(OpCode::Pong, payload);
        } else {
            let mut owed = [0; MAX_CONTROL_PAYLOAD];
            owed[..payload.len()].copy_from_slice(payload);
            self.owed_pong = Some((owed, payload.len() as u8));
        }
    }

    /// Drops the owed pong: the connection is closing and sends nothing more but its close.
    pub(super) fn forget_owed_pong(&mut self) {
        self.owed_pong = None;
    }

    /// Moves every queued byte to the end of `buf`; returns how many.
    pub(super) fn take_into(&mut self, buf: &mut Vec<u8>) -> usize {
        self.flush_owed_pong();
        let len = self.bytes.len();
        if buf.is_empty() {
            // Hand over the whole buffer instead of copying it.
            core::mem::swap(buf, &mut self.bytes);
        } else {
            buf.extend_from_slice(&self.bytes);
        }
        self.bytes.clear();
        self.give_back_capacity();
        len
    }

    /// The queued bytes, to write in place.
    pub(super) fn pending(&mut self) -> &[u8] {
        self.flush_owed_pong();
        &self.bytes
    }

    /// Drops the first `written` queued bytes.
    pub(super) fn advance(&mut self, written: usize) {
        let written = written.min(self.bytes.len());
        self.bytes.drain(..written);
        if self.bytes.is_empty() {
            self.give_back_capacity();
        }
    }

    fn give_back_capacity(&mut self) {
        if self.bytes.capacity() > RETAINED_CAPACITY {
            self.bytes = Vec::new();
        }
    }

    fn flush_owed_pong(&mut self) {
        if let Some((payload, len)) = self.owed_pong.take() {
            self.encode(OpCode::Pong, &payload[..usize::from(len)]);
        }
    }

    /// The encoded size of a frame with `payload_len` bytes of payload from this end.
    fn frame_len(&self, payload_len: usize) -> usize {
        let header = FrameHeader {
            fin: true,
            rsv: 0,
            opcode: OpCode::Binary,
            mask: self.mask_keys.as_ref().map(|_| [0; 4]),
            payload_len: payload_len as u64,
        };
        header.encoded_len() + payload_len
    }

    fn encode(&mut self, opcode: OpCode, payload: &[u8]) {
        let mask = self.mask_keys.as_mut().map(|keys| keys.next_mask_key());
        encode_frame(&mut self.bytes, true, opcode, payload, mask);
    }
}
