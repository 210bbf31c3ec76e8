//! Schemas: what a table looks like, independent of any endpoint.

use serde::{Deserialize, Serialize};

/// ferry's logical types — the value model every endpoint maps to and from.
///
/// The physical representation of each type inside a [`crate::Batch`]
/// is fixed (see [`LogicalType::storage`]); it is the same as the WIT
/// contract's, so batches cross into plugins without conversion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogicalType {
    Boolean,
    Int64,
    Float64,
    /// Exact decimal as canonical text.
    Decimal,
    #[default]
    Text,
    Bytes,
    /// JSON document as text.
    Json,
    /// Days since 1970-01-01.
    Date,
    /// Microseconds since midnight.
    Time,
    /// Microseconds since 1970-01-01T00:00:00, no zone.
    Timestamp,
    /// Microseconds since the Unix epoch, UTC.
    Timestamptz,
    /// 16 bytes, big-endian.
    Uuid,
}

/// How a logical type is stored in a batch column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Storage {
    Bools,
    Ints,
    Floats,
    Dates,
    Uuids,
    Utf8,
    Binary,
}

impl LogicalType {
    /// The physical storage of this type in a batch.
    pub fn storage(self) -> Storage {
        match self {
            LogicalType::Boolean => Storage::Bools,
            LogicalType::Int64
            | LogicalType::Time
            | LogicalType::Timestamp
            | LogicalType::Timestamptz => Storage::Ints,
            LogicalType::Float64 => Storage::Floats,
            LogicalType::Date => Storage::Dates,
            LogicalType::Uuid => Storage::Uuids,
            LogicalType::Decimal | LogicalType::Text | LogicalType::Json => Storage::Utf8,
            LogicalType::Bytes => Storage::Binary,
        }
    }

    /// Lowercase name, as used in plans, reports and config.
    pub fn name(self) -> &'static str {
        match self {
            LogicalType::Boolean => "boolean",
            LogicalType::Int64 => "int64",
            LogicalType::Float64 => "float64",
            LogicalType::Decimal => "decimal",
            LogicalType::Text => "text",
            LogicalType::Bytes => "bytes",
            LogicalType::Json => "json",
            LogicalType::Date => "date",
            LogicalType::Time => "time",
            LogicalType::Timestamp => "timestamp",
            LogicalType::Timestamptz => "timestamptz",
            LogicalType::Uuid => "uuid",
        }
    }
}

impl std::fmt::Display for LogicalType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One column of a batch schema.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Column {
    pub name: String,
    pub logical_type: LogicalType,
    pub nullable: bool,
}

/// The schema of a batch: what crosses into plugins and into sinks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schema {
    pub table: String,
    pub columns: Vec<Column>,
}

impl Schema {
    /// Index of the column with this exact name.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }
}

/// A table as introspected from a source endpoint: columns plus the keys,
/// indexes, foreign keys and checks that the sink recreates after the load.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct TableDef {
    pub name: String,
    pub columns: Vec<ColumnDef>,
    /// Primary key columns in key order; empty when the table has none.
    pub primary_key: Vec<String>,
    pub unique: Vec<UniqueDef>,
    pub indexes: Vec<IndexDef>,
    pub foreign_keys: Vec<ForeignKeyDef>,
    /// CHECK constraints. In a source's definition the expression is in the
    /// source's dialect; in a plan's target definition it is what the
    /// target runs (translated by the planner, or left out and listed in
    /// the plan's `not_carried`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<CheckDef>,
}

/// A CHECK constraint: its name (the source's, or one ferry gives it:
/// `<table>_check<N>`) and its boolean expression, without `CHECK ( )`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckDef {
    pub name: String,
    pub expression: String,
}

/// A view: its name and its defining query (`SELECT …`, without `CREATE
/// VIEW name AS`). From a source, in the source's dialect; in a plan, what
/// the target runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ViewDef {
    pub name: String,
    pub definition: String,
}

