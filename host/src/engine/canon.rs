//! The normalised binary form of a value: what verification and `ferry
//! sync` hash. Two values are equal under the type mapping exactly when
//! their forms are equal bytes.
//!
//! The form is never shown nor stored: it only has to be the same on both
//! sides of one comparison, by the same build. It is written straight into
//! the caller's buffer, without allocating per value: digesting runs once
//! per row on both sides of every verified table.
//!
//! - Decimals (a `Decimal` column's text, JSON numbers) become sign,
//!   significant digits and the position of the point: `1.50`, `1.5e0` and
//!   `+001.500` are one form, and no exponent is ever expanded into digits
//!   (`1e999999999` costs nine bytes, not a gigabyte).
//! - JSON is parsed and re-encoded with object members sorted by key (the
//!   last of duplicate keys wins, as in PostgreSQL's `jsonb` and MySQL's
//!   `JSON`), strings unescaped, numbers as decimals and insignificant
//!   whitespace gone — so `jsonb`'s re-serialised text equals the source's.
//!   Text that is not JSON (or nests deeper than [`MAX_JSON_DEPTH`]) is
//!   hashed as it is.

use crate::model::{Batch, ColumnData, Decimal, LogicalType, ValueRef};

/// JSON nested deeper than this is hashed as text instead of parsed: the
/// parser recurses once per level and must not exhaust a worker's stack on
/// hostile input. `serde_json` stops at 128; real documents stay far below.
pub const MAX_JSON_DEPTH: usize = 256;

// Tags: the first byte of each value's form, so no two kinds collide.
const NULL: u8 = 0;
const BOOL: u8 = 1;
const INT: u8 = 2;
const FLOAT: u8 = 3;
const DATE: u8 = 4;
const UUID: u8 = 5;
const TEXT: u8 = 6;
const BYTES: u8 = 7;
const DECIMAL: u8 = 8;
const JSON: u8 = 9;

/// Appends the normalised form of a value (see the module docs).
pub fn canon(v: &ValueRef<'_>, t: LogicalType, out: &mut Vec<u8>) {
    match v {
        ValueRef::Null => out.push(NULL),
        ValueRef::Bool(b) => out.extend_from_slice(&[BOOL, *b as u8]),
        ValueRef::Int(i) => {
            out.push(INT);
            out.extend_from_slice(&i.to_le_bytes());
        }
        ValueRef::Float(f) => {
            out.push(FLOAT);
            // One NaN; -0.0 stays itself (PostgreSQL and MySQL keep it).
            let bits = if f.is_nan() {
                f64::NAN.to_bits()
            } else {
                f.to_bits()
            };
            out.extend_from_slice(&bits.to_le_bytes());
        }
        ValueRef::Date(d) => {
            out.push(DATE);
            out.extend_from_slice(&d.to_le_bytes());
        }
        ValueRef::Uuid(u) => {
            out.push(UUID);
            out.extend_from_slice(u);
        }
        ValueRef::Text(s) => match t {
            LogicalType::Decimal => match Decimal::parse(s.trim()) {
                Some(d) => {
                    out.push(DECIMAL);
                    put_decimal(d.negative, d.int.as_bytes(), d.frac.as_bytes(), d.exp, out);
                }
                None => put_text(s.as_bytes(), out),
            },
            LogicalType::Json => put_json_or_text(s.as_bytes(), out),
            _ => put_text(s.as_bytes(), out),
        },
        ValueRef::Bytes(b) => {
            out.push(BYTES);
            out.extend_from_slice(&(b.len() as u64).to_le_bytes());
            out.extend_from_slice(b);
        }
    }
}

/// [`canon`] of the value at (`row`, `col`) of a checked batch. Text is
/// read as the bytes it is: `Batch::value` validates UTF-8 on every call,
/// and a checked batch's text is valid already (this runs per value of
/// every row a verification digests).
pub fn canon_at(batch: &Batch, row: usize, col: usize, t: LogicalType, out: &mut Vec<u8>) {
    let c = &batch.columns[col];
    if let ColumnData::Utf8(v) = &c.data
        && t != LogicalType::Decimal
        && !c.is_null(row)
    {
        let s = v.value(row);
        if t == LogicalType::Json {
            put_json_or_text(s, out);
        } else {
            put_text(s, out);
        }
        return;
    }
    canon(&batch.value(row, col), t, out);
}

fn put_text(s: &[u8], out: &mut Vec<u8>) {
    out.push(TEXT);
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s);
}

