//! The `/v1` handlers. Each checks its caller's role first, parses what it
//! was sent without trusting it (a bad body is a 400 that says what is
//! wrong, never a panic), and answers JSON; errors are
//! `{"error": {"code", "message"}}`.

use std::convert::Infallible;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::auth::Role;
use super::runs::RunView;
use super::store::RunRow;
use super::{ApiError, AppState, AuditRun, Caller};
use crate::endpoint::{EndpointUrl, IfExists};
use crate::engine::{self, MigrateOptions, NoEvents, PlanOverrides, PluginArg, Resumable};

/// `POST /v1/runs` and `POST /v1/plan`: what to run. Endpoints are names
/// from the server's `[endpoints]`; plugins are names from its plugin
/// directories, never paths.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunRequest {
    pub from: String,
    pub to: String,
    /// Transformers, in order: `[TABLES:]NAME[=JSON]` as `--transform` takes them.
    #[serde(default)]
    pub transform: Vec<String>,
    /// Validators, same syntax.
    #[serde(default)]
    pub validate: Vec<String>,
    #[serde(default)]
    pub options: RunRequestOptions,
}

/// The flags of `ferry migrate` a request may set.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunRequestOptions {
    pub batch_size: Option<usize>,
    /// `full` (default), `counts` or `off`.
    pub verify: Option<String>,
    /// `fail` (default) or `drop`.
    pub if_exists: Option<String>,
    /// `quarantine` or `abort` for every table (default: the config's).
    pub on_reject: Option<String>,
    #[serde(default)]
    pub tables: Vec<String>,
    #[serde(default)]
    pub exclude_tables: Vec<String>,
    #[serde(default)]
    pub index_foreign_keys: bool,
    pub retries: Option<u32>,
}

/// `GET /healthz`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Health {
    pub status: String,
}

/// A run admitted, cancelled or resumed.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RunAccepted {
    pub run_id: String,
    /// `queued` (admitted or resumed), `cancelling`, or the status of the
    /// run an Idempotency-Key started.
    pub status: String,
    /// The run an earlier request with this Idempotency-Key started.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replayed: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resumed: Option<bool>,
}

impl RunAccepted {
    fn new(run_id: &str, status: &str) -> RunAccepted {
        RunAccepted {
            run_id: run_id.to_string(),
            status: status.to_string(),
            replayed: None,
            resumed: None,
        }
    }
}

/// Every error answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable, for programs: `bad_request`, `unauthenticated`, `forbidden`,
    /// `not_found`, `idempotency_conflict`, `busy`, `finished`, …
    pub code: String,
    /// For people: what went wrong and what to do.
    pub message: String,
}

/// `GET /v1/runs`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RunList {
    pub runs: Vec<RunRow>,
}

/// `GET /v1/audit`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditList {
    pub entries: Vec<super::store::AuditRow>,
}

/// A query string that does not parse is a 400 in the API's error form.
fn query<T>(q: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    q.map(|Query(t)| t)
        .map_err(|e| bad(format!("the query string: {}", e.body_text())))
}

/// A body that could not be read (over the limit: 413) in the API's error form.
fn body(b: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    b.map_err(|e| ApiError::new(e.status(), "bad_body", e.body_text()))
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
}

fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| bad(format!("the request body: {e}")))
}

impl AppState {
    /// The endpoint a request names: one of `[endpoints]`, or `import:ID`,
    /// the directory an upload was staged in.
    fn endpoint(&self, what: &str, name: &str) -> Result<EndpointUrl, ApiError> {
        if let Some(id) = name.strip_prefix("import:") {
            // Only ids this server made: no path can be smuggled in.
            let dir = uuid::Uuid::parse_str(id)
                .ok()
                .map(|u| self.config.serve.staging.join(u.to_string()))
                .filter(|d| d.is_dir())
                .ok_or_else(|| bad(format!("{what} `{name}`: no such import on this server")))?;
            return Ok(EndpointUrl::Files(dir));
        }
        self.config.serve.endpoints.get(name).cloned().ok_or_else(|| {
            let known: Vec<&str> = self.config.serve.endpoints.keys().map(String::as_str).collect();
            bad(format!(
                "{what} `{name}` is not a named endpoint of this server (known: {}); endpoints are declared in its config's [endpoints], never sent",
                if known.is_empty() { "none".to_string() } else { known.join(", ") }
            ))
        })
    }

