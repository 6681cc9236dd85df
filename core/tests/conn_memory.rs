//! Memory the connection holds, measured with a counting allocator: a frame header that
//! declares a huge payload reserves little, a ping flood that nobody drains stays bounded, and
//! a drained connection gives back its large buffers.
//!
//! One test function, so no other test allocates while it measures.

mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use sockwright::conn::{Config, Event, Message};
use sockwright::frame::{encode_frame, OpCode};
use support::{server, transmit, RFC_MASK};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts bytes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let live = LIVE.fetch_add(layout.size(), Ordering::SeqCst) + layout.size();
        PEAK.fetch_max(live, Ordering::SeqCst);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::SeqCst);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Runs `f` and returns how far live memory rose above where it started.
fn peak_growth(f: impl FnOnce()) -> usize {
    let start = LIVE.load(Ordering::SeqCst);
    PEAK.store(start, Ordering::SeqCst);
    f();
    PEAK.load(Ordering::SeqCst) - start
}

#[test]
fn memory_stays_bounded() {
    // 1. The header of a 16 MiB frame arrives, with 10 bytes of payload: at most 64 KiB is
    //    reserved for it, not 16 MiB.
    let mut conn = server(Config::default());
    let mut wire = vec![0x82, 0xff];
    wire.extend_from_slice(&(16u64 << 20).to_be_bytes());
    wire.extend_from_slice(&RFC_MASK);
    wire.extend_from_slice(&[0; 10]);
    let grew = peak_growth(|| conn.handle_read(Duration::ZERO, &wire).unwrap());
    assert!(
        grew <= 80 << 10,
        "a 16 MiB frame header reserved {grew} bytes"
    );
    drop(conn);

    // 2. 100,000 pings, never drained, against a 64 KiB outbound limit: the pongs that fit are
    //    queued, then only the latest is owed. Events are taken as a driver would.
    let mut config = Config::default();
    config.max_outbound_bytes = 64 << 10;
    let mut conn = server(config);
    let mut ping = Vec::new();
    encode_frame(&mut ping, true, OpCode::Ping, &[7; 125], Some(RFC_MASK));
    let burst: Vec<u8> = ping
        .iter()
        .copied()
        .cycle()
        .take(ping.len() * 1000)
        .collect();
    let grew = peak_growth(|| {
        for _ in 0..100 {
            conn.handle_read(Duration::ZERO, &burst).unwrap();
            while conn.poll_event().is_some() {}
        }
    });
    assert!(
        conn.queued_bytes() <= (64 << 10) + 140,
        "queued {}",
        conn.queued_bytes()
    );
    // Unbounded pongs would be 100,000 x 131 bytes = 13 MB. What is allowed: the queue's
    // capacity (up to twice its limit) plus one read's worth of `Ping` events.
    let allowed = (128 << 10) + 2 * burst.len();
    assert!(
        grew <= allowed,
        "a ping flood grew memory by {grew} bytes (allowed {allowed})"
    );
    assert!(!transmit(&mut conn).is_empty(), "the pongs are still sent");

    // 3. After a 1 MiB message is drained, the connection holds no large buffer.
    let mut conn = server(Config::default());
    conn.send_binary(&vec![0; 1 << 20]).unwrap();
    let before = LIVE.load(Ordering::SeqCst);
    let sent = transmit(&mut conn);
    assert_eq!(sent.len(), (1 << 20) + 10);
    drop(sent);
    conn.send_binary(b"small").unwrap();
    let mut out = Vec::with_capacity(64);
    conn.poll_transmit(&mut out);
    assert!(
        LIVE.load(Ordering::SeqCst) < before,
        "the 1 MiB buffer was given back"
    );

    // 4. A connection that has echoed one small message and gone quiet, as most idle
    //    connections have: what it keeps over a fresh one (the event queue's one slot, the
    //    outbound queue keeps; 104 bytes on x86-64) stays under 150 bytes. With a
    //    queue of four events from the first, it was 224.
    let mut conn = server(Config::default());
    let mut hello = Vec::new();
    encode_frame(&mut hello, true, OpCode::Binary, b"hello", Some(RFC_MASK));
    let fresh = LIVE.load(Ordering::SeqCst);
    conn.handle_read(Duration::ZERO, &hello).unwrap();
    while let Some(event) = conn.poll_event() {
        if let Event::Message(Message::Binary(data)) = event {
            conn.send_binary(&data).unwrap();
        }
    }
    let mut out = Vec::with_capacity(64);
    conn.poll_transmit(&mut out);
    let kept = LIVE.load(Ordering::SeqCst) - fresh - out.capacity();
    assert!(kept < 150, "one echoed message left {kept} bytes behind");
}