/// A schema object of the source that the target does not get, and why:
/// nothing disappears silently. `kind` is one of `view`, `materialized
/// view`, `trigger`, `function`, `procedure`, `event`, `sequence`,
/// `extension`, `collation`, `type`, `partition`, `check`, `default`,
/// `foreign key`, `index` (a partial, expression, full-text index or an
/// exclusion constraint), `column` (a generated column), `rule`, `policy`
/// (row-level security), `table` (foreign, inherited, virtual, left out).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotCarried {
    pub kind: String,
    /// The object's name; a table's own objects are `table.name`.
    pub name: String,
    pub reason: String,
}

/// What a source holds besides its tables: views (carried when they can
/// be) and everything else, listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct SchemaObjects {
    pub views: Vec<ViewDef>,
    pub not_carried: Vec<NotCarried>,
}

/// A declared type a target keeps when it has it and the values fit, rather
/// than the logical type's widest form (`docs/type-mapping.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum SqlType {
    /// A 16-bit integer (`SMALLINT`, `INT2`, MySQL `TINYINT`).
    SmallInt,
    /// A 32-bit integer (`INT`, `INTEGER` outside SQLite, `MEDIUMINT`).
    Integer,
    /// A 32-bit float (`REAL` outside SQLite, `FLOAT4`, MySQL `FLOAT`).
    Real,
    /// Text of at most `length` characters.
    Varchar { length: u32 },
    /// Text of exactly `length` characters, blank-padded.
    Char { length: u32 },
    /// An exact decimal with `precision` digits, `scale` after the point.
    Numeric { precision: u32, scale: u32 },
}

/// Longest `VARCHAR(n)`/`CHAR(n)` ferry keeps: 10,485,760 characters,
/// PostgreSQL's limit for a declared length (MySQL's `VARCHAR` is smaller:
/// its sink declares `TEXT`-family types past what a row can hold).
pub const MAX_DECLARED_LENGTH: u32 = 10_485_760;

/// Highest `numeric(p, s)` precision ferry keeps: 1000, PostgreSQL's limit.
pub const MAX_DECLARED_PRECISION: u32 = 1000;

impl SqlType {
    /// The declared type `declared` of a column of logical type `logical`,
    /// as a source of dialect `scheme` (`sqlite`, `postgres`, `mysql`)
    /// means it; `None` when ferry keeps nothing more than the logical type
    /// (SQLite's `INTEGER` is 64-bit and its floats are all 8 bytes; MySQL's
    /// unsigned types do not fit their signed namesakes; a json directory's
    /// declarations come from another database).
    pub fn from_declared(declared: &str, logical: LogicalType, scheme: &str) -> Option<SqlType> {
        // Only a database's own declaration says what its values are; a
        // json directory carries declarations from wherever it came from.
        if !matches!(scheme, "sqlite" | "postgres" | "mysql") {
            return None;
        }
        let d = declared.trim().to_ascii_lowercase();
        let d = d.split_whitespace().collect::<Vec<_>>().join(" ");
        if d.contains("unsigned") || d.contains("[]") {
            return None;
        }
        let (base, args) = match d.find('(') {
            Some(i) => {
                let close = d[i..].find(')')? + i;
                (d[..i].trim().to_string(), Some(d[i + 1..close].to_string()))
            }
            None => (d.clone(), None),
        };
        let nums: Vec<u32> = match &args {
            Some(a) => a
                .split(',')
                .map(|x| x.trim().parse::<u32>().ok())
                .collect::<Option<Vec<_>>>()?,
            None => Vec::new(),
        };
        let base = base.as_str();
        match logical {
            LogicalType::Int64 => match base {
                "smallint" | "int2" | "tinyint" => Some(SqlType::SmallInt),
                "int" | "int4" | "mediumint" => Some(SqlType::Integer),
                // SQLite's INTEGER holds 64 bits; everywhere else it is 32.
                "integer" if scheme != "sqlite" => Some(SqlType::Integer),
                _ => None,
            },
            // SQLite stores every float in 8 bytes, whatever it declares.
            LogicalType::Float64 if scheme == "sqlite" => None,
            LogicalType::Float64 => match base {
                "float4" => Some(SqlType::Real),
                "real" if scheme != "sqlite" => Some(SqlType::Real),
                // MySQL's FLOAT is 4 bytes (FLOAT(p) with p <= 24 too).
                "float" if scheme == "mysql" && nums.first().is_none_or(|p| *p <= 24) => {
                    Some(SqlType::Real)
                }
                _ => None,
            },
            LogicalType::Text => {
                let n = *nums.first()?;
                if nums.len() != 1 || n == 0 || n > MAX_DECLARED_LENGTH {
                    return None;
                }
                match base {
                    "varchar" | "character varying" | "nvarchar" | "varchar2"
                    | "national varchar" | "varying character" | "nvarchar2" => {
                        Some(SqlType::Varchar { length: n })
                    }
                    "char" | "character" | "nchar" | "national char" | "native character"
                    | "bpchar" => Some(SqlType::Char { length: n }),
                    _ => None,
                }
            }
            LogicalType::Decimal => {
                if !matches!(base, "numeric" | "decimal" | "dec" | "fixed") {
                    return None;
                }
                let (p, s) = match nums.as_slice() {
                    [p] => (*p, 0),
                    [p, s] => (*p, *s),
                    _ => return None,
                };
                ((1..=MAX_DECLARED_PRECISION).contains(&p) && s <= p).then_some(SqlType::Numeric {
                    precision: p,
                    scale: s,
                })
            }
            _ => None,
        }
    }

