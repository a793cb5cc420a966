//! Host metric collectors for the postwatch agent, read from `/proc` and `/sys` under
//! **node_exporter 1.5's metric names, label names, units and conventions**, so that
//! dashboards and alerting rules written for node_exporter work unchanged.
//!
//! [`Collector::collect`] returns typed metric families with help and samples without
//! timestamps. A collector part whose files are missing or unreadable adds a warning
//! ([`Collector::warnings`]) and the others still report.
//!
//! # What is produced (node_exporter collector → families)
//!
//! | node_exporter collector | families | source |
//! |---|---|---|
//! | cpu | `node_cpu_seconds_total{cpu,mode}`, `node_cpu_guest_seconds_total{cpu,mode}` (ticks ÷ `USER_HZ`, kept monotonic as node_exporter does) | `/proc/stat` |
//! | stat | `node_boot_time_seconds`, `node_context_switches_total`, `node_forks_total`, `node_intr_total`, `node_procs_running`, `node_procs_blocked` | `/proc/stat` (same read) |
//! | loadavg | `node_load1`, `node_load5`, `node_load15` | `/proc/loadavg` |
//! | meminfo | `node_memory_<Field>[_bytes]` (kB × 1024; `Active(anon)` → `Active_anon`), swap included | `/proc/meminfo` |
//! | diskstats | `node_disk_*` (sectors × 512 → bytes, ms → s, only the columns the kernel has), `node_disk_info{device,major,minor,…}`, `node_disk_filesystem_info` and `node_disk_device_mapper_info` when udev data exists | `/proc/diskstats`, `/run/udev/data` |
//! | filesystem | `node_filesystem_{size,free,avail}_bytes`, `node_filesystem_files`, `node_filesystem_files_free`, `node_filesystem_readonly`, `node_filesystem_device_error`, by `device,fstype,mountpoint` | `PROC/1/mounts`, `statfs` under `rootfs` |
//! | netdev | `node_network_{receive,transmit}_{bytes,packets,errs,drop,fifo,compressed}_total`, `receive_{frame,multicast,nohandler}`, `transmit_{colls,carrier}` | `/proc/net/dev`, `SYS/class/net/DEV/statistics/rx_nohandler` |
//! | uname | `node_uname_info` | `uname(2)` |
//! | time | `node_time_seconds`, `node_time_zone_offset_seconds{time_zone}`, `node_time_clocksource_{available,current}_info` | clock, `localtime_r`, `SYS/devices/system/clocksource` |
//! | processes (off by default in node_exporter) | `node_processes_state{state}`, `node_processes_threads_state{thread_state}`, `node_processes_threads`, `node_processes_pids`, `node_processes_max_processes`, `node_processes_max_threads` | `/proc/PID/stat`, `/proc/PID/task/TID/stat` for multi-threaded processes only, `/proc/sys/kernel/{pid_max,threads-max}` |
//!
//! Default exclusions are node_exporter 1.5's (see [`Options::default`]).
//!
//! # postwatch-specific: top processes
//!
//! node_exporter has no per-process metrics at all (that is process-exporter's job, with
//! its own names), so there is no name to reuse. The agent adds, for the `top_processes`
//! processes that used most CPU since the previous collection (all CPU on the first) and
//! separately for those with the largest resident set:
//!
//! - `postwatch_process_cpu_seconds_total{pid,comm}` (counter: utime + stime ÷ `USER_HZ`)
//! - `postwatch_process_resident_memory_bytes{pid,comm}` (gauge: RSS pages × page size)
//!
//! They come from the same `/proc/PID/stat` read as the processes counts. The `postwatch_`
//! prefix keeps them apart from anything node_exporter may define later.
//!
//! # Differences from node_exporter, and its default families we do not produce
//!
//! - `node_network_*` from `/proc/net/dev`, as node_exporter does with
//!   `--no-collector.netdev.netlink`; with netlink (its default) `receive_drop` leaves out
//!   `rx_missed_errors` and `receive_fifo`/`receive_frame` split errors differently. Bytes,
//!   packets and device sets are the same. `receive_nohandler` comes from sysfs.
//! - Empty label values are absent labels (Prometheus semantics, and what
//!   `postwatch_model::metrics::Labels` keeps): `node_disk_info` without udev data has
//!   `device,major,minor` only.
//! - `statfs` runs on one long-lived worker thread with `mount_timeout`: a hung network
//!   mount costs one timeout, is then reported with `device_error` 1 and skipped until
//!   its call returns (node_exporter 1.5 blocks its scrape on the first hang).
//! - Not produced (collectors enabled by default in node_exporter 1.5): arp, bcache,
//!   bonding, btrfs, conntrack, cpufreq, dmi, edac, entropy, fibrechannel, filefd, hwmon,
//!   infiniband, ipvs, mdadm, netclass (`node_network_up`, `_mtu_bytes`, `_info`, `_speed_bytes`,
//!   …), netstat, nfs, nfsd, nvme, os, powersupplyclass, pressure, rapl, schedstat,
//!   selinux, sockstat, softnet, systemd, tapestats, textfile, thermal_zone, timex,
//!   udp_queues, vmstat, xfs, zfs; node_exporter's own `node_scrape_*`, `go_*`,
//!   `process_*` and `promhttp_*` self-metrics. The issue asks for CPU, memory, swap,
//!   load, disk I/O, filesystems, network and processes; these others are hardware-,
//!   filesystem- or service-specific and can be added collector by collector.
//! - `node_disk_ata_*` and `node_disk_device_mapper_backing_device_info` are not read.
//!
//! # Cost
//!
//! One [`Collector`] reuses its read buffers, path buffer and parse vectors; each file is
//! read once per collection (the `/proc/PID/stat` pass serves both the process counts and
//! the top lists; task directories are only listed for multi-threaded processes); lines
//! are split by hand, never by a regex; exclusion patterns are compiled once and their
//! verdicts remembered per name; no thread is spawned per collection (one `statfs`
//! worker lives as long as the collector). `cargo bench -p
//! postwatch-hostmetrics` measures one collection beside node_exporter's scrape.

