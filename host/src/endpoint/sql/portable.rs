//! SQL that crosses dialects: a CHECK expression or a view's query, read in
//! the source's dialect and written in the target's.
//!
//! - **Same dialect**: the text is kept exactly.
//! - **CHECK across dialects**: only what every dialect reads the same way
//!   is carried — column names, literals, comparisons, `IN`, `[NOT]
//!   BETWEEN`, `LIKE`, `IS [NOT] NULL`, `AND`/`OR`/`NOT`, arithmetic and a
//!   few functions (`lower`, `upper`, `trim`, `abs`, character `length`).
//!   PostgreSQL's rendering (`(c)::text = ANY (ARRAY[…])`, `~~`) is read
//!   back into that form. Anything else is refused with the reason, and the
//!   plan lists the check as not carried.
//! - **A view across dialects**: identifiers and literals are re-quoted for
//!   the target, PostgreSQL's `::type` casts and `~~` operators are
//!   rewritten, renamed tables are mapped; the rest is kept as written and
//!   the target is the judge (a view it refuses is listed with its error).
//!
//! `LIKE` is case-insensitive for ASCII in SQLite and under MySQL's default
//! collations, case-sensitive in PostgreSQL: into PostgreSQL from another
//! dialect it becomes `ILIKE` (the rule keeps refusing what it refused);
//! from PostgreSQL into the others, `LIKE` accepts more than it did (a
//! check never refuses a row the source accepted).
//!
//! Every session ferry opens reads `"quoted"` identifiers (MySQL's run with
//! `ANSI_QUOTES`, so the server also prints CHECK clauses that way) and
//! `''`-doubled literals; a MySQL source's literals may still hold
//! backslash escapes, which are read.

use std::fmt::Write as _;

/// A dialect, by the endpoint scheme that speaks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SqlDialect {
    Sqlite,
    Postgres,
    Mysql,
}

