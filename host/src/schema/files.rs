//! The migration directory: `NNNN_name.sql` (versioned) and `R__name.sql`
//! (repeatable, re-applied when its checksum changes), and `ferry.sum`.
//!
//! A file's sections and directives are SQL comments, so the file stays
//! valid SQL for any editor or linter:
//!
//! ```sql
//! -- ferry:up
//! CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL);
//! -- ferry:dialect postgres
//! CREATE INDEX CONCURRENTLY users_email ON users (email);
//! -- ferry:dialect all
//! -- ferry:down
//! DROP TABLE users;
//! ```
//!
//! `-- ferry:no-transaction` (anywhere) runs the file's statements outside a
//! transaction, each recorded as it completes. The checksum is the sha256
//! of the normalised text: a byte-order mark and line endings do not count.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::SchemaError;

/// The directory's integrity file.
pub const SUM_FILE: &str = "ferry.sum";

/// A migration file's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Versioned,
    /// `R__name.sql`: applied after the versioned ones whenever it changed.
    Repeatable,
}

/// Which database a block of a section is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    Sqlite,
    Postgres,
    Mysql,
}

impl Flavor {
    /// The flavor of a dialect layer's name.
    pub fn of(dialect_name: &str) -> Flavor {
        match dialect_name {
            "PostgreSQL" => Flavor::Postgres,
            "MySQL" => Flavor::Mysql,
            _ => Flavor::Sqlite,
        }
    }

    fn parse(s: &str) -> Option<Option<Flavor>> {
        Some(match s.to_ascii_lowercase().as_str() {
            "postgres" | "postgresql" | "pg" => Some(Flavor::Postgres),
            "mysql" | "mariadb" => Some(Flavor::Mysql),
            "sqlite" => Some(Flavor::Sqlite),
            "all" => None,
            _ => return None,
        })
    }
}

/// One section (`up` or `down`): its lines, each for every database or for
/// one.
#[derive(Debug, Clone, Default)]
pub struct Section {
    lines: Vec<(Option<Flavor>, String)>,
}

impl Section {
    /// The section's SQL for `flavor`.
    pub fn sql(&self, flavor: Flavor) -> String {
        let mut out = String::new();
        for (f, l) in &self.lines {
            if f.is_none_or(|f| f == flavor) {
                out.push_str(l);
                out.push('\n');
            }
        }
        out
    }

    /// The section's statements for `flavor`.
    pub fn statements(&self, flavor: Flavor) -> Vec<String> {
        split_statements(&self.sql(flavor))
    }
}

/// One migration file, parsed.
#[derive(Debug, Clone)]
pub struct Migration {
    /// The version (`0003`), or `R__name` for a repeatable file.
    pub version: String,
    /// Ordering key: the version's number (0 for repeatables).
    pub number: u64,
    pub name: String,
    pub kind: Kind,
    pub path: PathBuf,
    /// sha256 of the normalised text, hex.
    pub checksum: String,
    pub up: Section,
    pub down: Option<Section>,
    pub no_transaction: bool,
}

impl Migration {
    pub fn file_name(&self) -> String {
        self.path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }
}

/// Text as its checksum sees it: no byte-order mark, `\n` line endings.
pub fn normalise(text: &str) -> String {
    let t = text.strip_prefix('\u{feff}').unwrap_or(text);
    t.replace("\r\n", "\n").replace('\r', "\n")
}

pub fn checksum(text: &str) -> String {
    hex::encode(Sha256::digest(normalise(text).as_bytes()))
}

fn bad(path: &Path, reason: impl Into<String>) -> SchemaError {
    SchemaError::Files {
        path: path.display().to_string(),
        reason: reason.into(),
    }
}

