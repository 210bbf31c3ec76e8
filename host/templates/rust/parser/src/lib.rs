//! `{{name}}`: a ferry parser. Each non-empty line of a UTF-8 text file
//! becomes a record `{line_no, text}`. Chunks may split a line (or a
//! character) anywhere; a NUL byte or invalid UTF-8 makes the file malformed,
//! naming the line, and ferry reports that file and moves the others.

use ferry_plugin_sdk::{
    Field, FieldValue, FileInfo, Location, NoConfig, ParsedRecord, Parser, ParserSession,
    PluginError, PluginInfo,
};

/// The longest line held while waiting for its end: a file without line
/// breaks would otherwise grow the buffer up to the plugin's memory limit.
const MAX_LINE_BYTES: usize = 1 << 20;

pub struct Plugin;

/// One file in progress: the bytes of the unfinished line, and its number.
pub struct Session {
    pending: Vec<u8>,
    line_no: u32,
}

impl Parser for Plugin {
    type Config = NoConfig;
    type Session = Session;

    fn describe() -> PluginInfo {
        PluginInfo::new(
            "{{name}}",
            env!("CARGO_PKG_VERSION"),
            "One record {line_no, text} per non-empty line of UTF-8 text.",
        )
    }

    fn open(_file: FileInfo, _config: &NoConfig) -> Result<Session, PluginError> {
        Ok(Session {
            pending: Vec::new(),
            line_no: 0,
        })
    }
}

impl Session {
    fn line(&mut self, bytes: &[u8]) -> Result<Option<ParsedRecord>, PluginError> {
        self.line_no += 1;
        let at = |message: &str| {
            PluginError::malformed(
                message,
                Location {
                    line: Some(self.line_no),
                    ..Location::default()
                },
            )
        };
        let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
        if bytes.contains(&0) {
            return Err(at("a NUL byte in a text file"));
        }
        let text = std::str::from_utf8(bytes).map_err(|_| at("not valid UTF-8"))?;
        if text.trim().is_empty() {
            return Ok(None);
        }
        Ok(Some(ParsedRecord::new(vec![
            Field::new("line_no", FieldValue::Integer(self.line_no.into())),
            Field::new("text", FieldValue::Text(text.to_string())),
        ])))
    }
}

impl ParserSession for Session {
    fn feed(&mut self, chunk: &[u8]) -> Result<Vec<ParsedRecord>, PluginError> {
        self.pending.extend_from_slice(chunk);
        let mut records = Vec::new();
        let mut start = 0;
        while let Some(end) = self.pending[start..].iter().position(|&b| b == b'\n') {
            let line = self.pending[start..start + end].to_vec();
            records.extend(self.line(&line)?);
            start += end + 1;
        }
        self.pending.drain(..start);
        if self.pending.len() > MAX_LINE_BYTES {
            return Err(PluginError::malformed(
                format!("a line longer than {MAX_LINE_BYTES} bytes"),
                Location {
                    line: Some(self.line_no + 1),
                    ..Location::default()
                },
            ));
        }
        Ok(records)
    }

    fn finish(&mut self) -> Result<Vec<ParsedRecord>, PluginError> {
        let last = std::mem::take(&mut self.pending);
        if last.is_empty() {
            return Ok(Vec::new());
        }
        Ok(self.line(&last)?.into_iter().collect())
    }
}

ferry_plugin_sdk::export_parser!(Plugin);

#[cfg(test)]
mod tests {
    use ferry_plugin_sdk::call;

    use super::*;

    fn parse(chunks: &[&[u8]]) -> Result<Vec<(i64, String)>, PluginError> {
        let file = FileInfo {
            name: "notes.txt".into(),
            size: 0,
            media_type_hint: None,
        };
        let mut session = call::open::<Plugin>(file, "{}")?;
        let mut records = Vec::new();
        for c in chunks {
            records.extend(session.feed(c)?);
        }
        records.extend(session.finish()?);
        Ok(records
            .iter()
            .map(|r| match (r.get("line_no"), r.get("text")) {
                (Some(FieldValue::Integer(n)), Some(FieldValue::Text(t))) => (*n, t.clone()),
                other => panic!("unexpected record {other:?}"),
            })
            .collect())
    }

    #[test]
    fn one_record_per_non_empty_line_whatever_the_chunks() {
        let want = vec![(1, "first".to_string()), (3, "thïrd".to_string())];
        assert_eq!(parse(&[b"first\r\n\nth\xc3\xafrd"]).unwrap(), want);
        assert_eq!(parse(&[b"fir", b"st\r", b"\n\nth\xc3", b"\xafrd\n"]).unwrap(), want);
    }

    #[test]
    fn a_nul_byte_is_malformed_input_naming_the_line() {
        let err = parse(&[b"ok\nbad\0line\n"]).unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
    }
}
