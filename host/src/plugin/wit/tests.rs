//! The released contracts are frozen, and the host loads every contract
//! folder there is.

use std::path::{Path, PathBuf};

use super::{CONTRACTS, Contract, LATEST};
use crate::plugin::sha256_hex;

/// Every released contract version and the SHA-256 of each file in its
/// folder, recorded when it was released. A released contract never changes
/// (plugins built against it must keep loading exactly as they were built);
/// when the next version is released, record its files here.
const RELEASED: &[(&str, &[(&str, &str)])] = &[(
    "0.1.0",
    &[
        (
            "types.wit",
            "2f5e776373aa84e34fbe7314b044cd4d8a7d79b4ff4888d6e3f01ca167b33bd8",
        ),
        (
            "worlds.wit",
            "9d6f976ae54f13e00d6ff44f406b222aaaf0692b1ea8e7dc88487ba1039dfbeb",
        ),
    ],
)];

/// What every failure here tells the person who changed a contract.
const FROZEN: &str = "released contracts are frozen: plugins built against them must keep \
    loading exactly as they were built. Undo the change and put it in the next version's folder \
    (copy the newest wit/since_vX.Y.Z/ to the next version, change its package version, edit \
    there: ARCHITECTURE.md, \"Adding a contract version\")";

fn wit_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../wit")
}

/// `0.1.0` → (0, 1, 0).
fn semver(v: &str) -> (u64, u64, u64) {
    let mut parts = v.split('.').map(|p| {
        p.parse::<u64>()
            .unwrap_or_else(|_| panic!("{v:?} is not a version x.y.z"))
    });
    let mut next = || parts.next().unwrap_or_else(|| panic!("{v:?} is not x.y.z"));
    (next(), next(), next())
}

/// The `since_vX.Y.Z` folders under `wit/` and their versions, oldest first.
fn folders() -> Vec<(String, PathBuf)> {
    let mut out: Vec<(String, PathBuf)> = std::fs::read_dir(wit_dir())
        .expect("wit/ exists")
        .map(|e| e.expect("readable wit/").path())
        .filter(|p| p.is_dir())
        .map(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            let version = name.strip_prefix("since_v").unwrap_or_else(|| {
                panic!(
                    "wit/{name}: every folder under wit/ is one contract version, named since_vX.Y.Z"
                )
            });
            (version.to_string(), p.clone())
        })
        .collect();
    out.sort_by_key(|(v, _)| semver(v));
    out
}

/// The file names in `dir`, sorted.
fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            e.expect("readable")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

#[test]
fn released_contracts_are_frozen() {
    for (version, files) in RELEASED {
        let dir = wit_dir().join(format!("since_v{version}"));
        let mut recorded: Vec<&str> = files.iter().map(|(name, _)| *name).collect();
        recorded.sort();
        assert_eq!(
            files_in(&dir),
            recorded,
            "the files of released contract {version} (wit/since_v{version}/) changed; {FROZEN}"
        );
        for (name, sha) in *files {
            let bytes = std::fs::read(dir.join(name)).expect("a recorded file");
            let actual = sha256_hex(&bytes);
            assert_eq!(
                &actual, sha,
                "wit/since_v{version}/{name} changed (sha256 {actual}, released as {sha}); {FROZEN}"
            );
        }
    }
}

#[test]
fn every_contract_folder_declares_the_version_its_name_says() {
    for (version, dir) in folders() {
        let expected = format!("package ferry:plugin@{version};");
        let mut declared = 0;
        for name in files_in(&dir).iter().filter(|n| n.ends_with(".wit")) {
            let text = std::fs::read_to_string(dir.join(name)).expect("UTF-8 WIT");
            for line in text
                .lines()
                .map(str::trim)
                .filter(|l| l.starts_with("package "))
            {
                assert_eq!(
                    line, expected,
                    "wit/since_v{version}/{name} declares another package than its folder's name"
                );
                declared += 1;
            }
        }
        assert!(
            declared > 0,
            "wit/since_v{version}/ declares no package; it should say `{expected}`"
        );
    }
}

#[test]
fn every_folder_is_released_or_the_next_version_and_has_bindings() {
    let folders: Vec<String> = folders().into_iter().map(|(v, _)| v).collect();
    for (version, _) in RELEASED {
        assert!(
            folders.iter().any(|f| f == version),
            "released contract {version} has no folder wit/since_v{version}/; {FROZEN}"
        );
    }
    // Only the newest folder may be unreleased: the version being made.
    let newest_released = RELEASED.iter().map(|(v, _)| semver(v)).max();
    for (i, version) in folders.iter().enumerate() {
        let released = RELEASED.iter().any(|(v, _)| v == version);
        assert!(
            released || (i + 1 == folders.len() && Some(semver(version)) > newest_released),
            "wit/since_v{version}/ is neither a released contract (recorded in RELEASED in {}) \
             nor the next version (the newest folder)",
            file!()
        );
    }
    // The host loads every folder, oldest first.
    let bound: Vec<&str> = CONTRACTS.iter().map(|c| c.version).collect();
    assert_eq!(
        bound, folders,
        "every wit/since_vX.Y.Z/ folder needs its bindings module (host/src/plugin/wit/since_vX_Y_Z.rs) \
         in CONTRACTS, oldest first"
    );
    assert_eq!(Some(LATEST), folders.last().map(String::as_str));
}

#[test]
fn a_component_version_selects_the_bindings_of_its_minor() {
    let version = |v: &str| Contract::of(v).map(|c| c.version);
    assert_eq!(version("0.1.0"), Some("0.1.0"));
    // A patch release of a contract is the same contract (semver, 0.x).
    assert_eq!(version("0.1.7"), Some("0.1.0"));
    assert_eq!(version("0.2.0"), None);
    assert_eq!(version("1.1.0"), None);
    assert_eq!(version(""), None);
    assert_eq!(version("0"), None);
    assert_eq!(version("x.y.z"), None);
}