/// A number's form: `0` for zero (whatever its sign), else the sign, the
/// significant digits (count, then digits) and where the point falls among
/// them. `int`/`frac` are ASCII digits; the value is `±int.frac × 10^exp`.
fn put_decimal(negative: bool, int: &[u8], frac: &[u8], exp: i64, out: &mut Vec<u8>) {
    let digit = |i: usize| {
        if i < int.len() {
            int[i]
        } else {
            frac[i - int.len()]
        }
    };
    let total = int.len() + frac.len();
    let Some(first) = (0..total).find(|&i| digit(i) != b'0') else {
        out.push(b'0');
        return;
    };
    // A nonzero digit exists, so this finds one.
    let last = (0..total)
        .rev()
        .find(|&i| digit(i) != b'0')
        .unwrap_or(first);
    out.push(if negative { b'-' } else { b'+' });
    out.extend_from_slice(&((last + 1 - first) as u64).to_le_bytes());
    for i in first..=last {
        out.push(digit(i));
    }
    let point = (int.len() as i64)
        .saturating_sub(first as i64)
        .saturating_add(exp);
    out.extend_from_slice(&point.to_le_bytes());
}

/// The form of a JSON column's text: the document's, or the text's when it
/// is not JSON.
fn put_json_or_text(s: &[u8], out: &mut Vec<u8>) {
    let start = out.len();
    out.push(JSON);
    if !put_json(s, out) {
        out.truncate(start);
        put_text(s, out);
    }
}

/// Appends the form of JSON text; false when it is not JSON (the caller
/// then drops what was appended).
fn put_json(s: &[u8], out: &mut Vec<u8>) -> bool {
    let mut p = Json { s, i: 0 };
    p.ws();
    if p.value(out, 0).is_none() {
        return false;
    }
    p.ws();
    p.i == s.len()
}

/// A JSON reader over bytes that writes the canonical form as it parses.
struct Json<'a> {
    s: &'a [u8],
    i: usize,
}