/// Parses one file's text.
pub fn parse(path: &Path, text: &str) -> Result<Migration, SchemaError> {
    let file = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = file
        .strip_suffix(".sql")
        .ok_or_else(|| bad(path, "not a .sql file"))?;
    let (version, number, name, kind) = if let Some(name) = stem.strip_prefix("R__") {
        (format!("R__{name}"), 0, name.to_string(), Kind::Repeatable)
    } else {
        let (v, name) = stem.split_once('_').ok_or_else(|| {
            bad(
                path,
                "a migration is named NNNN_name.sql (or R__name.sql for a repeatable one)",
            )
        })?;
        let number: u64 = v
            .parse()
            .ok()
            .filter(|_| v.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| {
                bad(
                    path,
                    format!("`{v}` is not a version number (NNNN_name.sql)"),
                )
            })?;
        (v.to_string(), number, name.to_string(), Kind::Versioned)
    };
    if name.is_empty() {
        return Err(bad(path, "the name after the version is empty"));
    }
    let normal = normalise(text);
    let mut up: Option<Section> = None;
    let mut down: Option<Section> = None;
    let mut current: Option<&'static str> = None;
    let mut flavor: Option<Flavor> = None;
    let mut no_transaction = false;
    let mut before = Vec::new();
    for (i, line) in normal.lines().enumerate() {
        let at = |r: String| bad(path, format!("line {}: {r}", i + 1));
        if let Some(d) = directive(line) {
            let (word, arg) = d.split_once(char::is_whitespace).unwrap_or((d, ""));
            match word {
                "up" | "down" => {
                    if word == "up" && down.is_some() {
                        return Err(at("`-- ferry:up` must come before `-- ferry:down`".into()));
                    }
                    let slot = if word == "up" { &mut up } else { &mut down };
                    if slot.is_some() {
                        return Err(at(format!("a second `-- ferry:{word}`")));
                    }
                    *slot = Some(Section::default());
                    current = Some(if word == "up" { "up" } else { "down" });
                    flavor = None;
                }
                "no-transaction" => no_transaction = true,
                "dialect" => {
                    flavor = Flavor::parse(arg.trim()).ok_or_else(|| {
                        at(format!(
                            "`-- ferry:dialect {}`: give postgres, mysql, sqlite or all",
                            arg.trim()
                        ))
                    })?;
                }
                "end" => flavor = None,
                other => {
                    return Err(at(format!(
                        "unknown directive `-- ferry:{other}` (up, down, no-transaction, dialect NAME, end)"
                    )));
                }
            }
            continue;
        }
        match current {
            Some("up") => up
                .as_mut()
                .map(|s| s.lines.push((flavor, line.to_string()))),
            Some(_) => down
                .as_mut()
                .map(|s| s.lines.push((flavor, line.to_string()))),
            None => {
                before.push(line.to_string());
                None
            }
        };
    }
    let up = match (up, kind) {
        (Some(s), _) => {
            if !split_statements(&before.join("\n")).is_empty() {
                return Err(bad(path, "SQL before `-- ferry:up`: put it in a section"));
            }
            s
        }
        // A repeatable file without sections is all `up`.
        (None, Kind::Repeatable) => Section {
            lines: before.into_iter().map(|l| (None, l)).collect(),
        },
        (None, Kind::Versioned) => {
            return Err(bad(
                path,
                "no `-- ferry:up` section (`ferry schema new NAME` writes a file with both)",
            ));
        }
    };
    if kind == Kind::Repeatable && down.is_some() {
        return Err(bad(path, "a repeatable migration has no `-- ferry:down`"));
    }
    // A down section with no statement is no way back at all.
    let down = down.filter(|d| {
        [Flavor::Sqlite, Flavor::Postgres, Flavor::Mysql]
            .iter()
            .any(|f| !d.statements(*f).is_empty())
    });
    Ok(Migration {
        version,
        number,
        name,
        kind,
        path: path.to_path_buf(),
        checksum: checksum(text),
        up,
        down,
        no_transaction,
    })
}

/// `-- ferry:WORD ARGS` → `WORD ARGS`.
fn directive(line: &str) -> Option<&str> {
    let rest = line.trim().strip_prefix("--")?.trim_start();
    rest.strip_prefix("ferry:").map(str::trim)
}

/// The migration directory, read.
#[derive(Debug, Clone)]
pub struct Dir {
    pub path: PathBuf,
    /// Versioned migrations by number, then repeatables by name.
    pub versioned: Vec<Migration>,
    pub repeatable: Vec<Migration>,
}

