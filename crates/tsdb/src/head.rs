//! One series in the head: its recent samples as compressed chunks plus an open chunk.
//!
//! Samples arrive in time order almost always. They go into the open chunk (plain
//! `(timestamp, value bits)` pairs); once it holds [`CHUNK_SAMPLES`] samples, or the next
//! sample falls in another block range, it is encoded (delta-of-delta timestamps,
//! decimal or XOR values, no zstd: a few bytes per sample instead of 16) and a new one
//! starts. Chunks never straddle a block boundary unless an out-of-order sample lands in
//! one, so cutting a block usually drops whole chunks. The rare sample older than the
//! open chunk (inside the out-of-order window) decodes, amends and re-encodes the chunk
//! it belongs to.

use crate::encoding::{decode_samples, encode_samples};
use postwatch_model::metrics::Labels;

/// Samples per closed chunk (Prometheus cuts its head chunks at 120 too: at 15 s
/// scrapes, 30 minutes).
pub(crate) const CHUNK_SAMPLES: usize = 120;

/// An encoded run of samples, sorted with unique timestamps.
#[derive(Clone)]
pub(crate) struct HeadChunk {
    pub(crate) mint: i64,
    pub(crate) maxt: i64,
    pub(crate) count: u32,
    data: Box<[u8]>,
}

impl HeadChunk {
    fn encode(samples: &[(i64, u64)]) -> Option<HeadChunk> {
        let (first, last) = (samples.first()?, samples.last()?);
        Some(HeadChunk {
            mint: first.0,
            maxt: last.0,
            count: samples.len() as u32,
            data: encode_samples(samples, true).into_boxed_slice(),
        })
    }

    /// The chunk's samples. The bytes were encoded by this process, so a failure is a
    /// bug; it yields no samples rather than a panic.
    pub(crate) fn decode(&self) -> Vec<(i64, u64)> {
        decode_samples(&self.data).unwrap_or_default()
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.data.len()
    }
}

pub(crate) struct HeadSeries {
    pub(crate) labels: Labels,
    /// Closed chunks, oldest first, not overlapping, all older than `open`.
    chunks: Vec<HeadChunk>,
    /// The newest samples, sorted, unique timestamps.
    open: Vec<(i64, u64)>,
    /// Newest timestamp ever accepted, even if already cut into a block.
    pub(crate) newest: i64,
}

/// What a block cut takes from one series: whole chunks and loose samples.
pub(crate) struct SeriesSnapshot {
    pub(crate) labels: Labels,
    chunks: Vec<HeadChunk>,
    loose: Vec<(i64, u64)>,
    end: i64,
}

impl SeriesSnapshot {
    /// The samples older than the cut's end, sorted.
    pub(crate) fn samples(&self) -> Vec<(i64, u64)> {
        let total = self.chunks.iter().map(|c| c.count as usize).sum::<usize>() + self.loose.len();
        let mut out = Vec::with_capacity(total);
        for chunk in &self.chunks {
            out.extend(chunk.decode().into_iter().filter(|&(t, _)| t < self.end));
        }
        out.extend_from_slice(&self.loose);
        out
    }
}

