//! What a SQLite database holds: its tables as ferry carries them (columns,
//! keys, identity, and the names and CHECKs its stored `CREATE TABLE` gives),
//! everything else listed ([`SqliteSource::objects`]: views carried;
//! triggers, virtual tables' indexes, shadow tables, generated columns,
//! partial and expression indexes not), and the extent of the values stored
//! ([`SqliteSource::extents`]: SQLite stores anything in any column).

use super::parse::{self, Constraint, CreateTable};
use super::*;
use crate::endpoint::{EndpointError, Extent};
use crate::model::{
    CheckDef, ColumnDef, ForeignKeyDef, IndexDef, LogicalType, NotCarried, SchemaObjects, TableDef,
    UniqueDef, ViewDef,
};
use rusqlite::Connection;
use rusqlite::types::ValueRef as Sql;
use std::collections::HashSet;

/// Rows sampled to decide that a column declared `DATETIME` or `TIMESTAMP`
/// holds timestamps: the first 10,000, the window the planner samples for
/// promotions, so both see the same values. A value past it that is not an
/// ISO date or timestamp is quarantined at read with the reason, as a
/// promoted column's would be.
const DECLARED_TEMPORAL_SAMPLE: usize = 10_000;

/// A table of `sqlite_master` and what ferry does with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Stored {
    /// An ordinary table: carried.
    Plain,
    /// A virtual table: carried as a plain table when its rows are its own
    /// and SQLite can read them here (`Ok`), else listed with why (`Err`).
    Virtual {
        module: String,
        carried: Result<(), String>,
    },
    /// A virtual table's internal storage (`docs_data`, `docs_idx`, …):
    /// rebuilt by its owner, never carried.
    Shadow { owner: Option<String> },
}

/// The shadow tables each module keeps, by suffix (used where SQLite's own
/// `PRAGMA table_list` does not say: a module not compiled in).
fn shadow_suffixes(module: &str) -> &'static [&'static str] {
    match module {
        "fts5" => &["data", "idx", "content", "docsize", "config"],
        "fts3" | "fts4" => &["content", "segments", "segdir", "docsize", "stat"],
        "rtree" | "rtree_i32" | "geopoly" => &["node", "rowid", "parent"],
        _ => &[],
    }
}

/// Whether a declared type says timestamps without a zone.
pub(super) fn declared_timestamp(declared: &str) -> bool {
    let d = declared.trim().to_ascii_uppercase();
    let base = d.split('(').next().unwrap_or("").trim();
    matches!(
        base,
        "DATETIME" | "TIMESTAMP" | "TIMESTAMP WITHOUT TIME ZONE"
    )
}

impl SqliteSource {
    /// Every user table of `sqlite_master` in creation order, with its
    /// stored `CREATE` statement and how it is treated.
    pub(super) fn catalog(
        &self,
        c: &Connection,
    ) -> Result<Vec<(String, Option<String>, Stored)>, EndpointError> {
        let e = |err: rusqlite::Error| q_err(&self.name, None, err);
        let rows: Vec<(String, Option<String>)> = c
            .prepare(
                "SELECT name, sql FROM sqlite_master WHERE type = 'table' \
                 AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name NOT LIKE '\\_ferry\\_%' ESCAPE '\\' \
                 ORDER BY rowid",
            )
            .and_then(|mut s| {
                s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<Result<_, _>>()
            })
            .map_err(e)?;
        // SQLite's own word on shadow tables (3.37+; a module missing here
        // cannot say, hence the suffixes below as well).
        let shadows: HashSet<String> = c
            .prepare("SELECT name FROM pragma_table_list WHERE schema = 'main' AND type = 'shadow'")
            .and_then(|mut s| {
                s.query_map([], |r| r.get::<_, String>(0))?
                    .collect::<Result<_, _>>()
            })
            .unwrap_or_default();
        let virtuals: Vec<(String, parse::CreateVirtual)> = rows
            .iter()
            .filter_map(|(n, sql)| Some((n.clone(), parse::create_virtual(sql.as_deref()?)?)))
            .collect();
        let owner_of = |name: &str| -> Option<String> {
            virtuals
                .iter()
                .filter(|(v, vt)| {
                    let (Some(head), Some(tail)) = (name.get(..v.len()), name.get(v.len()..))
                    else {
                        return false;
                    };
                    let Some(suffix) = tail.strip_prefix('_') else {
                        return false;
                    };
                    head.eq_ignore_ascii_case(v)
                        && (shadows.contains(name)
                            || shadow_suffixes(&vt.module)
                                .iter()
                                .any(|s| suffix.eq_ignore_ascii_case(s)))
                })
                .max_by_key(|(v, _)| v.len())
                .map(|(v, _)| v.clone())
        };
        let mut out = Vec::with_capacity(rows.len());
        for (name, sql) in rows {
            let stored = if let Some((_, vt)) = virtuals.iter().find(|(v, _)| *v == name) {
                Stored::Virtual {
                    module: vt.module.clone(),
                    carried: self.virtual_carried(c, &name, vt),
                }
            } else if let Some(owner) = owner_of(&name) {
                Stored::Shadow { owner: Some(owner) }
            } else if shadows.contains(&name) {
                Stored::Shadow { owner: None }
            } else {
                Stored::Plain
            };
            out.push((name, sql, stored));
        }
        Ok(out)
    }

