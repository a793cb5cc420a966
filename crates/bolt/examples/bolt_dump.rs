//! Prints a bolt file's buckets and keys as a tree: `cargo run -p postwatch-bolt
//! --example bolt_dump FILE`. Values are shown as text when printable, else as hex.

use postwatch_bolt::{Bucket, Db, Item};

fn show(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) if text.chars().all(|c| !c.is_control()) => format!("{text:?}"),
        _ if bytes.len() > 64 => format!("<{} bytes>", bytes.len()),
        _ => bytes.iter().map(|b| format!("{b:02x}")).collect(),
    }
}

fn dump(bucket: &Bucket<'_>, depth: usize) -> Result<(), postwatch_bolt::Error> {
    for (key, item) in bucket.entries()? {
        let indent = "  ".repeat(depth);
        match item {
            Item::Value(value) => println!("{indent}{} = {}", show(&key), show(&value)),
            Item::Bucket(child) => {
                println!("{indent}{}/", show(&key));
                dump(&child, depth + 1)?;
            }
        }
    }
    Ok(())
}

fn main() {
    let Some(path) = std::env::args_os().nth(1) else {
        eprintln!("usage: bolt_dump FILE");
        std::process::exit(2);
    };
    let result = Db::open(std::path::Path::new(&path)).and_then(|db| dump(&db.root(), 0));
    if let Err(e) = result {
        eprintln!("bolt_dump: {e}");
        std::process::exit(1);
    }
}
