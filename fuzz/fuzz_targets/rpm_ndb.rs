#![no_main]
use libfuzzer_sys::fuzz_target;
use postwatch_inventory::rpm::{read_packages, DbFormat};

fuzz_target!(|data: &[u8]| {
    let mut warnings = Vec::new();
    let _ = read_packages(DbFormat::Ndb, data, "db", &mut warnings);
});
