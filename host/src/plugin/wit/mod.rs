//! The `ferry:plugin` contract, one module per released version
//! (`since_v0_1_0` ↔ `wit/since_v0.1.0/`), after Zed's
//! `extension_host/src/wasm_host/wit/`.
//!
//! Each version module runs `bindgen!` on its frozen WIT folder and converts
//! between the generated types and the host's own ([`crate::model`],
//! [`GuestError`], [`Description`], [`ParsedRecord`]), behind the traits
//! below. The rest of the plugin layer picks a version from the component's
//! exports ([`Contract::of`]) and never names a generated type, so a plugin
//! built against an older contract keeps loading when a newer one is added.
//!
//! Adding a version (see ARCHITECTURE.md, "Adding a contract version"):
//! copy the newest `wit/since_vX.Y.Z/` folder to the new version and change
//! it there, write `since_vX_Y_Z.rs` next to this file (bindgen of that folder
//! plus the conversions, implementing these traits) and add its `CONTRACT` to
//! [`CONTRACTS`].

mod since_v0_1_0;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use wasmtime::Store;
use wasmtime::component::{InstancePre, Linker, ResourceAny};

use super::instance::ParsedRecord;
use super::runtime::HostState;
use super::{GuestError, PluginKind};
use crate::model::{Batch, Diagnostic, Schema};

/// Every contract version this host loads, oldest first; the last one is
/// the version new plugins are built against ([`super::CONTRACT_VERSION`]).
pub(crate) const CONTRACTS: &[Contract] = &[since_v0_1_0::CONTRACT];

/// The newest contract version this host implements.
pub(crate) const LATEST: &str = CONTRACTS[CONTRACTS.len() - 1].version;

/// One contract version: how to link what its plugins import and how to
/// type-check what they export.
pub(crate) struct Contract {
    /// The package version of its WIT folder, e.g. `0.1.0`.
    pub version: &'static str,
    /// Adds the host interfaces this version's worlds import
    /// (`ferry:plugin/host@0.1.0`). Versions link side by side: their
    /// interface names differ by version.
    pub add_to_linker: fn(&mut Linker<HostState>) -> wasmtime::Result<()>,
    /// Type-checks a component against this version's world for `kind`.
    pub pre: fn(PluginKind, InstancePre<HostState>) -> wasmtime::Result<Pre>,
}

impl Contract {
    /// The contract a component's export version names (`0.1.0` from
    /// `ferry:plugin/transform@0.1.0`), if this host speaks it. Semver: 0.x
    /// minors are breaking and patches are not, so `0.1.*` is 0.1.
    pub fn of(version: &str) -> Option<&'static Contract> {
        let major_minor = |v: &str| -> Option<(u64, u64)> {
            let mut parts = v.split('.');
            let major = parts.next()?.parse().ok()?;
            let minor = parts.next()?.parse().ok()?;
            Some((major, minor))
        };
        let wanted = major_minor(version)?;
        CONTRACTS
            .iter()
            .find(|c| major_minor(c.version) == Some(wanted))
    }
}

/// What a plugin says about itself (`describe`), in the host's terms.
#[derive(Debug, Clone)]
pub(crate) struct Description {
    pub name: String,
    pub version: String,
    pub description: String,
    /// JSON Schema text, as the plugin returned it.
    pub config_schema: String,
    pub capabilities: Vec<String>,
}

/// The file a parser is about to read (`open`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct FileInfo<'a> {
    pub name: &'a str,
    pub size: u64,
    pub media_type: Option<&'a str>,
}

/// Records a parser returned, or why they are not valid output (a json
/// field that is not JSON); the caller reports the latter as invalid output.
pub(crate) type Records = Result<Vec<ParsedRecord>, String>;

/// One call into a guest: the outer error is wasmtime's (a trap, a limit),
/// classified by the caller. Boxed, so that the version traits can be
/// object-safe; one allocation per call is nothing next to the call itself.
pub(crate) type Call<'a, T> = Pin<Box<dyn Future<Output = wasmtime::Result<T>> + Send + 'a>>;

/// A component type-checked against one version's world, by kind: what
/// instances are made from.
#[derive(Clone)]
pub(crate) enum Pre {
    Transformer(TransformerPre),
    Validator(ValidatorPre),
    Parser(ParserPre),
}

/// Makes the live bindings `B` of a type-checked component in a store.
pub(crate) trait Instantiate<B>: Send + Sync {
    fn instantiate<'a>(&'a self, store: &'a mut Store<HostState>) -> Call<'a, B>;
}

pub(crate) type TransformerPre = Arc<dyn Instantiate<Box<dyn Transformer>>>;
pub(crate) type ValidatorPre = Arc<dyn Instantiate<Box<dyn Validator>>>;
pub(crate) type ParserPre = Arc<dyn Instantiate<Box<dyn Parser>>>;

/// What every plugin kind answers, in every version.
pub(crate) trait Describe: Send + Sync {
    fn describe<'a>(&'a self, store: &'a mut Store<HostState>) -> Call<'a, Description>;
}

/// A live transformer's exports.
pub(crate) trait Transformer: Describe {
    fn transform_schema<'a>(
        &'a self,
        store: &'a mut Store<HostState>,
        input: &'a Schema,
        config: &'a str,
    ) -> Call<'a, Result<Schema, GuestError>>;

    /// Lends `rows` to the plugin (its buffers move, nothing is copied) and
    /// puts them back, whatever the call returned. The output batch and the
    /// diagnostics are unchecked.
    fn transform<'a>(
        &'a self,
        store: &'a mut Store<HostState>,
        input: &'a Schema,
        config: &'a str,
        rows: &'a mut Batch,
    ) -> Call<'a, Result<(Batch, Vec<Diagnostic>), GuestError>>;
}

/// A live validator's exports.
pub(crate) trait Validator: Describe {
    fn check_schema<'a>(
        &'a self,
        store: &'a mut Store<HostState>,
        input: &'a Schema,
        config: &'a str,
    ) -> Call<'a, Result<(), GuestError>>;

    /// Lends `rows` to the plugin and puts them back, as
    /// [`Transformer::transform`] does. The diagnostics are unchecked.
    fn validate<'a>(
        &'a self,
        store: &'a mut Store<HostState>,
        input: &'a Schema,
        config: &'a str,
        rows: &'a mut Batch,
    ) -> Call<'a, Result<Vec<Diagnostic>, GuestError>>;
}

/// A live parser's exports; a session is the guest's resource handle.
pub(crate) trait Parser: Describe {
    fn open<'a>(
        &'a self,
        store: &'a mut Store<HostState>,
        file: FileInfo<'a>,
        config: &'a str,
    ) -> Call<'a, Result<ResourceAny, GuestError>>;

    fn feed<'a>(
        &'a self,
        store: &'a mut Store<HostState>,
        session: ResourceAny,
        chunk: &'a [u8],
    ) -> Call<'a, Result<Records, GuestError>>;

    fn finish<'a>(
        &'a self,
        store: &'a mut Store<HostState>,
        session: ResourceAny,
    ) -> Call<'a, Result<Records, GuestError>>;
}

/// Links the host interfaces of every version.
pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    for contract in CONTRACTS {
        (contract.add_to_linker)(linker)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
