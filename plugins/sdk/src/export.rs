//! Adapters from the SDK traits to the generated `Guest` traits, used by the
//! `export_*!` macros: type conversions only; what runs is [`crate::call`].
//! Not part of the public API.

use std::cell::RefCell;
use std::marker::PhantomData;

use crate::bindings::parser::exports::ferry::plugin::parse as wp;
use crate::bindings::transformer::exports::ferry::plugin::transform as wx;
use crate::bindings::transformer::ferry::plugin::types as wt;
use crate::bindings::validator::exports::ferry::plugin::validate as wv;
use crate::call::{self, Session};
use crate::plugin::{Parser, ParserSession, Transformer, Validator};
use crate::types::PluginError;

/// Exports a [`Transformer`] as the `transform` interface.
pub struct TransformerExport<T>(PhantomData<T>);

impl<T: Transformer> wx::Guest for TransformerExport<T> {
    fn describe() -> wt::PluginInfo {
        T::describe().into()
    }

    fn transform_schema(input: wt::Schema, config: String) -> Result<wt::Schema, wt::PluginError> {
        call::transform_schema::<T>(&input.into(), &config)
            .map(Into::into)
            .map_err(Into::into)
    }

    fn transform(
        input: wt::Schema,
        config: String,
        rows: wt::Batch,
    ) -> Result<wx::TransformOutput, wt::PluginError> {
        call::transform::<T>(&input.into(), &config, &rows.into())
            .map(Into::into)
            .map_err(Into::into)
    }
}

/// Exports a [`Validator`] as the `validate` interface.
pub struct ValidatorExport<T>(PhantomData<T>);

impl<T: Validator> wv::Guest for ValidatorExport<T> {
    fn describe() -> wt::PluginInfo {
        T::describe().into()
    }

    fn check_schema(input: wt::Schema, config: String) -> Result<(), wt::PluginError> {
        call::check_schema::<T>(&input.into(), &config).map_err(Into::into)
    }

    fn validate(
        input: wt::Schema,
        config: String,
        rows: wt::Batch,
    ) -> Result<Vec<wt::Diagnostic>, wt::PluginError> {
        call::validate::<T>(&input.into(), &config, &rows.into())
            .map(|d| d.into_iter().map(Into::into).collect())
            .map_err(Into::into)
    }
}

/// Exports a [`Parser`] as the `parse` interface.
pub struct ParserExport<T>(PhantomData<T>);

/// A guarded parser session behind the WIT `session` resource (whose
/// methods take `&self`, hence the `RefCell`).
pub struct SessionExport<S>(RefCell<Session<S>>);

impl<S: ParserSession> SessionExport<S> {
    fn with<R>(
        &self,
        f: impl FnOnce(&mut Session<S>) -> Result<R, PluginError>,
    ) -> Result<R, PluginError> {
        let mut session = self
            .0
            .try_borrow_mut()
            .map_err(|_| PluginError::internal("parser session re-entered"))?;
        f(&mut session)
    }
}

impl<S: ParserSession + 'static> wp::GuestSession for SessionExport<S> {
    fn feed(&self, chunk: Vec<u8>) -> Result<Vec<wp::ParsedRecord>, wt::PluginError> {
        self.with(|s| s.feed(&chunk))
            .map(|r| r.into_iter().map(Into::into).collect())
            .map_err(Into::into)
    }

    fn finish(&self) -> Result<Vec<wp::ParsedRecord>, wt::PluginError> {
        self.with(|s| s.finish())
            .map(|r| r.into_iter().map(Into::into).collect())
            .map_err(Into::into)
    }
}

impl<T: Parser> wp::Guest for ParserExport<T> {
    type Session = SessionExport<T::Session>;

    fn describe() -> wt::PluginInfo {
        T::describe().into()
    }

    fn open(file: wp::FileInfo, config: String) -> Result<wp::Session, wt::PluginError> {
        call::open::<T>(file.into(), &config)
            .map(|s| wp::Session::new(SessionExport(RefCell::new(s))))
            .map_err(Into::into)
    }

    fn check_config(config: String) -> Result<(), wt::PluginError> {
        call::check_config::<T>(&config).map_err(Into::into)
    }
}