    /// Whether a virtual table's rows are carried as a plain table: only
    /// full-text tables that store their own content, and R*Trees (their
    /// rows are the data), and only when this SQLite can read them.
    fn virtual_carried(
        &self,
        c: &Connection,
        name: &str,
        vt: &parse::CreateVirtual,
    ) -> Result<(), String> {
        match vt.module.as_str() {
            "fts3" | "fts4" | "fts5" => match vt.option("content") {
                Some(content) if content.is_empty() => {
                    return Err(
                        "a contentless full-text index (content=''): it stores no rows to carry"
                            .into(),
                    );
                }
                Some(content) => {
                    return Err(format!(
                        "an external-content full-text index over `{content}`: its rows are `{content}`'s, carried with that table"
                    ));
                }
                None => {}
            },
            "rtree" | "rtree_i32" => {}
            other => {
                return Err(format!(
                    "its rows come from the `{other}` module, which ferry does not read as data"
                ));
            }
        }
        c.prepare(&format!("SELECT * FROM {} LIMIT 0", quote_ident(name)))
            .map(|_| ())
            .map_err(|e| format!("this SQLite cannot read it ({e})"))
    }

    /// Every table ferry carries, with its columns, keys, indexes, foreign
    /// keys and CHECKs.
    pub fn tables(&self) -> Result<Vec<TableDef>, EndpointError> {
        let c = self.conn()?;
        let mut out = Vec::new();
        for (name, sql, stored) in self.catalog(&c)? {
            match stored {
                Stored::Plain
                | Stored::Virtual {
                    carried: Ok(()), ..
                } => out.push(self.table(&c, &name, sql.as_deref())?),
                // Listed by `objects`, with why.
                Stored::Virtual { .. } | Stored::Shadow { .. } => {}
            }
        }
        Ok(out)
    }

