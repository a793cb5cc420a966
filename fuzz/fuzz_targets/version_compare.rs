//! Two versions split at the first TAB, compared in every ecosystem.
#![no_main]
use libfuzzer_sys::fuzz_target;
use postwatch_version::{compare, Ecosystem};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (a, b) = text.split_once('\t').unwrap_or((&text, "1.0"));
    for name in ["Debian", "AlmaLinux", "Alpine", "PyPI", "npm", "crates.io", "Go", "Maven", "RubyGems", "Packagist", "NuGet"] {
        if let Some(eco) = Ecosystem::from_osv(name) {
            let _ = compare(eco, a, b);
        }
    }
});
