//! What each endpoint can do, declared once by its driver. The engine asks
//! these questions instead of asking which endpoint it has, and every
//! "this endpoint cannot …" message is written here, from the declarations
//! of all drivers, so it can never name the wrong ones.

/// How a source continues a table's read after a checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResumeBy {
    /// It cannot: a resumed table is reloaded from scratch.
    Reload,
    /// After the checkpoint's key (SQLite's rowid; a single-column integer
    /// primary key elsewhere) when the table has one (see `Source::resumable`).
    Key,
    /// After the checkpoint's cursor value, a name that orders the source's
    /// items ([`PATH_MARK`] for a directory of files).
    Cursor(&'static str),
}

/// The mark of a keyset read in the ledger (`cursor_column` of a
/// checkpoint): the table was read in key order and `position` is the last
/// key. (The name predates the other keys; ledgers keep it.)
pub const KEY_MARK: &str = "rowid";

/// The mark of a read in path order (a directory of files): the cursor value
/// is the last path whose records are committed.
pub const PATH_MARK: &str = "$path";

/// One endpoint's abilities.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// The scheme, as users write it (`sqlite`, `postgres`, …).
    pub scheme: &'static str,
    /// How users write one (`sqlite:PATH`), for messages.
    pub example: &'static str,
    /// It can be read from.
    pub source: bool,
    /// It can be written to.
    pub sink: bool,
    /// As a target: it keeps ferry's ledger (runs, checkpoints, backups, marks).
    pub ledger: bool,
    /// As a target: a batch, its rejects and its checkpoint commit atomically.
    /// Without it the ledger lives elsewhere (`--state`) and a resume cuts the
    /// target back to the positions the checkpoints recorded.
    pub transactions: bool,
    /// As a target: rows can replace rows with the same key (incremental runs, sync).
    pub upsert: bool,
    /// As a target: rows can be deleted by key (sync, a files run's changed files).
    pub delete: bool,
    /// As a target: every consolidation conflict policy is applied and
    /// children follow the kept row (others keep the first row).
    pub conflict_policies: bool,
    /// As a target: tables that load at once, each on its own connection.
    pub parallel_writers: usize,
    /// As a target: the identifier limit in bytes and whether column names
    /// fold case; `None` when names are unlimited.
    pub identifiers: Option<(usize, bool)>,
    /// As a target: words that must be quoted as names (lower case): the
    /// plan warns, since the application's own queries must quote them too.
    pub reserved_words: &'static [&'static str],
    /// As a source: how a resumed table continues.
    pub resume: ResumeBy,
    /// As a source: `--incremental --cursor COLUMN` reads after a high-water mark.
    pub cursor_scan: bool,
    /// As a source: an incremental run reads each table after its
    /// high-water mark (key or cursor). A source without marks (a directory
    /// of files) finds its changes itself, by content, and is read whole.
    pub incremental_by_marks: bool,
    /// As a source: several tables can be read at once.
    pub parallel_reads: bool,
    /// As a source: what the declared types do not say is sampled from the
    /// values (SQLite's type affinity), so promotions are proposed.
    pub samples_values: bool,
    /// As a source: verification reads it a second time. A source that is
    /// not re-read (a directory of files: a second parse costs a whole
    /// parse, and the directory may have moved on) checks the target itself.
    pub reread_to_verify: bool,
    /// As a source: a dry run reads everything (parsing files is what a
    /// dry run of a directory is for); other sources render the plan.
    pub dry_run_reads: bool,
    /// As a target: text can hold a NUL character and JSON a `\u0000`
    /// escape (PostgreSQL's `text` and `jsonb` cannot: such a value is one
    /// row's — or one file's — problem, never the run's).
    pub stores_nul: bool,
    /// As a target: a foreign key's columns need an index of their own
    /// for joins and parent deletes not to scan the child table
    /// (PostgreSQL and SQLite do not create one; MySQL does).
    pub foreign_keys_need_index: bool,
    /// As a target: a table's own keys (primary key, unique constraints,
    /// indexes, checks) and its statistics can be built on a connection of
    /// their own as soon as the table has loaded, while other tables still
    /// load. Its `finish` must skip what exists already (a resumed run's
    /// contract), since the run's `finish` after the load goes over every
    /// table again for the foreign keys.
    pub keys_while_loading: bool,
}

/// Something a run may need from an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feature {
    Source,
    Sink,
    Ledger,
    Upsert,
    Delete,
    CursorScan,
    /// Holding the ledger of another target (`--state`).
    StateStore,
}

impl Feature {
    fn has(self, c: &Capabilities) -> bool {
        match self {
            Feature::Source => c.source,
            Feature::Sink => c.sink,
            Feature::Ledger => c.ledger,
            Feature::Upsert => c.upsert,
            Feature::Delete => c.delete,
            Feature::CursorScan => c.cursor_scan,
            Feature::StateStore => c.ledger && c.transactions,
        }
    }

    fn what(self) -> &'static str {
        match self {
            Feature::Source => "is not a source",
            Feature::Sink => "is a source only",
            Feature::Ledger => "keeps no ledger (runs, checkpoints, resume, history, rollback)",
            Feature::Upsert => "cannot replace rows by key (incremental runs, sync)",
            Feature::Delete => "cannot delete rows (sync, incremental runs of a directory)",
            Feature::CursorScan => "cannot be read after a high-water mark (--cursor)",
            Feature::StateStore => "cannot hold another target's ledger (--state)",
        }
    }
}

impl Capabilities {
    /// Whether it has `f`.
    pub fn has(&self, f: Feature) -> bool {
        f.has(self)
    }

    /// Says that `name` (an endpoint of this kind) lacks `f`, and which
    /// endpoints have it — from the drivers' own declarations.
    pub fn cannot(&self, name: &str, f: Feature) -> String {
        let able: Vec<&str> = super::ALL
            .iter()
            .filter(|c| f.has(c))
            .map(|c| c.example)
            .collect();
        let hint = match f {
            Feature::Ledger if !self.transactions => {
                " here; give it one with --state sqlite:PATH (or a PostgreSQL/MySQL database)"
                    .to_string()
            }
            _ if able.is_empty() => String::new(),
            _ => format!("; these can: {}", able.join(", ")),
        };
        format!("{name} {}{hint}", f.what())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_exactly_the_drivers_that_can() {
        let json = super::super::ALL
            .iter()
            .find(|c| c.scheme == "json")
            .unwrap();
        let m = json.cannot("json:out", Feature::Upsert);
        for c in super::super::ALL {
            assert_eq!(m.contains(c.example), c.upsert, "{m}");
        }
        // MySQL keeps a ledger: a message listing ledger targets names it.
        let files = super::super::ALL
            .iter()
            .find(|c| c.scheme == "files")
            .unwrap();
        let m = files.cannot("files:dir", Feature::StateStore);
        assert!(m.contains("mysql://"), "{m}");
        assert!(!m.contains("json:"), "{m}");
    }
}
