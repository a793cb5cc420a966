//! The npm-ecosystem parsers (`lang::node`) on real lockfiles and installed manifests
//! (testdata/pkgdb/npm), on small inline lockfiles in the shapes the tools write, and
//! on broken input.

use postwatch_inventory::lang::node::{
    parse_package_json, parse_package_lock, parse_pnpm_lock, parse_yarn_lock,
};
use postwatch_inventory::lang::{LangPackage, Parsed};
use postwatch_model::PackageManager;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn npm_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/pkgdb/npm")
}

fn read(rel: &str) -> Vec<u8> {
    let path = npm_dir().join(rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// (name, version, dev) of every package, checking the manager and `files` on the way.
fn triples(parsed: &Parsed) -> BTreeSet<(String, String, bool)> {
    let set: BTreeSet<_> = parsed
        .packages
        .iter()
        .map(|p| {
            assert_eq!(p.manager, PackageManager::Npm, "{p:?}");
            assert!(p.files.is_empty(), "{p:?}");
            (p.name.clone(), p.version.clone(), p.dev)
        })
        .collect();
    assert_eq!(set.len(), parsed.packages.len(), "duplicates in {parsed:?}");
    set
}

fn pairs(parsed: &Parsed) -> BTreeSet<(String, String)> {
    triples(parsed)
        .into_iter()
        .map(|(name, version, _)| (name, version))
        .collect()
}

fn find<'a>(parsed: &'a Parsed, name: &str, version: &str) -> &'a LangPackage {
    parsed
        .packages
        .iter()
        .find(|p| p.name == name && p.version == version)
        .unwrap_or_else(|| panic!("{name} {version} not in {:?}", parsed.packages))
}

fn expect(list: &[(&str, &str, bool)]) -> BTreeSet<(String, String, bool)> {
    list.iter()
        .map(|&(n, v, d)| (n.to_owned(), v.to_owned(), d))
        .collect()
}

fn assert_clean(parsed: &Parsed) {
    assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
}

// ---------------------------------------------------------------------------------------
// package-lock.json

#[test]
fn generated_lock_v3() {
    let path = "/app/package-lock.json";
    let parsed = parse_package_lock(path, &read("generated/package-lock.json"));
    assert_clean(&parsed);
    // 71 `packages` entries: the root project "" and 70 under node_modules, all
    // distinct (name, version) pairs (ms is there three times: 2.0.0, 2.1.1, 2.1.3).
    assert_eq!(parsed.packages.len(), 70);
    for (name, version) in [
        ("lodash", "4.17.15"),
        ("minimist", "1.2.0"),
        ("node-fetch", "2.6.0"),
        ("axios", "0.21.0"),
        ("jsonwebtoken", "8.5.1"),
        ("moment", "2.29.1"),
        ("express", "4.17.1"),
        ("ms", "2.0.0"),
        ("ms", "2.1.1"),
        ("ms", "2.1.3"),
        ("follow-redirects", "1.16.3"),
        ("ipaddr.js", "1.9.1"),
        ("mime-db", "1.52.0"),
    ] {
        assert!(!find(&parsed, name, version).dev, "{name}");
    }
    // semver 5.7.1 is the project's devDependency, but jsonwebtoken 8.5.1 (a production
    // dependency) requires semver ^5.6.0, so npm rightly did not mark it `dev`: no entry
    // of this lockfile carries a dev flag.
    assert!(!find(&parsed, "semver", "5.7.1").dev);
    assert!(parsed.packages.iter().all(|p| !p.dev));
    assert!(!parsed
        .packages
        .iter()
        .any(|p| p.name == "postwatch-npm-fixture"));
}

#[test]
fn generated_hidden_lockfile() {
    let hidden = parse_package_lock(
        "/app/node_modules/.package-lock.json",
        &read("generated/node_modules.package-lock.json"),
    );
    assert_clean(&hidden);
    assert_eq!(hidden.packages.len(), 70);
    let lock = parse_package_lock(
        "/app/package-lock.json",
        &read("generated/package-lock.json"),
    );
    assert_eq!(triples(&hidden), triples(&lock));
}

fn package_json_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            package_json_files(&path, found);
        } else if path.file_name().is_some_and(|n| n == "package.json") {
            found.push(path);
        }
    }
}

#[test]
fn generated_installed_manifests() {
    let root = npm_dir().join("generated/node_modules");
    let mut files = Vec::new();
    package_json_files(&root, &mut files);
    assert_eq!(files.len(), 70);
    let mut all = BTreeSet::new();
    for file in &files {
        let shown = file.display().to_string();
        let parsed = parse_package_json(&shown, &std::fs::read(file).unwrap());
        assert_clean(&parsed);
        assert_eq!(parsed.packages.len(), 1, "{shown}");
        let package = &parsed.packages[0];
        // The directory is the package's name: node_modules/<name>/package.json.
        let relative = file.parent().unwrap().strip_prefix(&root).unwrap();
        let dir = relative.to_str().unwrap();
        let dir_name = dir.rsplit("node_modules/").next().unwrap();
        assert_eq!(package.name, dir_name, "{shown}");
        assert!(!package.dev);
        all.insert((package.name.clone(), package.version.clone()));
    }
    assert_eq!(
        find(
            &parse_package_json(
                "x",
                &read("generated/node_modules/jsonwebtoken/node_modules/ms/package.json")
            ),
            "ms",
            "2.1.3"
        )
        .name,
        "ms"
    );
    let lock = parse_package_lock(
        "/app/package-lock.json",
        &read("generated/package-lock.json"),
    );
    assert_eq!(all, pairs(&lock));
}

