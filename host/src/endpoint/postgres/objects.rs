//! What a PostgreSQL schema holds besides its tables ([`PgSource::objects`]):
//! views, carried in an order where each comes after the views it reads, and
//! every other schema object listed as not carried, with what the operator
//! should do about it. Nothing disappears silently.

use super::*;
use crate::endpoint::sql::quote_ident;
use crate::model::{NotCarried, SchemaObjects, ViewDef};
use std::collections::{BTreeMap, BTreeSet};
use tokio_postgres::Client;

/// Schemas every PostgreSQL target has: a view may read them.
const SYSTEM_SCHEMAS: [&str; 2] = ["pg_catalog", "information_schema"];

fn listed(kind: &str, name: String, reason: String) -> NotCarried {
    NotCarried {
        kind: kind.into(),
        name,
        reason,
    }
}

impl PgSource {
    /// Views of the source schema (definitions as the server deparses them,
    /// the schema's names unqualified) and everything else, listed. Objects
    /// that belong to a table (triggers, rules, indexes ferry does not
    /// create, generated columns, collations, policies) are listed for the
    /// tables in `tables` only: the others are not migrated at all. A view
    /// that reads a relation the run does not carry (a table left out, a
    /// materialized view, a foreign table, another schema's table) is
    /// listed too, since it could not be created.
    pub async fn objects(&self, tables: &[TableDef]) -> Result<SchemaObjects, EndpointError> {
        let c = self.connect_in_schema().await?;
        let e = |x: tokio_postgres::Error| self.err(None, &x);
        let ns: u32 = c
            .query_one(
                "SELECT oid FROM pg_namespace WHERE nspname = $1",
                &[&self.schema],
            )
            .await
            .map_err(e)?
            .get(0);
        let migrated: BTreeSet<&str> = tables.iter().map(|t| t.name.as_str()).collect();
        // A relation's own objects count when it is migrated or is not a
        // table (a view's trigger or rule).
        let owned =
            |rel: &str, relkind: &str| !matches!(relkind, "r" | "p") || migrated.contains(rel);
        let mut out = SchemaObjects::default();
        let (views, not_views) = self.views(&c, ns, &migrated).await?;
        out.views = views;
        out.not_carried = not_views;
        let nc = &mut out.not_carried;

        // Materialized views and foreign tables: relations tables() skips.
        for r in c
            .query(
                "SELECT c.relname::text, c.relkind::text, \
                 coalesce((SELECT s.srvname::text FROM pg_foreign_table ft \
                   JOIN pg_foreign_server s ON s.oid = ft.ftserver WHERE ft.ftrelid = c.oid), '') \
                 FROM pg_class c WHERE c.relnamespace = $1 AND c.relkind IN ('m', 'f') ORDER BY 1",
                &[&ns],
            )
            .await
            .map_err(e)?
        {
            let (name, kind, server): (String, String, String) = (r.get(0), r.get(1), r.get(2));
            nc.push(if kind == "m" {
                listed(
                    "materialized view",
                    name,
                    "ferry does not carry materialized views: create it on the target with CREATE MATERIALIZED VIEW … AS its query (pg_get_viewdef shows it) and REFRESH it".into(),
                )
            } else {
                listed(
                    "table",
                    name,
                    format!("a foreign table (server `{server}`): its rows live elsewhere and are not copied; recreate the foreign server and table on the target, or migrate the remote data with its own run"),
                )
            });
        }

        // Partitions: read through their parent, which the target creates
        // as one ordinary table.
        for r in c
            .query(
                "SELECT c.relname::text, p.relname::text, coalesce(pg_get_expr(c.relpartbound, c.oid), '') \
                 FROM pg_class c JOIN pg_inherits i ON i.inhrelid = c.oid \
                 JOIN pg_class p ON p.oid = i.inhparent \
                 WHERE c.relnamespace = $1 AND c.relispartition ORDER BY 1",
                &[&ns],
            )
            .await
            .map_err(e)?
        {
            let (name, parent, bound): (String, String, String) = (r.get(0), r.get(1), r.get(2));
            nc.push(listed(
                "partition",
                name,
                format!("a partition of `{parent}` ({bound}): its rows are loaded into `{parent}`, which the target creates as one ordinary table; recreate the partitioning by hand if the application needs it"),
            ));
        }

        // Table inheritance (not partitioning): each table is migrated as
        // its own, the parent with its own rows only.
        for r in c
            .query(
                "SELECT c.relname::text, p.relname::text FROM pg_inherits i \
                 JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent \
                 WHERE c.relnamespace = $1 AND NOT c.relispartition ORDER BY 1, 2",
                &[&ns],
            )
            .await
            .map_err(e)?
        {
            let (child, parent): (String, String) = (r.get(0), r.get(1));
            if migrated.contains(child.as_str()) {
                nc.push(listed(
                    "table",
                    child.clone(),
                    format!("inherits from `{parent}`: both are migrated as separate tables, `{parent}` with its own rows only; recreate the inheritance on the target (ALTER TABLE {} INHERIT {}) if the application reads the children through `{parent}`", quote_ident(&child), quote_ident(&parent)),
                ));
            }
        }

        // Triggers (not the internal ones behind foreign keys, nor a
        // partition's clones of its parent's trigger).
        for r in c
            .query(
                "SELECT c.relname::text, c.relkind::text, t.tgname::text, pg_get_triggerdef(t.oid) \
                 FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid \
                 WHERE c.relnamespace = $1 AND NOT t.tgisinternal AND t.tgparentid = 0 ORDER BY 1, 3",
                &[&ns],
            )
            .await
            .map_err(e)?
        {
            let (rel, relkind, name, def): (String, String, String, String) =
                (r.get(0), r.get(1), r.get(2), r.get(3));
            if owned(&rel, &relkind) {
                nc.push(listed(
                    "trigger",
                    format!("{rel}.{name}"),
                    format!("ferry does not translate trigger code: recreate its function and then the trigger on the target ({def})"),
                ));
            }
        }
        for r in c
            .query(
                "SELECT evtname::text, evtevent::text FROM pg_event_trigger ORDER BY 1",
                &[],
            )
            .await
            .map_err(e)?
        {
            let (name, event): (String, String) = (r.get(0), r.get(1));
            nc.push(listed(
                "trigger",
                name,
                format!("an event trigger on {event} (database-wide): recreate its function and the event trigger on the target if the application needs it"),
            ));
        }

        // Routines of the schema, not those an extension installed.
        for r in c
            .query(
                "SELECT p.proname::text || '(' || pg_get_function_identity_arguments(p.oid) || ')', \
                 p.prokind::text, l.lanname::text FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang \
                 WHERE p.pronamespace = $1 AND NOT EXISTS (SELECT 1 FROM pg_depend d \
                   WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e') \
                 ORDER BY 1",
                &[&ns],
            )
            .await
            .map_err(e)?
        {
            let (name, kind, lang): (String, String, String) = (r.get(0), r.get(1), r.get(2));
            let (kind, what) = match kind.as_str() {
                "p" => ("procedure", "procedure"),
                "a" => ("function", "aggregate function"),
                "w" => ("function", "window function"),
                _ => ("function", "function"),
            };
            nc.push(listed(
                kind,
                name,
                format!("a {lang} {what}: ferry does not translate routines; recreate it on the target (pg_get_functiondef shows its source)"),
            ));
        }

        // Sequences no column owns (an owned one is the column's identity).
        for r in c
            .query(
                "SELECT c.relname::text, s.last_value FROM pg_class c \
                 LEFT JOIN pg_sequences s ON s.schemaname = $2 AND s.sequencename = c.relname \
                 WHERE c.relnamespace = $1 AND c.relkind = 'S' AND NOT EXISTS (SELECT 1 FROM pg_depend d \
                   WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid \
                   AND (d.deptype = 'e' OR (d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')))) \
                 ORDER BY 1",
                &[&ns, &self.schema],
            )
            .await
            .map_err(e)?
        {
            let (name, last): (String, Option<i64>) = (r.get(0), r.get(1));
            let (state, set) = match last {
                Some(v) => (
                    format!("last value {v}"),
                    format!(" and set it with setval('{name}', {v})"),
                ),
                None => ("never used".to_string(), String::new()),
            };
            nc.push(listed(
                "sequence",
                name.clone(),
                format!("a sequence no column owns ({state}): create it on the target (CREATE SEQUENCE {}){set}", quote_ident(&name)),
            ));
        }

        for r in c
            .query(
                "SELECT extname::text, extversion FROM pg_extension WHERE extname <> 'plpgsql' ORDER BY 1",
                &[],
            )
            .await
            .map_err(e)?
        {
            let (name, version): (String, String) = (r.get(0), r.get(1));
            nc.push(listed(
                "extension",
                name.clone(),
                format!("extension {name} {version}: install it on the target (CREATE EXTENSION {name}) if the application needs it; columns of its types are carried as their text form"),
            ));
        }

        // User-defined types: enums, domains, ranges and standalone
        // composites (not a table's row type, not an extension's).
        for r in c
            .query(
                "SELECT t.typname::text, t.typtype::text, coalesce(format_type(t.typbasetype, t.typtypmod), ''), \
                 coalesce((SELECT string_agg(quote_literal(enumlabel), ', ' ORDER BY enumsortorder) \
                   FROM pg_enum WHERE enumtypid = t.oid), '') \
                 FROM pg_type t LEFT JOIN pg_class c ON c.oid = t.typrelid \
                 WHERE t.typnamespace = $1 AND (t.typtype IN ('e', 'd', 'r') OR (t.typtype = 'c' AND c.relkind = 'c')) \
                 AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_type'::regclass \
                   AND d.objid = t.oid AND d.deptype = 'e') ORDER BY 1",
                &[&ns],
            )
            .await
            .map_err(e)?
        {
            let (name, kind, base, labels): (String, String, String, String) =
                (r.get(0), r.get(1), r.get(2), r.get(3));
            let reason = match kind.as_str() {
                "e" => format!("an enum type ({labels}): its columns are carried as text; create it on the target (CREATE TYPE {name} AS ENUM ({labels})) and ALTER the columns to it"),
                "d" => format!("a domain over {base}: its columns are carried as {base}'s type without the domain's constraints; create the domain on the target and ALTER the columns to it"),
                "r" => "a range type: its columns are carried as text; create the type on the target and ALTER the columns to it".to_string(),
                _ => "a composite type: its columns are carried as text; create the type on the target and ALTER the columns to it".to_string(),
            };
            nc.push(listed("type", name, reason));
        }
        for r in c
            .query(
                "SELECT collname::text FROM pg_collation WHERE collnamespace = $1 ORDER BY 1",
                &[&ns],
            )
            .await
            .map_err(e)?
        {
            nc.push(listed(
                "collation",
                r.get(0),
                "a collation of the schema: create it on the target (CREATE COLLATION) and use it in the columns that need it".into(),
            ));
        }

        // Rewrite rules, except the one that makes a view a view.
        for r in c
            .query(
                "SELECT c.relname::text, c.relkind::text, r.rulename::text, pg_get_ruledef(r.oid) \
                 FROM pg_rewrite r JOIN pg_class c ON c.oid = r.ev_class \
                 WHERE c.relnamespace = $1 AND r.rulename <> '_RETURN' ORDER BY 1, 3",
                &[&ns],
            )
            .await
            .map_err(e)?
        {
            let (rel, relkind, name, def): (String, String, String, String) =
                (r.get(0), r.get(1), r.get(2), r.get(3));
            if owned(&rel, &relkind) {
                nc.push(listed(
                    "rule",
                    format!("{rel}.{name}"),
                    format!(
                        "ferry does not carry rewrite rules: recreate it on the target ({def})"
                    ),
                ));
            }
        }

        // Indexes the sinks cannot create (expression, partial, non-btree)
        // and exclusion constraints.
        for r in c
            .query(
                "SELECT c.relname::text, c.relkind::text, ic.relname::text, am.amname::text, \
                 con.contype IS NOT NULL, coalesce(pg_get_constraintdef(con.oid), pg_get_indexdef(i.indexrelid)), \
                 i.indexprs IS NOT NULL OR 0 = ANY(i.indkey::int2[]), i.indpred IS NOT NULL \
                 FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid \
                 JOIN pg_class c ON c.oid = i.indrelid JOIN pg_am am ON am.oid = ic.relam \
                 LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid AND con.conrelid = i.indrelid \
                   AND con.contype = 'x' \
                 WHERE c.relnamespace = $1 AND (con.oid IS NOT NULL OR (NOT EXISTS (SELECT 1 FROM pg_constraint k \
                   WHERE k.conindid = i.indexrelid AND k.conrelid = i.indrelid AND k.contype IN ('p', 'u')) \
                   AND (i.indexprs IS NOT NULL OR 0 = ANY(i.indkey::int2[]) OR i.indpred IS NOT NULL \
                   OR am.amname <> 'btree'))) ORDER BY 1, 3",
                &[&ns],
            )
            .await
            .map_err(e)?
        {
            let (rel, relkind, name, am): (String, String, String, String) =
                (r.get(0), r.get(1), r.get(2), r.get(3));
            let (exclusion, def, expr, partial): (bool, String, bool, bool) =
                (r.get(4), r.get(5), r.get(6), r.get(7));
            if !owned(&rel, &relkind) || relkind == "m" {
                continue;
            }
            let what = if exclusion {
                "an exclusion constraint".to_string()
            } else if expr {
                "an expression index".to_string()
            } else if partial {
                "a partial index".to_string()
            } else {
                format!("a {am} index")
            };
            let how = if exclusion {
                format!("ALTER TABLE {} ADD CONSTRAINT {} {def}", quote_ident(&rel), quote_ident(&name))
            } else {
                def
            };
            nc.push(listed(
                "index",
                format!("{rel}.{name}"),
                format!("{what}: ferry creates plain column indexes only; recreate it on the target ({how})"),
            ));
        }

        // Per column: generated columns (computed, so not read) and
        // collations other than the type's.
        for r in c
            .query(
                "SELECT c.relname::text, c.relkind::text, a.attname::text, a.attgenerated <> '', \
                 coalesce(pg_get_expr(d.adbin, d.adrelid), ''), coalesce(co.collname::text, '') \
                 FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid \
                 JOIN pg_type t ON t.oid = a.atttypid \
                 LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
                 LEFT JOIN pg_collation co ON co.oid = a.attcollation \
                 WHERE c.relnamespace = $1 AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped \
                 AND (a.attgenerated <> '' OR (a.attcollation <> 0 AND a.attcollation <> t.typcollation)) \
                 ORDER BY 1, a.attnum",
                &[&ns],
            )
            .await
            .map_err(e)?
        {
            let (rel, relkind, col): (String, String, String) = (r.get(0), r.get(1), r.get(2));
            let (generated, expr, coll): (bool, String, String) = (r.get(3), r.get(4), r.get(5));
            if !owned(&rel, &relkind) {
                continue;
            }
            nc.push(if generated {
                listed(
                    "column",
                    format!("{rel}.{col}"),
                    format!("a generated column (GENERATED ALWAYS AS ({expr}) STORED): computed, so not copied; add it on the target with ALTER TABLE {} ADD COLUMN {} … GENERATED ALWAYS AS ({expr}) STORED", quote_ident(&rel), quote_ident(&col)),
                )
            } else {
                listed(
                    "collation",
                    format!("{rel}.{col}"),
                    format!("collated \"{coll}\": the target column gets the target's default collation; ALTER its type with COLLATE \"{coll}\" on the target if sorting or comparisons depend on it"),
                )
            });
        }

        for r in c
            .query(
                "SELECT c.relname::text, c.relkind::text, p.polname::text FROM pg_policy p \
                 JOIN pg_class c ON c.oid = p.polrelid WHERE c.relnamespace = $1 ORDER BY 1, 3",
                &[&ns],
            )
            .await
            .map_err(e)?
        {
            let (rel, relkind, name): (String, String, String) = (r.get(0), r.get(1), r.get(2));
            if owned(&rel, &relkind) {
                nc.push(listed(
                    "policy",
                    format!("{rel}.{name}"),
                    "a row-level security policy: recreate it on the target (CREATE POLICY, ALTER TABLE … ENABLE ROW LEVEL SECURITY) before the application's users connect".into(),
                ));
            }
        }
        Ok(out)
    }

