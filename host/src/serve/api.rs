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

/// `GET /healthz`: no authentication; says the process answers.
#[utoipa::path(get, path = "/healthz", tag = "service", security(()), responses((status = 200, description = "The process answers", body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
    })
}

/// `POST /v1/runs`: starts a run; `202 {"run_id", "status"}`.
#[utoipa::path(post, path = "/v1/runs", tag = "runs", request_body = RunRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Same key and same body: the same run (200); same key, another body: 409")),
    responses(
        (status = 202, description = "Admitted: queued, then run", body = RunAccepted),
        (status = 200, description = "The run this Idempotency-Key started", body = RunAccepted),
        (status = 400, description = "A malformed or invalid request", body = ErrorBody), (status = 401, description = "No token, or an unknown one", body = ErrorBody), (status = 403, description = "The token's role is too low", body = ErrorBody),
        (status = 409, description = "The Idempotency-Key was used for another request", body = ErrorBody),
        (status = 413, description = "The body is over the limit", body = ErrorBody),
        (status = 422, description = "A plugin could not be resolved", body = ErrorBody),
        (status = 429, description = "Every slot and queue place is taken (Retry-After says when to try again)", body = ErrorBody),
    ))]
pub async fn start_run(
    State(s): State<Arc<AppState>>,
    caller: Caller,
    headers: HeaderMap,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let who = caller.require(Role::Operator)?;
    let body = body(raw)?;
    let req: RunRequest = parse_json(&body)?;
    let key = match headers.get("idempotency-key") {
        None => None,
        Some(v) => {
            let k = v
                .to_str()
                .ok()
                .map(str::trim)
                .filter(|k| !k.is_empty() && k.len() <= 255)
                .ok_or_else(|| bad("Idempotency-Key must be 1 to 255 visible ASCII characters"))?;
            Some(k.to_string())
        }
    };
    // The same request whatever its whitespace: the hash is of its parsed form.
    let canonical: serde_json::Value = parse_json(&body)?;
    let body_sha = hex::encode(Sha256::digest(canonical.to_string().as_bytes()));
    let opts = s.options(&req).await?;
    let admission = s.runs.admit().map_err(|_| {
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "busy",
            format!(
                "{} runs are running or queued, the most this server takes (serve.max_concurrent_runs + serve.max_queued_runs); try again later",
                s.runs.admitted()
            ),
        )
        .retry_after(RETRY_AFTER_SECONDS)
    })?;
    let run_id = engine::new_run_id();
    if let Some(k) = &key
        && let Some((sha, existing)) = s
            .runs
            .store
            .claim_idempotency(&who.name, k, &body_sha, &run_id)
            .await
            .map_err(ApiError::internal)?
    {
        drop(admission);
        if sha != body_sha {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "idempotency_conflict",
                format!(
                    "Idempotency-Key `{k}` was used for another request (run {existing}); use a new key for a new run"
                ),
            ));
        }
        let status = s
            .run_view(&existing)
            .await?
            .map(|v| v.status)
            .unwrap_or_else(|| "unknown".into());
        return Ok((
            StatusCode::OK,
            AuditRun(existing.clone()),
            Json(RunAccepted {
                replayed: Some(true),
                ..RunAccepted::new(&existing, &status)
            }),
        )
            .into_response());
    }
    let row = RunRow {
        run_id: run_id.clone(),
        from: req.from.clone(),
        to: req.to.clone(),
        request: canonical.to_string(),
        status: "queued".into(),
        created_by: who.name.clone(),
        created_at: crate::ledger::now(),
        started_at: None,
        finished_at: None,
        rows_written: None,
        rows_rejected: None,
        duration_ms: None,
        error: None,
    };
    s.runs
        .store
        .insert_run(row.clone())
        .await
        .map_err(ApiError::internal)?;
    s.runs.spawn(
        admission,
        &row,
        None,
        MigrateOptions {
            run_id: Some(run_id.clone()),
            ..opts
        },
    );
    Ok((
        StatusCode::ACCEPTED,
        AuditRun(run_id.clone()),
        Json(RunAccepted::new(&run_id, "queued")),
    )
        .into_response())
}

/// Seconds a 429 asks the client to wait.
const RETRY_AFTER_SECONDS: u64 = 5;

impl AppState {
    /// A run's view: live when this process has it, else from the store.
    async fn run_view(&self, run_id: &str) -> Result<Option<RunView>, ApiError> {
        if let Some(v) = self.runs.live(run_id).and_then(|l| l.view()) {
            return Ok(Some(v));
        }
        let store = &self.runs.store;
        let Some(row) = store.run(run_id).await.map_err(ApiError::internal)? else {
            return Ok(None);
        };
        let report = store.report(run_id).await.map_err(ApiError::internal)?;
        Ok(Some(RunView::from_row(&row, report)))
    }

