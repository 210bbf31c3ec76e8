//! `ferry schema diff`: the migration that turns a live database's schema
//! into a desired one, written in the live database's dialect from ferry's
//! own schema model.
//!
//! Both sides are introspected into [`TableDef`]s (the desired side may be
//! another database or a json endpoint's `_schema.json`) and compared as
//! the live database would store them: a column's type is the type its
//! dialect declares for it ([`Ddl::type_key`]), so a SQLite `VARCHAR(40)`
//! and a PostgreSQL `character varying(40)` are one type. Compared: tables,
//! columns (type, nullability, portable default, counter), primary keys,
//! unique constraints and indexes (by their columns, not their names),
//! secondary indexes and foreign keys. Views, triggers, routines, CHECK
//! constraints and whatever else a database holds are listed in a comment
//! of the migration as not compared.
//!
//! `up` is planned from live to desired; `down` from the schema `up`
//! leaves (desired, plus what `up` left commented out) back to live.

use std::collections::{HashMap, HashSet};

use super::SchemaError;
use crate::endpoint::sql::alter::{ColumnChange, Ddl};
use crate::endpoint::{self, EndpointUrl};
use crate::model::{ColumnDef, ForeignKeyDef, LogicalType, SqlType, TableDef};

/// What `diff` may do beyond adding.
#[derive(Debug, Clone, Default)]
pub struct DiffOptions {
    /// Tables or columns renamed, `old=new` (`table.old=new` for a column):
    /// without one, a name gone and a name new are a drop and a create.
    pub renames: Vec<(String, String)>,
    /// Write drops and narrowing changes as statements, not comments.
    pub allow_destructive: bool,
}

/// A migration: `up` turns the live schema into the desired one, `down`
/// turns it back; `destructive` lists the steps that lose data.
#[derive(Debug, Clone, Default)]
pub struct Diff {
    pub up: String,
    pub down: String,
    pub destructive: Vec<String>,
    /// Changes found (0: the schemas agree).
    pub changes: usize,
    /// Steps that may fail on the live data (a `NOT NULL` column added
    /// without a default to a table with rows, a column made `NOT NULL`);
    /// also written as comments at the top of `up`.
    pub warnings: Vec<String>,
}

/// Objects listed as not compared in the migration's comment: 50. Past
/// that the comment says how many more; the list is for a reader, and a
/// database with hundreds of routines would bury the migration.
const MAX_LISTED: usize = 50;

