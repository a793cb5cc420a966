#![no_main]
//! Both exposition parsers on arbitrary bytes: errors are fine, panics are not, and
//! what parses stays within the sample limit.
use libfuzzer_sys::fuzz_target;
use postwatch_metricsio::{parse_openmetrics, parse_text, ParseLimits};

fuzz_target!(|data: &[u8]| {
    let limits = ParseLimits {
        max_line_bytes: 4096,
        max_labels_per_sample: 16,
        max_samples: 1000,
    };
    for families in [parse_text(data, &limits), parse_openmetrics(data, &limits)]
        .into_iter()
        .flatten()
    {
        let samples: usize = families.iter().map(|f| f.samples.len()).sum();
        assert!(samples <= 3 * limits.max_samples);
    }
});
