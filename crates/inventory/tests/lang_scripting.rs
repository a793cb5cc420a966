//! The Python, Ruby, PHP and .NET language parsers against real fixtures
//! (`testdata/pkgdb/{python,ruby,php}`), realistic inline inputs for the formats without
//! fixtures (uv.lock, requirements.txt, *.deps.json, packages.lock.json), malformed
//! input, and a no-panic loop over truncated and corrupted fixtures.

use postwatch_inventory::lang::{dotnet, php, python, ruby, LangPackage, Parsed};
use postwatch_model::PackageManager;
use std::path::{Path, PathBuf};

fn pkgdb() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/pkgdb")
}

fn read(relative: &str) -> Vec<u8> {
    let path = pkgdb().join(relative);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// (name, version, dev) of every package, in order.
fn triples(parsed: &Parsed) -> Vec<(&str, &str, bool)> {
    parsed
        .packages
        .iter()
        .map(|p| (p.name.as_str(), p.version.as_str(), p.dev))
        .collect()
}

fn find<'a>(parsed: &'a Parsed, name: &str) -> &'a LangPackage {
    parsed
        .packages
        .iter()
        .find(|p| p.name == name)
        .unwrap_or_else(|| panic!("{name} not found in {:?}", triples(parsed)))
}

fn assert_has(parsed: &Parsed, name: &str, version: &str, dev: bool) {
    let package = find(parsed, name);
    assert_eq!(
        (package.version.as_str(), package.dev),
        (version, dev),
        "{name}"
    );
}

fn assert_clean(parsed: &Parsed, manager: PackageManager) {
    assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
    assert!(parsed.packages.iter().all(|p| p.manager == manager));
}

/// At least one warning, and every warning names the file.
fn assert_warns(parsed: &Parsed, path: &str) {
    assert!(!parsed.warnings.is_empty(), "no warning for {path}");
    for warning in &parsed.warnings {
        assert!(
            warning.starts_with(path),
            "{warning:?} does not name {path}"
        );
        assert!(
            warning.len() < 1000,
            "overlong warning {} bytes",
            warning.len()
        );
    }
}

// ---------------------------------------------------------------------------------------
// Python: installed distributions

const SITE: &str = "/usr/local/lib/python3.11/site-packages";

/// (directory, name, version, RECORD rows) of the fixture's dist-info directories.
const DIST_INFOS: &[(&str, &str, &str, usize)] = &[
    ("requests-2.19.1.dist-info", "requests", "2.19.1", 27),
    ("urllib3-1.24.1.dist-info", "urllib3", "1.24.1", 43),
    ("Jinja2-2.10.dist-info", "Jinja2", "2.10", 37),
    ("Werkzeug-0.15.3.dist-info", "Werkzeug", "0.15.3", 68),
    ("Flask-1.0.dist-info", "Flask", "1.0", 32),
    ("Django-2.2.dist-info", "Django", "2.2", 3370),
    ("idna-2.7.dist-info", "idna", "2.7", 15),
    ("certifi-2018.4.16.dist-info", "certifi", "2018.4.16", 13),
    ("py-1.9.0.dist-info", "py", "1.9.0", 63),
    ("sqlparse-0.4.1.dist-info", "sqlparse", "0.4.1", 32),
    ("paramiko-2.4.1.dist-info", "paramiko", "2.4.1", 53),
    ("Babel-2.8.0.dist-info", "Babel", "2.8.0", 793),
    ("setuptools-40.0.0.dist-info", "setuptools", "40.0.0", 104),
];

#[test]
fn site_packages_metadata() {
    let listed = std::fs::read_dir(pkgdb().join("python/site-packages"))
        .map(|dir| dir.count())
        .unwrap_or(0);
    assert_eq!(listed, 13);
    assert_eq!(DIST_INFOS.len(), 13);
    for (dir, name, version, _) in DIST_INFOS {
        let path = format!("{SITE}/{dir}/METADATA");
        let parsed = python::parse_metadata(
            &path,
            &read(&format!("python/site-packages/{dir}/METADATA")),
        );
        assert_clean(&parsed, PackageManager::Pip);
        assert_eq!(triples(&parsed), [(*name, *version, false)], "{dir}");
        assert!(parsed.packages[0].files.is_empty());
    }
}

#[test]
fn site_packages_record() {
    for (dir, _, _, rows) in DIST_INFOS {
        let path = format!("{SITE}/{dir}/RECORD");
        let files =
            python::parse_record(&path, &read(&format!("python/site-packages/{dir}/RECORD")));
        assert_eq!(files.len(), *rows, "{dir}");
        assert!(
            files.contains(&format!("{SITE}/{dir}/METADATA")),
            "{dir}: {:?}",
            &files[..3]
        );
        for file in &files {
            assert!(file.starts_with('/') && !file.contains("/../") && !file.contains("//"));
        }
    }
    let requests = python::parse_record(
        &format!("{SITE}/requests-2.19.1.dist-info/RECORD"),
        &read("python/site-packages/requests-2.19.1.dist-info/RECORD"),
    );
    assert!(requests.contains(&format!("{SITE}/requests/__init__.py")));
    assert!(requests.contains(&format!("{SITE}/requests/utils.py")));
    // `../../bin/flask` is resolved lexically from the directory holding the
    // dist-info (this fixture's wheels were installed two levels below the prefix).
    let flask = python::parse_record(
        &format!("{SITE}/Flask-1.0.dist-info/RECORD"),
        &read("python/site-packages/Flask-1.0.dist-info/RECORD"),
    );
    assert_eq!(
        flask.first().map(String::as_str),
        Some("/usr/local/lib/bin/flask")
    );
    assert!(flask.contains(&format!("{SITE}/flask/json/tag.py")));
    let setuptools = python::parse_record(
        &format!("{SITE}/setuptools-40.0.0.dist-info/RECORD"),
        &read("python/site-packages/setuptools-40.0.0.dist-info/RECORD"),
    );
    assert!(setuptools.contains(&"/usr/local/lib/bin/easy_install-3.11".to_owned()));
    assert!(setuptools.contains(&format!("{SITE}/easy_install.py")));
}