/// The migration that turns `live` (a database URL) into `desired` (a
/// database URL, or a `_schema.json`/json endpoint directory), in `live`'s
/// dialect.
pub async fn diff(live: &str, desired: &str, opts: &DiffOptions) -> Result<Diff, SchemaError> {
    let live_url: EndpointUrl = live.parse()?;
    let ddl = Ddl::for_url(&live_url)?;
    let live_src = endpoint::open_source(&live_url).await?;
    let live_all = live_src.tables().await?;
    let live_objects = live_src.objects(&live_all).await?;
    let live_tables = prepare(live_all, ddl.scheme());

    let (desired_url, _tmp) = desired_url(desired)?;
    let desired_src = endpoint::open_source(&desired_url).await?;
    let desired_all = desired_src.tables().await?;
    let desired_objects = desired_src.objects(&desired_all).await?;
    let scheme = endpoint::capabilities(&desired_url).scheme;
    let desired_tables = prepare(desired_all, scheme);

    let renames = Renames::resolve(&opts.renames, &live_tables, &desired_tables)?;
    let up = plan(
        &ddl,
        &live_tables,
        &desired_tables,
        &renames,
        opts.allow_destructive,
    );
    let down = plan(&ddl, &up.after, &live_tables, &renames.inverse(), true);

    let mut warnings = Vec::new();
    let back = renames.inverse();
    for (table, message) in &up.needs_empty {
        let rows = live_src.count(&back.table(table)).await?;
        if rows > 0 {
            warnings.push(format!("{message} ({table} has {rows} rows)"));
        }
    }

    let mut head = String::from("-- written by ferry schema diff\n");
    let mut not_compared: Vec<String> = Vec::new();
    for objects in [&live_objects, &desired_objects] {
        for v in &objects.views {
            not_compared.push(format!("view {}", v.name));
        }
        for n in &objects.not_carried {
            not_compared.push(format!("{} {}", n.kind, n.name));
        }
    }
    for t in live_tables.iter().chain(&desired_tables) {
        for c in &t.checks {
            not_compared.push(format!("check {}.{}", t.name, c.name));
        }
    }
    not_compared.sort();
    not_compared.dedup();
    if !not_compared.is_empty() {
        head.push_str(
            "-- not compared (diff handles tables, columns, keys, indexes and foreign keys):\n",
        );
        for n in not_compared.iter().take(MAX_LISTED) {
            head.push_str(&format!("--   {n}\n"));
        }
        if not_compared.len() > MAX_LISTED {
            head.push_str(&format!(
                "--   … and {} more\n",
                not_compared.len() - MAX_LISTED
            ));
        }
    }
    for w in &warnings {
        head.push_str(&format!("-- warning: {w}\n"));
    }

    Ok(Diff {
        up: format!("{head}{}", render(&up.steps, opts.allow_destructive)),
        down: format!(
            "-- written by ferry schema diff\n{}",
            render(&down.steps, true)
        ),
        destructive: up
            .steps
            .iter()
            .filter(|s| s.destructive)
            .map(|s| s.what.clone())
            .collect(),
        changes: up.changes,
        warnings,
    })
}

/// The desired side as an endpoint URL: a URL as given; a directory
/// holding `_schema.json` as `json:DIR`; a schema file by another name
/// copied into a temporary directory (kept alive by the returned guard).
fn desired_url(desired: &str) -> Result<(EndpointUrl, Option<TempDir>), SchemaError> {
    const SCHEMA_FILE: &str = "_schema.json";
    let schemes = [
        "sqlite:",
        "postgres://",
        "postgresql://",
        "mysql://",
        "mariadb://",
        "json:",
        "files:",
    ];
    if schemes.iter().any(|s| desired.starts_with(s)) {
        let url: EndpointUrl = desired.parse()?;
        if !endpoint::capabilities(&url).source || desired.starts_with("files:") {
            return Err(SchemaError::Refused(format!(
                "{desired} cannot be the desired schema: give a database URL, json:DIR, or a \
                 _schema.json file"
            )));
        }
        return Ok((url, None));
    }
    let path = std::path::Path::new(desired);
    if path.is_dir() {
        if !path.join(SCHEMA_FILE).is_file() {
            return Err(SchemaError::Refused(format!(
                "{desired} holds no {SCHEMA_FILE}: give a json endpoint written by ferry \
                 (ferry migrate --to json:DIR), or a database URL"
            )));
        }
        return Ok((json_url(path)?, None));
    }
    if path.is_file() {
        if path.file_name().is_some_and(|n| n == SCHEMA_FILE) {
            let dir = match path.parent() {
                Some(d) if !d.as_os_str().is_empty() => d,
                _ => std::path::Path::new("."),
            };
            return Ok((json_url(dir)?, None));
        }
        let refused = |e: std::io::Error| {
            SchemaError::Refused(format!("cannot read {desired} as a schema file: {e}"))
        };
        let tmp = TempDir::new().map_err(refused)?;
        std::fs::copy(path, tmp.0.join(SCHEMA_FILE)).map_err(refused)?;
        return Ok((json_url(&tmp.0)?, Some(tmp)));
    }
    Err(SchemaError::Refused(format!(
        "{desired} is neither a database URL (sqlite:PATH, postgres://…, mysql://…), a json \
         endpoint (json:DIR) nor an existing _schema.json file or directory"
    )))
}

