//! `/proc/stat` (per-CPU times, boot time, context switches, forks, interrupts, running
//! and blocked tasks) and `/proc/loadavg`.

use std::collections::HashMap;

/// The CPU modes node_exporter reports, in `/proc/stat` column order.
pub(crate) const CPU_MODES: [&str; 8] = [
    "user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal",
];

/// One `cpuN` line in seconds: the eight modes, then guest and guest_nice.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct CpuTimes(pub(crate) [f64; 10]);

impl CpuTimes {
    pub(crate) fn idle(&self) -> f64 {
        self.0[3]
    }
}

/// What `/proc/stat` says; absent lines stay `None`.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct KernelStat {
    /// (cpu number, times), in file order.
    pub(crate) cpus: Vec<(u32, CpuTimes)>,
    pub(crate) boot_time: Option<f64>,
    pub(crate) context_switches: Option<f64>,
    pub(crate) forks: Option<f64>,
    pub(crate) interrupts: Option<f64>,
    pub(crate) procs_running: Option<f64>,
    pub(crate) procs_blocked: Option<f64>,
    /// Lines that looked like ours but did not parse.
    pub(crate) malformed: Vec<String>,
}

/// Parses `/proc/stat` into `out` (cleared first). `user_hz` converts ticks to seconds.
/// Unknown lines are ignored; known lines that do not parse are listed in `malformed`.
pub(crate) fn parse_stat(text: &str, user_hz: f64, out: &mut KernelStat) {
    out.cpus.clear();
    out.malformed.clear();
    out.boot_time = None;
    out.context_switches = None;
    out.forks = None;
    out.interrupts = None;
    out.procs_running = None;
    out.procs_blocked = None;
    for line in text.lines() {
        let mut fields = line.split_ascii_whitespace();
        let Some(key) = fields.next() else {
            continue;
        };
        let first_number = |fields: &mut std::str::SplitAsciiWhitespace| {
            fields
                .next()
                .and_then(|v| v.parse::<u64>().ok())
                .map(|n| n as f64)
        };
        let slot = match key {
            "btime" => &mut out.boot_time,
            "ctxt" => &mut out.context_switches,
            "processes" => &mut out.forks,
            // The first number of `intr` is the total; the thousands after it are per IRQ
            // and never parsed.
            "intr" => &mut out.interrupts,
            "procs_running" => &mut out.procs_running,
            "procs_blocked" => &mut out.procs_blocked,
            // The aggregate `cpu` line is not reported (node_exporter sums nothing either).
            "cpu" => continue,
            _ => {
                if let Some(id) = key.strip_prefix("cpu") {
                    match (id.parse::<u32>(), parse_cpu_times(fields, user_hz)) {
                        (Ok(id), Some(times)) => out.cpus.push((id, times)),
                        _ => out.malformed.push(truncate(line)),
                    }
                }
                continue;
            }
        };
        match first_number(&mut fields) {
            Some(value) => *slot = Some(value),
            None => out.malformed.push(truncate(line)),
        }
    }
}

/// At least user, nice, system and idle must be there (old kernels stop after a few
/// more); missing later columns count as zero, extra ones are ignored.
fn parse_cpu_times(fields: std::str::SplitAsciiWhitespace, user_hz: f64) -> Option<CpuTimes> {
    let mut times = CpuTimes::default();
    let mut count = 0;
    for (slot, field) in times.0.iter_mut().zip(fields) {
        *slot = field.parse::<u64>().ok()? as f64 / user_hz;
        count += 1;
    }
    (count >= 4).then_some(times)
}

fn truncate(line: &str) -> String {
    const SHOWN: usize = 80;
    match line.char_indices().nth(SHOWN) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line.to_string(),
    }
}

/// An idle counter that goes back this far means the CPU was unplugged and plugged
/// again: its counters restart (node_exporter's rule).
const JUMP_BACK_SECONDS: f64 = 3.0;

/// Keeps CPU counters monotonic: the kernel's iowait (and, across hotplug, every counter)
/// can go backwards, which a counter must not. Same rule as node_exporter.
#[derive(Debug, Default)]
pub(crate) struct CpuGuard {
    last: HashMap<u32, CpuTimes>,
}

