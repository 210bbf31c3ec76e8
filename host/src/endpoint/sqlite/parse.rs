//! SQLite's stored `CREATE` statements (`sqlite_master.sql`), read for what
//! the `PRAGMA`s do not say: constraint names, CHECK expressions as written,
//! `AUTOINCREMENT`, a view's `SELECT`, a virtual table's module.
//!
//! A small tokenizer (SQLite's quoting: `"x"`, `[x]`, `` `x` ``, `'str'`,
//! `--` and `/* */` comments) and a reader of the statement's top-level
//! structure. It never fails: text it does not understand is skipped, so a
//! statement SQLite accepted (and therefore stored) yields what could be
//! read, and the `PRAGMA`s stay the authority on columns and keys.

/// What a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// A bare word: keyword, identifier or number.
    Word,
    /// A quoted identifier: `"x"`, `[x]`, `` `x` ``.
    Quoted,
    /// A string literal `'x'`.
    Str,
    /// Any other character (`(`, `)`, `,`, `.`, `=`, operators one by one).
    Punct,
}

/// One token: its kind and where it is in the statement (byte offsets).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Token {
    pub kind: Kind,
    pub start: usize,
    pub end: usize,
}

/// A statement cut into tokens, comments and white space left out.
pub(super) struct Tokens<'a> {
    pub sql: &'a str,
    pub toks: Vec<Token>,
}

impl<'a> Tokens<'a> {
    pub fn new(sql: &'a str) -> Tokens<'a> {
        Tokens {
            sql,
            toks: tokenize(sql),
        }
    }

    /// The token's text exactly as written.
    pub fn raw(&self, i: usize) -> &'a str {
        self.toks
            .get(i)
            .map(|t| &self.sql[t.start..t.end])
            .unwrap_or("")
    }

    /// Whether token `i` is the bare word `kw` (any case).
    pub fn is_kw(&self, i: usize, kw: &str) -> bool {
        self.toks.get(i).is_some_and(|t| t.kind == Kind::Word)
            && self.raw(i).eq_ignore_ascii_case(kw)
    }

    /// Whether token `i` is the character `c`.
    pub fn is_punct(&self, i: usize, c: char) -> bool {
        self.toks.get(i).is_some_and(|t| t.kind == Kind::Punct)
            && self.raw(i).starts_with(c)
            && self.raw(i).len() == c.len_utf8()
    }

    /// An identifier's name: a bare word as is, a quoted one unquoted; a
    /// string literal too (SQLite accepts `'x'` where a name is expected).
    pub fn name(&self, i: usize) -> String {
        let raw = self.raw(i);
        match self.toks.get(i).map(|t| t.kind) {
            Some(Kind::Quoted) | Some(Kind::Str) => unquote(raw),
            _ => raw.to_string(),
        }
    }

    /// The index of the `)` closing the `(` at `open`, or the last token
    /// when the statement ends first.
    pub fn close(&self, open: usize) -> usize {
        let mut depth = 0usize;
        for i in open..self.toks.len() {
            if self.is_punct(i, '(') {
                depth += 1;
            } else if self.is_punct(i, ')') {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return i;
                }
            }
        }
        self.toks.len().saturating_sub(1)
    }

    /// The text between token `a`'s end and token `b`'s start, trimmed.
    pub fn between(&self, a: usize, b: usize) -> &'a str {
        let (Some(x), Some(y)) = (self.toks.get(a), self.toks.get(b)) else {
            return "";
        };
        if x.end > y.start {
            return "";
        }
        self.sql[x.end..y.start].trim()
    }

    /// The top-level comma-separated parts of the tokens strictly between
    /// `open` and `close`: `(start, end)` token ranges, end exclusive.
    pub fn split_commas(&self, open: usize, close: usize) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        let (mut depth, mut start) = (0usize, open + 1);
        for i in open + 1..close.min(self.toks.len()) {
            if self.is_punct(i, '(') {
                depth += 1;
            } else if self.is_punct(i, ')') {
                depth = depth.saturating_sub(1);
            } else if depth == 0 && self.is_punct(i, ',') {
                if start < i {
                    out.push((start, i));
                }
                start = i + 1;
            }
        }
        if start < close {
            out.push((start, close));
        }
        out
    }
}

