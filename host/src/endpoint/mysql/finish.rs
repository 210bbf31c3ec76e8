//! After the load: unique keys, indexes, CHECK constraints and foreign
//! keys, violating rows moved to quarantine first, one `ALTER TABLE` per
//! table for each kind.
//!
//! The primary key (and AUTO_INCREMENT) is declared with the table (see
//! `prepare`). What follows the load is built in as few statements as
//! MySQL allows, because each `ALTER TABLE` is a pass over the table and
//! some are a full copy of it:
//!
//! - every unique key, index and CHECK of a table in **one** `ALTER` (MySQL
//!   and MariaDB build all its indexes in one pass; a CHECK makes it a
//!   table copy, which then builds the indexes on the way), tables side by
//!   side on [`FINISH_SESSIONS`] sessions. When the server
//!   refuses it — a duplicate, a row failing a check, an expression it
//!   cannot take — each is built alone instead, the violating rows moved
//!   to quarantine first ([`MysqlSink::finish_one_by_one`]);
//! - foreign keys: ferry's own orphan check moves every orphan to
//!   quarantine, then all of a table's foreign keys are added in **one**
//!   `ALTER` with `foreign_key_checks = 0`, tables side by side again.
//!   With the checks on, InnoDB copies the whole table for each foreign
//!   key it adds (ALGORITHM=COPY, which is what made finishing slow); off,
//!   it adds them in place.
//!
//! Every name that exists already (a resumed run built it) is skipped, so
//! finishing again after a crash completes what is missing.

use super::*;
use crate::endpoint::sql::{quote_ident, quote_list};
use crate::endpoint::{EndpointError, MovedRows, REJECTS_TABLE, TargetTable};
use crate::model::{ColumnDef, ForeignKeyDef, LogicalType};
use mysql_async::prelude::*;
use std::collections::HashSet;

/// Sessions that build tables' keys, indexes and foreign keys side by
/// side: 4. An in-place index build ends by writing its new pages to disk,
/// so on small tables it waits on the disk far more than it computes;
/// measured on MariaDB 10.11 with 16 tables of 3,125 rows (a unique key
/// and 3 indexes each): 1.5–2.3 s one table after the other, 0.90–0.96 s
/// on 2 sessions, 0.85–0.86 s on 4; their 29 foreign keys: 1.1–1.3 s one
/// table after the other, 0.37–0.6 s on 4. Each is a connection to the
/// server for the length of `finish` only.
const FINISH_SESSIONS: usize = 4;

/// What [`MysqlSink::side_by_side`] does to each table.
#[derive(Clone, Copy)]
enum Phase {
    /// Unique keys, indexes, CHECKs ([`MysqlSink::finish_keys`]).
    Keys,
    /// Foreign keys, orphans already moved ([`MysqlSink::add_foreign_keys`]).
    ForeignKeys,
}

/// One thing built after the load, by its name in the target.
enum Build<'a> {
    Unique(&'a str, &'a [String]),
    Index(&'a str, &'a [String], bool),
    Check(&'a str, &'a str),
}

impl Build<'_> {
    /// As the report lists it.
    fn describe(&self) -> String {
        match self {
            Build::Unique(n, _) => format!("unique {n}"),
            Build::Index(n, ..) => format!("index {n}"),
            Build::Check(n, _) => format!("check {n}"),
        }
    }

    /// Its clause of an `ALTER TABLE`.
    fn clause(&self) -> String {
        match self {
            Build::Unique(n, cols) => format!(
                "ADD CONSTRAINT {} UNIQUE ({})",
                quote_ident(&short_name(n)),
                quote_list(cols)
            ),
            Build::Index(n, cols, unique) => format!(
                "ADD {}INDEX {} ({})",
                if *unique { "UNIQUE " } else { "" },
                quote_ident(&short_name(n)),
                quote_list(cols)
            ),
            Build::Check(n, expr) => format!(
                "ADD CONSTRAINT {} CHECK ({expr})",
                quote_ident(&short_name(n))
            ),
        }
    }
}

/// The names a table has already: indexes (unique keys are indexes too),
/// CHECK constraints and foreign keys, as `(table, name)`.
#[derive(Default)]
pub(super) struct Existing {
    indexes: HashSet<(String, String)>,
    checks: HashSet<(String, String)>,
    foreign_keys: HashSet<(String, String)>,
}

