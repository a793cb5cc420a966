//! Runs promqltest files and prints failures (development aid).
fn main() {
    for f in std::env::args().skip(1) {
        let text = std::fs::read_to_string(&f).unwrap_or_default();
        let s = postwatch_promql::promqltest::run_script(&text);
        println!(
            "{f}: {} passed, {} failed, {} skipped",
            s.passed, s.failed, s.skipped
        );
        if std::env::var("V").is_ok() {
            for (l, m) in &s.failures {
                println!("  FAIL {f}:{l}: {m}");
            }
        }
        if std::env::var("S").is_ok() {
            for (l, m) in &s.skips {
                println!("  SKIP {f}:{l}: {m}");
            }
        }
    }
}
