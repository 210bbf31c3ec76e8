//! `ferry serve`: the migration service. An authenticated HTTP API over
//! the same engine the CLI runs (one code path: [`crate::engine::execute`]
//! with the run's events streamed to clients), the service's own state in
//! a SQLite file or an SQL database, and the audit of every mutating call and every denial.
//!
//! - [`crate::config::serve`] — `[serve]` and `[endpoints]`: clients name
//!   endpoints, never send connection strings (no credential leaks, no
//!   server-side request forgery).
//! - [`auth`] — bearer tokens known by their sha256, roles.
//! - [`store`] — run index, audit, idempotency keys.
//! - [`runs`] — admission, each run's task, view and event log.
//! - [`api`] — the `/v1` handlers.

pub mod api;
pub mod auth;
pub mod runs;
pub mod store;

use std::future::Future;
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use self::auth::{Denied, Principal, Role};
use self::runs::Runs;
use self::store::{AuditRow, Store};
use crate::config::Config;
use crate::plugin::Registry;

/// What every handler shares.
pub struct AppState {
    pub config: Config,
    pub registry: Registry,
    pub runs: Arc<Runs>,
}

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error("{0}")]
    Refused(String),
    #[error("serving HTTP: {0}")]
    Io(#[from] std::io::Error),
}

/// An error answer: `{"error": {"code", "message"}}` with its status.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// A failure of the service itself (its store); logged, and said.
    pub fn internal(e: impl std::fmt::Display) -> ApiError {
        tracing::error!("ferry serve: {e}");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
    }

    pub fn retry_after(mut self, seconds: u64) -> ApiError {
        self.retry_after = Some(seconds);
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Json(json!({"error": {"code": self.code, "message": self.message}}));
        let mut r = (self.status, body).into_response();
        if let Some(s) = self.retry_after
            && let Ok(v) = s.to_string().parse()
        {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
        }
        r
    }
}

/// Who called, as the bearer token says (set by the audit layer).
#[derive(Debug, Clone)]
pub struct Caller(Result<Principal, Denied>);

impl Caller {
    /// The principal, when its role is at least `needs`: else 401 (no or
    /// an unknown token) or 403 (a role too low).
    pub fn require(&self, needs: Role) -> Result<Principal, ApiError> {
        let p = self.0.clone().map_err(denial)?;
        p.require(needs).map_err(denial)?;
        Ok(p)
    }
}

fn denial(d: Denied) -> ApiError {
    match d {
        Denied::Missing => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "send `Authorization: Bearer TOKEN`; tokens are configured in [[serve.tokens]]",
        ),
        Denied::Unknown => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "the bearer token is not one this server knows",
        ),
        Denied::Role { name, has, needs } => ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "`{name}` has the {} role; this needs {} or above",
                has.as_str(),
                needs.as_str()
            ),
        ),
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or_else(|| ApiError::internal("a route without the authentication layer"))
    }
}

/// The run a response concerns, for the audit.
#[derive(Debug, Clone)]
pub struct AuditRun(pub String);

impl IntoResponseParts for AuditRun {
    type Error = std::convert::Infallible;

    fn into_response_parts(self, mut res: ResponseParts) -> Result<ResponseParts, Self::Error> {
        res.extensions_mut().insert(self);
        Ok(res)
    }
}

use axum::response::{IntoResponseParts, ResponseParts};

/// Authenticates every `/v1` request (the handler decides the role it
/// needs) and audits every mutating call and every denial.
async fn authenticate_and_audit(
    State(s): State<Arc<AppState>>,
    mut req: Request,
    next: Next,
) -> Response {
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let caller = Caller(auth::authenticate(&s.config.serve.tokens, presented));
    req.extensions_mut().insert(caller.clone());
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let res = next.run(req).await;
    let status = res.status();
    let mutating = !matches!(method, Method::GET | Method::HEAD | Method::OPTIONS);
    let denied = status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN;
    if mutating || denied {
        let (who, role) = match &caller.0 {
            Ok(p) => (Some(p.name.clone()), Some(p.role.as_str().to_string())),
            Err(Denied::Role { name, has, .. }) => (Some(name.clone()), Some(has.as_str().into())),
            Err(_) => (None, None),
        };
        let row = AuditRow {
            id: 0,
            at: crate::ledger::now(),
            who,
            role,
            method: method.to_string(),
            path,
            status: status.as_u16(),
            outcome: if denied {
                "denied"
            } else if status.is_success() {
                "ok"
            } else {
                "failed"
            }
            .into(),
            run_id: res.extensions().get::<AuditRun>().map(|r| r.0.clone()),
        };
        if let Err(e) = s.runs.store.audit(row).await {
            tracing::error!("ferry serve: the audit could not be written: {e}");
        }
    }
    res
}

