#![no_main]
//! Java archives: zip structure, nested jars, pom.properties and MANIFEST.MF.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = postwatch_inventory::lang::java::parse_archive("/fuzz/app.jar", data);
});
