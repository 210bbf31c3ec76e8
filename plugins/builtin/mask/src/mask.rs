//! The masking itself: keyed hashing and the batch transformation.

use ferry_plugin_sdk::{Batch, ColumnBuilder, PluginError, Schema, TransformOutput, ValueRef};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::config::{Mode, Plan, Step};

/// Replacement text of the `redact` mode.
pub const REDACTED: &str = "***";

/// Hex characters kept from the HMAC: 32 (128 bits), short enough for a
/// column and collision-free in practice for any table (birthday bound ~2^64).
pub const HASH_HEX_CHARS: usize = 32;

/// A keyed hasher (the HMAC state after absorbing the key, cloned per value).
#[derive(Clone)]
pub struct Hasher {
    mac: Hmac<Sha256>,
}

impl Hasher {
    /// A hasher for `key` (HMAC accepts keys of any length).
    pub fn new(key: &[u8]) -> Result<Self, PluginError> {
        let mac = Hmac::<Sha256>::new_from_slice(key)
            .map_err(|e| PluginError::Internal(format!("HMAC key rejected: {e}")))?;
        Ok(Hasher { mac })
    }

    /// The first [`HASH_HEX_CHARS`] lowercase hex characters of HMAC-SHA256(key, value).
    pub fn hash(&self, value: &str) -> String {
        let mut mac = self.mac.clone();
        mac.update(value.as_bytes());
        let digest = mac.finalize().into_bytes();
        let mut out = String::with_capacity(HASH_HEX_CHARS);
        for byte in digest.iter().take(HASH_HEX_CHARS / 2) {
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0xf)]));
        }
        out
    }

    /// `hash(local)@domain`, splitting at the last `@`; a value without `@`
    /// is hashed whole (nothing of it is kept in clear).
    pub fn hash_email(&self, value: &str) -> String {
        match value.rsplit_once('@') {
            Some((local, domain)) => format!("{}@{domain}", self.hash(local)),
            None => self.hash(value),
        }
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Mask one value (`None` means null).
pub fn mask_value(
    mode: Mode,
    hasher: Option<&Hasher>,
    value: ValueRef<'_>,
) -> Result<Option<String>, PluginError> {
    if value.is_null() || mode == Mode::Null {
        return Ok(None);
    }
    let text = value.as_str().ok_or_else(|| {
        PluginError::Internal(format!("mode {:?} reached a non-text value", mode.name()))
    })?;
    let hasher = || hasher.ok_or_else(|| PluginError::internal("hash mode without a key"));
    Ok(Some(match mode {
        Mode::Hash => hasher()?.hash(text),
        Mode::HashEmail => hasher()?.hash_email(text),
        Mode::Redact => REDACTED.to_string(),
        Mode::Null => return Ok(None),
    }))
}

/// Apply `plan` to one batch of `input`.
pub fn transform(
    input: &Schema,
    plan: &Plan,
    rows: &Batch,
) -> Result<TransformOutput, PluginError> {
    let view = rows.view(input)?;
    let hasher = plan.key.as_deref().map(Hasher::new).transpose()?;
    let mut columns = Vec::with_capacity(plan.steps.len());
    for (step, out_col) in plan.steps.iter().zip(&plan.output.columns) {
        match *step {
            Step::Copy(index) => {
                let column = rows.columns.get(index).ok_or_else(|| {
                    PluginError::Internal(format!("plan names missing input column {index}"))
                })?;
                columns.push(column.clone());
            }
            Step::Mask(index, mode) => {
                let source = view.column(index).ok_or_else(|| {
                    PluginError::Internal(format!("plan names missing input column {index}"))
                })?;
                let mut builder = ColumnBuilder::with_capacity(out_col, view.num_rows());
                for value in source.iter() {
                    match mask_value(mode, hasher.as_ref(), value)? {
                        Some(masked) => builder.push(ValueRef::Text(&masked))?,
                        None => builder.push_null()?,
                    }
                }
                columns.push(builder.finish());
            }
        }
    }
    Ok(TransformOutput::new(Batch::new(rows.num_rows, columns)))
}
