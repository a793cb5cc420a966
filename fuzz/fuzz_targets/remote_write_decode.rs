#![no_main]
//! The remote_write decoder on arbitrary bodies, raw and snappy-wrapped (so protobuf
//! parsing is reached too): errors are fine, panics are not; what decodes re-encodes
//! and decodes to the same thing.
use libfuzzer_sys::fuzz_target;
use postwatch_metricsio::remote_write::{decode_write_request, encode_write_request, DecodeLimits};

fuzz_target!(|data: &[u8]| {
    let limits = DecodeLimits {
        max_compressed_bytes: 1 << 20,
        max_decompressed_bytes: 4 << 20,
        max_series: 10_000,
        max_samples: 100_000,
        max_labels_per_series: 64,
    };
    let _ = decode_write_request(data, &limits);
    let wrapped = snap::raw::Encoder::new()
        .compress_vec(data)
        .unwrap_or_default();
    if let Ok(decoded) = decode_write_request(&wrapped, &limits) {
        let again = encode_write_request(&decoded.series, &decoded.metadata);
        let round = decode_write_request(&again, &limits).expect("re-encoded body decodes");
        assert_eq!(round.series.len(), decoded.series.len());
    }
});