mod diskstats;
mod family;
mod filesystem;
mod meminfo;
mod netdev;
mod processes;
mod read;
mod stat;
mod statfs_worker;
mod sys;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use postwatch_model::metrics::{MetricFamily, MetricType};

use family::{family, push, single};
use read::{read_into, read_number, NameFilter};

/// node_exporter 1.5's `--collector.diskstats.device-exclude` default: partitions, RAM
/// disks, loop and floppy devices.
pub const DEFAULT_DISK_DEVICE_EXCLUDE: &str = r"^(ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$";
/// node_exporter 1.5's `--collector.filesystem.mount-points-exclude` default.
pub const DEFAULT_MOUNT_POINTS_EXCLUDE: &str =
    r"^/(dev|proc|run|sys|mnt|media|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)";
/// node_exporter 1.5's `--collector.filesystem.fs-types-exclude` default: pseudo
/// filesystems.
pub const DEFAULT_FS_TYPES_EXCLUDE: &str = r"^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs|iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|squashfs|sysfs|tracefs)$";
/// node_exporter 1.5's `--collector.netdev.device-exclude` default.
pub const DEFAULT_NETDEV_DEVICE_EXCLUDE: &str = "^lo$";

/// Where to read and what to leave out. Patterns are unanchored regular expressions as
/// node_exporter's flags are; empty means exclude nothing.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// `/proc` (node_exporter's `--path.procfs`).
    pub proc_root: PathBuf,
    /// `/sys` (`--path.sysfs`).
    pub sys_root: PathBuf,
    /// Where the host's root filesystem is seen (`--path.rootfs`): `statfs` runs on
    /// `rootfs` + mount point, and the prefix is stripped from the `mountpoint` label.
    pub rootfs: PathBuf,
    /// udev's database (`--path.udev.data`), for `node_disk_info`'s model and serial.
    pub udev_data: PathBuf,
    /// How many processes each top list holds; 0 turns the top lists off.
    pub top_processes: usize,
    /// Block devices left out of `node_disk_*` (`--collector.diskstats.device-exclude`).
    pub disk_device_exclude: String,
    /// Mount points (as labelled, rootfs prefix stripped) left out of
    /// `node_filesystem_*` (`--collector.filesystem.mount-points-exclude`).
    pub mount_points_exclude: String,
    /// Filesystem types left out of `node_filesystem_*`
    /// (`--collector.filesystem.fs-types-exclude`).
    pub fs_types_exclude: String,
    /// Interfaces left out of `node_network_*` (`--collector.netdev.device-exclude`).
    pub netdev_device_exclude: String,
    /// How long one `statfs` may take before its mount point is reported with
    /// `node_filesystem_device_error` 1 and skipped until it answers again
    /// (`--collector.filesystem.mount-timeout`).
    pub mount_timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            proc_root: PathBuf::from("/proc"),
            sys_root: PathBuf::from("/sys"),
            rootfs: PathBuf::from("/"),
            udev_data: PathBuf::from("/run/udev/data"),
            top_processes: 10,
            disk_device_exclude: DEFAULT_DISK_DEVICE_EXCLUDE.to_string(),
            mount_points_exclude: DEFAULT_MOUNT_POINTS_EXCLUDE.to_string(),
            fs_types_exclude: DEFAULT_FS_TYPES_EXCLUDE.to_string(),
            netdev_device_exclude: DEFAULT_NETDEV_DEVICE_EXCLUDE.to_string(),
            mount_timeout: Duration::from_secs(5),
        }
    }
}

