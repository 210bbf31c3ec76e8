//! What makes the target an application's database and not a copy of its
//! rows, decided at plan time: which tables are taken, the declared types
//! kept, identity columns, CHECK constraints and views carried into the
//! target's dialect, foreign keys without an index — and every schema
//! object that is not carried, listed with why. Nothing disappears
//! silently.

use std::collections::HashMap;

use crate::endpoint::sql::portable::{SqlDialect, translate_check, translate_view};
use crate::endpoint::{self, EndpointUrl, Source};
use crate::model::{
    CheckDef, ForeignKeyDef, IndexDef, LogicalType, NotCarried, SqlType, TableDef, ViewDef,
};
use crate::plan::{PlannedTable, Risk};

use super::options::{MigrateOptions, TableSelection};
use super::report::MigrateError;

fn not_carried(kind: &str, name: String, reason: String) -> NotCarried {
    NotCarried {
        kind: kind.into(),
        name,
        reason,
    }
}

fn risk(kind: &str, table: &str, column: Option<String>, detail: String) -> Risk {
    Risk {
        kind: kind.into(),
        table: table.to_string(),
        column,
        detail,
    }
}

/// The tables `selection` takes. Foreign keys to a table left out are
/// dropped from the tables that reference it, each a risk and a
/// `not_carried` entry; the tables left out are listed too. A pattern that
/// matches no table is refused (a typo would take nothing, or everything).
pub(crate) fn select_tables(
    tables: Vec<TableDef>,
    selection: &TableSelection,
    risks: &mut Vec<Risk>,
    dropped: &mut Vec<NotCarried>,
) -> Result<Vec<TableDef>, MigrateError> {
    if selection == &TableSelection::default() {
        return Ok(tables);
    }
    let names: Vec<&str> = tables.iter().map(|t| t.name.as_str()).collect();
    if let Some((flag, pattern)) = selection.unmatched(&names) {
        return Err(MigrateError::Unsupported(format!(
            "{flag} `{pattern}` matches no table; the tables are: {}",
            names.join(", ")
        )));
    }
    let (taken, left): (Vec<TableDef>, Vec<TableDef>) =
        tables.into_iter().partition(|t| selection.takes(&t.name));
    if taken.is_empty() {
        return Err(MigrateError::Unsupported(
            "--tables/--exclude-tables leave no table to migrate".into(),
        ));
    }
    for t in &left {
        dropped.push(not_carried(
            "table",
            t.name.clone(),
            "left out by --tables/--exclude-tables".into(),
        ));
    }
    let mut out = Vec::with_capacity(taken.len());
    for mut t in taken {
        let (keep, gone): (Vec<ForeignKeyDef>, Vec<ForeignKeyDef>) = t
            .foreign_keys
            .into_iter()
            .partition(|fk| selection.takes(&fk.ref_table) || fk.ref_table == t.name);
        t.foreign_keys = keep;
        for fk in gone {
            let why = format!(
                "references `{}`, which --tables/--exclude-tables leaves out; the target has no such foreign key, and its rows are not checked against the parent",
                fk.ref_table
            );
            risks.push(risk(
                "foreign-key-dropped",
                &t.name,
                None,
                format!("foreign key {} ({}) {why}", fk.name, fk.columns.join(", ")),
            ));
            dropped.push(not_carried(
                "foreign key",
                format!("{}.{}", t.name, fk.name),
                why,
            ));
        }
        out.push(t);
    }
    Ok(out)
}

