//! How values are written into columns: JSON documents (zstd-compressed when large),
//! times as Unix seconds, days as Julian day numbers, enums as short strings or ranks.

use crate::error::StoreError;
use postwatch_model::fleet::AssetKind;
use postwatch_model::{InUse, Severity};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::cell::RefCell;
use time::format_description::well_known::Rfc3339;
use time::{Date, OffsetDateTime};

/// Documents at least this long are stored zstd-compressed. Shorter ones gain little and
/// stay readable with the sqlite3 shell.
const COMPRESS_FROM: usize = 512;
const ZSTD_LEVEL: i32 = 3;
/// First byte of a compressed document. A JSON document never starts with it.
const ZSTD_TAG: u8 = b'z';

/// Encodes a document for a BLOB column: JSON, or `z` + zstd(JSON) when large.
pub(crate) fn encode_doc<T: Serialize + ?Sized>(
    value: &T,
    what: &str,
) -> Result<Vec<u8>, StoreError> {
    let json = serde_json::to_vec(value).map_err(|e| StoreError::Encode {
        what: what.to_owned(),
        detail: e.to_string(),
    })?;
    if json.len() < COMPRESS_FROM {
        return Ok(json);
    }
    let packed = COMPRESSOR
        .with(|cell| {
            let mut slot = cell.borrow_mut();
            let compressor = match slot.as_mut() {
                Some(c) => c,
                None => slot.insert(zstd::bulk::Compressor::new(ZSTD_LEVEL)?),
            };
            compressor.compress(&json)
        })
        .map_err(|e| StoreError::Encode {
            what: what.to_owned(),
            detail: format!("zstd: {e}"),
        })?;
    let mut out = Vec::with_capacity(packed.len() + 1);
    out.push(ZSTD_TAG);
    out.extend_from_slice(&packed);
    Ok(out)
}

thread_local! {
    // Contexts are reused: creating one costs more than compressing a small document.
    static COMPRESSOR: RefCell<Option<zstd::bulk::Compressor<'static>>> =
        const { RefCell::new(None) };
    static DECOMPRESSOR: RefCell<Option<zstd::bulk::Decompressor<'static>>> =
        const { RefCell::new(None) };
}

/// Largest document a stored frame may claim to hold.
const MAX_DOC_BYTES: u64 = 256 << 20;

fn unzstd(frame: &[u8]) -> Result<Vec<u8>, String> {
    match zstd::zstd_safe::get_frame_content_size(frame) {
        Ok(Some(size)) if size <= MAX_DOC_BYTES => DECOMPRESSOR
            .with(|cell| {
                let mut slot = cell.borrow_mut();
                let decompressor = match slot.as_mut() {
                    Some(d) => d,
                    None => slot.insert(zstd::bulk::Decompressor::new()?),
                };
                decompressor.decompress(frame, size as usize)
            })
            .map_err(|e| format!("zstd: {e}")),
        Ok(Some(size)) => Err(format!("zstd frame claims {size} bytes")),
        // A frame without its size (streamed): decode it bounded.
        Ok(None) => {
            let mut out = Vec::new();
            let decoder =
                zstd::stream::read::Decoder::new(frame).map_err(|e| format!("zstd: {e}"))?;
            std::io::Read::read_to_end(&mut std::io::Read::take(decoder, MAX_DOC_BYTES), &mut out)
                .map_err(|e| format!("zstd: {e}"))?;
            Ok(out)
        }
        Err(_) => Err("zstd: not a zstd frame".to_owned()),
    }
}

/// Decodes what [`encode_doc`] wrote.
pub(crate) fn decode_doc<T: DeserializeOwned>(
    bytes: &[u8],
    what: impl FnOnce() -> String,
) -> Result<T, StoreError> {
    let parsed = match bytes.split_first() {
        Some((&ZSTD_TAG, rest)) => {
            unzstd(rest).and_then(|json| serde_json::from_slice(&json).map_err(|e| e.to_string()))
        }
        _ => serde_json::from_slice(bytes).map_err(|e| e.to_string()),
    };
    parsed.map_err(|detail| StoreError::corrupt(what(), detail))
}

/// Plain JSON for small TEXT columns (facts, target, OS).
pub(crate) fn encode_text<T: Serialize + ?Sized>(
    value: &T,
    what: &str,
) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Encode {
        what: what.to_owned(),
        detail: e.to_string(),
    })
}

