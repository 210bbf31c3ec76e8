//! `ferry analyze DIR`: what a directory holds and what a migration of it
//! would do — formats, sizes, encodings, the largest files, what would be
//! skipped and why, estimated records and time. Reads the files, parses
//! nothing (no plugin runs), writes nothing.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use super::{FilesSettings, Format, SNIFF_BYTES, choose, sniff_encoding, walk};

/// Parse throughput one worker sustains, used for the time estimate:
/// 12 MB/s. `ferry validate` (release) measured 12.6 MB/s per worker on a
/// 2-core machine over a mixed 74 MiB corpus (Markdown 13.5, CSV 12, JSON
/// 14.8, text 57 MB/s per worker; see docs/files.md, "Measured"), so the
/// estimate errs slightly long. Writing to a database adds to it.
pub const ESTIMATE_BYTES_PER_SEC_PER_WORKER: f64 = 12e6;

/// Files listed under "largest".
const LARGEST: usize = 10;

/// One file as analyze sees it.
#[derive(Debug, Clone, Serialize)]
pub struct AnalyzedFile {
    pub path: String,
    pub size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<Format>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parser: Option<String>,
    pub encoding: &'static str,
    pub estimated_records: u64,
    /// Why a migration would skip it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skip: Option<String>,
}

/// Per format: files, bytes, estimated records.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FormatTotals {
    pub files: u64,
    pub bytes: u64,
    pub estimated_records: u64,
}

/// The whole analysis.
#[derive(Debug, Clone, Serialize)]
pub struct Analysis {
    pub dir: String,
    pub files: u64,
    pub bytes: u64,
    pub by_format: BTreeMap<String, FormatTotals>,
    pub encodings: BTreeMap<String, u64>,
    pub largest: Vec<(String, u64)>,
    pub skipped: Vec<(String, String)>,
    pub estimated_records: u64,
    pub workers: usize,
    pub estimated_seconds: f64,
    pub max_file_bytes: u64,
    pub list: Vec<AnalyzedFile>,
}

/// Analyses `dir` with the files settings a migration would use.
pub fn analyze(dir: &Path, s: &FilesSettings) -> Result<Analysis, super::WalkError> {
    let entries = walk(dir, s.hidden, &s.exclude)?;
    let mut list = Vec::with_capacity(entries.len());
    for e in &entries {
        let mut f = AnalyzedFile {
            path: e.rel.clone(),
            size: e.size,
            format: None,
            parser: None,
            encoding: "-",
            estimated_records: 0,
            skip: None,
        };
        if let Some((code, reason)) = &e.skip {
            f.skip = Some(format!("{code}: {reason}"));
            list.push(f);
            continue;
        }
        if e.size > s.max_file_bytes {
            f.skip = Some(format!(
                "file-too-large: {} bytes, over the {}-byte limit",
                e.size, s.max_file_bytes
            ));
            list.push(f);
            continue;
        }
        let bytes = match std::fs::read(&e.path) {
            Ok(b) => b,
            Err(err) => {
                f.skip = Some(format!("unreadable: {err}"));
                list.push(f);
                continue;
            }
        };
        let head = &bytes[..bytes.len().min(SNIFF_BYTES)];
        f.encoding = sniff_encoding(head, bytes.len() <= SNIFF_BYTES);
        if bytes.is_empty() {
            f.skip = Some("empty: 0 bytes".into());
            list.push(f);
            continue;
        }
        match choose(s, &e.rel, head) {
            Ok(c) => {
                f.format = c.format;
                f.estimated_records = estimate_records(c.format, &e.rel, &bytes);
                f.parser = Some(c.parser);
            }
            Err((code, reason)) => {
                f.format = Some(Format::Binary);
                f.skip = Some(format!("{code}: {reason}"));
            }
        }
        list.push(f);
    }
    let mut by_format: BTreeMap<String, FormatTotals> = BTreeMap::new();
    let mut encodings: BTreeMap<String, u64> = BTreeMap::new();
    for f in &list {
        let key = match (&f.format, &f.skip) {
            (_, Some(_)) if f.format != Some(Format::Binary) => "skipped".to_string(),
            (Some(fm), _) => serde_json::to_value(fm)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            (None, _) => format!("other ({})", f.parser.as_deref().unwrap_or("?")),
        };
        let t = by_format.entry(key).or_default();
        t.files += 1;
        t.bytes += f.size;
        t.estimated_records += f.estimated_records;
        if f.encoding != "-" {
            *encodings.entry(f.encoding.to_string()).or_default() += 1;
        }
    }
    let mut largest: Vec<(String, u64)> = list.iter().map(|f| (f.path.clone(), f.size)).collect();
    largest.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    largest.truncate(LARGEST);
    let parse_bytes: u64 = list
        .iter()
        .filter(|f| f.skip.is_none())
        .map(|f| f.size)
        .sum();
    Ok(Analysis {
        dir: dir.display().to_string(),
        files: list.len() as u64,
        bytes: list.iter().map(|f| f.size).sum(),
        by_format,
        encodings,
        largest,
        skipped: list
            .iter()
            .filter_map(|f| f.skip.clone().map(|r| (f.path.clone(), r)))
            .collect(),
        estimated_records: list.iter().map(|f| f.estimated_records).sum(),
        workers: s.workers,
        estimated_seconds: parse_bytes as f64
            / (ESTIMATE_BYTES_PER_SEC_PER_WORKER * s.workers as f64),
        max_file_bytes: s.max_file_bytes,
        list,
    })
}