impl Dir {
    /// Reads and parses every `.sql` file of `path` (other files are left
    /// alone; a `.sql` file that is not a migration is an error, so a typo
    /// in a name is never silently skipped).
    pub fn read(path: &Path) -> Result<Dir, SchemaError> {
        let entries = std::fs::read_dir(path).map_err(|e| {
            bad(
                path,
                format!("cannot read the migration directory: {e} (`ferry schema new NAME --dir DIR` creates it)"),
            )
        })?;
        let mut versioned: BTreeMap<u64, Migration> = BTreeMap::new();
        let mut repeatable = Vec::new();
        for entry in entries {
            let p = entry.map_err(|e| bad(path, e.to_string()))?.path();
            if p.extension().is_none_or(|e| e != "sql") || !p.is_file() {
                continue;
            }
            let bytes = std::fs::read(&p).map_err(|e| bad(&p, e.to_string()))?;
            let text = String::from_utf8(bytes)
                .map_err(|_| bad(&p, "not UTF-8 text: save it as UTF-8"))?;
            let m = parse(&p, &text)?;
            match m.kind {
                Kind::Repeatable => repeatable.push(m),
                Kind::Versioned => {
                    if let Some(other) = versioned.get(&m.number) {
                        return Err(bad(
                            &p,
                            format!(
                                "version {} is also {}: renumber one (a merge of two branches?)",
                                m.version,
                                other.file_name()
                            ),
                        ));
                    }
                    versioned.insert(m.number, m);
                }
            }
        }
        repeatable.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(Dir {
            path: path.to_path_buf(),
            versioned: versioned.into_values().collect(),
            repeatable,
        })
    }

    pub fn all(&self) -> impl Iterator<Item = &Migration> {
        self.versioned.iter().chain(&self.repeatable)
    }

    /// `ferry.sum` as it should read for the files as they are.
    pub fn sum_text(&self) -> String {
        let body: String = self
            .all()
            .map(|m| format!("{} sha256:{}\n", m.file_name(), m.checksum))
            .collect();
        format!(
            "# {SUM_FILE}: the checksum of every migration file (line endings and a BOM do not count).\n\
             # Written by `ferry schema new` and `ferry schema hash`; commit it. Two branches that\n\
             # each add a migration conflict here, so a merge cannot slip one in unnoticed.\n\
             total sha256:{}\n{body}",
            hex::encode(Sha256::digest(body.as_bytes()))
        )
    }

    /// Writes `ferry.sum`.
    pub fn write_sum(&self) -> Result<(), SchemaError> {
        let p = self.path.join(SUM_FILE);
        std::fs::write(&p, self.sum_text()).map_err(|e| bad(&p, e.to_string()))
    }

    /// How `ferry.sum` disagrees with the files: one line per file added,
    /// changed or gone since it was written (empty: it agrees).
    pub fn sum_mismatches(&self) -> Result<Vec<String>, SchemaError> {
        let p = self.path.join(SUM_FILE);
        let text = match std::fs::read_to_string(&p) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(vec![format!(
                    "no {SUM_FILE}: `ferry schema hash --dir {}` writes it; commit it",
                    self.path.display()
                )]);
            }
            Err(e) => return Err(bad(&p, e.to_string())),
        };
        let mut recorded: BTreeMap<String, String> = BTreeMap::new();
        for line in normalise(&text).lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with("total ") {
                continue;
            }
            if let Some((file, sum)) = line.split_once(' ') {
                recorded.insert(
                    file.to_string(),
                    sum.trim().trim_start_matches("sha256:").to_string(),
                );
            }
        }
        let mut out = Vec::new();
        for m in self.all() {
            match recorded.remove(&m.file_name()) {
                None => out.push(format!("{} is not in {SUM_FILE}", m.file_name())),
                Some(s) if s != m.checksum => out.push(format!(
                    "{} changed since {SUM_FILE} was written",
                    m.file_name()
                )),
                Some(_) => {}
            }
        }
        for file in recorded.into_keys() {
            out.push(format!("{file} is in {SUM_FILE} but not in the directory"));
        }
        if !out.is_empty() {
            out.push(format!(
                "review the files, then `ferry schema hash --dir {}` rewrites {SUM_FILE}",
                self.path.display()
            ));
        }
        Ok(out)
    }

    /// The file `ferry schema new NAME` writes: the next version, both
    /// sections. Returns its path.
    pub fn create(path: &Path, name: &str) -> Result<PathBuf, SchemaError> {
        let clean: String = name
            .trim()
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .collect();
        let clean = clean.trim_matches('_').to_string();
        if clean.is_empty() {
            return Err(bad(
                path,
                format!("`{name}`: give a name of letters and digits"),
            ));
        }
        std::fs::create_dir_all(path).map_err(|e| bad(path, e.to_string()))?;
        let dir = Dir::read(path)?;
        let (next, width) = dir
            .versioned
            .last()
            .map(|m| (m.number + 1, m.version.len()))
            .unwrap_or((1, 4));
        let file = path.join(format!("{next:0width$}_{clean}.sql"));
        let text = format!(
            "-- ferry:up\n-- {name}: the change. One statement or many, each ending with `;`.\n\n\n\
             -- ferry:down\n-- How to undo it (leave the section empty if it cannot be undone).\n\n"
        );
        std::fs::write(&file, text).map_err(|e| bad(&file, e.to_string()))?;
        Dir::read(path)?.write_sum()?;
        Ok(file)
    }
}

