//! `normalise=T.C` on a source: a json column's arrays of objects read as
//! a child table `T__C`.

use super::*;
use crate::endpoint::EndpointError;
use crate::model::{BatchBuilder, ColumnDef, LogicalType, TableDef};
use std::collections::HashMap;
use std::path::Path;

// ---------------------------------------------------------------------------
// Normalised columns (`normalise=` on a source, `nest=` read back)
// ---------------------------------------------------------------------------

/// The child-table column holding an element's position in its array.
pub(super) const ORDINAL: &str = "ordinal";

/// A parent's json column presented as a child table.
#[derive(Debug, Clone)]
pub(super) struct Spec {
    pub(super) parent: String,
    pub(super) column: String,
    /// The parent column whose value each child row carries.
    pub(super) parent_key: String,
    /// The child table's name, and its column holding `parent_key`'s value.
    pub(super) child: String,
    pub(super) fk_column: String,
    /// The child as a `nest=` target recorded it; `None`: inferred.
    pub(super) recorded: Option<TableDef>,
}

/// What a source's options resolved to: the specs, and each parent as the
/// source presents it (without its normalised columns).
#[derive(Debug, Default)]
pub(super) struct Norm {
    pub(super) specs: Vec<Spec>,
    pub(super) views: Vec<TableDef>,
}

impl Norm {
    pub(super) fn view(&self, table: &str) -> Option<&TableDef> {
        self.views.iter().find(|v| v.name == table)
    }
}

/// Resolves a source's `normalise=` and `nest=` options against its schema
/// file. Every problem is an error naming the option: the parent must have a
/// schema entry with a single-column primary key and a json column of that
/// name, and the child's name must be free.
pub(super) fn resolve(
    endpoint: &str,
    schema: Option<&SchemaFile>,
    o: &Options,
) -> Result<Norm, EndpointError> {
    let err = |table: &str, what: String| q_err(endpoint, Some(table), what);
    let tables = schema.map(|s| &s.tables[..]).unwrap_or(&[]);
    let nested = schema.map(|s| &s.nested[..]).unwrap_or(&[]);
    let mut specs: Vec<Spec> = Vec::new();
    for (p, c) in &o.normalise {
        let opt = format!("normalise={p}.{c}");
        let Some(parent) = tables.iter().find(|t| &t.name == p) else {
            return Err(err(
                p,
                format!(
                    "{opt}: `{SCHEMA_FILE}` has no table `{p}`; the parent needs an entry there \
                     with a single-column primary key (an inferred table has no key)"
                ),
            ));
        };
        let spec = match nested.iter().find(|n| &n.parent == p && &n.column == c) {
            Some(n) => from_recorded(endpoint, parent, n)?,
            None => {
                let [pk] = &parent.primary_key[..] else {
                    return Err(err(
                        p,
                        format!(
                            "{opt}: table `{p}` has {} primary key columns; normalising needs \
                             exactly one, which the child rows reference",
                            parent.primary_key.len()
                        ),
                    ));
                };
                Spec {
                    parent: p.clone(),
                    column: c.clone(),
                    parent_key: pk.clone(),
                    child: format!("{p}__{c}"),
                    fk_column: format!("{p}_{pk}"),
                    recorded: None,
                }
            }
        };
        match parent.columns.iter().find(|x| &x.name == c) {
            None => return Err(err(p, format!("{opt}: table `{p}` has no column `{c}`"))),
            Some(x) if x.logical_type != LogicalType::Json => {
                return Err(err(
                    p,
                    format!(
                        "{opt}: column `{c}` is {}, not json; only a json column holds arrays",
                        x.logical_type
                    ),
                ));
            }
            Some(_) => {}
        }
        check_table_name(endpoint, &spec.child)?;
        if tables.iter().any(|t| t.name == spec.child) {
            return Err(err(
                &spec.child,
                format!(
                    "{opt}: the child table would be named `{}`, which the directory already has",
                    spec.child
                ),
            ));
        }
        specs.push(spec);
    }
    for n in &o.nest {
        if specs.iter().any(|s| &s.child == n) {
            continue;
        }
        match nested.iter().find(|x| &x.table.name == n) {
            Some(x) => {
                let Some(parent) = tables.iter().find(|t| t.name == x.parent) else {
                    return Err(err(
                        n,
                        format!("nest={n}: its parent `{}` has no schema entry", x.parent),
                    ));
                };
                specs.push(from_recorded(endpoint, parent, x)?);
            }
            // Not nested (the target skipped it with a warning): a table as it is.
            None if tables.iter().any(|t| &t.name == n) => {}
            None => {
                return Err(err(
                    n,
                    format!("nest={n}: the directory has no table `{n}`, nested or not"),
                ));
            }
        }
    }
    let mut views: Vec<TableDef> = Vec::new();
    for s in &specs {
        if views.iter().any(|v| v.name == s.parent) {
            continue;
        }
        let Some(mut v) = tables.iter().find(|t| t.name == s.parent).cloned() else {
            continue;
        };
        v.columns.retain(|c| {
            !specs
                .iter()
                .any(|x| x.parent == v.name && x.column == c.name)
        });
        views.push(v);
    }
    Ok(Norm { specs, views })
}

