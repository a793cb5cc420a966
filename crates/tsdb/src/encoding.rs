//! Byte-level encodings: varints, a bounds-checked reader, and the chunk format.
//!
//! A chunk holds one series' samples for one block. Timestamps are delta-of-delta
//! varints (a regular scrape interval costs one zero byte per sample). Values take the
//! cheapest of three forms: one constant; decimal integers (`value = m / 10^e`, checked
//! bit-exact) stored as deltas or deltas of deltas; or Gorilla-style XOR with the previous
//! value. The result then goes through zstd when that is smaller, which folds the
//! remaining zero runs and repeated patterns to almost nothing.

use std::fmt;

/// Malformed bytes: what was being decoded and what was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError(pub String);

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DecodeError {}

fn err<T>(what: impl Into<String>) -> Result<T, DecodeError> {
    Err(DecodeError(what.into()))
}

pub(crate) fn put_uvarint(buf: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        buf.push((value as u8) | 0x80);
        value >>= 7;
    }
    buf.push(value as u8);
}

pub(crate) fn put_varint(buf: &mut Vec<u8>, value: i64) {
    put_uvarint(buf, ((value << 1) ^ (value >> 63)) as u64);
}

pub(crate) fn put_str(buf: &mut Vec<u8>, s: &str) {
    put_uvarint(buf, s.len() as u64);
    buf.extend_from_slice(s.as_bytes());
}