    async fn row(&self, run_id: &str) -> Result<RunRow, ApiError> {
        self.runs
            .store
            .run(run_id)
            .await
            .map_err(ApiError::internal)?
            .ok_or_else(|| not_found(run_id))
    }
}

fn not_found(run_id: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no run {run_id} on this server; GET /v1/runs lists them"),
    )
}

/// `GET /v1/runs/{id}`.
#[utoipa::path(get, path = "/v1/runs/{id}", tag = "runs", params(("id" = String, Path, description = "The run id")),
    responses((status = 200, description = "The run: live while it runs, its report once finished", body = RunView), (status = 401, description = "No token, or an unknown one", body = ErrorBody), (status = 403, description = "The token's role is too low", body = ErrorBody), (status = 404, description = "No such run", body = ErrorBody)))]
pub async fn get_run(
    State(s): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<RunView>, ApiError> {
    caller.require(Role::Viewer)?;
    s.run_view(&id)
        .await?
        .map(Json)
        .ok_or_else(|| not_found(&id))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    pub to: Option<String>,
    pub status: Option<String>,
    pub limit: Option<usize>,
}

/// `GET /v1/runs?to=NAME&status=S&limit=N`: newest first.
#[utoipa::path(get, path = "/v1/runs", tag = "runs", params(ListQuery),
    responses((status = 200, description = "Runs, newest first", body = RunList), (status = 400, description = "A malformed or invalid request", body = ErrorBody), (status = 401, description = "No token, or an unknown one", body = ErrorBody), (status = 403, description = "The token's role is too low", body = ErrorBody)))]
pub async fn list_runs(
    State(s): State<Arc<AppState>>,
    caller: Caller,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<RunList>, ApiError> {
    caller.require(Role::Viewer)?;
    let q = query(q)?;
    let mut rows = s
        .runs
        .store
        .runs(q.to, q.status, q.limit.unwrap_or(100))
        .await
        .map_err(ApiError::internal)?;
    // A running run's status is the live one.
    for r in &mut rows {
        if let Some(v) = s.runs.live(&r.run_id).and_then(|l| l.view()) {
            r.status = v.status;
        }
    }
    Ok(Json(RunList { runs: rows }))
}

/// `GET /v1/runs/{id}/events`: Server-Sent Events. Every event of the run
/// from the start (or after the `Last-Event-ID` a reconnecting client
/// sends), then live ones, ending after `finished`.
#[utoipa::path(get, path = "/v1/runs/{id}/events", tag = "runs",
    params(("id" = String, Path, description = "The run id"), ("Last-Event-ID" = Option<String>, Header, description = "Resume after this event id")),
    responses((status = 200, description = "Server-Sent Events, each one's data a JSON object with its `event`: queued, started, phase, table_started, table_progress, table_finished, warning, retrying, cancel_requested, finished; the stream ends after finished", content_type = "text/event-stream", body = Object), (status = 401, description = "No token, or an unknown one", body = ErrorBody), (status = 403, description = "The token's role is too low", body = ErrorBody), (status = 404, description = "No such run", body = ErrorBody)))]
pub async fn run_events(
    State(s): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    caller.require(Role::Viewer)?;
    let after = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(0);
    if let Some(live) = s.runs.live(&id) {
        let stream = live.events(after).map(|l| {
            Ok::<_, Infallible>(
                SseEvent::default()
                    .id(l.seq.to_string())
                    .event(l.event.name())
                    .json_data(&l.event)
                    .unwrap_or_else(|_| SseEvent::default().comment("unencodable event")),
            )
        });
        return Ok(Sse::new(stream)
            .keep_alive(KeepAlive::default())
            .into_response());
    }
    // A run this process did not see: its end, as the store recorded it.
    let view = s.run_view(&id).await?.ok_or_else(|| not_found(&id))?;
    let finished = json!({
        "event": "finished",
        "run_id": view.run_id,
        "status": view.status,
        "error": view.error,
    });
    let events = if view.is_finished() {
        vec![Ok::<_, Infallible>(
            SseEvent::default()
                .id("1")
                .event("finished")
                .data(finished.to_string()),
        )]
    } else {
        Vec::new()
    };
    Ok(Sse::new(futures_util::stream::iter(events)).into_response())
}