/// Strips one level of SQL quoting: `"a""b"` → `a"b`, `[x]` → `x`,
/// `` `x` `` → `x`, `'it''s'` → `it's`.
pub(super) fn unquote(s: &str) -> String {
    let mut chars = s.chars();
    let Some(q) = chars.next() else {
        return String::new();
    };
    let close = match q {
        '"' | '\'' | '`' => q,
        '[' => ']',
        _ => return s.to_string(),
    };
    let inner = &s[q.len_utf8()..];
    let inner = inner.strip_suffix(close).unwrap_or(inner);
    if close == ']' {
        inner.to_string()
    } else {
        let doubled: String = [close, close].iter().collect();
        inner.replace(&doubled, &close.to_string())
    }
}

fn tokenize(sql: &str) -> Vec<Token> {
    let b = sql.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    // Byte-wise: every delimiter is ASCII, and a multi-byte UTF-8 character
    // never contains an ASCII byte, so offsets stay on character boundaries.
    while i < b.len() {
        let c = b[i];
        let start = i;
        let kind = match c {
            _ if c.is_ascii_whitespace() => {
                i += 1;
                continue;
            }
            b'-' if b.get(i + 1) == Some(&b'-') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i < b.len() && !(b[i] == b'*' && b.get(i + 1) == Some(&b'/')) {
                    i += 1;
                }
                i = (i + 2).min(b.len());
                continue;
            }
            b'\'' | b'"' | b'`' => {
                i += 1;
                loop {
                    match b.get(i) {
                        None => break,
                        Some(&x) if x == c => {
                            if b.get(i + 1) == Some(&c) {
                                i += 2; // a doubled quote is the quote itself
                            } else {
                                i += 1;
                                break;
                            }
                        }
                        Some(_) => i += 1,
                    }
                }
                if c == b'\'' { Kind::Str } else { Kind::Quoted }
            }
            b'[' => {
                while i < b.len() && b[i] != b']' {
                    i += 1;
                }
                i = (i + 1).min(b.len());
                Kind::Quoted
            }
            _ if c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80 => {
                while i < b.len()
                    && (b[i].is_ascii_alphanumeric()
                        || b[i] == b'_'
                        || b[i] == b'$'
                        || b[i] >= 0x80)
                {
                    i += 1;
                }
                Kind::Word
            }
            _ => {
                i += 1;
                Kind::Punct
            }
        };
        out.push(Token {
            kind,
            start,
            end: i,
        });
    }
    out
}

/// A constraint as declared, in declaration order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Constraint {
    PrimaryKey {
        name: Option<String>,
        columns: Vec<String>,
    },
    Unique {
        name: Option<String>,
        columns: Vec<String>,
    },
    /// `expression`: the text inside `CHECK ( … )`, exactly as written.
    Check {
        name: Option<String>,
        expression: String,
    },
    ForeignKey {
        name: Option<String>,
        columns: Vec<String>,
        ref_table: String,
    },
}

/// A column's `PRIMARY KEY` clause (a column-level one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) struct ColumnKey {
    /// `PRIMARY KEY DESC`: SQLite's quirk — such an `INTEGER` column is not
    /// a rowid alias.
    pub desc: bool,
    pub autoincrement: bool,
}

/// A column as declared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ColumnDecl {
    pub name: String,
    /// The declared type as written (`integer auto_increment`).
    pub type_text: String,
    pub key: Option<ColumnKey>,
}

/// What a `CREATE TABLE` declares, in declaration order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(super) struct CreateTable {
    pub columns: Vec<ColumnDecl>,
    /// Column-level and table-level constraints, in the order written.
    pub constraints: Vec<Constraint>,
    pub without_rowid: bool,
}

impl CreateTable {
    /// Whether a column is declared `AUTOINCREMENT`.
    pub fn autoincrement(&self, column: &str) -> bool {
        self.columns
            .iter()
            .any(|c| c.name.eq_ignore_ascii_case(column) && c.key.is_some_and(|k| k.autoincrement))
    }
}

