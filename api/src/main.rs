//! The `dialer` binary.

/// mimalloc rather than glibc malloc: under load the server allocates and frees small objects
/// from many threads, and glibc's arenas spent a fifth of the CPU of the callback benchmark in
/// malloc/free and consolidation (bench/RESULTS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    dialer_api::cli::run()
}