/// `POST /v1/runs/{id}/cancel`: the run stops after the batch in flight and
/// stays resumable; a queued run never starts.
#[utoipa::path(post, path = "/v1/runs/{id}/cancel", tag = "runs", params(("id" = String, Path, description = "The run id")),
    responses((status = 202, description = "The run stops after the batch in flight and stays resumable", body = RunAccepted), (status = 401, description = "No token, or an unknown one", body = ErrorBody), (status = 403, description = "The token's role is too low", body = ErrorBody), (status = 404, description = "No such run", body = ErrorBody), (status = 409, description = "The run is not in a state that allows this", body = ErrorBody)))]
pub async fn cancel_run(
    State(s): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let who = caller.require(Role::Operator)?;
    let Some(live) = s.runs.live(&id) else {
        s.row(&id).await?;
        return Err(finished_already(&id));
    };
    if live.view().is_some_and(|v| v.is_finished()) {
        return Err(finished_already(&id));
    }
    s.runs.cancel(&live, &who.name);
    Ok((
        StatusCode::ACCEPTED,
        AuditRun(id.clone()),
        Json(RunAccepted::new(&id, "cancelling")),
    )
        .into_response())
}

fn finished_already(id: &str) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "finished",
        format!("run {id} is not running; nothing to cancel"),
    )
}

/// `POST /v1/runs/{id}/resume`: continues a failed, cancelled or
/// interrupted run from its checkpoints (as `ferry resume`).
#[utoipa::path(post, path = "/v1/runs/{id}/resume", tag = "runs", params(("id" = String, Path, description = "The run id")),
    responses((status = 202, description = "Continues from the run's checkpoints", body = RunAccepted), (status = 400, description = "A malformed or invalid request", body = ErrorBody), (status = 401, description = "No token, or an unknown one", body = ErrorBody), (status = 403, description = "The token's role is too low", body = ErrorBody), (status = 404, description = "No such run", body = ErrorBody), (status = 409, description = "The run is not in a state that allows this", body = ErrorBody),
        (status = 422, description = "A plugin could not be resolved", body = ErrorBody),
        (status = 429, description = "Every slot and queue place is taken", body = ErrorBody)))]
pub async fn resume_run(
    State(s): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let who = caller.require(Role::Operator)?;
    let row = s.row(&id).await?;
    if s.runs
        .live(&id)
        .and_then(|l| l.view())
        .is_some_and(|v| !v.is_finished())
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "running",
            format!("run {id} is still running or queued"),
        ));
    }
    let req: RunRequest = parse_json(row.request.as_bytes())?;
    let asked = s.options(&req).await?;
    let over = PlanOverrides {
        to: Some(asked.to.clone()),
        verify: asked.verify,
        on_reject: asked.on_reject.clone(),
        files: asked.files.clone(),
        retry: asked.retry,
        ..Default::default()
    };
    let admission = s.runs.admit().map_err(|_| {
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "busy",
            "every run slot and queue place is taken; try again later",
        )
        .retry_after(RETRY_AFTER_SECONDS)
    })?;
    match engine::resume::prepare(&id, over, &s.registry, &[]).await {
        Ok(Resumable::Finished(rec)) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "finished",
            format!(
                "run {id} already finished ({}); nothing to resume",
                rec.status
            ),
        )),
        Ok(Resumable::Ready { plan, opts }) => {
            s.runs
                .store
                .set_status(&id, "queued", None)
                .await
                .map_err(ApiError::internal)?;
            let row = RunRow {
                created_by: who.name.clone(),
                ..row
            };
            s.runs.spawn(admission, &row, Some(*plan), *opts);
            Ok((
                StatusCode::ACCEPTED,
                AuditRun(id.clone()),
                Json(RunAccepted {
                    resumed: Some(true),
                    ..RunAccepted::new(&id, "queued")
                }),
            )
                .into_response())
        }
        Err(e) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_resumable",
            e.to_string(),
        )),
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RollbackQuery {
    #[serde(default)]
    pub dry_run: bool,
}

/// `POST /v1/runs/{id}/rollback[?dry_run=true]`: restores the run's tables
/// to their state before it and proves it by checksums.
#[utoipa::path(post, path = "/v1/runs/{id}/rollback", tag = "runs", params(("id" = String, Path, description = "The run id"), RollbackQuery),
    responses((status = 200, description = "What was restored (or would be), each table proven by checksum", body = Object), (status = 400, description = "A malformed or invalid request", body = ErrorBody), (status = 401, description = "No token, or an unknown one", body = ErrorBody), (status = 403, description = "The token's role is too low", body = ErrorBody), (status = 404, description = "No such run", body = ErrorBody),
        (status = 409, description = "Refused, or a table not proven back", body = Object),
        (status = 502, description = "The target failed", body = ErrorBody)))]