#[test]
fn record_relative_paths_never_leave_the_root() {
    let files = python::parse_record(
        "/venv/lib/python3.12/site-packages/flask-3.0.3.dist-info/RECORD",
        b"../../../bin/flask,sha256=x,1\n../../../../../../../etc/shadow,,\n\
flask/__init__.py,sha256=y,2\n\"flask/odd,name.py\",,\n/opt/abs/file,,\n\n",
    );
    assert_eq!(
        files,
        [
            "/venv/bin/flask",
            "/etc/shadow",
            "/venv/lib/python3.12/site-packages/flask/__init__.py",
            "/venv/lib/python3.12/site-packages/flask/odd,name.py",
            "/opt/abs/file",
        ]
    );
    // A RECORD at the root resolves against `/`.
    assert_eq!(
        python::parse_record("/x.dist-info/RECORD", b"../a,,\n"),
        ["/a"]
    );
    assert!(python::parse_record("/a/b/RECORD", b"").is_empty());
}

#[test]
fn egg_info_pkg_info() {
    let path = "/usr/lib/python3/dist-packages/requests-2.22.0.egg-info/PKG-INFO";
    let parsed = python::parse_metadata(path, &read("python/syft-egg-info/PKG-INFO"));
    assert_clean(&parsed, PackageManager::Pip);
    assert_eq!(triples(&parsed), [("requests", "2.22.0", false)]);
}

#[test]
fn metadata_headers_stop_at_the_body() {
    let text = "Metadata-Version: 2.1\r\nname: Foo.Bar\r\nVERSION: 1.0.post1\r\nSummary: x\r\n  continued\r\n\r\nName: not-this\r\nVersion: 9\r\n";
    let parsed = python::parse_metadata("/m/METADATA", text.as_bytes());
    assert_clean(&parsed, PackageManager::Pip);
    assert_eq!(triples(&parsed), [("Foo.Bar", "1.0.post1", false)]);
    // Name and Version only in the body: not headers.
    let parsed = python::parse_metadata(
        "/m/METADATA",
        b"Metadata-Version: 2.1\n\nName: x\nVersion: 1\n",
    );
    assert!(parsed.packages.is_empty());
    assert_warns(&parsed, "/m/METADATA");
}

// ---------------------------------------------------------------------------------------
// Python: lockfiles and requirements

#[test]
fn poetry_lock_fixture() {
    let path = "/app/poetry.lock";
    let parsed = python::parse_poetry_lock(path, &read("python/syft-poetry/poetry.lock"));
    assert_clean(&parsed, PackageManager::Pip);
    assert_eq!(
        triples(&parsed),
        [
            ("certifi", "2024.2.2", false),
            ("charset-normalizer", "3.3.2", false),
            ("idna", "3.7", false),
            ("requests", "2.32.2", false),
            ("urllib3", "2.2.1", false),
        ]
    );
}

#[test]
fn poetry_lock_dev_markers() {
    // Lock format 1.1 (Poetry < 1.5): `category`.
    let old = r#"[[package]]
name = "pytest"
version = "6.2.5"
description = "pytest: simple powerful testing with Python"
category = "dev"
optional = false
python-versions = ">=3.6"

[package.dependencies]
attrs = ">=19.2.0"

[package.extras]
testing = ["argcomplete", "hypothesis (>=3.56)"]

[[package]]
name = "six"
version = "1.16.0"
description = "Python 2 and 3 compatibility utilities"
category = "main"
optional = false
python-versions = ">=2.7, !=3.0.*, !=3.1.*, !=3.2.*"

[metadata]
lock-version = "1.1"
python-versions = "^3.8"
content-hash = "0f1c3b4f5a9f6e3f2b7b5a4d1c0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e"

[metadata.files]
pytest = [
    {file = "pytest-6.2.5-py3-none-any.whl", hash = "sha256:7310f8d27bc79ced999e760ca304d69f6ba6c6649c0b60fb0e04a4a77cacc134"},
]
six = []
"#;
    let parsed = python::parse_poetry_lock("/p/poetry.lock", old.as_bytes());
    assert_clean(&parsed, PackageManager::Pip);
    assert_eq!(
        triples(&parsed),
        [("pytest", "6.2.5", true), ("six", "1.16.0", false)]
    );

    // Lock format 2.1 (Poetry 2): `groups`.
    let new = r#"# This file is automatically @generated by Poetry 2.0.1 and should not be changed by hand.

[[package]]
name = "colorama"
version = "0.4.6"
description = "Cross-platform colored terminal text."
optional = false
python-versions = "!=3.0.*,!=3.1.*,!=3.2.*,!=3.3.*,!=3.4.*,!=3.5.*,!=3.6.*,>=2.7"
groups = ["dev"]
markers = "sys_platform == \"win32\""
files = [
    {file = "colorama-0.4.6-py2.py3-none-any.whl", hash = "sha256:4f1d9991f5acc0ca119f9d443620b77f9d6b33703e51011c16baf57afb285fc6"},
]

[[package]]
name = "packaging"
version = "24.2"
description = "Core utilities for Python packages"
optional = false
python-versions = ">=3.8"
groups = ["main", "dev"]
files = []

[[package]]
name = "pytest"
version = "8.3.4"
description = "pytest: simple powerful testing with Python"
optional = false
python-versions = ">=3.8"
groups = ["dev", "test"]
files = []

[package.dependencies]
colorama = {version = "*", markers = "sys_platform == \"win32\""}
packaging = "*"

[[package]]
name = "requests"
version = "2.32.3"
description = "Python HTTP for Humans."
optional = false
python-versions = ">=3.8"
groups = ["main"]
files = []

[metadata]
lock-version = "2.1"
python-versions = ">=3.12"
content-hash = "f2a4b5e0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8"
"#;
    let parsed = python::parse_poetry_lock("/p/poetry.lock", new.as_bytes());
    assert_clean(&parsed, PackageManager::Pip);
    assert_eq!(
        triples(&parsed),
        [
            ("colorama", "0.4.6", true),
            ("packaging", "24.2", false),
            ("pytest", "8.3.4", true),
            ("requests", "2.32.3", false),
        ]
    );
}

