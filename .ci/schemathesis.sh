#!/usr/bin/env bash
# Fuzzes the live `ferry serve` API from its own OpenAPI document with
# schemathesis: no answer may be a 5xx, and every answer must match the
# document's schema for its status. The seed is fixed so CI is repeatable
# (SCHEMATHESIS_SEED explores others). Run by .ci/run after the tests (needs
# the debug build, PostgreSQL, and `pip install schemathesis`).
set -euo pipefail
cd "$(dirname "$0")/.."

ferry=target/debug/ferry
work=$(mktemp -d)
db="ferry_schemathesis_$$"
server=""
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null || true
  psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $db" postgres >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE $db" postgres
cp examples/shop.db "$work/legacy.db"
mkdir -p "$work/inbox"
printf '{"title": "a"}\n' > "$work/inbox/a.json"
admin=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
cat > "$work/ferry.toml" <<TOML
[endpoints]
legacy = "sqlite:$work/legacy.db"
app = "postgres://postgres@127.0.0.1:5432/$db"
inbox = "files:$work/inbox"

[[serve.tokens]]
name = "schemathesis"
role = "admin"
sha256 = "$(printf '%s' "$admin" | "$ferry" serve --hash-token)"
TOML

"$ferry" --config "$work/ferry.toml" serve --listen 127.0.0.1:0 2> "$work/serve.log" &
server=$!
for i in $(seq 1 100); do grep -q "listening on" "$work/serve.log" && break; sleep 0.1; done
base=$(sed -n 's/^ferry serve: listening on //p' "$work/serve.log")
echo "ferry serve at $base"

schemathesis run "$base/v1/openapi.json" \
  --header "Authorization: Bearer $admin" \
  --checks not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance \
  --max-examples "${SCHEMATHESIS_EXAMPLES:-40}" \
  --seed "${SCHEMATHESIS_SEED:-20261206}" \
  --workers 1
echo "--- server log ---"
tail -5 "$work/serve.log"