impl CpuGuard {
    /// Replaces each CPU's times in `cpus` by the guarded ones and forgets offline CPUs.
    pub(crate) fn apply(&mut self, cpus: &mut [(u32, CpuTimes)]) {
        for (id, times) in cpus.iter_mut() {
            let last = self.last.entry(*id).or_default();
            if last.idle() - times.idle() >= JUMP_BACK_SECONDS {
                *last = CpuTimes::default();
            }
            for (kept, new) in last.0.iter_mut().zip(times.0.iter()) {
                if *new > *kept {
                    *kept = *new;
                }
            }
            *times = *last;
        }
        if self.last.len() != cpus.len() {
            self.last
                .retain(|id, _| cpus.iter().any(|(online, _)| online == id));
        }
    }
}

/// The three load averages of `/proc/loadavg`.
pub(crate) fn parse_loadavg(text: &str) -> Result<[f64; 3], String> {
    let mut fields = text.split_ascii_whitespace();
    let mut loads = [0.0; 3];
    for slot in loads.iter_mut() {
        *slot = fields
            .next()
            .and_then(|f| f.parse::<f64>().ok())
            .filter(|v| v.is_finite())
            .ok_or_else(|| {
                format!(
                    "expected three load averages, found {:?}",
                    truncate(text.trim())
                )
            })?;
    }
    Ok(loads)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_real_proc_stat() {
        let text = include_str!("../../../testdata/hostmetrics/proc/stat");
        let mut stat = KernelStat::default();
        parse_stat(text, 100.0, &mut stat);
        assert!(stat.malformed.is_empty(), "{:?}", stat.malformed);
        let ids: Vec<u32> = stat.cpus.iter().map(|(id, _)| *id).collect();
        assert_eq!(ids, [0, 1]);
        // cpu0's user column of the fixture is 790230 ticks.
        assert_eq!(stat.cpus[0].1 .0[0], 7902.3);
        assert_eq!(stat.boot_time, Some(1795721668.0));
        assert!(stat.interrupts.is_some_and(|n| n > 0.0));
        assert!(stat.context_switches.is_some() && stat.forks.is_some());
        assert!(stat.procs_running.is_some() && stat.procs_blocked.is_some());
    }

    #[test]
    fn odd_stat_lines_are_reported_not_fatal() {
        let text = "cpu  1 2 3 4\ncpu0 100 200\ncpuX 1 2 3 4\ncpu1 100 0 100 500\n\
                    ctxt\nbtime 12\nfuture_field 1 2 3\nprocs_running x\n";
        let mut stat = KernelStat::default();
        parse_stat(text, 100.0, &mut stat);
        assert_eq!(stat.cpus.len(), 1);
        assert_eq!(stat.cpus[0].0, 1);
        assert_eq!(stat.cpus[0].1 .0[..5], [1.0, 0.0, 1.0, 5.0, 0.0]);
        assert_eq!(stat.boot_time, Some(12.0));
        assert_eq!(stat.context_switches, None);
        assert_eq!(stat.procs_running, None);
        assert_eq!(stat.malformed.len(), 4, "{:?}", stat.malformed);
    }

    #[test]
    fn guard_keeps_counters_monotonic_and_resets_on_hotplug() {
        let mut guard = CpuGuard::default();
        let times = |user: f64, iowait: f64, idle: f64| {
            CpuTimes([user, 0.0, 0.0, idle, iowait, 0.0, 0.0, 0.0, 0.0, 0.0])
        };
        let mut cpus = vec![(0, times(10.0, 5.0, 100.0)), (1, times(1.0, 1.0, 50.0))];
        guard.apply(&mut cpus);
        let mut cpus = vec![(0, times(11.0, 4.0, 101.0))];
        guard.apply(&mut cpus);
        assert_eq!(
            cpus[0].1,
            times(11.0, 5.0, 101.0),
            "iowait must not go back"
        );
        assert_eq!(guard.last.len(), 1, "offline cpu1 is forgotten");
        let mut cpus = vec![(0, times(0.5, 0.1, 2.0))];
        guard.apply(&mut cpus);
        assert_eq!(cpus[0].1, times(0.5, 0.1, 2.0), "idle jumped back: restart");
    }

    #[test]
    fn loadavg_needs_three_numbers() {
        assert_eq!(
            parse_loadavg("0.52 1.01 2.50 3/171 4242\n"),
            Ok([0.52, 1.01, 2.5])
        );
        let err = parse_loadavg("0.52 1.01\n").expect_err("truncated");
        assert!(err.contains("0.52 1.01"), "{err}");
        assert!(parse_loadavg("nan 1 2").is_err());
    }
}
