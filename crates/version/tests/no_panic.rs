//! Hostile input: every string in the version vectors, plus truncations, random bytes
//! and huge numbers, goes through every ecosystem's parsers and comparisons. Nothing
//! may panic, and where an ecosystem allows numbers beyond `u64` they must still
//! order by value.

use std::cmp::Ordering;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use postwatch_version::{
    apk, compare, go, maven, npm, nuget, packagist, pep440, rpm, rubygems, validate, Ecosystem,
};

fn vectors_dir() -> PathBuf {
    match std::env::var_os("POSTWATCH_VECTORS_DIR") {
        Some(dir) => PathBuf::from(dir).join("versions"),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/vectors/versions"),
    }
}

fn collect_fields(dir: &Path, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_fields(&path, out);
        } else if let Ok(text) = std::fs::read_to_string(&path) {
            for line in text.split('\n') {
                out.extend(line.split('\t').take(3).map(str::to_owned));
            }
        }
    }
}

/// A small deterministic generator, so failures reproduce.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn mutations(seed: &str, rng: &mut XorShift) -> Vec<String> {
    const PIECES: [&str; 16] = [
        "99999999999999999999999",
        "0",
        "-",
        ".",
        "~",
        "^",
        "+",
        "_",
        ":",
        "!",
        "a",
        "é",
        "𝟤",
        "x",
        " ",
        "-r",
    ];
    let mut out = vec![seed.to_owned()];
    let chars: Vec<char> = seed.chars().collect();
    let cut = rng.below(chars.len() + 1);
    out.push(chars.iter().take(cut).collect());
    out.push(chars.iter().skip(cut).collect());
    for _ in 0..2 {
        let mut s: Vec<char> = chars.clone();
        let at = rng.below(s.len() + 1);
        let piece = PIECES[rng.below(PIECES.len())];
        for (i, c) in piece.chars().enumerate() {
            s.insert(at + i, c);
        }
        out.push(s.into_iter().collect());
    }
    let random: String = (0..rng.below(12))
        .map(|_| {
            char::from_u32(rng.below(0x80) as u32 + if rng.below(8) == 0 { 0x370 } else { 0 })
                .unwrap_or('?')
        })
        .collect();
    out.push(random);
    out.push(format!("{seed}.99999999999999999999999"));
    out
}

/// Runs every operation of every ecosystem on the pair.
fn exercise(a: &str, b: &str) {
    for eco in Ecosystem::ALL {
        let _ = compare(eco, a, b);
        let _ = validate(eco, a);
    }
    let _ = rpm::rpmvercmp(a, b);
    let _ = rpm::compare_evr(a, b);
    let _ = apk::compare(a, b);
    let _ = apk::is_valid(a);
    for op in ["~", "<~", ">~", "!~", "<=", "!=", "?"] {
        let _ = apk::matches(a, op, b);
    }
    let _ = go::compare(a, b);
    let _ = go::canonical(a);
    let _ = maven::compare(a, b);
    let _ = pep440::normalize(a);
    let _ = rubygems::Version::parse(a).map(|v| v.as_str().to_owned());
    let _ = packagist::normalize(a);
    let _ = packagist::version_compare(a, b);
    let _ = nuget::Version::parse(a).map(|v| v.to_string());
    for loose in [false, true] {
        for include_prerelease in [false, true] {
            let options = npm::Options {
                loose,
                include_prerelease,
            };
            let _ = npm::satisfies(b, a, options);
        }
        let _ = npm::compare(a, b, loose);
    }
}

#[test]
fn no_input_panics() {
    let mut seeds = Vec::new();
    collect_fields(&vectors_dir(), &mut seeds);
    seeds.sort();
    seeds.dedup();
    seeds.extend(
        [
            "",
            " ",
            "\t",
            "\0",
            "v",
            "-",
            "1-",
            "1:",
            ":",
            "~",
            "^",
            "*",
            "||",
            " - ",
            ">=",
            "1.2.3 - ",
            "~>",
            "^x",
            "1.x.2",
            "1.2.3-+",
            "0!0",
            "1.0+",
            "1--",
            "dev-",
            "1.x-dev",
            "20100102.01.02.03.04.05.06.07.08.9",
        ]
        .map(str::to_owned),
    );
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let mut failures = Vec::new();
    for (i, seed) in seeds.iter().enumerate() {
        let partner = &seeds[(i * 7 + 3) % seeds.len()];
        // Every string as it is; mutations of a sample, to keep the debug build quick.
        let inputs = if i % 4 == 0 {
            mutations(seed, &mut rng)
        } else {
            vec![seed.clone()]
        };
        for mutated in inputs {
            let result = catch_unwind(AssertUnwindSafe(|| {
                exercise(&mutated, partner);
                exercise(partner, &mutated);
            }));
            if result.is_err() {
                failures.push(format!("{mutated:?} vs {partner:?}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "panicked on {} inputs, e.g. {:?}",
        failures.len(),
        &failures[..failures.len().min(10)]
    );
}

#[test]
fn very_long_inputs_do_not_panic_or_overflow_the_stack() {
    for piece in ["1-", "a-", "1.", "1a", "-", "+", "x.", "1a-"] {
        let long = piece.repeat(50_000);
        exercise(&long, "1.0");
    }
}

#[test]
fn numbers_beyond_u64_order_by_value() {
    let small = "99999999999999999999999";
    let big = "100000000000000000000000";
    let cases: [(Ecosystem, String, String); 5] = [
        (Ecosystem::Dpkg, format!("1.{small}"), format!("1.{big}")),
        (Ecosystem::Rpm, format!("1.{small}-1"), format!("1.{big}-1")),
        (
            Ecosystem::Apk,
            format!("1.{small}-r0"),
            format!("1.{big}-r0"),
        ),
        (Ecosystem::Maven, format!("1.{small}"), format!("1.{big}")),
        (
            Ecosystem::Go,
            format!("v1.{small}.0"),
            format!("v1.{big}.0"),
        ),
    ];
    for (eco, a, b) in &cases {
        assert_eq!(compare(*eco, a, b), Ok(Ordering::Less), "{eco:?}");
        assert_eq!(compare(*eco, b, a), Ok(Ordering::Greater), "{eco:?}");
        assert_eq!(compare(*eco, a, a), Ok(Ordering::Equal), "{eco:?}");
    }
    for eco in [Ecosystem::Pep440, Ecosystem::RubyGems] {
        assert_eq!(
            compare(eco, &format!("1.{small}"), &format!("1.{big}")),
            Ok(Ordering::Less),
            "{eco:?}"
        );
    }
}
