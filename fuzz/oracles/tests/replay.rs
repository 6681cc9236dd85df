//! Replays the seed corpus and every regression input through the targets' oracles, so
//! `cargo test` catches a regression without nightly or a fuzzer. One test per target.

use std::fs;
use std::path::{Path, PathBuf};

use sockwright_fuzz_oracles::{seeds, TARGETS};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The files of `fuzz/<kind>/<target>/`, sorted (none when the folder does not exist).
fn inputs(kind: &str, target: &str) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(fuzz_dir().join(kind).join(target)) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("a readable folder").path())
        .filter(|p| {
            p.is_file()
                && !p
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    files.sort();
    files
}

/// Runs every corpus and regression file of `target`; returns how many ran.
fn replay(target: &str) -> usize {
    let (_, run) = TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .expect("a known target");
    let mut count = 0;
    for kind in ["corpus", "regressions"] {
        for file in inputs(kind, target) {
            let data = fs::read(&file).expect("a readable input");
            let outcome = std::panic::catch_unwind(|| run(&data));
            assert!(
                outcome.is_ok(),
                "{target}: {} fails its oracle",
                file.display()
            );
            count += 1;
        }
    }
    count
}

macro_rules! replay_tests {
    ($($target:ident),* $(,)?) => {$(
        #[test]
        fn $target() {
            let count = replay(stringify!($target));
            assert!(count > 0, "no corpus for {}", stringify!($target));
        }
    )*};
}

replay_tests!(
    handshake_server,
    handshake_client,
    token_list,
    frame_server,
    frame_client,
    connection,
    relay,
    hub,
    ws_url,
);

#[test]
fn every_target_is_replayed() {
    let names: Vec<&str> = TARGETS.iter().map(|(name, _)| *name).collect();
    assert_eq!(
        names.len(),
        9,
        "a target was added: add it to replay_tests! above"
    );
}

#[test]
fn seeds_are_committed() {
    for seed in seeds::seeds() {
        let path = fuzz_dir().join("corpus").join(seed.target).join(&seed.name);
        let committed = fs::read(&path).unwrap_or_default();
        assert!(
            committed == seed.bytes,
            "{} differs from its seed: cargo run -p sockwright-fuzz-oracles --example write_seeds",
            path.display()
        );
    }
}
