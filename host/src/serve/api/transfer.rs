//! Data in and out of runs: uploads of legacy files, rejected rows.

use super::*;
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
    let admission = s.admit()?;
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
