//! The SDK's side of each contract call, in plain Rust: what the export
//! macros run between the bindings and your trait implementation. The
//! configuration arrives as text and is parsed into the plugin's `Config`
//! once per distinct text ([`parse_config`](crate::parse_config)'s errors
//! and all); parser sessions are guarded by [`Session`].
//!
//! Call these from native tests to run a plugin exactly as the host does:
//!
//! ```
//! use ferry_plugin_sdk::{FileInfo, PluginError, call};
//! # use ferry_plugin_sdk::{NoConfig, ParsedRecord, Parser, ParserSession, PluginInfo};
//! # struct Lines;
//! # struct Split;
//! # impl ParserSession for Split {
//! #     fn feed(&mut self, _: &[u8]) -> Result<Vec<ParsedRecord>, PluginError> { Ok(Vec::new()) }
//! # }
//! # impl Parser for Lines {
//! #     type Config = NoConfig;
//! #     type Session = Split;
//! #     fn describe() -> PluginInfo { PluginInfo::new("lines", "0.1.0", "") }
//! #     fn open(_: FileInfo, _: &NoConfig) -> Result<Split, PluginError> { Ok(Split) }
//! # }
//! assert!(matches!(call::check_config::<Lines>(r#"{"typo": 1}"#), Err(PluginError::InvalidConfig(_))));
//! let mut session = call::open::<Lines>(FileInfo::default(), "{}")?;
//! session.feed(b"a line\n")?;
//! session.finish()?;
//! assert!(matches!(session.feed(b"more"), Err(PluginError::Internal(_))));
//! # Ok::<(), PluginError>(())
//! ```

use crate::batch::Batch;
use crate::config::cached;
use crate::plugin::{Parser, ParserSession, TransformOutput, Transformer, Validator};
use crate::types::{Diagnostic, FileInfo, ParsedRecord, PluginError, Schema};

/// `transform-schema`: [`Transformer::transform_schema`] with the parsed configuration.
pub fn transform_schema<T: Transformer>(
    input: &Schema,
    config: &str,
) -> Result<Schema, PluginError> {
    T::transform_schema(input, &*cached::<T::Config>(config)?)
}

/// `transform`: [`Transformer::transform`] with the parsed configuration.
pub fn transform<T: Transformer>(
    input: &Schema,
    config: &str,
    rows: &Batch,
) -> Result<TransformOutput, PluginError> {
    T::transform(input, &*cached::<T::Config>(config)?, rows)
}

/// `check-schema`: [`Validator::check_schema`] with the parsed configuration.
pub fn check_schema<V: Validator>(input: &Schema, config: &str) -> Result<(), PluginError> {
    V::check_schema(input, &*cached::<V::Config>(config)?)
}

/// `validate`: [`Validator::validate`] with the parsed configuration.
pub fn validate<V: Validator>(
    input: &Schema,
    config: &str,
    rows: &Batch,
) -> Result<Vec<Diagnostic>, PluginError> {
    V::validate(input, &*cached::<V::Config>(config)?, rows)
}

/// `check-config`: the configuration parses into [`Parser::Config`].
pub fn check_config<P: Parser>(config: &str) -> Result<(), PluginError> {
    cached::<P::Config>(config).map(|_| ())
}

/// `open`: [`Parser::open`] with the parsed configuration, guarded.
pub fn open<P: Parser>(file: FileInfo, config: &str) -> Result<Session<P::Session>, PluginError> {
    P::open(file, &*cached::<P::Config>(config)?).map(Session::new)
}

/// A parser session as the host drives it: a finished session stays
/// finished. After `finish`, or after `feed` or `finish` returned an error,
/// the plugin's session is dropped (its buffers with it) and every later
/// call returns, without running anything, the same error again — or, after
/// a `finish` that succeeded, [`PluginError::Internal`].
#[derive(Debug)]
pub struct Session<S> {
    state: State<S>,
}

#[derive(Debug)]
enum State<S> {
    Open(S),
    Failed(PluginError),
    Finished,
}

impl<S: ParserSession> Session<S> {
    /// Guards `session`.
    pub fn new(session: S) -> Self {
        Session {
            state: State::Open(session),
        }
    }

    /// [`ParserSession::feed`], while the session is open.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<Vec<ParsedRecord>, PluginError> {
        let State::Open(session) = &mut self.state else {
            return Err(self.closed());
        };
        let result = session.feed(chunk);
        if let Err(e) = &result {
            self.state = State::Failed(e.clone());
        }
        result
    }

    /// [`ParserSession::finish`], once.
    pub fn finish(&mut self) -> Result<Vec<ParsedRecord>, PluginError> {
        let State::Open(session) = &mut self.state else {
            return Err(self.closed());
        };
        let result = session.finish();
        self.state = match &result {
            Ok(_) => State::Finished,
            Err(e) => State::Failed(e.clone()),
        };
        result
    }

    /// Why a closed session does not run.
    fn closed(&self) -> PluginError {
        match &self.state {
            State::Failed(e) => e.clone(),
            State::Open(_) | State::Finished => {
                PluginError::internal("the parse session is already finished")
            }
        }
    }
}
