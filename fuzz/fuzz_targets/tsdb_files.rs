#![no_main]
use libfuzzer_sys::fuzz_target;

// Time-series store files: the first byte picks a WAL segment or a block file; the rest
// is its content. Decoding must return records or an error, never panic or over-allocate.
fuzz_target!(|data: &[u8]| {
    let Some((&kind, body)) = data.split_first() else {
        return;
    };
    if kind % 2 == 0 {
        let (records, _stop) = postwatch_tsdb::decode_segment(body);
        let _ = records.len();
    } else if let Ok(series) = postwatch_tsdb::decode_block_bytes(body) {
        let _ = series.len();
    }
});