/// Words that start a column constraint (or end a column's type).
const COLUMN_CONSTRAINT_WORDS: [&str; 11] = [
    "CONSTRAINT",
    "PRIMARY",
    "NOT",
    "NULL",
    "UNIQUE",
    "CHECK",
    "DEFAULT",
    "COLLATE",
    "REFERENCES",
    "GENERATED",
    "AS",
];

/// Reads a `CREATE TABLE` statement; `None` when it is not one (a virtual
/// table, `CREATE TABLE … AS SELECT` has no declarations to read either).
pub(super) fn create_table(sql: &str) -> Option<CreateTable> {
    let t = Tokens::new(sql);
    let mut i = 0;
    if !t.is_kw(i, "CREATE") {
        return None;
    }
    i += 1;
    if t.is_kw(i, "TEMP") || t.is_kw(i, "TEMPORARY") {
        i += 1;
    }
    if !t.is_kw(i, "TABLE") {
        return None;
    }
    i += 1;
    if t.is_kw(i, "IF") {
        i += 3; // IF NOT EXISTS
    }
    i += 1; // the name
    if t.is_punct(i, '.') {
        i += 2; // schema.name
    }
    if !t.is_punct(i, '(') {
        return None;
    }
    let close = t.close(i);
    let mut out = CreateTable::default();
    for (a, b) in t.split_commas(i, close) {
        let starts_table_constraint = ["CONSTRAINT", "PRIMARY", "UNIQUE", "CHECK", "FOREIGN"]
            .iter()
            .any(|k| t.is_kw(a, k));
        if starts_table_constraint {
            table_constraint(&t, a, b, &mut out.constraints);
        } else {
            column(&t, a, b, &mut out);
        }
    }
    let mut j = close + 1;
    while j < t.toks.len() {
        if t.is_kw(j, "WITHOUT") && t.is_kw(j + 1, "ROWID") {
            out.without_rowid = true;
        }
        j += 1;
    }
    Some(out)
}

/// The names in a parenthesised list at `open` (`(a, b COLLATE x DESC)`):
/// each item's first token.
fn name_list(t: &Tokens<'_>, open: usize) -> (Vec<String>, usize) {
    if !t.is_punct(open, '(') {
        return (Vec::new(), open);
    }
    let close = t.close(open);
    let names = t
        .split_commas(open, close)
        .into_iter()
        .map(|(a, _)| t.name(a))
        .collect();
    (names, close + 1)
}

/// Skips `ON CONFLICT resolution` at `i`.
fn skip_conflict(t: &Tokens<'_>, i: usize) -> usize {
    if t.is_kw(i, "ON") && t.is_kw(i + 1, "CONFLICT") {
        i + 3
    } else {
        i
    }
}

/// Skips the rest of a `REFERENCES` clause after the parent's columns:
/// actions, `MATCH`, deferrability.
fn skip_fk_tail(t: &Tokens<'_>, mut i: usize, end: usize) -> usize {
    while i < end {
        if t.is_kw(i, "ON") {
            // ON DELETE|UPDATE SET NULL|SET DEFAULT|NO ACTION|CASCADE|RESTRICT
            i += 2;
            i += if t.is_kw(i, "SET") || t.is_kw(i, "NO") {
                2
            } else {
                1
            };
        } else if t.is_kw(i, "MATCH")
            || t.is_kw(i, "INITIALLY")
            || (t.is_kw(i, "NOT") && t.is_kw(i + 1, "DEFERRABLE"))
        {
            i += 2;
        } else if t.is_kw(i, "DEFERRABLE") {
            i += 1;
        } else {
            break;
        }
    }
    i
}

/// A `CHECK ( expr )` at `i` (the `CHECK` word): the expression as written
/// and the token after the `)`.
fn check(t: &Tokens<'_>, i: usize) -> (String, usize) {
    let open = i + 1;
    if !t.is_punct(open, '(') {
        return (String::new(), open);
    }
    let close = t.close(open);
    (t.between(open, close).to_string(), close + 1)
}