/// Why collecting failed as a whole.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("option {option}: invalid pattern {pattern:?}: {source}")]
    BadPattern {
        option: &'static str,
        pattern: String,
        source: Box<regex_lite::Error>,
    },
    #[error("no host metrics could be read: {}", .warnings.join("; "))]
    NothingCollected { warnings: Vec<String> },
}

/// One collector part: appends its families, or says why it could not.
type Part = fn(&mut Collector, &mut Vec<MetricFamily>) -> Result<(), String>;

/// The host collectors. Keep one and call [`Collector::collect`] each interval: it keeps
/// its buffers, the CPU counters' last values and each process's last CPU time.
#[derive(Debug)]
pub struct Collector {
    options: Options,
    disk_filter: NameFilter,
    mount_filter: NameFilter,
    fs_type_filter: NameFilter,
    netdev_filter: NameFilter,
    statfs: statfs_worker::StatfsWorker,
    user_hz: f64,
    page_size: f64,
    /// File contents, one buffer reused for every read.
    buf: String,
    /// A second buffer for reads nested in a loop over the first.
    inner_buf: String,
    path: PathBuf,
    kernel_stat: stat::KernelStat,
    cpu_guard: stat::CpuGuard,
    mem_fields: Vec<meminfo::MemField>,
    disks: Vec<diskstats::DiskLine>,
    mounts: Vec<filesystem::Mount>,
    net_devices: Vec<netdev::NetDevLine>,
    processes: processes::ProcessTally,
    warnings: Vec<String>,
}

impl Collector {
    pub fn new(options: Options) -> Result<Self, Error> {
        Ok(Collector {
            disk_filter: NameFilter::new("disk_device_exclude", &options.disk_device_exclude)?,
            mount_filter: NameFilter::new("mount_points_exclude", &options.mount_points_exclude)?,
            fs_type_filter: NameFilter::new("fs_types_exclude", &options.fs_types_exclude)?,
            netdev_filter: NameFilter::new(
                "netdev_device_exclude",
                &options.netdev_device_exclude,
            )?,
            statfs: statfs_worker::StatfsWorker::new(sys::statfs, options.mount_timeout),
            options,
            user_hz: sys::user_hz(),
            page_size: sys::page_size(),
            buf: String::with_capacity(16 * 1024),
            inner_buf: String::with_capacity(1024),
            path: PathBuf::new(),
            kernel_stat: stat::KernelStat::default(),
            cpu_guard: stat::CpuGuard::default(),
            mem_fields: Vec::new(),
            disks: Vec::new(),
            mounts: Vec::new(),
            net_devices: Vec::new(),
            processes: processes::ProcessTally::default(),
            warnings: Vec::new(),
        })
    }

    /// The problems of the last collection, each naming the file and what was wrong.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Reads everything once. Fails only when no part produced anything.
    pub fn collect(&mut self) -> Result<Vec<MetricFamily>, Error> {
        self.warnings.clear();
        let mut families = Vec::with_capacity(160);
        let parts: [(&str, Part); 9] = [
            ("stat", Self::collect_stat),
            ("loadavg", Self::collect_loadavg),
            ("meminfo", Self::collect_meminfo),
            ("diskstats", Self::collect_diskstats),
            ("filesystem", Self::collect_filesystem),
            ("netdev", Self::collect_netdev),
            ("uname", Self::collect_uname),
            ("time", Self::collect_time),
            ("processes", Self::collect_processes),
        ];
        let mut failed = 0;
        for (name, part) in parts {
            if let Err(problem) = part(self, &mut families) {
                failed += 1;
                self.warnings.push(format!("{name}: {problem}"));
            }
        }
        families.retain(|f| !f.samples.is_empty());
        if failed == parts.len() || families.is_empty() {
            return Err(Error::NothingCollected {
                warnings: self.warnings.clone(),
            });
        }
        Ok(families)
    }