pub async fn rollback_run(
    State(s): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
    q: Result<Query<RollbackQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    caller.require(Role::Admin)?;
    let q = query(q)?;
    let row = s.row(&id).await?;
    if s.runs
        .live(&id)
        .and_then(|l| l.view())
        .is_some_and(|v| !v.is_finished())
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "running",
            format!("run {id} is still running; cancel it first"),
        ));
    }
    let to = s.endpoint("to", &row.to)?;
    match crate::rollback::rollback(&to, &id, q.dry_run, None).await {
        Ok(r) => {
            let status = if r.ok || r.dry_run {
                StatusCode::OK
            } else {
                StatusCode::CONFLICT
            };
            if r.ok && !r.dry_run {
                s.runs
                    .store
                    .set_status(&id, "rolled_back", None)
                    .await
                    .map_err(ApiError::internal)?;
                if let Some(live) = s.runs.live(&id) {
                    live.set_status("rolled_back");
                }
            }
            Ok((status, AuditRun(id), Json(r)).into_response())
        }
        Err(crate::rollback::RollbackError::Refused(m)) => {
            Err(ApiError::new(StatusCode::CONFLICT, "refused", m))
        }
        Err(e) => Err(ApiError::new(
            StatusCode::BAD_GATEWAY,
            "endpoint",
            e.to_string(),
        )),
    }
}

/// `GET /v1/runs/{id}/report`: the finished run's report.
#[utoipa::path(get, path = "/v1/runs/{id}/report", tag = "runs", params(("id" = String, Path, description = "The run id")),
    responses((status = 200, description = "The run report, as `ferry migrate --json` prints it", body = Object), (status = 401, description = "No token, or an unknown one", body = ErrorBody), (status = 403, description = "The token's role is too low", body = ErrorBody), (status = 404, description = "No such run", body = ErrorBody),
        (status = 409, description = "The run has not finished", body = ErrorBody)))]
pub async fn run_report(
    State(s): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    caller.require(Role::Viewer)?;
    let view = s.run_view(&id).await?.ok_or_else(|| not_found(&id))?;
    match view.report {
        Some(r) => Ok(Json(r).into_response()),
        None => Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_finished",
            format!("run {id} has no report yet (status {})", view.status),
        )),
    }
}

/// `POST /v1/plan`: the plan a run request would execute (as `ferry plan --json`).
#[utoipa::path(post, path = "/v1/plan", tag = "runs", request_body = RunRequest,
    responses((status = 200, description = "The plan, as `ferry plan --json` prints it", body = Object), (status = 400, description = "A malformed or invalid request", body = ErrorBody), (status = 401, description = "No token, or an unknown one", body = ErrorBody), (status = 403, description = "The token's role is too low", body = ErrorBody),
        (status = 413, description = "The body is over the limit", body = ErrorBody),
        (status = 422, description = "The plan could not be made", body = ErrorBody)))]
pub async fn plan(
    State(s): State<Arc<AppState>>,
    caller: Caller,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    caller.require(Role::Viewer)?;
    let req: RunRequest = parse_json(&body(raw)?)?;
    let opts = s.options(&req).await?;
    let plan = engine::make_plan(&opts, Arc::new(NoEvents))
        .await
        .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "plan", e.to_string()))?;
    Ok(Json(plan).into_response())
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ValidateRequest {
    /// A named `files:` endpoint.
    pub from: String,
}

/// `POST /v1/validate`: parses every file of a files endpoint with the
/// parsers a run would use; writes nothing; each file's status and errors.
#[utoipa::path(post, path = "/v1/validate", tag = "files", request_body = ValidateRequest,
    responses((status = 200, description = "Each file's status and errors; nothing written", body = Object), (status = 400, description = "A malformed or invalid request", body = ErrorBody), (status = 401, description = "No token, or an unknown one", body = ErrorBody), (status = 403, description = "The token's role is too low", body = ErrorBody),
        (status = 413, description = "The body is over the limit", body = ErrorBody)))]
pub async fn validate(
    State(s): State<Arc<AppState>>,
    caller: Caller,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    caller.require(Role::Viewer)?;
    let req: ValidateRequest = parse_json(&body(raw)?)?;
    let from = s.endpoint("from", &req.from)?;
    if !crate::endpoint::capabilities(&from).dry_run_reads {
        return Err(bad(format!(
            "`{}` is not a files endpoint; validate reads a directory of legacy files",
            req.from
        )));
    }
    let opts = MigrateOptions {
        batch_size: s.config.batch_size,
        verify: None,
        files: s.config.files.clone(),
        registry: Some(s.registry.clone()),
        retry: s.config.retry,
        ..MigrateOptions::new(from.clone(), from)
    };
    let report = engine::dry_read(&opts, "(none: validate)", Arc::new(NoEvents)).await;
    Ok(Json(report).into_response())
}