/// A table's foreign keys that do not exist yet.
fn foreign_keys_to_build<'t>(t: &'t TargetTable, existing: &Existing) -> Vec<&'t ForeignKeyDef> {
    t.def
        .foreign_keys
        .iter()
        .filter(|fk| {
            !existing
                .foreign_keys
                .contains(&(t.def.name.clone(), short_name(&fk.name)))
        })
        .collect()
}

/// What `finish` has done so far.
#[derive(Default)]
struct Done {
    created: Vec<String>,
    warnings: Vec<String>,
    moved: MovedRows,
}

impl Done {
    fn absorb(&mut self, other: Done) {
        self.created.extend(other.created);
        self.warnings.extend(other.warnings);
        for (table, n) in other.moved.into_vec() {
            self.moved.add(&table, n);
        }
    }

    fn built(&mut self, what: String) {
        self.created.push(what);
        crate::failpoint::hit("constraint");
    }
}

/// Whether a failed `ALTER` is the table's problem (data, an expression,
/// a name) rather than the connection's: the server answered, and a retry
/// would not get past it.
fn refused_by_server(e: &mysql_async::Error) -> bool {
    matches!(e, mysql_async::Error::Server(_)) && !my_transient(e)
}

impl MysqlSink {
    /// After the load: unique constraints, indexes and CHECKs, then foreign
    /// keys, tables in dependency order (the primary keys exist since
    /// `prepare`). Rows that would break a unique key, a check or a foreign
    /// key are moved to `_ferry_rejects` first (each move in one
    /// transaction with its delete), so every constraint is created as
    /// declared; a CHECK the server cannot take is a warning.
    pub async fn finish(
        &mut self,
        run_id: &str,
        tables: &[TargetTable],
    ) -> Result<crate::endpoint::Finished, EndpointError> {
        let existing = self.existing_names().await?;
        let wanted = tables.len().min(FINISH_SESSIONS).saturating_sub(1);
        let mut extra = Vec::with_capacity(wanted);
        for _ in 0..wanted {
            extra.push(MysqlSink::connect(&self.url).await?);
        }
        let result = self
            .finish_with(run_id, tables, &existing, &mut extra)
            .await;
        for s in extra {
            let _ = s.conn.disconnect().await;
        }
        let done = result?;
        Ok(crate::endpoint::Finished {
            created: done.created,
            warnings: done.warnings,
            quarantined: done.moved.into_vec(),
        })
    }

    /// The keys phase on every table side by side, the orphans moved (on
    /// this session, tables in dependency order), then the foreign keys
    /// side by side.
    async fn finish_with(
        &mut self,
        run_id: &str,
        tables: &[TargetTable],
        existing: &Existing,
        extra: &mut [MysqlSink],
    ) -> Result<Done, EndpointError> {
        let mut done = Done::default();
        let keys = self
            .side_by_side(Phase::Keys, run_id, tables, existing, extra)
            .await?;
        for (i, keys) in keys {
            let t = &tables[i];
            if !t.def.primary_key.is_empty() {
                done.created.push(format!("primary key {}", t.def.name));
            }
            done.absorb(keys);
        }
        self.move_all_orphans(run_id, tables, existing, &mut done)
            .await?;
        let fks = self
            .side_by_side(Phase::ForeignKeys, run_id, tables, existing, extra)
            .await?;
        for (_, f) in fks {
            done.absorb(f);
        }
        Ok(done)
    }

    /// `phase` for every table, on this session and the `extra` ones, each
    /// taking the next table until none is left. Returns what each table
    /// got, in table order; a failure is reported once every session has
    /// finished the table it was on (none is left mid-statement).
    async fn side_by_side(
        &mut self,
        phase: Phase,
        run_id: &str,
        tables: &[TargetTable],
        existing: &Existing,
        extra: &mut [MysqlSink],
    ) -> Result<Vec<(usize, Done)>, EndpointError> {
        use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
        let next = AtomicUsize::new(0);
        let failed = AtomicBool::new(false);
        let workers = std::iter::once(self).chain(extra.iter_mut()).map(|sink| {
            let (next, failed) = (&next, &failed);
            async move {
                let mut out = Vec::new();
                while !failed.load(Ordering::SeqCst) {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(t) = tables.get(i) else { break };
                    let mut done = Done::default();
                    let r = match phase {
                        Phase::Keys => sink.finish_keys(run_id, t, existing, &mut done).await,
                        Phase::ForeignKeys => sink.add_foreign_keys(t, existing, &mut done).await,
                    };
                    if let Err(e) = r {
                        failed.store(true, Ordering::SeqCst);
                        return Err(e);
                    }
                    out.push((i, done));
                }
                Ok(out)
            }
        });
        let results = futures_util::future::join_all(workers).await;
        let mut all = Vec::new();
        for r in results {
            all.extend(r?);
        }
        all.sort_by_key(|(i, _)| *i);
        Ok(all)
    }