    /// A named endpoint a run may write into (and keep its ledger in, so
    /// the service can resume, list rejects and roll back).
    fn target(&self, name: &str) -> Result<EndpointUrl, ApiError> {
        let to = self.endpoint("to", name)?;
        let caps = crate::endpoint::capabilities(&to);
        if !caps.sink || !caps.ledger {
            return Err(bad(format!(
                "to `{name}` ({}) cannot be a service run's target: {}",
                to,
                if caps.sink {
                    "it keeps no ledger, and a service run must be resumable and undoable"
                } else {
                    "it is a source only"
                }
            )));
        }
        Ok(to)
    }

    /// The engine's options for a request, resolved against the server's
    /// endpoints, plugins and config.
    async fn options(&self, r: &RunRequest) -> Result<MigrateOptions, ApiError> {
        let from = self.endpoint("from", &r.from)?;
        let to = self.target(&r.to)?;
        let o = &r.options;
        let batch_size = o.batch_size.unwrap_or(self.config.batch_size);
        if batch_size == 0 || batch_size > crate::config::MAX_BATCH_SIZE {
            return Err(bad(format!(
                "options.batch_size must be between 1 and {}",
                crate::config::MAX_BATCH_SIZE
            )));
        }
        let verify = match o.verify.as_deref() {
            None | Some("full") => Some(engine::verify::Level::Full),
            Some("counts") => Some(engine::verify::Level::Counts),
            Some("off") => None,
            Some(v) => {
                return Err(bad(format!(
                    "options.verify `{v}`: expected full, counts or off"
                )));
            }
        };
        let if_exists = match o.if_exists.as_deref() {
            None | Some("fail") => IfExists::Fail,
            Some("drop") => IfExists::Drop,
            Some(v) => {
                return Err(bad(format!(
                    "options.if_exists `{v}`: expected fail or drop"
                )));
            }
        };
        let on_reject = match o.on_reject.as_deref() {
            None => (self.config.on_reject, self.config.table_on_reject.clone()),
            Some("quarantine") => (engine::OnReject::Quarantine, Vec::new()),
            Some("abort") => (engine::OnReject::Abort, Vec::new()),
            Some(v) => {
                return Err(bad(format!(
                    "options.on_reject `{v}`: expected quarantine or abort"
                )));
            }
        };
        let mut retry = self.config.retry;
        if let Some(n) = o.retries {
            retry.attempts = n;
        }
        let transforms = self.plugins("transform", &r.transform).await?;
        let validators = self.plugins("validate", &r.validate).await?;
        Ok(MigrateOptions {
            transforms,
            validators,
            batch_size,
            if_exists,
            casts: self.config.casts.clone(),
            verify,
            on_reject,
            files: self.config.files.clone(),
            registry: Some(self.registry.clone()),
            retry,
            selection: if o.tables.is_empty() && o.exclude_tables.is_empty() {
                self.config.selection.clone()
            } else {
                engine::TableSelection {
                    include: o.tables.clone(),
                    exclude: o.exclude_tables.clone(),
                }
            },
            index_foreign_keys: o.index_foreign_keys,
            ..MigrateOptions::new(from, to)
        })
    }

    async fn plugins(
        &self,
        what: &str,
        args: &[String],
    ) -> Result<Vec<engine::PluginUse>, ApiError> {
        let mut out = Vec::with_capacity(args.len());
        for a in args {
            let arg: PluginArg =
                engine::split_plugin_arg(a).map_err(|e| bad(format!("{what}: {e}")))?;
            // A path would let a client load any file of the server as a
            // plugin: only names the server's plugin directories hold.
            if arg.name.contains(['/', '\\']) || arg.name.ends_with(".wasm") {
                return Err(bad(format!(
                    "{what} `{}`: plugins are named from the server's plugin directories, never given as paths",
                    arg.name
                )));
            }
            out.push(arg.resolve(&self.registry).await.map_err(|e| {
                ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "plugin",
                    format!("{what}: {e}"),
                )
            })?);
        }
        Ok(out)
    }
}

mod runs;
mod service;
mod transfer;

pub use runs::*;
pub use service::*;
pub use transfer::*;
