//! The wit-bindgen bindings of the three worlds. The validator and parser
//! worlds reuse the transformer's `types` and `host` bindings (`with`), so
//! there is one copy of each shared type and one set of conversions.

pub mod transformer {
    wit_bindgen::generate!({
        world: "transformer",
        path: "../../wit/since_v0.1.0",
        pub_export_macro: true,
        export_macro_name: "export",
        default_bindings_module: "ferry_plugin_sdk::bindings::transformer",
        runtime_path: "ferry_plugin_sdk::wit_bindgen::rt",
    });
}
pub mod validator {
    wit_bindgen::generate!({
        world: "validator",
        path: "../../wit/since_v0.1.0",
        pub_export_macro: true,
        export_macro_name: "export",
        default_bindings_module: "ferry_plugin_sdk::bindings::validator",
        runtime_path: "ferry_plugin_sdk::wit_bindgen::rt",
        with: {
            "ferry:plugin/types@0.1.0": crate::bindings::transformer::ferry::plugin::types,
            "ferry:plugin/host@0.1.0": crate::bindings::transformer::ferry::plugin::host,
        },
    });
}
pub mod parser {
    wit_bindgen::generate!({
        world: "parser",
        path: "../../wit/since_v0.1.0",
        pub_export_macro: true,
        export_macro_name: "export",
        default_bindings_module: "ferry_plugin_sdk::bindings::parser",
        runtime_path: "ferry_plugin_sdk::wit_bindgen::rt",
        with: {
            "ferry:plugin/types@0.1.0": crate::bindings::transformer::ferry::plugin::types,
            "ferry:plugin/host@0.1.0": crate::bindings::transformer::ferry::plugin::host,
        },
    });
}