    /// Every index, CHECK and foreign key name of the database, in two
    /// catalog queries.
    async fn existing_names(&mut self) -> Result<Existing, EndpointError> {
        let e = |s: &Self, x: mysql_async::Error| my_error(&s.name, None, &x, "");
        let mut out = Existing::default();
        let rows: Vec<(String, String)> = match self
            .conn
            .query(
                "SELECT TABLE_NAME, INDEX_NAME FROM information_schema.STATISTICS \
                 WHERE TABLE_SCHEMA = DATABASE()",
            )
            .await
        {
            Ok(r) => r,
            Err(x) => return Err(e(self, x)),
        };
        out.indexes.extend(rows);
        // CHECK constraints are listed here by MariaDB ≥ 10.2 and MySQL ≥ 8.0.16.
        let rows: Vec<(String, String, String)> = match self
            .conn
            .query(
                "SELECT TABLE_NAME, CONSTRAINT_NAME, CONSTRAINT_TYPE FROM information_schema.TABLE_CONSTRAINTS \
                 WHERE CONSTRAINT_SCHEMA = DATABASE() AND CONSTRAINT_TYPE IN ('CHECK', 'FOREIGN KEY')",
            )
            .await
        {
            Ok(r) => r,
            Err(x) => return Err(e(self, x)),
        };
        for (t, n, kind) in rows {
            if kind == "CHECK" {
                out.checks.insert((t, n));
            } else {
                out.foreign_keys.insert((t, n));
            }
        }
        Ok(out)
    }

    /// A table's unique keys, indexes and CHECKs: in one `ALTER`, or one
    /// by one when the server refuses that.
    async fn finish_keys(
        &mut self,
        run_id: &str,
        t: &TargetTable,
        existing: &Existing,
        done: &mut Done,
    ) -> Result<(), EndpointError> {
        let has = |set: &HashSet<(String, String)>, n: &str| {
            set.contains(&(t.def.name.clone(), short_name(n)))
        };
        let mut builds = Vec::new();
        for u in &t.def.unique {
            builds.push(Build::Unique(&u.name, &u.columns));
        }
        for i in &t.def.indexes {
            builds.push(Build::Index(&i.name, &i.columns, i.unique));
        }
        for c in &t.def.checks {
            builds.push(Build::Check(&c.name, &c.expression));
        }
        let (built, todo): (Vec<Build>, Vec<Build>) = builds.into_iter().partition(|b| match b {
            Build::Unique(n, _) | Build::Index(n, ..) => has(&existing.indexes, n),
            Build::Check(n, _) => has(&existing.checks, n),
        });
        for b in built {
            done.built(b.describe());
        }
        if todo.is_empty() {
            return Ok(());
        }
        let clauses: Vec<String> = todo.iter().map(Build::clause).collect();
        let alter = format!(
            "ALTER TABLE {} {}",
            quote_ident(&t.def.name),
            clauses.join(", ")
        );
        match self.conn.query_drop(alter.as_str()).await {
            Ok(()) => {
                for b in &todo {
                    done.built(b.describe());
                }
                Ok(())
            }
            Err(e) if refused_by_server(&e) => {
                tracing::debug!(
                    table = t.def.name,
                    error = my_message(&e),
                    "one ALTER refused; building each constraint alone"
                );
                self.finish_one_by_one(run_id, t, &todo, done).await
            }
            Err(e) => Err(my_error(&self.name, Some(&t.def.name), &e, &alter)),
        }
    }