impl HeadSeries {
    pub(crate) fn new(labels: Labels) -> HeadSeries {
        HeadSeries {
            labels,
            chunks: Vec::new(),
            open: Vec::new(),
            newest: i64::MIN,
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.chunks.is_empty() && self.open.is_empty()
    }

    pub(crate) fn first_ts(&self) -> Option<i64> {
        self.chunks
            .first()
            .map(|c| c.mint)
            .or_else(|| self.open.first().map(|&(t, _)| t))
    }

    fn last_ts(&self) -> Option<i64> {
        self.open
            .last()
            .map(|&(t, _)| t)
            .or_else(|| self.chunks.last().map(|c| c.maxt))
    }

    /// Heap bytes held by samples (for the status page).
    pub(crate) fn sample_bytes(&self) -> usize {
        self.chunks.iter().map(HeadChunk::heap_bytes).sum::<usize>()
            + self.open.capacity() * std::mem::size_of::<(i64, u64)>()
    }

    /// Inserts in order; an equal timestamp replaces (only replay can bring one).
    /// `block_ms` is the block duration: open chunks are closed at its boundaries.
    /// Returns whether the series has one sample more.
    pub(crate) fn insert(&mut self, ts: i64, bits: u64, block_ms: i64) -> bool {
        self.newest = self.newest.max(ts);
        if self.last_ts().is_none_or(|last| last < ts) {
            if let Some(&(first, _)) = self.open.first() {
                if self.open.len() >= CHUNK_SAMPLES
                    || first.div_euclid(block_ms) != ts.div_euclid(block_ms)
                {
                    self.close_open();
                }
            }
            if self.open.capacity() == 0 {
                self.open.reserve_exact(CHUNK_SAMPLES);
            }
            self.open.push((ts, bits));
            return true;
        }
        if self.open.first().is_some_and(|&(first, _)| first <= ts) {
            return insert_sorted(&mut self.open, ts, bits);
        }
        // Older than the open chunk: into the closed chunk it belongs to (the first one
        // that ends at or after it), or at the front of the open one.
        let i = self.chunks.partition_point(|c| c.maxt < ts);
        let Some(chunk) = self.chunks.get_mut(i) else {
            return insert_sorted(&mut self.open, ts, bits);
        };
        let mut samples = chunk.decode();
        let added = insert_sorted(&mut samples, ts, bits);
        if let Some(amended) = HeadChunk::encode(&samples) {
            *chunk = amended;
        }
        added
    }

    fn close_open(&mut self) {
        if let Some(chunk) = HeadChunk::encode(&self.open) {
            self.chunks.push(chunk);
        }
        self.open.clear();
    }

    /// The value stored at `ts`, if any.
    pub(crate) fn value_at(&self, ts: i64) -> Option<u64> {
        if ts > self.last_ts()? {
            return None;
        }
        if self.open.first().is_some_and(|&(first, _)| first <= ts) {
            return find(&self.open, ts);
        }
        let chunk = self
            .chunks
            .get(self.chunks.partition_point(|c| c.maxt < ts))?;
        if chunk.mint > ts {
            return None;
        }
        find(&chunk.decode(), ts)
    }

    /// Samples with `start <= t <= end`, sorted.
    pub(crate) fn range(&self, start: i64, end: i64) -> Vec<(i64, u64)> {
        let mut out = Vec::new();
        for chunk in self
            .chunks
            .iter()
            .filter(|c| c.maxt >= start && c.mint <= end)
        {
            let samples = chunk.decode();
            let from = samples.partition_point(|&(t, _)| t < start);
            let to = samples.partition_point(|&(t, _)| t <= end);
            out.extend_from_slice(samples.get(from..to).unwrap_or_default());
        }
        let from = self.open.partition_point(|&(t, _)| t < start);
        let to = self.open.partition_point(|&(t, _)| t <= end);
        out.extend_from_slice(self.open.get(from..to).unwrap_or_default());
        out
    }

    /// Whether any sample has `start <= t <= end`.
    pub(crate) fn has_in_range(&self, start: i64, end: i64) -> bool {
        for chunk in self
            .chunks
            .iter()
            .filter(|c| c.maxt >= start && c.mint <= end)
        {
            // A chunk's own bounds are samples; between them only decoding tells.
            if chunk.mint >= start || chunk.maxt <= end {
                return true;
            }
            if chunk.decode().iter().any(|&(t, _)| t >= start && t <= end) {
                return true;
            }
        }
        let from = self.open.partition_point(|&(t, _)| t < start);
        self.open.get(from).is_some_and(|&(t, _)| t <= end)
    }

    /// What a cut at `end` takes (samples older than `end`), if anything.
    pub(crate) fn snapshot_before(&self, end: i64) -> Option<SeriesSnapshot> {
        if self.first_ts().is_none_or(|t| t >= end) {
            return None;
        }
        let chunks: Vec<HeadChunk> = self
            .chunks
            .iter()
            .take_while(|c| c.mint < end)
            .cloned()
            .collect();
        let n = self.open.partition_point(|&(t, _)| t < end);
        Some(SeriesSnapshot {
            labels: self.labels.clone(),
            chunks,
            loose: self.open.get(..n).unwrap_or_default().to_vec(),
            end,
        })
    }

    /// Drops the samples older than `end`; returns how many.
    pub(crate) fn drop_before(&mut self, end: i64) -> u64 {
        let mut removed = 0u64;
        let whole = self.chunks.partition_point(|c| c.maxt < end);
        for chunk in self.chunks.drain(..whole) {
            removed += u64::from(chunk.count);
        }
        if let Some(chunk) = self.chunks.first_mut().filter(|c| c.mint < end) {
            // Straddles the boundary (an out-of-order sample made it): keep the rest.
            let samples = chunk.decode();
            let n = samples.partition_point(|&(t, _)| t < end);
            removed += n as u64;
            match HeadChunk::encode(samples.get(n..).unwrap_or_default()) {
                Some(rest) => *chunk = rest,
                None => {
                    self.chunks.remove(0);
                }
            }
        }
        let n = self.open.partition_point(|&(t, _)| t < end);
        if n > 0 {
            self.open.drain(..n);
            removed += n as u64;
        }
        if self.open.is_empty() && self.chunks.is_empty() {
            // A series that may go quiet should not keep its buffer.
            self.open = Vec::new();
        }
        removed
    }
}

fn find(samples: &[(i64, u64)], ts: i64) -> Option<u64> {
    samples
        .binary_search_by_key(&ts, |&(t, _)| t)
        .ok()
        .and_then(|i| samples.get(i))
        .map(|&(_, bits)| bits)
}

/// Inserts into sorted samples; an equal timestamp replaces. Returns whether one was added.
fn insert_sorted(samples: &mut Vec<(i64, u64)>, ts: i64, bits: u64) -> bool {
    match samples.binary_search_by_key(&ts, |&(t, _)| t) {
        Ok(i) => {
            if let Some(sample) = samples.get_mut(i) {
                sample.1 = bits;
            }
            false
        }
        Err(i) => {
            samples.insert(i, (ts, bits));
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BLOCK: i64 = 7_200_000;

    /// The same operations on a plain sorted vector.
    fn model_insert(model: &mut Vec<(i64, u64)>, ts: i64, bits: u64) -> bool {
        insert_sorted(model, ts, bits)
    }

    #[test]
    fn chunked_series_behaves_like_a_sorted_vector() {
        let mut rng = fastrand::Rng::with_seed(7);
        let mut series = HeadSeries::new(Labels::from_pairs([("__name__", "x")]));
        let mut model: Vec<(i64, u64)> = Vec::new();
        let mut ts = BLOCK - 600_000;
        for step in 0..2000 {
            // Mostly in order; sometimes up to 40 steps back (out-of-order window), and
            // sometimes an exact repeat.
            let t = match rng.u32(..20) {
                0 => ts - 15_000 * rng.i64(1..40),
                1 => ts,
                _ => {
                    ts += 15_000;
                    ts
                }
            };
            let bits = ((step as f64) * 0.25).to_bits();
            assert_eq!(
                series.insert(t, bits, BLOCK),
                model_insert(&mut model, t, bits),
                "insert {t}"
            );
            if step % 97 == 0 {
                let probe = t - 15_000 * rng.i64(0..60);
                assert_eq!(series.value_at(probe), find(&model, probe), "{probe}");
            }
        }
        assert!(series.chunks.len() > 10, "chunks are cut");
        // No chunk straddles a block boundary unless an old sample was put in it.
        let all = series.range(i64::MIN, i64::MAX);
        assert_eq!(all, model);
        let (a, b) = (model[300].0, model[900].0);
        let expected: Vec<_> = model
            .iter()
            .copied()
            .filter(|&(t, _)| t >= a && t <= b)
            .collect();
        assert_eq!(series.range(a, b), expected);
        assert!(series.has_in_range(a, a));
        assert!(!series.has_in_range(a + 1, a + 2));

        // Cut at block boundaries and at an arbitrary time.
        for end in [2 * BLOCK, 2 * BLOCK + 1_234_567, model[model.len() - 5].0] {
            let snapshot = series.snapshot_before(end).expect("samples before the cut");
            let before: Vec<_> = model.iter().copied().filter(|&(t, _)| t < end).collect();
            assert_eq!(snapshot.samples(), before);
            assert_eq!(series.drop_before(end), before.len() as u64);
            model.retain(|&(t, _)| t >= end);
            assert_eq!(series.range(i64::MIN, i64::MAX), model);
            assert_eq!(series.first_ts(), model.first().map(|&(t, _)| t));
        }
        let end = model.last().unwrap().0 + 1;
        series.drop_before(end);
        assert!(series.is_empty());
        assert!(series.snapshot_before(i64::MAX).is_none());
    }

    #[test]
    fn a_chunk_uses_a_few_bytes_per_sample() {
        let mut series = HeadSeries::new(Labels::from_pairs([("__name__", "x")]));
        let mut value = 1000.0f64;
        for i in 0..CHUNK_SAMPLES as i64 * 10 {
            value += 1.5 + (i % 7) as f64 * 0.25;
            series.insert(i * 15_000, value.to_bits(), BLOCK);
        }
        let closed: usize = series.chunks.iter().map(HeadChunk::heap_bytes).sum();
        let samples: u32 = series.chunks.iter().map(|c| c.count).sum();
        assert!(
            (closed as f64) / f64::from(samples) < 4.0,
            "{closed} bytes for {samples} samples"
        );
    }
}
