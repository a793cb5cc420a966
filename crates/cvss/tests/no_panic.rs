//! `Cvss::parse` never panics: every oracle vector, plus mutations of each (truncated,
//! metrics duplicated, dropped or renamed, values swapped, bytes flipped, random junk),
//! plus random inputs. Whatever parses must score within 0.0–10.0 and re-parse from its
//! canonical vector.

mod common;

use postwatch_cvss::Cvss;

/// xorshift64*: deterministic, dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

fn check(input: &str) {
    if let Ok(c) = Cvss::parse(input) {
        for s in [
            Some(c.base_score()),
            Some(c.score()),
            c.temporal_score(),
            c.environmental_score(),
        ]
        .into_iter()
        .flatten()
        {
            assert!((0.0..=10.0).contains(&s), "{input}: score {s}");
        }
        let again = Cvss::parse(&c.vector())
            .unwrap_or_else(|e| panic!("{input}: canonical vector rejected: {e}"));
        assert_eq!(again.score(), c.score(), "{input}");
        let _ = (c.rating(), c.nomenclature(), c.metrics().count());
    } else if let Err(e) = Cvss::parse(input) {
        let _ = e.to_string();
    }
}

fn check_bytes(bytes: &[u8]) {
    check(&String::from_utf8_lossy(bytes));
}

const ALPHABET: &[u8] = b"CVSS:2.034/AVNLPHUXIMRCEFOTWQDYSaebdn()-_\\ \t\n\0\xc3\xa9\xff";

fn mutations(v: &str, rng: &mut Rng) {
    let bytes = v.as_bytes();
    // Every truncation, from both ends.
    for i in 0..=bytes.len() {
        check_bytes(&bytes[..i]);
        check_bytes(&bytes[i..]);
    }
    let fields: Vec<&str> = v.split('/').collect();
    for i in 0..fields.len() {
        // Duplicated, dropped, emptied metric.
        let mut dup = fields.clone();
        dup.insert(i, fields[i]);
        check(&dup.join("/"));
        let mut dropped = fields.clone();
        dropped.remove(i);
        check(&dropped.join("/"));
        let mut emptied = fields.clone();
        emptied[i] = "";
        check(&emptied.join("/"));
        // Unknown metric name, unknown value, extra colon.
        let mut renamed = fields.clone();
        let name_swapped = fields[i].replacen(|c: char| c.is_ascii_uppercase(), "Z", 1);
        renamed[i] = &name_swapped;
        check(&renamed.join("/"));
        let (name, _) = fields[i].split_once(':').unwrap_or((fields[i], ""));
        let bad_value = format!("{name}:Q");
        let mut revalued = fields.clone();
        revalued[i] = &bad_value;
        check(&revalued.join("/"));
        let colon = format!("{}:", fields[i]);
        let mut colons = fields.clone();
        colons[i] = &colon;
        check(&colons.join("/"));
    }
    // Swap two metrics; append the whole vector to itself; wrap in parentheses.
    if fields.len() > 1 {
        let mut swapped = fields.clone();
        let (a, b) = (rng.below(fields.len()), rng.below(fields.len()));
        swapped.swap(a, b);
        check(&swapped.join("/"));
    }
    check(&format!("{v}/{v}"));
    check(&format!("({v})"));
    check(&format!("{v}/"));
    // Random byte edits.
    for _ in 0..20 {
        let mut b = bytes.to_vec();
        for _ in 0..1 + rng.below(3) {
            let at = rng.below(b.len() + 1);
            let byte = ALPHABET[rng.below(ALPHABET.len())];
            match rng.below(3) {
                0 if at < b.len() => b[at] = byte,
                1 if at < b.len() => {
                    b.remove(at);
                }
                _ => b.insert(at, byte),
            }
        }
        check_bytes(&b);
    }
}

#[test]
fn parse_never_panics() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let files = common::tsv_files().expect("vector directory");
    assert!(!files.is_empty(), "no vector files");
    let mut seen = 0usize;
    for path in files {
        let text = String::from_utf8_lossy(&std::fs::read(&path).expect("read")).into_owned();
        // A directory of generated files can be large: mutate a bounded sample.
        for (_, line) in common::data_lines(&text).take(5000) {
            let vector = line.split('\t').next().unwrap_or("");
            check(vector);
            mutations(vector, &mut rng);
            seen += 1;
        }
    }
    assert!(seen > 0);

    for fixed in [
        "",
        "/",
        ":",
        "CVSS:",
        "CVSS:3.1/",
        "CVSS:4.0/:",
        "()",
        "(",
        ")",
        "CVSS:3.1//",
    ] {
        check(fixed);
    }
    // Random junk, ASCII-biased and raw.
    for _ in 0..20_000 {
        let len = rng.below(80);
        let junk: Vec<u8> = (0..len)
            .map(|_| {
                if rng.below(4) == 0 {
                    rng.next() as u8
                } else {
                    ALPHABET[rng.below(ALPHABET.len())]
                }
            })
            .collect();
        check_bytes(&junk);
    }
    // Random well-formed-looking vectors from metric tokens.
    const TOKENS: &[&str] = &[
        "AV:N", "AV:P", "AC:L", "AC:H", "AT:N", "PR:N", "PR:H", "UI:N", "UI:R", "UI:A", "S:U",
        "S:C", "S:P", "C:H", "I:L", "A:N", "VC:H", "VI:L", "VA:N", "SC:N", "SI:H", "SA:L", "E:X",
        "E:P", "E:POC", "RL:O", "RC:C", "CR:H", "MAV:L", "MS:C", "MSI:S", "MSA:S", "Au:N", "C:P",
        "I:C", "A:C", "CDP:H", "TD:L", "U:Red", "AU:Y", "MPR:N", "MVC:H",
    ];
    for _ in 0..20_000 {
        let prefix = ["", "CVSS:2.0/", "CVSS:3.0/", "CVSS:3.1/", "CVSS:4.0/"][rng.below(5)];
        let n = rng.below(20);
        let body: Vec<&str> = (0..n).map(|_| TOKENS[rng.below(TOKENS.len())]).collect();
        check(&format!("{prefix}{}", body.join("/")));
    }
}
