//! Endpoint URLs as users write them: `sqlite:PATH`, `postgres://…`,
//! `mysql://…` (`mariadb://`), `json:DIR`, `files:DIR`.

use std::path::{Path, PathBuf};

use super::EndpointError;

/// A parsed endpoint URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndpointUrl {
    Sqlite(PathBuf),
    Postgres(String),
    /// `mysql://USER[:PASSWORD]@HOST[:PORT]/DB` (also `mariadb://`).
    Mysql(String),
    /// `json:DIR`: a directory of JSON Lines files and `_schema.json`.
    Json(PathBuf),
    /// `files:DIR`: a directory of legacy files, read by parser plugins
    /// (source only; see [`super::files`]).
    Files(PathBuf),
}

impl std::fmt::Display for EndpointUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EndpointUrl::Sqlite(p) => write!(f, "sqlite:{}", p.display()),
            EndpointUrl::Postgres(u) | EndpointUrl::Mysql(u) => f.write_str(&redact(u)),
            EndpointUrl::Json(p) => write!(f, "json:{}", p.display()),
            EndpointUrl::Files(p) => write!(f, "files:{}", p.display()),
        }
    }
}

/// Hides a password in a URL (`postgres://u:secret@h` → `postgres://u:***@h`).
pub fn redact(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://")
        && let Some((auth, host)) = rest.split_once('@')
        && let Some((user, _)) = auth.split_once(':')
    {
        return format!("{scheme}://{user}:***@{host}");
    }
    url.to_string()
}

impl std::str::FromStr for EndpointUrl {
    type Err = EndpointError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |reason: &str| EndpointError::BadUrl {
            url: redact(s),
            reason: reason.to_string(),
        };
        if let Some(rest) = s.strip_prefix("sqlite:") {
            let path = rest.strip_prefix("//").unwrap_or(rest);
            if path.is_empty() {
                return Err(bad("give a file path: sqlite:PATH"));
            }
            return Ok(EndpointUrl::Sqlite(PathBuf::from(path)));
        }
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            return Ok(EndpointUrl::Postgres(s.to_string()));
        }
        if let Some(rest) = s.strip_prefix("mariadb://") {
            return Ok(EndpointUrl::Mysql(format!("mysql://{rest}")));
        }
        if s.starts_with("mysql://") {
            return Ok(EndpointUrl::Mysql(s.to_string()));
        }
        if let Some(rest) = s.strip_prefix("json:") {
            let path = rest.strip_prefix("//").unwrap_or(rest);
            if path.is_empty() {
                return Err(bad("give a directory: json:DIR"));
            }
            return Ok(EndpointUrl::Json(PathBuf::from(path)));
        }
        if let Some(rest) = s.strip_prefix("files:") {
            let path = rest.strip_prefix("//").unwrap_or(rest);
            if path.is_empty() {
                return Err(bad("give a directory: files:DIR"));
            }
            return Ok(EndpointUrl::Files(PathBuf::from(path)));
        }
        Err(bad(
            "expected sqlite:PATH, postgres://USER@HOST:PORT/DB, mysql://USER@HOST:PORT/DB, json:DIR or files:DIR",
        ))
    }
}

impl EndpointUrl {
    /// This URL with a relative file or directory path taken relative to
    /// `base` (a config file's directory); server URLs are unchanged.
    pub fn relative_to(self, base: &Path) -> EndpointUrl {
        match self {
            EndpointUrl::Sqlite(p) => EndpointUrl::Sqlite(base.join(p)),
            EndpointUrl::Json(p) => EndpointUrl::Json(base.join(p)),
            EndpointUrl::Files(p) => EndpointUrl::Files(base.join(p)),
            server => server,
        }
    }

    /// The URL as given, a password included: for handing to another
    /// function that opens it, never for display (that is `Display`).
    pub fn raw(&self) -> String {
        match self {
            EndpointUrl::Postgres(u) | EndpointUrl::Mysql(u) => u.clone(),
            other => other.to_string(),
        }
    }

    /// Whether this is an SQL database (SQLite, PostgreSQL, MySQL/MariaDB):
    /// what [`super::open_sql`] opens.
    pub fn is_sql(&self) -> bool {
        matches!(
            self,
            EndpointUrl::Sqlite(_) | EndpointUrl::Postgres(_) | EndpointUrl::Mysql(_)
        )
    }
}
