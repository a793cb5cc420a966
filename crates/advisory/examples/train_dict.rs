//! Trains the zstd dictionary records are stored with:
//! `cargo run --release -p postwatch-advisory --example train_dict -- OUT.dict ZIP…`.
//! Records are serialised exactly as the store serialises them, so the dictionary
//! learns the keys and phrases that recur across OSV records of every ecosystem.
use std::io::Read;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut samples: Vec<Vec<u8>> = Vec::new();
    for path in &args[1..] {
        let mut zip = zip::ZipArchive::new(std::fs::File::open(path).expect("zip")).expect("zip");
        for i in 0..zip.len() {
            let mut buf = Vec::new();
            zip.by_index(i)
                .expect("entry")
                .read_to_end(&mut buf)
                .expect("read");
            if let Ok(r) = serde_json::from_slice::<postwatch_advisory::osv::Record>(&buf) {
                samples.push(serde_json::to_vec(&r).expect("json"));
            }
        }
    }
    let dict = zstd::dict::from_samples(&samples, 110 * 1024).expect("train");
    std::fs::write(&args[0], &dict).expect("write");
    println!(
        "{} samples -> {} byte dictionary",
        samples.len(),
        dict.len()
    );
}
