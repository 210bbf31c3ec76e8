//! The masking itself: keyed hashing and the batch transformation.

use ferry_plugin_sdk::{Batch, ColumnBuilder, PluginError, Schema, TransformOutput, ValueRef};
use sha2::digest::generic_array::GenericArray;
use sha2::{Digest, Sha256, compress256};

use crate::config::{Mode, Plan, Step};

/// Replacement text of the `redact` mode.
pub const REDACTED: &str = "***";

/// Hex characters kept from the HMAC: 32 (128 bits), short enough for a
/// column and collision-free in practice for any table (birthday bound ~2^64).
pub const HASH_HEX_CHARS: usize = 32;

/// SHA-256's block size in bytes.
const BLOCK: usize = 64;

/// SHA-256's initial state (FIPS 180-4 §5.3.3).
const H0: [u32; 8] = [
    0x6a09_e667,
    0xbb67_ae85,
    0x3c6e_f372,
    0xa54f_f53a,
    0x510e_527f,
    0x9b05_688c,
    0x1f83_d9ab,
    0x5be0_cd19,
];

/// A keyed hasher: HMAC-SHA256 (RFC 2104) with the key's inner and outer
/// pad blocks absorbed once. A value then costs its own SHA-256 blocks —
/// one for a value under 56 bytes — and one outer block, computed straight
/// on the compression function: no hasher state is copied, buffered or
/// allocated per value (the masked table's hot loop; see the workspace
/// Cargo.toml's `plugin` profile for the measured cost per value).
#[derive(Clone)]
pub struct Hasher {
    /// SHA-256's state after the key XOR ipad block.
    inner: [u32; 8],
    /// SHA-256's state after the key XOR opad block.
    outer: [u32; 8],
}

impl Hasher {
    /// A hasher for `key` (any length: a key longer than a block is hashed
    /// first, as RFC 2104 says).
    pub fn new(key: &[u8]) -> Self {
        let mut k = [0u8; BLOCK];
        if key.len() > BLOCK {
            k[..32].copy_from_slice(&Sha256::digest(key));
        } else {
            k[..key.len()].copy_from_slice(key);
        }
        let absorb = |pad: u8| {
            let mut block = [0u8; BLOCK];
            for (b, k) in block.iter_mut().zip(&k) {
                *b = k ^ pad;
            }
            let mut state = H0;
            compress256(&mut state, &[GenericArray::from(block)]);
            state
        };
        Hasher {
            inner: absorb(0x36),
            outer: absorb(0x5c),
        }
    }

    /// HMAC-SHA256(key, value).
    pub fn mac(&self, value: &[u8]) -> [u8; 32] {
        let inner = finish(self.inner, BLOCK, value);
        to_bytes(&finish(self.outer, BLOCK, &to_bytes(&inner)))
    }

    /// The first [`HASH_HEX_CHARS`] lowercase hex characters of HMAC-SHA256(key, value).
    pub fn hash(&self, value: &str) -> String {
        let mut out = String::with_capacity(HASH_HEX_CHARS);
        self.hash_into(value, &mut out);
        out
    }

    /// [`Hasher::hash`], appended to `out`.
    pub fn hash_into(&self, value: &str, out: &mut String) {
        let digest = self.mac(value.as_bytes());
        for byte in digest.iter().take(HASH_HEX_CHARS / 2) {
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0xf)]));
        }
    }

    /// `hash(local)@domain`, splitting at the last `@`; a value without `@`
    /// is hashed whole (nothing of it is kept in clear).
    pub fn hash_email(&self, value: &str) -> String {
        let mut out = String::with_capacity(HASH_HEX_CHARS + value.len());
        self.hash_email_into(value, &mut out);
        out
    }

    /// [`Hasher::hash_email`], appended to `out`.
    pub fn hash_email_into(&self, value: &str, out: &mut String) {
        match value.rsplit_once('@') {
            Some((local, domain)) => {
                self.hash_into(local, out);
                out.push('@');
                out.push_str(domain);
            }
            None => self.hash_into(value, out),
        }
    }
}

/// SHA-256 of a message whose first `absorbed` bytes (whole blocks) left
/// `state`, and whose rest is `tail`: the tail's whole blocks, then the
/// padding (0x80, zeros, the message's length in bits, big-endian).
fn finish(mut state: [u32; 8], absorbed: usize, tail: &[u8]) -> [u32; 8] {
    let mut blocks = tail.chunks_exact(BLOCK);
    for b in &mut blocks {
        compress256(&mut state, &[*GenericArray::from_slice(b)]);
    }
    let rest = blocks.remainder();
    let bits = ((absorbed + tail.len()) as u64).wrapping_mul(8);
    let mut last = [0u8; 2 * BLOCK];
    last[..rest.len()].copy_from_slice(rest);
    last[rest.len()] = 0x80;
    // The length takes the last 8 bytes: a second block when the rest
    // leaves fewer than 9.
    let end = if rest.len() < BLOCK - 8 {
        BLOCK
    } else {
        2 * BLOCK
    };
    last[end - 8..end].copy_from_slice(&bits.to_be_bytes());
    for b in last[..end].chunks_exact(BLOCK) {
        compress256(&mut state, &[*GenericArray::from_slice(b)]);
    }
    state
}

fn to_bytes(state: &[u32; 8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (o, w) in out.chunks_exact_mut(4).zip(state) {
        o.copy_from_slice(&w.to_be_bytes());
    }
    out
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Masks one value, appending the masked text to `out`: `false` when the
/// result is null.
pub fn mask_value_into(
    mode: Mode,
    hasher: Option<&Hasher>,
    value: ValueRef<'_>,
    out: &mut String,
) -> Result<bool, PluginError> {
    if value.is_null() || mode == Mode::Null {
        return Ok(false);
    }
    let text = value.as_str().ok_or_else(|| {
        PluginError::Internal(format!("mode {:?} reached a non-text value", mode.name()))
    })?;
    let hasher = || hasher.ok_or_else(|| PluginError::internal("hash mode without a key"));
    match mode {
        Mode::Hash => hasher()?.hash_into(text, out),
        Mode::HashEmail => hasher()?.hash_email_into(text, out),
        Mode::Redact => out.push_str(REDACTED),
        Mode::Null => return Ok(false),
    }
    Ok(true)
}

/// Apply `plan` to one batch of `input`.
pub fn transform(
    input: &Schema,
    plan: &Plan,
    rows: &Batch,
) -> Result<TransformOutput, PluginError> {
    let view = rows.view(input)?;
    let hasher = plan.key.as_deref().map(Hasher::new);
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
                // One buffer for every value of the column.
                let mut masked = String::new();
                for value in source.iter() {
                    masked.clear();
                    if mask_value_into(mode, hasher.as_ref(), value, &mut masked)? {
                        builder.push(ValueRef::Text(&masked))?;
                    } else {
                        builder.push_null()?;
                    }
                }
                columns.push(builder.finish());
            }
        }
    }
    Ok(TransformOutput::new(Batch::new(rows.num_rows, columns)))
}