    fn proc_path(&mut self, relative: &str) -> &Path {
        self.path.clear();
        self.path.push(&self.options.proc_root);
        self.path.push(relative);
        &self.path
    }

    fn warn_malformed(&mut self, file: &str, lines: Vec<String>) {
        if let Some(first) = lines.first() {
            self.warnings.push(format!(
                "{}/{file}: skipped {} unreadable line(s), first: {first:?}",
                self.options.proc_root.display(),
                lines.len()
            ));
        }
    }

    fn collect_stat(&mut self, out: &mut Vec<MetricFamily>) -> Result<(), String> {
        let path = self.proc_path("stat").to_path_buf();
        read_into(&path, &mut self.buf)?;
        stat::parse_stat(&self.buf, self.user_hz, &mut self.kernel_stat);
        let malformed = std::mem::take(&mut self.kernel_stat.malformed);
        self.warn_malformed("stat", malformed);
        let kernel = &mut self.kernel_stat;
        self.cpu_guard.apply(&mut kernel.cpus);

        let mut seconds = family(
            "node_cpu_seconds_total",
            MetricType::Counter,
            "Seconds the CPUs spent in each mode.",
        );
        let mut guest = family(
            "node_cpu_guest_seconds_total",
            MetricType::Counter,
            "Seconds the CPUs spent running guests in each mode.",
        );
        for (id, times) in &kernel.cpus {
            let cpu = id.to_string();
            for (mode, value) in stat::CPU_MODES.iter().zip(times.0.iter()) {
                push(&mut seconds, &[("cpu", &cpu), ("mode", mode)], *value);
            }
            push(&mut guest, &[("cpu", &cpu), ("mode", "user")], times.0[8]);
            push(&mut guest, &[("cpu", &cpu), ("mode", "nice")], times.0[9]);
        }
        out.push(seconds);
        out.push(guest);
        let scalars = [
            (
                "node_boot_time_seconds",
                MetricType::Gauge,
                "Boot time, in unix time.",
                kernel.boot_time,
            ),
            (
                "node_context_switches_total",
                MetricType::Counter,
                "Context switches.",
                kernel.context_switches,
            ),
            (
                "node_forks_total",
                MetricType::Counter,
                "Forks since boot.",
                kernel.forks,
            ),
            (
                "node_intr_total",
                MetricType::Counter,
                "Interrupts serviced.",
                kernel.interrupts,
            ),
            (
                "node_procs_running",
                MetricType::Gauge,
                "Processes in runnable state.",
                kernel.procs_running,
            ),
            (
                "node_procs_blocked",
                MetricType::Gauge,
                "Processes blocked waiting for I/O.",
                kernel.procs_blocked,
            ),
        ];
        for (name, metric_type, help, value) in scalars {
            if let Some(value) = value {
                out.push(single(name, metric_type, help, value));
            }
        }
        Ok(())
    }

    fn collect_loadavg(&mut self, out: &mut Vec<MetricFamily>) -> Result<(), String> {
        let path = self.proc_path("loadavg").to_path_buf();
        read_into(&path, &mut self.buf)?;
        let loads =
            stat::parse_loadavg(&self.buf).map_err(|e| format!("{}: {e}", path.display()))?;
        let names = [
            ("node_load1", "1m load average."),
            ("node_load5", "5m load average."),
            ("node_load15", "15m load average."),
        ];
        for ((name, help), value) in names.into_iter().zip(loads) {
            out.push(single(name, MetricType::Gauge, help, value));
        }
        Ok(())
    }

    fn collect_meminfo(&mut self, out: &mut Vec<MetricFamily>) -> Result<(), String> {
        let path = self.proc_path("meminfo").to_path_buf();
        read_into(&path, &mut self.buf)?;
        let malformed = meminfo::parse_meminfo(&self.buf, &mut self.mem_fields);
        self.warn_malformed("meminfo", malformed);
        for field in &self.mem_fields {
            let help = format!(
                "Memory information field {}.",
                &field.metric_name["node_memory_".len()..]
            );
            out.push(single(
                &field.metric_name,
                MetricType::Gauge,
                &help,
                field.value,
            ));
        }
        Ok(())
    }