#[test]
fn pipfile_lock_fixture() {
    let path = "/app/Pipfile.lock";
    let parsed = python::parse_pipfile_lock(path, &read("python/syft-pipfile/Pipfile.lock"));
    assert_clean(&parsed, PackageManager::Pip);
    assert_eq!(parsed.packages.len(), 6);
    assert_has(&parsed, "aio-pika", "6.8.0", false);
    assert_has(&parsed, "aiodns", "2.0.0", false);
    assert_has(&parsed, "aiohttp", "3.7.4.post0", false);
    assert_has(&parsed, "aiohttp-jinja2", "1.4.2", false);
    assert_has(&parsed, "astroid", "2.5.2", true);
    assert_has(&parsed, "autopep8", "1.5.6", true);
}

#[test]
fn pipfile_lock_shapes() {
    let text = r#"{
    "_meta": {"hash": {"sha256": "00"}, "pipfile-spec": 6, "requires": {}, "sources": []},
    "default": {
        "mylib": {"editable": true, "path": "."},
        "toolz": {"git": "https://github.com/pytoolz/toolz.git", "ref": "0c6cf5c"},
        "six": {"hashes": [], "markers": "python_version >= '2.7'", "version": "==1.16.0"},
        "pytest": {"version": "==7.4.0"}
    },
    "develop": {
        "pytest": {"version": "==7.4.0"},
        "black": {"version": "==23.7.0"}
    }
}"#;
    let parsed = python::parse_pipfile_lock("/p/Pipfile.lock", text.as_bytes());
    assert_clean(&parsed, PackageManager::Pip);
    assert_eq!(parsed.packages.len(), 3);
    assert_has(&parsed, "six", "1.16.0", false);
    // In both sections: not development-only.
    assert_has(&parsed, "pytest", "7.4.0", false);
    assert_has(&parsed, "black", "23.7.0", true);
}

const UV_LOCK: &str = r#"version = 1
revision = 2
requires-python = ">=3.12"

[manifest]
members = ["myapp", "tool"]

[[package]]
name = "certifi"
version = "2024.8.30"
source = { registry = "https://pypi.org/simple" }
sdist = { url = "https://files.pythonhosted.org/packages/b0/ee/9b19140fe824b367c04c5e1b369942dd754c4c5462d5674002f75c4dedc1/certifi-2024.8.30.tar.gz", hash = "sha256:bec941d2aa8195e248a60b31ff9f0558284cf01a52591ceda73ea9afffd69fd9", size = 168507 }
wheels = [
    { url = "https://files.pythonhosted.org/packages/12/90/3c9ff0512038035f59d279fddeb79f5f1eccd8859f06d6163c58798b9487/certifi-2024.8.30-py3-none-any.whl", hash = "sha256:922820b53db7a7257ffbda3f597266d435245903d80737e34f8a45ff3e3230d8", size = 167321 },
]

[[package]]
name = "flask"
version = "3.0.3"
source = { registry = "https://pypi.org/simple" }
dependencies = [
    { name = "blinker" },
    { name = "click" },
    { name = "itsdangerous" },
    { name = "jinja2" },
    { name = "werkzeug" },
]
sdist = { url = "https://files.pythonhosted.org/packages/41/e1/d104c83026f8d35dfd2c261df7d64738341067526406b40190bc063e829a/flask-3.0.3.tar.gz", hash = "sha256:ceb27b0af3823ea2737928a4d99d125a06175b8512c445cbd9a9ce200ef76842", size = 676315 }

[[package]]
name = "myapp"
version = "0.1.0"
source = { editable = "." }
dependencies = [
    { name = "flask" },
    { name = "somegit" },
]

[package.dev-dependencies]
dev = [
    { name = "pytest" },
]

[package.metadata]
requires-dist = [
    { name = "flask", specifier = ">=3.0" },
    { name = "somegit", git = "https://github.com/example/somegit?rev=v1.4.0" },
]

[package.metadata.requires-dev]
dev = [{ name = "pytest", specifier = ">=8" }]

[[package]]
name = "pytest"
version = "8.3.3"
source = { registry = "https://pypi.org/simple" }
dependencies = [
    { name = "colorama", marker = "sys_platform == 'win32'" },
    { name = "iniconfig" },
]

[[package]]
name = "somegit"
version = "1.4.0"
source = { git = "https://github.com/example/somegit?rev=v1.4.0#3f1e0a8f4b2c6d7e8f9a0b1c2d3e4f5a6b7c8d9e" }

[[package]]
name = "tool"
version = "0.2.0"
source = { virtual = "packages/tool" }
"#;

#[test]
fn uv_lock() {
    let parsed = python::parse_uv_lock("/app/uv.lock", UV_LOCK.as_bytes());
    assert_clean(&parsed, PackageManager::Pip);
    assert_eq!(
        triples(&parsed),
        [
            ("certifi", "2024.8.30", false),
            ("flask", "3.0.3", false),
            ("pytest", "8.3.3", false),
            ("somegit", "1.4.0", false),
        ]
    );
    let virtual_root = "version = 1\nrequires-python = \">=3.11\"\n\n[[package]]\nname = \"my-project\"\nversion = \"1.0.0\"\nsource = { virtual = \".\" }\n";
    let parsed = python::parse_uv_lock("/app/uv.lock", virtual_root.as_bytes());
    assert_clean(&parsed, PackageManager::Pip);
    assert!(parsed.packages.is_empty());
}

const REQUIREMENTS: &str = r#"# Production requirements, generated by hand
-r base.txt
-c constraints.txt
--index-url https://pypi.org/simple
--extra-index-url https://example.com/simple
-e git+https://github.com/example/lib.git#egg=lib
requests==2.31.0 \
    --hash=sha256:58cd2187c01e70e6e26505bca751777aa9f2ee0b7f4300988b709f44e013003f \
    --hash=sha256:942c5a758f98d790eaed1a29cb6eefc7ffb0d1cf7af05c3d2791656dbd6ad1e1