pub(crate) fn decode_text<T: DeserializeOwned>(
    text: &str,
    what: impl FnOnce() -> String,
) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::corrupt(what(), e))
}

pub(crate) fn unix(t: OffsetDateTime) -> i64 {
    t.unix_timestamp()
}

/// RFC 3339 (UTC) for a stored Unix time.
pub(crate) fn rfc3339(secs: i64) -> String {
    OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| secs.to_string())
}

pub(crate) fn day_number(d: Date) -> i64 {
    i64::from(d.to_julian_day())
}

/// `YYYY-MM-DD` for a stored Julian day number.
pub(crate) fn day_string(n: i64) -> Result<String, StoreError> {
    let date = i32::try_from(n)
        .ok()
        .and_then(|n| Date::from_julian_day(n).ok())
        .ok_or_else(|| StoreError::corrupt("history day", format!("day number {n}")))?;
    Ok(format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    ))
}

/// Severity as a rank that sorts like [`Severity`]'s `Ord`.
pub(crate) fn severity_rank(s: Severity) -> i64 {
    match s {
        Severity::Unknown => 0,
        Severity::Low => 1,
        Severity::Medium => 2,
        Severity::High => 3,
        Severity::Critical => 4,
    }
}

pub(crate) fn severity_from_rank(n: i64) -> Result<Severity, StoreError> {
    Ok(match n {
        0 => Severity::Unknown,
        1 => Severity::Low,
        2 => Severity::Medium,
        3 => Severity::High,
        4 => Severity::Critical,
        _ => return Err(StoreError::corrupt("severity", format!("rank {n}"))),
    })
}

pub(crate) fn in_use_from_str(s: &str) -> Result<InUse, StoreError> {
    Ok(match s {
        "yes" => InUse::Yes,
        "no" => InUse::No,
        "unknown" => InUse::Unknown,
        _ => return Err(StoreError::corrupt("in-use state", format!("{s:?}"))),
    })
}

pub(crate) fn kind_from_str(s: &str) -> Result<AssetKind, StoreError> {
    Ok(match s {
        "host" => AssetKind::Host,
        "image" => AssetKind::Image,
        "container" => AssetKind::Container,
        _ => return Err(StoreError::corrupt("asset kind", format!("{s:?}"))),
    })
}

/// Non-negative SQLite integer as a count.
pub(crate) fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_documents_stay_plain_large_ones_compress() {
        let small = vec!["a"; 3];
        let bytes = encode_doc(&small, "t").unwrap();
        assert_eq!(bytes[0], b'[');
        let back: Vec<String> = decode_doc(&bytes, || "t".into()).unwrap();
        assert_eq!(back, small);

        let large: Vec<String> = (0..200).map(|i| format!("/usr/lib/file{i}")).collect();
        let bytes = encode_doc(&large, "t").unwrap();
        assert_eq!(bytes[0], ZSTD_TAG);
        let back: Vec<String> = decode_doc(&bytes, || "t".into()).unwrap();
        assert_eq!(back, large);
    }

    #[test]
    fn damaged_documents_are_errors() {
        let err = decode_doc::<Vec<String>>(b"z\x00\x01", || "thing 7".into()).unwrap_err();
        assert!(err.to_string().contains("thing 7"), "{err}");
        let err = decode_doc::<Vec<String>>(b"{", || "thing 8".into()).unwrap_err();
        assert!(err.to_string().contains("thing 8"), "{err}");
        // A frame written by a streaming encoder (no content size) still reads.
        let mut streamed = vec![ZSTD_TAG];
        streamed.extend(zstd::stream::encode_all(&b"[\"x\"]"[..], 3).unwrap());
        let back: Vec<String> = decode_doc(&streamed, || "t".into()).unwrap();
        assert_eq!(back, ["x"]);
        let err = decode_doc::<Vec<String>>(b"zzzzzzzz", || "thing 8".into()).unwrap_err();
        assert!(err.to_string().contains("thing 8"), "{err}");
    }

    #[test]
    fn days_and_ranks_round_trip() {
        let d = time::macros::date!(2024 - 02 - 29);
        assert_eq!(day_string(day_number(d)).unwrap(), "2024-02-29");
        for s in [
            Severity::Unknown,
            Severity::Low,
            Severity::Medium,
            Severity::High,
            Severity::Critical,
        ] {
            assert_eq!(severity_from_rank(severity_rank(s)).unwrap(), s);
        }
        assert!(severity_from_rank(9).is_err());
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    }
}
