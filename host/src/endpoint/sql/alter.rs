//! Schema changes in a database's own dialect, for `ferry schema diff`:
//! `CREATE TABLE`, `ALTER TABLE` and index statements written from ferry's
//! schema model, with the column types the sinks create
//! ([`crate::endpoint::column_type`]).
//!
//! Every operation a dialect cannot do in place returns `None`: SQLite
//! alters a column's type, nullability or default, a primary key, a unique
//! constraint or a foreign key only by rebuilding the table
//! ([`Ddl::rebuild_table`], the procedure of SQLite's documentation).
//!
//! Identifiers are quoted `"x"` for SQLite and PostgreSQL and `` `x` `` for
//! MySQL/MariaDB: backticks read the same under every `sql_mode`, so the
//! migration runs in a session without ferry's `ANSI_QUOTES` too.

use crate::endpoint::{EndpointError, EndpointUrl};
use crate::model::{ColumnDef, ForeignKeyDef, LogicalType, SqlType, TableDef};

/// The dialect statements are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Sqlite,
    Postgres,
    Mysql,
}

/// What a column change touches (several at once are one change).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ColumnChange {
    pub ty: bool,
    pub nullable: bool,
    pub default: bool,
    pub identity: bool,
}

/// A statement writer for one database.
#[derive(Debug, Clone)]
pub struct Ddl {
    url: EndpointUrl,
    kind: Kind,
}

/// The prefix of the table a SQLite rebuild creates before it takes the
/// old table's name. `_ferry_` names are ferry's own and never compared.
const REBUILD_PREFIX: &str = "_ferry_rebuild_";

/// The comments that mark a MySQL column of a type MySQL lacks, so that it
/// reads back as what was written (the same text as the MySQL sink's
/// `TIMESTAMPTZ_MARK`; the sink declares uuid columns `UUID` on MariaDB
/// ≥ 10.7, which needs no mark).
const MYSQL_TIMESTAMPTZ_MARK: &str = "ferry:timestamptz";

impl Ddl {
    /// The writer for `url`'s dialect; a json or files endpoint is refused
    /// (it has no DDL: give a database to change).
    pub fn for_url(url: &EndpointUrl) -> Result<Ddl, EndpointError> {
        let kind = match url {
            EndpointUrl::Sqlite(_) => Kind::Sqlite,
            EndpointUrl::Postgres(_) => Kind::Postgres,
            EndpointUrl::Mysql(_) => Kind::Mysql,
            EndpointUrl::Json(_) | EndpointUrl::Files(_) => {
                return Err(EndpointError::Unsupported(format!(
                    "{url} has no schema to change with SQL: the live side of a schema diff is a \
                     database (sqlite:PATH, postgres://… or mysql://…); a json directory can be \
                     the desired side"
                )));
            }
        };
        Ok(Ddl {
            url: url.clone(),
            kind,
        })
    }