urllib3[socks]==1.26.18 ; python_version < "3.10"
Django == 4.2.7  # LTS
flask>=2.0
numpy
celery~=5.3
pkg @ https://example.com/pkg-1.0.tar.gz
./local/pkg
https://example.com/foo-1.0.tar.gz
PyYAML===6.0.1
gunicorn==21.2.*
Jinja2==3.1.2,<4
secret==${SECRET_VERSION}
six==1.16.0; sys_platform == "linux" \
  --hash=sha256:1e61c37477a1626458e36f7b1d82aa5c9b094fa4802892072e49de9c60c4c926
    # an indented comment
requests==2.31.0
"#;

#[test]
fn requirements_txt() {
    let parsed = python::parse_requirements("/app/requirements.txt", REQUIREMENTS.as_bytes());
    assert_clean(&parsed, PackageManager::Pip);
    assert_eq!(
        triples(&parsed),
        [
            ("requests", "2.31.0", false),
            ("urllib3", "1.26.18", false),
            ("Django", "4.2.7", false),
            ("PyYAML", "6.0.1", false),
            ("six", "1.16.0", false),
        ]
    );
}

#[test]
fn requirements_malformed_lines_warn_with_their_line() {
    let text =
        "requests==2.31.0\nflask\n==1.0\nidna==\nfoo bar baz\nclick[extra==8.0\nsix==1.16.0\n";
    let path = "/app/requirements-dev.txt";
    let parsed = python::parse_requirements(path, text.as_bytes());
    assert_eq!(
        triples(&parsed),
        [("requests", "2.31.0", false), ("six", "1.16.0", false)]
    );
    assert_warns(&parsed, path);
    assert_eq!(parsed.warnings.len(), 4, "{:?}", parsed.warnings);
    for (warning, line) in parsed.warnings.iter().zip([3, 4, 5, 6]) {
        assert!(warning.contains(&format!("line {line}:")), "{warning}");
    }
}

// ---------------------------------------------------------------------------------------
// Ruby

const GEMSPECS: &[(&str, &str, &str)] = &[
    (
        "ruby/debian-12-rubygems-integration/usr/share/rubygems-integration/all/specifications/rack-2.2.22.gemspec",
        "rack",
        "2.2.22",
    ),
    (
        "ruby/debian-12-rubygems-integration/usr/share/rubygems-integration/all/specifications/loofah-2.19.1.gemspec",
        "loofah",
        "2.19.1",
    ),
    (
        "ruby/debian-12-rubygems-integration/usr/share/rubygems-integration/all/specifications/rails-html-sanitizer-1.4.4.gemspec",
        "rails-html-sanitizer",
        "1.4.4",
    ),
    (
        "ruby/debian-12-rubygems-integration/usr/lib/x86_64-linux-gnu/rubygems-integration/3.1.0/specifications/json-2.6.3.gemspec",
        "json",
        "2.6.3",
    ),
    (
        "ruby/debian-12-rubygems-integration/usr/lib/x86_64-linux-gnu/rubygems-integration/3.1.0/specifications/nokogiri-1.13.10.gemspec",
        "nokogiri",
        "1.13.10",
    ),
    ("ruby/syft/bundler.gemspec", "bundler", "2.1.4"),
];

#[test]
fn gemspec_fixtures() {
    for (file, name, version) in GEMSPECS {
        let path = format!(
            "/{}",
            file.split_once("debian-12-rubygems-integration/")
                .map_or(*file, |(_, p)| p)
        );
        let parsed = ruby::parse_gemspec(&path, &read(file));
        assert_clean(&parsed, PackageManager::Gem);
        assert_eq!(triples(&parsed), [(*name, *version, false)], "{file}");
    }
}

#[test]
fn gemspec_other_forms() {
    let old = "# -*- encoding: utf-8 -*-\n\nGem::Specification.new do |s|\n  s.name = %q{rake}\n  s.version = \"0.8.7\"\n\n  s.required_rubygems_version = Gem::Requirement.new(\">= 0\") if s.respond_to? :required_rubygems_version=\n  s.summary = %q{Ruby based make-like utility.}\nend\n";
    let parsed = ruby::parse_gemspec("/g/rake-0.8.7.gemspec", old.as_bytes());
    assert_clean(&parsed, PackageManager::Gem);
    assert_eq!(triples(&parsed), [("rake", "0.8.7", false)]);

    let quoted = "Gem::Specification.new do |spec|\n  spec.name    = 'thor'\n  spec.version = Gem::Version.new('1.2.1')\n  spec.metadata = { \"name\" => \"x\" }\nend\n";
    let parsed = ruby::parse_gemspec("/g/thor.gemspec", quoted.as_bytes());
    assert_clean(&parsed, PackageManager::Gem);
    assert_eq!(triples(&parsed), [("thor", "1.2.1", false)]);

    let positional = "Gem::Specification.new \"foo\", \"1.2.3\" do |s|\n  s.summary = \"x\"\nend\n";
    let parsed = ruby::parse_gemspec("/g/foo.gemspec", positional.as_bytes());
    assert_clean(&parsed, PackageManager::Gem);
    assert_eq!(triples(&parsed), [("foo", "1.2.3", false)]);

    let source =
        "Gem::Specification.new do |s|\n  s.name = \"mygem\"\n  s.version = MyGem::VERSION\nend\n";
    let parsed = ruby::parse_gemspec("/src/mygem.gemspec", source.as_bytes());
    assert!(parsed.packages.is_empty());
    assert_warns(&parsed, "/src/mygem.gemspec");
    assert!(
        parsed.warnings[0].contains("line 3"),
        "{:?}",
        parsed.warnings
    );
}

#[test]
fn gemfile_lock_fixture() {
    let path = "/app/Gemfile.lock";
    let parsed = ruby::parse_gemfile_lock(path, &read("ruby/syft/Gemfile.lock"));
    assert!(parsed
        .packages
        .iter()
        .all(|p| p.manager == PackageManager::Gem));
    assert_eq!(parsed.packages.len(), 50, "{:?}", triples(&parsed));
    assert_has(&parsed, "actionmailer", "4.1.1", false);
    assert_has(&parsed, "arel", "5.0.1.20140414130214", false);
    assert_has(&parsed, "bootstrap-sass", "3.1.1.1", false);
    assert_has(&parsed, "libv8", "3.16.14.3", false);
    assert_has(&parsed, "rack", "1.5.2", false);
    assert_has(&parsed, "unicorn", "4.8.3", false);
    // PATH and GIT gems are not registry gems; the bogus section is reported.
    for absent in ["google-cloud-errors", "turbolinks", "bad-entry"] {
        assert!(parsed.packages.iter().all(|p| p.name != absent), "{absent}");
    }
    assert_eq!(parsed.warnings.len(), 1, "{:?}", parsed.warnings);
    assert!(parsed.warnings[0].starts_with(path));
    assert!(parsed.warnings[0].contains("BAD-SECTION"));
}