    pub(super) fn table(
        &self,
        c: &Connection,
        name: &str,
        sql: Option<&str>,
    ) -> Result<TableDef, EndpointError> {
        let e = |err: rusqlite::Error| q_err(&self.name, Some(name), err);
        let decl: CreateTable = sql.and_then(parse::create_table).unwrap_or_default();
        let mut columns = Vec::new();
        let mut pk: Vec<(i64, String)> = Vec::new();
        {
            let mut stmt = c
                .prepare(&format!("PRAGMA table_xinfo({})", quote_ident(name)))
                .map_err(e)?;
            let mut rows = stmt.query([]).map_err(e)?;
            while let Some(r) = rows.next().map_err(e)? {
                let hidden: i64 = r.get(6).map_err(e)?;
                if hidden != 0 {
                    continue; // generated or hidden columns are not data
                }
                let col: String = r.get(1).map_err(e)?;
                let declared: String = r
                    .get::<_, Option<String>>(2)
                    .map_err(e)?
                    .unwrap_or_default();
                let notnull: i64 = r.get(3).map_err(e)?;
                let default: Option<String> = r.get(4).map_err(e)?;
                let pk_pos: i64 = r.get(5).map_err(e)?;
                if pk_pos > 0 {
                    pk.push((pk_pos, col.clone()));
                }
                columns.push(ColumnDef {
                    name: col,
                    logical_type: logical_type(&declared),
                    declared_type: declared,
                    nullable: notnull == 0,
                    default,
                    ..Default::default()
                });
            }
        }
        pk.sort();
        let primary_key: Vec<String> = pk.into_iter().map(|(_, c)| c).collect();
        self.check_declared_timestamps(c, name, &mut columns)?;

        let foreign_keys = self.foreign_keys(c, name, &decl)?;

        let mut unique = Vec::new();
        let mut indexes = Vec::new();
        let mut has_pk_index = false;
        {
            let mut stmt = c
                .prepare(&format!("PRAGMA index_list({})", quote_ident(name)))
                .map_err(e)?;
            let list: Vec<(String, bool, String, bool)> = stmt
                .query_map([], |r| {
                    Ok((
                        r.get::<_, String>(1)?,
                        r.get::<_, i64>(2)? != 0,
                        r.get::<_, String>(3)?,
                        r.get::<_, i64>(4)? != 0,
                    ))
                })
                .and_then(|rows| rows.collect())
                .map_err(e)?;
            let mut used = vec![false; decl.constraints.len()];
            for (idx, is_unique, origin, partial) in list {
                if origin == "pk" {
                    // The PK is recreated as a PK. Its index exists only when
                    // the key is not the rowid (a rowid alias has none).
                    has_pk_index = true;
                    continue;
                }
                if partial {
                    // Its WHERE clause is not carried: listed by `objects`.
                    continue;
                }
                let mut s2 = c
                    .prepare(&format!("PRAGMA index_info({})", quote_ident(&idx)))
                    .map_err(e)?;
                let cols: Vec<Option<String>> = s2
                    .query_map([], |r| r.get::<_, Option<String>>(2))
                    .and_then(|rows| rows.collect())
                    .map_err(e)?;
                if cols.iter().any(Option::is_none) {
                    continue; // an expression index: listed by `objects`
                }
                let cols: Vec<String> = cols.into_iter().flatten().collect();
                if origin == "u" {
                    // A UNIQUE constraint (SQLite's `sqlite_autoindex_*`): the
                    // name the DDL gave it, else a readable one.
                    let declared = decl.constraints.iter().enumerate().position(|(k, d)| {
                        !used[k]
                            && matches!(d, Constraint::Unique { columns, .. } if same_names(columns, &cols))
                    });
                    let given = declared.and_then(|k| {
                        used[k] = true;
                        match &decl.constraints[k] {
                            Constraint::Unique { name, .. } => name.clone(),
                            _ => None,
                        }
                    });
                    unique.push(UniqueDef {
                        name: given.unwrap_or_else(|| format!("{name}_{}_key", cols.join("_"))),
                        columns: cols,
                    });
                } else {
                    indexes.push(IndexDef {
                        name: idx,
                        columns: cols,
                        unique: is_unique,
                    });
                }
            }
        }
        unique.reverse();
        indexes.reverse();

        // Identity: a rowid alias (a one-column key declared exactly INTEGER,
        // so SQLite built no index for it — `INTEGER PRIMARY KEY DESC` and
        // `integer auto_increment` get one) or AUTOINCREMENT.
        if let [key] = primary_key.as_slice()
            && let Some(col) = columns.iter_mut().find(|c| &c.name == key)
        {
            let alias = !has_pk_index
                && !decl.without_rowid
                && col.declared_type.trim().eq_ignore_ascii_case("INTEGER");
            if (alias || decl.autoincrement(key)) && col.logical_type == LogicalType::Int64 {
                col.identity = true;
            }
        }

        let mut checks: Vec<CheckDef> = Vec::new();
        let mut n = 0;
        for d in &decl.constraints {
            if let Constraint::Check {
                name: given,
                expression,
            } = d
            {
                n += 1;
                let mut check_name = given.clone().unwrap_or_else(|| format!("{name}_check{n}"));
                while checks.iter().any(|c| c.name == check_name) {
                    check_name.push('_');
                }
                checks.push(CheckDef {
                    name: check_name,
                    expression: expression.clone(),
                });
            }
        }
        Ok(TableDef {
            name: name.to_string(),
            columns,
            primary_key,
            unique,
            indexes,
            foreign_keys,
            checks,
        })
    }