    /// The schema's views in creation order (each after the views it
    /// reads; ties by name), and those that read a relation the run does not
    /// carry, listed.
    async fn views(
        &self,
        c: &Client,
        ns: u32,
        migrated: &BTreeSet<&str>,
    ) -> Result<(Vec<ViewDef>, Vec<NotCarried>), EndpointError> {
        let e = |x: tokio_postgres::Error| self.err(None, &x);
        let mut defs: BTreeMap<String, String> = BTreeMap::new();
        for r in c
            .query(
                "SELECT relname::text, pg_get_viewdef(oid) FROM pg_class \
                 WHERE relnamespace = $1 AND relkind = 'v' AND relname NOT LIKE '\\_ferry\\_%'",
                &[&ns],
            )
            .await
            .map_err(e)?
        {
            let def: String = r.get(1);
            let def = def.trim().trim_end_matches(';').trim_end().to_string();
            defs.insert(r.get(0), def);
        }
        // What each view reads, from its _RETURN rule's dependencies.
        let mut reads: BTreeMap<String, Vec<(String, String, String)>> = BTreeMap::new();
        for r in c
            .query(
                "SELECT DISTINCT v.relname::text, rn.nspname::text, t.relname::text, t.relkind::text \
                 FROM pg_class v JOIN pg_rewrite rw ON rw.ev_class = v.oid AND rw.rulename = '_RETURN' \
                 JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = rw.oid \
                   AND d.refclassid = 'pg_class'::regclass \
                 JOIN pg_class t ON t.oid = d.refobjid JOIN pg_namespace rn ON rn.oid = t.relnamespace \
                 WHERE v.relnamespace = $1 AND v.relkind = 'v' AND t.oid <> v.oid \
                   AND t.relkind IN ('r', 'p', 'v', 'm', 'f') ORDER BY 1, 2, 3",
                &[&ns],
            )
            .await
            .map_err(e)?
        {
            reads
                .entry(r.get(0))
                .or_default()
                .push((r.get(1), r.get(2), r.get(3)));
        }
        let ns_name = &self.schema;
        // Why a relation a view reads would be missing on the target.
        let missing = |schema: &str, rel: &str, kind: &str| -> Option<String> {
            if SYSTEM_SCHEMAS.contains(&schema) {
                return None;
            }
            if schema != ns_name {
                return Some(format!(
                    "`{schema}.{rel}` of another schema, which this run does not migrate"
                ));
            }
            match kind {
                "r" | "p" if migrated.contains(rel) => None,
                "r" | "p" => Some(format!("table `{rel}`, which this run does not migrate")),
                "m" => Some(format!(
                    "materialized view `{rel}`, which ferry does not carry"
                )),
                "f" => Some(format!("foreign table `{rel}`, which ferry does not carry")),
                _ => None,
            }
        };
        let mut order = Vec::new();
        let mut not = Vec::new();
        let mut done: BTreeSet<String> = BTreeSet::new();
        let mut dropped: BTreeMap<String, String> = BTreeMap::new();
        // Kahn's order by name: repeatedly take every view whose views are
        // placed; a view reading a missing relation (or a dropped view) is
        // dropped with the reason. Views cannot form a cycle.
        let mut pending: BTreeSet<String> = defs.keys().cloned().collect();
        while !pending.is_empty() {
            let mut progress = false;
            for v in pending.clone() {
                let deps = reads.get(&v).map(Vec::as_slice).unwrap_or_default();
                let why = deps.iter().find_map(|(s, r, k)| {
                    missing(s, r, k).or_else(|| {
                        (k == "v" && s == ns_name && dropped.contains_key(r))
                            .then(|| format!("view `{r}`, which is not carried either"))
                    })
                });
                if let Some(why) = why {
                    dropped.insert(v.clone(), why);
                    pending.remove(&v);
                    progress = true;
                    continue;
                }
                let ready = deps.iter().all(|(s, r, k)| {
                    k != "v" || s != ns_name || done.contains(r) || !defs.contains_key(r)
                });
                if ready {
                    pending.remove(&v);
                    done.insert(v.clone());
                    order.push(v);
                    progress = true;
                }
            }
            if !progress {
                // Not reachable for views; keep the rest in name order
                // rather than loop.
                order.extend(std::mem::take(&mut pending));
            }
        }
        for (v, why) in dropped {
            not.push(listed(
                "view",
                v,
                format!("it reads {why}; migrate what it reads, or create the view on the target by hand"),
            ));
        }
        let views = order
            .into_iter()
            .filter_map(|name| {
                let definition = defs.remove(&name)?;
                Some(ViewDef { name, definition })
            })
            .collect();
        Ok((views, not))
    }
}