    /// Whether an integer fits this type (`true` for non-integer types).
    pub fn fits_int(self, v: i64) -> bool {
        match self {
            SqlType::SmallInt => i16::try_from(v).is_ok(),
            SqlType::Integer => i32::try_from(v).is_ok(),
            _ => true,
        }
    }

    /// Whether text of `chars` characters fits this type.
    pub fn fits_chars(self, chars: u64) -> bool {
        match self {
            SqlType::Varchar { length } | SqlType::Char { length } => chars <= u64::from(length),
            _ => true,
        }
    }

    /// As a plan and a report show it: `smallint`, `varchar(45)`, …
    pub fn describe(self) -> String {
        match self {
            SqlType::SmallInt => "smallint".into(),
            SqlType::Integer => "integer".into(),
            SqlType::Real => "real".into(),
            SqlType::Varchar { length } => format!("varchar({length})"),
            SqlType::Char { length } => format!("char({length})"),
            SqlType::Numeric { precision, scale } => format!("numeric({precision},{scale})"),
        }
    }
}

/// A source column: its logical type plus what the source declared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ColumnDef {
    pub name: String,
    /// The type as declared in the source (`VARCHAR(20)`, `INTEGER`, `""`).
    pub declared_type: String,
    pub logical_type: LogicalType,
    pub nullable: bool,
    /// The column's default as the source declares it (SQL text, e.g.
    /// `'new'`, `0`, `CURRENT_TIMESTAMP`, `nextval('s')`); `None` when it
    /// has none. Targets carry it when it is portable ([`portable_default`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    /// The column takes the next value of a counter when an `INSERT`
    /// leaves it out: SQLite's `AUTOINCREMENT` or rowid alias (`INTEGER
    /// PRIMARY KEY`), PostgreSQL's identity or `serial`, MySQL's
    /// `AUTO_INCREMENT`. Targets declare their own form and restart the
    /// counter after the largest value loaded.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub identity: bool,
    /// In a plan's target definition: the declared type the target keeps
    /// (`varchar(45)`, `smallint`, …) because it has it and every value
    /// fits; `None`: the logical type's own mapping. Sources leave it `None`
    /// (the planner decides from `declared_type`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sql_type: Option<SqlType>,
}