/// `GET /v1/stats`: runs by status with their rows and durations, and what
/// runs or waits now.
#[utoipa::path(get, path = "/v1/stats", tag = "service",
    responses((status = 200, description = "Runs by status with rows and durations; runs admitted now", body = Object), (status = 401, description = "No token, or an unknown one", body = ErrorBody), (status = 403, description = "The token's role is too low", body = ErrorBody)))]
pub async fn stats(
    State(s): State<Arc<AppState>>,
    caller: Caller,
) -> Result<Json<serde_json::Value>, ApiError> {
    caller.require(Role::Viewer)?;
    let totals = s.runs.store.totals().await.map_err(ApiError::internal)?;
    let by_status: serde_json::Map<String, serde_json::Value> = totals
        .iter()
        .map(|(st, n, w, r, ms)| {
            (
                st.clone(),
                json!({"runs": n, "rows_written": w, "rows_rejected": r, "duration_ms": ms}),
            )
        })
        .collect();
    Ok(Json(json!({
        "admitted": s.runs.admitted(),
        "max_concurrent_runs": s.config.serve.max_concurrent_runs,
        "max_queued_runs": s.config.serve.max_queued_runs,
        "by_status": by_status,
    })))
}

/// `GET /metrics`: the same figures in Prometheus' text format.
#[utoipa::path(get, path = "/metrics", tag = "service",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain", body = String), (status = 401, description = "No token, or an unknown one", body = ErrorBody), (status = 403, description = "The token's role is too low", body = ErrorBody)))]
pub async fn metrics(State(s): State<Arc<AppState>>, caller: Caller) -> Result<Response, ApiError> {
    caller.require(Role::Viewer)?;
    let totals = s.runs.store.totals().await.map_err(ApiError::internal)?;
    let mut out = String::new();
    let mut family =
        |name: &str, help: &str, kind: &str, f: &dyn Fn(&super::store::Totals) -> f64| {
            out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
            for t in &totals {
                out.push_str(&format!("{name}{{status=\"{}\"}} {}\n", t.0, f(t)));
            }
        };
    family("ferry_runs", "Runs by status.", "gauge", &|t| t.1 as f64);
    family(
        "ferry_rows_written",
        "Rows written by runs, by status.",
        "gauge",
        &|t| t.2 as f64,
    );
    family(
        "ferry_rows_rejected",
        "Rows rejected by runs, by status.",
        "gauge",
        &|t| t.3 as f64,
    );
    family(
        "ferry_run_seconds",
        "Run durations summed, by status.",
        "gauge",
        &|t| t.4 as f64 / 1000.0,
    );
    out.push_str(&format!(
        "# HELP ferry_runs_admitted Runs running or queued now.\n# TYPE ferry_runs_admitted gauge\nferry_runs_admitted {}\n",
        s.runs.admitted()
    ));
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        out,
    )
        .into_response())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    pub limit: Option<usize>,
}

/// `GET /v1/audit`: every mutating call and every denial, newest first.
#[utoipa::path(get, path = "/v1/audit", tag = "service", params(AuditQuery),
    responses((status = 200, description = "Every mutating call and every denial, newest first", body = AuditList), (status = 400, description = "A malformed or invalid request", body = ErrorBody), (status = 401, description = "No token, or an unknown one", body = ErrorBody), (status = 403, description = "The token's role is too low", body = ErrorBody)))]
pub async fn audit(
    State(s): State<Arc<AppState>>,
    caller: Caller,
    q: Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Json<AuditList>, ApiError> {
    caller.require(Role::Admin)?;
    let q = query(q)?;
    let rows = s
        .runs
        .store
        .audit_log(q.limit.unwrap_or(100))
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(AuditList { entries: rows }))
}

#[derive(Debug, Deserialize)]
pub struct WsQuery {
    pub run: String,
}

/// How long a WebSocket client without an `Authorization` header has to
/// send its token as the first message (browsers cannot set the header).
const WS_AUTH_SECONDS: u64 = 10;