#[test]
fn gemfile_lock_platforms() {
    let text = "GEM\n  remote: https://rubygems.org/\n  specs:\n    mini_portile2 (2.8.1)\n    nokogiri (1.13.10-x86_64-linux)\n      racc (~> 1.4)\n    nokogiri (1.13.10-arm64-darwin)\n      racc (~> 1.4)\n    racc (1.6.2)\n\nPLATFORMS\n  arm64-darwin\n  x86_64-linux\n\nDEPENDENCIES\n  nokogiri\n\nBUNDLED WITH\n   2.4.6\n";
    let parsed = ruby::parse_gemfile_lock("/app/Gemfile.lock", text.as_bytes());
    assert_clean(&parsed, PackageManager::Gem);
    assert_eq!(
        triples(&parsed),
        [
            ("mini_portile2", "2.8.1", false),
            ("nokogiri", "1.13.10", false),
            ("racc", "1.6.2", false),
        ]
    );
}

// ---------------------------------------------------------------------------------------
// PHP

#[test]
fn composer_lock_fixture() {
    let path = "/app/composer.lock";
    let parsed = php::parse_composer_lock(path, &read("php/syft/composer.lock"));
    assert_clean(&parsed, PackageManager::Composer);
    assert_eq!(
        triples(&parsed),
        [
            ("adoy/fastcgi-client", "1.0.2", false),
            ("alcaeus/mongo-php-adapter", "1.1.11", false),
            ("behat/gherkin", "4.6.2", true),
            ("codeception/codeception", "4.1.6", true),
        ]
    );
}

#[test]
fn installed_json_composer1_fixture() {
    let path = "/app/vendor/composer/installed.json";
    let parsed = php::parse_installed_json(path, &read("php/syft/vendor/composer/installed.json"));
    assert_clean(&parsed, PackageManager::Composer);
    assert_eq!(
        triples(&parsed),
        [
            ("asm89/stack-cors", "1.3.0", false),
            ("behat/mink", "1.8.1", false),
        ]
    );
}

#[test]
fn installed_json_composer2() {
    let text = r#"{
    "packages": [
        {
            "name": "monolog/monolog",
            "version": "3.5.0",
            "version_normalized": "3.5.0.0",
            "source": {"type": "git", "url": "https://github.com/Seldaek/monolog.git", "reference": "c915e2634718dbc8a4a15c61b0e62e7a44e14448"},
            "require": {"php": ">=8.1", "psr/log": "^2.0 || ^3.0"},
            "type": "library",
            "install-path": "../monolog/monolog"
        },
        {
            "name": "phpunit/phpunit",
            "version": "10.5.3",
            "version_normalized": "10.5.3.0",
            "type": "library",
            "install-path": "../phpunit/phpunit"
        },
        {
            "name": "psr/log",
            "version": "3.0.0",
            "version_normalized": "3.0.0.0",
            "type": "library",
            "install-path": "../psr/log"
        },
        {
            "name": "symfony/polyfill-mbstring",
            "version": "v1.28.0",
            "version_normalized": "1.28.0.0",
            "type": "library",
            "install-path": "../symfony/polyfill-mbstring"
        },
        {
            "name": "acme/tools",
            "version": "dev-main",
            "version_normalized": "dev-main",
            "type": "library",
            "install-path": "../acme/tools"
        }
    ],
    "dev": true,
    "dev-package-names": [
        "phpunit/phpunit"
    ]
}"#;
    let parsed = php::parse_installed_json("/app/vendor/composer/installed.json", text.as_bytes());
    assert_clean(&parsed, PackageManager::Composer);
    assert_eq!(
        triples(&parsed),
        [
            ("monolog/monolog", "3.5.0", false),
            ("phpunit/phpunit", "10.5.3", true),
            ("psr/log", "3.0.0", false),
            ("symfony/polyfill-mbstring", "1.28.0", false),
            ("acme/tools", "dev-main", false),
        ]
    );
}

// ---------------------------------------------------------------------------------------
// .NET

