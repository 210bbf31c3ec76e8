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