/// `GET /v1/ws?run=ID`: the run's events as WebSocket text messages (the
/// same JSON as the SSE stream's data, with its `id`), closed after
/// `finished`. A client that cannot send `Authorization` (a browser) sends
/// `{"token": "…"}` first.
pub async fn run_ws(
    State(s): State<Arc<AppState>>,
    caller: Caller,
    q: Result<Query<WsQuery>, QueryRejection>,
    ws: axum::extract::ws::WebSocketUpgrade,
) -> Result<Response, ApiError> {
    use axum::extract::ws::{CloseFrame, Message};
    let q = query(q)?;
    let authed = caller.require(Role::Viewer).is_ok();
    let live = s.runs.live(&q.run);
    if live.is_none() {
        s.row(&q.run).await?;
    }
    let tokens = s.config.serve.tokens.clone();
    Ok(ws.on_upgrade(move |mut socket| async move {
        let close = |code: u16, why: &str| {
            Message::Close(Some(CloseFrame {
                code,
                reason: why.to_string().into(),
            }))
        };
        if !authed {
            let first = tokio::time::timeout(
                std::time::Duration::from_secs(WS_AUTH_SECONDS),
                socket.recv(),
            )
            .await;
            let token = match first {
                Ok(Some(Ok(Message::Text(t)))) => serde_json::from_str::<serde_json::Value>(&t)
                    .ok()
                    .and_then(|v| v.get("token").and_then(|t| t.as_str()).map(str::to_string)),
                _ => None,
            };
            let ok = token
                .map(|t| super::auth::authenticate(&tokens, Some(&format!("Bearer {t}"))))
                .is_some_and(|p| p.is_ok_and(|p| p.require(Role::Viewer).is_ok()));
            if !ok {
                // 1008: policy violation.
                let _ = socket
                    .send(close(1008, "send {\"token\": \"…\"} first"))
                    .await;
                return;
            }
        }
        let Some(live) = live else {
            let _ = socket
                .send(close(1000, "the run finished before this server started"))
                .await;
            return;
        };
        let mut events = Box::pin(live.events(0));
        while let Some(l) = events.next().await {
            let mut v = serde_json::to_value(&l.event).unwrap_or_default();
            if let Some(o) = v.as_object_mut() {
                o.insert("id".into(), l.seq.into());
            }
            if socket
                .send(Message::Text(v.to_string().into()))
                .await
                .is_err()
            {
                return;
            }
        }
        let _ = socket.send(close(1000, "finished")).await;
    }))
}

/// `GET /v1/me`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Me {
    pub name: String,
    /// `viewer`, `operator` or `admin`.
    pub role: String,
}

/// `GET /v1/me`: who the token is (the page shows the actions it allows).
#[utoipa::path(get, path = "/v1/me", tag = "service",
    responses((status = 200, description = "The token's name and role", body = Me),
        (status = 401, description = "No token, or an unknown one", body = ErrorBody)))]
pub async fn me(caller: Caller) -> Result<Json<Me>, ApiError> {
    let p = caller.require(Role::Viewer)?;
    Ok(Json(Me {
        name: p.name,
        role: p.role.as_str().into(),
    }))
}

/// One named endpoint: its name and kind, never its URL.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct NamedEndpoint {
    pub name: String,
    /// `sqlite`, `postgres`, `mysql`, `json` or `files`.
    pub kind: String,
}

/// `GET /v1/endpoints`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EndpointList {
    pub endpoints: Vec<NamedEndpoint>,
}

/// `GET /v1/endpoints`: the names a request may use.
#[utoipa::path(get, path = "/v1/endpoints", tag = "service",
    responses((status = 200, description = "The endpoints this server names", body = EndpointList),
        (status = 401, description = "No token, or an unknown one", body = ErrorBody),
        (status = 403, description = "The token's role is too low", body = ErrorBody)))]
pub async fn endpoints(
    State(s): State<Arc<AppState>>,
    caller: Caller,
) -> Result<Json<EndpointList>, ApiError> {
    caller.require(Role::Viewer)?;
    let endpoints = s
        .config
        .serve
        .endpoints
        .iter()
        .map(|(name, url)| NamedEndpoint {
            name: name.clone(),
            kind: url
                .to_string()
                .split(':')
                .next()
                .unwrap_or_default()
                .to_string(),
        })
        .collect();
    Ok(Json(EndpointList { endpoints }))
}

/// `GET /`: the page (plain HTML and JavaScript, in the binary).
pub async fn page() -> impl IntoResponse {
    (
        [
            (axum::http::header::CONTENT_TYPE, "text/html; charset=utf-8"),
            // The page loads nothing from elsewhere and is never framed.
            (
                axum::http::header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; frame-ancestors 'none'",
            ),
        ],
        include_str!("page.html"),
    )
}

/// Files one import may hold: a directory of legacy files is many small
/// files, but each costs a file handle and a row; past this, split it.
const MAX_IMPORT_FILES: usize = 10_000;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    /// The named endpoint to load the files into.
    pub to: String,
    /// `fail` (default) or `drop` when the content table exists.
    pub if_exists: Option<String>,
}

