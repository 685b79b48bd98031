//! The `marquee` binary: parses the command line and hands over to the library.

use clap::Parser;
use tracing_subscriber::EnvFilter;

/// mimalloc rather than glibc's malloc: under a crowd of cold joins glibc's allocator took 16%
/// of the server's CPU (perf, `make bench` join), most of it in the large buffers of the gate's
/// RPC batches, whose allocation makes glibc consolidate its free lists.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

// Single-threaded: this runtime is the first HTTP worker, beside the background work
// (`marquee::workers` says why); the other workers have a thread each.
#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| EnvFilter::new("info,tower_http=warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    match marquee::cli::run(marquee::cli::Cli::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("marquee: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
