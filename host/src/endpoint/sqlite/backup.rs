//! What the ledger needs of a SQLite target besides its tables (those are
//! written once for every SQL endpoint in `endpoint::sql::ledger`):
//! checksums, snapshots of the file as backups, restores, restarts.

use super::*;
use crate::endpoint::{EndpointError, REJECTS_TABLE};
use rusqlite::params_from_iter;
use rusqlite::types::ValueRef as Sql;

impl SqliteSink {
    /// Rows and an order-independent checksum of a table's content
    /// (SHA-256 over the sorted per-row hashes of typed values); `None`
    /// when the table does not exist.
    pub fn table_checksum(&self, table: &str) -> Result<Option<(u64, String)>, EndpointError> {
        use sha2::{Digest, Sha256};
        if !self.exists(table)? {
            return Ok(None);
        }
        let err = |e: rusqlite::Error| q_err(&self.name, Some(table), e);
        let mut st = self
            .conn
            .prepare(&format!("SELECT * FROM {}", quote_ident(table)))
            .map_err(err)?;
        let n = st.column_count();
        let mut rows = st.query([]).map_err(err)?;
        let mut hashes: Vec<[u8; 32]> = Vec::new();
        while let Some(r) = rows.next().map_err(err)? {
            let mut h = Sha256::new();
            for i in 0..n {
                match r.get_ref(i).map_err(err)? {
                    Sql::Null => h.update(b"n"),
                    Sql::Integer(v) => {
                        h.update(b"i");
                        h.update(v.to_le_bytes());
                    }
                    Sql::Real(v) => {
                        h.update(b"r");
                        h.update(v.to_bits().to_le_bytes());
                    }
                    Sql::Text(t) => {
                        h.update(b"t");
                        h.update((t.len() as u64).to_le_bytes());
                        h.update(t);
                    }
                    Sql::Blob(b) => {
                        h.update(b"b");
                        h.update((b.len() as u64).to_le_bytes());
                        h.update(b);
                    }
                }
            }
            hashes.push(h.finalize().into());
        }
        hashes.sort_unstable();
        let mut all = Sha256::new();
        for h in &hashes {
            all.update(h);
        }
        Ok(Some((hashes.len() as u64, hex::encode(all.finalize()))))
    }

    /// A consistent copy of the whole database file next to it
    /// (`VACUUM INTO`), taken before a run replaces tables; its path.
    pub fn snapshot(&mut self, run_id: &str) -> Result<String, EndpointError> {
        let short: String = run_id.chars().take(8).collect();
        let file = self.path.with_file_name(format!(
            "{}.ferry-backup-{short}.db",
            self.path
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default()
        ));
        let _ = std::fs::remove_file(&file);
        self.conn
            .execute("VACUUM INTO ?1", [file.to_string_lossy()])
            .map_err(|e| {
                q_err(
                    &self.name,
                    None,
                    format!("snapshot to {}: {e}", file.display()),
                )
            })?;
        Ok(file.to_string_lossy().into_owned())
    }

    /// Puts `table` back as it was before a run: gone (`absent`), or as in
    /// the snapshot (`snapshot`, with its indexes), in one transaction.
    pub fn restore_table(
        &mut self,
        table: &str,
        kind: &str,
        backup: Option<&str>,
    ) -> Result<(), EndpointError> {
        let err = |e: rusqlite::Error| q_err(&self.name, Some(table), e);
        if let (Some(file), "snapshot") = (backup, kind) {
            self.conn
                .execute("ATTACH DATABASE ?1 AS ferry_snap", [file])
                .map_err(err)?;
        }
        let res = (|| -> rusqlite::Result<()> {
            let tx = self.conn.transaction()?;
            tx.execute_batch(&format!("DROP TABLE IF EXISTS main.{}", quote_ident(table)))?;
            if kind == "snapshot" {
                let ddl: Vec<String> = {
                    let mut st = tx.prepare(
                        "SELECT sql FROM ferry_snap.sqlite_master WHERE tbl_name = ?1 AND sql IS NOT NULL \
                         ORDER BY type = 'table' DESC",
                    )?;
                    st.query_map([table], |r| r.get(0))?
                        .collect::<Result<_, _>>()?
                };
                let (create, indexes) = ddl
                    .split_first()
                    .map(|(c, i)| (c.clone(), i.to_vec()))
                    .unwrap_or_default();
                tx.execute_batch(&create)?;
                tx.execute_batch(&format!(
                    "INSERT INTO main.{t} SELECT * FROM ferry_snap.{t}",
                    t = quote_ident(table)
                ))?;
                for ix in indexes {
                    tx.execute_batch(&ix)?;
                }
            }
            tx.commit()
        })();
        if kind == "snapshot" {
            let _ = self.conn.execute_batch("DETACH DATABASE ferry_snap");
        }
        res.map_err(err)
    }

    /// Deletes a run's rows from the rejects table (a rolled-back run leaves none).
    pub fn delete_run_rejects(&mut self, run_id: &str) -> Result<(), EndpointError> {
        if !self.exists(REJECTS_TABLE)? {
            return Ok(());
        }
        self.conn
            .execute(
                &format!("DELETE FROM {REJECTS_TABLE} WHERE run_id = ?1"),
                [run_id],
            )
            .map(|_| ())
            .map_err(|e| q_err(&self.name, Some(REJECTS_TABLE), e))
    }

    /// Empties a table and this run's rejects for it (a table reloaded from
    /// scratch on resume), in one transaction.
    pub fn restart_table(
        &mut self,
        run_id: &str,
        table: &str,
        source_table: &str,
    ) -> Result<(), EndpointError> {
        let err = |e: rusqlite::Error| q_err(&self.name, Some(table), e);
        let tx = self.conn.transaction().map_err(err)?;
        tx.execute(&format!("DELETE FROM {}", quote_ident(table)), [])
            .map_err(err)?;
        for (sql, p) in crate::endpoint::sql::ledger::restart_statements(
            &crate::endpoint::sql::dialect::SQLITE,
            run_id,
            source_table,
        ) {
            tx.execute(&sql, params_from_iter(p.iter().map(to_param)))
                .map_err(err)?;
        }
        tx.commit().map_err(err)
    }
}