#[test]
fn syft_lock_v1() {
    let parsed = parse_package_lock(
        "/p/package-lock.json",
        &read("syft/pkg-lock-v1/package-lock.json"),
    );
    assert_clean(&parsed);
    // 12 `dependencies` entries; the stray `node_modules/async` key names async.
    assert_eq!(
        triples(&parsed),
        expect(&[
            ("@actions/core", "1.6.0", false),
            ("ansi-regex", "3.0.0", false),
            ("cowsay", "1.4.0", false),
            ("get-stdin", "5.0.1", false),
            ("is-fullwidth-code-point", "2.0.0", false),
            ("minimist", "0.0.10", false),
            ("optimist", "0.6.1", false),
            ("string-width", "2.1.1", false),
            ("strip-ansi", "4.0.0", false),
            ("strip-eof", "1.0.0", false),
            ("wordwrap", "0.0.3", false),
            ("async", "3.2.4", true),
        ])
    );
}

#[test]
fn syft_lock_v2() {
    let parsed = parse_package_lock(
        "/p/package-lock.json",
        &read("syft/pkg-lock-v2/package-lock.json"),
    );
    assert_clean(&parsed);
    // `packages` is read (root "npm" 6.14.6 skipped); the v1 `dependencies` copy is not
    // counted twice.
    assert_eq!(
        triples(&parsed),
        expect(&[
            ("@types/prop-types", "15.7.5", false),
            ("@types/react", "18.0.17", false),
            ("@types/scheduler", "0.16.2", false),
            ("csstype", "3.1.0", false),
            ("async", "3.2.4", true),
        ])
    );
}

#[test]
fn syft_lock_v3() {
    let parsed = parse_package_lock(
        "/p/package-lock.json",
        &read("syft/pkg-lock-v3/package-lock.json"),
    );
    assert_clean(&parsed);
    assert_eq!(
        triples(&parsed),
        expect(&[
            ("@types/prop-types", "15.7.5", false),
            ("@types/react", "18.0.20", false),
            ("@types/scheduler", "0.16.2", false),
            ("csstype", "3.1.1", false),
            ("async", "3.2.4", true),
        ])
    );
}

#[test]
fn lock_v2_workspaces_links_aliases() {
    let lock = br#"{
  "name": "app",
  "version": "1.0.0",
  "lockfileVersion": 2,
  "requires": true,
  "packages": {
    "": { "name": "app", "version": "1.0.0", "workspaces": ["packages/*"] },
    "node_modules/@app/util": { "resolved": "packages/util", "link": true },
    "packages/util": { "name": "@app/util", "version": "0.1.0" },
    "node_modules/string-width-cjs": {
      "name": "string-width",
      "version": "4.2.3",
      "resolved": "https://registry.npmjs.org/string-width/-/string-width-4.2.3.tgz"
    },
    "node_modules/string-width": { "version": "5.1.2" },
    "node_modules/foo": { "version": "1.0.0" },
    "node_modules/foo/node_modules/@scope/bar": { "version": "2.0.0", "dev": true },
    "node_modules/@scope/bar": { "version": "2.0.0" },
    "node_modules/fsevents": { "version": "2.3.2", "optional": true, "devOptional": true },
    "node_modules/jest": { "version": "29.7.0", "dev": true },
    "node_modules/no-version": { "resolved": "https://example.com/x.tgz" }
  }
}"#;
    let parsed = parse_package_lock("/w/package-lock.json", lock);
    assert_clean(&parsed);
    assert_eq!(
        triples(&parsed),
        expect(&[
            ("string-width", "4.2.3", false),
            ("string-width", "5.1.2", false),
            ("foo", "1.0.0", false),
            // once dev (nested), once not: not a development-only dependency
            ("@scope/bar", "2.0.0", false),
            ("fsevents", "2.3.2", true),
            ("jest", "29.7.0", true),
        ])
    );
}

#[test]
fn lock_v1_nested_aliases_local() {
    let lock = br#"{
  "name": "old",
  "version": "1.0.0",
  "lockfileVersion": 1,
  "requires": true,
  "dependencies": {
    "@babel/core": {
      "version": "7.12.3",
      "dev": true,
      "dependencies": {
        "semver": { "version": "5.7.1", "dev": true },
        "@babel/types": { "version": "7.12.1", "dev": true }
      }
    },
    "semver": { "version": "7.3.2" },
    "string-width-cjs": { "version": "npm:string-width@4.2.3" },
    "local": { "version": "file:../local" },
    "from-git": { "version": "github:user/from-git#0123456789abcdef", "from": "github:user/from-git" }
  }
}"#;
    let parsed = parse_package_lock("/o/npm-shrinkwrap.json", lock);
    assert_clean(&parsed);
    assert_eq!(
        triples(&parsed),
        expect(&[
            ("@babel/core", "7.12.3", true),
            ("semver", "5.7.1", true),
            ("@babel/types", "7.12.1", true),
            ("semver", "7.3.2", false),
            ("string-width", "4.2.3", false),
            ("from-git", "github:user/from-git#0123456789abcdef", false),
        ])
    );
}

#[test]
fn truncated_lock_keeps_entries_before_the_cut() {
    let bytes = read("generated/package-lock.json");
    let text = String::from_utf8(bytes).unwrap();
    let cut = text.find("\"node_modules/express\"").unwrap() + 30;
    let parsed = parse_package_lock("/app/package-lock.json", &text.as_bytes()[..cut]);
    assert_eq!(parsed.warnings.len(), 1, "{:?}", parsed.warnings);
    assert!(parsed.warnings[0].starts_with("/app/package-lock.json: malformed JSON"));
    assert!(
        parsed.warnings[0].contains("line "),
        "{:?}",
        parsed.warnings
    );
    // accepts … etag come before express, in key order
    assert_eq!(parsed.packages.len(), 18, "{:?}", parsed.packages);
    assert_eq!(parsed.packages[0].name, "accepts");
    assert_eq!(parsed.packages[17].name, "etag");
}

