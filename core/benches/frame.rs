//! Frame decode + unmask, sockwright against tungstenite on the same bytes, and the masking
//! loop against a byte-at-a-time loop.
//!
//! Each decode iteration takes one masked client frame of the given size from "the network" and
//! produces one owned message: for sockwright, `handle_read` on the frame's bytes plus
//! `poll_event`; for tungstenite, `WebSocket::read` over a stream that serves the same frame
//! forever (so its copy out of the stream into its read buffer is included, as sockwright's
//! copy out of the caller's buffer is). Both connections are reused across iterations.

use std::hint::black_box;
use std::io::{self, Read, Write};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use sockwright::conn::{Config, Connection, Event};
use sockwright::frame::{apply_mask, apply_mask_bytewise, encode_frame, OpCode};
use tungstenite::protocol::{Role, WebSocket, WebSocketConfig};

const SIZES: [(usize, &str); 4] = [
    (16, "16B"),
    (1 << 10, "1KiB"),
    (64 << 10, "64KiB"),
    (1 << 20, "1MiB"),
];
const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// Serves the same bytes over and over; swallows writes.
struct Forever {
    data: Vec<u8>,
    at: usize,
}

impl Read for Forever {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut n = 0;
        while n < buf.len() {
            let take = (self.data.len() - self.at).min(buf.len() - n);
            buf[n..n + take].copy_from_slice(&self.data[self.at..self.at + take]);
            n += take;
            self.at = (self.at + take) % self.data.len();
        }
        Ok(n)
    }
}

impl Write for Forever {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn masked_frame(opcode: OpCode, size: usize) -> Vec<u8> {
    let payload = vec![b'a'; size];
    let mut frame = Vec::new();
    encode_frame(&mut frame, true, opcode, &payload, Some(KEY));
    frame
}

fn decode(c: &mut Criterion, opcode: OpCode, group_name: &str) {
    let mut group = c.benchmark_group(group_name);
    for (size, label) in SIZES {
        group.throughput(Throughput::Bytes(size as u64));
        let frame = masked_frame(opcode, size);
        let mut conn = Connection::server(Config::default(), Duration::ZERO);
        group.bench_with_input(BenchmarkId::new("sockwright", label), &frame, |b, frame| {
            b.iter(|| {
                conn.handle_read(Duration::ZERO, black_box(frame)).unwrap();
                match conn.poll_event() {
                    Some(Event::Message(m)) => black_box(m),
                    other => panic!("expected a message, got {other:?}"),
                }
            })
        });
        let config = WebSocketConfig::default()
            .max_message_size(Some(16 << 20))
            .max_frame_size(Some(16 << 20));
        let stream = Forever {
            data: frame.clone(),
            at: 0,
        };
        let mut ws = WebSocket::from_raw_socket(stream, Role::Server, Some(config));
        group.bench_function(BenchmarkId::new("tungstenite", label), |b| {
            b.iter(|| black_box(ws.read().unwrap()))
        });
    }
    group.finish();
}

fn decode_binary(c: &mut Criterion) {
    decode(c, OpCode::Binary, "decode_unmask_binary");
}

fn decode_text(c: &mut Criterion) {
    decode(c, OpCode::Text, "decode_unmask_text");
}

fn mask(c: &mut Criterion) {
    let mut group = c.benchmark_group("mask");
    for (size, label) in SIZES {
        group.throughput(Throughput::Bytes(size as u64));
        let mut buf = vec![0x5a; size];
        group.bench_function(BenchmarkId::new("word_at_a_time", label), |b| {
            b.iter(|| apply_mask(black_box(&mut buf), KEY, 0))
        });
        group.bench_function(BenchmarkId::new("bytewise", label), |b| {
            b.iter(|| apply_mask_bytewise(black_box(&mut buf), KEY, 0))
        });
    }
    group.finish();
}

criterion_group!(benches, mask, decode_binary, decode_text);
criterion_main!(benches);
