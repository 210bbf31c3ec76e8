//! Runs: start, read, list, events, cancel, resume, roll back, report, plan.

use super::*;
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
    let admission = s.admit()?;
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
pub(super) const RETRY_AFTER_SECONDS: u64 = 5;

impl AppState {
    /// A run's view: live when this process has it, else from the store.
    pub(super) async fn run_view(&self, run_id: &str) -> Result<Option<RunView>, ApiError> {
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

    pub(super) async fn row(&self, run_id: &str) -> Result<RunRow, ApiError> {
        self.runs
            .store
            .run(run_id)
            .await
            .map_err(ApiError::internal)?
            .ok_or_else(|| not_found(run_id))
    }

    /// The run's row, refused with 409 while it runs or waits: what resume,
    /// rollback and cleanup act on.
    pub(super) async fn finished_row(&self, run_id: &str) -> Result<RunRow, ApiError> {
        let row = self.row(run_id).await?;
        if self
            .runs
            .live(run_id)
            .and_then(|l| l.view())
            .is_some_and(|v| !v.is_finished())
        {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "running",
                format!("run {run_id} is still running or queued; cancel it first"),
            ));
        }
        Ok(row)
    }

    /// A place for a new run, or 429 with `Retry-After` when every slot
    /// and queue place is taken.
    pub(super) fn admit(&self) -> Result<super::super::runs::Admission, ApiError> {
        self.runs.admit().map_err(|_| {
            ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "busy",
                format!(
                    "{} runs are running or queued, the most this server takes (serve.max_concurrent_runs + serve.max_queued_runs); try again later",
                    self.runs.admitted()
                ),
            )
            .retry_after(RETRY_AFTER_SECONDS)
        })
    }
}

impl From<crate::rollback::RollbackError> for ApiError {
    /// A refusal (the run cannot be rolled back or cleaned up now) is the
    /// caller's conflict; anything else is the target failing.
    fn from(e: crate::rollback::RollbackError) -> ApiError {
        match e {
            crate::rollback::RollbackError::Refused(m) => {
                ApiError::new(StatusCode::CONFLICT, "refused", m)
            }
            e => ApiError::new(StatusCode::BAD_GATEWAY, "endpoint", e.to_string()),
        }
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
    let row = s.finished_row(&id).await?;
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
    let admission = s.admit()?;
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
    let row = s.finished_row(&id).await?;
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
        Err(e) => Err(e.into()),
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

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CleanupQuery {
    /// Remove the backups even though a rollback could still need them.
    #[serde(default)]
    pub force: bool,
}

/// `DELETE /v1/runs/{id}[?force=true]`: removes a finished run's backups
/// (snapshots, moved and copied tables). Refused while a rollback could
/// still need them, unless forced; the run can then no longer be rolled back.
#[utoipa::path(delete, path = "/v1/runs/{id}", tag = "runs",
    params(("id" = String, Path, description = "The run id"), CleanupQuery),
    responses(
        (status = 200, description = "The tables whose backups were removed", body = Object),
        (status = 400, description = "A malformed query", body = ErrorBody),
        (status = 401, description = "No token, or an unknown one", body = ErrorBody),
        (status = 403, description = "The token's role is too low", body = ErrorBody),
        (status = 404, description = "No such run", body = ErrorBody),
        (status = 409, description = "Running, or a rollback could still need the backups", body = ErrorBody),
        (status = 502, description = "The target failed", body = ErrorBody)))]
pub async fn cleanup_run(
    State(s): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
    q: Result<Query<CleanupQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    caller.require(Role::Admin)?;
    let q = query(q)?;
    let row = s.finished_row(&id).await?;
    let to = s.endpoint("to", &row.to)?;
    match crate::rollback::cleanup(&to, &id, q.force).await {
        Ok(r) => Ok((AuditRun(id), Json(r)).into_response()),
        Err(e) => Err(e.into()),
    }
}
