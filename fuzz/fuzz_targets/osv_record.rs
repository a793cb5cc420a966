//! An OSV record, then every affected entry evaluated against a few versions.
#![no_main]
use libfuzzer_sys::fuzz_target;
use postwatch_matcher::{evaluate, Trace};
use postwatch_version::Ecosystem;

fuzz_target!(|data: &[u8]| {
    let Ok(record) = serde_json::from_slice::<postwatch_advisory::osv::Record>(data) else { return };
    let _ = record.cve_ids();
    let _ = record.vendor_severity();
    for a in &record.affected {
        let eco = Ecosystem::from_osv(&a.package.ecosystem).unwrap_or(Ecosystem::Dpkg);
        for v in ["0", "1.0", "1:2.3-4", "v1.2.3", ""] {
            let mut lines = Vec::new();
            let _ = evaluate(a, eco, v, &mut Trace(Some(&mut lines)));
        }
    }
});