/// The spec of a child table a `nest=` target recorded: its foreign key to
/// the parent names the key columns.
pub(super) fn from_recorded(
    endpoint: &str,
    parent: &TableDef,
    n: &NestedDef,
) -> Result<Spec, EndpointError> {
    let fk = n
        .table
        .foreign_keys
        .iter()
        .find(|f| f.ref_table == parent.name && f.columns.len() == 1 && f.ref_columns.len() == 1)
        .ok_or_else(|| {
            q_err(
                endpoint,
                Some(&n.table.name),
                format!(
                    "the nested table's entry in `{SCHEMA_FILE}` has no single-column foreign key \
                     to `{}`",
                    parent.name
                ),
            )
        })?;
    Ok(Spec {
        parent: parent.name.clone(),
        column: n.column.clone(),
        parent_key: fk.ref_columns[0].clone(),
        child: n.table.name.clone(),
        fk_column: fk.columns[0].clone(),
        recorded: Some(n.table.clone()),
    })
}

/// Calls `f` for each record of `table`, as [`for_each_record`] does for
/// its file. A child table of a normalised column has one record per array
/// element of the parent rows that read without a reject (a rejected parent
/// row keeps its array whole in its reject): the element's members after
/// `"<fk column>":<parent key>,"ordinal":<position>`.
pub(super) fn table_records(
    dir: &Path,
    endpoint: &str,
    norm: &Norm,
    table: &str,
    mut f: impl FnMut(Loc, Rec<'_>) -> bool,
) -> Result<(), EndpointError> {
    let Some(spec) = norm.specs.iter().find(|s| s.child == table) else {
        let path = JsonSource::path_of(dir, endpoint, table)?;
        return for_each_record(&path, endpoint, table, f);
    };
    let Some(view) = norm.view(&spec.parent) else {
        return Err(q_err(
            endpoint,
            Some(table),
            "the parent table is not known",
        ));
    };
    let dec = Decoder::for_table(view, &norm.specs);
    let schema = view.schema();
    let mut scratch = BatchBuilder::new(&schema, 1);
    let mut head = Vec::new();
    push_json_str(&mut head, &spec.fk_column);
    head.push(b':');
    let path = JsonSource::path_of(dir, endpoint, &spec.parent)?;
    let mut rec = Vec::new();
    for_each_record(&path, endpoint, &spec.parent, |loc, r| {
        let Rec::Data(bytes) = r else { return true };
        let ok = dec.decode(&mut scratch, loc, Rec::Data(bytes)).is_ok();
        scratch.abandon_row();
        // Decoded: UTF-8, one object, the nested column null or an array of objects.
        let members = std::str::from_utf8(bytes)
            .ok()
            .filter(|_| ok)
            .and_then(|t| split_object(t).ok())
            .unwrap_or_default();
        let raw = |name: &str| members.iter().find(|(k, _)| k == name).map(|(_, v)| *v);
        let (Some(key), Some(Ok(Some(elems)))) = (
            raw(&spec.parent_key),
            raw(&spec.column).map(array_of_objects),
        ) else {
            return true;
        };
        for (i, e) in elems.iter().enumerate() {
            rec.clear();
            rec.push(b'{');
            rec.extend_from_slice(&head);
            rec.extend_from_slice(key.as_bytes());
            rec.extend_from_slice(format!(",\"{ORDINAL}\":{i}").as_bytes());
            let inner = e.get(1..e.len().saturating_sub(1)).unwrap_or("").trim();
            if !inner.is_empty() {
                rec.push(b',');
                rec.extend_from_slice(inner.as_bytes());
            }
            rec.push(b'}');
            let loc = Loc {
                elem: Some(i as u64),
                ..loc
            };
            if !f(loc, Rec::Data(&rec)) {
                return false;
            }
        }
        true
    })
}

/// Infers a child table of `normalise=` from the array elements of the
/// parent's first [`INFER_SAMPLE`] records: `<fk column>` (the parent key's
/// type, NOT NULL, foreign key to the parent, ON DELETE CASCADE), `ordinal`
/// (int64, NOT NULL), then the union of the elements' keys typed as
/// [`infer_table`] types columns. Keys named like the first two are left
/// out here (their elements become `duplicate-field` rejects at read).
pub(super) fn infer_child(
    dir: &Path,
    endpoint: &str,
    spec: &Spec,
    parent: &TableDef,
) -> Result<TableDef, EndpointError> {
    let Some(key) = parent.columns.iter().find(|c| c.name == spec.parent_key) else {
        return Err(q_err(
            endpoint,
            Some(&spec.parent),
            format!("no column `{}`", spec.parent_key),
        ));
    };
    let mut cols: Vec<(String, Seen)> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut n = 0usize;
    let path = JsonSource::path_of(dir, endpoint, &spec.parent)?;
    for_each_record(&path, endpoint, &spec.parent, |_, rec| {
        n += 1;
        if let Rec::Data(bytes) = rec
            && let Ok(text) = std::str::from_utf8(bytes)
            && serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok()
            && let Ok(members) = split_object(text)
            && let Some((_, v)) = members.iter().find(|(k, _)| *k == spec.column)
            && let Ok(Some(elems)) = array_of_objects(v)
        {
            for e in elems {
                for (k, v) in split_object(e).unwrap_or_default() {
                    if k == spec.fk_column || k == ORDINAL {
                        continue;
                    }
                    let i = *index.entry(k.clone()).or_insert_with(|| {
                        cols.push((k, Seen::default()));
                        cols.len() - 1
                    });
                    cols[i].1.add(v);
                }
            }
        }
        n < INFER_SAMPLE
    })?;
    let mut columns = vec![
        ColumnDef {
            name: spec.fk_column.clone(),
            declared_type: key.declared_type.clone(),
            logical_type: key.logical_type,
            nullable: false,
            default: None,
            ..Default::default()
        },
        ColumnDef {
            name: ORDINAL.into(),
            declared_type: String::new(),
            logical_type: LogicalType::Int64,
            nullable: false,
            default: None,
            ..Default::default()
        },
    ];
    columns.extend(cols.into_iter().map(|(name, seen)| {
        let (logical_type, declared) = seen.infer();
        ColumnDef {
            name,
            declared_type: declared.to_string(),
            logical_type,
            nullable: true,
            default: None,
            ..Default::default()
        }
    }));
    Ok(TableDef {
        name: spec.child.clone(),
        columns,
        primary_key: vec![spec.fk_column.clone(), ORDINAL.into()],
        unique: Vec::new(),
        indexes: Vec::new(),
        foreign_keys: vec![crate::model::ForeignKeyDef {
            name: format!("{}_{}_fkey", spec.child, spec.fk_column),
            columns: vec![spec.fk_column.clone()],
            ref_table: spec.parent.clone(),
            ref_columns: vec![spec.parent_key.clone()],
            on_delete: "CASCADE".into(),
            on_update: "NO ACTION".into(),
        }],
        ..Default::default()
    })
}
