//! The plugins compiled into the `ferry` binary (built by `host/build.rs`
//! from `plugins/builtin/`).

/// `(name, component bytes)` of every built-in plugin. The name is what
/// `--transform NAME` / `--validate NAME` accept; it matches the name the
/// plugin gives itself in `describe`.
pub const BUILTINS: &[(&str, &[u8])] = &[
    (
        "mask",
        include_bytes!(concat!(env!("FERRY_PLUGIN_ARTIFACTS"), "/plugin_mask.wasm")),
    ),
    (
        "rules",
        include_bytes!(concat!(
            env!("FERRY_PLUGIN_ARTIFACTS"),
            "/plugin_rules.wasm"
        )),
    ),
    (
        "lines",
        include_bytes!(concat!(
            env!("FERRY_PLUGIN_ARTIFACTS"),
            "/plugin_lines.wasm"
        )),
    ),
    (
        "csv",
        include_bytes!(concat!(env!("FERRY_PLUGIN_ARTIFACTS"), "/plugin_csv.wasm")),
    ),
    (
        "markdown",
        include_bytes!(concat!(
            env!("FERRY_PLUGIN_ARTIFACTS"),
            "/plugin_markdown.wasm"
        )),
    ),
    (
        "json",
        include_bytes!(concat!(env!("FERRY_PLUGIN_ARTIFACTS"), "/plugin_json.wasm")),
    ),
    (
        "text",
        include_bytes!(concat!(env!("FERRY_PLUGIN_ARTIFACTS"), "/plugin_text.wasm")),
    ),
];
