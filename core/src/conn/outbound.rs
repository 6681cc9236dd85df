//! The outbound half: encoded frames waiting for the transport, bounded by
//! [`Config::max_outbound_bytes`](super::Config::max_outbound_bytes).
//!
//! Frames this connection encodes go into one growing buffer (the tail). A [`SharedFrame`]
//! of [`SHARE_MIN`] bytes or more is queued as a segment of its own that points at the shared
//! bytes, so a broadcast to many connections is not copied once per connection; the tail
//! written so far is sealed in front of it to keep the order. The transport then sees the
//! queue as a few contiguous pieces, front first.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::vec::Vec;

use bytes::{Buf, Bytes};

use super::{MaskKeys, SendError};
use crate::frame::{encode_frame, FrameHeader, OpCode, SharedFrame};

/// A buffer whose capacity is given back once drained, past this size, so a connection that
/// once sent a large message does not hold its memory while idle.
const RETAINED_CAPACITY: usize = 64 << 10;

/// Shared frames shorter than this are copied into the tail instead of queued as a segment of
/// their own. A segment costs about 32 bytes of bookkeeping (and, with the driver's
/// `pending_transmit`, a write call of its own), which is more than copying a short frame; this
/// also keeps the bookkeeping under 3% of the queued bytes, so the outbound limit still bounds
/// the memory a slow reader holds, however short the frames it is sent.
pub(super) const SHARE_MIN: usize = 1024;

/// Frames queued for the transport, in order: `sealed` front to back, then `tail`.
pub(super) struct Outbound {
    /// Shared frames, and the tails sealed in front of them.
    sealed: VecDeque<Bytes>,
    /// Bytes in `sealed`.
    sealed_len: usize,
    /// Frames encoded here since the last shared segment.
    tail: Vec<u8>,
    /// The latest pong owed while the queue was full: the RFC allows answering only the most
    /// recent ping, so a ping flood costs at most one pending pong. Boxed: it is rare, and
    /// an inline 125-byte buffer would be most of an idle connection's size.
    owed_pong: Option<Box<[u8]>>,
    /// Present for clients, which mask every frame.
    mask_keys: Option<Box<dyn MaskKeys + Send>>,
    limit: usize,
}

impl Outbound {
    pub(super) fn new(limit: usize, mask_keys: Option<Box<dyn MaskKeys + Send>>) -> Self {
        Self {
            sealed: VecDeque::new(),
            sealed_len: 0,
            tail: Vec::new(),
            owed_pong: None,
            mask_keys,
            limit,
        }
    }

    /// Bytes queued, the owed pong included.
    pub(super) fn queued(&self) -> usize {
        self.queued_frames()
            + self
                .owed_pong
                .as_ref()
                .map_or(0, |payload| self.frame_len(payload.len()))
    }

    /// Queues a frame the caller asked for, if it fits under the limit.
    pub(super) fn push_data(&mut self, opcode: OpCode, payload: &[u8]) -> Result<(), SendError> {
        self.check_room(self.frame_len(payload.len()))?;
        self.encode(opcode, payload);
        Ok(())
    }

    /// Queues a frame encoded elsewhere, if it fits under the limit: by reference when it is
    /// long, by copy when it is short (see [`SHARE_MIN`]). Only for servers, which do not mask.
    pub(super) fn push_shared(&mut self, frame: &SharedFrame) -> Result<(), SendError> {
        debug_assert!(self.mask_keys.is_none(), "a client masks every frame");
        let bytes = frame.bytes();
        self.check_room(bytes.len())?;
        if bytes.len() < SHARE_MIN {
            self.tail.extend_from_slice(bytes);
        } else {
            self.seal_tail();
            self.sealed_len += bytes.len();
            self.sealed.push_back(bytes.clone());
        }
        Ok(())
    }

    /// Queues a control frame regardless of the limit: a close frame is small, and there is
    /// at most one.
    pub(super) fn push_control(&mut self, opcode: OpCode, payload: &[u8]) {
        self.flush_owed_pong();
        self.encode(opcode, payload);
    }

