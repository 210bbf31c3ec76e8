//! The files endpoint end to end with the real binary and the built-in
//! parser components: a mixed directory with bad files migrates everything
//! good, reports and quarantines each bad file with its reason, loses
//! nothing; an incremental re-run changes nothing; editing one file updates
//! exactly its records. Also `validate`, `analyze` and `--dry-run`.

use std::collections::BTreeMap;
use std::path::Path;

use crate::util::{PgDb, ferry, report, stdout, tempdir, write_config};

/// Writes the mixed directory: good files of every format, and one of each
/// kind of bad file.
fn mixed_dir(root: &Path) {
    let w = |rel: &str, bytes: &[u8]| {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    };
    w(
        "posts/hello.md",
        b"---\ntitle: Hello world\ntags: [intro, news]\ncategory: blog\ndate: 2024-03-01T10:00:00Z\nauthor: ann\n---\n# Ignored heading\n\nBody text.\n",
    );
    w(
        "posts/second.markdown",
        b"Second post\n===========\n\nNo front matter.\n",
    );
    w("data/people.csv", b"name,email,joined\nAnn,ann@example.com,2020-01-01\nBob,bob@example.com,2021-02-02\n\"Lee, Jr.\",lee@example.com,2022-03-03\n");
    w(
        "data/items.json",
        br#"[{"id": "a1", "title": "First", "created_at": "2023-05-06T07:08:09Z", "price": 9.5, "dims": {"w": 1}},
             {"id": "a2", "title": "Second", "body": "text here"}]"#,
    );
    w(
        "data/events.jsonl",
        b"{\"id\": 1, \"title\": \"e1\"}\n{\"id\": 2, \"title\": \"e2\"}\n{\"id\": 3, \"title\": \"e3\"}\n",
    );
    w(
        "notes/readme.txt",
        "Plain UTF-8 notes — with a dash.\r\nSecond line.\r\n".as_bytes(),
    );
    // Invalid UTF-8: decoded as Latin-1, never refused.
    w("notes/latin1.txt", b"caf\xe9 cr\xe8me\n");
    // No extension: sniffed as text.
    w("notes/NOTES", b"sniffed as plain text\n");
    // The bad ones.
    w(
        "bad/garbage.bin",
        &[0x00, 0xff, 0x13, 0x37, 0x00, 0x00, 0xde, 0xad, 0xbe, 0xef],
    );
    w("bad/truncated.json", b"{\"id\": 1, \"title\": \"cut");
    w("bad/empty.txt", b"");
    w("bad/big.csv", &b"a,b\n1,2\n".repeat(20_000));
    let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
    w("bad/deep.json", deep.as_bytes());
    w("bad/broken.md", b"---\ntitle: never closed\n\nbody\n");
    w(".hidden", b"dot file");
}

/// 64 KiB limit so `bad/big.csv` (160 KB) is over it.
const CONFIG: &str = "[files]\nmax_file_size = \"64KiB\"\n";

fn files_by_path(r: &serde_json::Value) -> BTreeMap<String, serde_json::Value> {
    r["files"]["files"]
        .as_array()
        .expect("files in the report")
        .iter()
        .map(|f| (f["path"].as_str().unwrap().to_string(), f.clone()))
        .collect()
}

