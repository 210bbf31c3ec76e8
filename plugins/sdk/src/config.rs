//! The configuration: a plugin names its type (`type Config`), the SDK
//! parses the JSON text into it once per distinct text and hands every call
//! a reference.

use std::any::{Any, TypeId};
use std::cell::RefCell;
use std::rc::Rc;

use serde::de::DeserializeOwned;

use crate::types::PluginError;

/// Parse the configuration JSON into `T`. An empty (or all-whitespace)
/// string means `{}`. Errors become [`PluginError::InvalidConfig`] with
/// serde's message (which names the key, line and column).
///
/// The SDK calls this for you (see [`Transformer::Config`](crate::Transformer::Config));
/// call it yourself in tests that need a configuration value.
///
/// Derive `Deserialize` with `#[serde(deny_unknown_fields)]` so typos in
/// keys are reported instead of silently ignored.
pub fn parse_config<T: DeserializeOwned>(config: &str) -> Result<T, PluginError> {
    let text = if config.trim().is_empty() {
        "{}"
    } else {
        config
    };
    serde_json::from_str(text).map_err(|e| PluginError::InvalidConfig(e.to_string()))
}

/// The configuration of a plugin that takes none: `{}` (or nothing). Any
/// key is an [`PluginError::InvalidConfig`] naming it, so an operator who
/// configures the wrong plugin is told instead of ignored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoConfig {}

/// One parsed configuration, remembered with the text it came from.
struct Entry {
    /// `TypeId` of the configuration type: one entry per type, so native
    /// tests that run several plugins on one thread do not mix them up.
    ty: TypeId,
    text: String,
    value: Rc<dyn Any>,
}

thread_local! {
    // One entry per configuration type, holding the last text that parsed:
    // a component holds one plugin, and the host sends the same text with
    // every call of a run, so a bigger cache would only hold garbage.
    // (A component runs on one thread, hence thread-local.)
    static PARSED: RefCell<Vec<Entry>> = const { RefCell::new(Vec::new()) };
}

/// `config` parsed into `T` with [`parse_config`], remembered: the same text
/// again is not parsed again. A text that does not parse is not remembered
/// and does not evict the last one that did.
pub(crate) fn cached<T: DeserializeOwned + 'static>(config: &str) -> Result<Rc<T>, PluginError> {
    let ty = TypeId::of::<T>();
    let hit = PARSED.with(|parsed| {
        let parsed = parsed.try_borrow().ok()?;
        let entry = parsed.iter().find(|e| e.ty == ty && e.text == config)?;
        Rc::clone(&entry.value).downcast::<T>().ok()
    });
    if let Some(value) = hit {
        return Ok(value);
    }
    let value = Rc::new(parse_config::<T>(config)?);
    PARSED.with(|parsed| {
        if let Ok(mut parsed) = parsed.try_borrow_mut() {
            let entry = Entry {
                ty,
                text: config.to_string(),
                value: Rc::clone(&value) as Rc<dyn Any>,
            };
            match parsed.iter_mut().find(|e| e.ty == ty) {
                Some(slot) => *slot = entry,
                None => parsed.push(entry),
            }
        }
    });
    Ok(value)
}