    /// Foreign keys from `PRAGMA foreign_key_list`, named as the DDL named
    /// them (`fk_<table>_<id>` when it did not).
    fn foreign_keys(
        &self,
        c: &Connection,
        name: &str,
        decl: &CreateTable,
    ) -> Result<Vec<ForeignKeyDef>, EndpointError> {
        let e = |err: rusqlite::Error| q_err(&self.name, Some(name), err);
        let mut foreign_keys: Vec<(i64, ForeignKeyDef)> = Vec::new();
        {
            let mut stmt = c
                .prepare(&format!("PRAGMA foreign_key_list({})", quote_ident(name)))
                .map_err(e)?;
            let mut rows = stmt.query([]).map_err(e)?;
            while let Some(r) = rows.next().map_err(e)? {
                let id: i64 = r.get(0).map_err(e)?;
                let ref_table: String = r.get(2).map_err(e)?;
                let from: String = r.get(3).map_err(e)?;
                let to: Option<String> = r.get(4).map_err(e)?;
                let on_update: String = r.get(5).map_err(e)?;
                let on_delete: String = r.get(6).map_err(e)?;
                if let Some((_, fk)) = foreign_keys.iter_mut().find(|(i, _)| *i == id) {
                    fk.columns.push(from);
                    fk.ref_columns.push(to.unwrap_or_default());
                } else {
                    foreign_keys.push((
                        id,
                        ForeignKeyDef {
                            name: format!("fk_{name}_{id}"),
                            columns: vec![from],
                            ref_table,
                            ref_columns: vec![to.unwrap_or_default()],
                            on_delete,
                            on_update,
                        },
                    ));
                }
            }
        }
        // SQLite numbers a table's foreign keys in reverse declaration order
        // (column-level and table-level alike, as written): id 0 is the last
        // declared. A declaration whose columns or parent differ is not
        // trusted for a name.
        let declared: Vec<(&Option<String>, &Vec<String>, &String)> = decl
            .constraints
            .iter()
            .filter_map(|d| match d {
                Constraint::ForeignKey {
                    name,
                    columns,
                    ref_table,
                } => Some((name, columns, ref_table)),
                _ => None,
            })
            .collect();
        let n = foreign_keys.len();
        for (id, fk) in &mut foreign_keys {
            if declared.len() != n {
                break;
            }
            let Some((Some(given), cols, parent)) = usize::try_from(*id)
                .ok()
                .and_then(|id| n.checked_sub(id + 1))
                .and_then(|k| declared.get(k))
            else {
                continue;
            };
            if same_names(cols, &fk.columns) && parent.eq_ignore_ascii_case(&fk.ref_table) {
                fk.name = given.clone();
            }
        }
        let mut foreign_keys: Vec<ForeignKeyDef> =
            foreign_keys.into_iter().map(|(_, fk)| fk).collect();
        // A FK without explicit parent columns references the parent's PK.
        for fk in &mut foreign_keys {
            if fk.ref_columns.iter().any(String::is_empty) {
                let parent_pk: Vec<String> = c
                    .prepare(&format!(
                        "PRAGMA table_info({})",
                        quote_ident(&fk.ref_table)
                    ))
                    .and_then(|mut s| {
                        let mut v: Vec<(i64, String)> = s
                            .query_map([], |r| Ok((r.get::<_, i64>(5)?, r.get::<_, String>(1)?)))?
                            .collect::<Result<_, _>>()?;
                        v.retain(|(p, _)| *p > 0);
                        v.sort();
                        Ok(v.into_iter().map(|(_, n)| n).collect())
                    })
                    .map_err(e)?;
                fk.ref_columns = parent_pk;
            }
        }
        Ok(foreign_keys)
    }