fn sqlite_rows(db: &Path, sql: &str) -> Vec<Vec<String>> {
    let c = rusqlite::Connection::open(db).unwrap();
    let mut st = c.prepare(sql).unwrap();
    let n = st.column_count();
    st.query_map([], |r| {
        Ok((0..n)
            .map(|i| match r.get_ref(i).unwrap() {
                rusqlite::types::ValueRef::Null => "NULL".to_string(),
                rusqlite::types::ValueRef::Integer(v) => v.to_string(),
                rusqlite::types::ValueRef::Real(v) => v.to_string(),
                rusqlite::types::ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
                rusqlite::types::ValueRef::Blob(b) => hex::encode(b),
            })
            .collect())
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

const DUMP: &str = "SELECT * FROM content ORDER BY source_path, record_index";

#[test]
fn mixed_directory_migrates_every_good_file_quarantines_each_bad_one_and_reruns_incrementally() {
    let tmp = tempdir();
    let src = tmp.path().join("legacy");
    mixed_dir(&src);
    let cfg = write_config(tmp.path(), CONFIG);
    let db = tmp.path().join("content.db");
    let to = format!("sqlite:{}", db.display());
    let from = format!("files:{}", src.display());
    let report_path = tmp.path().join("run.json");

    let out = ferry(&[
        "--config",
        cfg.to_str().unwrap(),
        "migrate",
        "--from",
        &from,
        "--to",
        &to,
        "--json",
        "--report",
        report_path.to_str().unwrap(),
    ]);
    // Exit 3: finished, with files in quarantine.
    assert_eq!(out.status.code(), Some(3));
    let r = report(&out);
    assert_eq!(r["status"], "succeeded_with_rejects");
    let on_disk: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report_path).unwrap()).unwrap();
    assert_eq!(
        on_disk["run_id"], r["run_id"],
        "--report writes the same report"
    );
    let files = files_by_path(&r);
    let status = |p: &str| files[p]["status"].as_str().unwrap().to_string();
    let code = |p: &str| files[p]["code"].as_str().unwrap_or("").to_string();
    // Every entry of the directory is accounted for.
    assert_eq!(files.len(), 15, "{files:#?}");
    for p in [
        "posts/hello.md",
        "posts/second.markdown",
        "data/people.csv",
        "data/items.json",
        "data/events.jsonl",
        "notes/readme.txt",
        "notes/latin1.txt",
        "notes/NOTES",
    ] {
        assert_eq!(status(p), "parsed", "{p}: {:#}", files[p]);
    }
    assert_eq!(files["notes/NOTES"]["chosen_by"], "sniffed");
    assert_eq!(files["data/people.csv"]["records"], 3);
    assert_eq!(files["data/events.jsonl"]["records"], 3);
    assert!(
        files["notes/latin1.txt"]["notes"]
            .to_string()
            .contains("latin-1"),
        "the Latin-1 fallback is reported"
    );
    assert_eq!(
        (status("bad/garbage.bin"), code("bad/garbage.bin")),
        ("skipped".into(), "no-parser".into())
    );
    assert_eq!(
        (status("bad/empty.txt"), code("bad/empty.txt")),
        ("skipped".into(), "empty".into())
    );
    assert_eq!(
        (status("bad/big.csv"), code("bad/big.csv")),
        ("skipped".into(), "file-too-large".into())
    );
    assert_eq!(
        (status(".hidden"), code(".hidden")),
        ("skipped".into(), "hidden".into())
    );
    for p in ["bad/truncated.json", "bad/deep.json", "bad/broken.md"] {
        assert_eq!(
            (status(p), code(p)),
            ("failed".into(), "malformed".into()),
            "{p}"
        );
        assert!(
            files[p]["location"].is_object(),
            "{p} has a position: {:#}",
            files[p]
        );
    }
    // The deep document is refused at its 101st bracket.
    assert_eq!(files["bad/deep.json"]["location"]["byte_offset"], 100);
    assert_eq!(files["bad/truncated.json"]["location"]["line"], 1);

    // 13 records: 2 Markdown, 3 CSV rows, 2 + 3 JSON, 3 text files.
    let rows = sqlite_rows(&db, "SELECT count(*) FROM content");
    assert_eq!(rows[0][0], "13");
    assert_eq!(r["tables"][0]["rows_written"], 13);
    // Each file that could not be migrated is in quarantine with its reason.
    let q = sqlite_rows(
        &db,
        "SELECT source_key, code, reason FROM _ferry_rejects ORDER BY source_key",
    );
    let keys: Vec<(&str, &str)> = q.iter().map(|r| (r[0].as_str(), r[1].as_str())).collect();
    assert_eq!(
        keys,
        [
            ("bad/big.csv", "file-too-large"),
            ("bad/broken.md", "malformed"),
            ("bad/deep.json", "malformed"),
            ("bad/garbage.bin", "no-parser"),
            ("bad/truncated.json", "malformed"),
        ]
    );
    assert!(q[2][2].contains("byte 100"), "{}", q[2][2]);

    // The unified schema, value by value.
    let hello = &sqlite_rows(
        &db,
        "SELECT title, tags, category, created_at, content_type, json_extract(metadata, '$.author'), parser, length(checksum) FROM content WHERE source_path = 'posts/hello.md'",
    )[0];
    assert_eq!(hello[0], "Hello world");
    assert_eq!(hello[1], "[\"intro\",\"news\"]");
    assert_eq!(hello[2], "blog");
    assert!(hello[3].starts_with("2024-03-01T10:00:00"), "{}", hello[3]);
    assert_eq!(hello[4], "text/markdown");
    assert_eq!(hello[5], "ann");
    assert_eq!(hello[6], "markdown");
    assert_eq!(hello[7], "64");
    let item = &sqlite_rows(
        &db,
        "SELECT legacy_id, title, created_at, json_extract(metadata, '$.price'), json_extract(metadata, '$.dims.w'), record_index FROM content WHERE source_path = 'data/items.json' ORDER BY record_index",
    );
    assert_eq!(item[0][0], "a1");
    assert_eq!(item[0][1], "First");
    assert!(
        item[0][2].starts_with("2023-05-06T07:08:09"),
        "{}",
        item[0][2]
    );
    assert_eq!(item[0][3], "9.5");
    assert_eq!(item[0][4], "1");
    assert_eq!(item[1][5], "1");
    let latin = sqlite_rows(
        &db,
        "SELECT content, title FROM content WHERE source_path = 'notes/latin1.txt'",
    );
    assert_eq!(latin[0], ["café crème\n", "latin1"]);
    let people = sqlite_rows(
        &db,
        "SELECT json_extract(metadata, '$.name') FROM content WHERE source_path = 'data/people.csv' ORDER BY record_index",
    );
    assert_eq!(people.concat(), ["Ann", "Bob", "Lee, Jr."]);
    // Ids are UUIDv5 of "PATH#INDEX": distinct, and stable across runs (below).
    let ids = sqlite_rows(&db, "SELECT count(DISTINCT id) FROM content");
    assert_eq!(ids[0][0], "13");

    // Verify ran: every parsed record is in the table exactly once.
    assert!(
        r["files"]["verified"]
            .as_str()
            .unwrap()
            .contains("exactly once")
    );

    // A second incremental run changes nothing.
    let before = sqlite_rows(&db, DUMP);
    let items_before = sqlite_rows(&db, "SELECT * FROM _ferry_file_items ORDER BY path");
    let rejects_before = sqlite_rows(&db, "SELECT count(*) FROM _ferry_rejects");
    let out = ferry(&[
        "--config",
        cfg.to_str().unwrap(),
        "migrate",
        "--from",
        &from,
        "--to",
        &to,
        "--json",
        "--incremental",
    ]);
    assert_eq!(out.status.code(), Some(0), "nothing new to quarantine");
    let r2 = report(&out);
    let f2 = files_by_path(&r2);
    for p in [
        "posts/hello.md",
        "data/items.json",
        "bad/truncated.json",
        "bad/big.csv",
        "bad/garbage.bin",
    ] {
        assert_eq!(f2[p]["status"], "unchanged", "{p}: {:#}", f2[p]);
    }
    assert_eq!(r2["files"]["counts"]["parsed"], serde_json::Value::Null);
    assert_eq!(sqlite_rows(&db, DUMP), before, "content unchanged");
    assert_eq!(
        sqlite_rows(&db, "SELECT * FROM _ferry_file_items ORDER BY path"),
        items_before
    );
    assert_eq!(
        sqlite_rows(&db, "SELECT count(*) FROM _ferry_rejects"),
        rejects_before
    );

    // Edit one file: exactly its records change.
    std::fs::write(
        src.join("data/events.jsonl"),
        b"{\"id\": 1, \"title\": \"e1 edited\"}\n{\"id\": 2, \"title\": \"e2\"}\n{\"id\": 3, \"title\": \"e3\"}\n{\"id\": 4, \"title\": \"e4\"}\n",
    )
    .unwrap();
    let out = ferry(&[
        "--config",
        cfg.to_str().unwrap(),
        "migrate",
        "--from",
        &from,
        "--to",
        &to,
        "--json",
        "--incremental",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let r3 = report(&out);
    let f3 = files_by_path(&r3);
    assert_eq!(f3["data/events.jsonl"]["status"], "parsed");
    assert_eq!(f3["data/events.jsonl"]["change"], "changed");
    assert_eq!(r3["files"]["counts"]["parsed"], 1);
    let after = sqlite_rows(&db, DUMP);
    let others = |rows: &[Vec<String>]| -> Vec<Vec<String>> {
        rows.iter()
            .filter(|r| !r.contains(&"data/events.jsonl".to_string()))
            .cloned()
            .collect()
    };
    assert_eq!(
        others(&after),
        others(&before),
        "every other file's records are untouched"
    );
    let events = sqlite_rows(
        &db,
        "SELECT title, record_index FROM content WHERE source_path = 'data/events.jsonl' ORDER BY record_index",
    );
    assert_eq!(
        events,
        [["e1 edited", "0"], ["e2", "1"], ["e3", "2"], ["e4", "3"]]
    );
    assert_eq!(sqlite_rows(&db, "SELECT count(*) FROM content")[0][0], "14");
    // Unchanged records keep their ids: id 1 of events.jsonl is the same row id.
    let id_before: Vec<&Vec<String>> = before
        .iter()
        .filter(|r| r.contains(&"data/events.jsonl".to_string()))
        .collect();
    let id_after: Vec<&Vec<String>> = after
        .iter()
        .filter(|r| r.contains(&"data/events.jsonl".to_string()))
        .collect();
    assert_eq!(id_before[1][0], id_after[1][0]);
}

#[test]
fn validate_and_dry_run_write_nothing_and_analyze_surveys_the_directory() {
    let tmp = tempdir();
    let src = tmp.path().join("legacy");
    mixed_dir(&src);
    let cfg = write_config(tmp.path(), CONFIG);
    let out_json = tmp.path().join("validate.json");
    let out = ferry(&[
        "--config",
        cfg.to_str().unwrap(),
        "validate",
        src.to_str().unwrap(),
        "-o",
        out_json.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(3), "some files cannot be migrated");
    let text = stdout(&out);
    assert!(
        text.contains("FAILED") && text.contains("bad/deep.json"),
        "{text}"
    );
    assert!(text.contains("8 parsed (13 records)"), "{text}");
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out_json).unwrap()).unwrap();
    assert_eq!(files_by_path(&v)["bad/truncated.json"]["status"], "failed");

    // Dry run: parses and reports, creates nothing.
    let db = tmp.path().join("never.db");
    let out = ferry(&[
        "--config",
        cfg.to_str().unwrap(),
        "migrate",
        "--from",
        &format!("files:{}", src.display()),
        "--to",
        &format!("sqlite:{}", db.display()),
        "--dry-run",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(3));
    let r = report(&out);
    assert_eq!(r["files"]["dry_run"], true);
    assert_eq!(r["tables"][0]["rows_written"], 13);
    assert!(!db.exists(), "a dry run creates no target");

    let out = ferry(&[
        "--config",
        cfg.to_str().unwrap(),
        "analyze",
        src.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let a = report(&out);
    assert_eq!(a["files"], 15);
    // items.json, events.jsonl, truncated.json, deep.json (big.csv is over the limit).
    assert_eq!(a["by_format"]["json"]["files"], 4);
    assert_eq!(a["by_format"]["csv"]["estimated_records"], 3);
    assert_eq!(a["by_format"]["json"]["estimated_records"], 2 + 3 + 1 + 1);
    assert_eq!(a["encodings"]["latin-1"], 1);
    assert_eq!(a["largest"][0][0], "bad/big.csv");
    let skipped: Vec<&str> = a["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s[0].as_str().unwrap())
        .collect();
    assert_eq!(
        skipped,
        [".hidden", "bad/big.csv", "bad/empty.txt", "bad/garbage.bin"]
    );
    let human = ferry(&[
        "--config",
        cfg.to_str().unwrap(),
        "analyze",
        src.to_str().unwrap(),
    ]);
    assert!(
        stdout(&human).contains("would be skipped (4)"),
        "{}",
        stdout(&human)
    );
}

#[test]
fn files_into_postgres_with_a_custom_mapping_and_an_incremental_edit() {
    let tmp = tempdir();
    let src = tmp.path().join("legacy");
    mixed_dir(&src);
    std::fs::remove_dir_all(src.join("bad")).unwrap();
    let cfg = write_config(
        tmp.path(),
        "[files]\ntable = \"documents\"\nworkers = 2\n\n[[files.parser]]\nglob = \"notes/NOTES\"\nparser = \"markdown\"\n\n[files.mapping]\ntitle = [\"title\", \"name\", \"$file_stem\"]\nurl = false\nauthor = \"author\"\n",
    );
    let pg = PgDb::new("files");
    let from = format!("files:{}", src.display());
    let out = ferry(&[
        "--config",
        cfg.to_str().unwrap(),
        "migrate",
        "--from",
        &from,
        "--to",
        &pg.url,
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let r = report(&out);
    assert_eq!(files_by_path(&r)["notes/NOTES"]["parser"], "markdown");
    assert_eq!(pg.count("documents"), 13);
    assert_eq!(
        pg.scalar("SELECT count(*) FROM information_schema.columns WHERE table_name = 'documents' AND column_name = 'url'"),
        "0"
    );
    assert_eq!(
        pg.scalar("SELECT author FROM documents WHERE source_path = 'posts/hello.md'"),
        "ann"
    );
    assert_eq!(
        pg.scalar("SELECT string_agg(title, '|' ORDER BY record_index) FROM documents WHERE source_path = 'data/people.csv'"),
        "Ann|Bob|Lee, Jr."
    );
    assert_eq!(
        pg.scalar("SELECT title FROM documents WHERE source_path = 'notes/NOTES'"),
        "NOTES"
    );
    assert_eq!(pg.scalar("SELECT data_type FROM information_schema.columns WHERE table_name = 'documents' AND column_name = 'metadata'"), "jsonb");
    assert_eq!(pg.scalar("SELECT data_type FROM information_schema.columns WHERE table_name = 'documents' AND column_name = 'id'"), "uuid");

    std::fs::write(src.join("posts/second.markdown"), b"Renamed\n=======\n").unwrap();
    std::fs::remove_file(src.join("notes/readme.txt")).unwrap();
    let out = ferry(&[
        "--config",
        cfg.to_str().unwrap(),
        "migrate",
        "--from",
        &from,
        "--to",
        &pg.url,
        "--json",
        "--incremental",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let r = report(&out);
    assert_eq!(r["files"]["counts"]["parsed"], 1);
    assert_eq!(r["files"]["removed"][0], "notes/readme.txt");
    assert_eq!(
        pg.scalar("SELECT title FROM documents WHERE source_path = 'posts/second.markdown'"),
        "Renamed"
    );
    // A removed file's records are kept (the report lists it).
    assert_eq!(pg.count("documents"), 13);
}

#[test]
fn a_hostile_parser_fails_only_the_files_it_misbehaves_on() {
    let tmp = tempdir();
    let src = tmp.path().join("legacy");
    std::fs::create_dir_all(&src).unwrap();
    for name in [
        "a-ok.dat",
        "b-trap.dat",
        "c-spin.dat",
        "d-oom.dat",
        "e-lie.dat",
        "f-ok.dat",
    ] {
        std::fs::write(src.join(name), format!("contents of {name}")).unwrap();
    }
    let bomb = crate::util::component("hostile_parse_bomb");
    let cfg = write_config(
        tmp.path(),
        &format!(
            "[files]\nworkers = 2\n\n[[files.parser]]\nglob = \"*\"\nparser = \"{}\"\n\n[plugins.hostile_parse_bomb]\ntimeout_ms = 500\nmemory_mib = 32\n",
            bomb.display()
        ),
    );
    let db = tmp.path().join("content.db");
    let out = ferry(&[
        "--config",
        cfg.to_str().unwrap(),
        "migrate",
        "--from",
        &format!("files:{}", src.display()),
        "--to",
        &format!("sqlite:{}", db.display()),
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(3));
    let r = report(&out);
    let files = files_by_path(&r);
    let code = |p: &str| files[p]["code"].as_str().unwrap_or("").to_string();
    assert_eq!(files["a-ok.dat"]["status"], "parsed");
    assert_eq!(files["f-ok.dat"]["status"], "parsed");
    assert_eq!(code("b-trap.dat"), "trap");
    assert!(
        files["b-trap.dat"]["reason"]
            .as_str()
            .unwrap()
            .contains("deliberate panic")
    );
    assert_eq!(code("c-spin.dat"), "limit-exceeded");
    assert_eq!(code("d-oom.dat"), "limit-exceeded");
    assert_eq!(code("e-lie.dat"), "invalid-output");
    assert_eq!(sqlite_rows(&db, "SELECT count(*) FROM content")[0][0], "2");
    assert_eq!(
        sqlite_rows(&db, "SELECT count(*) FROM _ferry_rejects")[0][0],
        "4"
    );
}

#[test]
fn over_limit_refuse_stops_before_writing_and_names_the_files() {
    let tmp = tempdir();
    let src = tmp.path().join("legacy");
    mixed_dir(&src);
    let cfg = write_config(
        tmp.path(),
        "[files]\nmax_file_size = \"64KiB\"\nover_limit = \"refuse\"\n",
    );
    let db = tmp.path().join("content.db");
    let out = ferry(&[
        "--config",
        cfg.to_str().unwrap(),
        "migrate",
        "--from",
        &format!("files:{}", src.display()),
        "--to",
        &format!("sqlite:{}", db.display()),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = crate::util::stderr(&out);
    assert!(
        err.contains("bad/big.csv (160000 bytes)") && err.contains("nothing was written"),
        "{err}"
    );
    assert!(
        !db.exists()
            || sqlite_rows(
                &db,
                "SELECT count(*) FROM sqlite_master WHERE name = 'content'"
            )[0][0]
                == "0"
    );
}

/// A directory of `n` JSON Lines files, `per` records each, named so path
/// order interleaves sizes (`f0000.jsonl` …).
fn many_files(root: &Path, n: usize, per: usize) {
    std::fs::create_dir_all(root).unwrap();
    for i in 0..n {
        let mut text = String::new();
        for j in 0..per {
            text.push_str(&format!(
                "{{\"id\": \"{i}-{j}\", \"title\": \"record {j} of file {i}\", \"author\": \"a{}\"}}\n",
                (i + j) % 7
            ));
        }
        std::fs::write(root.join(format!("f{i:04}.jsonl")), text).unwrap();
    }
}

/// Every column but `migrated_at` (the run's own start), in id order.
fn content_dump(db: &Path) -> Vec<Vec<String>> {
    let c = rusqlite::Connection::open(db).unwrap();
    let cols: Vec<String> = c
        .prepare("SELECT name FROM pragma_table_info('content') WHERE name <> 'migrated_at' ORDER BY cid")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    sqlite_rows(
        db,
        &format!("SELECT {} FROM content ORDER BY id", cols.join(", ")),
    )
}

#[test]
fn a_directory_runs_through_a_transformer_and_a_validator_and_verifies() {
    let tmp = tempdir();
    let src = tmp.path().join("legacy");
    mixed_dir(&src);
    std::fs::remove_dir_all(src.join("bad")).unwrap();
    let pg = PgDb::new("files_chain");
    let cfg = write_config(tmp.path(), CONFIG);
    let out = ferry(&[
        "--config",
        cfg.to_str().unwrap(),
        "migrate",
        "--from",
        &format!("files:{}", src.display()),
        "--to",
        &pg.url,
        // The plugins scope to the content table like any other table.
        "--transform",
        r#"content:mask={"key":"files-key-0123456789","columns":{"content":"redact"}}"#,
        "--validate",
        r#"content:rules={"rules":[{"column":"category","check":"not-null"}]}"#,
        "--json",
    ]);
    // Only the Markdown post has a category: every other record is
    // quarantined by the validator, with its reason, and the run verifies.
    assert_eq!(out.status.code(), Some(3), "{}", stdout(&out));
    let r = report(&out);
    assert_eq!(r["status"], "succeeded_with_rejects");
    assert!(
        r["files"]["verified"]
            .as_str()
            .unwrap()
            .contains("exactly once"),
        "{:#}",
        r["files"]
    );
    let t = &r["tables"][0];
    assert_eq!(t["rows_read"], 13);
    assert_eq!(t["rows_written"], 1);
    assert_eq!(t["rows_rejected"], 12);
    let plugins: Vec<&str> = r["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for p in ["mask", "rules", "markdown", "json"] {
        assert!(plugins.contains(&p), "{plugins:?}");
    }
    assert_eq!(pg.count("content"), 1);
    assert_eq!(
        pg.scalar("SELECT content FROM content"),
        "***",
        "the transformer ran on the record"
    );
    assert_eq!(
        pg.scalar(
            "SELECT count(*) FROM _ferry_rejects WHERE stage = 'validate' AND code = 'not-null'"
        ),
        "12"
    );
    // The run is in the ledger like any other.
    let hist = ferry(&["history", "--to", &pg.url, "--json"]);
    let runs: serde_json::Value = serde_json::from_slice(&hist.stdout).unwrap();
    assert_eq!(runs[0]["status"], "succeeded_with_rejects");
    assert_eq!(runs[0]["rows_read"], 13);
}

#[test]
fn a_directory_run_killed_mid_way_resumes_after_the_last_committed_file_and_ends_exact() {
    let tmp = tempdir();
    let src = tmp.path().join("many");
    // 300 files of 20 records: 6,000 records, 12 batches of 500.
    many_files(&src, 300, 20);
    let from = format!("files:{}", src.display());
    let clean = tmp.path().join("clean.db");
    let args = |to: &Path| -> Vec<String> {
        [
            "migrate",
            "--from",
            &from,
            "--to",
            &format!("sqlite:{}", to.display()),
            "--batch-size",
            "500",
            "--json",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let a: Vec<String> = args(&clean);
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    assert_eq!(ferry(&a).status.code(), Some(0));

    let db = tmp.path().join("killed.db");
    let a: Vec<String> = args(&db);
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    let status = std::process::Command::new(crate::util::ferry_bin())
        .args(&a)
        .env("FERRY_CACHE_DIR", crate::util::cache_dir())
        .env("FERRY_FAILPOINT", "batch@content:5")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(!status.success(), "killed after the fifth batch");
    let committed = sqlite_rows(&db, "SELECT count(*) FROM content")[0][0].clone();
    assert_eq!(committed, "2500", "five whole batches are in");
    let run = sqlite_rows(&db, "SELECT run_id FROM _ferry_runs")[0][0].clone();
    let cp = sqlite_rows(
        &db,
        "SELECT cursor_column, cursor_value FROM _ferry_checkpoints",
    );
    assert_eq!(cp[0][0], "$path", "a directory resumes after a path");
    assert_eq!(cp[0][1], "\"f0124.jsonl\"", "the last file of batch five");

    let out = ferry(&[
        "resume",
        &run,
        "--to",
        &format!("sqlite:{}", db.display()),
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let r = report(&out);
    assert_eq!(r["run_id"], run.as_str());
    assert_eq!(r["tables"][0]["rows_written"], 6000, "every record once");
    assert!(
        r["files"]["verified"]
            .as_str()
            .unwrap()
            .contains("exactly once")
    );
    assert_eq!(
        content_dump(&db),
        content_dump(&clean),
        "equal to a clean run"
    );
    // Every file is recorded: the incremental state of a resumed run is whole.
    assert_eq!(
        sqlite_rows(&db, "SELECT count(*) FROM _ferry_file_items")[0][0],
        "300"
    );
}

/// PostgreSQL's text and jsonb cannot hold a NUL character: a file with
/// one is that file's problem (quarantined whole, with the reason), never
/// the run's; every other file's records arrive and the run verifies.
#[test]
fn files_holding_nul_into_postgres_are_quarantined_each_and_the_rest_arrive() {
    let tmp = tempdir();
    let src = tmp.path().join("inbox");
    std::fs::create_dir_all(src.join("json")).unwrap();
    std::fs::write(src.join("json/good.json"), r#"{"title":"fine","n":1}"#).unwrap();
    // A NUL in a field that maps to a text column, and one kept in the
    // JSON metadata.
    std::fs::write(src.join("json/title.json"), r#"{"title":"a\u0000b"}"#).unwrap();
    std::fs::write(
        src.join("json/meta.json"),
        r#"[{"title":"first"},{"title":"second","note":"x\u0000y"}]"#,
    )
    .unwrap();
    // An escaped backslash before u0000 is no NUL at all.
    std::fs::write(src.join("json/escaped.json"), r#"{"title":"c:\\u0000"}"#).unwrap();
    std::fs::write(src.join("notes.txt"), "one\ntwo\n").unwrap();
    std::fs::write(src.join("post.md"), "---\ntitle: Post\n---\nbody\n").unwrap();
    let cfg = write_config(tmp.path(), CONFIG);
    let pg = PgDb::new("files_nul");
    let out = ferry(&[
        "--config",
        cfg.to_str().unwrap(),
        "migrate",
        "--from",
        &format!("files:{}", src.display()),
        "--to",
        &pg.url,
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", stdout(&out));
    let r = report(&out);
    let files = files_by_path(&r);
    for bad in ["json/title.json", "json/meta.json"] {
        let f = &files[bad];
        assert_eq!(f["quarantined"], true, "{f:#}");
        assert_eq!(f["code"], "unstorable", "{f:#}");
        assert!(f["reason"].as_str().unwrap().contains("NUL"), "{f:#}");
    }
    for good in [
        "json/good.json",
        "json/escaped.json",
        "notes.txt",
        "post.md",
    ] {
        assert_eq!(files[good]["status"], "parsed", "{good}: {:#}", files[good]);
    }
    // Every good file's records, none of the bad files' (not even meta.json's
    // clean first record: the file is quarantined whole).
    assert_eq!(
        pg.scalar("SELECT string_agg(DISTINCT source_path, ',' ORDER BY source_path) FROM content"),
        "json/escaped.json,json/good.json,notes.txt,post.md"
    );
    assert_eq!(
        pg.scalar("SELECT title FROM content WHERE source_path = 'json/escaped.json'"),
        "c:\\u0000"
    );
    assert_eq!(
        pg.scalar("SELECT string_agg(source_key, ',' ORDER BY source_key) FROM _ferry_rejects WHERE code = 'unstorable'"),
        "json/meta.json,json/title.json"
    );
    assert!(
        r["files"]["verified"]
            .as_str()
            .unwrap_or("")
            .contains("exactly once"),
        "{:#}",
        r["files"]
    );
}
