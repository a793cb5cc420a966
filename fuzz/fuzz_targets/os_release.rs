#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data).into_owned();
    let _ = postwatch_inventory::os::parse_key_values(&text);
    let mut read = |_: &str| Some(text.clone());
    let _ = postwatch_inventory::os::detect(&mut read);
});
