//! JSON directory endpoint (`json:DIR`): one JSON Lines file per table plus a
//! schema file. The format is specified in `docs/json-format.md`:
//!
//! - `DIR/_schema.json` — `{"format":"ferry-json","version":1,"tables":[TableDef…]}`;
//! - `DIR/<table>.jsonl` — one object per row, keys = column names in column order;
//! - `DIR/_ferry_rejects.jsonl` — the quarantine file (the `_ferry_rejects` table's equivalent).
//!
//! Every value is encoded so it round-trips exactly (see `encode_value`);
//! a value that does not decode as its column's type is a reject at read,
//! never a guess. `finish` enforces the recorded keys as a database would:
//! duplicates and foreign-key orphans move to the quarantine file.
//!
//! Options (`json:DIR?…`, see `split_url`): a source's `normalise=T.C`
//! reads json column `C`'s arrays of objects as a child table `T__C`
//! (`table_records`); a target's `nest=T__C` folds that child table back
//! into `C` in `finish` (`JsonSink::nest_one`) and records it in
//! `_schema.json`, so the same URL read as a source (verify) shows the
//! child table again.
//!
//! Blocking IO: the source runs each whole operation in
//! `tokio::task::spawn_blocking` (it owns its inputs, and a long scan must
//! not hold a runtime worker); the sink borrows `&mut self` and its open
//! writers, so it uses `tokio::task::block_in_place`, as the SQLite sink does.
//!
//! Layout: [`layout`] (file names, URL options, the schema file), [`encode`]
//! and [`decode`] (values both ways, the line/array scanner), [`infer`]
//! (schemaless directories), [`normalise`] and [`nest`] (child tables of
//! json arrays), [`source`], [`sink`], [`keys`] (enforcing keys in
//! `finish`), [`backup`] (positions, copies and restores for the ledger).

mod layout;
mod encode;
mod decode;
mod infer;
mod normalise;
mod source;
mod sink;
mod backup;
mod keys;
mod nest;

use layout::*;
pub use encode::*;
use decode::*;
use infer::*;
use normalise::*;
pub use source::*;
pub use sink::*;
use backup::*;
use keys::*;
use nest::*;

#[cfg(test)]
mod tests;