const DEPS_JSON: &str = r#"{
  "runtimeTarget": {
    "name": ".NETCoreApp,Version=v8.0/linux-x64",
    "signature": ""
  },
  "compilationOptions": {},
  "targets": {
    ".NETCoreApp,Version=v8.0": {},
    ".NETCoreApp,Version=v8.0/linux-x64": {
      "MyWebApp/1.0.0": {
        "dependencies": {
          "MyLib": "1.0.0",
          "Newtonsoft.Json": "13.0.1",
          "Serilog": "3.1.1",
          "runtimepack.Microsoft.NETCore.App.Runtime.linux-x64": "8.0.0"
        },
        "runtime": {
          "MyWebApp.dll": {}
        }
      },
      "runtimepack.Microsoft.NETCore.App.Runtime.linux-x64/8.0.0": {
        "runtime": {
          "System.Private.CoreLib.dll": {
            "assemblyVersion": "8.0.0.0",
            "fileVersion": "8.0.23.53103"
          }
        }
      },
      "Newtonsoft.Json/13.0.1": {
        "runtime": {
          "lib/net6.0/Newtonsoft.Json.dll": {
            "assemblyVersion": "13.0.0.0",
            "fileVersion": "13.0.1.25517"
          }
        }
      },
      "Serilog/3.1.1": {
        "runtime": {
          "lib/net7.0/Serilog.dll": {
            "assemblyVersion": "2.0.0.0",
            "fileVersion": "3.1.1.0"
          }
        }
      },
      "System.Text.Encodings.Web/4.7.2": {},
      "MyLib/1.0.0": {
        "runtime": {
          "MyLib.dll": {}
        }
      }
    }
  },
  "libraries": {
    "MyWebApp/1.0.0": {
      "type": "project",
      "serviceable": false,
      "sha512": ""
    },
    "runtimepack.Microsoft.NETCore.App.Runtime.linux-x64/8.0.0": {
      "type": "runtimepack",
      "serviceable": false,
      "sha512": ""
    },
    "Newtonsoft.Json/13.0.1": {
      "type": "package",
      "serviceable": true,
      "sha512": "sha512-ppPFpBcvxdsfUonNcvITKqLl3bqxWbDCZIzDWHzjpdAHRFfZe0Dw9HmA0+za13IdyrgJwpkDTDA9fHaxOrt20A==",
      "path": "newtonsoft.json/13.0.1",
      "hashPath": "newtonsoft.json.13.0.1.nupkg.sha512"
    },
    "Serilog/3.1.1": {
      "type": "package",
      "serviceable": true,
      "sha512": "sha512-P6G4/4Kt9bT635bhuwdXlJ2SCqqn2nhh4gqFqQueCOr9bK/e7W9ll/IoX1Ter948cV2Z/5+5v8pAfJYUISY03A==",
      "path": "serilog/3.1.1",
      "hashPath": "serilog.3.1.1.nupkg.sha512"
    },
    "System.Text.Encodings.Web/4.7.2": {
      "type": "package",
      "serviceable": true,
      "sha512": "sha512-iTUgB/WtrZ1sWZs84F2hwyQhiRH6QNjQv2DkwrH+WP6RoFga2Q1m3f9/Q7FG8cck8AdHitQkmkXSY8qylcDmuA==",
      "path": "system.text.encodings.web/4.7.2",
      "hashPath": "system.text.encodings.web.4.7.2.nupkg.sha512"
    },
    "MyLib/1.0.0": {
      "type": "project",
      "serviceable": false,
      "sha512": ""
    }
  }
}"#;

#[test]
fn deps_json() {
    let parsed = dotnet::parse_deps_json("/app/MyWebApp.deps.json", DEPS_JSON.as_bytes());
    assert_clean(&parsed, PackageManager::Nuget);
    assert_eq!(parsed.packages.len(), 3, "{:?}", triples(&parsed));
    assert_has(&parsed, "Newtonsoft.Json", "13.0.1", false);
    assert_has(&parsed, "Serilog", "3.1.1", false);
    assert_has(&parsed, "System.Text.Encodings.Web", "4.7.2", false);
}

const PACKAGES_LOCK: &str = r#"{
  "version": 1,
  "dependencies": {
    "net6.0": {
      "Microsoft.Extensions.Logging": {
        "type": "Direct",
        "requested": "[6.0.0, )",
        "resolved": "6.0.0",
        "contentHash": "eIbyj40QDg1NDz0HBW0S5f3wrLVnKWnDJ/JtZ+yJDFnDj90VoPuoPmFkeaXrtu+0cKm5GRAwoDf+dBWXK0TUdg==",
        "dependencies": {
          "Microsoft.Extensions.DependencyInjection": "6.0.0"
        }
      },
      "Newtonsoft.Json": {
        "type": "Direct",
        "requested": "[13.0.1, )",
        "resolved": "13.0.1",
        "contentHash": "ppPFpBcvxdsfUonNcvITKqLl3bqxWbDCZIzDWHzjpdAHRFfZe0Dw9HmA0+za13IdyrgJwpkDTDA9fHaxOrt20A=="
      },
      "Microsoft.Extensions.DependencyInjection": {
        "type": "Transitive",
        "resolved": "6.0.0",
        "contentHash": "k6PWQMuoBDGGHOQTtyois2u4AwyVcIwL2LaSLlTZQm2CYcJ1pxbt6jfAnpWmzENA/wfrYRI/X9DTLoUkE4AsLw=="
      },
      "mylib": {
        "type": "Project",
        "dependencies": {
          "Newtonsoft.Json": "[13.0.1, )"
        }
      }
    },
    "net8.0": {
      "Microsoft.Extensions.Logging": {
        "type": "Direct",
        "requested": "[8.0.0, )",
        "resolved": "8.0.0",
        "contentHash": "tvRkov9tAJ3xP51LCv3FJ2zINmv1P8Hi8lhhtcKGqM+ImiTCC84uOPEI4z8Cdq2C3o9e+Aa0Gw0rmrsJD77W+w=="
      },
      "Newtonsoft.Json": {
        "type": "Direct",
        "requested": "[13.0.1, )",
        "resolved": "13.0.1",
        "contentHash": "ppPFpBcvxdsfUonNcvITKqLl3bqxWbDCZIzDWHzjpdAHRFfZe0Dw9HmA0+za13IdyrgJwpkDTDA9fHaxOrt20A=="
      },
      "System.Text.Json": {
        "type": "CentralTransitive",
        "requested": "[8.0.4, )",
        "resolved": "8.0.4",
        "contentHash": "bAkhgDJ88XTsqczoxEMliSrpijKZHhbJQldhAmObj/RbrN3sU5dcokuXmWJWsdQAhiMJ9bTayWsL1C9fbbCRhw=="
      },
      "mylib": {
        "type": "Project"
      }
    },
    "net8.0/linux-x64": {
      "System.Text.Json": {
        "type": "CentralTransitive",
        "requested": "[8.0.4, )",
        "resolved": "8.0.4"
      }
    }
  }
}"#;

#[test]
fn packages_lock_json() {
    let parsed =
        dotnet::parse_packages_lock("/src/app/packages.lock.json", PACKAGES_LOCK.as_bytes());
    assert_clean(&parsed, PackageManager::Nuget);
    let mut found = triples(&parsed);
    found.sort();
    assert_eq!(
        found,
        [
            ("Microsoft.Extensions.DependencyInjection", "6.0.0", false),
            ("Microsoft.Extensions.Logging", "6.0.0", false),
            ("Microsoft.Extensions.Logging", "8.0.0", false),
            ("Newtonsoft.Json", "13.0.1", false),
            ("System.Text.Json", "8.0.4", false),
        ]
    );
}

// ---------------------------------------------------------------------------------------
// Malformed input