fn table_constraint(t: &Tokens<'_>, a: usize, b: usize, out: &mut Vec<Constraint>) {
    let mut i = a;
    let mut name = None;
    if t.is_kw(i, "CONSTRAINT") {
        name = Some(t.name(i + 1));
        i += 2;
    }
    if t.is_kw(i, "PRIMARY") {
        let (columns, _) = name_list(t, i + 2);
        out.push(Constraint::PrimaryKey { name, columns });
    } else if t.is_kw(i, "UNIQUE") {
        let (columns, _) = name_list(t, i + 1);
        out.push(Constraint::Unique { name, columns });
    } else if t.is_kw(i, "CHECK") {
        let (expression, _) = check(t, i);
        out.push(Constraint::Check { name, expression });
    } else if t.is_kw(i, "FOREIGN") {
        let (columns, next) = name_list(t, i + 2);
        if t.is_kw(next, "REFERENCES") && next + 1 < b {
            out.push(Constraint::ForeignKey {
                name,
                columns,
                ref_table: t.name(next + 1),
            });
        }
    }
}

fn column(t: &Tokens<'_>, a: usize, b: usize, out: &mut CreateTable) {
    let name = t.name(a);
    let is_constraint_word = |i: usize| COLUMN_CONSTRAINT_WORDS.iter().any(|k| t.is_kw(i, k));
    // The type: every token up to the first constraint word, parenthesised
    // arguments included.
    let mut i = a + 1;
    while i < b && !is_constraint_word(i) {
        i = if t.is_punct(i, '(') {
            t.close(i) + 1
        } else {
            i + 1
        };
    }
    let type_text = if i > a + 1 {
        let (s, e) = (t.toks[a + 1].start, t.toks[(i - 1).min(b - 1)].end);
        t.sql[s..e].to_string()
    } else {
        String::new()
    };
    let mut decl = ColumnDecl {
        name: name.clone(),
        type_text,
        key: None,
    };
    let mut pending: Option<String> = None;
    while i < b {
        if t.is_kw(i, "CONSTRAINT") {
            pending = Some(t.name(i + 1));
            i += 2;
            continue;
        }
        let cname = pending.take();
        if t.is_kw(i, "PRIMARY") {
            // PRIMARY KEY [ASC|DESC] [ON CONFLICT x] [AUTOINCREMENT]
            i += 2;
            let mut key = ColumnKey::default();
            if t.is_kw(i, "DESC") {
                key.desc = true;
                i += 1;
            } else if t.is_kw(i, "ASC") {
                i += 1;
            }
            i = skip_conflict(t, i);
            if t.is_kw(i, "AUTOINCREMENT") {
                key.autoincrement = true;
                i += 1;
            }
            decl.key = Some(key);
            out.constraints.push(Constraint::PrimaryKey {
                name: cname,
                columns: vec![name.clone()],
            });
        } else if t.is_kw(i, "NOT") && t.is_kw(i + 1, "NULL") {
            i = skip_conflict(t, i + 2);
        } else if t.is_kw(i, "NULL") {
            i = skip_conflict(t, i + 1);
        } else if t.is_kw(i, "UNIQUE") {
            i = skip_conflict(t, i + 1);
            out.constraints.push(Constraint::Unique {
                name: cname,
                columns: vec![name.clone()],
            });
        } else if t.is_kw(i, "CHECK") {
            let (expression, next) = check(t, i);
            i = next;
            out.constraints.push(Constraint::Check {
                name: cname,
                expression,
            });
        } else if t.is_kw(i, "DEFAULT") {
            // One term: a parenthesised expression, a literal, a signed number.
            i += 1;
            if t.is_punct(i, '-') || t.is_punct(i, '+') {
                i += 1;
            }
            i = if t.is_punct(i, '(') {
                t.close(i) + 1
            } else {
                i + 1
            };
        } else if t.is_kw(i, "COLLATE") {
            i += 2;
        } else if t.is_kw(i, "REFERENCES") {
            let ref_table = t.name(i + 1);
            i += 2;
            if t.is_punct(i, '(') {
                i = t.close(i) + 1;
            }
            i = skip_fk_tail(t, i, b);
            out.constraints.push(Constraint::ForeignKey {
                name: cname,
                columns: vec![name.clone()],
                ref_table,
            });
        } else if t.is_kw(i, "GENERATED") || t.is_kw(i, "AS") {
            // [GENERATED ALWAYS] AS ( expr ) [STORED|VIRTUAL]
            while i < b && !t.is_punct(i, '(') {
                i += 1;
            }
            i = t.close(i) + 1;
            if t.is_kw(i, "STORED") || t.is_kw(i, "VIRTUAL") {
                i += 1;
            }
        } else {
            i += 1; // not understood: skipped (SQLite accepted it)
        }
    }
    out.columns.push(decl);
}