#[test]
fn lock_odd_entries_are_reported() {
    let lock = br#"{"lockfileVersion": 3, "packages": {
        "": {"name": "x"},
        "node_modules/a": "not an object",
        "node_modules/b": {"version": 3},
        "node_modules/c": {"version": "1.0.0"},
        "node_modules/bad name": {"version": "1.0.0"},
        "node_modules/d": {"version": "has space"}
    }}"#;
    let parsed = parse_package_lock("/x/package-lock.json", lock);
    assert_eq!(pairs(&parsed).len(), 1);
    find(&parsed, "c", "1.0.0");
    assert_eq!(parsed.warnings.len(), 4, "{:?}", parsed.warnings);
    assert!(parsed
        .warnings
        .iter()
        .all(|w| w.starts_with("/x/package-lock.json: ")));
    assert!(parsed.warnings[0].contains("node_modules/a"));
}

// ---------------------------------------------------------------------------------------
// package.json

#[test]
fn package_json_shapes() {
    let ok = parse_package_json(
        "/n/node_modules/@scope/pkg/package.json",
        b"\xEF\xBB\xBF{\"name\": \"@scope/pkg\", \"version\": \"1.0.0-beta.1\", \"private\": false}",
    );
    assert_clean(&ok);
    assert_eq!(
        triples(&ok),
        expect(&[("@scope/pkg", "1.0.0-beta.1", false)])
    );

    // Not an installed package: silently nothing.
    for quiet in [
        &br#"{"type": "module"}"#[..],
        br#"{"name": "fixture-without-version"}"#,
        br#"{"version": "1.0.0"}"#,
        br#"{"name": 5, "version": "1.0.0"}"#,
    ] {
        let parsed = parse_package_json("/n/p/package.json", quiet);
        assert_eq!(
            parsed,
            Parsed::default(),
            "{}",
            String::from_utf8_lossy(quiet)
        );
    }
    // Broken: a warning naming the file.
    for broken in [
        &b""[..],
        b"   \n",
        b"{\"name\": \"x\", \"version\": ",
        b"\x00\xff garbage",
        b"[1, 2]",
        br#"{"name": "x", "version": 1}"#,
        br#"{"name": "x y", "version": "1.0.0"}"#,
    ] {
        let parsed = parse_package_json("/n/p/package.json", broken);
        assert!(parsed.packages.is_empty());
        assert_eq!(parsed.warnings.len(), 1, "{:?}", parsed.warnings);
        assert!(parsed.warnings[0].starts_with("/n/p/package.json: "));
    }
}

// ---------------------------------------------------------------------------------------
// yarn.lock

#[test]
fn syft_yarn_berry() {
    let parsed = parse_yarn_lock("/y/yarn.lock", &read("syft/yarn-berry/yarn.lock"));
    assert_clean(&parsed);
    // 10 top-level keys: __metadata, the workspace "c0n-fab_u.laTION@workspace:.", and
    // "@types/qs@npm:6.9.4" written twice: 8 packages.
    assert_eq!(
        triples(&parsed),
        expect(&[
            ("@babel/code-frame", "7.10.4", false),
            ("@types/minimatch", "3.0.3", false),
            ("@types/qs", "6.9.4", false),
            ("ajv", "6.12.3", false),
            ("atob", "2.1.2", false),
            ("aws-sdk", "2.706.0", false),
            ("jhipster-core", "7.3.4", false),
            ("asn1.js", "4.10.1", false),
        ])
    );
}

#[test]
fn yarn_berry_aliases_patches_workspaces() {
    let lock = br#"# This file is generated by running "yarn install" inside your project.
# Manual changes might be lost - proceed with caution!

__metadata:
  version: 8
  cacheKey: 10c0

"lodash@npm:^4.17.15, lodash@npm:^4.17.20":
  version: 4.17.21
  resolution: "lodash@npm:4.17.21"
  checksum: 10c0/d8cbea072bb08655bb4c989da418994b073a608dffa608b09ac04b43a791b12aeae7cd7ad919aa4c925f33b48490b5cfe6c1f71d827956071dae2e7bb3a6b74
  languageName: node
  linkType: hard

"string-width-cjs@npm:string-width@^4.2.0":
  version: 4.2.3
  resolution: "string-width@npm:4.2.3"
  languageName: node
  linkType: hard

"wrap-cjs@npm:wrap-ansi@^7.0.0":
  version: 7.0.0
  languageName: node
  linkType: hard

"resolve@patch:resolve@npm%3A^1.20.0#optional!builtin<compat/resolve>":
  version: 1.22.8
  resolution: "resolve@patch:resolve@npm%3A1.22.8#optional!builtin<compat/resolve>::version=1.22.8&hash=c3c19d"
  languageName: node
  linkType: hard

"@my/tool@portal:../tool::locator=app%40workspace%3A.":
  version: 0.0.0-use.local
  resolution: "@my/tool@portal:../tool::locator=app%40workspace%3A."
  languageName: node
  linkType: soft

"typescript@npm:5.4.5":
  version: 5.4.5
  resolution: "typescript@npm:5.4.5"
  languageName: node
  linkType: hard

"app@workspace:.":
  version: 0.0.0-use.local
  resolution: "app@workspace:."
  languageName: unknown
  linkType: soft
"#;
    let parsed = parse_yarn_lock("/y/yarn.lock", lock);
    assert_clean(&parsed);
    assert_eq!(
        triples(&parsed),
        expect(&[
            ("lodash", "4.17.21", false),
            ("string-width", "4.2.3", false),
            ("wrap-ansi", "7.0.0", false),
            ("resolve", "1.22.8", false),
            ("typescript", "5.4.5", false),
        ])
    );
}

