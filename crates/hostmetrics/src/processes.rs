//! One pass over `/proc/PID/stat` feeds both node_exporter's processes collector
//! (states, threads, pids) and postwatch's top processes by CPU and by RSS.

use std::collections::HashMap;
use std::ops::Range;

/// The fields of `/proc/PID/stat` we use.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct PidStat<'a> {
    pub(crate) comm: &'a str,
    pub(crate) state: char,
    /// utime + stime, in ticks.
    pub(crate) cpu_ticks: u64,
    pub(crate) num_threads: u64,
    /// Start time after boot, in ticks: tells a reused PID from the old process.
    pub(crate) start_ticks: u64,
    pub(crate) rss_pages: u64,
}

/// Parses `/proc/PID/stat`. The command sits in parentheses and may itself hold spaces
/// and parentheses, so the fields start after the *last* `)`.
pub(crate) fn parse_pid_stat(text: &str) -> Option<PidStat<'_>> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let comm = text.get(open + 1..close)?;
    let mut fields = text.get(close + 1..)?.split_ascii_whitespace();
    // Field numbers as in proc(5); `state` is field 3.
    let mut state = None;
    let (mut utime, mut stime, mut threads, mut start, mut rss) = (None, None, None, None, None);
    for (number, field) in (3..).zip(&mut fields) {
        match number {
            3 => state = field.chars().next(),
            14 => utime = field.parse::<u64>().ok(),
            15 => stime = field.parse::<u64>().ok(),
            20 => threads = field.parse::<u64>().ok(),
            22 => start = field.parse::<u64>().ok(),
            24 => {
                // RSS can be reported negative transiently on some kernels; treat as 0.
                rss = field.parse::<i64>().ok().map(|pages| pages.max(0) as u64);
                break;
            }
            _ => {}
        }
    }
    Some(PidStat {
        comm,
        state: state?,
        cpu_ticks: utime?.checked_add(stime?)?,
        num_threads: threads?,
        start_ticks: start?,
        rss_pages: rss?,
    })
}

/// One process kept for the top lists; its command lives in the shared arena.
#[derive(Debug, Clone)]
pub(crate) struct ProcessEntry {
    pub(crate) pid: u32,
    pub(crate) comm: Range<usize>,
    pub(crate) cpu_ticks: u64,
    /// CPU ticks since the previous collection (all of them on the first one).
    pub(crate) cpu_ticks_recent: u64,
    pub(crate) rss_pages: u64,
}

/// The per-collection tallies and the state carried between collections.
#[derive(Debug, Default)]
pub(crate) struct ProcessTally {
    pub(crate) pids: u64,
    pub(crate) threads: u64,
    /// Count per state letter (few distinct letters: a small vector beats a map).
    pub(crate) states: Vec<(char, u64)>,
    pub(crate) thread_states: Vec<(char, u64)>,
    pub(crate) entries: Vec<ProcessEntry>,
    /// Commands of `entries`, back to back: one allocation reused, not one per process.
    pub(crate) comm_arena: String,
    /// (start ticks, cpu ticks) per pid at the previous and the current collection.
    previous: HashMap<u32, (u64, u64)>,
    current: HashMap<u32, (u64, u64)>,
}

pub(crate) fn bump(counts: &mut Vec<(char, u64)>, state: char) {
    match counts.iter_mut().find(|(known, _)| *known == state) {
        Some((_, count)) => *count += 1,
        None => counts.push((state, 1)),
    }
}

impl ProcessTally {
    pub(crate) fn begin(&mut self) {
        self.pids = 0;
        self.threads = 0;
        self.states.clear();
        self.thread_states.clear();
        self.entries.clear();
        self.comm_arena.clear();
        self.current.clear();
    }

