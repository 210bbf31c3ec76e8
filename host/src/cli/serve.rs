//! `ferry serve`: the migration service (see `ferry::serve`).

use std::io::Read;
use std::net::SocketAddr;

use clap::Args;

use super::{EXIT_FAILED, EXIT_OK, GlobalArgs, UsageError};

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// ADDRESS:PORT to listen on (default: `[serve] listen`, else
    /// 127.0.0.1:8080). Port 0 picks a free one; the address chosen is
    /// printed on stderr.
    #[arg(long, value_name = "ADDRESS:PORT")]
    pub listen: Option<SocketAddr>,
    /// Read a token on stdin and print the sha256 a `[[serve.tokens]]`
    /// entry records (the token itself is never written down); serve nothing.
    #[arg(long)]
    pub hash_token: bool,
}

impl ServeArgs {
    pub async fn execute(self, g: &GlobalArgs) -> anyhow::Result<u8> {
        if self.hash_token {
            let mut token = String::new();
            std::io::stdin().read_to_string(&mut token)?;
            if token.trim().is_empty() {
                return Err(UsageError("--hash-token: no token on stdin".into()).into());
            }
            println!("{}", ferry::serve::auth::hash_token(&token));
            return Ok(EXIT_OK);
        }
        if g.config.is_none() {
            return Err(UsageError(
                "ferry serve needs --config FILE: its [endpoints] and [[serve.tokens]]".into(),
            )
            .into());
        }
        let (config, registry) = super::setup(g)?;
        let addr = self.listen.unwrap_or(config.serve.listen);
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
        let bound = listener.local_addr()?;
        eprintln!("ferry serve: listening on http://{bound}");
        match ferry::serve::serve(config, registry, listener, shutdown_signal()).await {
            Ok(()) => {
                eprintln!("ferry serve: stopped");
                Ok(EXIT_OK)
            }
            Err(e) => {
                eprintln!("error: {e}");
                Ok(EXIT_FAILED)
            }
        }
    }
}

/// SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    eprintln!(
        "ferry serve: shutting down; runs stop after their batch in flight and stay resumable"
    );
}
