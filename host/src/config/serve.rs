//! `ferry serve`'s part of the config file: `[endpoints]` (the names clients
//! use) and `[serve]` (where it listens, where its own state lives, its
//! tokens and limits).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::endpoint::EndpointUrl;

/// Where the service listens unless told otherwise: loopback only, so a
/// server is never reachable from the network by accident.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// Where the service keeps its own state unless `[serve] state` says: a
/// SQLite file beside the config file.
pub const DEFAULT_STATE: &str = "sqlite:ferry-serve.db";

/// Runs executing at once unless `max_concurrent_runs` says otherwise: a
/// run loads several tables in parallel and keeps the database busy, so two
/// already fill a small machine; more wait in the queue.
pub const DEFAULT_MAX_CONCURRENT_RUNS: usize = 2;

/// Runs waiting for a slot before new ones are answered 429.
pub const DEFAULT_MAX_QUEUED_RUNS: usize = 16;

/// The largest JSON request body (1 MiB): a run request is a few KB; a
/// larger body is a mistake or an attack.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1 << 20;

/// The largest upload of legacy files (256 MiB), for `POST /v1/imports`.
pub const DEFAULT_MAX_UPLOAD_BYTES: usize = 256 << 20;

/// What a token may do; each role may do what the ones below it may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads runs, events, reports, plans and statistics.
    Viewer,
    /// Also starts, cancels and resumes runs and uploads files.
    Operator,
    /// Also rolls back, cleans up and reads the audit.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }
}

/// A configured token.
#[derive(Debug, Clone)]
pub struct Token {
    pub name: String,
    pub role: Role,
    pub sha256: [u8; 32],
}

/// `[serve]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeSection {
    /// `ADDRESS:PORT` (default 127.0.0.1:8080); `--listen` overrides it.
    pub listen: Option<String>,
    /// The service's own state (run index, audit, idempotency keys):
    /// `sqlite:PATH` (default `ferry-serve.db` beside the config file),
    /// `postgres://…` or `mysql://…`.
    pub state: Option<String>,
    /// Bearer tokens, by the sha256 of each.
    #[serde(default)]
    pub tokens: Vec<TokenEntry>,
    pub max_concurrent_runs: Option<usize>,
    pub max_queued_runs: Option<usize>,
    /// The largest JSON request body, in KiB.
    pub max_body_kib: Option<usize>,
    /// The largest upload, in MiB.
    pub max_upload_mib: Option<usize>,
    /// Where uploaded legacy files are staged (default `staging/` beside
    /// the config file).
    pub staging: Option<PathBuf>,
}

/// One `[[serve.tokens]]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenEntry {
    /// Who holds the token: what the audit records.
    pub name: String,
    pub role: Role,
    /// sha256 of the token, hex: the token itself is never written down.
    pub sha256: String,
}

/// The service's settings, validated.
#[derive(Debug, Clone)]
pub struct ServeSettings {
    pub listen: SocketAddr,
    /// Where the service keeps its own state: a SQLite file, a PostgreSQL
    /// or a MySQL/MariaDB database.
    pub state: EndpointUrl,
    pub tokens: Vec<Token>,
    pub max_concurrent_runs: usize,
    pub max_queued_runs: usize,
    pub max_body_bytes: usize,
    pub max_upload_bytes: usize,
    pub staging: PathBuf,
    /// The endpoints clients may name.
    pub endpoints: BTreeMap<String, EndpointUrl>,
}

impl Default for ServeSettings {
    fn default() -> Self {
        ServeSettings {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            state: DEFAULT_STATE
                .parse()
                .expect("the default state is a valid URL"),
            tokens: Vec::new(),
            max_concurrent_runs: DEFAULT_MAX_CONCURRENT_RUNS,
            max_queued_runs: DEFAULT_MAX_QUEUED_RUNS,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_upload_bytes: DEFAULT_MAX_UPLOAD_BYTES,
            staging: PathBuf::from("staging"),
            endpoints: BTreeMap::new(),
        }
    }
}