/// A directory of its own under the system's temporary directory,
/// removed when dropped: where a schema file named otherwise than
/// `_schema.json` is read from.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new() -> std::io::Result<TempDir> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let dir =
            std::env::temp_dir().join(format!("ferry-schema-diff-{}-{nanos}", std::process::id()));
        std::fs::create_dir(&dir)?;
        Ok(TempDir(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `json:DIR` for a directory.
fn json_url(dir: &std::path::Path) -> Result<EndpointUrl, SchemaError> {
    Ok(format!("json:{}", dir.display()).parse()?)
}

/// A side's tables without ferry's own (`_ferry_*`: the ledger, the
/// quarantine, the schema history), each column's declared type read as
/// its dialect means it when the model does not say already.
fn prepare(tables: Vec<TableDef>, scheme: &str) -> Vec<TableDef> {
    tables
        .into_iter()
        .filter(|t| !t.name.starts_with("_ferry_"))
        .map(|mut t| {
            for c in &mut t.columns {
                if c.sql_type.is_none() {
                    c.sql_type = SqlType::from_declared(&c.declared_type, c.logical_type, scheme);
                }
            }
            t
        })
        .collect()
}

/// Renames asked for, resolved against both sides.
#[derive(Debug, Clone, Default)]
struct Renames {
    /// `(from, to)` table names.
    tables: Vec<(String, String)>,
    /// `(table, from, to)`: the table by its name on the `to` side.
    columns: Vec<(String, String, String)>,
}

impl Renames {
    fn resolve(
        asked: &[(String, String)],
        live: &[TableDef],
        desired: &[TableDef],
    ) -> Result<Renames, SchemaError> {
        let find = |ts: &'_ [TableDef], n: &str| ts.iter().position(|t| t.name == n);
        let mut r = Renames::default();
        let refuse = |old: &str, new: &str, why: String| {
            SchemaError::Refused(format!("--rename {old}={new}: {why}"))
        };
        // Tables first: a column rename may name its table by either name.
        for (old, new) in asked {
            if find(live, old).is_some() || !old.contains('.') {
                if find(live, old).is_none() {
                    return Err(refuse(
                        old,
                        new,
                        format!("the live database has no table `{old}`"),
                    ));
                }
                if find(desired, new).is_none() {
                    return Err(refuse(
                        old,
                        new,
                        format!("the desired schema has no table `{new}`"),
                    ));
                }
                if find(desired, old).is_some() || find(live, new).is_some() {
                    return Err(refuse(
                        old,
                        new,
                        format!(
                            "`{old}` and `{new}` must be a name gone and a name new; both exist on one side"
                        ),
                    ));
                }
                r.tables.push((old.clone(), new.clone()));
            }
        }
        for (old, new) in asked {
            if r.tables.iter().any(|(o, _)| o == old) {
                continue;
            }
            let Some((table, col)) = old.rsplit_once('.') else {
                continue; // refused above
            };
            let (live_name, desired_name) =
                match r.tables.iter().find(|(o, n)| o == table || n == table) {
                    Some((o, n)) => (o.clone(), n.clone()),
                    None => (table.to_string(), table.to_string()),
                };
            let (Some(l), Some(d)) = (find(live, &live_name), find(desired, &desired_name)) else {
                return Err(refuse(
                    old,
                    new,
                    format!(
                        "table `{table}` is not on both sides (rename the table too: --rename OLD=NEW)"
                    ),
                ));
            };
            let has = |t: &TableDef, c: &str| t.columns.iter().any(|x| x.name == c);
            if !has(&live[l], col) || has(&desired[d], col) {
                return Err(refuse(
                    old,
                    new,
                    format!(
                        "column `{col}` must be in the live `{live_name}` and not in the desired `{desired_name}`"
                    ),
                ));
            }
            if !has(&desired[d], new) || has(&live[l], new) {
                return Err(refuse(
                    old,
                    new,
                    format!(
                        "column `{new}` must be in the desired `{desired_name}` and not in the live `{live_name}`"
                    ),
                ));
            }
            r.columns.push((desired_name, col.to_string(), new.clone()));
        }
        Ok(r)
    }

    /// The renames back: `to` → `from`.
    fn inverse(&self) -> Renames {
        let back = |t: &str| {
            self.tables
                .iter()
                .find(|(_, n)| n == t)
                .map_or(t.to_string(), |(o, _)| o.clone())
        };
        Renames {
            tables: self
                .tables
                .iter()
                .map(|(o, n)| (n.clone(), o.clone()))
                .collect(),
            columns: self
                .columns
                .iter()
                .map(|(t, o, n)| (back(t), n.clone(), o.clone()))
                .collect(),
        }
    }

    fn table(&self, from: &str) -> String {
        self.tables
            .iter()
            .find(|(o, _)| o == from)
            .map_or(from.to_string(), |(_, n)| n.clone())
    }

    /// `from`'s tables under their `to` names, renamed columns too (in
    /// keys, indexes and foreign keys as well: the databases carry those
    /// along with a rename).
    fn apply(&self, from: &[TableDef]) -> Vec<TableDef> {
        let col = |table: &str, c: &str| {
            self.columns
                .iter()
                .find(|(t, o, _)| t == table && o == c)
                .map_or(c.to_string(), |(_, _, n)| n.clone())
        };
        let cols =
            |table: &str, cs: &[String]| cs.iter().map(|c| col(table, c)).collect::<Vec<_>>();
        from.iter()
            .map(|t| {
                let mut t = t.clone();
                t.name = self.table(&t.name);
                let n = t.name.clone();
                for c in &mut t.columns {
                    c.name = col(&n, &c.name);
                }
                t.primary_key = cols(&n, &t.primary_key);
                for u in &mut t.unique {
                    u.columns = cols(&n, &u.columns);
                }
                for i in &mut t.indexes {
                    i.columns = cols(&n, &i.columns);
                }
                for f in &mut t.foreign_keys {
                    f.columns = cols(&n, &f.columns);
                    f.ref_table = self.table(&f.ref_table);
                    f.ref_columns = cols(&f.ref_table, &f.ref_columns);
                }
                t
            })
            .collect()
    }
}

/// One change, as the statements that make it.
#[derive(Debug, Clone)]
struct Step {
    /// What it does, as `destructive` and the comments list it.
    what: String,
    sql: Vec<String>,
    /// It loses data (a drop, a narrowing type change).
    destructive: bool,
}

/// A planned migration.
#[derive(Debug, Default)]
struct Plan {
    steps: Vec<Step>,
    changes: usize,
    /// The schema after the steps that run (destructive ones left
    /// commented out are not run): where `down` starts.
    after: Vec<TableDef>,
    /// `(table, message)`: steps that fail when the table has rows.
    needs_empty: Vec<(String, String)>,
}

/// The phases of a migration, in the order they run.
#[derive(Default)]
struct Phases {
    renames: Vec<Step>,
    drop_fks: Vec<Step>,
    drop_keys: Vec<Step>,
    drop_tables: Vec<Step>,
    create_tables: Vec<Step>,
    columns: Vec<Step>,
    add_keys: Vec<Step>,
    add_fks: Vec<Step>,
}

fn step(what: String, sql: Vec<String>) -> Step {
    Step {
        what,
        sql,
        destructive: false,
    }
}

/// A foreign key as compared: columns, parent, actions (`RESTRICT` is
/// `NO ACTION`: MariaDB reports the one for the other).
fn fk_key(f: &ForeignKeyDef) -> (Vec<String>, String, Vec<String>, String, String) {
    let action = |a: &str| {
        let a = a.trim().to_ascii_uppercase();
        if a.is_empty() || a == "RESTRICT" {
            "NO ACTION".to_string()
        } else {
            a
        }
    };
    (
        f.columns.clone(),
        f.ref_table.clone(),
        f.ref_columns.clone(),
        action(&f.on_delete),
        action(&f.on_update),
    )
}

/// A unique key or index of a table: `(name, columns, is a constraint)`.
fn uniques(t: &TableDef) -> Vec<(String, Vec<String>, bool)> {
    t.unique
        .iter()
        .map(|u| (u.name.clone(), u.columns.clone(), true))
        .chain(
            t.indexes
                .iter()
                .filter(|i| i.unique)
                .map(|i| (i.name.clone(), i.columns.clone(), false)),
        )
        .collect()
}

/// Whether changing `from` into `to` can lose values: a smaller integer,
/// float, length or precision, or another logical type that does not hold
/// every value of the first (anything fits text).
fn narrowing(from: &ColumnDef, to: &ColumnDef) -> bool {
    use LogicalType as L;
    use SqlType as S;
    if from.logical_type != to.logical_type {
        return !matches!(
            (from.logical_type, to.logical_type),
            (_, L::Text)
                | (L::Boolean, L::Int64 | L::Decimal)
                | (L::Int64, L::Decimal)
                | (L::Date, L::Timestamp | L::Timestamptz)
                | (L::Timestamp, L::Timestamptz)
        );
    }
    let int_rank = |t: Option<S>| match t {
        Some(S::SmallInt) => 0,
        Some(S::Integer) => 1,
        _ => 2,
    };
    match (from.sql_type, to.sql_type) {
        (a, b) if a == b => false,
        (_, None) => false,
        (None, Some(_)) => true,
        (a @ Some(S::SmallInt | S::Integer), b @ Some(S::SmallInt | S::Integer)) => {
            int_rank(b) < int_rank(a)
        }
        (
            Some(S::Varchar { length: a } | S::Char { length: a }),
            Some(S::Varchar { length: b }),
        ) => b < a,
        (
            Some(S::Numeric {
                precision: p,
                scale: s,
            }),
            Some(S::Numeric {
                precision: p2,
                scale: s2,
            }),
        ) => s2 < s || p2.saturating_sub(s2) < p.saturating_sub(s),
        _ => true,
    }
}

/// The plan from `from` to `to` (both as introspected; `renames` map
/// `from`'s names to `to`'s). Destructive steps are planned either way;
/// without `allow` they do not run, and `after` keeps what they would have
/// removed.
fn plan(ddl: &Ddl, from: &[TableDef], to: &[TableDef], renames: &Renames, allow: bool) -> Plan {
    let mut ph = Phases::default();
    let mut p = Plan::default();
    for (o, n) in &renames.tables {
        ph.renames.push(step(
            format!("rename table {o} to {n}"),
            vec![ddl.rename_table(o, n)],
        ));
    }
    for (t, o, n) in &renames.columns {
        ph.renames.push(step(
            format!("rename column {t}.{o} to {n}"),
            vec![ddl.rename_column(t, o, n)],
        ));
    }
    let from = renames.apply(from);
    let by_name = |ts: &[TableDef]| -> HashMap<String, usize> {
        ts.iter()
            .enumerate()
            .map(|(i, t)| (t.name.clone(), i))
            .collect()
    };
    let (fi, ti) = (by_name(&from), by_name(to));

    // Tables gone: children first.
    let gone: Vec<TableDef> = from
        .iter()
        .filter(|t| !ti.contains_key(&t.name))
        .cloned()
        .collect();
    let (order, _) = crate::model::dependency_order(&gone);
    for &i in order.iter().rev() {
        let t = &gone[i];
        ph.drop_tables.push(Step {
            what: format!("drop table {}", t.name),
            sql: vec![ddl.drop_table(&t.name)],
            destructive: true,
        });
        if !allow {
            p.after.push(t.clone());
        }
    }

    // Tables new: parents first.
    let new: Vec<&TableDef> = to.iter().filter(|t| !fi.contains_key(&t.name)).collect();
    let new_defs: Vec<TableDef> = new.iter().map(|t| (*t).clone()).collect();
    let (order, _) = crate::model::dependency_order(&new_defs);
    for &i in &order {
        let t = &new_defs[i];
        let mut sql = vec![ddl.create_table(t, &t.name)];
        for ix in &t.indexes {
            sql.push(ddl.create_index(&t.name, &ix.name, &ix.columns, ix.unique));
        }
        ph.create_tables
            .push(step(format!("create table {}", t.name), sql));
        for fk in &t.foreign_keys {
            if let Some(s) = ddl.add_foreign_key(&t.name, fk) {
                ph.add_fks.push(step(
                    format!("add foreign key {}.{}", t.name, fk.name),
                    vec![s],
                ));
            }
        }
        let mut after = t.clone();
        // What the live database will report: no CHECKs (not created).
        if !ddl.rebuilds() {
            after.checks.clear();
        }
        p.after.push(after);
    }

    // Tables on both sides.
    for t in to.iter().filter(|t| fi.contains_key(&t.name)) {
        let f = &from[fi[&t.name]];
        let after = table_plan(ddl, f, t, allow, &mut ph, &mut p);
        p.after.push(after);
    }

    let all = [
        ph.renames,
        ph.drop_fks,
        ph.drop_keys,
        ph.drop_tables,
        ph.create_tables,
        ph.columns,
        ph.add_keys,
        ph.add_fks,
    ];
    for s in all.into_iter().flatten() {
        // A SQLite rebuild counts each change it makes.
        p.changes += s.what.matches("; ").count() + 1;
        p.steps.push(s);
    }
    p
}

/// One table's changes from `f` to `t` (same name) into `ph`; returns the
/// table as it is after the steps that run.
fn table_plan(
    ddl: &Ddl,
    f: &TableDef,
    t: &TableDef,
    allow: bool,
    ph: &mut Phases,
    p: &mut Plan,
) -> TableDef {
    let name = &t.name;
    // The table after: `t`, keeping what destructive steps would remove
    // when they do not run.
    let mut after = t.clone();
    after.checks = f.checks.clone();
    let mut destructive: Vec<Step> = Vec::new();
    for fc in &f.columns {
        match t.columns.iter().position(|c| c.name == fc.name) {
            None => {
                let sql = ddl
                    .drop_column(f, &fc.name)
                    .map(|s| vec![s])
                    .unwrap_or_else(|| vec![format!("-- (SQLite rebuilds {name} without it)")]);
                destructive.push(Step {
                    what: format!("drop column {name}.{}", fc.name),
                    sql,
                    destructive: true,
                });
                if !allow {
                    after.columns.push(fc.clone());
                }
            }
            Some(i) => {
                let tc = &t.columns[i];
                if ddl.type_key(f, fc) != ddl.type_key(t, tc) && narrowing(fc, tc) {
                    let what = format!(
                        "narrow {name}.{} from {} to {}",
                        fc.name,
                        ddl.column_type(f, fc),
                        ddl.column_type(t, tc)
                    );
                    let sql = ddl
                        .alter_column(t, fc, tc, change(ddl, f, fc, t, tc))
                        .unwrap_or_else(|| vec![format!("-- (SQLite rebuilds {name})")]);
                    destructive.push(Step {
                        what,
                        sql,
                        destructive: true,
                    });
                    if !allow {
                        after.columns[i] = fc.clone();
                    }
                }
            }
        }
    }
    // What runs: from `f` to `after`.
    let mut reasons: Vec<String> = Vec::new();
    let mut rebuild = false;
    let mut columns: Vec<Step> = Vec::new();
    for ac in &after.columns {
        match f.columns.iter().find(|c| c.name == ac.name) {
            None => {
                let what = format!("add column {name}.{}", ac.name);
                if !Ddl::nullable(&after, ac) && ddl.default_sql(ac).is_none() && !ac.identity {
                    p.needs_empty.push((
                        name.clone(),
                        format!("{what} is NOT NULL without a default: it fails on a table with rows; give it a default, or add it nullable, fill it, then make it NOT NULL"),
                    ));
                }
                match ddl.add_column(&after, ac) {
                    Some(s) => columns.push(step(what, vec![s])),
                    None => {
                        rebuild = true;
                        reasons.push(what);
                    }
                }
            }
            Some(fc) => {
                let ch = change(ddl, f, fc, &after, ac);
                if ch == ColumnChange::default() {
                    continue;
                }
                let what = format!("alter column {name}.{}", ac.name);
                if ch.nullable && !Ddl::nullable(&after, ac) {
                    p.needs_empty.push((
                        name.clone(),
                        format!("{what} makes it NOT NULL: rows holding NULL there make it fail; fill them first"),
                    ));
                }
                // Narrowing changes that run are listed as destructive.
                let narrow = ch.ty && narrowing(fc, ac);
                match ddl.alter_column(&after, fc, ac, ch) {
                    Some(sql) => columns.push(Step {
                        what,
                        sql,
                        destructive: narrow,
                    }),
                    None => {
                        rebuild = true;
                        reasons.push(what);
                    }
                }
            }
        }
    }
    // Dropped columns that run.
    if allow {
        for d in destructive
            .iter()
            .filter(|s| s.what.starts_with("drop column"))
        {
            if d.sql.iter().all(|s| s.starts_with("--")) {
                rebuild = true;
                reasons.push(d.what.clone());
            } else {
                columns.push(d.clone());
            }
        }
    }

    // Keys, indexes, foreign keys: compared by their columns.
    let mut drop_keys: Vec<Step> = Vec::new();
    let mut add_keys: Vec<Step> = Vec::new();
    if f.primary_key != after.primary_key {
        let what = format!("change primary key of {name}");
        let drop = if f.primary_key.is_empty() {
            Some(None)
        } else {
            ddl.drop_primary_key(name).map(Some)
        };
        let add = if after.primary_key.is_empty() {
            Some(None)
        } else {
            ddl.add_primary_key(name, &after.primary_key).map(Some)
        };
        match (drop, add) {
            (Some(d), Some(a)) => {
                if let Some(d) = d {
                    drop_keys.push(step(format!("drop primary key of {name}"), vec![d]));
                }
                if let Some(a) = a {
                    add_keys.push(step(what, vec![a]));
                }
            }
            _ => {
                rebuild = true;
                reasons.push(what);
            }
        }
    }
    let (fu, au) = (uniques(f), uniques(&after));
    for (n, cols, constraint) in &fu {
        if au.iter().any(|(_, c, _)| c == cols) {
            continue;
        }
        let what = format!("drop unique {name}.{n}");
        let sql = if *constraint {
            ddl.drop_unique(name, n)
        } else {
            Some(ddl.drop_index(name, n))
        };
        match sql {
            Some(s) => drop_keys.push(step(what, vec![s])),
            None => {
                rebuild = true;
                reasons.push(what);
            }
        }
    }
    for (n, cols, constraint) in &au {
        if fu.iter().any(|(_, c, _)| c == cols) {
            continue;
        }
        let sql = if *constraint {
            ddl.add_unique(name, n, cols)
        } else {
            ddl.create_index(name, n, cols, true)
        };
        add_keys.push(step(format!("add unique {name}.{n}"), vec![sql]));
    }
    let plain = |t: &TableDef| -> Vec<(String, Vec<String>)> {
        t.indexes
            .iter()
            .filter(|i| !i.unique)
            .map(|i| (i.name.clone(), i.columns.clone()))
            .collect()
    };
    let (fi, ai) = (plain(f), plain(&after));
    for (n, cols) in &fi {
        if !ai.iter().any(|(_, c)| c == cols) {
            drop_keys.push(step(
                format!("drop index {name}.{n}"),
                vec![ddl.drop_index(name, n)],
            ));
        }
    }
    for (n, cols) in &ai {
        if !fi.iter().any(|(_, c)| c == cols) {
            add_keys.push(step(
                format!("create index {name}.{n}"),
                vec![ddl.create_index(name, n, cols, false)],
            ));
        }
    }
    let mut drop_fks: Vec<Step> = Vec::new();
    let mut add_fks: Vec<Step> = Vec::new();
    let seen: HashSet<_> = after.foreign_keys.iter().map(fk_key).collect();
    for fk in f.foreign_keys.iter().filter(|k| !seen.contains(&fk_key(k))) {
        let what = format!("drop foreign key {name}.{}", fk.name);
        match ddl.drop_foreign_key(name, &fk.name) {
            Some(s) => drop_fks.push(step(what, vec![s])),
            None => {
                rebuild = true;
                reasons.push(what);
            }
        }
    }
    let had: HashSet<_> = f.foreign_keys.iter().map(fk_key).collect();
    for fk in after
        .foreign_keys
        .iter()
        .filter(|k| !had.contains(&fk_key(k)))
    {
        let what = format!("add foreign key {name}.{}", fk.name);
        match ddl.add_foreign_key(name, fk) {
            Some(s) => add_fks.push(step(what, vec![s])),
            None => {
                rebuild = true;
                reasons.push(what);
            }
        }
    }

    if rebuild {
        // Every change of the table in one rebuild (SQLite).
        for s in columns
            .iter()
            .chain(&drop_keys)
            .chain(&add_keys)
            .chain(&drop_fks)
            .chain(&add_fks)
        {
            if !reasons.contains(&s.what) {
                reasons.push(s.what.clone());
            }
        }
        let copy: Vec<String> = after
            .columns
            .iter()
            .filter(|c| f.columns.iter().any(|x| x.name == c.name))
            .map(|c| c.name.clone())
            .collect();
        let lossy = allow
            && destructive
                .iter()
                .any(|d| d.what.starts_with("drop column"))
            || columns.iter().any(|s| s.destructive);
        ph.columns.push(Step {
            what: format!("rebuild {name}: {}", reasons.join("; ")),
            sql: ddl.rebuild_table(&after, &copy),
            destructive: lossy,
        });
    } else {
        ph.drop_keys.extend(drop_keys);
        ph.columns.extend(columns);
        ph.add_keys.extend(add_keys);
        ph.drop_fks.extend(drop_fks);
        ph.add_fks.extend(add_fks);
    }
    // Destructive steps that do not run, as comments.
    if !allow {
        ph.columns.extend(destructive);
    }
    after
}

/// What differs between column `fc` of `f` and `tc` of `t`.
fn change(ddl: &Ddl, f: &TableDef, fc: &ColumnDef, t: &TableDef, tc: &ColumnDef) -> ColumnChange {
    ColumnChange {
        ty: ddl.type_key(f, fc) != ddl.type_key(t, tc),
        nullable: Ddl::nullable(f, fc) != Ddl::nullable(t, tc),
        default: ddl.default_key(fc) != ddl.default_key(tc),
        identity: fc.identity != tc.identity,
    }
}

/// The steps as SQL: each statement ended by `;` on a line; a destructive
/// step that may not run as comments (`-- destructive, commented out:`).
fn render(steps: &[Step], allow: bool) -> String {
    let mut out = String::new();
    for s in steps {
        out.push_str(&format!("\n-- {}\n", s.what));
        let commented = s.destructive && !allow;
        if s.destructive && allow {
            out.push_str("-- destructive: loses data\n");
        }
        for sql in &s.sql {
            if sql.starts_with("--") {
                out.push_str(&format!("{sql}\n"));
            } else if commented {
                for (i, line) in sql.lines().enumerate() {
                    if i == 0 {
                        out.push_str(&format!("-- destructive, commented out: {line}\n"));
                    } else {
                        out.push_str(&format!("--   {line}\n"));
                    }
                }
            } else {
                out.push_str(&format!("{sql};\n"));
            }
        }
    }
    out
}
