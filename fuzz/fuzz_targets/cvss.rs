#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(c) = postwatch_cvss::Cvss::parse(&String::from_utf8_lossy(data)) {
        let _ = (c.score(), c.rating(), c.vector());
    }
});
