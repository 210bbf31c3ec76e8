//! `ferry serve`: the real binary listening on a random loopback port, a
//! real HTTP client, real PostgreSQL targets. Runs are followed over SSE to
//! their end; tokens and roles, idempotency, the concurrency limit, cancel
//! then resume (paused at a failpoint, not timed), rollback, validate, the
//! audit, and a server killed mid-run whose run is resumed by the next one.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::util::{self, PgDb};

const OPERATOR: &str = "op-token-7f3a";
const ADMIN: &str = "admin-token-91c2";
const VIEWER: &str = "viewer-token-0d5e";

/// A deadline for waits that poll a condition: generous, never asserted on.
const DEADLINE: Duration = Duration::from_secs(120);

fn sha(token: &str) -> String {
    ferry::serve::auth::hash_token(token)
}

/// The service's config: `legacy` (a SQLite file), `app` (a PostgreSQL
/// database), `inbox` (a files directory), three tokens, and `extra`.
fn config(dir: &Path, legacy: &Path, app: &str, extra: &str) -> PathBuf {
    let inbox = dir.join("inbox");
    std::fs::create_dir_all(&inbox).unwrap();
    util::write_config(
        dir,
        &format!(
            r#"
[endpoints]
legacy = "sqlite:{legacy}"
app = "{app}"
inbox = "files:{inbox}"

[serve]
{extra}

[[serve.tokens]]
name = "deploy-bot"
role = "operator"
sha256 = "{op}"

[[serve.tokens]]
name = "root"
role = "admin"
sha256 = "{admin}"

[[serve.tokens]]
name = "dashboard"
role = "viewer"
sha256 = "{viewer}"
"#,
            legacy = legacy.display(),
            inbox = inbox.display(),
            op = sha(OPERATOR),
            admin = sha(ADMIN),
            viewer = sha(VIEWER),
        ),
    )
}

/// A running `ferry serve`; killed when dropped.
struct Server {
    child: Child,
    base: String,
    log: Arc<Mutex<String>>,
    agent: ureq::Agent,
}