const YARN_CLASSIC: &str = r#"# THIS IS AN AUTOGENERATED FILE. DO NOT EDIT THIS FILE DIRECTLY.
# yarn lockfile v1


"@babel/code-frame@^7.0.0", "@babel/code-frame@^7.10.4":
  version "7.12.13"
  resolved "https://registry.yarnpkg.com/@babel/code-frame/-/code-frame-7.12.13.tgz#dcfc826beef65e75c50e21d3837d7d95798dd658"
  integrity sha512-HV1Cm0Q3ZrpCR93tkWOYiuYIgLxZXZFVG2VgK+MBWjUqZTundupbfx2aXarXuw5Ko5aMcjtJgbSs4vUGBS5v6g==
  dependencies:
    "@babel/highlight" "^7.12.13"

lodash@^4.17.15, lodash@^4.17.20:
  version "4.17.21"
  resolved "https://registry.yarnpkg.com/lodash/-/lodash-4.17.21.tgz#679591c564c3bffaae8454cf0b3df370c3d6911c"
  integrity sha512-v2kDEe57lecTulaDIuNTPy3Ry4gLGJ6Z1O3vE1krgXZNrsQ+LFTGHVxVjcXPs17LhbZVGedAJv8XZ1tvj5FvSg==

"string-width-cjs@npm:string-width@^4.2.0":
  version "4.2.3"
  resolved "https://registry.yarnpkg.com/string-width/-/string-width-4.2.3.tgz#269c7117d27b05ad2e536830a8ec895ef9c6d010"
  integrity sha512-wKyQRQpjJ0sIp62ErSZdGsjMJWsap5oRNihHhu6G7JVO/9jIB6UyevL+tXuOqrng8j/cxKTWyWUwvSTriiZz/g==
  dependencies:
    emoji-regex "^8.0.0"
    version "^1.0.0"

"string-width@^1.0.2 || 2 || 3 || 4", string-width@^4.1.0:
  version "4.2.3"
  resolved "https://registry.yarnpkg.com/string-width/-/string-width-4.2.3.tgz#269c7117d27b05ad2e536830a8ec895ef9c6d010"

"my-lib@file:./vendor/my-lib-1.0.0.tgz":
  version "1.0.0"
  resolved "file:./vendor/my-lib-1.0.0.tgz#0123"

"local@link:./local":
  version "0.0.0"
  uid ""

"foo@git+https://github.com/user/foo.git#abc123":
  version "2.0.0"
  resolved "git+https://github.com/user/foo.git#abc123"

yargs@^17.0.0:
  version "17.7.2"
"#;

#[test]
fn yarn_classic() {
    let parsed = parse_yarn_lock("/y/yarn.lock", YARN_CLASSIC.as_bytes());
    assert_clean(&parsed);
    assert_eq!(
        triples(&parsed),
        expect(&[
            ("@babel/code-frame", "7.12.13", false),
            ("lodash", "4.17.21", false),
            ("string-width", "4.2.3", false),
            ("my-lib", "1.0.0", false),
            ("foo", "2.0.0", false),
            ("yargs", "17.7.2", false),
        ])
    );
    // CRLF line ends read the same.
    let crlf = YARN_CLASSIC.replace('\n', "\r\n");
    let again = parse_yarn_lock("/y/yarn.lock", crlf.as_bytes());
    assert_clean(&again);
    assert_eq!(triples(&again), triples(&parsed));
    // A lockfile of a project without dependencies.
    let empty = parse_yarn_lock(
        "/y/yarn.lock",
        b"# THIS IS AN AUTOGENERATED FILE. DO NOT EDIT THIS FILE DIRECTLY.\n# yarn lockfile v1\n\n\n",
    );
    assert_eq!(empty, Parsed::default());
}

#[test]
fn yarn_classic_broken_lines() {
    let lock = "# yarn lockfile v1\n\nlodash@^4.0.0:\n  version \"4.17.21\"\n\nstray text\nno-version@^1.0.0:\n  resolved \"x\"\n\nyargs@^17:\n  version \"17.7.2\"\n";
    let parsed = parse_yarn_lock("/y/yarn.lock", lock.as_bytes());
    assert_eq!(
        pairs(&parsed),
        [("lodash", "4.17.21"), ("yargs", "17.7.2")]
            .iter()
            .map(|&(n, v)| (n.to_owned(), v.to_owned()))
            .collect()
    );
    assert_eq!(parsed.warnings.len(), 2, "{:?}", parsed.warnings);
    assert!(parsed.warnings[0].starts_with("/y/yarn.lock: line 6: "));
    assert!(parsed.warnings[1].starts_with("/y/yarn.lock: line 7 (no-version@^1.0.0): "));
}

// ---------------------------------------------------------------------------------------
// pnpm-lock.yaml

#[test]
fn syft_pnpm_v9() {
    let parsed = parse_pnpm_lock("/p/pnpm-lock.yaml", &read("syft/pnpm-v9/pnpm-lock.yaml"));
    assert_clean(&parsed);
    // Four `packages` keys (written with 6.x's leading `/`); one has a peer suffix.
    assert_eq!(
        triples(&parsed),
        expect(&[
            ("@babel/core", "7.24.7", false),
            ("@babel/helper-plugin-utils", "7.24.7", false),
            ("is-positive", "3.1.0", false),
            ("rollup", "4.18.0", false),
        ])
    );
}

