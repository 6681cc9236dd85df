#![no_main]
// The target and its oracles live in sockwright-fuzz-oracles, where `cargo test` replays them.
libfuzzer_sys::fuzz_target!(|data: &[u8]| sockwright_fuzz_oracles::run_token_list(data));