impl ServeSettings {
    /// Validates `[serve]` and `[endpoints]`; relative paths are relative
    /// to `base`, the config file's directory.
    pub fn build(
        raw: ServeSection,
        endpoints: BTreeMap<String, String>,
        base: &Path,
    ) -> Result<ServeSettings, String> {
        let listen = raw.listen.as_deref().unwrap_or(DEFAULT_LISTEN);
        let listen: SocketAddr = listen
            .parse()
            .map_err(|e| format!("serve.listen `{listen}`: {e} (expected ADDRESS:PORT)"))?;
        let state = raw
            .state
            .as_deref()
            .unwrap_or(DEFAULT_STATE)
            .parse::<EndpointUrl>()
            .map_err(|e| format!("serve.state: {e}"))?
            .relative_to(base);
        if !state.is_sql() {
            return Err(format!(
                "serve.state `{state}`: the service keeps its state in an SQL database: sqlite:PATH, postgres://… or mysql://…"
            ));
        }
        let mut tokens = Vec::with_capacity(raw.tokens.len());
        for (i, t) in raw.tokens.into_iter().enumerate() {
            let hexpart = t.sha256.trim().trim_start_matches("sha256:");
            let mut digest = [0u8; 32];
            hex::decode_to_slice(hexpart, &mut digest).map_err(|_| {
                format!(
                    "serve.tokens[{i}] ({}): sha256 must be 64 hex digits (`ferry serve --hash-token` prints it)",
                    t.name
                )
            })?;
            if t.name.trim().is_empty() {
                return Err(format!("serve.tokens[{i}]: name is empty"));
            }
            tokens.push(Token {
                name: t.name,
                role: t.role,
                sha256: digest,
            });
        }
        let positive = |what: &str, v: Option<usize>, d: usize| match v {
            Some(0) => Err(format!("serve.{what} must be greater than zero")),
            Some(v) => Ok(v),
            None => Ok(d),
        };
        let mut named = BTreeMap::new();
        for (name, url) in endpoints {
            let parsed: EndpointUrl = url
                .parse()
                .map_err(|e: crate::endpoint::EndpointError| format!("endpoints.{name}: {e}"))?;
            named.insert(name, parsed);
        }
        Ok(ServeSettings {
            listen,
            state,
            tokens,
            max_concurrent_runs: positive(
                "max_concurrent_runs",
                raw.max_concurrent_runs,
                DEFAULT_MAX_CONCURRENT_RUNS,
            )?,
            // Zero queued is allowed: every run beyond the slots is refused.
            max_queued_runs: raw.max_queued_runs.unwrap_or(DEFAULT_MAX_QUEUED_RUNS),
            max_body_bytes: positive(
                "max_body_kib",
                raw.max_body_kib,
                DEFAULT_MAX_BODY_BYTES >> 10,
            )? << 10,
            max_upload_bytes: positive(
                "max_upload_mib",
                raw.max_upload_mib,
                DEFAULT_MAX_UPLOAD_BYTES >> 20,
            )? << 20,
            staging: base.join(raw.staging.unwrap_or_else(|| PathBuf::from("staging"))),
            endpoints: named,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(s: Option<&str>) -> Result<String, String> {
        let raw = ServeSection {
            state: s.map(str::to_string),
            ..Default::default()
        };
        ServeSettings::build(raw, BTreeMap::new(), Path::new("/etc/ferry"))
            .map(|s| s.state.to_string())
    }

    #[test]
    fn the_state_is_a_sql_database_and_a_relative_file_sits_beside_the_config() {
        assert_eq!(state(None).unwrap(), "sqlite:/etc/ferry/ferry-serve.db");
        assert_eq!(
            state(Some("sqlite:var/serve.db")).unwrap(),
            "sqlite:/etc/ferry/var/serve.db"
        );
        assert_eq!(
            state(Some("postgres://ferry:secret@db/state")).unwrap(),
            "postgres://ferry:***@db/state"
        );
        assert_eq!(
            state(Some("mariadb://root@db/state")).unwrap(),
            "mysql://root@db/state"
        );
        let e = state(Some("json:out")).unwrap_err();
        assert!(e.contains("an SQL database"), "{e}");
        assert!(state(Some("ftp://x")).is_err());
    }
}