/// A `CREATE VIEW`: the view's column names when it declares them, and its
/// `SELECT` exactly as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct CreateView {
    pub columns: Vec<String>,
    pub select: String,
}

pub(super) fn create_view(sql: &str) -> Option<CreateView> {
    let t = Tokens::new(sql);
    let mut i = 0;
    if !t.is_kw(i, "CREATE") {
        return None;
    }
    i += 1;
    if t.is_kw(i, "TEMP") || t.is_kw(i, "TEMPORARY") {
        i += 1;
    }
    if !t.is_kw(i, "VIEW") {
        return None;
    }
    i += 1;
    if t.is_kw(i, "IF") {
        i += 3;
    }
    i += 1;
    if t.is_punct(i, '.') {
        i += 2;
    }
    let (columns, next) = name_list(&t, i);
    if !t.is_kw(next, "AS") {
        return None;
    }
    let start = t.toks.get(next)?.end;
    let select = sql[start..].trim().trim_end_matches(';').trim_end();
    Some(CreateView {
        columns,
        select: select.to_string(),
    })
}

/// A `CREATE VIRTUAL TABLE … USING module(args)`: the module (lower case)
/// and its arguments as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct CreateVirtual {
    pub module: String,
    pub args: Vec<String>,
}

impl CreateVirtual {
    /// The value of a `key=value` argument (`content='docs'`), unquoted.
    pub fn option(&self, key: &str) -> Option<String> {
        self.args.iter().find_map(|a| {
            let (k, v) = a.split_once('=')?;
            k.trim()
                .eq_ignore_ascii_case(key)
                .then(|| unquote(v.trim()))
        })
    }
}