    /// Counts one process.
    pub(crate) fn add(&mut self, pid: u32, stat: &PidStat<'_>) {
        self.pids += 1;
        self.threads += stat.num_threads;
        bump(&mut self.states, stat.state);
        let recent = match self.previous.get(&pid) {
            Some(&(start, ticks)) if start == stat.start_ticks => {
                stat.cpu_ticks.saturating_sub(ticks)
            }
            _ => stat.cpu_ticks,
        };
        self.current.insert(pid, (stat.start_ticks, stat.cpu_ticks));
        let start = self.comm_arena.len();
        self.comm_arena.push_str(stat.comm);
        self.entries.push(ProcessEntry {
            pid,
            comm: start..self.comm_arena.len(),
            cpu_ticks: stat.cpu_ticks,
            cpu_ticks_recent: recent,
            rss_pages: stat.rss_pages,
        });
    }

    /// Ends a collection: this one's CPU ticks become the reference for the next.
    pub(crate) fn finish(&mut self) {
        std::mem::swap(&mut self.previous, &mut self.current);
    }

    pub(crate) fn comm(&self, entry: &ProcessEntry) -> &str {
        self.comm_arena.get(entry.comm.clone()).unwrap_or("")
    }

    /// Indices of the `n` entries ranked highest by `key` (ties: lower pid first).
    pub(crate) fn top_by(&self, n: usize, key: impl Fn(&ProcessEntry) -> u64) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.entries.len()).collect();
        order.sort_unstable_by(|&a, &b| {
            let (a, b) = (&self.entries[a], &self.entries[b]);
            key(b).cmp(&key(a)).then(a.pid.cmp(&b.pid))
        });
        order.truncate(n);
        order
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_real_pid_stat() {
        let text = include_str!("../../../testdata/hostmetrics/proc/1/stat");
        let stat = parse_pid_stat(text).expect("fixture parses");
        assert!(!stat.comm.is_empty());
        assert!(stat.num_threads >= 1);
        assert!("RSDZTtWXxKWPI".contains(stat.state), "{}", stat.state);
    }

    #[test]
    fn comm_with_spaces_and_parentheses() {
        let text = "42 (my (odd) prog) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0 \
                    777 1000000 321 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0";
        let stat = parse_pid_stat(text).expect("parses");
        assert_eq!(stat.comm, "my (odd) prog");
        assert_eq!(stat.state, 'S');
        assert_eq!(stat.cpu_ticks, 300);
        assert_eq!(stat.num_threads, 3);
        assert_eq!(stat.start_ticks, 777);
        assert_eq!(stat.rss_pages, 321);
    }

    #[test]
    fn truncated_or_garbage_stat_is_none() {
        assert_eq!(parse_pid_stat(""), None);
        assert_eq!(parse_pid_stat("42 (x) S 1 2 3"), None);
        assert_eq!(parse_pid_stat("42 x) S 1 2 3"), None);
        assert_eq!(parse_pid_stat(")( S"), None);
        let bad_number = "42 (x) S 1 42 42 0 -1 0 0 0 0 0 zz 50 0 0 20 0 3 0 777 1 321";
        assert_eq!(parse_pid_stat(bad_number), None);
    }

    fn stat(comm: &str, ticks: u64, start: u64, rss: u64) -> PidStat<'_> {
        PidStat {
            comm,
            state: 'S',
            cpu_ticks: ticks,
            num_threads: 1,
            start_ticks: start,
            rss_pages: rss,
        }
    }

    #[test]
    fn top_by_recent_cpu_and_pid_reuse() {
        let mut tally = ProcessTally::default();
        tally.begin();
        tally.add(1, &stat("busy-before", 1000, 5, 10));
        tally.add(2, &stat("quiet", 10, 6, 500));
        tally.finish();
        tally.begin();
        tally.add(1, &stat("busy-before", 1001, 5, 10));
        tally.add(2, &stat("quiet", 60, 6, 500));
        tally.add(3, &stat("reused", 30, 99, 1));
        tally.finish();
        let top = tally.top_by(2, |e| e.cpu_ticks_recent);
        let names: Vec<&str> = top.iter().map(|&i| tally.comm(&tally.entries[i])).collect();
        assert_eq!(names, ["quiet", "reused"]);
        let by_rss = tally.top_by(1, |e| e.rss_pages);
        assert_eq!(tally.entries[by_rss[0]].pid, 2);
        assert_eq!((tally.pids, tally.threads), (3, 3));
        assert_eq!(tally.states, [('S', 3)]);
    }
}