/// The declared types a target keeps (`varchar(45)`, `smallint`, …): set
/// as `sql_type` on each target column that still has its source column's
/// logical type, when every stored value fits (sources that do not enforce
/// their types count them: [`Source::extents`]). A value that does not fit
/// widens the column to the logical type's own mapping, as a plan risk —
/// never a truncation.
pub(crate) async fn keep_declared_types(
    source: &dyn Source,
    to: &EndpointUrl,
    planned: &mut PlannedTable,
    risks: &mut Vec<Risk>,
) -> Result<(), MigrateError> {
    let scheme = source.capabilities().scheme;
    let target = endpoint::capabilities(to).scheme;
    let src = &planned.source_def;
    let mut wanted: Vec<(usize, SqlType)> = Vec::new();
    for (i, c) in planned.target_def.columns.iter().enumerate() {
        let Some(s) = src
            .columns
            .iter()
            .find(|s| s.name == c.name && s.logical_type == c.logical_type)
        else {
            continue;
        };
        if let Some(t) = SqlType::from_declared(&s.declared_type, c.logical_type, scheme) {
            // PostgreSQL pads char(n) with spaces and MySQL strips them: a
            // value shorter than n from elsewhere would change. Only
            // PostgreSQL → PostgreSQL keeps char(n); others get varchar(n).
            let t = match t {
                SqlType::Char { length } if scheme != "postgres" || target != "postgres" => {
                    if target == "sqlite" {
                        t
                    } else {
                        SqlType::Varchar { length }
                    }
                }
                t => t,
            };
            wanted.push((i, t));
        }
    }
    if wanted.is_empty() {
        return Ok(());
    }
    let limited: Vec<String> = wanted
        .iter()
        .filter(|(_, t)| !matches!(t, SqlType::Numeric { .. } | SqlType::Real))
        .map(|(i, _)| planned.target_def.columns[*i].name.clone())
        .collect();
    let extents = if limited.is_empty() {
        None
    } else {
        source.extents(src, &limited).await?
    };
    for (i, t) in wanted {
        let col = &planned.target_def.columns[i];
        let fits = match (&extents, limited.iter().position(|n| *n == col.name)) {
            (Some(ex), Some(k)) => match ex.get(k) {
                Some(e) => {
                    let int_ok = e.min_int.is_none_or(|v| t.fits_int(v))
                        && e.max_int.is_none_or(|v| t.fits_int(v));
                    let chars_ok = e.max_chars.is_none_or(|n| t.fits_chars(n));
                    let what = if !int_ok {
                        Some(format!(
                            "holds integers from {} to {}",
                            e.min_int.unwrap_or_default(),
                            e.max_int.unwrap_or_default()
                        ))
                    } else if !chars_ok {
                        Some(format!(
                            "holds text of up to {} characters",
                            e.max_chars.unwrap_or_default()
                        ))
                    } else {
                        None
                    };
                    match what {
                        None => true,
                        Some(what) => {
                            let declared = src
                                .columns
                                .iter()
                                .find(|s| s.name == col.name)
                                .map(|s| s.declared_type.clone())
                                .unwrap_or_default();
                            risks.push(risk(
                                "type-widened",
                                &planned.name,
                                Some(col.name.clone()),
                                format!(
                                    "declared {declared} but {what}: the target column is widened to {}'s own type (nothing is truncated); to say so explicitly, [[cast]] column = \"{}.{}\", to = \"{}\"",
                                    col.logical_type, planned.name, col.name, col.logical_type
                                ),
                            ));
                            false
                        }
                    }
                }
                None => true,
            },
            _ => true,
        };
        if fits {
            planned.target_def.columns[i].sql_type = Some(t);
        }
    }
    Ok(())
}

/// A foreign key's columns take the declared type of the columns they
/// reference: MySQL refuses a foreign key between `INT` and `BIGINT`, and a
/// child value that does not fit its parent's type has no parent anyway.
pub(crate) fn match_foreign_key_types(to: &EndpointUrl, planned: &mut [PlannedTable]) {
    let parents: HashMap<String, Vec<(String, Option<SqlType>)>> = planned
        .iter()
        .map(|t| {
            (
                t.target_def.name.clone(),
                t.target_def
                    .columns
                    .iter()
                    .map(|c| (c.name.clone(), c.sql_type))
                    .collect(),
            )
        })
        .collect();
    for t in planned.iter_mut() {
        let mut changed = false;
        for fk in t.target_def.foreign_keys.clone() {
            let Some(parent) = parents.get(&fk.ref_table) else {
                continue;
            };
            for (c, r) in fk.columns.iter().zip(&fk.ref_columns) {
                let Some((_, want)) = parent.iter().find(|(n, _)| n == r) else {
                    continue;
                };
                if let Some(col) = t.target_def.columns.iter_mut().find(|x| &x.name == c)
                    && col.sql_type != *want
                    && want.is_none_or(|w| {
                        SqlType::from_declared(&w.describe(), col.logical_type, "postgres")
                            .is_some()
                    })
                {
                    col.sql_type = *want;
                    changed = true;
                }
            }
        }
        if changed {
            let source = t.loaded_def();
            for (pc, c) in t.columns.iter_mut().zip(&t.target_def.columns) {
                pc.target_type = endpoint::column_type(to, &source, c);
            }
        }
    }
}

