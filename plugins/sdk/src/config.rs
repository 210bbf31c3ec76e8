//! Configuration JSON: parsing into a typed struct, and a cache so a plugin
//! does not re-parse the same configuration string for every batch.

use std::cell::RefCell;
use std::rc::Rc;

use serde::de::DeserializeOwned;

use crate::types::PluginError;

/// Parse the configuration JSON into `T`. An empty (or all-whitespace)
/// string means `{}`. Errors become [`PluginError::InvalidConfig`] with
/// serde's message (which names the key, line and column).
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

/// Remembers the value built from the last configuration string seen.
///
/// Every call carries the configuration, and the host usually sends the same
/// string for every batch of a run; keep one cache per plugin in a
/// `thread_local!` and call [`ConfigCache::get`] in each call:
///
/// ```
/// use ferry_plugin_sdk::{ConfigCache, PluginError};
/// #[derive(serde::Deserialize)]
/// struct Config { limit: u32 }
/// thread_local! { static CONFIG: ConfigCache<Config> = const { ConfigCache::new() }; }
/// # fn main() -> Result<(), PluginError> {
/// let limit = CONFIG.with(|c| c.get(r#"{"limit": 3}"#))?.limit;
/// assert_eq!(limit, 3);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct ConfigCache<T> {
    // One entry: a run uses one configuration per plugin instance, so a
    // bigger cache would only hold garbage.
    slot: RefCell<Option<(String, Rc<T>)>>,
}

impl<T> Default for ConfigCache<T> {
    fn default() -> Self {
        ConfigCache::new()
    }
}

impl<T> ConfigCache<T> {
    /// An empty cache.
    pub const fn new() -> Self {
        ConfigCache {
            slot: RefCell::new(None),
        }
    }

    /// The value cached for `config`, or `init(config)` (cached on success).
    pub fn get_or_try_init<E>(
        &self,
        config: &str,
        init: impl FnOnce(&str) -> Result<T, E>,
    ) -> Result<Rc<T>, E> {
        if let Ok(slot) = self.slot.try_borrow()
            && let Some((key, value)) = slot.as_ref()
            && key == config
        {
            return Ok(Rc::clone(value));
        }
        let value = Rc::new(init(config)?);
        if let Ok(mut slot) = self.slot.try_borrow_mut() {
            *slot = Some((config.to_string(), Rc::clone(&value)));
        }
        Ok(value)
    }
}

impl<T: DeserializeOwned> ConfigCache<T> {
    /// The configuration parsed with [`parse_config`], cached.
    pub fn get(&self, config: &str) -> Result<Rc<T>, PluginError> {
        self.get_or_try_init(config, parse_config)
    }
}
