//! The `sockwright` binary: `sockwright echo [OPTIONS]`; see `sockwright --help`.

#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    sockwright_servers::cli::main()
}