/// Records a parser would produce, estimated without parsing: a CSV line
/// per record less a header; JSON Lines a record per non-blank line; a JSON
/// array a record per top-level element; anything else one.
pub fn estimate_records(format: Option<Format>, rel: &str, bytes: &[u8]) -> u64 {
    let lines = || {
        bytes
            .split(|b| *b == b'\n')
            .filter(|l| l.iter().any(|b| !b.is_ascii_whitespace()))
            .count() as u64
    };
    match format {
        Some(Format::Csv) => lines().saturating_sub(1),
        Some(Format::Json) => {
            let lower = rel.to_ascii_lowercase();
            if lower.ends_with(".jsonl") || lower.ends_with(".ndjson") {
                return lines();
            }
            let body = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(bytes);
            match body.iter().find(|b| !b.is_ascii_whitespace()) {
                Some(b'[') => top_level_elements(body),
                Some(b'{') => {
                    // Several objects on separate lines: JSON Lines.
                    let n = lines();
                    if n > 1
                        && bytes
                            .split(|b| *b == b'\n')
                            .filter(|l| l.first() == Some(&b'{'))
                            .count() as u64
                            == n
                    {
                        n
                    } else {
                        1
                    }
                }
                _ => 1,
            }
        }
        _ => 1,
    }
}

/// Elements of the top-level JSON array (commas at depth 1, outside strings).
fn top_level_elements(b: &[u8]) -> u64 {
    let (mut depth, mut in_str, mut esc) = (0usize, false, false);
    let (mut commas, mut any) = (0u64, false);
    for &c in b {
        if in_str {
            match (esc, c) {
                (true, _) => esc = false,
                (false, b'\\') => esc = true,
                (false, b'"') => in_str = false,
                _ => {}
            }
            continue;
        }
        match c {
            b'"' => {
                in_str = true;
                any |= depth == 1;
            }
            b'[' | b'{' => {
                any |= depth == 1;
                depth += 1;
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            b',' if depth == 1 => commas += 1,
            c if depth == 1 && !c.is_ascii_whitespace() => any = true,
            _ => {}
        }
    }
    if any { commas + 1 } else { 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimates() {
        assert_eq!(
            estimate_records(Some(Format::Csv), "a.csv", b"a,b\n1,2\n3,4\n\n"),
            2
        );
        assert_eq!(
            estimate_records(
                Some(Format::Json),
                "a.json",
                b"[{\"a\":[1,2]},{\"b\":\"x,]\"}]"
            ),
            2
        );
        assert_eq!(estimate_records(Some(Format::Json), "a.json", b"[]"), 0);
        assert_eq!(
            estimate_records(Some(Format::Json), "a.json", b"{\"a\":1}\n{\"a\":2}\n"),
            2
        );
        assert_eq!(
            estimate_records(Some(Format::Json), "a.jsonl", b"1\n2\n3"),
            3
        );
        assert_eq!(estimate_records(Some(Format::Markdown), "a.md", b"# x"), 1);
    }
}