    fn collect_diskstats(&mut self, out: &mut Vec<MetricFamily>) -> Result<(), String> {
        let path = self.proc_path("diskstats").to_path_buf();
        read_into(&path, &mut self.buf)?;
        let malformed = diskstats::parse_diskstats(&self.buf, &mut self.disks);
        self.warn_malformed("diskstats", malformed);
        let mut columns: Vec<MetricFamily> = diskstats::DISK_COLUMNS
            .iter()
            .map(|(name, counter, _, help)| {
                let metric_type = if *counter {
                    MetricType::Counter
                } else {
                    MetricType::Gauge
                };
                family(*name, metric_type, help)
            })
            .collect();
        let mut info = family(
            "node_disk_info",
            MetricType::Gauge,
            "Info of /sys/block/<block_device>.",
        );
        let mut fs_info = family(
            "node_disk_filesystem_info",
            MetricType::Gauge,
            "Filesystem udev found on the disk.",
        );
        let mut dm_info = family(
            "node_disk_device_mapper_info",
            MetricType::Gauge,
            "Device mapper names udev knows for the disk.",
        );
        let disks = std::mem::take(&mut self.disks);
        for disk in &disks {
            if self.disk_filter.excludes(&disk.device) {
                continue;
            }
            let device = disk.device.as_str();
            for ((metric, raw), (_, _, scale, _)) in columns
                .iter_mut()
                .zip(&disk.columns)
                .zip(diskstats::DISK_COLUMNS.iter())
            {
                push(metric, &[("device", device)], *raw as f64 * scale);
            }
            self.path.clear();
            self.path.push(&self.options.udev_data);
            self.path.push(format!("b{}:{}", disk.major, disk.minor));
            // Most hosts without udev (containers) simply have no file: no labels then.
            let udev = match read_into(&self.path, &mut self.inner_buf) {
                Ok(()) => diskstats::parse_udev(&self.inner_buf),
                Err(_) => diskstats::UdevInfo::default(),
            };
            let (major, minor) = (disk.major.to_string(), disk.minor.to_string());
            push(
                &mut info,
                &[
                    ("device", device),
                    ("major", &major),
                    ("minor", &minor),
                    ("path", udev.get("ID_PATH")),
                    ("wwn", udev.get("ID_WWN")),
                    ("model", udev.get("ID_MODEL")),
                    ("serial", udev.serial()),
                    ("revision", udev.get("ID_REVISION")),
                ],
                1.0,
            );
            if !udev.get("ID_FS_TYPE").is_empty() {
                push(
                    &mut fs_info,
                    &[
                        ("device", device),
                        ("type", udev.get("ID_FS_TYPE")),
                        ("usage", udev.get("ID_FS_USAGE")),
                        ("uuid", udev.get("ID_FS_UUID")),
                        ("version", udev.get("ID_FS_VERSION")),
                    ],
                    1.0,
                );
            }
            if !udev.get("DM_NAME").is_empty() {
                push(
                    &mut dm_info,
                    &[
                        ("device", device),
                        ("name", udev.get("DM_NAME")),
                        ("uuid", udev.get("DM_UUID")),
                        ("vg_name", udev.get("DM_VG_NAME")),
                        ("lv_name", udev.get("DM_LV_NAME")),
                        ("lv_layer", udev.get("DM_LV_LAYER")),
                    ],
                    1.0,
                );
            }
        }
        self.disks = disks;
        out.extend(columns);
        out.push(info);
        out.push(fs_info);
        out.push(dm_info);
        Ok(())
    }