/// A default every SQL target can declare the same way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortableDefault {
    /// A number, as written (`0`, `-1.5`).
    Number(String),
    /// A string literal's value (unquoted).
    Text(String),
    Bool(bool),
    /// The time of insert.
    CurrentTimestamp,
}

impl PortableDefault {
    /// The default as SQL, for PostgreSQL, SQLite and MySQL alike.
    pub fn sql(&self) -> String {
        match self {
            PortableDefault::Number(n) => n.clone(),
            PortableDefault::Text(t) => format!("'{}'", t.replace('\'', "''")),
            PortableDefault::Bool(b) => if *b { "TRUE" } else { "FALSE" }.to_string(),
            PortableDefault::CurrentTimestamp => "CURRENT_TIMESTAMP".to_string(),
        }
    }
}

/// The `DEFAULT` clause value for `col` on a target, when its default is
/// portable and fits the column's logical type (`mysql`: MySQL needs the
/// precision on `CURRENT_TIMESTAMP(6)` for its `DATETIME(6)` columns).
pub fn default_sql(col: &ColumnDef, mysql: bool) -> Option<String> {
    use PortableDefault as D;
    let d = portable_default(col.default.as_deref()?)?;
    let t = col.logical_type;
    match (&d, t) {
        (D::Bool(_), LogicalType::Boolean) => Some(d.sql()),
        (D::Number(n), LogicalType::Boolean) => match n.as_str() {
            "0" => Some("FALSE".into()),
            "1" => Some("TRUE".into()),
            _ => None,
        },
        (D::Number(_), LogicalType::Int64 | LogicalType::Float64 | LogicalType::Decimal) => {
            Some(d.sql())
        }
        (D::Text(s), LogicalType::Int64 | LogicalType::Float64 | LogicalType::Decimal)
            if portable_default(s).is_some_and(|x| matches!(x, D::Number(_))) =>
        {
            Some(s.clone())
        }
        (D::Number(n), LogicalType::Text) => Some(D::Text(n.clone()).sql()),
        (D::Text(_), LogicalType::Text) => Some(d.sql()),
        (D::Text(s), LogicalType::Date) if super::temporal::parse_date(s).is_some() => {
            Some(d.sql())
        }
        (D::Text(s), LogicalType::Timestamp) if super::temporal::parse_timestamp(s).is_some() => {
            Some(d.sql())
        }
        (D::Text(s), LogicalType::Uuid) if super::temporal::parse_uuid(s).is_some() => {
            Some(d.sql())
        }
        (D::CurrentTimestamp, LogicalType::Timestamp | LogicalType::Timestamptz) => {
            Some(if mysql {
                "CURRENT_TIMESTAMP(6)".into()
            } else {
                d.sql()
            })
        }
        _ => None,
    }
}