/// Identity columns stay identities where the target column is still the
/// source's integer column.
pub(crate) fn keep_identity(planned: &mut PlannedTable) {
    let src = &planned.source_def;
    for c in planned.target_def.columns.iter_mut() {
        c.identity = c.logical_type == LogicalType::Int64
            && src
                .columns
                .iter()
                .any(|s| s.name == c.name && s.identity && s.logical_type == LogicalType::Int64);
    }
}

/// The target's dialect for CHECKs and views, when both ends speak SQL.
fn dialects(opts: &MigrateOptions, source: &dyn Source) -> Option<(SqlDialect, SqlDialect)> {
    Some((
        SqlDialect::of_scheme(source.capabilities().scheme)?,
        SqlDialect::of_scheme(endpoint::capabilities(&opts.to).scheme)?,
    ))
}

/// Each source CHECK translated into the target's dialect (on the target
/// column names), or listed as not carried with why.
pub(crate) fn carry_checks(
    opts: &MigrateOptions,
    source: &dyn Source,
    planned: &mut PlannedTable,
    dropped: &mut Vec<NotCarried>,
) {
    let checks = planned.source_def.checks.clone();
    if checks.is_empty() {
        return;
    }
    let Some((from, to)) = dialects(opts, source) else {
        for c in checks {
            dropped.push(not_carried(
                "check",
                format!("{}.{}", planned.name, c.name),
                format!(
                    "{} has no CHECK constraints: `{}`",
                    endpoint::capabilities(&opts.to).scheme,
                    c.expression
                ),
            ));
        }
        return;
    };
    let columns: Vec<String> = planned
        .target_def
        .columns
        .iter()
        .map(|c| c.name.clone())
        .collect();
    let map = |n: &str| {
        columns
            .iter()
            .find(|c| {
                c.as_str() == n || (from != SqlDialect::Postgres && c.eq_ignore_ascii_case(n))
            })
            .cloned()
    };
    // Source columns the target does not have (a transformer dropped or
    // renamed them): a check naming one cannot be created.
    let gone: Vec<String> = planned
        .source_def
        .columns
        .iter()
        .filter(|c| map(&c.name).is_none())
        .map(|c| c.name.to_ascii_lowercase())
        .collect();
    for c in checks {
        if let Some(g) = crate::endpoint::sql::portable::identifiers(&c.expression, from)
            .into_iter()
            .find(|n| gone.contains(&n.to_ascii_lowercase()))
        {
            dropped.push(not_carried(
                "check",
                format!("{}.{}", planned.name, c.name),
                format!(
                    "`{}` names column `{g}`, which the target table does not have (a transformer dropped or renamed it)",
                    c.expression
                ),
            ));
            continue;
        }
        match translate_check(&c.expression, from, to, &map) {
            Ok(expression) => planned.target_def.checks.push(CheckDef {
                name: c.name,
                expression,
            }),
            Err(why) => dropped.push(not_carried(
                "check",
                format!("{}.{}", planned.name, c.name),
                format!("`{}` is not carried: {why}", c.expression),
            )),
        }
    }
}

/// The source's views in the target's dialect (tables renamed as the plan
/// renamed them), or listed as not carried with why.
pub(crate) fn carry_views(
    opts: &MigrateOptions,
    source: &dyn Source,
    views: Vec<ViewDef>,
    planned: &[PlannedTable],
    dropped: &mut Vec<NotCarried>,
) -> Vec<ViewDef> {
    let Some((from, to)) = dialects(opts, source) else {
        for v in views {
            dropped.push(not_carried(
                "view",
                v.name,
                format!("{} has no views", endpoint::capabilities(&opts.to).scheme),
            ));
        }
        return Vec::new();
    };
    let tables: HashMap<&str, &str> = planned
        .iter()
        .map(|t| (t.name.as_str(), t.target_name.as_str()))
        .collect();
    let rename = |n: &str| tables.get(n).map(|t| t.to_string());
    let mut out = Vec::new();
    for v in views {
        match translate_view(&v.definition, from, to, &rename) {
            Ok(definition) => out.push(ViewDef {
                name: v.name,
                definition,
            }),
            Err(why) => dropped.push(not_carried("view", v.name, why)),
        }
    }
    out
}

