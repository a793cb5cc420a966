#![no_main]
//! Every text-format language parser; the first byte picks which.
use libfuzzer_sys::fuzz_target;
use postwatch_inventory::lang::{dotnet, golang, node, php, python, ruby, rust};

fuzz_target!(|data: &[u8]| {
    let Some((&which, bytes)) = data.split_first() else {
        return;
    };
    let path = "/fuzz/input";
    let parsers: [fn(&str, &[u8]) -> postwatch_inventory::lang::Parsed; 18] = [
        python::parse_metadata,
        python::parse_poetry_lock,
        python::parse_pipfile_lock,
        python::parse_uv_lock,
        python::parse_requirements,
        node::parse_package_json,
        node::parse_package_lock,
        node::parse_yarn_lock,
        node::parse_pnpm_lock,
        rust::parse_cargo_lock,
        golang::parse_go_mod,
        ruby::parse_gemspec,
        ruby::parse_gemfile_lock,
        php::parse_composer_lock,
        php::parse_installed_json,
        dotnet::parse_deps_json,
        dotnet::parse_packages_lock,
        python::parse_metadata,
    ];
    let _ = parsers[usize::from(which) % parsers.len()](path, bytes);
    let _ = python::parse_record("/x/y.dist-info/RECORD", bytes);
    let _ = python::parse_installed_files("/x/y.egg-info/installed-files.txt", bytes);
});