#[test]
fn pnpm_v5() {
    let lock = br#"lockfileVersion: 5.4

specifiers:
  '@babel/core': ^7.12.3
  react-dom: ^17.0.2
  repo-pkg: github:user/repo

dependencies:
  react-dom: 17.0.2_react@17.0.2
  repo-pkg: github.com/user/repo/0123abc

devDependencies:
  '@babel/core': 7.12.3

packages:

  /@babel/code-frame/7.10.4:
    resolution: {integrity: sha512-vG6SvB6oYEhvgisZNFRmRCUkLz11c7rp+tbNTynGqc6mS1d5ATd/sGyV6W0KZZnXRKMTzZDRgQT3Ou9jhpAfUg==}
    dev: true

  /@babel/core/7.12.3:
    resolution: {integrity: sha512-0qXcZYKZp3/6N2jKYVxZv0aNCsxTSVCiK72DTiTYZAu7sjg73W0/aynWjMbiGd87EQL4WyA8reiJVh92AVla9g==}
    engines: {node: '>=6.9.0'}
    dependencies:
      '@babel/code-frame': 7.10.4
    dev: true

  /loose-envify/1.4.0:
    resolution: {integrity: sha512-lyuxPGr/Wfhrlem2CL/UcnUc1zcqKAImBDzukY7Y5F/yQiNdko6+fRLevlw1HgMySw7f611UIY408EtxRSoK3Q==}
    hasBin: true

  /react-dom/17.0.2_react@17.0.2:
    resolution: {integrity: sha512-s4h96KtLDUQlsENhMn1ar8t2bEa+q/YAtj8pPPdIjPDGBDIVNsrD9aXNWqspUe6AzKCIG0C1HZZLqLV7qpOBGA==}
    peerDependencies:
      react: 17.0.2
    dependencies:
      loose-envify: 1.4.0
      react: 17.0.2
    dev: false

  /react/17.0.2:
    resolution: {integrity: sha512-gnhPt75i/dq/z3/6q/0asP78D0u592D5L1pVljM8TFUaFm2rL4usfrpvEbT3ZaNumC1DxNa2I0gPo+5AVZJuQA==}
    dev: false

  /@emotion/react/11.10.5_lvpi6ncpkxy7wbgfaqgw2ce5ue:
    resolution: {integrity: sha512-TZs6235tCJ/7iF6/rvTaOH4oxQg2gMAcdHemjwLKIjKz4rRuYe1HJ2TQJKnAcRAfOUDdU8XoDadCe1rl72iv8A==}
    dev: false

  registry.example.com/private-pkg/2.0.0:
    resolution: {integrity: sha512-aaaa, tarball: https://registry.example.com/private-pkg/-/private-pkg-2.0.0.tgz}
    dev: true

  github.com/user/repo/0123abc:
    resolution: {tarball: https://codeload.github.com/user/repo/tar.gz/0123abc}
    name: repo-pkg
    version: 1.0.0
    dev: false
"#;
    let parsed = parse_pnpm_lock("/p/pnpm-lock.yaml", lock);
    assert_clean(&parsed);
    assert_eq!(
        triples(&parsed),
        expect(&[
            ("@babel/code-frame", "7.10.4", true),
            ("@babel/core", "7.12.3", true),
            ("loose-envify", "1.4.0", false),
            ("react-dom", "17.0.2", false),
            ("react", "17.0.2", false),
            ("@emotion/react", "11.10.5", false),
            ("private-pkg", "2.0.0", true),
            ("repo-pkg", "1.0.0", false),
        ])
    );
}

#[test]
fn pnpm_v6() {
    let lock = br#"lockfileVersion: '6.0'

settings:
  autoInstallPeers: true
  excludeLinksFromLockfile: false

dependencies:
  react-dom:
    specifier: ^18.2.0
    version: 18.2.0(react@18.2.0)

devDependencies:
  '@vitejs/plugin-react':
    specifier: ^4.0.0
    version: 4.0.0(vite@4.3.5)
  typescript:
    specifier: ^5.0.4
    version: 5.0.4

packages:

  /@vitejs/plugin-react@4.0.0(vite@4.3.5):
    resolution: {integrity: sha512-HX0XzMjL3hhOYm+0s95pb0Z7F8O81G7joUHgfDd/9J/ZZf5k4xX6QAMFkKsHFxaHlf6X7GD7+XuaZ66ULiJuhQ==}
    engines: {node: ^14.18.0 || >=16.0.0}
    peerDependencies:
      vite: ^4.2.0
    dependencies:
      vite: 4.3.5
    dev: true

  /js-tokens@4.0.0:
    resolution: {integrity: sha512-RdJUflcE3cUzKiMqQgsCu06FPu9UdIJO0beYbPhHN4k6apgJtifcoCtT9bcxOpYBtpD2kCM6Sbzg4CausW/PKQ==}
    dev: false

  /loose-envify@1.4.0:
    resolution: {integrity: sha512-lyuxPGr/Wfhrlem2CL/UcnUc1zcqKAImBDzukY7Y5F/yQiNdko6+fRLevlw1HgMySw7f611UIY408EtxRSoK3Q==}
    hasBin: true
    dependencies:
      js-tokens: 4.0.0
    dev: false

  /react-dom@18.2.0(react@18.2.0):
    resolution: {integrity: sha512-6IMTriUmvsjHUjNtEDudZfuDQUoWXVxKHhlEGSk81n4YFS+r/Kl99wXiwlVXtPBtJenozv2P+hxDsw9eA7Xo6g==}
    peerDependencies:
      react: ^18.2.0
    dependencies:
      loose-envify: 1.4.0
      react: 18.2.0
      scheduler: 0.23.0
    dev: false

  /react@18.2.0:
    resolution: {integrity: sha512-/3IjMdb2L9QbBdWiW5e3P2/npwMBaU9mHCSCUzNln0ZCYbcfTsGbTJrU/kGemdH2IWmB2ioZ+zkxtmq6g09fGQ==}
    engines: {node: '>=0.10.0'}
    dependencies:
      loose-envify: 1.4.0
    dev: false

  /scheduler@0.23.0:
    resolution: {integrity: sha512-CtuThmgHNg7zIZWAXi3AsyIzA3n4xx7aNyjwC2VJldO2LMVDhFK+63xGqq6CsJH4rTAt6/M+N4GhZiDYPx9eUw==}
    dependencies:
      loose-envify: 1.4.0
    dev: false

  /typescript@5.0.4:
    resolution: {integrity: sha512-cW9T5W9xY37cc+jfEnaUvX91foxtHkza3Nw3wkoF4sSlKn0MONdkdEndig/qPBWXNkmplh3NzayQzCiHM4/hqw==}
    engines: {node: '>=12.20'}
    hasBin: true
    dev: true

  /vite@4.3.5:
    resolution: {integrity: sha512-0gEnL9wiRFxgz40o/i/eTBwm+NEbpUeTWhzKrZDSdKm6nplj+z4lKz8ANDgildxHm47Vg8EUia0aicKbawUVVA==}
    dev: true
"#;
    let parsed = parse_pnpm_lock("/p/pnpm-lock.yaml", lock);
    assert_clean(&parsed);
    assert_eq!(
        triples(&parsed),
        expect(&[
            ("@vitejs/plugin-react", "4.0.0", true),
            ("js-tokens", "4.0.0", false),
            ("loose-envify", "1.4.0", false),
            ("react-dom", "18.2.0", false),
            ("react", "18.2.0", false),
            ("scheduler", "0.23.0", false),
            ("typescript", "5.0.4", true),
            ("vite", "4.3.5", true),
        ])
    );
}

const PNPM_V9: &str = r#"lockfileVersion: '9.0'

settings:
  autoInstallPeers: true
  excludeLinksFromLockfile: false

importers:

  .:
    dependencies:
      react-dom:
        specifier: ^18.2.0
        version: 18.2.0(react@18.2.0)
      string-width-cjs:
        specifier: npm:string-width@^4.2.0
        version: string-width@4.2.3
    devDependencies:
      '@types/react':
        specifier: ^18.3.3
        version: 18.3.3
      local-lib:
        specifier: link:../local-lib
        version: link:../local-lib
      react-test-renderer:
        specifier: ^18.2.0
        version: 18.2.0(react@18.2.0)
      typescript:
        specifier: ^5.4.5
        version: 5.4.5

packages:

  '@types/prop-types@15.7.12':
    resolution: {integrity: sha512-5zvhXYtRNRluoE/jAp4GVsSduVUzNWKkOZrCDBWYtE7biZywwdC2AcEzg+cSMLFRfVgeAFqpfNabiPjxFddV1Q==}

  '@types/react@18.3.3':
    resolution: {integrity: sha512-hti/R0pS0q1/xx+TsI73XIqk26eBsISZ2R0wUijXIngRK9R/e7Xw/cXVxQK7R5JjW+SV4zGcn5hXjudkN/pLIw==}

  csstype@3.1.3:
    resolution: {integrity: sha512-M1uQkMl8rQK/szD0LNhtqxIPLpimGm8sOBwU7lLnCpSbTyY3yeU1Vc7l4KT5zT4s/yOxHH5O7tIuuLOCnLADRw==}

  js-tokens@4.0.0:
    resolution: {integrity: sha512-RdJUflcE3cUzKiMqQgsCu06FPu9UdIJO0beYbPhHN4k6apgJtifcoCtT9bcxOpYBtpD2kCM6Sbzg4CausW/PKQ==}

  loose-envify@1.4.0:
    resolution: {integrity: sha512-lyuxPGr/Wfhrlem2CL/UcnUc1zcqKAImBDzukY7Y5F/yQiNdko6+fRLevlw1HgMySw7f611UIY408EtxRSoK3Q==}
    hasBin: true

  react-dom@18.2.0:
    resolution: {integrity: sha512-6IMTriUmvsjHUjNtEDudZfuDQUoWXVxKHhlEGSk81n4YFS+r/Kl99wXiwlVXtPBtJenozv2P+hxDsw9eA7Xo6g==}
    peerDependencies:
      react: ^18.2.0

  react@18.2.0:
    resolution: {integrity: sha512-/3IjMdb2L9QbBdWiW5e3P2/npwMBaU9mHCSCUzNln0ZCYbcfTsGbTJrU/kGemdH2IWmB2ioZ+zkxtmq6g09fGQ==}
    engines: {node: '>=0.10.0'}

  react-is@18.3.1:
    resolution: {integrity: sha512-/LLMVyas0ljjAtoYiPqYiL8VWXzUUdThrmU5+n20DZv+a+ClRoevUzw5JxU+Ieh5/c87ytoTBV9G1FiKfNJdmg==}

  react-test-renderer@18.2.0:
    resolution: {integrity: sha512-JWD+aQ0lh2gvh4NM3bBM42Kx+XybOxCpgYK7F8ugAlpaTSnWsX+39Z4XkOykGZAHrjwwTZT3x3KxswVWxHPUqA==}
    peerDependencies:
      react: ^18.2.0

  scheduler@0.23.2:
    resolution: {integrity: sha512-UOShsPwz7NrMUqhR6t0hWjFduvOzbtv7toDH1/hIrfRNIDBnnBWd0CwJTGvTpngVlmwGCdP9/Zl/tVrDqcuYzQ==}

  string-width@4.2.3:
    resolution: {integrity: sha512-wKyQRQpjJ0sIp62ErSZdGsjMJWsap5oRNihHhu6G7JVO/9jIB6UyevL+tXuOqrng8j/cxKTWyWUwvSTriiZz/g==}
    engines: {node: '>=8'}

  typescript@5.4.5:
    resolution: {integrity: sha512-vcI4UpRgg81oIRUFwR0WSIHKt11nJ7SAVlYNIu+QpqeyXP+gpQJy/Z4+F0aGxSE4MqwjyXvW/TzgkLAx2AGHwQ==}
    engines: {node: '>=14.17'}
    hasBin: true

snapshots:

  '@types/prop-types@15.7.12': {}

  '@types/react@18.3.3':
    dependencies:
      '@types/prop-types': 15.7.12
      csstype: 3.1.3

  csstype@3.1.3: {}

  js-tokens@4.0.0: {}

  loose-envify@1.4.0:
    dependencies:
      js-tokens: 4.0.0

  react-dom@18.2.0(react@18.2.0):
    dependencies:
      loose-envify: 1.4.0
      react: 18.2.0
      scheduler: 0.23.2

  react@18.2.0:
    dependencies:
      loose-envify: 1.4.0

  react-is@18.3.1: {}

  react-test-renderer@18.2.0(react@18.2.0):
    dependencies:
      react: 18.2.0
      react-is: 18.3.1
      scheduler: 0.23.2

  scheduler@0.23.2:
    dependencies:
      loose-envify: 1.4.0

  string-width@4.2.3: {}

  typescript@5.4.5: {}
"#;

#[test]
fn pnpm_v9_dev_from_the_graph() {
    let parsed = parse_pnpm_lock("/p/pnpm-lock.yaml", PNPM_V9.as_bytes());
    assert_clean(&parsed);
    assert_eq!(
        triples(&parsed),
        expect(&[
            ("@types/prop-types", "15.7.12", true),
            ("@types/react", "18.3.3", true),
            ("csstype", "3.1.3", true),
            ("js-tokens", "4.0.0", false),
            ("loose-envify", "1.4.0", false),
            ("react-dom", "18.2.0", false),
            // also under react-test-renderer, a dev dependency: still needed in production
            ("react", "18.2.0", false),
            ("scheduler", "0.23.2", false),
            ("react-is", "18.3.1", true),
            ("react-test-renderer", "18.2.0", true),
            ("string-width", "4.2.3", false),
            ("typescript", "5.4.5", true),
        ])
    );
    // Without `snapshots` the graph is unknown: nothing is marked dev.
    let cut = PNPM_V9.find("snapshots:").unwrap();
    let without = parse_pnpm_lock("/p/pnpm-lock.yaml", &PNPM_V9.as_bytes()[..cut]);
    assert_clean(&without);
    assert_eq!(without.packages.len(), 12);
    assert!(without.packages.iter().all(|p| !p.dev));
}

#[test]
fn pnpm_multi_document_reads_the_last() {
    let lock = format!(
        "---\nlockfileVersion: '9.0'\n\nimporters:\n  .:\n    configDependencies: {{}}\n\npackages:\n  pnpm@9.15.0:\n    resolution: {{integrity: sha512-x}}\n\n---\n{PNPM_V9}"
    );
    let parsed = parse_pnpm_lock("/p/pnpm-lock.yaml", lock.as_bytes());
    assert_clean(&parsed);
    assert_eq!(parsed.packages.len(), 12);
    assert!(!parsed.packages.iter().any(|p| p.name == "pnpm"));
}

// ---------------------------------------------------------------------------------------
// Broken input

type ParseFn = fn(&str, &[u8]) -> Parsed;

const PARSERS: [(&str, ParseFn); 4] = [
    ("package.json", parse_package_json),
    ("package-lock.json", parse_package_lock),
    ("yarn.lock", parse_yarn_lock),
    ("pnpm-lock.yaml", parse_pnpm_lock),
];

#[test]
fn empty_and_garbage_are_warnings() {
    let garbage: &[&[u8]] = &[
        b"",
        b"\n\n",
        b"\x00\x01\x02\xff\xfe garbage \x80",
        b"{\"packages\": {\"node_modules/a\": {\"version\": \"1",
        b"{{{{{{{{{{",
        b"lockfileVersion: '9.0'\npackages:\n  'a@1.0.0:\n    resolution: {",
        b"- [unclosed\n- \"x",
        b"]]]]",
    ];
    for (what, parse) in PARSERS {
        let path = format!("/broken/{what}");
        for input in garbage {
            let parsed = parse(&path, input);
            assert!(
                !parsed.warnings.is_empty(),
                "{what} on {:?}: no warning",
                String::from_utf8_lossy(input)
            );
            for warning in &parsed.warnings {
                assert!(warning.starts_with(&format!("{path}: ")), "{warning}");
            }
        }
    }
}

#[test]
fn truncated_yaml_is_a_warning() {
    let yarn = read("syft/yarn-berry/yarn.lock");
    let text = String::from_utf8(yarn).unwrap();
    // Cut inside a quoted key: unterminated string.
    let cut = text.find("\"ajv@npm").unwrap() + 5;
    let parsed = parse_yarn_lock("/y/yarn.lock", &text.as_bytes()[..cut]);
    assert_eq!(parsed.warnings.len(), 1, "{:?}", parsed.warnings);
    assert!(parsed.warnings[0].starts_with("/y/yarn.lock: malformed YAML"));
    // The three packages before the cut are kept.
    assert_eq!(parsed.packages.len(), 3, "{:?}", parsed.packages);

    // Cut between an entry's key and its fields: that entry has no version.
    let cut = text.find("\"atob@npm:2.1.2\":").unwrap() + "\"atob@npm:2.1.2\":".len();
    let parsed = parse_yarn_lock("/y/yarn.lock", &text.as_bytes()[..cut]);
    assert_eq!(parsed.packages.len(), 4, "{:?}", parsed.packages);
    assert_eq!(parsed.warnings.len(), 1, "{:?}", parsed.warnings);
    assert!(parsed.warnings[0].starts_with("/y/yarn.lock: line "));

    let pnpm = PNPM_V9.as_bytes();
    let cut = PNPM_V9
        .find("'@types/react@18.3.3':\n    resolution")
        .unwrap()
        + 10;
    let parsed = parse_pnpm_lock("/p/pnpm-lock.yaml", &pnpm[..cut]);
    assert!(parsed.warnings[0].starts_with("/p/pnpm-lock.yaml: malformed YAML"));
    assert_eq!(pairs(&parsed).len(), 1, "{:?}", parsed.packages);
}

/// A small deterministic generator (xorshift64*), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn all_fixtures() -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    package_json_files(&npm_dir().join("generated/node_modules"), &mut files);
    let mut fixtures: Vec<(String, Vec<u8>)> = files
        .iter()
        .take(5)
        .map(|f| (f.display().to_string(), std::fs::read(f).unwrap()))
        .collect();
    for rel in [
        "generated/package-lock.json",
        "generated/node_modules.package-lock.json",
        "syft/pkg-lock-v1/package-lock.json",
        "syft/pkg-lock-v2/package-lock.json",
        "syft/pkg-lock-v3/package-lock.json",
        "syft/yarn-berry/yarn.lock",
        "syft/pnpm-v9/pnpm-lock.yaml",
    ] {
        fixtures.push((rel.to_owned(), read(rel)));
    }
    fixtures.push((
        "inline/yarn-classic".to_owned(),
        YARN_CLASSIC.as_bytes().to_vec(),
    ));
    fixtures.push(("inline/pnpm-v9".to_owned(), PNPM_V9.as_bytes().to_vec()));
    fixtures
}

/// Every parser on every fixture, cut at many points and with bytes flipped: no panic,
/// and every warning names the file.
#[test]
fn no_panic_on_truncated_or_corrupted_fixtures() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    // More rounds on demand: POSTWATCH_NODE_FUZZ_ROUNDS=5000 (best with --release).
    let rounds: usize = std::env::var("POSTWATCH_NODE_FUZZ_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(60);
    let mut runs = 0usize;
    for (name, bytes) in all_fixtures() {
        let mut inputs: Vec<Vec<u8>> = Vec::new();
        let step = (bytes.len() / (rounds * 5 / 2)).max(1);
        for cut in (0..=bytes.len()).step_by(step) {
            inputs.push(bytes[..cut].to_vec());
        }
        for _ in 0..rounds {
            let mut mutated = bytes.clone();
            for _ in 0..=rng.below(8) {
                let at = rng.below(mutated.len());
                if let Some(b) = mutated.get_mut(at) {
                    *b = match rng.below(4) {
                        0 => *b ^ (1 << rng.below(8)),
                        1 => b"{}[]:,\"'@/()\n -#&*!|>"[rng.below(21)],
                        2 => 0xC3,
                        _ => rng.next() as u8,
                    };
                }
            }
            if rng.below(3) == 0 {
                let keep = rng.below(mutated.len() + 1);
                mutated.truncate(keep);
            }
            inputs.push(mutated);
        }
        for input in &inputs {
            for (what, parse) in PARSERS {
                let path = format!("/fuzz/{what}");
                let parsed = parse(&path, input);
                runs += 1;
                for warning in &parsed.warnings {
                    assert!(
                        warning.starts_with(&format!("{path}: ")),
                        "{name}: {warning}"
                    );
                }
                for p in &parsed.packages {
                    assert!(!p.name.is_empty() && !p.version.is_empty(), "{name}: {p:?}");
                }
            }
        }
    }
    assert!(runs > 5000, "{runs}");
}

#[test]
fn deep_nesting_and_floods_are_bounded() {
    let mut inputs: Vec<Vec<u8>> = vec![
        "[".repeat(100_000).into_bytes(),
        "{\"a\":".repeat(50_000).into_bytes(),
        "- ".repeat(50_000).into_bytes(),
    ];
    let mut block = String::new();
    for depth in 0..2_000 {
        block.push_str(&" ".repeat(depth));
        block.push_str("k:\n");
    }
    inputs.push(block.into_bytes());
    for (what, parse) in PARSERS {
        let path = format!("/deep/{what}");
        for input in &inputs {
            let parsed = parse(&path, input);
            assert!(parsed.packages.is_empty());
            assert!(!parsed.warnings.is_empty(), "{what}");
        }
    }
    // Ten thousand bad lines: a bounded number of warnings, the rest counted.
    let flood = "not an entry\n".repeat(10_000);
    let parsed = parse_yarn_lock("/y/yarn.lock", flood.as_bytes());
    assert!(parsed.warnings.len() <= 51, "{}", parsed.warnings.len());
    assert_eq!(
        parsed.warnings.last().unwrap(),
        "/y/yarn.lock: 9950 further problems not shown"
    );
}
