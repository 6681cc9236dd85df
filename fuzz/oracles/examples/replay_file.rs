//! Runs one input through a target's oracles, with the panic message and backtrace:
//! `cargo run -p sockwright-fuzz-oracles --example replay_file TARGET FILE`.

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(target), Some(file)) = (args.next(), args.next()) else {
        eprintln!("usage: replay_file TARGET FILE");
        std::process::exit(2);
    };
    let Some((_, run)) = sockwright_fuzz_oracles::TARGETS
        .iter()
        .find(|(name, _)| *name == target)
    else {
        eprintln!("no target {target}");
        std::process::exit(2);
    };
    let data = std::fs::read(&file).expect("a readable input");
    run(&data);
    println!("{target}: {file} passes");
}