type Parser = fn(&str, &[u8]) -> Parsed;

/// Every parser that returns [`Parsed`], with the file name it is usually given.
const PARSERS: &[(&str, Parser)] = &[
    ("/x/a-1.dist-info/METADATA", python::parse_metadata),
    ("/x/poetry.lock", python::parse_poetry_lock),
    ("/x/Pipfile.lock", python::parse_pipfile_lock),
    ("/x/uv.lock", python::parse_uv_lock),
    ("/x/requirements.txt", python::parse_requirements),
    ("/x/specifications/a-1.gemspec", ruby::parse_gemspec),
    ("/x/Gemfile.lock", ruby::parse_gemfile_lock),
    ("/x/composer.lock", php::parse_composer_lock),
    (
        "/x/vendor/composer/installed.json",
        php::parse_installed_json,
    ),
    ("/x/app.deps.json", dotnet::parse_deps_json),
    ("/x/packages.lock.json", dotnet::parse_packages_lock),
];

#[test]
fn empty_and_garbage_input_warn() {
    let inputs: &[&[u8]] = &[
        b"",
        b"\n\n  \n",
        b"\xEF\xBB\xBF",
        b"garbage ]]] {{{ line\n\x00\x01\x02 more garbage \xFF\xFE\n[[[\n",
        b"}}}",
        b"[[package]\nname = \n",
    ];
    for (path, parse) in PARSERS {
        for input in inputs {
            let parsed = parse(path, input);
            assert!(parsed.packages.is_empty(), "{path} {input:?}");
            assert_warns(&parsed, path);
        }
    }
}

#[test]
fn truncated_json_keeps_entries_before_the_cut() {
    let bytes = read("php/syft/composer.lock");
    let text = String::from_utf8(bytes).unwrap_or_default();
    // Cut inside the second `packages-dev` entry.
    let cut = text
        .find("\"codeception/codeception\"")
        .unwrap_or(text.len());
    let parsed = php::parse_composer_lock("/app/composer.lock", &text.as_bytes()[..cut]);
    assert_warns(&parsed, "/app/composer.lock");
    assert_eq!(
        triples(&parsed),
        [
            ("adoy/fastcgi-client", "1.0.2", false),
            ("alcaeus/mongo-php-adapter", "1.1.11", false),
            ("behat/gherkin", "4.6.2", true),
        ]
    );
    assert!(parsed.warnings.iter().any(|w| w.contains("malformed JSON")));

    let cut = DEPS_JSON
        .find("\"System.Text.Encodings.Web/4.7.2\": {\n      \"type\"")
        .unwrap_or(0);
    let parsed = dotnet::parse_deps_json("/app/a.deps.json", &DEPS_JSON.as_bytes()[..cut + 10]);
    assert_warns(&parsed, "/app/a.deps.json");
    assert_eq!(parsed.packages.len(), 2, "{:?}", triples(&parsed));

    let cut = PACKAGES_LOCK.find("\"net8.0\"").unwrap_or(0);
    let parsed =
        dotnet::parse_packages_lock("/p/packages.lock.json", &PACKAGES_LOCK.as_bytes()[..cut]);
    assert_warns(&parsed, "/p/packages.lock.json");
    assert_eq!(parsed.packages.len(), 3, "{:?}", triples(&parsed));

    let pipfile = read("python/syft-pipfile/Pipfile.lock");
    let parsed = python::parse_pipfile_lock("/p/Pipfile.lock", &pipfile[..pipfile.len() / 2]);
    assert_warns(&parsed, "/p/Pipfile.lock");
    assert!(!parsed.packages.is_empty());
    assert!(parsed.packages.iter().all(|p| !p.dev));
}

#[test]
fn truncated_toml_keeps_whole_package_tables() {
    let bytes = read("python/syft-poetry/poetry.lock");
    let text = String::from_utf8(bytes).unwrap_or_default();
    // Cut in the middle of the `requests` table's `files` array.
    let at = text.find("name = \"requests\"").unwrap_or(0);
    let cut = at + text[at..].find("files = [").unwrap_or(0) + 20;
    let path = "/app/poetry.lock";
    let parsed = python::parse_poetry_lock(path, &text.as_bytes()[..cut]);
    assert_warns(&parsed, path);
    assert_eq!(
        triples(&parsed),
        [
            ("certifi", "2024.2.2", false),
            ("charset-normalizer", "3.3.2", false),
            ("idna", "3.7", false),
        ]
    );
    assert!(
        parsed.warnings.iter().any(|w| w.contains("line ")),
        "{:?}",
        parsed.warnings
    );

    // A broken table in the middle costs only itself.
    let broken = UV_LOCK.replacen("version = \"3.0.3\"", "version = \"3.0.3", 1);
    let parsed = python::parse_uv_lock("/app/uv.lock", broken.as_bytes());
    assert_warns(&parsed, "/app/uv.lock");
    assert_eq!(
        triples(&parsed),
        [
            ("certifi", "2024.8.30", false),
            ("pytest", "8.3.3", false),
            ("somegit", "1.4.0", false),
        ]
    );
}