/// `POST /v1/imports?to=NAME`: a multipart upload of legacy files (each
/// part's filename is its path in the directory) into a staging directory
/// of its own, then a files run from it (`import:ID`) into `to`.
#[utoipa::path(post, path = "/v1/imports", tag = "files", params(ImportQuery),
    request_body(content_type = "multipart/form-data", description = "One part per file; the part's filename is the file's path"),
    responses(
        (status = 202, description = "Staged, and the run admitted", body = RunAccepted),
        (status = 400, description = "Not multipart, no files, an unsafe path, or too many files", body = ErrorBody),
        (status = 401, description = "No token, or an unknown one", body = ErrorBody),
        (status = 403, description = "The token's role is too low", body = ErrorBody),
        (status = 413, description = "The upload is over the limit", body = ErrorBody),
        (status = 429, description = "Every slot and queue place is taken", body = ErrorBody)))]
pub async fn import(
    State(s): State<Arc<AppState>>,
    caller: Caller,
    q: Result<Query<ImportQuery>, QueryRejection>,
    multipart: Result<axum::extract::Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<Response, ApiError> {
    let who = caller.require(Role::Operator)?;
    let q = query(q)?;
    let mut multipart = multipart.map_err(|e| bad(format!("the upload: {}", e.body_text())))?;
    s.target(&q.to)?;
    let id = uuid::Uuid::new_v4().to_string();
    let dir = s.config.serve.staging.join(&id);
    std::fs::create_dir_all(&dir).map_err(ApiError::internal)?;
    let staged = stage_files(&mut multipart, &dir).await;
    let files = match staged {
        Ok(n) if n > 0 => n,
        Ok(_) => {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(bad(
                "the upload holds no files (one multipart part per file, with a filename)",
            ));
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(e);
        }
    };
    tracing::info!(import = id, files, "staged");
    let req = RunRequest {
        from: format!("import:{id}"),
        to: q.to.clone(),
        transform: Vec::new(),
        validate: Vec::new(),
        options: RunRequestOptions {
            if_exists: q.if_exists.clone(),
            ..Default::default()
        },
    };
    let request = json!({"from": req.from, "to": req.to, "options": {"if_exists": q.if_exists}});
    let opts = s.options(&req).await?;
    let admission = s.runs.admit().map_err(|_| {
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "busy",
            "every run slot and queue place is taken; try again later",
        )
        .retry_after(RETRY_AFTER_SECONDS)
    })?;
    let run_id = engine::new_run_id();
    let row = RunRow {
        run_id: run_id.clone(),
        from: req.from.clone(),
        to: req.to.clone(),
        request: request.to_string(),
        status: "queued".into(),
        created_by: who.name.clone(),
        created_at: crate::ledger::now(),
        started_at: None,
        finished_at: None,
        rows_written: None,
        rows_rejected: None,
        duration_ms: None,
        error: None,
    };
    s.runs
        .store
        .insert_run(row.clone())
        .await
        .map_err(ApiError::internal)?;
    s.runs.spawn(
        admission,
        &row,
        None,
        MigrateOptions {
            run_id: Some(run_id.clone()),
            ..opts
        },
    );
    Ok((
        StatusCode::ACCEPTED,
        AuditRun(run_id.clone()),
        Json(RunAccepted::new(&run_id, "queued")),
    )
        .into_response())
}

/// Writes each part of `multipart` under `dir` at its filename's path;
/// the number of files.
async fn stage_files(
    multipart: &mut axum::extract::Multipart,
    dir: &std::path::Path,
) -> Result<usize, ApiError> {
    use tokio::io::AsyncWriteExt;
    let mut n = 0usize;
    loop {
        let field = multipart.next_field().await.map_err(|e| {
            ApiError::new(
                e.status(),
                "bad_upload",
                format!("the upload: {}", e.body_text()),
            )
        })?;
        let Some(mut field) = field else {
            return Ok(n);
        };
        let Some(name) = field.file_name().map(str::to_string) else {
            continue;
        };
        let rel = safe_relative(&name).ok_or_else(|| {
            bad(format!(
                "`{name}`: a file's path must be relative, without `..`"
            ))
        })?;
        n += 1;
        if n > MAX_IMPORT_FILES {
            return Err(bad(format!(
                "an import holds at most {MAX_IMPORT_FILES} files; split the upload"
            )));
        }
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(ApiError::internal)?;
        }
        let mut file = tokio::fs::File::create(&path)
            .await
            .map_err(ApiError::internal)?;
        while let Some(chunk) = field.chunk().await.map_err(|e| {
            ApiError::new(
                e.status(),
                "bad_upload",
                format!("`{name}`: {}", e.body_text()),
            )
        })? {
            file.write_all(&chunk).await.map_err(ApiError::internal)?;
        }
        file.flush().await.map_err(ApiError::internal)?;
    }
}