impl Json<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn lit(&mut self, word: &[u8], tag: u8, out: &mut Vec<u8>) -> Option<()> {
        if self.s[self.i..].starts_with(word) {
            self.i += word.len();
            out.push(tag);
            Some(())
        } else {
            None
        }
    }

    fn value(&mut self, out: &mut Vec<u8>, depth: usize) -> Option<()> {
        if depth > MAX_JSON_DEPTH {
            return None;
        }
        match self.peek()? {
            b'n' => self.lit(b"null", b'n', out),
            b't' => self.lit(b"true", b't', out),
            b'f' => self.lit(b"false", b'f', out),
            b'"' => {
                out.push(b's');
                self.string(out)
            }
            b'[' => {
                self.i += 1;
                out.push(b'[');
                self.ws();
                if self.peek()? == b']' {
                    self.i += 1;
                    out.push(b']');
                    return Some(());
                }
                loop {
                    self.ws();
                    self.value(out, depth + 1)?;
                    self.ws();
                    match self.peek()? {
                        b',' => self.i += 1,
                        b']' => {
                            self.i += 1;
                            out.push(b']');
                            return Some(());
                        }
                        _ => return None,
                    }
                }
            }
            b'{' => self.object(out, depth),
            b'-' | b'0'..=b'9' => self.number(out),
            _ => None,
        }
    }

    /// An object: members written in the order read, then reordered by
    /// key in place when they were not already sorted and unique.
    fn object(&mut self, out: &mut Vec<u8>, depth: usize) -> Option<()> {
        self.i += 1;
        out.push(b'{');
        let start = out.len();
        // Per member: (key start, key end, member end) in `out`.
        let mut members: Vec<(usize, usize, usize)> = Vec::new();
        self.ws();
        if self.peek()? == b'}' {
            self.i += 1;
            out.push(b'}');
            return Some(());
        }
        loop {
            self.ws();
            if self.peek()? != b'"' {
                return None;
            }
            let key_start = out.len();
            out.push(b's');
            self.string(out)?;
            let key_end = out.len();
            self.ws();
            if self.peek()? != b':' {
                return None;
            }
            self.i += 1;
            self.ws();
            self.value(out, depth + 1)?;
            members.push((key_start, key_end, out.len()));
            self.ws();
            match self.peek()? {
                b',' => self.i += 1,
                b'}' => {
                    self.i += 1;
                    break;
                }
                _ => return None,
            }
        }
        // Any fixed order will do (both sides use it): the keys' forms,
        // compared as bytes; strictly increasing also means no duplicates.
        let sorted = members
            .windows(2)
            .all(|w| out[w[0].0..w[0].1] < out[w[1].0..w[1].1]);
        if !sorted {
            let body = out[start..].to_vec();
            let key_of = |m: &(usize, usize, usize)| &body[m.0 - start..m.1 - start];
            // Stable, so of equal keys the last one read stays last: keep it.
            members.sort_by(|a, b| key_of(a).cmp(key_of(b)));
            out.truncate(start);
            for (n, m) in members.iter().enumerate() {
                if members
                    .get(n + 1)
                    .is_some_and(|next| key_of(next) == key_of(m))
                {
                    continue;
                }
                out.extend_from_slice(&body[m.0 - start..m.2 - start]);
            }
        }
        out.push(b'}');
        Some(())
    }

    /// A string (after its opening quote is seen): its unescaped bytes,
    /// counted. Control characters and lone surrogates are not JSON.
    fn string(&mut self, out: &mut Vec<u8>) -> Option<()> {
        self.i += 1;
        let len_at = out.len();
        out.extend_from_slice(&[0; 8]);
        let body = out.len();
        loop {
            // Copy the run up to the next quote, backslash or control byte.
            let run = self.s[self.i..]
                .iter()
                .position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
            out.extend_from_slice(&self.s[self.i..self.i + run]);
            self.i += run;
            match self.s[self.i] {
                b'"' => {
                    self.i += 1;
                    break;
                }
                b'\\' => {
                    self.i += 1;
                    let c = self.peek()?;
                    self.i += 1;
                    match c {
                        b'"' | b'\\' | b'/' => out.push(c),
                        b'b' => out.push(0x08),
                        b'f' => out.push(0x0c),
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'u' => {
                            let mut cp = self.hex4()?;
                            if (0xD800..0xDC00).contains(&cp) {
                                if !self.s[self.i..].starts_with(b"\\u") {
                                    return None;
                                }
                                self.i += 2;
                                let lo = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return None;
                                }
                                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                            }
                            let ch = char::from_u32(cp)?;
                            let mut buf = [0; 4];
                            out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                        }
                        _ => return None,
                    }
                }
                _ => return None,
            }
        }
        let n = (out.len() - body) as u64;
        out[len_at..body].copy_from_slice(&n.to_le_bytes());
        Some(())
    }

    fn hex4(&mut self) -> Option<u32> {
        let h = self.s.get(self.i..self.i + 4)?;
        let v = h
            .iter()
            .try_fold(0u32, |acc, &b| Some(acc << 4 | char::from(b).to_digit(16)?))?;
        self.i += 4;
        Some(v)
    }

    /// A number, strictly as JSON writes it: `-? int frac? exp?`.
    fn number(&mut self, out: &mut Vec<u8>) -> Option<()> {
        let negative = self.peek() == Some(b'-');
        if negative {
            self.i += 1;
        }
        let digits = |s: &[u8], i: usize| s[i..].iter().take_while(|b| b.is_ascii_digit()).count();
        let int_start = self.i;
        let n = digits(self.s, self.i);
        // No empty integer part, no leading zero before more digits.
        if n == 0 || (n > 1 && self.s[int_start] == b'0') {
            return None;
        }
        self.i += n;
        let int = &self.s[int_start..self.i];
        let mut frac: &[u8] = &[];
        if self.peek() == Some(b'.') {
            let f = digits(self.s, self.i + 1);
            if f == 0 {
                return None;
            }
            frac = &self.s[self.i + 1..self.i + 1 + f];
            self.i += 1 + f;
        }
        let mut exp = 0i64;
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.i += 1;
            let neg = match self.peek() {
                Some(b'-') => {
                    self.i += 1;
                    true
                }
                Some(b'+') => {
                    self.i += 1;
                    false
                }
                _ => false,
            };
            let e = digits(self.s, self.i);
            if e == 0 {
                return None;
            }
            for &d in &self.s[self.i..self.i + e] {
                // An exponent past i64 is no number any database holds.
                exp = exp.checked_mul(10)?.checked_add(i64::from(d - b'0'))?;
            }
            if neg {
                exp = -exp;
            }
            self.i += e;
        }
        out.push(b'd');
        put_decimal(negative, int, frac, exp, out);
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(s: &str, t: LogicalType) -> Vec<u8> {
        let mut out = Vec::new();
        canon(&ValueRef::Text(s), t, &mut out);
        out
    }

    fn same(a: &str, b: &str, t: LogicalType) {
        assert_eq!(form(a, t), form(b, t), "{a} vs {b}");
    }

    fn differ(a: &str, b: &str, t: LogicalType) {
        assert_ne!(form(a, t), form(b, t), "{a} vs {b}");
    }

    #[test]
    fn decimals_written_differently_are_one_form() {
        use LogicalType::Decimal as D;
        for (a, b) in [
            ("1.50", "1.5"),
            ("+001.500e1", "15"),
            ("-0.0", "0"),
            ("0.990000000000000000000000000000", "0.99"),
            ("1e3", "1000"),
            ("12.5e-3", "0.0125"),
            (".5", "0.5"),
            ("5.", "5"),
            (" 7 ", "7"),
        ] {
            same(a, b, D);
        }
        for (a, b) in [("1.5", "15"), ("-7", "7"), ("0.01", "0.1"), ("1e3", "1e4")] {
            differ(a, b, D);
        }
        // An exponent is never expanded into digits.
        assert!(form("1e999999999999", D).len() < 32);
        // Text that is no decimal is itself.
        same("NaN", "NaN", D);
        differ("NaN", "nan", D);
    }

    #[test]
    fn json_as_jsonb_and_mysql_rewrite_it_is_one_form() {
        use LogicalType::Json as J;
        for (a, b) in [
            (
                r#"{"b": [1, {"d":1,"c":2}], "a": null}"#,
                r#"{"a":null,"b":[1,{"c":2,"d":1}]}"#,
            ),
            // jsonb keeps the last of duplicate keys.
            (r#"{"a":1,"a":2}"#, r#"{"a": 2}"#),
            (r#"{"b":1,"a":1,"b":3}"#, r#"{"a":1,"b":3}"#),
            // Numbers as decimals: jsonb prints 1e2 as 100, MySQL 1.50 as 1.5.
            ("[1e2, 1.50, -0, 0.0]", "[100,1.5,0,0]"),
            // Escapes are read: \u00e9 is é, \/ is /, a surrogate pair one char.
            (r#""caf\u00e9 \/ \ud83d\ude00""#, "\"café / 😀\""),
            ("\t true \n", "true"),
            ("{}", "{ }"),
        ] {
            same(a, b, J);
        }
        for (a, b) in [
            (r#"{"a":1}"#, r#"{"a":"1"}"#),
            ("[1,2]", "[2,1]"),
            (r#"{"a":[]}"#, r#"{"a":{}}"#),
            (r#"["ab"]"#, r#"["a","b"]"#),
            ("1", "10"),
            ("null", r#""null""#),
        ] {
            differ(a, b, J);
        }
        // Not JSON: hashed as the text it is, never confused with JSON.
        for bad in [
            "{",
            "[1,]",
            "01",
            "1.",
            r#""\ud800""#,
            "\"a\u{1}\"",
            "true false",
            r#"{"a" 1}"#,
            "",
        ] {
            assert_eq!(form(bad, J), form(bad, LogicalType::Text), "{bad:?}");
        }
        differ("nul", "null", J);
    }

    #[test]
    fn a_batch_value_has_the_form_of_the_value() {
        use crate::model::{BatchBuilder, ColumnDef, TableDef};
        let types = [LogicalType::Text, LogicalType::Json, LogicalType::Decimal];
        let def = TableDef {
            name: "t".into(),
            columns: types
                .iter()
                .enumerate()
                .map(|(i, t)| ColumnDef {
                    name: format!("c{i}"),
                    logical_type: *t,
                    nullable: true,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        };
        let schema = def.schema();
        let rows: [[Option<&str>; 3]; 3] = [
            [Some("é"), Some(r#"{"b":1,"a":[1.50]}"#), Some("1.50")],
            [Some(""), Some("not json"), Some("NaN")],
            [None, None, None],
        ];
        let mut b = BatchBuilder::new(&schema, rows.len());
        for r in &rows {
            for (c, v) in r.iter().enumerate() {
                let v = v.map_or(ValueRef::Null, ValueRef::Text);
                b.copy_value(c, &v).unwrap();
            }
            b.end_row();
        }
        let batch = b.finish();
        for (r, row) in rows.iter().enumerate() {
            for (c, t) in types.iter().enumerate() {
                let (mut at, mut of) = (Vec::new(), Vec::new());
                canon_at(&batch, r, c, *t, &mut at);
                canon(&row[c].map_or(ValueRef::Null, ValueRef::Text), *t, &mut of);
                assert_eq!(at, of, "row {r} column {c}");
            }
        }
    }

    #[test]
    fn json_deeper_than_the_limit_is_text_and_does_not_overflow_the_stack() {
        let deep = "[".repeat(100_000) + &"]".repeat(100_000);
        assert_eq!(
            form(&deep, LogicalType::Json),
            form(&deep, LogicalType::Text)
        );
        let ok = "[".repeat(MAX_JSON_DEPTH) + &"]".repeat(MAX_JSON_DEPTH);
        assert_ne!(form(&ok, LogicalType::Json), form(&ok, LogicalType::Text));
    }
}