#[test]
fn huge_and_bad_versions_warn() {
    let huge = "1.".repeat(50_000);
    let cases: Vec<(&str, Parser, String)> = vec![
        (
            "/s/a.dist-info/METADATA",
            python::parse_metadata,
            format!("Metadata-Version: 2.1\nName: a\nVersion: {huge}\n\nbody\n"),
        ),
        (
            "/s/poetry.lock",
            python::parse_poetry_lock,
            format!("[[package]]\nname = \"a\"\nversion = \"{huge}\"\n"),
        ),
        (
            "/s/uv.lock",
            python::parse_uv_lock,
            format!("version = 1\n[[package]]\nname = \"a\"\nversion = \"{huge}\"\nsource = {{ registry = \"https://pypi.org/simple\" }}\n"),
        ),
        (
            "/s/Pipfile.lock",
            python::parse_pipfile_lock,
            format!("{{\"default\": {{\"a\": {{\"version\": \"=={huge}\"}}}}}}"),
        ),
        ("/s/requirements.txt", python::parse_requirements, format!("a=={huge}\n")),
        (
            "/s/a.gemspec",
            ruby::parse_gemspec,
            format!("Gem::Specification.new do |s|\n  s.name = \"a\".freeze\n  s.version = \"{huge}\"\nend\n"),
        ),
        (
            "/s/Gemfile.lock",
            ruby::parse_gemfile_lock,
            format!("GEM\n  remote: https://rubygems.org/\n  specs:\n    a ({huge})\n"),
        ),
        (
            "/s/composer.lock",
            php::parse_composer_lock,
            format!("{{\"packages\": [{{\"name\": \"a/b\", \"version\": \"{huge}\"}}]}}"),
        ),
        (
            "/s/installed.json",
            php::parse_installed_json,
            format!("[{{\"name\": \"a/b\", \"version\": \"v{huge}\"}}]"),
        ),
        (
            "/s/a.deps.json",
            dotnet::parse_deps_json,
            format!("{{\"libraries\": {{\"A/{huge}\": {{\"type\": \"package\"}}}}}}"),
        ),
        (
            "/s/packages.lock.json",
            dotnet::parse_packages_lock,
            format!("{{\"version\": 1, \"dependencies\": {{\"net8.0\": {{\"A\": {{\"type\": \"Direct\", \"resolved\": \"{huge}\"}}}}}}}}"),
        ),
    ];
    for (path, parse, input) in &cases {
        let parsed = parse(path, input.as_bytes());
        assert!(parsed.packages.is_empty(), "{path}: {:?}", triples(&parsed));
        assert_warns(&parsed, path);
    }

    // Wrong JSON types are reported, entries around them kept.
    let text = r#"{"packages": [{"name": "a/b", "version": 1}, "x", {"name": "c/d", "version": "v2.0.0"}], "packages-dev": {}}"#;
    let parsed = php::parse_composer_lock("/s/composer.lock", text.as_bytes());
    assert_eq!(triples(&parsed), [("c/d", "2.0.0", false)]);
    assert_warns(&parsed, "/s/composer.lock");
    assert_eq!(parsed.warnings.len(), 3, "{:?}", parsed.warnings);
}

#[test]
fn warnings_are_capped() {
    let text = "x\n".repeat(10_000);
    let body = format!("GEM\n  specs:\n{}", text.replace('x', "    broken"));
    let parsed = ruby::parse_gemfile_lock("/g/Gemfile.lock", body.as_bytes());
    assert_warns(&parsed, "/g/Gemfile.lock");
    assert!(parsed.warnings.len() <= 51, "{}", parsed.warnings.len());
    assert!(parsed
        .warnings
        .last()
        .is_some_and(|w| w.contains("further problems")));
}

// ---------------------------------------------------------------------------------------
// No panics on damaged fixtures

/// Every fixture file these parsers read, cut to at most 32 KiB.
fn fixtures() -> Vec<Vec<u8>> {
    let mut files: Vec<String> = vec![
        "python/syft-egg-info/PKG-INFO".into(),
        "python/syft-poetry/poetry.lock".into(),
        "python/syft-pipfile/Pipfile.lock".into(),
        "ruby/syft/Gemfile.lock".into(),
        "ruby/syft/bundler.gemspec".into(),
        "php/syft/composer.lock".into(),
        "php/syft/vendor/composer/installed.json".into(),
    ];
    for (dir, ..) in DIST_INFOS {
        files.push(format!("python/site-packages/{dir}/METADATA"));
        files.push(format!("python/site-packages/{dir}/RECORD"));
    }
    for (file, ..) in GEMSPECS {
        files.push((*file).to_owned());
    }
    let mut contents: Vec<Vec<u8>> = files
        .iter()
        .map(|f| {
            let mut bytes = read(f);
            bytes.truncate(32 * 1024);
            bytes
        })
        .collect();
    for inline in [UV_LOCK, REQUIREMENTS, DEPS_JSON, PACKAGES_LOCK] {
        contents.push(inline.as_bytes().to_vec());
    }
    contents
}

/// xorshift64*: deterministic, no dependency.
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

fn check_all(input: &[u8]) {
    for (path, parse) in PARSERS {
        let parsed = parse(path, input);
        for warning in &parsed.warnings {
            assert!(warning.starts_with(path), "{warning}");
        }
        for package in &parsed.packages {
            assert!(!package.name.is_empty() && !package.version.is_empty());
        }
    }
    for file in python::parse_record("/s/a-1.dist-info/RECORD", input) {
        assert!(
            file.starts_with('/') && !file.split('/').any(|c| c == ".."),
            "{file}"
        );
    }
}

#[test]
fn damaged_fixtures_never_panic() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for original in fixtures() {
        let len = original.len();
        // Truncated at 24 evenly spread points, near the start and near the end.
        let mut cuts: Vec<usize> = (0..24).map(|i| len * i / 24).collect();
        cuts.extend([1, 2, 3, len.saturating_sub(1), len.saturating_sub(2)]);
        for cut in cuts {
            check_all(&original[..cut.min(len)]);
        }
        // Random bytes flipped, from one to a dozen per copy.
        for _ in 0..12 {
            let mut damaged = original.clone();
            for _ in 0..=rng.below(12) {
                let at = rng.below(damaged.len());
                if let Some(byte) = damaged.get_mut(at) {
                    *byte ^= 1 << rng.below(8);
                    if rng.below(4) == 0 {
                        *byte = *b"\"{}[],\n\\=()# ".get(rng.below(14)).unwrap_or(&0);
                    }
                }
            }
            check_all(&damaged);
        }
    }
}

#[test]
fn deep_nesting_is_refused_not_overflowed() {
    let deep_json = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let deep_object = "{\"a\":".repeat(100_000);
    let deep_toml = format!("a = {}", "[".repeat(100_000));
    let deep_inline = format!(
        "[[package]]\nname = \"a\"\nx = {}",
        "{ b = ".repeat(100_000)
    );
    for input in [deep_json, deep_object, deep_toml, deep_inline] {
        for (path, parse) in PARSERS {
            let parsed = parse(path, input.as_bytes());
            assert!(parsed.packages.is_empty());
            assert_warns(&parsed, path);
        }
    }
}