/// `name` as a path inside the staging directory, or `None` when it would
/// leave it (absolute, `..`, a drive prefix) or is empty.
fn safe_relative(name: &str) -> Option<std::path::PathBuf> {
    use std::path::Component;
    let p = std::path::Path::new(name);
    let mut out = std::path::PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            _ => return None,
        }
    }
    (!out.as_os_str().is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::safe_relative;

    #[test]
    fn an_uploaded_files_path_never_leaves_the_staging_directory() {
        assert_eq!(
            safe_relative("notes/a.md").unwrap(),
            std::path::Path::new("notes/a.md")
        );
        assert_eq!(
            safe_relative("./a.json").unwrap(),
            std::path::Path::new("a.json")
        );
        for bad in [
            "../etc/passwd",
            "/etc/passwd",
            "a/../../b",
            "",
            ".",
            "notes/..",
        ] {
            assert!(safe_relative(bad).is_none(), "{bad}");
        }
    }
}

/// Rejected rows one `GET …/rejects` returns at most: the stream reads the
/// ledger a page at a time, but a client wanting more pages through with
/// `offset`.
const MAX_REJECTS_PER_REQUEST: u64 = 100_000;

/// Rows read from the ledger per query while streaming.
const REJECTS_PAGE: u64 = 1_000;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RejectsQuery {
    /// Rows to skip (default 0).
    pub offset: Option<u64>,
    /// Rows to return (default and most: 100,000).
    pub limit: Option<u64>,
}

/// `GET /v1/runs/{id}/rejects`: the run's quarantined rows as NDJSON, one
/// JSON object per line, in the order they were quarantined.
#[utoipa::path(get, path = "/v1/runs/{id}/rejects", tag = "runs",
    params(("id" = String, Path, description = "The run id"), RejectsQuery),
    responses(
        (status = 200, description = "One JSON object per line: table, source_key, stage, plugin, column, code, reason, row", content_type = "application/x-ndjson", body = String),
        (status = 400, description = "A malformed query", body = ErrorBody),
        (status = 401, description = "No token, or an unknown one", body = ErrorBody),
        (status = 403, description = "The token's role is too low", body = ErrorBody),
        (status = 404, description = "No such run", body = ErrorBody),
        (status = 502, description = "The target's ledger could not be read", body = ErrorBody)))]
pub async fn run_rejects(
    State(s): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
    q: Result<Query<RejectsQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    caller.require(Role::Viewer)?;
    let q = query(q)?;
    let row = s.row(&id).await?;
    let req: RunRequest = parse_json(row.request.as_bytes())?;
    let to = s.endpoint("to", &req.to)?;
    let gateway = |e: crate::engine::MigrateError| {
        ApiError::new(StatusCode::BAD_GATEWAY, "endpoint", e.to_string())
    };
    let mut sink = engine::status::open_ledger(&to, None)
        .await
        .map_err(gateway)?;
    let limit = q
        .limit
        .unwrap_or(MAX_REJECTS_PER_REQUEST)
        .min(MAX_REJECTS_PER_REQUEST);
    let start = q.offset.unwrap_or(0);
    // The first page is read before answering, so a failing ledger is a 502
    // and not a cut stream.
    let first = match sink.ledger() {
        Some(l) => l
            .rejects(&id, start, REJECTS_PAGE.min(limit))
            .await
            .map_err(|e| gateway(e.into()))?,
        None => Vec::new(),
    };
    let state = (sink, id, first, start, limit);
    let stream = futures_util::stream::unfold(state, |(mut sink, id, page, at, left)| async move {
        if page.is_empty() || left == 0 {
            return None;
        }
        let n = page.len() as u64;
        let mut out = String::new();
        for r in &page {
            out.push_str(&serde_json::to_string(r).unwrap_or_default());
            out.push('\n');
        }
        let left = left.saturating_sub(n);
        let next = if n < REJECTS_PAGE || left == 0 {
            Vec::new()
        } else {
            match sink.ledger() {
                Some(l) => match l.rejects(&id, at + n, REJECTS_PAGE.min(left)).await {
                    Ok(rows) => rows,
                    Err(e) => {
                        // The answer has started: it can only end here.
                        tracing::warn!(run = id, "rejects cut after {} rows: {e}", at + n);
                        Vec::new()
                    }
                },
                None => Vec::new(),
            }
        };
        Some((
            Ok::<_, Infallible>(Bytes::from(out)),
            (sink, id, next, at + n, left),
        ))
    });
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/x-ndjson")],
        axum::body::Body::from_stream(stream),
    )
        .into_response())
}