pub(super) fn create_virtual(sql: &str) -> Option<CreateVirtual> {
    let t = Tokens::new(sql);
    let using = (0..t.toks.len()).find(|&i| t.is_kw(i, "USING"))?;
    if !(t.is_kw(0, "CREATE") && t.is_kw(1, "VIRTUAL")) {
        return None;
    }
    let module = t.name(using + 1).to_ascii_lowercase();
    let open = using + 2;
    let args = if t.is_punct(open, '(') {
        let close = t.close(open);
        t.split_commas(open, close)
            .into_iter()
            .map(|(a, b)| {
                let (s, e) = (t.toks[a].start, t.toks[b - 1].end);
                t.sql[s..e].to_string()
            })
            .collect()
    } else {
        Vec::new()
    };
    Some(CreateVirtual { module, args })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_respect_quotes_comments_and_nesting() {
        let sql = "CREATE TABLE \"a\"\"b\" ( [x y] INT, -- c, d\n `z` TEXT /* ( */ CHECK (z IN ('a,b', 'c)')) )";
        let ct = create_table(sql).unwrap();
        let names: Vec<&str> = ct.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["x y", "z"]);
        assert_eq!(
            ct.constraints,
            vec![Constraint::Check {
                name: None,
                expression: "z IN ('a,b', 'c)')".into()
            }]
        );
        assert_eq!(unquote("'it''s'"), "it's");
        assert_eq!(unquote("[a]"), "a");
    }

    #[test]
    fn constraints_in_declaration_order_with_names() {
        let sql = "CREATE TABLE c (\n  id INTEGER PRIMARY KEY DESC,\n  x REFERENCES p,\n  y INTEGER CONSTRAINT fy REFERENCES p(id) ON DELETE SET NULL NOT DEFERRABLE,\n  u TEXT NOT NULL DEFAULT 'x' CONSTRAINT uu UNIQUE CHECK (length(u) > 1),\n  g AS (x + 1) STORED,\n  CONSTRAINT fz FOREIGN KEY (x, y) REFERENCES p (a, b) ON UPDATE CASCADE,\n  CONSTRAINT ck CHECK ((x > 0) AND (y < 10)),\n  UNIQUE (x COLLATE nocase DESC, y)\n) WITHOUT ROWID";
        let ct = create_table(sql).unwrap();
        assert!(ct.without_rowid);
        assert_eq!(
            ct.columns[0].key,
            Some(ColumnKey {
                desc: true,
                autoincrement: false
            })
        );
        assert_eq!(ct.columns[2].type_text, "INTEGER");
        assert_eq!(ct.columns[4].type_text, "");
        let fk = |name: Option<&str>, cols: &[&str], t: &str| Constraint::ForeignKey {
            name: name.map(str::to_string),
            columns: cols.iter().map(|c| c.to_string()).collect(),
            ref_table: t.into(),
        };
        assert_eq!(
            ct.constraints,
            vec![
                Constraint::PrimaryKey {
                    name: None,
                    columns: vec!["id".into()]
                },
                fk(None, &["x"], "p"),
                fk(Some("fy"), &["y"], "p"),
                Constraint::Unique {
                    name: Some("uu".into()),
                    columns: vec!["u".into()]
                },
                Constraint::Check {
                    name: None,
                    expression: "length(u) > 1".into()
                },
                fk(Some("fz"), &["x", "y"], "p"),
                Constraint::Check {
                    name: Some("ck".into()),
                    expression: "(x > 0) AND (y < 10)".into()
                },
                Constraint::Unique {
                    name: None,
                    columns: vec!["x".into(), "y".into()]
                },
            ]
        );
    }

    #[test]
    fn autoincrement_and_odd_types() {
        let ct = create_table(
            "create table t (id integer auto_increment primary key, n integer primary key autoincrement, v varchar ( 10 ) collate nocase)",
        )
        .unwrap();
        assert_eq!(ct.columns[0].type_text, "integer auto_increment");
        assert!(!ct.autoincrement("id"));
        assert!(ct.autoincrement("N"));
        assert_eq!(ct.columns[2].type_text, "varchar ( 10 )");
        assert!(create_table("CREATE TABLE t AS SELECT 1").is_none());
        assert!(create_table("CREATE VIRTUAL TABLE d USING fts5(a)").is_none());
    }

    #[test]
    fn views_and_virtual_tables() {
        let v =
            create_view("CREATE VIEW IF NOT EXISTS main.v (a, \"b\") AS\n  SELECT 1, 2;").unwrap();
        assert_eq!(v.columns, ["a", "b"]);
        assert_eq!(v.select, "SELECT 1, 2");
        let v = create_view("CREATE VIEW [as] AS SELECT x AS y FROM t").unwrap();
        assert!(v.columns.is_empty());
        assert_eq!(v.select, "SELECT x AS y FROM t");
        let vt = create_virtual(
            "CREATE VIRTUAL TABLE d USING fts5(title, body, content='docs', tokenize = \"porter ascii\")",
        )
        .unwrap();
        assert_eq!(vt.module, "fts5");
        assert_eq!(vt.option("content").as_deref(), Some("docs"));
        assert_eq!(vt.option("tokenize").as_deref(), Some("porter ascii"));
        assert_eq!(
            create_virtual("CREATE VIRTUAL TABLE r USING rtree")
                .unwrap()
                .args
                .len(),
            0
        );
    }

    #[test]
    fn never_panics_on_broken_text() {
        for sql in [
            "",
            "CREATE",
            "CREATE TABLE",
            "CREATE TABLE t (",
            "CREATE TABLE t (a CHECK (",
            "CREATE TABLE t (a 'unterminated",
            "CREATE TABLE t (CONSTRAINT",
            "CREATE TABLE t (a REFERENCES",
            "CREATE TABLE \"é\" (ü TEXT CHECK (ü <> 'ß'))",
            "CREATE VIEW v (",
            "CREATE VIRTUAL TABLE x USING",
        ] {
            let _ = create_table(sql);
            let _ = create_view(sql);
            let _ = create_virtual(sql);
        }
        let ct = create_table("CREATE TABLE \"é\" (ü TEXT CHECK (ü <> 'ß'))").unwrap();
        assert_eq!(
            ct.constraints,
            vec![Constraint::Check {
                name: None,
                expression: "ü <> 'ß'".into()
            }]
        );
    }
}
