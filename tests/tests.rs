//! ferry's integration tests: one binary, real components built from
//! `plugins/`, real PostgreSQL, and the real `ferry` binary.
//!
//! Contents:
//! - `util`      — helpers: temp dirs, a fresh PostgreSQL database per test,
//!   fixture SQLite databases, running the `ferry` binary, plugin paths.
//! - `migrate`   — SQLite → PostgreSQL and SQLite → SQLite through a WASM
//!   transformer: every row, the transformer's change, keys and FKs after.
//! - `chinook`   — Chinook round-trips SQLite → PostgreSQL → MariaDB → json →
//!   SQLite, verify passing at each hop.
//! - `consolidate` — several SQLite sources into one PostgreSQL database:
//!   UUIDv5 keys, foreign keys rewritten, the id map, conflict policies.
//! - `fidelity`  — an application's database (views, triggers, CHECKs, named
//!   constraints, identity keys, declared types, NULL keys) SQLite →
//!   PostgreSQL → MariaDB → SQLite: every object arrives or is listed in
//!   `not_carried`; the next INSERT gets max + 1, after resume and
//!   incremental runs too; `--tables`/`--exclude-tables`.
//! - `plan`      — `ferry plan`, `migrate --dry-run`, `migrate --plan FILE`:
//!   same result as a direct run; refused when the source, a plugin or the
//!   plan itself changed; risks found by sampling.
//! - `rejects`   — validator rejects are counted, kept with their reason, exit 3;
//!   dirty values are quarantined at read, never coerced.
//! - `restart`   — a throwaway PostgreSQL cluster restarted while ferry is
//!   paused mid-run: the engine retries from its checkpoints and completes;
//!   left down, the retries end in a clean failure and `resume` completes.
//! - `rollback`  — `ferry rollback`: pre-run checksums restored after a full
//!   run, a replacing run, a killed one and a sync; runs built on are refused;
//!   `ferry sync` converges a drifted target, `--dry-run` lists the keys.
//! - `hostile`   — each hostile plugin yields its typed error naming the plugin
//!   and the limit or trap; ferry survives; no partial batch lands.
//! - `runtime`   — the plugin runtime in-process: trap recovery, digest pins,
//!   contract versions, the compiled-component cache.
//! - `parsers_json_text` — the `json` and `text` parser components: lines and
//!   arrays at every chunk size, JSONTestSuite `n_` files as positioned errors,
//!   encoding detection.
//! - `tidy`      — the layering rules of ARCHITECTURE.md on the source:
//!   wasmtime only in `plugin`, drivers only in `endpoint`, clap only in
//!   the CLI, no endpoint named by the engine, files under 1,200 lines,
//!   every code-map path real.
//! - `verify`    — `ferry verify` alone: a faithful target passes; a changed,
//!   missing, orphaned or shifted row in the target is found and named.
//! - `plugin_cli` — `ferry plugin list | inspect | check`.
//! - `pgsource`  — PostgreSQL as a source: every mapped type into SQLite and
//!   PostgreSQL exactly, keys/FK actions/indexes, NaN and infinities
//!   quarantined, SQLite → PostgreSQL → SQLite round trip.
//! - `json`      — the `json:DIR` endpoint: SQLite → JSON → SQLite/PostgreSQL
//!   exact with keys restored, dirty lines quarantined with line numbers,
//!   schemaless inference, `--if-exists`, the quarantine file, key enforcement.
//! - `parsers_csv` — the built-in `csv` parser component: csv-spectrum and
//!   the rust-csv examples (Latin-1, `;`, comments, ragged rows) at every
//!   chunk size, typed malformed-input errors, `ferry plugin check csv`.
//! - `parsers_markdown` — the built-in `markdown` parser component: the
//!   CommonMark spec and front-matter fixtures at every chunk size, malformed
//!   YAML with its line, `ferry plugin check markdown`.
//! - `files`     — `files:DIR` end to end: a mixed directory with bad files
//!   (each quarantined with its reason and position), incremental re-runs,
//!   one edited file, a custom mapping into PostgreSQL, `validate`,
//!   `analyze`, `--dry-run`.
//! - `ledger`    — crash and resume: 200,000 rows through a WASM transformer
//!   into PostgreSQL, SIGKILLed at 16 points and aborted between constraint
//!   builds at 5; `ferry resume` completes each to the clean run's
//!   checksums; a changed source is refused; `status`, `history`.
//! - `crash`     — deterministic crash points: the 200,000-row run killed
//!   (a failpoint's abort) after every batch, mid-COPY, before commits,
//!   between constraint builds, in verify, while backing up and rolling
//!   back, into PostgreSQL, SQLite and MariaDB; each resume (or repeated
//!   rollback) ends with exactly the clean run's rows.
//! - `fidelity_pg` — the PostgreSQL driver's schema fidelity through the
//!   library API: identities, CHECKs, names, views in dependency order and
//!   every object not carried; declared types, identities restarted after
//!   the max, CHECK violators quarantined, views created in any order,
//!   values PostgreSQL refuses rejected row by row (bisection).
//! - `mysql`     — MariaDB as a target (every value exact, keys and FKs after,
//!   inexact decimals / over-long keys / FK orphans rejected, `--if-exists`)
//!   and as a source (every mapped type into PostgreSQL and SQLite, dirty
//!   values rejected at read).
//! - `fidelity_sqlite` — the SQLite driver's schema fidelity: identity
//!   (AUTOINCREMENT, rowid aliases, not `integer auto_increment`), names and
//!   CHECKs from the DDL, views, triggers and virtual tables listed, extents;
//!   the sink's AUTOINCREMENT, declared types, CHECK-violating rows
//!   quarantined, `sqlite_sequence`, views in any order; NULL keys
//!   quarantined at read with the rowid, verify holding.
//! - `serve`     — `ferry serve`, the real binary on a random port: runs
//!   followed over SSE and the WebSocket to the end, tokens and roles with
//!   the audit, idempotency, 429, cancel (held at a failpoint) then resume
//!   to the exact target, rollback, validate, upload and import, a server
//!   SIGKILLed or SIGTERMed mid-run, the OpenAPI document against the
//!   routes, and the page in headless Chromium over WebDriver.
//! - `probe`     — `ferry probe` on PostgreSQL, MariaDB and SQLite targets
//!   migrated from the bundled example: every kind of derived query, results
//!   equal to the source's, a dropped foreign-key index found, a threshold
//!   failing the exit code, user queries, `ferry migrate --probe`.
//! - `plugin_new` — `ferry plugin new | build | test`: every template in Rust,
//!   Python and JavaScript built by the real toolchains and passing its own
//!   test and the conformance run as generated; a generated plugin in a real
//!   migration; conformance failing a trapping plugin; missing toolchains.
//! - `python_plugins` — plugins written in Python with `plugins/sdk-python`,
//!   built from source by componentize-py: the example transformer in a real
//!   migration into PostgreSQL, a hostile one meeting the typed limits, and
//!   Python parsers in real `files:` runs (a bad file fails only itself).
//! - `js_plugins` — plugins written in JavaScript with `plugins/sdk-js`,
//!   built from source by componentize-qjs: the example validator in a real
//!   migration into PostgreSQL, a hostile one meeting the typed limits and
//!   its exception reported with the author's stack.
//! - `schema`    — `ferry schema` on SQLite, PostgreSQL and MariaDB: up,
//!   status, down round trips with the live schema checked, drift (and CRLF
//!   that is not), two concurrent `up`s, a MariaDB migration failing
//!   half-way, baseline, reset, and `ferry migrate --schema-dir`.
//! - `schema_diff` — `ferry schema diff`: a live database against another
//!   and against a json endpoint's `_schema.json`; the migration it writes
//!   applied, after which diff finds nothing.
//! - `fidelity_mysql` — the MySQL/MariaDB driver's schema fidelity through
//!   the library: AUTO_INCREMENT, CHECKs, names, views and what is not
//!   carried read from a source; declared types, identity counters, checks
//!   (violators quarantined), views in any order, NULL keys and every
//!   refused value rejected alone in a sink.
//!
//! PostgreSQL is reached at `$FERRY_TEST_PG` (default
//! `postgres://postgres@127.0.0.1:5432`); each test creates its own uniquely
//! named database and drops it. MariaDB likewise, at `$FERRY_TEST_MYSQL_HOST`
//! / `$FERRY_TEST_MYSQL_PORT` (default `127.0.0.1:3306`, root, no password).

mod util;

mod chinook;
mod consolidate;
mod crash;
mod fidelity;
mod fidelity_mysql;
mod fidelity_pg;
mod fidelity_sqlite;
mod files;
mod hostile;
mod js_plugins;
mod json;
mod ledger;
mod migrate;
mod mysql;
mod parsers_csv;
mod parsers_json_text;
mod parsers_markdown;
mod pgsource;
mod plan;
mod plugin_cli;
mod plugin_new;
mod probe;
mod python_plugins;
mod rejects;
mod restart;
mod rollback;
mod runtime;
mod schema;
mod schema_diff;
mod serve;
mod tidy;
mod verify;
