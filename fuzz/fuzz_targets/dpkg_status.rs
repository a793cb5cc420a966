#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut warnings = Vec::new();
    let _ = postwatch_inventory::dpkg::parse_status(&text, "status", &mut warnings);
    let _ = postwatch_inventory::dpkg::parse_list(&text);
    let _ = postwatch_inventory::dpkg::parse_md5sums(&text);
});
