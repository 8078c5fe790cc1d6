//! The `dialer` binary.

fn main() -> std::process::ExitCode {
    dialer_api::cli::run()
}