    fn collect_filesystem(&mut self, out: &mut Vec<MetricFamily>) -> Result<(), String> {
        // PID 1's table is the host's even when the agent runs in its own mount namespace;
        // with hidepid it may be hidden, then our own is the best there is.
        let path = self.proc_path("1/mounts").to_path_buf();
        let path = match read_into(&path, &mut self.buf) {
            Ok(()) => path,
            Err(_) => {
                let own = self.proc_path("mounts").to_path_buf();
                read_into(&own, &mut self.buf)?;
                own
            }
        };
        let malformed = filesystem::parse_mounts(&self.buf, &mut self.mounts);
        if let Some(first) = malformed.first() {
            self.warnings.push(format!(
                "{}: skipped {} unreadable line(s), first: {first:?}",
                path.display(),
                malformed.len()
            ));
        }
        let gauge = |name: &str, help: &str| family(name, MetricType::Gauge, help);
        let mut size = gauge("node_filesystem_size_bytes", "Filesystem size in bytes.");
        let mut free = gauge(
            "node_filesystem_free_bytes",
            "Filesystem free space in bytes.",
        );
        let mut avail = gauge(
            "node_filesystem_avail_bytes",
            "Filesystem space available to non-root users in bytes.",
        );
        let mut files = gauge("node_filesystem_files", "Filesystem total file nodes.");
        let mut files_free = gauge("node_filesystem_files_free", "Filesystem free file nodes.");
        let mut readonly = gauge("node_filesystem_readonly", "Filesystem read-only status.");
        let mut device_error = gauge(
            "node_filesystem_device_error",
            "Whether an error occurred while getting statistics for the given device.",
        );
        let rootfs = self.options.rootfs.to_string_lossy().into_owned();
        let mounts = std::mem::take(&mut self.mounts);
        let mut seen: Vec<(&str, &str, &str)> = Vec::new();
        for mount in &mounts {
            let mount_point = filesystem::strip_rootfs(&rootfs, &mount.mount_point);
            if self.mount_filter.excludes(mount_point)
                || self.fs_type_filter.excludes(&mount.fs_type)
            {
                continue;
            }
            // The same filesystem mounted twice at one place is reported once.
            let key = (mount.device.as_str(), mount_point, mount.fs_type.as_str());
            if seen.contains(&key) {
                continue;
            }
            seen.push(key);
            let labels = [
                ("device", mount.device.as_str()),
                ("fstype", mount.fs_type.as_str()),
                ("mountpoint", mount_point),
            ];
            self.path.clear();
            self.path.push(&self.options.rootfs);
            self.path.push(mount_point.trim_start_matches('/'));
            let usage = self.statfs.statfs(&self.path, mount_point);
            push(
                &mut readonly,
                &labels,
                if mount.read_only { 1.0 } else { 0.0 },
            );
            match usage {
                Ok(usage) => {
                    push(&mut device_error, &labels, 0.0);
                    push(&mut size, &labels, usage.size_bytes);
                    push(&mut free, &labels, usage.free_bytes);
                    push(&mut avail, &labels, usage.avail_bytes);
                    push(&mut files, &labels, usage.files);
                    push(&mut files_free, &labels, usage.files_free);
                }
                Err(problem) => {
                    push(&mut device_error, &labels, 1.0);
                    self.warnings.push(format!("filesystem: {problem}"));
                }
            }
        }
        drop(seen);
        self.mounts = mounts;
        out.extend([size, free, avail, files, files_free, readonly, device_error]);
        Ok(())
    }

    fn collect_netdev(&mut self, out: &mut Vec<MetricFamily>) -> Result<(), String> {
        let path = self.proc_path("net/dev").to_path_buf();
        read_into(&path, &mut self.buf)?;
        let malformed = netdev::parse_netdev(&self.buf, &mut self.net_devices);
        self.warn_malformed("net/dev", malformed);
        let mut columns: Vec<MetricFamily> = netdev::NETDEV_COLUMNS
            .iter()
            .map(|column| {
                let help = format!("Network device statistic {column}.");
                family(
                    format!("node_network_{column}_total"),
                    MetricType::Counter,
                    &help,
                )
            })
            .collect();
        let mut nohandler = family(
            "node_network_receive_nohandler_total",
            MetricType::Counter,
            "Network device statistic receive_nohandler.",
        );
        let devices = std::mem::take(&mut self.net_devices);
        for device in &devices {
            if self.netdev_filter.excludes(&device.device) {
                continue;
            }
            let labels = [("device", device.device.as_str())];
            for (metric, value) in columns.iter_mut().zip(device.counters) {
                push(metric, &labels, value as f64);
            }
            self.path.clear();
            self.path.push(&self.options.sys_root);
            self.path.push("class/net");
            self.path.push(&device.device);
            self.path.push("statistics/rx_nohandler");
            // Devices of other network namespaces or old kernels lack it: no sample then.
            if let Ok(value) = read_number(&self.path, &mut self.inner_buf) {
                push(&mut nohandler, &labels, value);
            }
        }
        self.net_devices = devices;
        out.extend(columns);
        out.push(nohandler);
        Ok(())
    }

    fn collect_uname(&mut self, out: &mut Vec<MetricFamily>) -> Result<(), String> {
        let fields = sys::uname()?;
        let labels: Vec<(&str, &str)> = fields
            .iter()
            .map(|(name, value)| (*name, value.as_str()))
            .collect();
        let mut info = family(
            "node_uname_info",
            MetricType::Gauge,
            "Labeled system information as provided by the uname system call.",
        );
        push(&mut info, &labels, 1.0);
        out.push(info);
        Ok(())
    }