/// Whether a source default can be declared on any target with the same
/// meaning: a number, a string literal (a PostgreSQL `::type` cast after it
/// is dropped), `TRUE`/`FALSE`, or the current timestamp (`CURRENT_TIMESTAMP`,
/// `now()`, `current_timestamp()`). `NULL` is no default. Anything else — a
/// sequence, a function call — is not carried, and the plan says so.
pub fn portable_default(expr: &str) -> Option<PortableDefault> {
    let e = expr.trim();
    // PostgreSQL writes `'x'::text`, `'0'::numeric`, `(0)::bigint`.
    let e = match e.rfind("::") {
        Some(i) if !e[i..].contains('\'') => e[..i].trim(),
        _ => e,
    };
    let e = e
        .strip_prefix('(')
        .and_then(|x| x.strip_suffix(')'))
        .unwrap_or(e)
        .trim();
    let lower = e.to_ascii_lowercase();
    match lower.as_str() {
        "" | "null" => return None,
        "true" => return Some(PortableDefault::Bool(true)),
        "false" => return Some(PortableDefault::Bool(false)),
        "current_timestamp" | "current_timestamp()" | "now()" | "localtimestamp" => {
            return Some(PortableDefault::CurrentTimestamp);
        }
        _ => {}
    }
    let number = {
        let d = e.strip_prefix('-').unwrap_or(e);
        let (i, f) = d.split_once('.').unwrap_or((d, "0"));
        !i.is_empty()
            && i.bytes().all(|b| b.is_ascii_digit())
            && f.bytes().all(|b| b.is_ascii_digit())
            && !f.is_empty()
    };
    if number {
        return Some(PortableDefault::Number(e.to_string()));
    }
    if e.len() >= 2 && e.starts_with('\'') && e.ends_with('\'') {
        let inner = &e[1..e.len() - 1];
        // Only '' escapes inside: anything else (a backslash escape) is not portable.
        if !inner.replace("''", "").contains('\'') && !inner.contains('\\') {
            return Some(PortableDefault::Text(inner.replace("''", "'")));
        }
    }
    None
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UniqueDef {
    pub name: String,
    pub columns: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexDef {
    pub name: String,
    pub columns: Vec<String>,
    pub unique: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForeignKeyDef {
    pub name: String,
    pub columns: Vec<String>,
    pub ref_table: String,
    pub ref_columns: Vec<String>,
    /// `ON DELETE` action as SQL (`CASCADE`, `SET NULL`, …); `NO ACTION` when absent.
    pub on_delete: String,
    pub on_update: String,
}

impl TableDef {
    /// The batch schema of rows read from this table.
    pub fn schema(&self) -> Schema {
        Schema {
            table: self.name.clone(),
            columns: self
                .columns
                .iter()
                .map(|c| Column {
                    name: c.name.clone(),
                    logical_type: c.logical_type,
                    nullable: c.nullable,
                })
                .collect(),
        }
    }
}

/// Orders tables so that every table comes after the tables its foreign keys
/// reference. Cycles (and self references) cannot be ordered; their members
/// keep source order and are returned in `deferred`, which is harmless because
/// foreign keys are only created after every table is loaded.
pub fn dependency_order(tables: &[TableDef]) -> (Vec<usize>, Vec<String>) {
    let n = tables.len();
    let index: std::collections::HashMap<&str, usize> = tables
        .iter()
        .enumerate()
        .map(|(i, t)| (t.name.as_str(), i))
        .collect();
    let mut deps: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, t) in tables.iter().enumerate() {
        for fk in &t.foreign_keys {
            if let Some(&j) = index.get(fk.ref_table.as_str())
                && j != i
                && !deps[i].contains(&j)
            {
                deps[i].push(j);
            }
        }
    }
    let mut order = Vec::with_capacity(n);
    let mut done = vec![false; n];
    loop {
        let before = order.len();
        for i in 0..n {
            if !done[i] && deps[i].iter().all(|&d| done[d]) {
                done[i] = true;
                order.push(i);
            }
        }
        if order.len() == n {
            return (order, Vec::new());
        }
        if order.len() == before {
            // A cycle: take the rest in source order.
            let mut deferred = Vec::new();
            for i in 0..n {
                if !done[i] {
                    done[i] = true;
                    order.push(i);
                    deferred.push(tables[i].name.clone());
                }
            }
            return (order, deferred);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(name: &str, refs: &[&str]) -> TableDef {
        TableDef {
            name: name.into(),
            columns: vec![],
            primary_key: vec![],
            unique: vec![],
            indexes: vec![],
            foreign_keys: refs
                .iter()
                .map(|r| ForeignKeyDef {
                    name: format!("{name}_{r}"),
                    columns: vec!["x".into()],
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
    fn declared_types_are_read_as_their_dialect_means_them() {
        use LogicalType as L;
        use SqlType as S;
        let d = SqlType::from_declared;
        assert_eq!(d("SMALLINT", L::Int64, "sqlite"), Some(S::SmallInt));
        assert_eq!(d("INT", L::Int64, "sqlite"), Some(S::Integer));
        assert_eq!(
            d("INTEGER", L::Int64, "sqlite"),
            None,
            "SQLite's INTEGER is 64-bit"
        );
        assert_eq!(d("integer", L::Int64, "postgres"), Some(S::Integer));
        assert_eq!(d("int(10) unsigned", L::Int64, "mysql"), None);
        assert_eq!(d("REAL", L::Float64, "sqlite"), None);
        assert_eq!(
            d("FLOAT4", L::Float64, "sqlite"),
            None,
            "8 bytes whatever it says"
        );
        assert_eq!(d("real", L::Float64, "postgres"), Some(S::Real));
        assert_eq!(d("float", L::Float64, "mysql"), Some(S::Real));
        assert_eq!(d("double", L::Float64, "mysql"), None);
        assert_eq!(
            d("VARCHAR(45)", L::Text, "sqlite"),
            Some(S::Varchar { length: 45 })
        );
        assert_eq!(
            d("character varying(40)", L::Text, "postgres"),
            Some(S::Varchar { length: 40 })
        );
        assert_eq!(d("char(2)", L::Text, "mysql"), Some(S::Char { length: 2 }));
        assert_eq!(d("VARCHAR", L::Text, "sqlite"), None);
        assert_eq!(d("VARCHAR(0)", L::Text, "sqlite"), None);
        assert_eq!(d("VARCHAR(99999999)", L::Text, "sqlite"), None);
        assert_eq!(
            d("DECIMAL(8,2)", L::Decimal, "sqlite"),
            Some(S::Numeric {
                precision: 8,
                scale: 2
            })
        );
        assert_eq!(d("NUMERIC(2,5)", L::Decimal, "sqlite"), None);
        assert_eq!(
            d("VARCHAR(45)", L::Text, "json"),
            None,
            "json carries others' types"
        );
        assert_eq!(d("varchar(45", L::Text, "sqlite"), None);
        assert!(S::SmallInt.fits_int(-32768) && !S::SmallInt.fits_int(32768));
        assert!(S::Varchar { length: 3 }.fits_chars(3) && !S::Char { length: 3 }.fits_chars(4));
    }

    #[test]
    fn portable_defaults_are_literals_and_the_current_timestamp() {
        use PortableDefault as D;
        assert_eq!(portable_default("'new'::text"), Some(D::Text("new".into())));
        assert_eq!(portable_default("'it''s'"), Some(D::Text("it's".into())));
        assert_eq!(portable_default("(0)::bigint"), Some(D::Number("0".into())));
        assert_eq!(portable_default("-1.5"), Some(D::Number("-1.5".into())));
        assert_eq!(portable_default("now()"), Some(D::CurrentTimestamp));
        assert_eq!(
            portable_default("current_timestamp()"),
            Some(D::CurrentTimestamp)
        );
        assert_eq!(portable_default("NULL"), None);
        assert_eq!(portable_default("nextval('t_id_seq'::regclass)"), None);
        assert_eq!(portable_default("lower(hex(randomblob(4)))"), None);
        assert_eq!(portable_default("'a\\'b'"), None);
    }

    #[test]
    fn parents_come_before_children() {
        let t = vec![table("c", &["b"]), table("b", &["a"]), table("a", &[])];
        let (order, deferred) = dependency_order(&t);
        let names: Vec<_> = order.iter().map(|&i| t[i].name.as_str()).collect();
        assert_eq!(names, ["a", "b", "c"]);
        assert!(deferred.is_empty());
    }

    #[test]
    fn cycles_are_deferred_not_lost() {
        let t = vec![table("x", &["y"]), table("y", &["x"]), table("z", &["z"])];
        let (order, deferred) = dependency_order(&t);
        assert_eq!(order.len(), 3);
        assert_eq!(deferred, ["x", "y"]);
    }
}