    /// A column declared `DATETIME`/`TIMESTAMP` is read as timestamps —
    /// never narrowed to dates by what sampling saw — when the first
    /// [`DECLARED_TEMPORAL_SAMPLE`] rows hold only ISO dates (midnight) and
    /// timestamps without a zone; else it is text, and the planner's
    /// promotions decide from its values as for any text column.
    fn check_declared_timestamps(
        &self,
        c: &Connection,
        table: &str,
        columns: &mut [ColumnDef],
    ) -> Result<(), EndpointError> {
        use crate::model::temporal as tm;
        let idx: Vec<usize> = (0..columns.len())
            .filter(|&i| columns[i].logical_type == LogicalType::Timestamp)
            .collect();
        if idx.is_empty() {
            return Ok(());
        }
        let e = |err: rusqlite::Error| q_err(&self.name, Some(table), err);
        let list: Vec<String> = idx.iter().map(|&i| quote_ident(&columns[i].name)).collect();
        let mut stmt = c
            .prepare(&format!(
                "SELECT {} FROM {} LIMIT {DECLARED_TEMPORAL_SAMPLE}",
                list.join(", "),
                quote_ident(table)
            ))
            .map_err(e)?;
        let mut fits = vec![true; idx.len()];
        let mut rows = stmt.query([]).map_err(e)?;
        while let Some(r) = rows.next().map_err(e)? {
            for (k, ok) in fits.iter_mut().enumerate() {
                *ok &= match r.get_ref(k).map_err(e)? {
                    Sql::Null => true,
                    Sql::Text(t) => std::str::from_utf8(t).is_ok_and(|s| {
                        tm::parse_timestamp(s).is_some() || tm::parse_date(s).is_some()
                    }),
                    _ => false,
                };
            }
        }
        for (k, &i) in idx.iter().enumerate() {
            if !fits[k] {
                columns[i].logical_type = LogicalType::Text;
            }
        }
        Ok(())
    }

