#![no_main]
//! Executables: Go build information and cargo-auditable's `.dep-v0` section.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = postwatch_inventory::lang::golang::parse_go_binary("/fuzz/bin", data);
    let _ = postwatch_inventory::lang::rust::parse_auditable_binary("/fuzz/bin", data);
    let _ = postwatch_inventory::lang_files::probe_run("fuzz/bin", data);
});