    /// The dialect's name as [`SqlType::from_declared`] takes it.
    pub fn scheme(&self) -> &'static str {
        match self.kind {
            Kind::Sqlite => "sqlite",
            Kind::Postgres => "postgres",
            Kind::Mysql => "mysql",
        }
    }

    /// An identifier, quoted for this dialect.
    pub fn quote(&self, name: &str) -> String {
        match self.kind {
            Kind::Mysql => format!("`{}`", name.replace('`', "``")),
            _ => super::quote_ident(name),
        }
    }

    fn list(&self, names: &[String]) -> String {
        names
            .iter()
            .map(|n| self.quote(n))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Whether `col` of `table` becomes SQLite's `INTEGER PRIMARY KEY
    /// AUTOINCREMENT` (the one column of the key, an int64 identity).
    fn sqlite_rowid(table: &TableDef, col: &ColumnDef) -> bool {
        matches!(table.primary_key.as_slice(), [k] if k == &col.name)
            && col.identity
            && col.logical_type == LogicalType::Int64
    }

    /// The type a `CREATE TABLE` of this dialect declares for `col` of
    /// `table` (the sinks' own choice: declared types kept where the
    /// dialect has them).
    pub fn column_type(&self, table: &TableDef, col: &ColumnDef) -> String {
        if self.kind == Kind::Sqlite && Self::sqlite_rowid(table, col) {
            return "INTEGER".into();
        }
        crate::endpoint::column_type(&self.url, table, col)
    }

    /// What two columns are compared by: the same key means the same
    /// stored type. PostgreSQL and MySQL: the type declared, as written
    /// from the model. SQLite: the logical type and declared size its
    /// declaration means (`VARCHAR(40)` and `character varying(40)` are one
    /// type; SQLite enforces neither).
    pub fn type_key(&self, table: &TableDef, col: &ColumnDef) -> String {
        let ty = self.column_type(table, col);
        match self.kind {
            Kind::Sqlite => {
                let logical = crate::endpoint::sqlite::logical_type(&ty);
                let declared = SqlType::from_declared(&ty, logical, "sqlite");
                format!(
                    "{logical}{}",
                    declared.map(|d| d.describe()).unwrap_or_default()
                )
            }
            _ => ty
                .to_ascii_lowercase()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" "),
        }
    }

    /// Whether a column of `table` is stored nullable: key columns and
    /// counters never are, whatever the model says (SQLite reports its
    /// `INTEGER PRIMARY KEY` nullable).
    pub fn nullable(table: &TableDef, col: &ColumnDef) -> bool {
        col.nullable && !col.identity && !table.primary_key.contains(&col.name)
    }

    /// The column's default as this dialect writes it, when it is portable
    /// (a number, a string, a boolean, the current timestamp); `None` for
    /// none, or one ferry does not carry (a sequence, a function call),
    /// which is therefore not compared. Counters have no default.
    pub fn default_sql(&self, col: &ColumnDef) -> Option<String> {
        if col.identity {
            return None;
        }
        let mut c = col.clone();
        // MySQL reads back `current_timestamp(6)`, PostgreSQL `now()`.
        if let Some(d) = &c.default {
            let l = d.trim().to_ascii_lowercase();
            let l = l.split('(').next().unwrap_or("").trim().to_string();
            if l == "current_timestamp" || l == "now" {
                c.default = Some("CURRENT_TIMESTAMP".into());
            }
        }
        crate::model::default_sql(&c, self.kind == Kind::Mysql)
    }

    /// [`Self::default_sql`] for comparing: numbers without trailing zeros
    /// (`0.00` and `0` are one default).
    pub fn default_key(&self, col: &ColumnDef) -> Option<String> {
        let d = self.default_sql(col)?;
        let num = d.strip_prefix('-').unwrap_or(&d);
        if !num.is_empty()
            && num.bytes().all(|b| b.is_ascii_digit() || b == b'.')
            && let Some((i, f)) = d.split_once('.')
        {
            let f = f.trim_end_matches('0');
            return Some(if f.is_empty() {
                i.to_string()
            } else {
                format!("{i}.{f}")
            });
        }
        Some(d)
    }

    /// A column's definition in `CREATE TABLE` or `ADD COLUMN`.
    pub fn column_sql(&self, table: &TableDef, col: &ColumnDef) -> String {
        let name = self.quote(&col.name);
        let nullable = Self::nullable(table, col);
        match self.kind {
            Kind::Postgres => {
                let mut c = col.clone();
                c.nullable = nullable;
                c.default = self.default_sql(col);
                crate::endpoint::postgres::column_sql(table, &c)
            }
            Kind::Sqlite => {
                if Self::sqlite_rowid(table, col) {
                    return format!("{name} INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL");
                }
                format!(
                    "{name} {}{}{}",
                    self.column_type(table, col),
                    if nullable { "" } else { " NOT NULL" },
                    self.default_sql(col)
                        .map(|d| format!(" DEFAULT {d}"))
                        .unwrap_or_default()
                )
            }
            Kind::Mysql => {
                let auto = col.identity && col.logical_type == LogicalType::Int64;
                // Defaults of TEXT/BLOB columns are expressions: `(…)`.
                let default = self
                    .default_sql(col)
                    .map(|d| {
                        if d.starts_with("CURRENT_TIMESTAMP") {
                            format!(" DEFAULT {d}")
                        } else {
                            format!(" DEFAULT ({d})")
                        }
                    })
                    .unwrap_or_default();
                let comment = if col.logical_type == LogicalType::Timestamptz {
                    format!(" COMMENT '{MYSQL_TIMESTAMPTZ_MARK}'")
                } else {
                    String::new()
                };
                format!(
                    "{name} {}{}{}{default}{comment}",
                    self.column_type(table, col),
                    if nullable { " NULL" } else { " NOT NULL" },
                    if auto { " AUTO_INCREMENT" } else { "" },
                )
            }
        }
    }

    /// `CREATE TABLE name (…)` for `def`: columns, primary key, unique
    /// constraints; in SQLite also its foreign keys and CHECKs (SQLite
    /// cannot add them later). Indexes come with [`Self::create_index`];
    /// PostgreSQL's and MySQL's foreign keys with [`Self::add_foreign_key`],
    /// once every table exists.
    pub fn create_table(&self, def: &TableDef, name: &str) -> String {
        let mut parts: Vec<String> = def
            .columns
            .iter()
            .map(|c| self.column_sql(def, c))
            .collect();
        let rowid =
            self.kind == Kind::Sqlite && def.columns.iter().any(|c| Self::sqlite_rowid(def, c));
        if !def.primary_key.is_empty() && !rowid {
            parts.push(format!("PRIMARY KEY ({})", self.list(&def.primary_key)));
        }
        for u in &def.unique {
            parts.push(format!(
                "CONSTRAINT {} UNIQUE ({})",
                self.quote(&u.name),
                self.list(&u.columns)
            ));
        }
        if self.kind == Kind::Sqlite {
            for ck in &def.checks {
                parts.push(format!(
                    "CONSTRAINT {} CHECK ({})",
                    self.quote(&ck.name),
                    ck.expression
                ));
            }
            for fk in &def.foreign_keys {
                parts.push(format!(
                    "CONSTRAINT {} {}",
                    self.quote(&fk.name),
                    self.references(fk)
                ));
            }
        }
        let tail = if self.kind == Kind::Mysql {
            " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
        } else {
            ""
        };
        format!(
            "CREATE TABLE {} (\n  {}\n){tail}",
            self.quote(name),
            parts.join(",\n  ")
        )
    }

    fn references(&self, fk: &ForeignKeyDef) -> String {
        format!(
            "FOREIGN KEY ({}) REFERENCES {} ({}) ON DELETE {} ON UPDATE {}",
            self.list(&fk.columns),
            self.quote(&fk.ref_table),
            self.list(&fk.ref_columns),
            fk_action(&fk.on_delete),
            fk_action(&fk.on_update)
        )
    }

    pub fn drop_table(&self, name: &str) -> String {
        format!("DROP TABLE {}", self.quote(name))
    }

    pub fn rename_table(&self, from: &str, to: &str) -> String {
        match self.kind {
            Kind::Mysql => format!("RENAME TABLE {} TO {}", self.quote(from), self.quote(to)),
            _ => format!(
                "ALTER TABLE {} RENAME TO {}",
                self.quote(from),
                self.quote(to)
            ),
        }
    }

    pub fn rename_column(&self, table: &str, from: &str, to: &str) -> String {
        format!(
            "ALTER TABLE {} RENAME COLUMN {} TO {}",
            self.quote(table),
            self.quote(from),
            self.quote(to)
        )
    }

    /// `ADD COLUMN`, or `None` where SQLite refuses it in place: a key
    /// column, a `NOT NULL` one without a default, or a default that is not
    /// a constant (`CURRENT_TIMESTAMP`).
    pub fn add_column(&self, def: &TableDef, col: &ColumnDef) -> Option<String> {
        if self.kind == Kind::Sqlite {
            let default = self.default_sql(col);
            let keyed = def.primary_key.contains(&col.name)
                || def.unique.iter().any(|u| u.columns.contains(&col.name));
            if keyed
                || (!Self::nullable(def, col) && default.is_none())
                || default.is_some_and(|d| d.starts_with("CURRENT_"))
            {
                return None;
            }
        }
        Some(format!(
            "ALTER TABLE {} ADD COLUMN {}",
            self.quote(&def.name),
            self.column_sql(def, col)
        ))
    }

    /// `DROP COLUMN`, or `None` where SQLite refuses it in place: a column
    /// of a key, an index or a foreign key of `def` (the live table).
    pub fn drop_column(&self, def: &TableDef, col: &str) -> Option<String> {
        if self.kind == Kind::Sqlite {
            let c = col.to_string();
            let used = def.primary_key.contains(&c)
                || def.unique.iter().any(|u| u.columns.contains(&c))
                || def.indexes.iter().any(|i| i.columns.contains(&c))
                || def.foreign_keys.iter().any(|f| f.columns.contains(&c));
            if used {
                return None;
            }
        }
        Some(format!(
            "ALTER TABLE {} DROP COLUMN {}",
            self.quote(&def.name),
            self.quote(col)
        ))
    }

    /// Turns column `from` into `to` (same name) in table `def` (the
    /// desired table, for the declared type): PostgreSQL one `ALTER COLUMN`
    /// clause per change, MySQL one `MODIFY COLUMN` with the whole
    /// definition, SQLite `None` (a rebuild).
    pub fn alter_column(
        &self,
        def: &TableDef,
        from: &ColumnDef,
        to: &ColumnDef,
        what: ColumnChange,
    ) -> Option<Vec<String>> {
        let t = self.quote(&def.name);
        let c = self.quote(&to.name);
        match self.kind {
            Kind::Sqlite => None,
            Kind::Mysql => Some(vec![format!(
                "ALTER TABLE {t} MODIFY COLUMN {}",
                self.column_sql(def, to)
            )]),
            Kind::Postgres => {
                let mut out = Vec::new();
                if what.identity && from.identity {
                    out.push(format!(
                        "ALTER TABLE {t} ALTER COLUMN {c} DROP IDENTITY IF EXISTS"
                    ));
                }
                if what.ty {
                    let ty = self.column_type(def, to);
                    out.push(format!(
                        "ALTER TABLE {t} ALTER COLUMN {c} TYPE {ty} USING {c}::{ty}"
                    ));
                }
                if what.default || (what.identity && to.identity) {
                    out.push(match self.default_sql(to) {
                        Some(d) => format!("ALTER TABLE {t} ALTER COLUMN {c} SET DEFAULT {d}"),
                        None => format!("ALTER TABLE {t} ALTER COLUMN {c} DROP DEFAULT"),
                    });
                }
                if what.nullable || (what.identity && to.identity) {
                    out.push(if Self::nullable(def, to) {
                        format!("ALTER TABLE {t} ALTER COLUMN {c} DROP NOT NULL")
                    } else {
                        format!("ALTER TABLE {t} ALTER COLUMN {c} SET NOT NULL")
                    });
                }
                if what.identity && to.identity {
                    out.push(format!(
                        "ALTER TABLE {t} ALTER COLUMN {c} ADD GENERATED BY DEFAULT AS IDENTITY"
                    ));
                    // The counter continues after the values already there.
                    out.push(format!(
                        "SELECT setval(pg_get_serial_sequence({}, {}), COALESCE(MAX({c}), 0) + 1, false) FROM {t}",
                        super::sql_literal(&t),
                        super::sql_literal(&to.name)
                    ));
                }
                Some(out)
            }
        }
    }

    /// `ADD PRIMARY KEY`; `None` in SQLite (a rebuild).
    pub fn add_primary_key(&self, table: &str, cols: &[String]) -> Option<String> {
        (self.kind != Kind::Sqlite).then(|| {
            format!(
                "ALTER TABLE {} ADD PRIMARY KEY ({})",
                self.quote(table),
                self.list(cols)
            )
        })
    }

    /// Drops a table's primary key; `None` in SQLite (a rebuild). The
    /// model does not carry a primary key's name: PostgreSQL's is taken to
    /// be the one it gives by default, `<table>_pkey` (what ferry's sinks
    /// create too); a key named otherwise needs its `DROP CONSTRAINT`
    /// edited.
    pub fn drop_primary_key(&self, table: &str) -> Option<String> {
        match self.kind {
            Kind::Sqlite => None,
            Kind::Mysql => Some(format!(
                "ALTER TABLE {} DROP PRIMARY KEY",
                self.quote(table)
            )),
            Kind::Postgres => Some(format!(
                "ALTER TABLE {} DROP CONSTRAINT {}",
                self.quote(table),
                self.quote(&pg_pk_name(table))
            )),
        }
    }

    /// `ADD CONSTRAINT … UNIQUE`; SQLite, which cannot add constraints,
    /// gets the unique index that stands for one.
    pub fn add_unique(&self, table: &str, name: &str, cols: &[String]) -> String {
        match self.kind {
            Kind::Sqlite => format!(
                "CREATE UNIQUE INDEX {} ON {} ({})",
                self.quote(name),
                self.quote(table),
                self.list(cols)
            ),
            _ => format!(
                "ALTER TABLE {} ADD CONSTRAINT {} UNIQUE ({})",
                self.quote(table),
                self.quote(name),
                self.list(cols)
            ),
        }
    }

    /// Drops a unique constraint; `None` in SQLite (a rebuild).
    pub fn drop_unique(&self, table: &str, name: &str) -> Option<String> {
        match self.kind {
            Kind::Sqlite => None,
            Kind::Mysql => Some(format!(
                "ALTER TABLE {} DROP INDEX {}",
                self.quote(table),
                self.quote(name)
            )),
            Kind::Postgres => Some(format!(
                "ALTER TABLE {} DROP CONSTRAINT {}",
                self.quote(table),
                self.quote(name)
            )),
        }
    }

    pub fn create_index(&self, table: &str, name: &str, cols: &[String], unique: bool) -> String {
        format!(
            "CREATE {}INDEX {} ON {} ({})",
            if unique { "UNIQUE " } else { "" },
            self.quote(name),
            self.quote(table),
            self.list(cols)
        )
    }

    pub fn drop_index(&self, table: &str, name: &str) -> String {
        match self.kind {
            Kind::Mysql => format!("DROP INDEX {} ON {}", self.quote(name), self.quote(table)),
            _ => format!("DROP INDEX {}", self.quote(name)),
        }
    }

    /// `ADD CONSTRAINT … FOREIGN KEY`; `None` in SQLite (a rebuild).
    pub fn add_foreign_key(&self, table: &str, fk: &ForeignKeyDef) -> Option<String> {
        (self.kind != Kind::Sqlite).then(|| {
            format!(
                "ALTER TABLE {} ADD CONSTRAINT {} {}",
                self.quote(table),
                self.quote(&fk.name),
                self.references(fk)
            )
        })
    }

    /// Drops a foreign key; `None` in SQLite (a rebuild). MySQL keeps the
    /// index it made for the key.
    pub fn drop_foreign_key(&self, table: &str, name: &str) -> Option<String> {
        match self.kind {
            Kind::Sqlite => None,
            Kind::Mysql => Some(format!(
                "ALTER TABLE {} DROP FOREIGN KEY {}",
                self.quote(table),
                self.quote(name)
            )),
            Kind::Postgres => Some(format!(
                "ALTER TABLE {} DROP CONSTRAINT {}",
                self.quote(table),
                self.quote(name)
            )),
        }
    }

    /// SQLite's rebuild of a table into `def`: a new table, the columns
    /// `copy` (in both) copied, the old table dropped, the new one renamed,
    /// its indexes created. Run with foreign keys off, as ferry's sessions
    /// are (else dropping the old table deletes its children's rows by
    /// their `ON DELETE`); `legacy_alter_table` keeps the rename from
    /// checking views that name the table while it is missing.
    pub fn rebuild_table(&self, def: &TableDef, copy: &[String]) -> Vec<String> {
        let tmp = format!("{REBUILD_PREFIX}{}", def.name);
        let mut out = vec![
            "-- SQLite rebuilds the table: run with foreign keys off (ferry's sessions are)".into(),
            self.create_table(def, &tmp),
        ];
        if !copy.is_empty() {
            out.push(format!(
                "INSERT INTO {} ({cols}) SELECT {cols} FROM {}",
                self.quote(&tmp),
                self.quote(&def.name),
                cols = self.list(copy)
            ));
        }
        out.push(self.drop_table(&def.name));
        out.push("PRAGMA legacy_alter_table = ON".into());
        out.push(self.rename_table(&tmp, &def.name));
        out.push("PRAGMA legacy_alter_table = OFF".into());
        for ix in &def.indexes {
            out.push(self.create_index(&def.name, &ix.name, &ix.columns, ix.unique));
        }
        out
    }

    /// Whether this dialect changes columns, keys and foreign keys only by
    /// rebuilding the table (SQLite).
    pub fn rebuilds(&self) -> bool {
        self.kind == Kind::Sqlite
    }
}

/// A foreign key action as SQL (`NO ACTION` when empty).
fn fk_action(a: &str) -> String {
    let a = a.trim().to_ascii_uppercase();
    if a.is_empty() { "NO ACTION".into() } else { a }
}

/// The name PostgreSQL gives a primary key: `<table>_pkey`, the table's
/// name cut at a character boundary so that the whole fits its 63-byte
/// identifiers.
fn pg_pk_name(table: &str) -> String {
    const MAX_IDENT: usize = 63;
    let mut end = table.len().min(MAX_IDENT - "_pkey".len());
    while !table.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}_pkey", &table[..end])
}