    /// Views (carried, in creation order) and everything else of the
    /// database that `tables` (as [`SqliteSource::tables`] returned them,
    /// perhaps narrowed by a selection) does not carry, with why.
    pub fn objects(&self, tables: &[TableDef]) -> Result<SchemaObjects, EndpointError> {
        let c = self.conn()?;
        let e = |err: rusqlite::Error| q_err(&self.name, None, err);
        let mut out = SchemaObjects::default();
        let master = |kind: &str| -> Result<Vec<(String, String, Option<String>)>, EndpointError> {
            c.prepare(
                "SELECT name, tbl_name, sql FROM sqlite_master WHERE type = ?1 ORDER BY rowid",
            )
            .and_then(|mut s| {
                s.query_map([kind], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                    .collect::<Result<_, _>>()
            })
            .map_err(e)
        };
        let views = master("view")?;
        for (name, _, sql) in &views {
            match sql.as_deref().and_then(parse::create_view) {
                Some(v) => out.views.push(ViewDef {
                    name: name.clone(),
                    definition: view_select(name, &v),
                }),
                None => out.not_carried.push(NotCarried {
                    kind: "view".into(),
                    name: name.clone(),
                    reason: "its stored CREATE VIEW could not be read; recreate it on the target by hand (SELECT sql FROM sqlite_master WHERE name = …)".into(),
                }),
            }
        }
        let carried: HashSet<&str> = tables.iter().map(|t| t.name.as_str()).collect();
        let mut listed_virtual: HashSet<String> = HashSet::new();
        let catalog = self.catalog(&c)?;
        for (name, _, stored) in &catalog {
            let Stored::Virtual {
                module,
                carried: how,
            } = stored
            else {
                continue;
            };
            match how {
                Ok(()) if carried.contains(name.as_str()) => {
                    listed_virtual.insert(name.clone());
                    out.not_carried.push(NotCarried {
                        kind: "index".into(),
                        name: name.clone(),
                        reason: format!(
                            "`{name}` is a SQLite {module} virtual table: its rows are carried as the plain table `{name}`, its {} is not; {}",
                            index_kind(module),
                            recreate_advice(module, name)
                        ),
                    });
                }
                // Left out by a table selection.
                Ok(()) => {}
                Err(why) => {
                    listed_virtual.insert(name.clone());
                    out.not_carried.push(NotCarried {
                        kind: "table".into(),
                        name: name.clone(),
                        reason: format!(
                            "a SQLite {module} virtual table, not carried: {why}; {}",
                            recreate_advice(module, name)
                        ),
                    });
                }
            }
        }
        for (name, _, stored) in &catalog {
            let Stored::Shadow { owner } = stored else {
                continue;
            };
            if owner.as_ref().is_some_and(|o| !listed_virtual.contains(o)) {
                continue; // its owner was left out by a table selection
            }
            out.not_carried.push(NotCarried {
                kind: "table".into(),
                name: name.clone(),
                reason: match owner {
                    Some(o) => format!(
                        "internal storage (a shadow table) of the virtual table `{o}`: not data of its own; a virtual table recreated on the target builds its own"
                    ),
                    None => "internal storage (a shadow table) of a virtual table: not data of its own".into(),
                },
            });
        }
        let view_names: HashSet<&str> = views.iter().map(|(n, _, _)| n.as_str()).collect();
        for (name, on, _) in master("trigger")? {
            if !carried.contains(on.as_str()) && !view_names.contains(on.as_str()) {
                continue; // its table was left out by a table selection
            }
            out.not_carried.push(NotCarried {
                kind: "trigger".into(),
                name: format!("{on}.{name}"),
                reason: format!(
                    "a SQLite trigger on `{on}`: ferry does not translate trigger bodies; recreate it on the target by hand after the load (its SQL: SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = {})",
                    sql_literal(&name)
                ),
            });
        }
        for t in tables {
            self.table_leftovers(&c, t, &mut out.not_carried)?;
        }
        Ok(out)
    }

    /// A carried table's parts that are not carried: generated columns,
    /// partial and expression indexes.
    fn table_leftovers(
        &self,
        c: &Connection,
        t: &TableDef,
        out: &mut Vec<NotCarried>,
    ) -> Result<(), EndpointError> {
        let e = |err: rusqlite::Error| q_err(&self.name, Some(&t.name), err);
        let generated: Vec<String> = c
            .prepare(&format!(
                "SELECT name FROM pragma_table_xinfo({}) WHERE hidden IN (2, 3) ORDER BY cid",
                sql_literal(&t.name)
            ))
            .and_then(|mut s| {
                s.query_map([], |r| r.get::<_, String>(0))?
                    .collect::<Result<_, _>>()
            })
            .map_err(e)?;
        for g in generated {
            out.push(NotCarried {
                kind: "column".into(),
                name: format!("{}.{g}", t.name),
                reason: "a generated column (computed from the row): not data, not carried; declare it on the target by hand if the application reads it".into(),
            });
        }
        let list: Vec<(String, bool)> = c
            .prepare(&format!(
                "SELECT name, partial FROM pragma_index_list({}) WHERE origin = 'c' ORDER BY seq DESC",
                sql_literal(&t.name)
            ))
            .and_then(|mut s| {
                s.query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? != 0)))?
                    .collect::<Result<_, _>>()
            })
            .map_err(e)?;
        for (idx, partial) in list {
            let expression: bool = c
                .query_row(
                    &format!(
                        "SELECT count(*) FROM pragma_index_info({}) WHERE name IS NULL",
                        sql_literal(&idx)
                    ),
                    [],
                    |r| r.get::<_, i64>(0),
                )
                .map_err(e)?
                > 0;
            let what = match (partial, expression) {
                (true, true) => "a partial expression index",
                (true, false) => "a partial index (its WHERE clause is not translated)",
                (false, true) => "an expression index (its expressions are not translated)",
                (false, false) => continue,
            };
            out.push(NotCarried {
                kind: "index".into(),
                name: format!("{}.{idx}", t.name),
                reason: format!(
                    "{what}: not carried; recreate it on the target by hand (its SQL: SELECT sql FROM sqlite_master WHERE name = {})",
                    sql_literal(&idx)
                ),
            });
        }
        Ok(())
    }

    /// Per column of `columns`: the longest text (characters), the smallest
    /// and largest integer, and how many values are of another kind than
    /// the column's type expects — in one scan of the table.
    pub fn extents(
        &self,
        table: &TableDef,
        columns: &[String],
    ) -> Result<Vec<Extent>, EndpointError> {
        let mut out = vec![Extent::default(); columns.len()];
        if columns.is_empty() {
            return Ok(out);
        }
        let types: Vec<LogicalType> = columns
            .iter()
            .map(|n| {
                table
                    .columns
                    .iter()
                    .find(|c| &c.name == n)
                    .map(|c| c.logical_type)
                    .ok_or_else(|| {
                        q_err(
                            &self.name,
                            Some(&table.name),
                            format!("no column `{n}` to measure"),
                        )
                    })
            })
            .collect::<Result<_, _>>()?;
        let c = self.conn()?;
        let e = |err: rusqlite::Error| q_err(&self.name, Some(&table.name), err);
        let list: Vec<String> = columns.iter().map(|n| quote_ident(n)).collect();
        let mut stmt = c
            .prepare(&format!(
                "SELECT {} FROM {}",
                list.join(", "),
                quote_ident(&table.name)
            ))
            .map_err(e)?;
        let mut rows = stmt.query([]).map_err(e)?;
        while let Some(r) = rows.next().map_err(e)? {
            for (k, x) in out.iter_mut().enumerate() {
                measure(x, types[k], r.get_ref(k).map_err(e)?);
            }
        }
        Ok(out)
    }
}

