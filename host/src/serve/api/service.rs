//! Files validation, statistics, metrics, the audit, the WebSocket, who and
//! what the server names, and the page.

use super::*;
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
        |name: &str, help: &str, kind: &str, f: &dyn Fn(&crate::serve::store::Totals) -> f64| {
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
                .map(|t| crate::serve::auth::authenticate(&tokens, Some(&format!("Bearer {t}"))))
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
        include_str!("../page.html"),
    )
}