impl SqlDialect {
    /// The dialect of an endpoint scheme (`sqlite`, `postgres`, `mysql`);
    /// `None` for endpoints without SQL (json, files).
    pub fn of_scheme(scheme: &str) -> Option<SqlDialect> {
        match scheme {
            "sqlite" => Some(SqlDialect::Sqlite),
            "postgres" => Some(SqlDialect::Postgres),
            "mysql" => Some(SqlDialect::Mysql),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    /// A name: `quoted` when it was written quoted (its case is kept).
    Ident {
        name: String,
        quoted: bool,
    },
    Str(String),
    Num(String),
    /// An operator or punctuation: `(`, `)`, `,`, `[`, `]`, `=`, `<>`, `::`, `~~`, …
    Op(String),
}

/// Deepest nesting of parentheses read: 256, so a hostile definition cannot
/// recurse without bound (the reader itself is iterative).
const MAX_DEPTH: usize = 256;

/// Splits `sql` into tokens with their byte spans, per `d`'s quoting rules.
fn tokenize(sql: &str, d: SqlDialect) -> Result<Vec<(Tok, usize, usize)>, String> {
    let b = sql.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let start = i;
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if c == b'-' && b.get(i + 1) == Some(&b'-') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        if c == b'/' && b.get(i + 1) == Some(&b'*') {
            let end = sql[i + 2..]
                .find("*/")
                .ok_or("an unterminated /* comment")?;
            i += end + 4;
            continue;
        }
        let quoted = |i: &mut usize, close: u8, backslash: bool| -> Result<String, String> {
            let mut s = Vec::new();
            *i += 1;
            loop {
                let Some(&ch) = b.get(*i) else {
                    return Err(format!("an unterminated {} quote", close as char));
                };
                if backslash && ch == b'\\' {
                    let Some(&n) = b.get(*i + 1) else {
                        return Err("an unterminated escape".into());
                    };
                    s.push(match n {
                        b'n' => b'\n',
                        b't' => b'\t',
                        b'r' => b'\r',
                        b'0' => 0,
                        other => other,
                    });
                    *i += 2;
                    continue;
                }
                if ch == close {
                    if b.get(*i + 1) == Some(&close) {
                        s.push(close);
                        *i += 2;
                        continue;
                    }
                    *i += 1;
                    break;
                }
                s.push(ch);
                *i += 1;
            }
            String::from_utf8(s).map_err(|_| "a quoted part that is not UTF-8".to_string())
        };
        let tok = match c {
            b'\'' => Tok::Str(quoted(&mut i, b'\'', d == SqlDialect::Mysql)?),
            b'"' => Tok::Ident {
                name: quoted(&mut i, b'"', false)?,
                quoted: true,
            },
            b'`' if d != SqlDialect::Postgres => Tok::Ident {
                name: quoted(&mut i, b'`', false)?,
                quoted: true,
            },
            b'[' if d == SqlDialect::Sqlite => {
                let end = sql[i..].find(']').ok_or("an unterminated [ quote")?;
                let name = sql[i + 1..i + end].to_string();
                i += end + 1;
                Tok::Ident { name, quoted: true }
            }
            b'0'..=b'9' | b'.' if c != b'.' || b.get(i + 1).is_some_and(u8::is_ascii_digit) => {
                while i < b.len()
                    && (b[i].is_ascii_alphanumeric()
                        || b[i] == b'.'
                        || ((b[i] == b'+' || b[i] == b'-') && matches!(b[i - 1], b'e' | b'E')))
                {
                    i += 1;
                }
                Tok::Num(sql[start..i].to_string())
            }
            c if c.is_ascii_alphabetic() || c == b'_' || c >= 0x80 => {
                while i < b.len()
                    && (b[i].is_ascii_alphanumeric()
                        || b[i] == b'_'
                        || b[i] >= 0x80
                        || b[i] == b'$')
                {
                    i += 1;
                }
                Tok::Ident {
                    name: sql[start..i].to_string(),
                    quoted: false,
                }
            }
            _ => {
                const OPS: [&str; 14] = [
                    "!~~*", "!~~", "~~*", "<>", "!=", "<=", ">=", "::", "||", "~~", "==", "->>",
                    "->", "<=>",
                ];
                let op = OPS
                    .iter()
                    .find(|o| sql[i..].starts_with(**o))
                    .map(|o| o.to_string())
                    .unwrap_or_else(|| (c as char).to_string());
                if !c.is_ascii() {
                    return Err("a character outside ASCII outside quotes".into());
                }
                i += op.len();
                Tok::Op(op)
            }
        };
        out.push((tok, start, i));
    }
    Ok(out)
}

fn kw(t: &Tok, word: &str) -> bool {
    matches!(t, Tok::Ident { name, quoted: false } if name.eq_ignore_ascii_case(word))
}

/// How many tokens the PostgreSQL cast starting at `i` (its `::`) spans:
/// `::text`, `::character varying(20)`, `::timestamp with time zone`,
/// `::text[]`, `::"char"`.
fn cast_len(toks: &[Tok], i: usize) -> usize {
    let mut j = i + 1;
    if matches!(toks.get(j), Some(Tok::Ident { .. })) {
        j += 1;
    }
    while toks.get(j).is_some_and(|t| {
        ["varying", "precision", "with", "without", "time", "zone"]
            .iter()
            .any(|w| kw(t, w))
    }) {
        j += 1;
    }
    if toks.get(j) == Some(&Tok::Op("(".into())) {
        while j < toks.len() && toks[j] != Tok::Op(")".into()) {
            j += 1;
        }
        j += 1;
    }
    while toks.get(j) == Some(&Tok::Op("[".into())) && toks.get(j + 1) == Some(&Tok::Op("]".into()))
    {
        j += 2;
    }
    j.min(toks.len()) - i
}

/// Drops PostgreSQL casts: the target decides types from its columns.
fn drop_casts(toks: Vec<Tok>) -> Vec<Tok> {
    let mut out = Vec::with_capacity(toks.len());
    let mut i = 0;
    while i < toks.len() {
        if toks[i] == Tok::Op("::".into()) {
            i += cast_len(&toks, i);
            continue;
        }
        out.push(toks[i].clone());
        i += 1;
    }
    out
}

/// Rewrites PostgreSQL's `x = ANY (ARRAY[a, b])` into `x IN (a, b)` and
/// `x <> ALL (ARRAY[…])` into `x NOT IN (…)`, and `~~` operators into LIKE.
fn unfold_postgres(toks: Vec<Tok>) -> Result<Vec<Tok>, String> {
    let mut out: Vec<Tok> = Vec::with_capacity(toks.len());
    let mut i = 0;
    let word = |w: &str| Tok::Ident {
        name: w.to_string(),
        quoted: false,
    };
    while i < toks.len() {
        let t = &toks[i];
        let any_all = matches!(t, Tok::Op(o) if o == "=" || o == "<>" || o == "!=")
            && toks
                .get(i + 1)
                .is_some_and(|n| kw(n, "any") || kw(n, "all"));
        if any_all {
            let negated = !matches!(t, Tok::Op(o) if o == "=");
            if negated != kw(&toks[i + 1], "all") {
                return Err("a comparison with ANY/ALL that is not an IN list".into());
            }
            let mut j = i + 2;
            let mut parens = 0;
            while toks.get(j) == Some(&Tok::Op("(".into())) {
                parens += 1;
                j += 1;
            }
            if !(toks.get(j).is_some_and(|x| kw(x, "array"))
                && toks.get(j + 1) == Some(&Tok::Op("[".into())))
            {
                return Err("ANY/ALL over something other than an ARRAY[…] list".into());
            }
            j += 2;
            let mut items = Vec::new();
            while toks.get(j).is_some_and(|x| *x != Tok::Op("]".into())) {
                items.push(toks[j].clone());
                j += 1;
            }
            j += 1;
            for _ in 0..parens {
                if toks.get(j) != Some(&Tok::Op(")".into())) {
                    return Err("an ARRAY[…] list not closed as expected".into());
                }
                j += 1;
            }
            if negated {
                out.push(word("NOT"));
            }
            out.push(word("IN"));
            out.push(Tok::Op("(".into()));
            out.extend(items);
            out.push(Tok::Op(")".into()));
            i = j;
            continue;
        }
        match t {
            Tok::Op(o) if o == "~~" => out.push(word("LIKE")),
            Tok::Op(o) if o == "!~~" => {
                out.push(word("NOT"));
                out.push(word("LIKE"));
            }
            Tok::Op(o) if o == "~~*" => out.push(word("ILIKE")),
            Tok::Op(o) if o == "!~~*" => {
                out.push(word("NOT"));
                out.push(word("ILIKE"));
            }
            _ => out.push(t.clone()),
        }
        i += 1;
    }
    Ok(out)
}

fn quote_for_target(name: &str) -> String {
    super::quote_ident(name)
}

fn literal(s: &str) -> Result<String, String> {
    if s.contains('\0') {
        return Err("a string literal holding a NUL character".into());
    }
    Ok(super::sql_literal(s))
}

/// Keywords a portable CHECK may use (upper-cased on output).
const CHECK_WORDS: [&str; 11] = [
    "and", "or", "not", "in", "like", "ilike", "is", "null", "true", "false", "between",
];

/// SQL words a CHECK may hold that do not mean the same everywhere (or do
/// not exist everywhere): a check using one is not carried across dialects.
const NOT_PORTABLE: [&str; 16] = [
    "glob", "regexp", "rlike", "match", "similar", "collate", "case", "when", "then", "else",
    "end", "exists", "select", "cast", "escape", "interval",
];

/// Every name `expr` uses (unquoted ones lower-cased), in `d`'s quoting:
/// what a check refers to, to tell whether the target still has it.
pub fn identifiers(expr: &str, d: SqlDialect) -> Vec<String> {
    tokenize(expr, d)
        .map(|toks| {
            toks.into_iter()
                .filter_map(|(t, _, _)| match t {
                    Tok::Ident { name, quoted: true } => Some(name),
                    Tok::Ident {
                        name,
                        quoted: false,
                    } => Some(name.to_ascii_lowercase()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Functions a portable CHECK may call: the same meaning in all three
/// dialects once `length` is spelled per target (characters, not bytes).
const CHECK_FUNCTIONS: [&str; 6] = ["lower", "upper", "trim", "abs", "length", "char_length"];

/// The CHECK expression `expr`, written in `from`'s dialect, as `to` runs
/// it; `column` maps a source column name to the target's (`None`: the
/// column is not in the target). `Err` says why the check is not carried.
pub fn translate_check(
    expr: &str,
    from: SqlDialect,
    to: SqlDialect,
    column: &dyn Fn(&str) -> Option<String>,
) -> Result<String, String> {
    let toks: Vec<Tok> = tokenize(expr, from)?.into_iter().map(|t| t.0).collect();
    // Every name must be a column the target has, even in the same dialect.
    // Across dialects every name must be a column the target has or a word
    // every dialect reads alike; in the same dialect the target is the
    // judge of its own words (`GLOB`, `COLLATE NOCASE`), but a quoted name
    // is a column and must exist.
    let names_ok = |toks: &[Tok], strict: bool| -> Result<(), String> {
        for (k, t) in toks.iter().enumerate() {
            if let Tok::Ident { name, quoted } = t {
                let lower = name.to_ascii_lowercase();
                if !strict && !quoted {
                    continue;
                }
                if !quoted && NOT_PORTABLE.contains(&lower.as_str()) {
                    return Err(format!(
                        "it uses `{}`, which the dialects do not share",
                        name.to_ascii_uppercase()
                    ));
                }
                let called = toks.get(k + 1) == Some(&Tok::Op("(".into()))
                    && !CHECK_WORDS.contains(&lower.as_str());
                let word = !quoted
                    && (CHECK_WORDS.contains(&lower.as_str())
                        || called
                        || ["any", "all", "array"].contains(&lower.as_str()));
                if !word && column(name).is_none() {
                    return Err(format!(
                        "it names `{name}`, which is not a column of the target table"
                    ));
                }
            }
        }
        Ok(())
    };
    if from == to {
        names_ok(&toks, false)?;
        let renamed = toks.iter().any(
            |t| matches!(t, Tok::Ident { name, .. } if column(name).is_some_and(|c| c != *name)),
        );
        if !renamed {
            return Ok(expr.trim().to_string());
        }
    }
    let toks = if from == SqlDialect::Postgres {
        unfold_postgres(drop_casts(toks))?
    } else {
        toks
    };
    names_ok(&toks, true)?;
    let mut out = String::new();
    let mut depth = 0usize;
    for (k, t) in toks.iter().enumerate() {
        let piece = match t {
            Tok::Ident { name, quoted } => {
                let lower = name.to_ascii_lowercase();
                let called = toks.get(k + 1) == Some(&Tok::Op("(".into()))
                    && !CHECK_WORDS.contains(&lower.as_str());
                if !quoted && called {
                    if !CHECK_FUNCTIONS.contains(&lower.as_str()) {
                        return Err(format!(
                            "it calls `{name}()`, which may not exist or mean the same in the target"
                        ));
                    }
                    match (lower.as_str(), from, to) {
                        // MySQL's length() counts bytes: not the same rule.
                        ("length", SqlDialect::Mysql, _) => {
                            return Err("it calls MySQL's `length()`, which counts bytes".into());
                        }
                        ("length" | "char_length", _, SqlDialect::Mysql) => "CHAR_LENGTH".into(),
                        ("length" | "char_length", _, _) => "LENGTH".into(),
                        _ => lower.to_ascii_uppercase(),
                    }
                } else if !quoted && CHECK_WORDS.contains(&lower.as_str()) {
                    match lower.as_str() {
                        "like" if to == SqlDialect::Postgres && from != SqlDialect::Postgres => {
                            "ILIKE".into()
                        }
                        "ilike" if to != SqlDialect::Postgres => "LIKE".into(),
                        _ => lower.to_ascii_uppercase(),
                    }
                } else {
                    match column(name) {
                        Some(c) => quote_for_target(&c),
                        None => {
                            return Err(format!(
                                "it names `{name}`, which is not a column of the target table"
                            ));
                        }
                    }
                }
            }
            Tok::Str(s) => {
                let prev_like = k > 0 && (kw(&toks[k - 1], "like") || kw(&toks[k - 1], "ilike"));
                if prev_like && s.contains('\\') {
                    return Err("a LIKE pattern with a backslash, which only some dialects read as an escape".into());
                }
                literal(s)?
            }
            Tok::Num(n) => {
                if n.parse::<f64>().is_err() {
                    return Err(format!("`{n}` is not a plain number"));
                }
                n.clone()
            }
            Tok::Op(o) => match o.as_str() {
                "(" => {
                    depth += 1;
                    if depth > MAX_DEPTH {
                        return Err(format!("it nests deeper than {MAX_DEPTH} parentheses"));
                    }
                    "(".into()
                }
                ")" => {
                    depth = depth.saturating_sub(1);
                    ")".into()
                }
                "," | "=" | "<>" | "<" | ">" | "<=" | ">=" | "+" | "-" | "*" | "/" | "%" => {
                    o.clone()
                }
                "!=" => "<>".into(),
                "==" if from == SqlDialect::Sqlite => "=".into(),
                "||" => {
                    return Err("it uses `||`, which concatenates in SQLite and PostgreSQL but means OR in MySQL".into());
                }
                other => return Err(format!("it uses `{other}`, which is not portable")),
            },
        };
        let glue = matches!(t, Tok::Op(o) if o == ")" || o == ",")
            || out.ends_with('(')
            || (k > 0
                && matches!(t, Tok::Op(o) if o == "(")
                && matches!(&toks[k - 1], Tok::Ident { quoted: false, name } if CHECK_FUNCTIONS.contains(&name.to_ascii_lowercase().as_str())));
        if !out.is_empty() && !glue {
            out.push(' ');
        }
        out.push_str(&piece);
    }
    if out.is_empty() {
        return Err("the expression is empty".into());
    }
    Ok(out)
}

/// A view's query `definition`, written in `from`'s dialect, as `to` should
/// read it: quoting and literals rewritten, PostgreSQL casts dropped and
/// `~~` spelled `LIKE` for the others, tables renamed by `table`
/// (`None`: keep the name). The same dialect keeps the text exactly. The
/// target decides whether the result runs.
pub fn translate_view(
    definition: &str,
    from: SqlDialect,
    to: SqlDialect,
    table: &dyn Fn(&str) -> Option<String>,
) -> Result<String, String> {
    let def = definition.trim().trim_end_matches(';').trim_end();
    let toks = tokenize(def, from)?;
    let renamed = toks.iter().any(
        |(t, _, _)| matches!(t, Tok::Ident { name, .. } if table(name).is_some_and(|n| n != *name)),
    );
    if from == to && !renamed {
        return Ok(def.to_string());
    }
    let mut out = String::with_capacity(def.len() + 16);
    let mut last = 0;
    let mut k = 0;
    while k < toks.len() {
        let (t, s, e) = &toks[k];
        out.push_str(&def[last..*s]);
        last = *e;
        match t {
            Tok::Ident { name, quoted } => {
                let mapped = table(name);
                match (mapped, quoted) {
                    (Some(n), _) if n != *name => out.push_str(&quote_for_target(&n)),
                    (_, true) => out.push_str(&quote_for_target(name)),
                    _ => out.push_str(&def[*s..*e]),
                }
            }
            Tok::Str(v) => out.push_str(&literal(v)?),
            Tok::Op(o)
                if o == "::" && from == SqlDialect::Postgres && to != SqlDialect::Postgres =>
            {
                // Skip the cast: the type words and any (n) / [].
                let plain: Vec<Tok> = toks.iter().map(|x| x.0.clone()).collect();
                let n = cast_len(&plain, k);
                last = toks[k + n - 1].2;
                k += n;
                continue;
            }
            Tok::Op(o)
                if from == SqlDialect::Postgres
                    && to != SqlDialect::Postgres
                    && o.contains("~~") =>
            {
                let w = match o.as_str() {
                    "~~" => "LIKE",
                    "!~~" => "NOT LIKE",
                    "~~*" => "LIKE",
                    _ => "NOT LIKE",
                };
                let _ = write!(out, "{w}");
            }
            Tok::Op(o) if o == "||" && to == SqlDialect::Mysql => {
                return Err("it concatenates with `||`, which MySQL reads as OR".into());
            }
            _ => out.push_str(&def[*s..*e]),
        }
        k += 1;
    }
    out.push_str(&def[last..]);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::SqlDialect::*;
    use super::*;

    fn cols(n: &str) -> Option<String> {
        ["status", "code", "qty", "price", "email", "Name"]
            .contains(&n)
            .then(|| n.to_string())
    }

    #[test]
    fn the_same_dialect_keeps_the_text() {
        let e = "status IN ('a','b') AND qty >= 0";
        assert_eq!(translate_check(e, Sqlite, Sqlite, &cols).unwrap(), e);
        assert!(translate_check("\"nope\" > 1", Sqlite, Sqlite, &cols).is_err());
    }

    #[test]
    fn portable_checks_cross_dialects() {
        assert_eq!(
            translate_check("status IN ('a','b') AND qty >= 0", Sqlite, Postgres, &cols).unwrap(),
            "\"status\" IN ('a', 'b') AND \"qty\" >= 0"
        );
        assert_eq!(
            translate_check("code LIKE 'A%'", Sqlite, Postgres, &cols).unwrap(),
            "\"code\" ILIKE 'A%'"
        );
        assert_eq!(
            translate_check(
                "`price` between 0 and 100 or price is null",
                Mysql,
                Sqlite,
                &cols
            )
            .unwrap(),
            "\"price\" BETWEEN 0 AND 100 OR \"price\" IS NULL"
        );
        assert_eq!(
            translate_check("length(email) > 3", Sqlite, Mysql, &cols).unwrap(),
            "CHAR_LENGTH(\"email\") > 3"
        );
        assert_eq!(
            translate_check("\"Name\" <> 'it''s'", Postgres, Mysql, &cols).unwrap(),
            "\"Name\" <> 'it''s'"
        );
    }

    #[test]
    fn postgres_renderings_are_read_back() {
        let pg = "((status)::text = ANY ((ARRAY['new'::character varying, 'paid'::character varying])::text[]))";
        assert_eq!(
            translate_check(pg, Postgres, Sqlite, &cols).unwrap(),
            "((\"status\") IN ('new', 'paid'))"
        );
        assert_eq!(
            translate_check("((code)::text ~~ 'A%'::text)", Postgres, Mysql, &cols).unwrap(),
            "((\"code\") LIKE 'A%')"
        );
        assert_eq!(
            translate_check("(qty <> ALL (ARRAY[1, 2]))", Postgres, Sqlite, &cols).unwrap(),
            "(\"qty\" NOT IN (1, 2))"
        );
    }

    #[test]
    fn what_does_not_translate_says_why() {
        let why = |e: &str| translate_check(e, Sqlite, Postgres, &cols).unwrap_err();
        assert!(why("julianday(code) > 0").contains("julianday"));
        assert!(why("code || 'x' = 'ax'").contains("||"));
        assert!(
            why("code GLOB 'A*'").contains("GLOB"),
            "{}",
            why("code GLOB 'A*'")
        );
        assert!(why("other > 1").contains("other"));
        assert!(
            translate_check("length(code) > 1", Mysql, Postgres, &cols)
                .unwrap_err()
                .contains("bytes")
        );
        assert!(translate_check("code like 'a\\\\_b'", Mysql, Postgres, &cols).is_err());
    }

    #[test]
    fn mysql_strings_with_backslash_escapes_are_requoted() {
        assert_eq!(
            translate_check("code <> 'it\\'s'", Mysql, Postgres, &cols).unwrap(),
            "\"code\" <> 'it''s'"
        );
        // ferry's MySQL sessions run with ANSI_QUOTES: the server prints
        // identifiers in double quotes.
        assert_eq!(
            translate_check("\"code\" <> 'x'", Mysql, Sqlite, &cols).unwrap(),
            "\"code\" <> 'x'"
        );
    }

    #[test]
    fn views_are_requoted_and_casts_dropped() {
        let keep = |_: &str| None;
        assert_eq!(
            translate_view(
                "select `t`.`id` AS `id` from `t` where `t`.`n` = 'a\\'b'",
                Mysql,
                Postgres,
                &keep
            )
            .unwrap(),
            "select \"t\".\"id\" AS \"id\" from \"t\" where \"t\".\"n\" = 'a''b'"
        );
        assert_eq!(
            translate_view(
                " SELECT c.name::text AS n FROM c WHERE (c.code ~~ 'A%'::text);",
                Postgres,
                Sqlite,
                &keep
            )
            .unwrap(),
            "SELECT c.name AS n FROM c WHERE (c.code LIKE 'A%')"
        );
        let same = "SELECT [a] FROM t -- note\n";
        assert_eq!(
            translate_view(same, Sqlite, Sqlite, &keep).unwrap(),
            same.trim()
        );
        let renamed = |n: &str| (n == "long").then(|| "short".to_string());
        assert_eq!(
            translate_view("SELECT * FROM long", Sqlite, Sqlite, &renamed).unwrap(),
            "SELECT * FROM \"short\""
        );
    }

    #[test]
    fn hostile_text_is_refused_not_a_panic() {
        for bad in [
            "'open",
            "\"open",
            "/* open",
            "(((",
            "ANY",
            "= ANY (1)",
            "x::",
            "`",
            "[x",
        ] {
            let _ = translate_check(bad, Postgres, Sqlite, &cols);
            let _ = translate_view(bad, Postgres, Mysql, &|_| None);
            let _ = translate_check(bad, Mysql, Postgres, &cols);
        }
    }
}