/// Adds one stored value to a column's extent, as ferry reads it for the
/// column's type (an integer in a text column is read as its text; an
/// integral real in an integer column as the integer).
fn measure(x: &mut Extent, t: LogicalType, v: Sql<'_>) {
    match (t, v) {
        (_, Sql::Null) => {}
        (LogicalType::Int64 | LogicalType::Boolean, Sql::Integer(i)) => int(x, i),
        (LogicalType::Int64 | LogicalType::Boolean, Sql::Real(f))
            if f.fract() == 0.0 && f.abs() < 9.2e18 =>
        {
            int(x, f as i64)
        }
        (LogicalType::Int64 | LogicalType::Boolean, _) => x.foreign += 1,
        (LogicalType::Text | LogicalType::Json, Sql::Integer(i)) => chars(x, &i.to_string()),
        (LogicalType::Text | LogicalType::Json, Sql::Real(f)) => chars(x, &f.to_string()),
        (LogicalType::Text | LogicalType::Json, Sql::Blob(_)) => x.foreign += 1,
        (_, Sql::Text(s)) => match std::str::from_utf8(s) {
            Ok(s) => chars(x, s),
            Err(_) => x.foreign += 1,
        },
        (_, Sql::Integer(i)) => int(x, i),
        (_, Sql::Real(_) | Sql::Blob(_)) => {}
    }
}

fn chars(x: &mut Extent, s: &str) {
    let n = s.chars().count() as u64;
    x.max_chars = Some(x.max_chars.map_or(n, |m| m.max(n)));
}

fn int(x: &mut Extent, i: i64) {
    x.min_int = Some(x.min_int.map_or(i, |m| m.min(i)));
    x.max_int = Some(x.max_int.map_or(i, |m| m.max(i)));
}

/// Whether two column lists name the same columns in the same order
/// (SQLite compares names without regard to ASCII case).
fn same_names(a: &[String], b: &[String]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.eq_ignore_ascii_case(y))
}

/// A view's `SELECT`; a view that declares its column names (`CREATE VIEW
/// v (a, b) AS …`) keeps them through a common table expression of the same
/// name, which SQLite, PostgreSQL and MySQL 8 / MariaDB 10.2 all read.
fn view_select(name: &str, v: &parse::CreateView) -> String {
    if v.columns.is_empty() {
        v.select.clone()
    } else {
        format!(
            "WITH {}({}) AS ({}) SELECT * FROM {}",
            quote_ident(name),
            quote_list(&v.columns),
            v.select,
            quote_ident(name)
        )
    }
}

fn index_kind(module: &str) -> &'static str {
    match module {
        "rtree" | "rtree_i32" => "R*Tree spatial index",
        _ => "full-text index",
    }
}

fn recreate_advice(module: &str, name: &str) -> String {
    match module {
        "fts3" | "fts4" | "fts5" => format!(
            "recreate full-text search on the target by hand (PostgreSQL: a tsvector column with a GIN index; MySQL/MariaDB: a FULLTEXT index; SQLite: CREATE VIRTUAL TABLE … USING {module}, filled from the carried rows — under another name than `{name}`)"
        ),
        "rtree" | "rtree_i32" => format!(
            "recreate the spatial index on the target by hand (PostgreSQL: a GiST index; SQLite: CREATE VIRTUAL TABLE … USING {module}, filled from the carried rows — under another name than `{name}`)"
        ),
        _ => format!(
            "recreate it on the target by hand if the application needs it (its SQL: SELECT sql FROM sqlite_master WHERE name = {})",
            sql_literal(name)
        ),
    }
}
