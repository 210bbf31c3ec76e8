//! After the load: unique keys, indexes and foreign keys, violating rows
//! moved to quarantine first.

use super::*;
use crate::endpoint::sql::{quote_ident, quote_list};
use crate::endpoint::{EndpointError, REJECTS_TABLE, TargetTable};
use crate::model::{ColumnDef, ForeignKeyDef, LogicalType};
use mysql_async::prelude::*;

impl MysqlSink {
    /// After the load: unique constraints and indexes, then foreign keys,
    /// tables in dependency order (the primary keys exist since `prepare`).
    /// Rows that would break a unique key or a foreign key are moved to
    /// `_ferry_rejects` first (each move in one transaction with its
    /// delete), so every constraint is created as declared.
    pub async fn finish(
        &mut self,
        run_id: &str,
        tables: &[TargetTable],
    ) -> Result<crate::endpoint::Finished, EndpointError> {
        let mut done = Vec::new();
        let mut warnings = Vec::new();
        let mut moved = crate::endpoint::MovedRows::default();
        for t in tables {
            let tn = quote_ident(&t.def.name);
            if !t.def.primary_key.is_empty() {
                done.push(format!("primary key {}", t.def.name));
            }
            let uniques = t
                .def
                .unique
                .iter()
                .map(|u| (u.name.as_str(), &u.columns, true, "unique"));
            let indexes = t
                .def
                .indexes
                .iter()
                .map(|i| (i.name.as_str(), &i.columns, i.unique, "index"));
            for (name, cols, unique, what) in uniques.chain(indexes).collect::<Vec<_>>() {
                let iname = short_name(name);
                let create = if what == "unique" {
                    format!(
                        "ALTER TABLE {tn} ADD CONSTRAINT {} UNIQUE ({})",
                        quote_ident(&iname),
                        quote_list(cols)
                    )
                } else {
                    format!(
                        "CREATE {}INDEX {} ON {tn} ({})",
                        if unique { "UNIQUE " } else { "" },
                        quote_ident(&iname),
                        quote_list(cols)
                    )
                };
                match self.conn.query_drop(create.as_str()).await {
                    Ok(()) => {}
                    // 1061: a key by that name exists — a resumed run built it.
                    Err(e) if server_code(&e) == Some(1061) => {}
                    Err(e) if unique && server_code(&e) == Some(1062) => {
                        if t.def.primary_key.is_empty() {
                            // Without a primary key there is no "first
                            // loaded row" to keep: index without uniqueness.
                            self.exec_sql(
                                Some(&t.def.name),
                                &format!(
                                    "CREATE INDEX {} ON {tn} ({})",
                                    quote_ident(&iname),
                                    quote_list(cols)
                                ),
                            )
                            .await?;
                            warnings.push(format!(
                                "table `{}`: duplicate values in ({}) and no primary key to tell the first row, so {what} {name} was created as a non-unique index",
                                t.def.name,
                                cols.join(", ")
                            ));
                            done.push(format!("index {name} (not unique)"));
                            continue;
                        }
                        let n = self.move_duplicates(run_id, t, name, cols).await?;
                        moved.add(&t.source.name, n);
                        self.exec_sql(Some(&t.def.name), &create).await?;
                    }
                    Err(e) => {
                        return Err(my_error(&self.name, Some(&t.def.name), &e, &create));
                    }
                }
                done.push(format!("{what} {name}"));
                crate::failpoint::hit("constraint");
            }
        }
        for t in tables {
            for fk in &t.def.foreign_keys {
                let fname = short_name(&fk.name);
                let action = |a: &str, warnings: &mut Vec<String>| {
                    let a = a.trim().to_ascii_uppercase();
                    match a.as_str() {
                        "CASCADE" | "SET NULL" | "RESTRICT" | "NO ACTION" => a,
                        _ => {
                            warnings.push(format!(
                                "table `{}`: foreign key {}: `{a}` is not supported by InnoDB; created with NO ACTION",
                                t.def.name, fk.name
                            ));
                            "NO ACTION".into()
                        }
                    }
                };
                let on_delete = action(&fk.on_delete, &mut warnings);
                let on_update = action(&fk.on_update, &mut warnings);
                // A self-referencing key can orphan more rows with each
                // move (children of a moved row); repeat until none is left.
                loop {
                    let n = self.move_orphans(run_id, t, fk).await?;
                    moved.add(&t.source.name, n);
                    if n == 0 || fk.ref_table != t.def.name {
                        break;
                    }
                }
                let add = format!(
                    "ALTER TABLE {} ADD CONSTRAINT {} FOREIGN KEY ({}) REFERENCES {} ({}) ON DELETE {on_delete} ON UPDATE {on_update}",
                    quote_ident(&t.def.name),
                    quote_ident(&fname),
                    quote_list(&fk.columns),
                    quote_ident(&fk.ref_table),
                    quote_list(&fk.ref_columns),
                );
                // A resumed run may have built it already (MariaDB reports a
                // duplicate name as a generic errno 121, so look first).
                let exists: Option<u64> = self
                    .conn
                    .query_first(format!(
                        "SELECT COUNT(*) FROM information_schema.TABLE_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = DATABASE() \
                         AND TABLE_NAME = {} AND CONSTRAINT_NAME = {} AND CONSTRAINT_TYPE = 'FOREIGN KEY'",
                        lit(&t.def.name),
                        lit(&fname)
                    ))
                    .await
                    .map_err(|e| my_error(&self.name, Some(&t.def.name), &e, ""))?;
                let result = if exists.unwrap_or(0) > 0 {
                    Ok(())
                } else {
                    self.conn.query_drop(add.as_str()).await
                };
                match result {
                    Ok(()) => {}
                    Err(e) if matches!(server_code(&e), Some(1826) | Some(1022)) => {}
                    Err(e) => {
                        return Err(my_error(&self.name, Some(&t.def.name), &e, &add));
                    }
                }
                done.push(format!("foreign key {}", fk.name));
                crate::failpoint::hit("constraint");
            }
        }
        Ok(crate::endpoint::Finished {
            created: done,
            warnings,
            quarantined: moved.into_vec(),
        })
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
                &cols.join(","),
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
            &fk.columns.join(","),
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
        column: &str,
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
            lit(column),
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