impl Server {
    fn start(config: &Path, env: &[(&str, &str)]) -> Server {
        let mut cmd = Command::new(util::ferry_bin());
        cmd.arg("--config")
            .arg(config)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env("FERRY_CACHE_DIR", util::cache_dir())
            .env_remove("FERRY_PLUGIN_DIR")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start ferry serve");
        let mut err = BufReader::new(child.stderr.take().unwrap());
        let mut first = String::new();
        err.read_line(&mut first).expect("ferry serve's first line");
        let base = first
            .trim()
            .strip_prefix("ferry serve: listening on ")
            .unwrap_or_else(|| panic!("unexpected first line from ferry serve: {first}"))
            .to_string();
        // The rest of stderr is drained (a full pipe would stop the server)
        // and kept for failure messages.
        let log = Arc::new(Mutex::new(String::new()));
        let sink = log.clone();
        std::thread::spawn(move || {
            let mut rest = String::new();
            for line in err.lines().map_while(Result::ok) {
                eprintln!("[serve] {line}");
                rest.push_str(&line);
                rest.push('\n');
                *sink.lock().unwrap() = rest.clone();
            }
        });
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(DEADLINE))
            .build()
            .into();
        Server {
            child,
            base,
            log,
            agent,
        }
    }

    /// (status, JSON body) of a call; `token` as the bearer.
    fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let (status, _, text) = self.raw(method, path, token, body.map(|b| b.to_string()), &[]);
        let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, v)
    }

    /// (status, headers, body text) of a call with extra headers.
    fn raw(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<String>,
        headers: &[(&str, &str)],
    ) -> (u16, ureq::http::HeaderMap, String) {
        let url = format!("{}{path}", self.base);
        let auth = token.map(|t| format!("Bearer {t}"));
        let res = match method {
            "GET" => {
                let mut r = self.agent.get(&url);
                if let Some(a) = &auth {
                    r = r.header("Authorization", a);
                }
                for (k, v) in headers {
                    r = r.header(*k, *v);
                }
                r.call()
            }
            "POST" | "DELETE" => {
                let mut r = if method == "POST" {
                    self.agent.post(&url)
                } else {
                    self.agent.delete(&url).force_send_body()
                };
                if let Some(a) = &auth {
                    r = r.header("Authorization", a);
                }
                for (k, v) in headers {
                    r = r.header(*k, *v);
                }
                r.header("Content-Type", "application/json")
                    .send(body.unwrap_or_default())
            }
            m => panic!("method {m}"),
        };
        let mut res = res.unwrap_or_else(|e| panic!("{method} {path}: {e}\n{}", self.log()));
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let text = res.body_mut().read_to_string().unwrap_or_default();
        eprintln!("{method} {path} -> {status} {text}");
        (status, headers, text)
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Every SSE event of run `id` (after `last_id`), read until the stream ends.
    fn events(&self, id: &str, last_id: Option<u64>) -> Vec<(u64, String, Value)> {
        let url = format!("{}/v1/runs/{id}/events", self.base);
        let mut r = self
            .agent
            .get(&url)
            .header("Authorization", &format!("Bearer {VIEWER}"));
        let last = last_id.map(|l| l.to_string());
        if let Some(l) = &last {
            r = r.header("Last-Event-ID", l);
        }
        let res = r.call().expect("events");
        assert_eq!(res.status().as_u16(), 200);
        let ct = res
            .headers()
            .get("content-type")
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        assert!(ct.starts_with("text/event-stream"), "{ct}");
        let reader = BufReader::new(res.into_body().into_reader());
        let mut out = Vec::new();
        let (mut seq, mut name, mut data) = (0u64, String::new(), String::new());
        for line in reader.lines() {
            let line = line.expect("event stream");
            if line.is_empty() {
                if !data.is_empty() {
                    out.push((
                        seq,
                        name.clone(),
                        serde_json::from_str(&data).expect("event JSON"),
                    ));
                }
                name.clear();
                data.clear();
            } else if let Some(v) = line.strip_prefix("id:") {
                seq = v.trim().parse().unwrap();
            } else if let Some(v) = line.strip_prefix("event:") {
                name = v.trim().to_string();
            } else if let Some(v) = line.strip_prefix("data:") {
                data.push_str(v.trim_start());
            }
        }
        out
    }

    /// Polls run `id` until `pred` holds on its view.
    fn wait_run(&self, id: &str, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let started = Instant::now();
        loop {
            let (s, v) = self.call("GET", &format!("/v1/runs/{id}"), Some(VIEWER), None);
            assert_eq!(s, 200, "{v}");
            if pred(&v) {
                return v;
            }
            assert!(
                started.elapsed() < DEADLINE,
                "run {id} never {what}: {v}\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn start_run(&self, body: Value) -> String {
        let (s, v) = self.call("POST", "/v1/runs", Some(OPERATOR), Some(body));
        assert_eq!(s, 202, "{v}");
        v["run_id"].as_str().unwrap().to_string()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until `path` exists (a failpoint's rendezvous).
fn wait_for_file(path: &Path, server: &Server) {
    let started = Instant::now();
    while !path.exists() {
        assert!(
            started.elapsed() < DEADLINE,
            "{} never appeared\n{}",
            path.display(),
            server.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_run_started_over_http_streams_its_events_to_the_end_and_its_status_agrees() {
    let dir = util::tempdir();
    let legacy = util::shop_fixture(dir.path(), 3000);
    let db = PgDb::new("serve_run");
    let server = Server::start(&config(dir.path(), &legacy, &db.url, ""), &[]);

    let (s, v) = server.call("GET", "/healthz", None, None);
    assert_eq!((s, v["status"].as_str()), (200, Some("ok")));

    let id =
        server.start_run(json!({"from": "legacy", "to": "app", "options": {"batch_size": 500}}));
    let events = server.events(&id, None);
    let names: Vec<&str> = events.iter().map(|e| e.1.as_str()).collect();
    assert_eq!(names.first(), Some(&"queued"), "{names:?}");
    assert!(
        names.contains(&"started") && names.contains(&"table_progress"),
        "{names:?}"
    );
    for t in ["users", "orders"] {
        assert!(
            events
                .iter()
                .any(|e| e.1 == "table_finished" && e.2["table"] == t),
            "no table_finished for {t}: {names:?}"
        );
    }
    let (_, last_name, last) = events.last().unwrap();
    assert_eq!(last_name, "finished");
    // Ids are the stream's positions: consecutive from 1.
    let ids: Vec<u64> = events.iter().map(|e| e.0).collect();
    assert_eq!(ids, (1..=events.len() as u64).collect::<Vec<_>>());

    let (s, run) = server.call("GET", &format!("/v1/runs/{id}"), Some(VIEWER), None);
    assert_eq!(s, 200);
    assert_eq!(run["status"], "succeeded");
    assert_eq!(last["status"], run["status"]);
    assert_eq!(last["run_id"], id.as_str());
    assert_eq!(run["from"], "legacy");
    assert_eq!(run["created_by"], "deploy-bot");
    let users = run["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["table"] == "users")
        .unwrap();
    assert_eq!(
        (users["written"].as_u64(), users["finished"].as_bool()),
        (Some(3000), Some(true))
    );
    assert_eq!(run["report"]["verify"]["ok"], true, "{run}");
    assert_eq!(db.count("users"), 3000);
    assert_eq!(db.count("orders"), 6000);

    // A late subscriber after event k gets exactly the rest.
    let k = 3;
    let rest = server.events(&id, Some(k));
    assert_eq!(rest.len(), events.len() - k as usize);
    assert_eq!(rest[0].0, k + 1);

    // History, the report, statistics and metrics agree.
    let (_, list) = server.call("GET", "/v1/runs?to=app", Some(VIEWER), None);
    assert_eq!(list["runs"][0]["run_id"], id.as_str());
    assert_eq!(list["runs"][0]["rows_written"], 9000);
    let (_, none) = server.call("GET", "/v1/runs?to=elsewhere", Some(VIEWER), None);
    assert_eq!(none["runs"].as_array().unwrap().len(), 0);
    let (s, report) = server.call("GET", &format!("/v1/runs/{id}/report"), Some(VIEWER), None);
    assert_eq!((s, &report["run_id"]), (200, &json!(id)));
    let (_, stats) = server.call("GET", "/v1/stats", Some(VIEWER), None);
    assert_eq!(stats["by_status"]["succeeded"]["runs"], 1);
    let (s, _, metrics) = server.raw("GET", "/metrics", Some(VIEWER), None, &[]);
    assert_eq!(s, 200);
    assert!(
        metrics.contains("ferry_runs{status=\"succeeded\"} 1"),
        "{metrics}"
    );

    // A second run into the same tables is refused by the engine, and says so.
    let id2 = server.start_run(json!({"from": "legacy", "to": "app"}));
    let end = server.wait_run(&id2, "finished", |v| {
        v["status"] != "queued" && v["status"] != "running"
    });
    assert_eq!(end["status"], "failed");
    assert!(end["error"].as_str().unwrap().contains("exist"), "{end}");
}

#[test]
fn tokens_and_roles_are_enforced_and_every_denial_and_change_is_audited() {
    let dir = util::tempdir();
    let legacy = util::shop_fixture(dir.path(), 10);
    let db = PgDb::new("serve_auth");
    // A small body limit, so the over-long body below is sent whole before
    // the answer (a larger one could meet a closed socket).
    let server = Server::start(
        &config(dir.path(), &legacy, &db.url, "max_body_kib = 16"),
        &[],
    );
    let body = json!({"from": "legacy", "to": "app"});

    let (s, v) = server.call("GET", "/v1/runs", None, None);
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (401, Some("unauthenticated"))
    );
    let (s, _) = server.call("GET", "/v1/runs", Some("not-a-token"), None);
    assert_eq!(s, 401);
    let (s, v) = server.call("POST", "/v1/runs", Some(VIEWER), Some(body.clone()));
    assert_eq!((s, v["error"]["code"].as_str()), (403, Some("forbidden")));
    let (s, _) = server.call("GET", "/v1/audit", Some(OPERATOR), None);
    assert_eq!(s, 403);
    let (s, _) = server.call("POST", "/v1/runs/x/rollback", Some(OPERATOR), None);
    assert_eq!(s, 403);
    // Unknown endpoints and plugin paths are refused before anything runs.
    let (s, v) = server.call(
        "POST",
        "/v1/runs",
        Some(OPERATOR),
        Some(json!({"from": "legacy", "to": "postgres://evil/db"})),
    );
    assert_eq!(s, 400);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not a named endpoint"),
        "{v}"
    );
    let (s, v) = server.call(
        "POST",
        "/v1/runs",
        Some(OPERATOR),
        Some(json!({"from": "legacy", "to": "app", "transform": ["/etc/passwd.wasm"]})),
    );
    assert_eq!(s, 400, "{v}");
    let (s, _) = server.call(
        "POST",
        "/v1/runs",
        Some(OPERATOR),
        Some(json!({"from": "legacy"})),
    );
    assert_eq!(s, 400);
    let (s, _, _) = server.raw(
        "POST",
        "/v1/runs",
        Some(OPERATOR),
        Some("{not json".into()),
        &[],
    );
    assert_eq!(s, 400);
    // Bodies over the limit never reach a handler.
    let (s, _, _) = server.raw(
        "POST",
        "/v1/runs",
        Some(OPERATOR),
        Some(format!("{{\"from\":\"{}\"}}", "x".repeat(20 << 10))),
        &[],
    );
    assert_eq!(s, 413);

    let id = server.start_run(body);
    server.wait_run(&id, "finished", |v| v["status"] == "succeeded");
    let (s, audit) = server.call("GET", "/v1/audit", Some(ADMIN), None);
    assert_eq!(s, 200);
    let entries = audit["entries"].as_array().unwrap();
    let find = |method: &str, path: &str, status: u64| {
        entries
            .iter()
            .find(|e| e["method"] == method && e["path"] == path && e["status"] == status)
    };
    let anon = find("GET", "/v1/runs", 401).expect("the anonymous denial");
    assert_eq!(
        (anon["outcome"].as_str(), anon["who"].as_str()),
        (Some("denied"), None)
    );
    let viewer = find("POST", "/v1/runs", 403).expect("the viewer's denial");
    assert_eq!(viewer["who"], "dashboard");
    let started = find("POST", "/v1/runs", 202).expect("the run's start");
    assert_eq!(
        (started["who"].as_str(), started["run_id"].as_str()),
        (Some("deploy-bot"), Some(id.as_str()))
    );
    assert!(find("GET", "/v1/audit", 403).is_some());
    // Reads that were let in are not audited.
    assert!(
        entries
            .iter()
            .all(|e| e["method"] != "GET" || e["outcome"] == "denied")
    );
}

#[test]
fn the_same_idempotency_key_gives_the_same_run_and_another_body_is_a_conflict() {
    let dir = util::tempdir();
    let legacy = util::shop_fixture(dir.path(), 10);
    let db = PgDb::new("serve_idem");
    let server = Server::start(&config(dir.path(), &legacy, &db.url, ""), &[]);
    let body = json!({"from": "legacy", "to": "app"}).to_string();
    let key = [("Idempotency-Key", "deploy-42")];
    let (s, _, first) = server.raw("POST", "/v1/runs", Some(OPERATOR), Some(body.clone()), &key);
    assert_eq!(s, 202);
    let first: Value = serde_json::from_str(&first).unwrap();
    // The same request, spaced differently, is the same request.
    let spaced = "{ \"from\" : \"legacy\",\n \"to\": \"app\" }".to_string();
    let (s, _, again) = server.raw("POST", "/v1/runs", Some(OPERATOR), Some(spaced), &key);
    assert_eq!(s, 200);
    let again: Value = serde_json::from_str(&again).unwrap();
    assert_eq!(again["run_id"], first["run_id"]);
    assert_eq!(again["replayed"], true);
    let other = json!({"from": "legacy", "to": "app", "options": {"verify": "off"}}).to_string();
    let (s, _, conflict) = server.raw("POST", "/v1/runs", Some(OPERATOR), Some(other), &key);
    assert_eq!(s, 409, "{conflict}");
    let id = first["run_id"].as_str().unwrap();
    server.wait_run(id, "finished", |v| v["status"] == "succeeded");
    let (_, list) = server.call("GET", "/v1/runs", Some(VIEWER), None);
    assert_eq!(
        list["runs"].as_array().unwrap().len(),
        1,
        "one run, not three: {list}"
    );
}

/// A server whose runs pause at the `n`-th committed batch of `table`.
fn paused_server(dir: &Path, legacy: &Path, db: &PgDb, extra: &str, n: u32) -> (Server, PathBuf) {
    let go = dir.join("go");
    let pause = format!("batch@users:{n}:{}", go.display());
    let server = Server::start(
        &config(dir, legacy, &db.url, extra),
        &[("FERRY_PAUSE", &pause)],
    );
    (server, go)
}

fn paused_flag(go: &Path) -> PathBuf {
    let mut p = go.as_os_str().to_owned();
    p.push(".paused");
    PathBuf::from(p)
}

#[test]
fn a_cancelled_run_stops_after_its_batch_and_its_resume_gives_the_exact_target() {
    let dir = util::tempdir();
    let legacy = util::shop_fixture(dir.path(), 20_000);
    let db = PgDb::new("serve_cancel");
    let (server, go) = paused_server(dir.path(), &legacy, &db, "", 2);
    let id =
        server.start_run(json!({"from": "legacy", "to": "app", "options": {"batch_size": 1000}}));
    wait_for_file(&paused_flag(&go), &server);
    // The run is held after its second batch of users: cancel, then let it go.
    let (s, v) = server.call(
        "POST",
        &format!("/v1/runs/{id}/cancel"),
        Some(OPERATOR),
        None,
    );
    assert_eq!((s, v["status"].as_str()), (202, Some("cancelling")));
    std::fs::write(&go, b"").unwrap();
    let end = server.wait_run(&id, "cancelled", |v| v["status"] == "cancelled");
    assert_eq!(end["error_code"], "cancelled", "{end}");
    let users = db.count("users");
    assert!(
        (2000..20_000).contains(&users),
        "the cancel stopped the load part way: {users}"
    );
    let events = server.events(&id, None);
    assert!(
        events
            .iter()
            .any(|e| e.1 == "cancel_requested" && e.2["by"] == "deploy-bot")
    );
    assert_eq!(events.last().unwrap().1, "finished");
    // Cancelling what has ended is a conflict.
    let (s, _) = server.call(
        "POST",
        &format!("/v1/runs/{id}/cancel"),
        Some(OPERATOR),
        None,
    );
    assert_eq!(s, 409);

    let (s, v) = server.call(
        "POST",
        &format!("/v1/runs/{id}/resume"),
        Some(OPERATOR),
        None,
    );
    assert_eq!((s, v["resumed"].as_bool()), (202, Some(true)), "{v}");
    let end = server.wait_run(&id, "succeeded", |v| {
        v["status"] != "queued" && v["status"] != "running"
    });
    assert_eq!(end["status"], "succeeded", "{end}");
    assert_eq!(end["report"]["verify"]["ok"], true, "{end}");
    assert_eq!(db.count("users"), 20_000);
    assert_eq!(db.count("orders"), 40_000);
    assert_eq!(db.scalar("SELECT count(DISTINCT id) FROM users"), "20000");
    // Resuming a finished run is a conflict.
    let (s, _) = server.call(
        "POST",
        &format!("/v1/runs/{id}/resume"),
        Some(OPERATOR),
        None,
    );
    assert_eq!(s, 409);
}

#[test]
fn runs_beyond_the_slots_and_the_queue_are_answered_429() {
    let dir = util::tempdir();
    let legacy = util::shop_fixture(dir.path(), 5000);
    let db = PgDb::new("serve_busy");
    let (server, go) = paused_server(
        dir.path(),
        &legacy,
        &db,
        "max_concurrent_runs = 1\nmax_queued_runs = 1",
        1,
    );
    let first =
        server.start_run(json!({"from": "legacy", "to": "app", "options": {"batch_size": 1000}}));
    wait_for_file(&paused_flag(&go), &server);
    // One runs (held), one may wait, the third is refused.
    let second =
        server.start_run(json!({"from": "legacy", "to": "app", "options": {"if_exists": "drop"}}));
    let (_, v) = server.call("GET", &format!("/v1/runs/{second}"), Some(VIEWER), None);
    assert_eq!(v["status"], "queued");
    let (s, headers, body) = server.raw(
        "POST",
        "/v1/runs",
        Some(OPERATOR),
        Some(json!({"from": "legacy", "to": "app"}).to_string()),
        &[],
    );
    assert_eq!(s, 429, "{body}");
    assert_eq!(headers.get("retry-after").unwrap(), "5");
    // A queued run can be cancelled before it starts.
    let (s, _) = server.call(
        "POST",
        &format!("/v1/runs/{second}/cancel"),
        Some(OPERATOR),
        None,
    );
    assert_eq!(s, 202);
    std::fs::write(&go, b"").unwrap();
    server.wait_run(&first, "succeeded", |v| v["status"] == "succeeded");
    let v = server.wait_run(&second, "cancelled", |v| v["status"] == "cancelled");
    assert!(
        v["started_at"].is_null(),
        "a run cancelled while queued never started: {v}"
    );
    assert_eq!(db.count("users"), 5000);
}

#[test]
fn a_run_rolled_back_through_the_api_is_proven_by_checksums() {
    let dir = util::tempdir();
    let legacy = util::shop_fixture(dir.path(), 500);
    let db = PgDb::new("serve_rollback");
    let server = Server::start(&config(dir.path(), &legacy, &db.url, ""), &[]);
    let id = server.start_run(json!({"from": "legacy", "to": "app"}));
    server.wait_run(&id, "succeeded", |v| v["status"] == "succeeded");
    let (s, dry) = server.call(
        "POST",
        &format!("/v1/runs/{id}/rollback?dry_run=true"),
        Some(ADMIN),
        None,
    );
    assert_eq!((s, dry["dry_run"].as_bool()), (200, Some(true)), "{dry}");
    assert_eq!(db.count("users"), 500, "a dry run changes nothing");
    let (s, done) = server.call(
        "POST",
        &format!("/v1/runs/{id}/rollback"),
        Some(ADMIN),
        None,
    );
    assert_eq!((s, done["ok"].as_bool()), (200, Some(true)), "{done}");
    assert_eq!(
        db.scalar("SELECT count(*) FROM pg_tables WHERE tablename IN ('users', 'orders')"),
        "0"
    );
    let (_, v) = server.call("GET", &format!("/v1/runs/{id}"), Some(VIEWER), None);
    assert_eq!(v["status"], "rolled_back");
    let (_, audit) = server.call("GET", "/v1/audit", Some(ADMIN), None);
    assert!(audit["entries"].as_array().unwrap().iter().any(|e| {
        e["path"] == format!("/v1/runs/{id}/rollback") && e["who"] == "root" && e["outcome"] == "ok"
    }));

    // A run that replaced tables keeps their backups (moved aside) until a
    // cleanup, which is refused while a rollback could need them.
    let first = server.start_run(json!({"from": "legacy", "to": "app"}));
    server.wait_run(&first, "succeeded", |v| v["status"] == "succeeded");
    let second =
        server.start_run(json!({"from": "legacy", "to": "app", "options": {"if_exists": "drop"}}));
    server.wait_run(&second, "succeeded", |v| v["status"] == "succeeded");
    let backups = "SELECT count(*) FROM pg_tables WHERE schemaname = '_ferry_backup'";
    assert_ne!(
        db.scalar(backups),
        "0",
        "the replaced tables are kept aside"
    );
    let (s, v) = server.call(
        "DELETE",
        &format!("/v1/runs/{second}"),
        Some(OPERATOR),
        None,
    );
    assert_eq!(s, 403, "{v}");
    let (s, v) = server.call("DELETE", &format!("/v1/runs/{second}"), Some(ADMIN), None);
    assert_eq!(s, 409, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("can still be rolled back"),
        "{v}"
    );
    assert_ne!(db.scalar(backups), "0");
    let (s, v) = server.call(
        "DELETE",
        &format!("/v1/runs/{second}?force=true"),
        Some(ADMIN),
        None,
    );
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["tables"].as_array().unwrap().len(), 2, "{v}");
    assert_eq!(db.scalar(backups), "0", "the backups are gone");
    assert_eq!(db.count("users"), 500, "the run's own tables stay");
    let (s, v) = server.call(
        "POST",
        &format!("/v1/runs/{second}/rollback"),
        Some(ADMIN),
        None,
    );
    assert_eq!(s, 409);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("removed by a cleanup"),
        "{v}"
    );
    // Cleaning up again finds nothing left to remove.
    let (s, v) = server.call(
        "DELETE",
        &format!("/v1/runs/{second}?force=true"),
        Some(ADMIN),
        None,
    );
    assert_eq!(
        (s, v["tables"].as_array().map(Vec::len)),
        (200, Some(0)),
        "{v}"
    );
}

#[test]
fn validate_parses_a_files_endpoint_and_reports_each_bad_file() {
    let dir = util::tempdir();
    let legacy = util::shop_fixture(dir.path(), 10);
    let db = PgDb::new("serve_validate");
    let cfg = config(dir.path(), &legacy, &db.url, "");
    let inbox = dir.path().join("inbox");
    std::fs::write(inbox.join("good.json"), r#"{"title": "a", "n": 1}"#).unwrap();
    std::fs::write(inbox.join("note.md"), "---\ntitle: Hello\n---\n# Hi\n").unwrap();
    std::fs::write(inbox.join("broken.json"), r#"{"title": "#).unwrap();
    let server = Server::start(&cfg, &[]);
    let (s, report) = server.call(
        "POST",
        "/v1/validate",
        Some(VIEWER),
        Some(json!({"from": "inbox"})),
    );
    assert_eq!(s, 200, "{report}");
    let text = report.to_string();
    assert!(text.contains("broken.json"), "{text}");
    let (s, v) = server.call(
        "POST",
        "/v1/validate",
        Some(VIEWER),
        Some(json!({"from": "legacy"})),
    );
    assert_eq!(s, 400, "{v}");
    assert_eq!(
        db.scalar("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"),
        "0",
        "validate writes nothing"
    );
}

#[test]
fn a_run_of_a_killed_server_is_interrupted_and_the_next_server_resumes_it_exactly() {
    let dir = util::tempdir();
    let legacy = util::shop_fixture(dir.path(), 20_000);
    let db = PgDb::new("serve_killed");
    let (mut server, go) = paused_server(dir.path(), &legacy, &db, "", 3);
    let id =
        server.start_run(json!({"from": "legacy", "to": "app", "options": {"batch_size": 1000}}));
    wait_for_file(&paused_flag(&go), &server);
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    drop(server);

    let server = Server::start(&dir.path().join("ferry.toml"), &[]);
    let (_, v) = server.call("GET", &format!("/v1/runs/{id}"), Some(VIEWER), None);
    assert_eq!(v["status"], "interrupted", "{v}");
    // Its event stream says how it ended, and ends.
    let events = server.events(&id, None);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].2["status"], "interrupted");
    let (s, v) = server.call(
        "POST",
        &format!("/v1/runs/{id}/resume"),
        Some(OPERATOR),
        None,
    );
    assert_eq!(s, 202, "{v}");
    let end = server.wait_run(&id, "finished", |v| {
        v["status"] != "queued" && v["status"] != "running"
    });
    assert_eq!(end["status"], "succeeded", "{end}");
    assert_eq!(end["report"]["verify"]["ok"], true);
    assert_eq!(db.count("users"), 20_000);
    assert_eq!(db.count("orders"), 40_000);
}

/// A service whose state is in `state` (a PostgreSQL or MariaDB database):
/// a second server on the same state is refused while the first holds it;
/// the first is killed mid-run; the next one finds the run interrupted and
/// the audit of the calls before, and resumes the run exactly.
fn state_in_a_database_survives_a_killed_server(state: &str, label: &str) {
    let dir = util::tempdir();
    let legacy = util::shop_fixture(dir.path(), 20_000);
    let db = PgDb::new(label);
    let extra = format!("state = \"{state}\"");
    let (mut server, go) = paused_server(dir.path(), &legacy, &db, &extra, 3);
    let body = json!({"from": "legacy", "to": "app", "options": {"batch_size": 1000}}).to_string();
    let key = [("Idempotency-Key", "deploy-7")];
    let (s, _, text) = server.raw("POST", "/v1/runs", Some(OPERATOR), Some(body.clone()), &key);
    assert_eq!(s, 202, "{text}");
    let id = serde_json::from_str::<Value>(&text).unwrap()["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    wait_for_file(&paused_flag(&go), &server);

    let cfg = dir.path().join("ferry.toml");
    let second = util::ferry(&[
        "--config",
        cfg.to_str().unwrap(),
        "serve",
        "--listen",
        "127.0.0.1:0",
    ]);
    assert_eq!(second.status.code(), Some(1), "{}", util::stderr(&second));
    let err = util::stderr(&second);
    assert!(err.contains("is held by another ferry serve (pid"), "{err}");

    server.child.kill().unwrap();
    server.child.wait().unwrap();
    drop(server);
    // The killed server's session lock went with its connection.
    let server = Server::start(&cfg, &[]);
    let (_, v) = server.call("GET", &format!("/v1/runs/{id}"), Some(VIEWER), None);
    assert_eq!(v["status"], "interrupted", "{v}");
    // The idempotency key outlived the server: the same call is the same run.
    let (_, _, text) = server.raw("POST", "/v1/runs", Some(OPERATOR), Some(body), &key);
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap()["run_id"],
        id.as_str(),
        "{text}"
    );
    let (s, audit) = server.call("GET", "/v1/audit", Some(ADMIN), None);
    assert_eq!(s, 200, "{audit}");
    assert!(
        audit["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["method"] == "POST"
                && e["path"] == "/v1/runs"
                && e["run_id"] == id.as_str()
                && e["who"] == "deploy-bot"),
        "{audit}"
    );
    let (s, v) = server.call(
        "POST",
        &format!("/v1/runs/{id}/resume"),
        Some(OPERATOR),
        None,
    );
    assert_eq!(s, 202, "{v}");
    let end = server.wait_run(&id, "finished", |v| {
        v["status"] != "queued" && v["status"] != "running"
    });
    assert_eq!(end["status"], "succeeded", "{end}");
    assert_eq!(end["report"]["verify"]["ok"], true);
    assert_eq!(db.count("users"), 20_000);
    assert_eq!(db.count("orders"), 40_000);
    let (_, stats) = server.call("GET", "/v1/stats", Some(VIEWER), None);
    assert_eq!(stats["by_status"]["succeeded"]["runs"], 1, "{stats}");
    // Sums come back as integers from every database (PostgreSQL's sum is
    // a numeric).
    assert!(
        stats["by_status"]["succeeded"]["rows_written"]
            .as_i64()
            .is_some_and(|n| n > 0),
        "{stats}"
    );
}

#[test]
fn the_service_state_in_postgresql_survives_a_killed_server_and_one_server_holds_it() {
    let state = PgDb::new("serve_state_pg");
    state_in_a_database_survives_a_killed_server(&state.url, "serve_state_pg_app");
}

#[test]
fn the_service_state_in_mariadb_survives_a_killed_server_and_one_server_holds_it() {
    let state = util::MyDb::new("serve_state_my");
    state_in_a_database_survives_a_killed_server(&state.url, "serve_state_my_app");
}

#[cfg(unix)]
#[test]
fn sigterm_stops_runs_after_their_batch_and_they_stay_resumable() {
    let dir = util::tempdir();
    let legacy = util::shop_fixture(dir.path(), 20_000);
    let db = PgDb::new("serve_sigterm");
    let (mut server, go) = paused_server(dir.path(), &legacy, &db, "", 2);
    let id =
        server.start_run(json!({"from": "legacy", "to": "app", "options": {"batch_size": 1000}}));
    wait_for_file(&paused_flag(&go), &server);
    let pid = server.child.id().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(killed.success());
    // The signal is taken before the run is let go: poll the server's log.
    let started = Instant::now();
    while !server.log().contains("shutting down") {
        assert!(
            started.elapsed() < DEADLINE,
            "no shutdown: {}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::fs::write(&go, b"").unwrap();
    let status = server.child.wait().unwrap();
    assert!(
        status.success(),
        "ferry serve exits 0 after a SIGTERM: {status:?}\n{}",
        server.log()
    );
    drop(server);
    let server = Server::start(&dir.path().join("ferry.toml"), &[]);
    let (_, v) = server.call("GET", &format!("/v1/runs/{id}"), Some(VIEWER), None);
    assert_eq!(v["status"], "cancelled", "{v}");
    let (s, _) = server.call(
        "POST",
        &format!("/v1/runs/{id}/resume"),
        Some(OPERATOR),
        None,
    );
    assert_eq!(s, 202);
    let end = server.wait_run(&id, "finished", |v| {
        v["status"] != "queued" && v["status"] != "running"
    });
    assert_eq!(end["status"], "succeeded", "{end}");
    assert_eq!(db.count("users"), 20_000);
}

#[test]
fn the_server_refuses_to_start_without_tokens_and_hashes_one_on_request() {
    let dir = util::tempdir();
    let cfg = util::write_config(dir.path(), "[endpoints]\nx = \"sqlite:x.db\"\n");
    let out = util::ferry(&[
        "--config",
        cfg.to_str().unwrap(),
        "serve",
        "--listen",
        "127.0.0.1:0",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        util::stderr(&out).contains("no [[serve.tokens]]"),
        "{}",
        util::stderr(&out)
    );
    let mut child = Command::new(util::ferry_bin())
        .args(["serve", "--hash-token"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), b"s3cret\n").unwrap();
    let mut hashed = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut hashed)
        .unwrap();
    child.wait().unwrap();
    assert_eq!(hashed.trim(), sha("s3cret"));
    assert_eq!(hashed.trim().len(), 64);
}

#[test]
fn the_openapi_document_describes_every_route_and_every_route_it_lists_is_guarded() {
    let dir = util::tempdir();
    let legacy = util::shop_fixture(dir.path(), 10);
    let db = PgDb::new("serve_openapi");
    let server = Server::start(&config(dir.path(), &legacy, &db.url, ""), &[]);
    let (s, doc) = server.call("GET", "/v1/openapi.json", None, None);
    assert_eq!(s, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    let mut listed: Vec<(String, String)> = paths
        .iter()
        .flat_map(|(p, ops)| {
            ops.as_object()
                .unwrap()
                .keys()
                .map(move |m| (m.to_uppercase(), p.clone()))
        })
        .collect();
    listed.sort();
    // What the service promises (the issue's table), each in the document.
    for (m, p) in [
        ("POST", "/v1/runs"),
        ("GET", "/v1/runs"),
        ("GET", "/v1/runs/{id}"),
        ("DELETE", "/v1/runs/{id}"),
        ("GET", "/v1/runs/{id}/events"),
        ("POST", "/v1/runs/{id}/cancel"),
        ("POST", "/v1/runs/{id}/resume"),
        ("POST", "/v1/runs/{id}/rollback"),
        ("GET", "/v1/runs/{id}/report"),
        ("GET", "/v1/runs/{id}/rejects"),
        ("POST", "/v1/plan"),
        ("POST", "/v1/validate"),
        ("GET", "/v1/stats"),
        ("GET", "/v1/audit"),
        ("GET", "/metrics"),
        ("GET", "/healthz"),
        ("POST", "/v1/imports"),
        ("GET", "/v1/me"),
        ("GET", "/v1/endpoints"),
    ] {
        assert!(
            listed.contains(&(m.to_string(), p.to_string())),
            "{m} {p} is not in the document: {listed:?}"
        );
    }
    // Every route the document lists exists and wants a token (the
    // document and the router are built from the same annotations).
    for (m, p) in &listed {
        if p == "/healthz" {
            continue;
        }
        let path = p.replace("{id}", "no-such-run");
        // One connection per call: a 401 answered before its body was read
        // ends the connection, and the next call must not be sent on it.
        let (s, _, v) = server.raw(
            m,
            &path,
            None,
            Some(json!({}).to_string()),
            &[("Connection", "close")],
        );
        assert_eq!(s, 401, "{m} {p} answered {s} without a token: {v}");
    }
    for schema in ["RunView", "RunRequest", "ErrorBody", "RunAccepted"] {
        assert!(
            doc["components"]["schemas"][schema].is_object(),
            "no schema {schema}"
        );
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
}

#[test]
fn the_websocket_carries_the_same_events_and_wants_a_token_first_without_a_header() {
    use tungstenite::Message;
    let dir = util::tempdir();
    let legacy = util::shop_fixture(dir.path(), 1000);
    let db = PgDb::new("serve_ws");
    let server = Server::start(&config(dir.path(), &legacy, &db.url, ""), &[]);
    let id =
        server.start_run(json!({"from": "legacy", "to": "app", "options": {"batch_size": 250}}));
    let sse = server.events(&id, None);
    let ws_url = format!("{}/v1/ws?run={id}", server.base.replace("http://", "ws://"));

    let (mut socket, _) = tungstenite::connect(&ws_url).expect("websocket");
    socket
        .send(Message::Text(json!({"token": VIEWER}).to_string().into()))
        .unwrap();
    let mut got = Vec::new();
    loop {
        match socket.read() {
            Ok(Message::Text(t)) => got.push(serde_json::from_str::<Value>(&t).unwrap()),
            Ok(Message::Close(frame)) => {
                assert_eq!(frame.map(|f| u16::from(f.code)), Some(1000));
                break;
            }
            Ok(_) => {}
            Err(e) => panic!("websocket: {e}"),
        }
    }
    let ws_events: Vec<(u64, String)> = got
        .iter()
        .map(|v| {
            (
                v["id"].as_u64().unwrap(),
                v["event"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let sse_events: Vec<(u64, String)> = sse.iter().map(|e| (e.0, e.1.clone())).collect();
    assert_eq!(ws_events, sse_events);

    // Without a header, a wrong first message closes the socket (1008).
    let (mut socket, _) = tungstenite::connect(&ws_url).expect("websocket");
    socket
        .send(Message::Text(json!({"token": "wrong"}).to_string().into()))
        .unwrap();
    let code = loop {
        match socket.read() {
            Ok(Message::Close(frame)) => break frame.map(|f| u16::from(f.code)),
            Ok(_) => {}
            Err(e) => panic!("websocket: {e}"),
        }
    };
    assert_eq!(code, Some(1008));
}

/// A headless Chromium driven over WebDriver (Debian's `chromium` and
/// `chromium-driver`, which `.ci/run` installs); quit when dropped.
struct Browser {
    driver: Child,
    base: String,
    session: String,
    agent: ureq::Agent,
}

impl Browser {
    fn start() -> Browser {
        let driver_bin = ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .expect("chromedriver is missing: `apt-get install chromium chromium-driver` (.ci/run does)");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new(driver_bin)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(DEADLINE))
            .build()
            .into();
        let base = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        while agent.get(&format!("{base}/status")).call().is_err() {
            assert!(started.elapsed() < DEADLINE, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900"]
            }
        }}});
        let mut b = Browser {
            driver,
            base,
            session: String::new(),
            agent,
        };
        let v = b.post("/session", caps);
        b.session = v["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {v}"))
            .to_string();
        b
    }

    fn post(&self, path: &str, body: Value) -> Value {
        let mut r = self
            .agent
            .post(&format!("{}{path}", self.base))
            .send(body.to_string())
            .expect("webdriver");
        serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap()
    }

    fn get(&self, path: &str) -> Value {
        let mut r = self
            .agent
            .get(&format!("{}{path}", self.base))
            .call()
            .expect("webdriver");
        serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap()
    }

    fn open(&self, url: &str) {
        self.post(
            &format!("/session/{}/url", self.session),
            json!({"url": url}),
        );
    }

    /// Runs `script` in the page and returns its value.
    fn js(&self, script: &str) -> Value {
        self.post(
            &format!("/session/{}/execute/sync", self.session),
            json!({"script": script, "args": []}),
        )["value"]
            .clone()
    }

    fn element(&self, css: &str) -> String {
        let v = self.post(
            &format!("/session/{}/element", self.session),
            json!({"using": "css selector", "value": css}),
        );
        v["value"]["element-6066-11e4-a52e-4f735466cecf"]
            .as_str()
            .unwrap_or_else(|| panic!("no element {css}: {v}"))
            .to_string()
    }

    fn type_into(&self, css: &str, text: &str) {
        let e = self.element(css);
        self.post(
            &format!("/session/{}/element/{e}/value", self.session),
            json!({"text": text}),
        );
    }

    fn click(&self, css: &str) {
        let e = self.element(css);
        self.post(
            &format!("/session/{}/element/{e}/click", self.session),
            json!({}),
        );
    }

    /// Polls `script` until it returns true.
    fn wait(&self, what: &str, script: &str) {
        let started = Instant::now();
        while self.js(script) != json!(true) {
            assert!(
                started.elapsed() < DEADLINE,
                "the page never showed {what}; it shows: {}",
                self.js("return document.body.innerText")
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn screenshot(&self, to: &Path) {
        use base64::Engine;
        let v = self.get(&format!("/session/{}/screenshot", self.session));
        let png = base64::engine::general_purpose::STANDARD
            .decode(v["value"].as_str().unwrap())
            .unwrap();
        std::fs::write(to, png).unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = self
                .agent
                .delete(&format!("{}/session/{}", self.base, self.session))
                .call();
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

#[test]
fn the_page_in_a_real_browser_starts_a_run_and_shows_its_progress_move_to_the_end() {
    let dir = util::tempdir();
    let legacy = util::shop_fixture(dir.path(), 20_000);
    let db = PgDb::new("serve_page");
    // The run is held after its second batch of users, so the page is seen
    // mid-run for certain; then let go.
    let (server, go) = paused_server(dir.path(), &legacy, &db, "", 2);
    let browser = Browser::start();
    browser.open(&format!("{}/", server.base));
    browser.wait(
        "the sign-in box",
        "return !!document.getElementById('token')",
    );
    browser.type_into("#token", OPERATOR);
    browser.click("#signin");
    browser.wait(
        "who signed in",
        "return document.getElementById('who').textContent.includes('deploy-bot (operator)')",
    );
    browser.wait("the start form", "return !document.getElementById('start-form').hidden && document.getElementById('to').options.length === 3");
    browser.js("document.getElementById('from').value = 'legacy'; document.getElementById('to').value = 'app'; return true");
    browser.click("#start");
    browser.wait(
        "the run running",
        "return document.getElementById('run-status').textContent === 'running'",
    );
    wait_for_file(&paused_flag(&go), &server);
    browser.wait(
        "rows of users done",
        "const r = document.querySelector('#run-tables tr[data-table=users] .done'); return !!r && parseInt(r.textContent) >= 2000",
    );
    // Only the actions the token allows: an operator may cancel, not roll back.
    assert_eq!(
        browser.js("return document.getElementById('cancel').hidden"),
        json!(false)
    );
    assert_eq!(
        browser.js("return document.getElementById('rollback').hidden"),
        json!(true)
    );
    browser.screenshot(&PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("serve-page-running.png"));
    std::fs::write(&go, b"").unwrap();
    browser.wait(
        "the run succeeded",
        "return document.getElementById('run-status').textContent === 'succeeded'",
    );
    browser.wait(
        "every user loaded",
        "const r = document.querySelector('#run-tables tr[data-table=users] .done'); return !!r && r.textContent === '20000 / 20000'",
    );
    browser.wait(
        "the report",
        "return !document.getElementById('report-box').hidden",
    );
    browser.wait(
        "the run in the list",
        "return document.querySelector('#runs .status').textContent === 'succeeded'",
    );
    browser.screenshot(&PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("serve-page.png"));
    assert_eq!(db.count("users"), 20_000);
    // The same page refuses a wrong token, and says why.
    browser.js("sessionStorage.clear(); document.getElementById('token').value = ''; return true");
    browser.type_into("#token", "wrong");
    browser.click("#signin");
    browser.wait("the refusal", "return document.getElementById('message').textContent.includes('not one this server knows')");
}

/// A multipart/form-data body of `files` (path, content); its content type.
fn multipart(files: &[(&str, &str)]) -> (String, String) {
    let boundary = "ferry-test-boundary-7d1c";
    let mut body = String::new();
    for (path, content) in files {
        body.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{path}\"\r\nContent-Type: application/octet-stream\r\n\r\n{content}\r\n"
        ));
    }
    body.push_str(&format!("--{boundary}--\r\n"));
    (body, format!("multipart/form-data; boundary={boundary}"))
}

#[test]
fn uploaded_files_are_staged_and_imported_with_each_bad_file_quarantined() {
    let dir = util::tempdir();
    let legacy = util::shop_fixture(dir.path(), 10);
    let db = PgDb::new("serve_import");
    let server = Server::start(&config(dir.path(), &legacy, &db.url, ""), &[]);
    let (body, ct) = multipart(&[
        ("notes/hello.md", "---\ntitle: Hello\n---\n# Hi there\n"),
        ("data/item.json", r#"{"title": "an item", "n": 1}"#),
        ("data/broken.json", r#"{"title": "#),
    ]);
    let (s, _, text) = server.raw(
        "POST",
        "/v1/imports?to=app",
        Some(OPERATOR),
        Some(body),
        &[("Content-Type", &ct)],
    );
    assert_eq!(s, 202, "{text}");
    let id = serde_json::from_str::<Value>(&text).unwrap()["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    let end = server.wait_run(&id, "finished", |v| {
        v["status"] != "queued" && v["status"] != "running"
    });
    assert_eq!(end["status"], "succeeded_with_rejects", "{end}");
    assert!(end["from"].as_str().unwrap().starts_with("import:"));
    assert_eq!(db.scalar("SELECT count(*) FROM content"), "2");
    assert_eq!(db.scalar("SELECT count(*) FROM _ferry_rejects"), "1");
    let reason = db.scalar("SELECT reason FROM _ferry_rejects");
    assert!(
        reason.contains("unexpected end of input"),
        "the reason names the parse error: {reason}"
    );

    // The rejects, as NDJSON: one line per quarantined file.
    let (s, headers, ndjson) = server.raw(
        "GET",
        &format!("/v1/runs/{id}/rejects"),
        Some(VIEWER),
        None,
        &[],
    );
    assert_eq!(s, 200);
    assert_eq!(headers.get("content-type").unwrap(), "application/x-ndjson");
    let lines: Vec<Value> = ndjson
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "{ndjson}");
    assert_eq!(lines[0]["table"], "content");
    assert!(
        lines[0]["reason"]
            .as_str()
            .unwrap()
            .contains("unexpected end of input")
    );
    let (_, _, rest) = server.raw(
        "GET",
        &format!("/v1/runs/{id}/rejects?offset=1"),
        Some(VIEWER),
        None,
        &[],
    );
    assert_eq!(rest, "");

    // A path that would leave the staging directory is refused, and nothing runs.
    let (body, ct) = multipart(&[("../../escape.json", "{}")]);
    let (s, _, text) = server.raw(
        "POST",
        "/v1/imports?to=app",
        Some(OPERATOR),
        Some(body),
        &[("Content-Type", &ct)],
    );
    assert_eq!(s, 400, "{text}");
    assert!(!dir.path().join("escape.json").exists());
    // Viewers may not upload; an unknown target is refused.
    let (body, ct) = multipart(&[("a.json", "{}")]);
    let (s, _, _) = server.raw(
        "POST",
        "/v1/imports?to=app",
        Some(VIEWER),
        Some(body.clone()),
        &[("Content-Type", &ct)],
    );
    assert_eq!(s, 403);
    let (s, _, _) = server.raw(
        "POST",
        "/v1/imports?to=nowhere",
        Some(OPERATOR),
        Some(body),
        &[("Content-Type", &ct)],
    );
    assert_eq!(s, 400);
}