    fn collect_time(&mut self, out: &mut Vec<MetricFamily>) -> Result<(), String> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_err(|_| "the system clock is before 1970".to_string())?;
        out.push(single(
            "node_time_seconds",
            MetricType::Gauge,
            "System time in seconds since epoch (1970).",
            now.as_secs_f64(),
        ));
        match sys::local_zone(now.as_secs() as i64) {
            Ok((zone, offset)) => {
                let mut zone_family = family(
                    "node_time_zone_offset_seconds",
                    MetricType::Gauge,
                    "System time zone offset in seconds.",
                );
                push(&mut zone_family, &[("time_zone", &zone)], offset);
                out.push(zone_family);
            }
            Err(problem) => self.warnings.push(format!("time: {problem}")),
        }
        let mut available = family(
            "node_time_clocksource_available_info",
            MetricType::Gauge,
            "Available clocksources read from '/sys/devices/system/clocksource'.",
        );
        let mut current = family(
            "node_time_clocksource_current_info",
            MetricType::Gauge,
            "Current clocksource read from '/sys/devices/system/clocksource'.",
        );
        let dir = self.options.sys_root.join("devices/system/clocksource");
        // Absent in some containers: the clock itself is still reported.
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for entry in entries.flatten() {
                let name = entry.file_name();
                let Some(device) = name.to_str().and_then(|n| n.strip_prefix("clocksource")) else {
                    continue;
                };
                if device.is_empty() || !device.bytes().all(|b| b.is_ascii_digit()) {
                    continue;
                }
                let base = entry.path();
                if read_into(&base.join("available_clocksource"), &mut self.buf).is_ok() {
                    for source in self.buf.split_ascii_whitespace() {
                        push(
                            &mut available,
                            &[("clocksource", source), ("device", device)],
                            1.0,
                        );
                    }
                }
                if read_into(&base.join("current_clocksource"), &mut self.buf).is_ok() {
                    let source = self.buf.trim();
                    if !source.is_empty() {
                        push(
                            &mut current,
                            &[("clocksource", source), ("device", device)],
                            1.0,
                        );
                    }
                }
            }
        }
        out.push(available);
        out.push(current);
        Ok(())
    }

    fn collect_processes(&mut self, out: &mut Vec<MetricFamily>) -> Result<(), String> {
        let proc_root = self.options.proc_root.clone();
        let entries =
            std::fs::read_dir(&proc_root).map_err(|e| format!("{}: {e}", proc_root.display()))?;
        self.processes.begin();
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(pid) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else {
                continue;
            };
            self.path.clear();
            self.path.push(&proc_root);
            self.path.push(&name);
            self.path.push("stat");
            // A process may exit between the listing and the read: not a problem.
            if read_into(&self.path, &mut self.buf).is_err() {
                continue;
            }
            let Some(stat) = processes::parse_pid_stat(&self.buf) else {
                self.warnings.push(format!(
                    "{}: unreadable content {:?}",
                    self.path.display(),
                    self.buf.chars().take(80).collect::<String>()
                ));
                continue;
            };
            self.processes.add(pid, &stat);
            if stat.num_threads <= 1 {
                // The only thread is the process itself: no need to read its task list.
                processes::bump(&mut self.processes.thread_states, stat.state);
                continue;
            }
            let state = stat.state;
            processes::bump(&mut self.processes.thread_states, state);
            self.path.pop();
            self.path.push("task");
            let Ok(tasks) = std::fs::read_dir(&self.path) else {
                continue;
            };
            for task in tasks.flatten() {
                let tid_name = task.file_name();
                if tid_name.to_str().and_then(|t| t.parse::<u32>().ok()) == Some(pid) {
                    continue;
                }
                // The path buffer (…/PID/task) is extended and restored: no allocation
                // per thread.
                self.path.push(&tid_name);
                self.path.push("stat");
                let read = read_into(&self.path, &mut self.inner_buf);
                self.path.pop();
                self.path.pop();
                if read.is_err() {
                    continue;
                }
                if let Some(thread) = processes::parse_pid_stat(&self.inner_buf) {
                    processes::bump(&mut self.processes.thread_states, thread.state);
                }
            }
        }
        self.processes.finish();
        let tally = &self.processes;

        let mut states = family(
            "node_processes_state",
            MetricType::Gauge,
            "Number of processes in each state.",
        );
        let mut buf = [0u8; 4];
        for (state, count) in &tally.states {
            push(
                &mut states,
                &[("state", state.encode_utf8(&mut buf))],
                *count as f64,
            );
        }
        let mut thread_states = family(
            "node_processes_threads_state",
            MetricType::Gauge,
            "Number of threads in each state.",
        );
        for (state, count) in &tally.thread_states {
            push(
                &mut thread_states,
                &[("thread_state", state.encode_utf8(&mut buf))],
                *count as f64,
            );
        }
        out.push(states);
        out.push(thread_states);
        out.push(single(
            "node_processes_threads",
            MetricType::Gauge,
            "Allocated threads in system",
            tally.threads as f64,
        ));
        out.push(single(
            "node_processes_pids",
            MetricType::Gauge,
            "Number of PIDs",
            tally.pids as f64,
        ));

        let top_n = self.options.top_processes;
        if top_n > 0 {
            let mut cpu = family(
                "postwatch_process_cpu_seconds_total",
                MetricType::Counter,
                "CPU seconds (user + system) of the processes that used most CPU since the previous collection.",
            );
            for index in tally.top_by(top_n, |e| e.cpu_ticks_recent) {
                let entry = &tally.entries[index];
                let pid = entry.pid.to_string();
                push(
                    &mut cpu,
                    &[("pid", &pid), ("comm", tally.comm(entry))],
                    entry.cpu_ticks as f64 / self.user_hz,
                );
            }
            let mut rss = family(
                "postwatch_process_resident_memory_bytes",
                MetricType::Gauge,
                "Resident set size of the processes with the largest one.",
            );
            for index in tally.top_by(top_n, |e| e.rss_pages) {
                let entry = &tally.entries[index];
                let pid = entry.pid.to_string();
                push(
                    &mut rss,
                    &[("pid", &pid), ("comm", tally.comm(entry))],
                    entry.rss_pages as f64 * self.page_size,
                );
            }
            out.push(cpu);
            out.push(rss);
        }

        // The limits are read after the pass, as node_exporter does; a missing one is a
        // warning, the counts above still stand.
        for (file, name, help) in [
            (
                "sys/kernel/threads-max",
                "node_processes_max_threads",
                "Limit of threads in the system",
            ),
            (
                "sys/kernel/pid_max",
                "node_processes_max_processes",
                "Number of max PIDs limit",
            ),
        ] {
            let path = self.proc_path(file).to_path_buf();
            match read_number(&path, &mut self.buf) {
                Ok(value) => out.push(single(name, MetricType::Gauge, help, value)),
                Err(problem) => self.warnings.push(format!("processes: {problem}")),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod robustness {
    //! Every parser on every prefix of the real fixtures (a file cut anywhere, as a racing
    //! read or a broken kernel could give it) and on bytes it was never meant for: no
    //! panic, whatever it returns.

    const FIXTURES: [&str; 6] = [
        include_str!("../../../testdata/hostmetrics/proc/stat"),
        include_str!("../../../testdata/hostmetrics/proc/meminfo"),
        include_str!("../../../testdata/hostmetrics/proc/diskstats"),
        include_str!("../../../testdata/hostmetrics/proc/net/dev"),
        include_str!("../../../testdata/hostmetrics/proc/1/mounts"),
        include_str!("../../../testdata/hostmetrics/proc/1/stat"),
    ];

    fn run_all_parsers(text: &str) {
        let mut kernel = super::stat::KernelStat::default();
        super::stat::parse_stat(text, 100.0, &mut kernel);
        let _ = super::stat::parse_loadavg(text);
        let _ = super::meminfo::parse_meminfo(text, &mut Vec::new());
        let _ = super::diskstats::parse_diskstats(text, &mut Vec::new());
        let _ = super::diskstats::parse_udev(text);
        let _ = super::netdev::parse_netdev(text, &mut Vec::new());
        let _ = super::filesystem::parse_mounts(text, &mut Vec::new());
        let _ = super::processes::parse_pid_stat(text);
    }

    #[test]
    fn no_parser_panics_on_cut_or_foreign_content() {
        for fixture in FIXTURES {
            let cuts: Vec<usize> = fixture
                .char_indices()
                .map(|(i, _)| i)
                .filter(|i| fixture.len() < 4096 || i % 7 == 0)
                .collect();
            for cut in cuts {
                run_all_parsers(&fixture[..cut]);
            }
            // Each fixture fed to every other parser.
            run_all_parsers(fixture);
        }
        for odd in [
            "\u{0}\u{0}",
            "(((",
            ")))",
            ":::",
            "é:é é",
            "1 2 é (x) ) (",
            "\n\n\t \n",
        ] {
            run_all_parsers(odd);
        }
    }
}
