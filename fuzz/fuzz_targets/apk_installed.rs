#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut warnings = Vec::new();
    let _ = postwatch_inventory::apk::parse_installed(&String::from_utf8_lossy(data), "installed", &mut warnings);
});
