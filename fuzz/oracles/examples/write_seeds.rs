//! Writes the seed corpus (`sockwright_fuzz_oracles::seeds`) to `fuzz/corpus/<target>/`.
//! Run it after changing the seeds; `tests/replay.rs` checks the files match.

use std::fs;
use std::path::Path;

fn main() -> std::io::Result<()> {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../corpus");
    for seed in sockwright_fuzz_oracles::seeds::seeds() {
        let dir = corpus.join(seed.target);
        fs::create_dir_all(&dir)?;
        fs::write(dir.join(&seed.name), &seed.bytes)?;
    }
    println!("seeds written under {}", corpus.display());
    Ok(())
}