/// Splits SQL into statements at `;`, never inside a string, a quoted
/// name, a comment, a PostgreSQL dollar-quoted body, or the `BEGIN … END`
/// body of a trigger, procedure or function. Statements with nothing but
/// comments are dropped.
pub fn split_statements(sql: &str) -> Vec<String> {
    let b = sql.as_bytes();
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    // BEGIN/CASE … END nesting inside a routine or trigger body.
    let mut depth: i32 = 0;
    let mut word = String::new();
    let mut words_seen: Vec<String> = Vec::new();
    let flush_word = |word: &mut String, words: &mut Vec<String>, depth: &mut i32| {
        if word.is_empty() {
            return;
        }
        let w = word.to_ascii_uppercase();
        // Only a routine's or trigger's body nests: CREATE … TRIGGER,
        // PROCEDURE, FUNCTION or EVENT among the statement's first words.
        let routine = words.first().is_some_and(|f| f == "CREATE")
            && words
                .iter()
                .take(8)
                .any(|x| matches!(x.as_str(), "TRIGGER" | "PROCEDURE" | "FUNCTION" | "EVENT"));
        if routine {
            let after_end = words.last().is_some_and(|l| l == "END");
            match w.as_str() {
                "BEGIN" => *depth += 1,
                // `END CASE` closes the CASE its END already counted.
                "CASE" if !after_end => *depth += 1,
                "END" => *depth -= 1,
                // `END IF`, `END LOOP`…: blocks BEGIN did not open.
                "IF" | "LOOP" | "WHILE" | "REPEAT" if after_end => *depth += 1,
                _ => {}
            }
        }
        words.push(w);
        word.clear();
    };
    while i < b.len() {
        let c = b[i];
        match c {
            b'\'' | b'"' | b'`' => {
                flush_word(&mut word, &mut words_seen, &mut depth);
                i += 1;
                while i < b.len() {
                    if b[i] == c {
                        if i + 1 < b.len() && b[i + 1] == c {
                            i += 2;
                            continue;
                        }
                        break;
                    }
                    i += 1;
                }
                i += 1;
            }
            b'-' if b.get(i + 1) == Some(&b'-') => {
                flush_word(&mut word, &mut words_seen, &mut depth);
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                flush_word(&mut word, &mut words_seen, &mut depth);
                i += 2;
                while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                    i += 1;
                }
                i += 2;
            }
            b'$' if word.is_empty() => {
                // `$tag$ … $tag$` (PostgreSQL); `$1` is a parameter.
                let tag_end = b[i + 1..]
                    .iter()
                    .position(|&x| !(x.is_ascii_alphanumeric() || x == b'_'))
                    .map(|p| i + 1 + p);
                match tag_end {
                    Some(e)
                        if b[e] == b'$' && !b[i + 1..e].first().is_some_and(u8::is_ascii_digit) =>
                    {
                        flush_word(&mut word, &mut words_seen, &mut depth);
                        let tag = &sql[i..=e];
                        match sql[e + 1..].find(tag) {
                            Some(p) => i = e + 1 + p + tag.len(),
                            None => i = b.len(),
                        }
                    }
                    _ => {
                        word.push('$');
                        i += 1;
                    }
                }
            }
            b';' => {
                flush_word(&mut word, &mut words_seen, &mut depth);
                if depth <= 0 {
                    push_statement(&mut out, &sql[start..i]);
                    start = i + 1;
                    words_seen.clear();
                    depth = 0;
                }
                i += 1;
            }
            c if c.is_ascii_alphanumeric() || c == b'_' => {
                word.push(c as char);
                i += 1;
            }
            _ => {
                flush_word(&mut word, &mut words_seen, &mut depth);
                i += 1;
            }
        }
    }
    push_statement(&mut out, &sql[start.min(sql.len())..]);
    out
}

