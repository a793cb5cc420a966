//! `/proc/diskstats` → `node_disk_*`: sectors become bytes (512-byte UNIX sectors,
//! whatever the device's block size), milliseconds become seconds. Which columns exist
//! depends on the kernel (11, 15 or 17 after the name); only those present are reported.

/// The metrics of the diskstats columns, in column order: (name, is counter, scale).
pub(crate) const DISK_COLUMNS: [(&str, bool, f64, &str); 17] = [
    (
        "node_disk_reads_completed_total",
        true,
        1.0,
        "Reads completed.",
    ),
    (
        "node_disk_reads_merged_total",
        true,
        1.0,
        "Adjacent reads merged.",
    ),
    (
        "node_disk_read_bytes_total",
        true,
        SECTOR_BYTES,
        "Bytes read.",
    ),
    (
        "node_disk_read_time_seconds_total",
        true,
        MILLISECONDS,
        "Seconds spent by all reads.",
    ),
    (
        "node_disk_writes_completed_total",
        true,
        1.0,
        "Writes completed.",
    ),
    (
        "node_disk_writes_merged_total",
        true,
        1.0,
        "Adjacent writes merged.",
    ),
    (
        "node_disk_written_bytes_total",
        true,
        SECTOR_BYTES,
        "Bytes written.",
    ),
    (
        "node_disk_write_time_seconds_total",
        true,
        MILLISECONDS,
        "Seconds spent by all writes.",
    ),
    ("node_disk_io_now", false, 1.0, "I/Os in progress."),
    (
        "node_disk_io_time_seconds_total",
        true,
        MILLISECONDS,
        "Seconds the device was busy.",
    ),
    (
        "node_disk_io_time_weighted_seconds_total",
        true,
        MILLISECONDS,
        "Seconds spent doing I/Os, weighted by the number in progress.",
    ),
    (
        "node_disk_discards_completed_total",
        true,
        1.0,
        "Discards completed.",
    ),
    (
        "node_disk_discards_merged_total",
        true,
        1.0,
        "Adjacent discards merged.",
    ),
    // node_exporter reports discarded sectors, not bytes.
    (
        "node_disk_discarded_sectors_total",
        true,
        1.0,
        "Sectors discarded.",
    ),
    (
        "node_disk_discard_time_seconds_total",
        true,
        MILLISECONDS,
        "Seconds spent by all discards.",
    ),
    (
        "node_disk_flush_requests_total",
        true,
        1.0,
        "Flush requests completed.",
    ),
    (
        "node_disk_flush_requests_time_seconds_total",
        true,
        MILLISECONDS,
        "Seconds spent by all flush requests.",
    ),
];

const SECTOR_BYTES: f64 = 512.0;
const MILLISECONDS: f64 = 0.001;

/// One device line.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DiskLine {
    pub(crate) major: u32,
    pub(crate) minor: u32,
    pub(crate) device: String,
    /// The raw columns present (at most 17), unscaled.
    pub(crate) columns: Vec<u64>,
}

/// Parses `/proc/diskstats` into `out` (cleared first); returns the lines that did not
/// parse (fewer than the 11 columns every kernel since 2.6 has, or non-numbers).
pub(crate) fn parse_diskstats(text: &str, out: &mut Vec<DiskLine>) -> Vec<String> {
    out.clear();
    let mut malformed = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            continue;
        }
        match parse_line(line) {
            Some(disk) => out.push(disk),
            None => malformed.push(line.to_string()),
        }
    }
    malformed
}

fn parse_line(line: &str) -> Option<DiskLine> {
    let mut fields = line.split_ascii_whitespace();
    let major = fields.next()?.parse().ok()?;
    let minor = fields.next()?.parse().ok()?;
    let device = fields.next()?.to_string();
    let mut columns = Vec::with_capacity(DISK_COLUMNS.len());
    for field in fields.take(DISK_COLUMNS.len()) {
        columns.push(field.parse().ok()?);
    }
    (columns.len() >= 11).then_some(DiskLine {
        major,
        minor,
        device,
        columns,
    })
}

/// The udev properties node_exporter turns into labels and info series.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct UdevInfo {
    pub(crate) properties: Vec<(String, String)>,
}

impl UdevInfo {
    pub(crate) fn get(&self, name: &str) -> &str {
        self.properties
            .iter()
            .find(|(key, _)| key == name)
            .map_or("", |(_, value)| value.as_str())
    }

    /// The disk's serial: SCSI ident, else the short serial, else the full one.
    pub(crate) fn serial(&self) -> &str {
        ["SCSI_IDENT_SERIAL", "ID_SERIAL_SHORT", "ID_SERIAL"]
            .iter()
            .map(|key| self.get(key))
            .find(|value| !value.is_empty())
            .unwrap_or("")
    }
}

/// Parses a udev database file (`/run/udev/data/bMAJOR:MINOR`): only `E:KEY=VALUE`
/// lines matter.
pub(crate) fn parse_udev(text: &str) -> UdevInfo {
    let properties = text
        .lines()
        .filter_map(|line| line.strip_prefix("E:"))
        .filter_map(|property| property.split_once('='))
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .collect();
    UdevInfo { properties }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_real_diskstats() {
        let text = include_str!("../../../testdata/hostmetrics/proc/diskstats");
        let mut disks = Vec::new();
        let malformed = parse_diskstats(text, &mut disks);
        assert!(malformed.is_empty(), "{malformed:?}");
        assert_eq!(disks.len(), text.lines().count());
        let vda = disks
            .iter()
            .find(|d| d.device == "vda")
            .expect("vda in fixture");
        assert_eq!((vda.major, vda.minor), (254, 0));
        assert_eq!(vda.columns.len(), 17);
    }

    #[test]
    fn old_kernels_and_odd_lines() {
        let text = "   8 0 sda 1 2 3 4 5 6 7 8 9 10 11\n\
                    8 1 sda1 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19\n\
                    8 2 sdb 1 2 3\n\
                    x 2 sdc 1 2 3 4 5 6 7 8 9 10 11\n\
                    8 3 sdd 1 2 3 4 5 6 7 8 9 10 -1\n";
        let mut disks = Vec::new();
        let malformed = parse_diskstats(text, &mut disks);
        assert_eq!(disks.len(), 2);
        assert_eq!(disks[0].columns.len(), 11);
        assert_eq!(disks[1].columns.len(), 17, "future columns are ignored");
        assert_eq!(malformed.len(), 3);
    }

    #[test]
    fn udev_properties_and_serial_fallback() {
        let info = parse_udev("S:disk/by-id/x\nE:ID_MODEL=QEMU HARDDISK\nE:ID_SERIAL=QM1\nE:BAD\nE:ID_SERIAL_SHORT=\n");
        assert_eq!(info.get("ID_MODEL"), "QEMU HARDDISK");
        assert_eq!(info.serial(), "QM1");
        assert_eq!(info.get("ID_PATH"), "");
    }
}