    /// Each of `builds` alone, the rows that violate it moved to quarantine
    /// when the server refuses it for them: a duplicate (the row with the
    /// lower primary key stays; without a primary key the unique key
    /// becomes a plain index, with a warning), a row whose CHECK expression
    /// is false (`check`). A CHECK the server cannot take (an expression it
    /// does not know, a name MySQL 8 already has in the schema) is a
    /// warning, never the run's failure.
    async fn finish_one_by_one(
        &mut self,
        run_id: &str,
        t: &TargetTable,
        builds: &[Build<'_>],
        done: &mut Done,
    ) -> Result<(), EndpointError> {
        let tn = quote_ident(&t.def.name);
        for b in builds {
            let create = format!("ALTER TABLE {tn} {}", b.clause());
            if let Build::Check(name, expr) = b {
                // Tried first, so rows are only quarantined for a check the
                // target can hold; refused for rows that break it (MariaDB
                // 4025, MySQL 3819), they move and it is tried again.
                let mut result = self.conn.query_drop(create.as_str()).await;
                if matches!(&result, Err(e) if matches!(server_code(e), Some(4025 | 3819))) {
                    let n = self.move_check_violations(run_id, t, name, expr).await?;
                    done.moved.add(&t.source.name, n);
                    result = self.conn.query_drop(create.as_str()).await;
                }
                match result {
                    Ok(()) => done.built(b.describe()),
                    Err(e) if refused_by_server(&e) => done.warnings.push(format!(
                        "table `{}`: check {name} ({expr}) was not created: {}",
                        t.def.name,
                        my_message(&e)
                    )),
                    Err(e) => return Err(my_error(&self.name, Some(&t.def.name), &e, &create)),
                }
                continue;
            }
            let (name, cols, unique) = match b {
                Build::Unique(n, c) => (*n, *c, true),
                Build::Index(n, c, u) => (*n, *c, *u),
                Build::Check(..) => continue,
            };
            let what = if matches!(b, Build::Unique(..)) {
                "unique"
            } else {
                "index"
            };
            match self.conn.query_drop(create.as_str()).await {
                Ok(()) => {}
                // 1061: a key by that name exists — a resumed run built it.
                Err(e) if server_code(&e) == Some(1061) => {}
                Err(e) if unique && server_code(&e) == Some(1062) => {
                    let iname = short_name(name);
                    if t.def.primary_key.is_empty() {
                        // Without a primary key there is no "first loaded
                        // row" to keep: index without uniqueness.
                        self.exec_sql(
                            Some(&t.def.name),
                            &format!(
                                "CREATE INDEX {} ON {tn} ({})",
                                quote_ident(&iname),
                                quote_list(cols)
                            ),
                        )
                        .await?;
                        done.warnings.push(format!(
                            "table `{}`: duplicate values in ({}) and no primary key to tell the first row, so {what} {name} was created as a non-unique index",
                            t.def.name,
                            cols.join(", ")
                        ));
                        done.built(format!("index {name} (not unique)"));
                        continue;
                    }
                    let n = self.move_duplicates(run_id, t, name, cols).await?;
                    done.moved.add(&t.source.name, n);
                    self.exec_sql(Some(&t.def.name), &create).await?;
                }
                Err(e) => {
                    return Err(my_error(&self.name, Some(&t.def.name), &e, &create));
                }
            }
            done.built(b.describe());
        }
        Ok(())
    }

    /// Orphans moved to quarantine until none is left: moving a row can
    /// orphan its children, or, through a cycle or a self reference, rows
    /// already checked. Every move happens before any foreign key is built,
    /// so no `ON DELETE CASCADE` can take a row along unseen.
    async fn move_all_orphans(
        &mut self,
        run_id: &str,
        tables: &[TargetTable],
        existing: &Existing,
        done: &mut Done,
    ) -> Result<(), EndpointError> {
        // Pass one checks every key; a later pass only the keys whose parent
        // lost rows in the pass before (tables are in dependency order, so
        // only cycles and self references need one).
        let mut changed: Option<HashSet<String>> = None;
        loop {
            let mut moved_now = HashSet::new();
            for t in tables {
                for fk in foreign_keys_to_build(t, existing) {
                    if changed.as_ref().is_some_and(|c| !c.contains(&fk.ref_table)) {
                        continue;
                    }
                    let n = self.move_orphans(run_id, t, fk).await?;
                    done.moved.add(&t.source.name, n);
                    if n > 0 {
                        moved_now.insert(t.def.name.clone());
                    }
                }
            }
            if moved_now.is_empty() {
                return Ok(());
            }
            changed = Some(moved_now);
        }
    }

    /// All of a table's foreign keys in one `ALTER`, its orphans moved
    /// already ([`MysqlSink::move_all_orphans`]).
    async fn add_foreign_keys(
        &mut self,
        t: &TargetTable,
        existing: &Existing,
        done: &mut Done,
    ) -> Result<(), EndpointError> {
        for fk in &t.def.foreign_keys {
            if existing
                .foreign_keys
                .contains(&(t.def.name.clone(), short_name(&fk.name)))
            {
                done.built(format!("foreign key {}", fk.name));
            }
        }
        let fks = foreign_keys_to_build(t, existing);
        if fks.is_empty() {
            return Ok(());
        }
        let mut clauses = Vec::new();
        for fk in &fks {
            let mut action = |a: &str| {
                let a = a.trim().to_ascii_uppercase();
                match a.as_str() {
                    "CASCADE" | "SET NULL" | "RESTRICT" | "NO ACTION" => a,
                    _ => {
                        done.warnings.push(format!(
                            "table `{}`: foreign key {}: `{a}` is not supported by InnoDB; created with NO ACTION",
                            t.def.name, fk.name
                        ));
                        "NO ACTION".into()
                    }
                }
            };
            let on_delete = action(&fk.on_delete);
            let on_update = action(&fk.on_update);
            clauses.push(format!(
                "ADD CONSTRAINT {} FOREIGN KEY ({}) REFERENCES {} ({}) ON DELETE {on_delete} ON UPDATE {on_update}",
                quote_ident(&short_name(&fk.name)),
                quote_list(&fk.columns),
                quote_ident(&fk.ref_table),
                quote_list(&fk.ref_columns),
            ));
        }
        let add = format!(
            "ALTER TABLE {} {}",
            quote_ident(&t.def.name),
            clauses.join(", ")
        );
        // foreign_key_checks = 0 for this statement only: ferry has just
        // proven every key (no orphan is left, and nothing else writes the
        // tables during a run), and with the checks on InnoDB would copy the
        // table to prove it again. The session setting is restored whatever
        // the ALTER's outcome.
        self.exec_sql(Some(&t.def.name), "SET SESSION foreign_key_checks = 0")
            .await?;
        let mut result = self.conn.query_drop(add.as_str()).await;
        // Two sessions adding keys to tables that reference each other's
        // can deadlock on metadata locks; the server refuses one (1213),
        // which is tried again once the other is through.
        for wait_ms in [50, 200, 1000] {
            match &result {
                Err(e) if server_code(e) == Some(1213) => {
                    tokio::time::sleep(std::time::Duration::from_millis(wait_ms)).await;
                    result = self.conn.query_drop(add.as_str()).await;
                }
                _ => break,
            }
        }
        self.exec_sql(Some(&t.def.name), "SET SESSION foreign_key_checks = 1")
            .await?;
        match result {
            Ok(()) => {}
            // A key by that name exists (a resumed run built it).
            Err(e) if matches!(server_code(&e), Some(1826) | Some(1022)) => {}
            Err(e) => return Err(my_error(&self.name, Some(&t.def.name), &e, &add)),
        }
        for fk in fks {
            done.built(format!("foreign key {}", fk.name));
        }
        Ok(())
    }

    /// Moves every row for which CHECK `expr` is false (not unknown: a
    /// NULL passes a check) to the rejects table; returns how many moved.
    pub(super) async fn move_check_violations(
        &mut self,
        run_id: &str,
        t: &TargetTable,
        name: &str,
        expr: &str,
    ) -> Result<u64, EndpointError> {
        let (row, key) = self.row_exprs(t, "a");
        let reason = lit(&format!(
            "check {name}: the row does not satisfy ({expr}); the source did not enforce it"
        ));
        self.move_rows(
            run_id,
            t,
            None,
            "check",
            &reason,
            &row,
            &key,
            &format!("NOT ({expr})"),
        )
        .await
    }

    /// The SQL expressions that render row `a` as ferry renders a batch row
    /// (`Batch::row_json`): `(JSON object of the row, source key)`.
    pub(super) fn row_exprs(&self, t: &TargetTable, alias: &str) -> (String, String) {
        let expr = |c: &ColumnDef| {
            let col = format!("{alias}.{}", quote_ident(&c.name));
            match c.logical_type {
                LogicalType::Boolean => format!(
                    "IF({col} IS NULL, NULL, JSON_EXTRACT(IF({col}, 'true', 'false'), '$'))"
                ),
                LogicalType::Bytes => format!("CONCAT('\\x', LOWER(HEX({col})))"),
                LogicalType::Uuid if self.flavor.has_uuid => {
                    format!("CONCAT('\\x', LOWER(REPLACE(CAST({col} AS CHAR), '-', '')))")
                }
                LogicalType::Uuid => format!("CONCAT('\\x', LOWER(HEX({col})))"),
                LogicalType::Decimal | LogicalType::Json => format!("CAST({col} AS CHAR)"),
                LogicalType::Date => format!("DATEDIFF({col}, '1970-01-01')"),
                LogicalType::Timestamp | LogicalType::Timestamptz => {
                    format!("TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', {col})")
                }
                LogicalType::Time => format!(
                    "(HOUR({col}) * 3600000000 + MINUTE({col}) * 60000000 + SECOND({col}) * 1000000 + MICROSECOND({col}))"
                ),
                _ => col,
            }
        };
        let obj: Vec<String> = t
            .def
            .columns
            .iter()
            .map(|c| format!("{}, {}", lit(&c.name), expr(c)))
            .collect();
        let row = format!("JSON_OBJECT({})", obj.join(", "));
        let key: Vec<String> = t
            .def
            .primary_key
            .iter()
            .filter_map(|k| t.def.columns.iter().find(|c| &c.name == k))
            .map(|c| {
                let a = format!("JSON_ARRAY({})", expr(c));
                format!("SUBSTRING({a}, 2, CHAR_LENGTH({a}) - 2)")
            })
            .collect();
        let key = if key.is_empty() {
            "NULL".to_string()
        } else {
            format!("CONCAT_WS(',', {})", key.join(", "))
        };
        (row, key)
    }

    /// Moves every row that duplicates an earlier row (lower primary key)
    /// on `cols` to the rejects table; returns how many moved.
    pub(super) async fn move_duplicates(
        &mut self,
        run_id: &str,
        t: &TargetTable,
        name: &str,
        cols: &[String],
    ) -> Result<u64, EndpointError> {
        let tn = quote_ident(&t.def.name);
        let (row, key) = self.row_exprs(t, "a");
        let same: Vec<String> = cols
            .iter()
            .map(|c| format!("b.{0} = a.{0}", quote_ident(c)))
            .collect();
        let not_null: Vec<String> = cols
            .iter()
            .map(|c| format!("a.{} IS NOT NULL", quote_ident(c)))
            .collect();
        let pk: Vec<String> = t.def.primary_key.iter().map(|c| quote_ident(c)).collect();
        let earlier = format!(
            "({}) < ({})",
            pk.iter()
                .map(|c| format!("b.{c}"))
                .collect::<Vec<_>>()
                .join(", "),
            pk.iter()
                .map(|c| format!("a.{c}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let values: Vec<String> = cols
            .iter()
            .map(|c| format!("a.{}", quote_ident(c)))
            .collect();
        let reason = format!(
            "CONCAT({}, JSON_ARRAY({}), {})",
            lit(&format!("duplicate key ({}) = ", cols.join(", "))),
            values.join(", "),
            lit(&format!(
                " for unique constraint {name}: an earlier row has the same value and was kept"
            ))
        );
        let cond = format!(
            "{} AND EXISTS (SELECT 1 FROM {tn} b WHERE {} AND {earlier})",
            not_null.join(" AND "),
            same.join(" AND ")
        );
        // A plain index on the key columns keeps the self-join from being
        // quadratic; it is dropped once the duplicates are gone.
        let tmp = short_name(&format!("_ferry_dup_{name}"));
        self.exec_sql(
            Some(&t.def.name),
            &format!(
                "CREATE INDEX {} ON {tn} ({})",
                quote_ident(&tmp),
                quote_list(cols)
            ),
        )
        .await?;
        let moved = self
            .move_rows(
                run_id,
                t,
                Some(&cols.join(",")),
                "duplicate-key",
                &reason,
                &row,
                &key,
                &cond,
            )
            .await;
        let dropped = self
            .exec_sql(
                Some(&t.def.name),
                &format!("DROP INDEX {} ON {tn}", quote_ident(&tmp)),
            )
            .await;
        let n = moved?;
        dropped?;
        Ok(n)
    }

    /// Moves every row whose foreign key points at no parent row to the
    /// rejects table; returns how many moved.
    pub(super) async fn move_orphans(
        &mut self,
        run_id: &str,
        t: &TargetTable,
        fk: &ForeignKeyDef,
    ) -> Result<u64, EndpointError> {
        let (row, key) = self.row_exprs(t, "a");
        let not_null: Vec<String> = fk
            .columns
            .iter()
            .map(|c| format!("a.{} IS NOT NULL", quote_ident(c)))
            .collect();
        let join: Vec<String> = fk
            .columns
            .iter()
            .zip(&fk.ref_columns)
            .map(|(c, p)| format!("p.{} = a.{}", quote_ident(p), quote_ident(c)))
            .collect();
        let cond = format!(
            "{} AND NOT EXISTS (SELECT 1 FROM {} p WHERE {})",
            not_null.join(" AND "),
            quote_ident(&fk.ref_table),
            join.join(" AND ")
        );
        let values: Vec<String> = fk
            .columns
            .iter()
            .map(|c| format!("a.{}", quote_ident(c)))
            .collect();
        let reason = format!(
            "CONCAT({}, JSON_ARRAY({}), {})",
            lit(&format!(
                "foreign key {}: no row in {} has ({}) = ",
                fk.name,
                fk.ref_table,
                fk.ref_columns.join(", ")
            )),
            values.join(", "),
            lit(" (the parent is missing in the source or was rejected)")
        );
        self.move_rows(
            run_id,
            t,
            Some(&fk.columns.join(",")),
            "fk-orphan",
            &reason,
            &row,
            &key,
            &cond,
        )
        .await
    }

    /// Copies the rows of `t` (aliased `a`) matching `cond` into the rejects
    /// table and deletes them, in one transaction.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn move_rows(
        &mut self,
        run_id: &str,
        t: &TargetTable,
        column: Option<&str>,
        code: &str,
        reason: &str,
        row: &str,
        key: &str,
        cond: &str,
    ) -> Result<u64, EndpointError> {
        let tn = quote_ident(&t.def.name);
        let copy = format!(
            "INSERT INTO {REJECTS_TABLE} (run_id, table_name, source_key, stage, column_name, code, reason, row_data) \
             SELECT {}, {}, {key}, 'write', {}, {}, {reason}, {row} FROM {tn} a WHERE {cond}",
            lit(run_id),
            lit(&t.source.name),
            column.map_or_else(|| "NULL".to_string(), lit),
            lit(code)
        );
        // The condition reads the table it deletes from, which MySQL only
        // allows through a derived table of the keys (materialised first).
        let delete = if t.def.primary_key.is_empty() {
            format!("DELETE a FROM {tn} a WHERE {cond}")
        } else {
            let pk = quote_list(&t.def.primary_key);
            let apk: Vec<String> = t
                .def
                .primary_key
                .iter()
                .map(|c| format!("a.{}", quote_ident(c)))
                .collect();
            format!(
                "DELETE FROM {tn} WHERE ({pk}) IN (SELECT * FROM (SELECT {} FROM {tn} a WHERE {cond}) AS gone)",
                apk.join(", ")
            )
        };
        // Most checks find nothing to move: one probe, which stops at the
        // first match, instead of a transaction and two full passes.
        let any: Option<u64> = self
            .conn
            .query_first(format!("SELECT EXISTS (SELECT 1 FROM {tn} a WHERE {cond})"))
            .await
            .map_err(|e| my_error(&self.name, Some(&t.def.name), &e, ""))?;
        if any.unwrap_or(0) == 0 {
            return Ok(0);
        }
        self.exec_sql(Some(&t.def.name), "START TRANSACTION")
            .await?;
        let result = async {
            self.exec_sql(Some(REJECTS_TABLE), &copy).await?;
            let copied = self.conn.affected_rows();
            self.exec_sql(Some(&t.def.name), &delete).await?;
            let deleted = self.conn.affected_rows();
            if copied != deleted {
                return Err(self.err(
                    Some(&t.def.name),
                    format!("moving {code} rows: copied {copied} to {REJECTS_TABLE} but deleted {deleted}; rolled back"),
                ));
            }
            Ok::<u64, EndpointError>(copied)
        }
        .await;
        match result {
            Ok(n) => {
                self.exec_sql(Some(&t.def.name), "COMMIT").await?;
                Ok(n)
            }
            Err(e) => {
                let _ = self.conn.query_drop("ROLLBACK").await;
                Err(e)
            }
        }
    }
}