/// The OpenAPI document's frame: the handlers' own annotations fill in
/// the paths (see [`router`]), so the document cannot drift from the routes.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "ferry serve",
        description = "The ferry migration service: start, watch, cancel, resume and roll back runs between the endpoints this server names. Every /v1 route and /metrics needs `Authorization: Bearer TOKEN`."
    ),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    tags(
        (name = "runs", description = "Migrations: start, watch, cancel, resume, roll back, plan"),
        (name = "files", description = "Directories of legacy files"),
        (name = "service", description = "Health, statistics, audit")
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// The authenticated routes and the OpenAPI document describing them.
fn api_routes() -> (Router<Arc<AppState>>, utoipa::openapi::OpenApi) {
    use utoipa::OpenApi;
    use utoipa_axum::router::OpenApiRouter;
    use utoipa_axum::routes;
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(api::start_run, api::list_runs))
        .routes(routes!(api::get_run, api::cleanup_run))
        .routes(routes!(api::run_events))
        .routes(routes!(api::cancel_run))
        .routes(routes!(api::resume_run))
        .routes(routes!(api::rollback_run))
        .routes(routes!(api::run_report))
        .routes(routes!(api::run_rejects))
        .routes(routes!(api::plan))
        .routes(routes!(api::validate))
        .routes(routes!(api::stats))
        .routes(routes!(api::audit))
        .routes(routes!(api::metrics))
        .routes(routes!(api::me))
        .routes(routes!(api::endpoints))
        .split_for_parts()
}

/// The upload route (its own body limit) and its part of the document.
fn upload_routes() -> (Router<Arc<AppState>>, utoipa::openapi::OpenApi) {
    use utoipa_axum::router::OpenApiRouter;
    use utoipa_axum::routes;
    OpenApiRouter::<Arc<AppState>>::new()
        .routes(routes!(api::import))
        .split_for_parts()
}

/// The OpenAPI document of the service (`GET /v1/openapi.json`).
pub fn openapi() -> utoipa::openapi::OpenApi {
    use utoipa_axum::router::OpenApiRouter;
    use utoipa_axum::routes;
    let (_, mut doc) = api_routes();
    doc.merge(upload_routes().1);
    let (_, public) = OpenApiRouter::<Arc<AppState>>::new()
        .routes(routes!(api::healthz))
        .split_for_parts();
    doc.merge(public);
    doc
}

/// The document this server serves says which endpoint names it takes:
/// `from`, `to` (and validate's `from`) become enums of its `[endpoints]`,
/// so a client (or a fuzzer) knows the valid values without guessing.
fn name_endpoints<'a>(doc: &mut utoipa::openapi::OpenApi, names: impl Iterator<Item = &'a String>) {
    use utoipa::openapi::RefOr;
    use utoipa::openapi::schema::{Object, Schema};
    let names: Vec<&String> = names.collect();
    if names.is_empty() {
        return;
    }
    let Some(components) = doc.components.as_mut() else {
        return;
    };
    for (schema, fields) in [
        ("RunRequest", &["from", "to"][..]),
        ("ValidateRequest", &["from"][..]),
    ] {
        let Some(RefOr::T(Schema::Object(obj))) = components.schemas.get_mut(schema) else {
            continue;
        };
        for f in fields {
            if let Some(RefOr::T(Schema::Object(field))) = obj.properties.get_mut(*f) {
                let mut named: Object = field.clone();
                named.enum_values = Some(names.iter().map(|n| serde_json::json!(n)).collect());
                *field = named;
            }
        }
    }
}

/// The service's routes over `state`.
pub fn router(state: Arc<AppState>) -> Router {
    let (v1, _) = api_routes();
    let (uploads, _) = upload_routes();
    // The WebSocket is described in docs/serve.md, not in the document.
    let v1 = v1
        .route("/v1/ws", get(api::run_ws))
        .layer(DefaultBodyLimit::max(state.config.serve.max_body_bytes))
        .merge(uploads.layer(DefaultBodyLimit::max(state.config.serve.max_upload_bytes)))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            authenticate_and_audit,
        ));
    let mut doc = openapi();
    name_endpoints(&mut doc, state.config.serve.endpoints.keys());
    Router::new()
        .merge(v1)
        .route("/healthz", get(api::healthz))
        .route("/", get(api::page))
        .route("/v1/openapi.json", get(move || async move { Json(doc) }))
        .fallback(|| async {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                "no such route; the API is under /v1",
            )
        })
        .with_state(state)
}

/// Serves on `listener` until `shutdown` completes; then every run is
/// asked to stop after its batch in flight and awaited (each stays
/// resumable), and open connections are drained.
pub async fn serve(
    config: Config,
    registry: Registry,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    if config.serve.tokens.is_empty() {
        return Err(ServeError::Refused(
            "no [[serve.tokens]] in the config: every request would be refused. Add one: `echo -n TOKEN | ferry serve --hash-token` prints its sha256".into(),
        ));
    }
    let store = Store::open(&config.serve.state).await?;
    let runs = Runs::new(
        store,
        config.serve.max_concurrent_runs,
        config.serve.max_queued_runs,
    );
    let state = Arc::new(AppState {
        config,
        registry,
        runs: runs.clone(),
    });
    let app = router(state);
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            tracing::info!("ferry serve: stopping runs after their batch in flight");
            runs.stop_all().await;
        })
        .await?;
    Ok(())
}
