//! Evaluating rules against values and batches.

use ferry_plugin_sdk::{Batch, Diagnostic, PluginError, Schema, ValueRef};

use crate::config::{Check, Rule, RuleSet};

/// Characters of an offending value shown in a message: 80, one terminal
/// line; longer values are cut with `…` so that a huge cell cannot blow up
/// the diagnostics (and the quarantine table) of every failing row.
pub const MAX_SHOWN_CHARS: usize = 80;

/// Longest address accepted by the `email` check: 254 bytes (RFC 5321
/// path limit minus the angle brackets).
pub const MAX_EMAIL_BYTES: usize = 254;
/// Longest local part: 64 bytes (RFC 5321 §4.5.3.1.1).
pub const MAX_LOCAL_BYTES: usize = 64;
/// Longest domain label: 63 bytes (RFC 1035).
pub const MAX_LABEL_BYTES: usize = 63;

/// Validate one batch: one diagnostic per failing value, in row order.
pub fn validate(
    input: &Schema,
    rules: &RuleSet,
    rows: &Batch,
) -> Result<Vec<Diagnostic>, PluginError> {
    rules.check_schema(input)?;
    let view = rows.view(input)?;
    let mut diagnostics = Vec::new();
    for rule in &rules.rules {
        let column = view
            .column_by_name(&rule.column)
            .ok_or_else(|| input.missing_column(&rule.column))?;
        for (row, value) in column.iter().enumerate() {
            if let Some(message) = evaluate(rule, value) {
                diagnostics.push(
                    Diagnostic::new(rule.severity, rule.check.code(), message)
                        .at_row(u32::try_from(row).unwrap_or(u32::MAX))
                        .in_column(rule.column.as_str()),
                );
            }
        }
    }
    // Stable: rules keep their configuration order within a row.
    diagnostics.sort_by_key(|d| d.row);
    Ok(diagnostics)
}

/// Why `value` fails `rule`, or `None` when it passes. Nulls only fail `not-null`.
pub fn evaluate(rule: &Rule, value: ValueRef<'_>) -> Option<String> {
    let fail = |what: String| Some(format!("{what} (rule: {})", rule.display));
    if value.is_null() {
        return match rule.check {
            Check::NotNull => fail("value is null".to_string()),
            _ => None,
        };
    }
    let problem = match &rule.check {
        Check::NotNull => None,
        Check::Email => {
            let text = value.as_str()?;
            if is_plausible_email(text) {
                None
            } else {
                Some(format!(
                    "value {} is not a valid e-mail address",
                    shown(text)
                ))
            }
        }
        Check::Regex(re) => {
            let text = value.as_str()?;
            if re.is_match(text) {
                None
            } else {
                Some(format!("value {} does not match", shown(text)))
            }
        }
        Check::OneOf(values) => {
            let owned;
            let text = match value {
                ValueRef::Int(i) => {
                    owned = i.to_string();
                    owned.as_str()
                }
                other => other.as_str()?,
            };
            if values.iter().any(|v| v == text) {
                None
            } else {
                let list = format!("{values:?}");
                Some(format!(
                    "value {} is not one of {}",
                    shown(text),
                    truncate(&list)
                ))
            }
        }
        Check::MaxLength(max) => {
            let (len, unit, shown_value) = match value {
                ValueRef::Bytes(b) => (b.len(), "bytes", format!("of {} bytes", b.len())),
                other => {
                    let text = other.as_str()?;
                    (text.chars().count(), "characters", shown(text))
                }
            };
            if len as u64 > *max {
                Some(format!(
                    "value {shown_value} is {len} {unit} long, more than {max}"
                ))
            } else {
                None
            }
        }
        Check::Range { min, max } => {
            let (number, text) = match value {
                ValueRef::Int(i) => (i as f64, i.to_string()),
                ValueRef::Float(f) => (f, f.to_string()),
                ValueRef::Decimal(d) => match d.trim().parse::<f64>() {
                    Ok(f) => (f, d.to_string()),
                    Err(_) => return fail(format!("value {} is not a number", shown(d))),
                },
                _ => return None,
            };
            // Integers beyond 2^53 compare after rounding to f64 (the
            // bounds are f64 in the config anyway). NaN is in no range.
            let below = min.is_some_and(|lo| number.is_nan() || number < lo);
            let above = max.is_some_and(|hi| number.is_nan() || number > hi);
            if below || above {
                Some(format!("value {} is out of range", truncate(&text)))
            } else {
                None
            }
        }
    };
    problem.and_then(fail)
}

/// A value quoted for a message, cut at [`MAX_SHOWN_CHARS`].
fn shown(text: &str) -> String {
    format!("{:?}", truncated_chars(text))
}

fn truncate(text: &str) -> String {
    truncated_chars(text).into_owned()
}

fn truncated_chars(text: &str) -> std::borrow::Cow<'_, str> {
    match text.char_indices().nth(MAX_SHOWN_CHARS) {
        None => std::borrow::Cow::Borrowed(text),
        Some((cut, _)) => std::borrow::Cow::Owned(format!("{}…", &text[..cut])),
    }
}

/// A pragmatic e-mail check: one `@`; a local part of 1–64 bytes of
/// RFC 5322 atext (or any non-ASCII letter) in dot-separated non-empty atoms;
/// a domain of at least two dot-separated labels of 1–63 alphanumeric or `-`
/// characters, not starting or ending with `-`; no whitespace; at most 254
/// bytes. Quoted local parts and IP-literal domains are rejected: they are
/// legal but almost always data-entry errors in a migration.
pub fn is_plausible_email(s: &str) -> bool {
    if s.len() > MAX_EMAIL_BYTES {
        return false;
    }
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    if local.is_empty() || local.len() > MAX_LOCAL_BYTES || domain.contains('@') {
        return false;
    }
    let atext = |c: char| {
        c.is_ascii_alphanumeric()
            || "!#$%&'*+/=?^_`{|}~-".contains(c)
            || (!c.is_ascii() && c.is_alphanumeric())
    };
    if !local
        .split('.')
        .all(|atom| !atom.is_empty() && atom.chars().all(atext))
    {
        return false;
    }
    let labels: Vec<&str> = domain.split('.').collect();
    labels.len() >= 2
        && labels.iter().all(|label| {
            !label.is_empty()
                && label.len() <= MAX_LABEL_BYTES
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_alphanumeric() || c == '-')
        })
        && labels
            .last()
            .is_some_and(|tld| !tld.chars().all(|c| c.is_ascii_digit()))
}