fn push_statement(out: &mut Vec<String>, s: &str) {
    let t = s.trim();
    let only_comments = t
        .lines()
        .all(|l| l.trim().is_empty() || l.trim().starts_with("--"));
    if !only_comments {
        out.push(t.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_split_outside_strings_comments_and_bodies() {
        let sql = "CREATE TABLE a (s TEXT DEFAULT 'x;y'); -- a; comment\n\
                   /* block; */ INSERT INTO \"we;ird\" VALUES ('it''s;');\n\
                   CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql;\n\
                   CREATE TRIGGER t AFTER INSERT ON a BEGIN UPDATE a SET s = CASE WHEN 1 THEN 'a' END; DELETE FROM a; END;\n\
                   SELECT $1;\n-- only a comment;\n";
        let s = split_statements(sql);
        assert_eq!(s.len(), 5, "{s:#?}");
        assert!(s[0].ends_with("'x;y')"));
        assert!(s[1].contains("'it''s;'"));
        assert!(s[2].contains("SELECT 1; $body$"));
        assert!(s[3].ends_with("DELETE FROM a; END"));
        assert_eq!(s[4], "SELECT $1");
    }

    #[test]
    fn a_mysql_procedure_body_with_end_if_stays_whole() {
        let sql =
            "CREATE PROCEDURE p() BEGIN IF 1 THEN SELECT 1; END IF; SELECT 2; END;\nSELECT 3;";
        let s = split_statements(sql);
        assert_eq!(s.len(), 2, "{s:#?}");
        assert_eq!(s[1], "SELECT 3");
    }

    #[test]
    fn sections_directives_and_dialect_blocks() {
        let text = "\u{feff}-- header comment\r\n-- ferry:up\r\nCREATE TABLE t (id INT);\r\n\
                    -- ferry:dialect postgres\r\nCREATE INDEX CONCURRENTLY i ON t (id);\r\n\
                    -- ferry:dialect all\r\n-- ferry:no-transaction\r\n-- ferry:down\r\nDROP TABLE t;\r\n";
        let m = parse(Path::new("0007_add_t.sql"), text).unwrap();
        assert_eq!(
            (m.version.as_str(), m.number, m.name.as_str()),
            ("0007", 7, "add_t")
        );
        assert!(m.no_transaction);
        assert_eq!(m.up.statements(Flavor::Postgres).len(), 2);
        assert_eq!(m.up.statements(Flavor::Mysql), ["CREATE TABLE t (id INT)"]);
        assert_eq!(m.down.unwrap().statements(Flavor::Sqlite), ["DROP TABLE t"]);
        // Line endings and the BOM do not change the checksum.
        assert_eq!(
            m.checksum,
            checksum(&text.replace("\r\n", "\n").replace('\u{feff}', ""))
        );
    }

    #[test]
    fn mistakes_in_a_file_are_named() {
        let e = |name: &str, text: &str| parse(Path::new(name), text).unwrap_err().to_string();
        assert!(e("0001_a.sql", "CREATE TABLE t (x INT);").contains("no `-- ferry:up`"));
        assert!(e("0001_a.sql", "-- ferry:up\n-- ferry:donw\n").contains("unknown directive"));
        assert!(e("x1_a.sql", "-- ferry:up\n").contains("not a version number"));
        assert!(e("0001_a.sql", "SELECT 1;\n-- ferry:up\n").contains("before `-- ferry:up`"));
        assert!(
            e("0001_a.sql", "-- ferry:up\n-- ferry:dialect oracle\n").contains("give postgres")
        );
        let r = parse(Path::new("R__views.sql"), "CREATE VIEW v AS SELECT 1;").unwrap();
        assert_eq!((r.kind, r.version.as_str()), (Kind::Repeatable, "R__views"));
        assert_eq!(r.up.statements(Flavor::Sqlite).len(), 1);
        // An empty down section is no down section.
        let m = parse(
            Path::new("0002_b.sql"),
            "-- ferry:up\nSELECT 1;\n-- ferry:down\n-- nothing\n",
        )
        .unwrap();
        assert!(m.down.is_none());
    }
}