    /// Queues an empty keepalive ping if it fits under the limit (see `handle_timeout`).
    pub(super) fn push_keepalive_ping(&mut self) {
        if self.check_room(self.frame_len(0)).is_ok() {
            self.encode(OpCode::Ping, &[]);
        }
    }

    /// Answers a ping: queued in order while there is room, otherwise kept as the one owed
    /// pong, replacing an older one.
    pub(super) fn push_pong(&mut self, payload: &[u8]) {
        let needed = self.frame_len(payload.len());
        if self.owed_pong.is_none() && self.queued_frames() + needed <= self.limit {
            self.encode(OpCode::Pong, payload);
        } else {
            self.owed_pong = Some(payload.into());
        }
    }

    /// Drops the owed pong: the connection is closing and sends nothing more but its close.
    pub(super) fn forget_owed_pong(&mut self) {
        self.owed_pong = None;
    }

    /// Moves every queued byte to the end of `buf`; returns how many.
    pub(super) fn take_into(&mut self, buf: &mut Vec<u8>) -> usize {
        self.flush_owed_pong();
        let len = self.queued_frames();
        if buf.is_empty() && self.sealed.is_empty() {
            // Hand over the whole buffer instead of copying it.
            core::mem::swap(buf, &mut self.tail);
        } else {
            buf.reserve(len);
            for segment in self.sealed.drain(..) {
                buf.extend_from_slice(&segment);
            }
            buf.extend_from_slice(&self.tail);
        }
        self.sealed_len = 0;
        self.tail.clear();
        self.give_back_capacity();
        len
    }

    /// The next queued bytes, to write in place: the front segment, which is all of them
    /// unless shared frames are queued. Empty only when nothing is queued.
    pub(super) fn pending(&mut self) -> &[u8] {
        self.flush_owed_pong();
        match self.sealed.front() {
            Some(front) => front,
            None => &self.tail,
        }
    }

    /// Drops the first `written` queued bytes.
    pub(super) fn advance(&mut self, mut written: usize) {
        while written > 0 {
            let Some(front) = self.sealed.front_mut() else {
                let written = written.min(self.tail.len());
                self.tail.drain(..written);
                break;
            };
            let n = written.min(front.len());
            front.advance(n);
            self.sealed_len -= n;
            written -= n;
            if front.is_empty() {
                self.sealed.pop_front();
            }
        }
        if self.tail.is_empty() {
            self.give_back_capacity();
        }
    }

    /// Bytes queued, without the owed pong.
    fn queued_frames(&self) -> usize {
        self.sealed_len + self.tail.len()
    }

    fn check_room(&self, needed: usize) -> Result<(), SendError> {
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
        Ok(())
    }

    /// Moves the tail behind the sealed segments, so a shared segment can follow it.
    fn seal_tail(&mut self) {
        if self.tail.is_empty() {
            return;
        }
        let mostly_full = self.tail.len() >= self.tail.capacity() / 2;
        let segment = if mostly_full || self.tail.capacity() > RETAINED_CAPACITY {
            // Hand the buffer over (no copy); the next frames start a new one.
            Bytes::from(core::mem::take(&mut self.tail))
        } else {
            // A few frames in a roomy buffer: copy them out and keep the room for reuse.
            let segment = Bytes::copy_from_slice(&self.tail);
            self.tail.clear();
            segment
        };
        self.sealed_len += segment.len();
        self.sealed.push_back(segment);
    }

    fn give_back_capacity(&mut self) {
        if self.tail.capacity() > RETAINED_CAPACITY {
            self.tail = Vec::new();
        }
    }

    fn flush_owed_pong(&mut self) {
        if let Some(payload) = self.owed_pong.take() {
            self.encode(OpCode::Pong, &payload);
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
        encode_frame(&mut self.tail, true, opcode, payload, mask);
    }
}
