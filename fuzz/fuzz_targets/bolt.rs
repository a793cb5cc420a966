#![no_main]
//! Any bytes as a bolt file: opening and walking every bucket (values, nested and
//! inline buckets, lookups by key) must return, with data or an error, never panic.
use libfuzzer_sys::fuzz_target;
use postwatch_bolt::{Bucket, Db, Item};

fn walk(bucket: &Bucket<'_>, depth: usize) -> Result<(), postwatch_bolt::Error> {
    for (key, item) in bucket.entries()? {
        bucket.get(&key)?;
        if let Item::Bucket(child) = item {
            if depth < 8 {
                walk(&child, depth + 1)?;
            }
        }
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    if let Ok(db) = Db::from_bytes("fuzz.db", data.to_vec()) {
        let _ = walk(&db.root(), 0);
    }
});