/// Foreign keys whose columns no index, unique constraint or primary key
/// leads with: joins and parent deletes scan the child table. PostgreSQL
/// and SQLite do not index them themselves (MySQL does). A risk, or with
/// `--index-foreign-keys` an index named `<table>_<columns>_fkey_idx`.
pub(crate) fn index_foreign_keys(
    to: &EndpointUrl,
    create: bool,
    planned: &mut PlannedTable,
    risks: &mut Vec<Risk>,
) {
    if !endpoint::capabilities(to).foreign_keys_need_index {
        return;
    }
    let def = &planned.target_def;
    let leads = |cols: &[String], fk: &[String]| cols.len() >= fk.len() && cols[..fk.len()] == *fk;
    let mut add = Vec::new();
    for fk in &def.foreign_keys {
        let indexed = leads(&def.primary_key, &fk.columns)
            || def.unique.iter().any(|u| leads(&u.columns, &fk.columns))
            || def.indexes.iter().any(|i| leads(&i.columns, &fk.columns))
            || add.iter().any(|i: &IndexDef| i.columns == fk.columns);
        if indexed {
            continue;
        }
        let name = format!("{}_{}_fkey_idx", def.name, fk.columns.join("_"));
        if create {
            add.push(IndexDef {
                name,
                columns: fk.columns.clone(),
                unique: false,
            });
        } else {
            risks.push(risk(
                "foreign-key-unindexed",
                &planned.name,
                Some(fk.columns.join(", ")),
                format!(
                    "foreign key {} ({}) has no index in the target: joins to `{}` and deletes there scan this table; --index-foreign-keys creates {name}",
                    fk.name,
                    fk.columns.join(", "),
                    fk.ref_table
                ),
            ));
        }
    }
    planned.target_def.indexes.extend(add);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ColumnDef;

    fn table(name: &str, refs: &[&str]) -> TableDef {
        TableDef {
            name: name.into(),
            columns: vec![ColumnDef {
                name: "id".into(),
                ..Default::default()
            }],
            foreign_keys: refs
                .iter()
                .map(|r| ForeignKeyDef {
                    name: format!("fk_{name}_{r}"),
                    columns: vec![format!("{r}_id")],
                    ref_table: (*r).into(),
                    ref_columns: vec!["id".into()],
                    on_delete: "NO ACTION".into(),
                    on_update: "NO ACTION".into(),
                })
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn a_foreign_key_to_a_table_left_out_is_dropped_visibly() {
        let tables = vec![table("a", &[]), table("b", &["a"]), table("c", &["b", "c"])];
        let sel = TableSelection {
            include: vec![],
            exclude: vec!["a".into()],
        };
        let (mut risks, mut dropped) = (Vec::new(), Vec::new());
        let out = select_tables(tables, &sel, &mut risks, &mut dropped).unwrap();
        let names: Vec<_> = out.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["b", "c"]);
        assert!(out[0].foreign_keys.is_empty());
        assert_eq!(
            out[1].foreign_keys.len(),
            2,
            "b and the self reference stay"
        );
        assert_eq!(risks.len(), 1);
        assert!(risks[0].detail.contains("fk_b_a"), "{}", risks[0].detail);
        let kinds: Vec<_> = dropped
            .iter()
            .map(|d| (d.kind.as_str(), d.name.as_str()))
            .collect();
        assert_eq!(kinds, [("table", "a"), ("foreign key", "b.fk_b_a")]);
    }

    #[test]
    fn a_pattern_matching_nothing_is_refused() {
        let sel = TableSelection {
            include: vec!["custmers".into()],
            exclude: vec![],
        };
        let e = select_tables(
            vec![table("customers", &[])],
            &sel,
            &mut vec![],
            &mut vec![],
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("--tables `custmers` matches no table"), "{e}");
        assert!(e.contains("customers"), "{e}");
    }
}
