//! Memory a hub and its connections hold, measured with a counting allocator: a broadcast is
//! not copied per recipient, slow consumers that never read stay within their queue limit,
//! and sessions that come and go (with ever new topic names) leave nothing behind.
//!
//! One test function, so no other test allocates while it measures.

mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use sockwright::conn::{Config, Connection};
use sockwright::frame::SharedFrame;
use sockwright::hub::{Delivery, Handle, Hub, HubConfig, Registration, SlowConsumerPolicy, Target};
use support::server;

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
fn peak_growth<T>(f: impl FnOnce() -> T) -> (usize, T) {
    let start = LIVE.load(Ordering::SeqCst);
    PEAK.store(start, Ordering::SeqCst);
    let out = f();
    (PEAK.load(Ordering::SeqCst) - start, out)
}

fn hub_with(config: HubConfig, n: usize) -> (Hub, BTreeMap<Handle, Connection>) {
    let mut hub = Hub::new(config).unwrap();
    let conns = (0..n)
        .map(|i| {
            let handle = hub.register(Registration::new(format!("u{i}"))).unwrap();
            (handle, server(Config::default()))
        })
        .collect();
    (hub, conns)
}

#[test]
fn memory_stays_bounded() {
    // 1. A 64 KiB broadcast to 1000 connections: one encoding and a reference per connection,
    //    not 1000 copies (64 MB).
    let (mut hub, mut conns) = hub_with(HubConfig::default(), 1000);
    let payload = vec![7u8; 64 << 10];
    let (grew, report) = peak_growth(|| {
        let plan = hub
            .publish(Target::All, SharedFrame::binary(&payload), None)
            .unwrap();
        hub.deliver_all(&plan, &mut conns)
    });
    assert_eq!(report.count(&Delivery::Queued), 1000);
    let allowed = (64 << 10) + 1000 * 256;
    assert!(
        grew <= allowed,
        "a 64 KiB broadcast to 1000 grew memory by {grew} bytes (allowed {allowed})"
    );
    drop((hub, conns, report));

    // 2. 100 connections that never read, 5000 short messages (copied, 100 bytes each) under
    //    the drop policy and a 64 KiB queue limit: each holds at most its limit (and the
    //    slack of a growing buffer), not 500 KB.
    let limit = 64 << 10;
    let mut config = HubConfig::default();
    config.max_queued_bytes = limit;
    config.slow_consumer = SlowConsumerPolicy::DropMessage;
    let (mut hub, mut conns) = hub_with(config.clone(), 100);
    let (grew, ()) = peak_growth(|| {
        for i in 0..5000u32 {
            let text = format!("{i:0>98}");
            let plan = hub
                .publish(Target::All, text.as_str().into(), None)
                .unwrap();
            hub.deliver_all(&plan, &mut conns);
        }
    });
    assert!(conns.values().all(|c| c.queued_bytes() <= limit));
    let allowed = 100 * 2 * limit + (64 << 10);
    assert!(
        grew <= allowed,
        "short messages to stuck readers grew memory by {grew} bytes (allowed {allowed})"
    );
    assert!(hub.stats().dropped > 0);
    drop((hub, conns));

    // 3. The same with 2 KiB messages, which are shared: the stuck queues hold references to
    //    the same few dozen frames, so memory stays near one queue's worth, not 100.
    let (mut hub, mut conns) = hub_with(config, 100);
    let (grew, ()) = peak_growth(|| {
        for i in 0..2000u32 {
            let mut payload = vec![0u8; 2044];
            payload[..4].copy_from_slice(&i.to_be_bytes());
            let plan = hub
                .publish(Target::All, SharedFrame::binary(&payload), None)
                .unwrap();
            hub.deliver_all(&plan, &mut conns);
        }
    });
    let allowed = 2 * limit + 100 * 4096;
    assert!(
        grew <= allowed,
        "shared messages to stuck readers grew memory by {grew} bytes (allowed {allowed})"
    );
    drop((hub, conns));

    // 4. 20,000 sessions come and go, each with topics no one used before: the hub ends where
    //    it started.
    let mut hub = Hub::new(HubConfig::default()).unwrap();
    let keep = hub.register(Registration::new("stays")).unwrap();
    let before = LIVE.load(Ordering::SeqCst);
    let (grew, ()) = peak_growth(|| {
        for i in 0..20_000u32 {
            let handle = hub
                .register(
                    Registration::new(format!("user-{i}"))
                        .with_name("a name")
                        .with_topics([format!("topic-{i}"), format!("other-{i}")]),
                )
                .unwrap();
            hub.unregister(handle).unwrap();
        }
    });
    let after = LIVE.load(Ordering::SeqCst);
    assert!(
        after <= before + 1024,
        "churn left {} bytes behind",
        after - before
    );
    assert!(
        grew <= 64 << 10,
        "churn peaked {grew} bytes above the start"
    );
    assert_eq!(hub.len(), 1);
    assert_eq!(hub.topics().collect::<Vec<_>>(), ["default"]);
    assert!(hub.session(keep).is_some());
}
