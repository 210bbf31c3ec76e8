//! What an endpoint reports when it fails: who (the endpoint, the table)
//! and what to do next.

/// An endpoint failed. Names the endpoint (and table) and what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EndpointError {
    #[error("invalid endpoint `{url}`: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("cannot open {endpoint}: {reason}")]
    Connect { endpoint: String, reason: String },
    #[error("{endpoint}{}: {reason}", table.as_ref().map(|t| format!(", table `{t}`")).unwrap_or_default())]
    Query {
        endpoint: String,
        table: Option<String>,
        reason: String,
    },
    #[error(
        "{endpoint} already has a table `{table}`; drop it, choose another target, or pass `--if-exists drop` to replace it"
    )]
    TargetExists { endpoint: String, table: String },
    /// The endpoint went away for a moment (connection refused or reset, the
    /// server shutting down or restarting, a serialization failure): the
    /// same work may succeed when tried again from the last checkpoint.
    #[error("{endpoint}{}: {reason} (transient: retrying from the last checkpoint may succeed)", table.as_ref().map(|t| format!(", table `{t}`")).unwrap_or_default())]
    Transient {
        endpoint: String,
        table: Option<String>,
        reason: String,
    },
    /// The endpoint cannot do what was asked (see [`super::Capabilities`]).
    #[error("{0}")]
    Unsupported(String),
}

impl EndpointError {
    /// A failed query: [`EndpointError::Transient`] when a retry from the
    /// last checkpoint may get past it, else [`EndpointError::Query`].
    pub fn query(
        endpoint: impl Into<String>,
        table: Option<&str>,
        reason: String,
        transient: bool,
    ) -> EndpointError {
        let (endpoint, table) = (endpoint.into(), table.map(str::to_string));
        if transient {
            EndpointError::Transient {
                endpoint,
                table,
                reason,
            }
        } else {
            EndpointError::Query {
                endpoint,
                table,
                reason,
            }
        }
    }

    /// Whether trying again (reconnecting, from the last checkpoint) may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, EndpointError::Transient { .. })
    }
}
