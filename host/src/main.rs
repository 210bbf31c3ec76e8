//! The `ferry` binary: parse, set up logging, run, map the outcome to an exit code.
//!
//! Exit codes: 0 clean, 1 failed, 2 usage error, 3 finished with rejected rows.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args = match cli::Cli::try_parse_args() {
        Ok(a) => a,
        Err(e) => {
            // clap prints help/version to stdout with code 0, usage errors with code 2.
            let code = e.exit_code();
            let _ = e.print();
            return ExitCode::from(u8::try_from(code).unwrap_or(cli::EXIT_USAGE));
        }
    };
    cli::init_logging(&args.global);
    spawn_memory_trimmer();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(cli::EXIT_FAILED);
        }
    };
    match rt.block_on(cli::run(args)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(cli::EXIT_FAILED)
        }
    }
}

/// How often freed memory is handed back to the system: often enough that a
/// run's peak RSS does not climb with its size, rarely enough that the trim
/// (a walk of the allocator's free lists) and the page faults of reusing
/// trimmed pages cost nothing measurable.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const TRIM_EVERY: std::time::Duration = std::time::Duration::from_millis(500);

/// Hands memory freed by earlier batches back to the system, every
/// [`TRIM_EVERY`], for as long as the process runs.
///
/// Batches are allocated on one thread (a source's reader) and freed on
/// another (the sink's), in buffers of 128 KiB to a few MiB. glibc raises its
/// mmap threshold to the largest buffer freed, so from then on such buffers
/// come from its arenas, and freed ones stay there for reuse, scattered
/// between live ones: a verified 5 M-row run ended 8–10 MiB above a
/// 1.25 M-row one with the same live heap (heaptrack). `malloc_trim` returns
/// every free page of every arena. Setting `MALLOC_MMAP_THRESHOLD_` instead
/// kept RSS as flat but cost ~10% more CPU: a fresh mapping, and its page
/// faults, for every buffer.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn spawn_memory_trimmer() {
    let trim = || {
        loop {
            std::thread::sleep(TRIM_EVERY);
            // SAFETY: malloc_trim only releases memory glibc's allocator
            // holds free; it takes the arenas' locks like malloc itself.
            unsafe { libc::malloc_trim(0) };
        }
    };
    // Without the thread ferry still runs, with the allocator's own policy.
    let _ = std::thread::Builder::new()
        .name("ferry-trim".into())
        .spawn(trim);
}

/// Other allocators than glibc's keep their own policy.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn spawn_memory_trimmer() {}