/// A cursor over untrusted bytes: every read checks the bounds.
pub(crate) struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Reader { data, pos: 0 }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    pub(crate) fn uvarint(&mut self) -> Result<u64, DecodeError> {
        let mut value: u64 = 0;
        for shift in (0..64).step_by(7) {
            let Some(&byte) = self.data.get(self.pos) else {
                return err(format!("varint cut short at byte {}", self.pos));
            };
            self.pos += 1;
            if shift == 63 && byte > 1 {
                return err(format!("varint overflows 64 bits at byte {}", self.pos));
            }
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        err(format!("varint longer than 10 bytes at byte {}", self.pos))
    }

    pub(crate) fn varint(&mut self) -> Result<i64, DecodeError> {
        let raw = self.uvarint()?;
        Ok(((raw >> 1) as i64) ^ -((raw & 1) as i64))
    }

    /// A count that must fit in what is left, each item taking at least `min_item_bytes`,
    /// so a corrupt count cannot make us allocate gigabytes.
    pub(crate) fn count(&mut self, min_item_bytes: usize) -> Result<usize, DecodeError> {
        let n = self.uvarint()?;
        let limit = self.remaining() / min_item_bytes.max(1);
        if n > limit as u64 {
            return err(format!(
                "count {n} at byte {} exceeds what {} remaining bytes can hold",
                self.pos,
                self.remaining()
            ));
        }
        Ok(n as usize)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, DecodeError> {
        let bytes = self.bytes(1)?;
        Ok(bytes[0])
    }

    pub(crate) fn u32_le(&mut self) -> Result<u32, DecodeError> {
        let bytes = self.bytes(4)?;
        let mut array = [0u8; 4];
        array.copy_from_slice(bytes);
        Ok(u32::from_le_bytes(array))
    }

    pub(crate) fn u64_le(&mut self) -> Result<u64, DecodeError> {
        let bytes = self.bytes(8)?;
        let mut array = [0u8; 8];
        array.copy_from_slice(bytes);
        Ok(u64::from_le_bytes(array))
    }

    pub(crate) fn bytes(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.remaining() {
            return err(format!(
                "{n} bytes wanted at byte {} but only {} remain",
                self.pos,
                self.remaining()
            ));
        }
        let slice = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(slice)
    }

    pub(crate) fn string(&mut self) -> Result<String, DecodeError> {
        let len = self.uvarint()?;
        if len > self.remaining() as u64 {
            return err(format!(
                "string of {len} bytes at byte {} is cut short",
                self.pos
            ));
        }
        let at = self.pos;
        let bytes = self.bytes(len as usize)?;
        match std::str::from_utf8(bytes) {
            Ok(s) => Ok(s.to_string()),
            Err(_) => err(format!("string at byte {at} is not UTF-8")),
        }
    }
}

const VALUES_CONSTANT: u8 = 0;
const VALUES_DECIMAL: u8 = 1;
const VALUES_XOR: u8 = 3;
/// Decimal flags: the stream holds deltas of deltas (else deltas); it is bit-packed
/// (else zigzag varints).
const DECIMAL_DOD: u8 = 1;
const DECIMAL_PACKED: u8 = 2;
/// Decimal flag: values are `m × 10^-e` rather than `m / 10^e`.
const DECIMAL_MULTIPLY: u8 = 4;
/// Values per bit-packed block (each block has its own minimum and width).
const PACK_BLOCK: usize = 128;

/// Largest decimal exponent tried: 10^e must be exact in f64 (e <= 22); beyond 9 digits
/// the integers are as long as XOR output anyway.
const MAX_DECIMAL_EXPONENT: u8 = 9;
/// Integers above 2^53 are not all exact in f64.
const MAX_EXACT_INTEGER: f64 = 9_007_199_254_740_992.0;

/// Encodes sorted `(timestamp_ms, value_bits)` pairs (without the zstd stage). With
/// `packed`, decimal values are bit-packed rather than varint-coded.
pub(crate) fn encode_samples(samples: &[(i64, u64)], packed: bool) -> Vec<u8> {
    let mut buf = Vec::with_capacity(samples.len() * 3 + 16);
    put_uvarint(&mut buf, samples.len() as u64);
    if samples.is_empty() {
        return buf;
    }
    let mut previous_ts = 0i64;
    let mut previous_delta = 0i64;
    for (i, &(ts, _)) in samples.iter().enumerate() {
        match i {
            0 => put_varint(&mut buf, ts),
            1 => {
                previous_delta = ts.wrapping_sub(previous_ts);
                put_varint(&mut buf, previous_delta);
            }
            _ => {
                let delta = ts.wrapping_sub(previous_ts);
                put_varint(&mut buf, delta.wrapping_sub(previous_delta));
                previous_delta = delta;
            }
        }
        previous_ts = ts;
    }
    encode_values(&mut buf, samples, packed);
    buf
}

fn encode_values(buf: &mut Vec<u8>, samples: &[(i64, u64)], packed: bool) {
    let first = samples[0].1;
    if samples.iter().all(|&(_, bits)| bits == first) {
        buf.push(VALUES_CONSTANT);
        buf.extend_from_slice(&first.to_le_bytes());
        return;
    }
    if let Some((exponent, form, integers)) = as_decimal_integers(samples) {
        let deltas: Vec<i64> = integers
            .windows(2)
            .map(|w| w[1].wrapping_sub(w[0]))
            .collect();
        let mut dods = Vec::with_capacity(deltas.len());
        for (i, &d) in deltas.iter().enumerate() {
            dods.push(if i == 0 {
                d
            } else {
                d.wrapping_sub(deltas[i - 1])
            });
        }
        // Deltas suit noisy counters; deltas of deltas suit steady ones: keep the smaller.
        let with_deltas = encode_stream(&deltas, packed);
        let with_dods = encode_stream(&dods, packed);
        let (flags, body) = if with_dods.len() < with_deltas.len() {
            (DECIMAL_DOD, with_dods)
        } else {
            (0, with_deltas)
        };
        buf.push(VALUES_DECIMAL);
        buf.push(exponent);
        let multiply = if form == DecimalForm::Multiply {
            DECIMAL_MULTIPLY
        } else {
            0
        };
        buf.push(flags | multiply | if packed { DECIMAL_PACKED } else { 0 });
        put_varint(buf, integers[0]);
        buf.extend_from_slice(&body);
        return;
    }
    buf.push(VALUES_XOR);
    buf.extend_from_slice(&first.to_le_bytes());
    let mut previous = first;
    for &(_, bits) in &samples[1..] {
        let xor = bits ^ previous;
        if xor == 0 {
            buf.push(64);
        } else {
            let trailing = xor.trailing_zeros();
            buf.push(trailing as u8);
            put_uvarint(buf, xor >> trailing);
        }
        previous = bits;
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// A stream of integers: their greatest common divisor (byte and packet counters move
/// in pages and sectors), then the quotients as zigzag varints or bit-packed blocks.
fn encode_stream(values: &[i64], packed: bool) -> Vec<u8> {
    let mut divisor = values.iter().fold(0u64, |g, &v| gcd(g, v.unsigned_abs()));
    if divisor == 0 || divisor > i64::MAX as u64 {
        divisor = 1;
    }
    let quotients: Vec<i64> = values.iter().map(|&v| v / divisor as i64).collect();
    let mut out = Vec::with_capacity(values.len() * 2 + 8);
    put_uvarint(&mut out, divisor);
    if !packed {
        for &q in &quotients {
            put_varint(&mut out, q);
        }
        return out;
    }
    for block in quotients.chunks(PACK_BLOCK) {
        let min = block.iter().copied().min().unwrap_or(0);
        let max_offset = block
            .iter()
            .map(|&q| q.wrapping_sub(min) as u64)
            .max()
            .unwrap_or(0);
        let width = 64 - max_offset.leading_zeros();
        put_varint(&mut out, min);
        out.push(width as u8);
        let (mut acc, mut bits) = (0u128, 0u32);
        for &q in block {
            acc |= u128::from(q.wrapping_sub(min) as u64) << bits;
            bits += width;
            while bits >= 8 {
                out.push(acc as u8);
                acc >>= 8;
                bits -= 8;
            }
        }
        if bits > 0 {
            out.push(acc as u8);
        }
    }
    out
}

fn decode_stream(
    reader: &mut Reader<'_>,
    count: usize,
    packed: bool,
) -> Result<Vec<i64>, DecodeError> {
    let divisor = reader.uvarint()?;
    if divisor == 0 || divisor > i64::MAX as u64 {
        return err(format!("divisor {divisor} out of range"));
    }
    let divisor = divisor as i64;
    let mut values = Vec::with_capacity(count);
    if !packed {
        for _ in 0..count {
            values.push(reader.varint()?.wrapping_mul(divisor));
        }
        return Ok(values);
    }
    let mut left = count;
    while left > 0 {
        let in_block = left.min(PACK_BLOCK);
        left -= in_block;
        let min = reader.varint()?;
        let width = u32::from(reader.u8()?);
        if width > 64 {
            return err(format!("bit width {width} out of range"));
        }
        let bytes = reader.bytes((in_block * width as usize).div_ceil(8))?;
        let mask = (1u128 << width) - 1;
        let (mut acc, mut bits) = (0u128, 0u32);
        let mut next = bytes.iter();
        for _ in 0..in_block {
            while bits < width {
                let Some(&byte) = next.next() else {
                    return err("bit-packed block cut short");
                };
                acc |= u128::from(byte) << bits;
                bits += 8;
            }
            let offset = (acc & mask) as u64;
            acc >>= width;
            bits -= width;
            values.push(min.wrapping_add(offset as i64).wrapping_mul(divisor));
        }
    }
    Ok(values)
}

/// How decimal integers turn back into values: `m / 10^e` (what parsing decimal text
/// gives) or `m × 10^-e` (what a program computing `k * 0.01` gives; the two differ in
/// the last bit for about one value in seven).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DecimalForm {
    Divide,
    Multiply,
}

impl DecimalForm {
    fn value(self, integer: i64, scale: f64, step: f64) -> f64 {
        match self {
            DecimalForm::Divide => integer as f64 / scale,
            DecimalForm::Multiply => integer as f64 * step,
        }
    }
}

/// The smallest exponent `e` (and form) for which every value is exactly `m / 10^e` or
/// every value exactly `m × 10^-e`, with integers `m` of at most 53 bits, and those
/// integers.
fn as_decimal_integers(samples: &[(i64, u64)]) -> Option<(u8, DecimalForm, Vec<i64>)> {
    let mut integers = Vec::with_capacity(samples.len());
    for exponent in 0..=MAX_DECIMAL_EXPONENT {
        let scale = 10f64.powi(i32::from(exponent));
        // Division by an exact power of ten is correctly rounded: the f64 nearest 10^-e.
        let step = 1.0 / scale;
        'form: for form in [DecimalForm::Divide, DecimalForm::Multiply] {
            if exponent == 0 && form == DecimalForm::Multiply {
                continue;
            }
            integers.clear();
            for &(_, bits) in samples {
                let value = f64::from_bits(bits);
                if !value.is_finite() {
                    return None;
                }
                let scaled = (value * scale).round();
                if scaled.abs() > MAX_EXACT_INTEGER
                    || form.value(scaled as i64, scale, step).to_bits() != bits
                {
                    continue 'form;
                }
                integers.push(scaled as i64);
            }
            return Some((exponent, form, integers));
        }
    }
    None
}

/// Decodes what [`encode_samples`] wrote.
pub(crate) fn decode_samples(data: &[u8]) -> Result<Vec<(i64, u64)>, DecodeError> {
    let mut reader = Reader::new(data);
    let n = reader.count(1)?;
    let mut timestamps = Vec::with_capacity(n);
    let (mut ts, mut delta) = (0i64, 0i64);
    for i in 0..n {
        let v = reader.varint()?;
        match i {
            0 => ts = v,
            1 => {
                delta = v;
                ts = ts.wrapping_add(delta);
            }
            _ => {
                delta = delta.wrapping_add(v);
                ts = ts.wrapping_add(delta);
            }
        }
        timestamps.push(ts);
    }
    if n == 0 {
        return Ok(Vec::new());
    }
    let mut samples = Vec::with_capacity(n);
    match reader.u8()? {
        VALUES_CONSTANT => {
            let bits = reader.u64_le()?;
            samples.extend(timestamps.iter().map(|&t| (t, bits)));
        }
        VALUES_DECIMAL => {
            let exponent = reader.u8()?;
            if exponent > MAX_DECIMAL_EXPONENT {
                return err(format!("decimal exponent {exponent} out of range"));
            }
            let flags = reader.u8()?;
            if flags > (DECIMAL_DOD | DECIMAL_PACKED | DECIMAL_MULTIPLY) {
                return err(format!("unknown decimal flags {flags}"));
            }
            let scale = 10f64.powi(i32::from(exponent));
            let step = 1.0 / scale;
            let form = if flags & DECIMAL_MULTIPLY != 0 {
                DecimalForm::Multiply
            } else {
                DecimalForm::Divide
            };
            let mut m = reader.varint()?;
            let stream = decode_stream(&mut reader, n - 1, flags & DECIMAL_PACKED != 0)?;
            samples.push((timestamps[0], form.value(m, scale, step).to_bits()));
            let mut delta = 0i64;
            for (i, (&t, &v)) in timestamps[1..].iter().zip(&stream).enumerate() {
                if flags & DECIMAL_DOD != 0 && i > 0 {
                    delta = delta.wrapping_add(v);
                } else {
                    delta = v;
                }
                m = m.wrapping_add(delta);
                samples.push((t, form.value(m, scale, step).to_bits()));
            }
        }
        VALUES_XOR => {
            let mut bits = reader.u64_le()?;
            samples.push((timestamps[0], bits));
            for &t in &timestamps[1..] {
                let trailing = reader.u8()?;
                match trailing {
                    64 => {}
                    0..=63 => {
                        let shifted = reader.uvarint()?;
                        bits ^= shifted.checked_shl(u32::from(trailing)).unwrap_or(0);
                    }
                    other => return err(format!("XOR shift {other} out of range")),
                }
                samples.push((t, bits));
            }
        }
        other => return err(format!("unknown value encoding {other}")),
    }
    if !reader.is_empty() {
        return err(format!(
            "{} trailing bytes after {n} samples",
            reader.remaining()
        ));
    }
    Ok(samples)
}

/// A zstd context per thread and level in use: creating one per chunk was a third of
/// the cost of writing a block.
struct ZstdContexts {
    compressor: Option<(i32, zstd::bulk::Compressor<'static>)>,
    decompressor: Option<zstd::bulk::Decompressor<'static>>,
}

thread_local! {
    static ZSTD: std::cell::RefCell<ZstdContexts> = const {
        std::cell::RefCell::new(ZstdContexts { compressor: None, decompressor: None })
    };
}

fn zstd_compress(raw: &[u8], level: i32) -> std::io::Result<Vec<u8>> {
    ZSTD.with(|contexts| {
        let mut contexts = contexts.borrow_mut();
        if contexts
            .compressor
            .as_ref()
            .is_none_or(|(l, _)| *l != level)
        {
            contexts.compressor = Some((level, zstd::bulk::Compressor::new(level)?));
        }
        match contexts.compressor.as_mut() {
            Some((_, compressor)) => compressor.compress(raw),
            None => zstd::bulk::compress(raw, level),
        }
    })
}

fn zstd_decompress(body: &[u8], capacity: usize) -> std::io::Result<Vec<u8>> {
    ZSTD.with(|contexts| {
        let mut contexts = contexts.borrow_mut();
        if contexts.decompressor.is_none() {
            contexts.decompressor = Some(zstd::bulk::Decompressor::new()?);
        }
        match contexts.decompressor.as_mut() {
            Some(decompressor) => decompressor.decompress(body, capacity),
            None => zstd::bulk::decompress(body, capacity),
        }
    })
}

const CHUNK_RAW: u8 = 0;
const CHUNK_ZSTD: u8 = 1;
/// No chunk decompresses beyond this; a corrupt size cannot exhaust memory.
const MAX_CHUNK_RAW_BYTES: u64 = 256 << 20;

/// How hard [`encode_chunk`] tries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChunkEffort {
    /// Bit-packed values only: blocks cut from the head, which compaction rewrites.
    Quick,
    /// Varint and bit-packed values, the smaller kept: compacted blocks.
    Smallest,
}

/// Encodes a chunk in its smallest form: varint or bit-packed values, each raw or
/// through zstd (varints of skewed noise compress well; uniform noise packs better).
pub(crate) fn encode_chunk(
    samples: &[(i64, u64)],
    zstd_level: i32,
    effort: ChunkEffort,
) -> Vec<u8> {
    let packed = encode_samples(samples, true);
    let forms = match effort {
        ChunkEffort::Quick => vec![packed],
        ChunkEffort::Smallest => {
            let varints = encode_samples(samples, false);
            // Constants and XOR-coded values come out the same either way.
            if packed == varints {
                vec![varints]
            } else {
                vec![varints, packed]
            }
        }
    };
    let mut best: Option<Vec<u8>> = None;
    for raw in forms {
        let mut plain = Vec::with_capacity(raw.len() + 1);
        plain.push(CHUNK_RAW);
        plain.extend_from_slice(&raw);
        let mut candidate = plain;
        if raw.len() > 32 {
            if let Ok(compressed) = zstd_compress(&raw, zstd_level) {
                let mut zipped = vec![CHUNK_ZSTD];
                put_uvarint(&mut zipped, raw.len() as u64);
                zipped.extend_from_slice(&compressed);
                if zipped.len() < candidate.len() {
                    candidate = zipped;
                }
            }
        }
        if best.as_ref().is_none_or(|b| candidate.len() < b.len()) {
            best = Some(candidate);
        }
    }
    best.unwrap_or_default()
}

/// Decodes what [`encode_chunk`] wrote.
pub(crate) fn decode_chunk(data: &[u8]) -> Result<Vec<(i64, u64)>, DecodeError> {
    let mut reader = Reader::new(data);
    match reader.u8()? {
        CHUNK_RAW => decode_samples(&data[1..]),
        CHUNK_ZSTD => {
            let raw_len = reader.uvarint()?;
            if raw_len > MAX_CHUNK_RAW_BYTES {
                return err(format!("chunk claims {raw_len} bytes uncompressed"));
            }
            let body = reader.bytes(reader.remaining())?;
            let raw = zstd_decompress(body, raw_len as usize)
                .map_err(|e| DecodeError(format!("zstd: {e}")))?;
            if raw.len() as u64 != raw_len {
                return err(format!(
                    "chunk decompressed to {} bytes, header says {raw_len}",
                    raw.len()
                ));
            }
            decode_samples(&raw)
        }
        other => err(format!("unknown chunk compression {other}")),
    }
}

/// zstd over a byte string with its length in front (block indexes).
pub(crate) fn compress_bytes(raw: &[u8], level: i32) -> Vec<u8> {
    let mut out = Vec::new();
    put_uvarint(&mut out, raw.len() as u64);
    match zstd_compress(raw, level) {
        Ok(compressed) => out.extend_from_slice(&compressed),
        // zstd only fails on allocation; keep such an index uncompressed rather than fail.
        Err(_) => {
            out.clear();
            put_uvarint(&mut out, u64::MAX);
            out.extend_from_slice(raw);
        }
    }
    out
}

pub(crate) fn decompress_bytes(data: &[u8], limit: u64) -> Result<Vec<u8>, DecodeError> {
    let mut reader = Reader::new(data);
    let raw_len = reader.uvarint()?;
    let body = reader.bytes(reader.remaining())?;
    if raw_len == u64::MAX {
        return Ok(body.to_vec());
    }
    if raw_len > limit {
        return err(format!(
            "claims {raw_len} bytes uncompressed (limit {limit})"
        ));
    }
    let raw =
        zstd_decompress(body, raw_len as usize).map_err(|e| DecodeError(format!("zstd: {e}")))?;
    if raw.len() as u64 != raw_len {
        return err(format!(
            "decompressed to {} bytes, header says {raw_len}",
            raw.len()
        ));
    }
    Ok(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(samples: &[(i64, u64)]) -> usize {
        for packed in [false, true] {
            let raw = encode_samples(samples, packed);
            assert_eq!(decode_samples(&raw).unwrap(), samples, "packed: {packed}");
        }
        let quick = encode_chunk(samples, 3, ChunkEffort::Quick);
        assert_eq!(decode_chunk(&quick).unwrap(), samples);
        let chunk = encode_chunk(samples, 3, ChunkEffort::Smallest);
        assert_eq!(decode_chunk(&chunk).unwrap(), samples);
        assert!(chunk.len() <= quick.len());
        chunk.len()
    }

    #[test]
    fn varints_round_trip_extremes() {
        for v in [0i64, 1, -1, 63, -64, i64::MAX, i64::MIN, 1 << 40] {
            let mut buf = Vec::new();
            put_varint(&mut buf, v);
            assert_eq!(Reader::new(&buf).varint().unwrap(), v);
        }
        assert!(Reader::new(&[0xff; 11]).uvarint().is_err());
        assert!(Reader::new(&[0x80]).uvarint().is_err());
    }

    #[test]
    fn every_value_form_round_trips_bit_exact() {
        let ts = |i: i64| 1_700_000_000_000 + i * 15_000;
        let constant: Vec<_> = (0..100).map(|i| (ts(i), 42f64.to_bits())).collect();
        let counter: Vec<_> = (0..100)
            .map(|i| (ts(i), (1000.0 + i as f64 * 12.25).to_bits()))
            .collect();
        let gauge: Vec<_> = (0..100)
            .map(|i| (ts(i), (0.1 + (i % 7) as f64 * 0.01).to_bits()))
            .collect();
        let specials = vec![
            (ts(0), f64::NAN.to_bits()),
            (ts(1), postwatch_model::metrics::STALE_NAN_BITS),
            (ts(2), (-0.0f64).to_bits()),
            (ts(3), f64::INFINITY.to_bits()),
            (ts(4), 1e300f64.to_bits()),
            (ts(5), std::f64::consts::PI.to_bits()),
        ];
        let irregular = vec![(-5, 1u64), (7, 2), (7_000_000, 3), (i64::MAX, 4)];
        // Page-sized steps (a common divisor), 300 values (a partial packed block), and
        // extremes that need the full 64-bit width.
        let pages: Vec<_> = (0..300)
            .map(|i| {
                (
                    ts(i),
                    (((1i64 << 30) + (i * 7919 % 13) * 4096) as f64).to_bits(),
                )
            })
            .collect();
        let extremes = vec![
            (ts(0), (-9_007_199_254_740_992.0f64).to_bits()),
            (ts(1), 9_007_199_254_740_992.0f64.to_bits()),
            (ts(2), 0f64.to_bits()),
            (ts(3), (-9_007_199_254_740_992.0f64).to_bits()),
        ];
        for series in [
            &constant, &counter, &gauge, &specials, &irregular, &pages, &extremes,
        ] {
            round_trip(series);
        }
        assert!(round_trip(&constant) < 40, "constant series stays tiny");
        round_trip(&[]);
        round_trip(&[(5, 5)]);
    }

    #[test]
    fn values_computed_by_multiplying_stay_decimal() {
        // A counter in 1/100 steps computed as `k * 0.01` (not parsed from "12.34").
        let mut k = 123_456_789i64;
        let samples: Vec<_> = (0..1000i64)
            .map(|i| {
                k += 100 + (i * 7919) % 61;
                (1_700_000_000_000 + i * 15_000, (k as f64 * 0.01).to_bits())
            })
            .collect();
        let differ = samples
            .iter()
            .filter(|&&(_, bits)| {
                let k = (f64::from_bits(bits) * 100.0).round();
                (k / 100.0).to_bits() != bits
            })
            .count();
        assert!(
            differ > 50,
            "the data must exercise the multiplied form: {differ}"
        );
        // XOR would take several bytes per sample; the increments need about 6 bits.
        let size = round_trip(&samples);
        assert!(size < 1500, "{size} bytes for 1000 samples");
    }

    #[test]
    fn corrupt_chunks_are_errors_not_panics() {
        let samples: Vec<_> = (0..500).map(|i| (i * 1000, (i as f64).to_bits())).collect();
        let chunk = encode_chunk(&samples, 3, ChunkEffort::Smallest);
        for cut in 0..chunk.len() {
            let _ = decode_chunk(&chunk[..cut]);
        }
        for i in 0..chunk.len() {
            let mut bad = chunk.clone();
            bad[i] ^= 0x5a;
            let _ = decode_chunk(&bad);
        }
        assert!(decode_chunk(&[9]).is_err());
        assert!(decode_chunk(&[]).is_err());
    }
}
