//! Imports paths into a database and prints the time: `cargo run --release -p
//! postwatch-advisory --example import -- DB PATH…` (used while tuning the index).
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let db = std::path::Path::new(&args[0]);
    let paths: Vec<&std::path::Path> = args[1..].iter().map(std::path::Path::new).collect();
    let start = std::time::Instant::now();
    let mut store = postwatch_advisory::Store::open_writable(db).expect("open");
    let reports = postwatch_advisory::import_paths(&mut store, &paths, &|_, _| {}).expect("import");
    let n: u64 = reports.iter().map(|r| r.imported).sum();
    println!("{n} records in {:.2} s", start.elapsed().as_secs_f64());
}
