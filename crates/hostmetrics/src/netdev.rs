//! `/proc/net/dev` → `node_network_{receive,transmit}_*_total{device}`, under
//! node_exporter's legacy names (`errs`, `drop`, `colls`, …).

/// The sixteen columns of `/proc/net/dev`, named as node_exporter names them.
pub(crate) const NETDEV_COLUMNS: [&str; 16] = [
    "receive_bytes",
    "receive_packets",
    "receive_errs",
    "receive_drop",
    "receive_fifo",
    "receive_frame",
    "receive_compressed",
    "receive_multicast",
    "transmit_bytes",
    "transmit_packets",
    "transmit_errs",
    "transmit_drop",
    "transmit_fifo",
    "transmit_colls",
    "transmit_carrier",
    "transmit_compressed",
];

/// One interface's counters.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct NetDevLine {
    pub(crate) device: String,
    pub(crate) counters: [u64; 16],
}

/// Parses `/proc/net/dev` into `out` (cleared first); returns the lines that did not
/// parse. The two header lines are recognised by their `|`.
pub(crate) fn parse_netdev(text: &str, out: &mut Vec<NetDevLine>) -> Vec<String> {
    out.clear();
    let mut malformed = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() || line.contains('|') {
            continue;
        }
        match parse_line(line) {
            Some(dev) => out.push(dev),
            None => malformed.push(line.to_string()),
        }
    }
    malformed
}

fn parse_line(line: &str) -> Option<NetDevLine> {
    // The counters never hold a colon; the name is everything before the last one.
    let (device, numbers) = line.rsplit_once(':')?;
    let device = device.trim();
    if device.is_empty() {
        return None;
    }
    let mut counters = [0u64; 16];
    let mut fields = numbers.split_ascii_whitespace();
    for slot in counters.iter_mut() {
        *slot = fields.next()?.parse().ok()?;
    }
    Some(NetDevLine {
        device: device.to_string(),
        counters,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_real_net_dev() {
        let text = include_str!("../../../testdata/hostmetrics/proc/net/dev");
        let mut devices = Vec::new();
        let malformed = parse_netdev(text, &mut devices);
        assert!(malformed.is_empty(), "{malformed:?}");
        let names: Vec<&str> = devices.iter().map(|d| d.device.as_str()).collect();
        assert_eq!(names.len(), text.lines().count() - 2);
        assert!(
            names.contains(&"lo") && names.contains(&"eth0"),
            "{names:?}"
        );
    }

    #[test]
    fn odd_lines() {
        let text = "Inter-|   Receive\n face |bytes\n\
                    weird:name: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n\
                    short: 1 2 3\n\
                    eth0:1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17\n\
                    : 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n";
        let mut devices = Vec::new();
        let malformed = parse_netdev(text, &mut devices);
        assert_eq!(devices.len(), 2);
        assert_eq!(devices[0].device, "weird:name");
        assert_eq!(devices[1].device, "eth0");
        assert_eq!(devices[1].counters[0], 1, "name glued to the first counter");
        assert_eq!(devices[1].counters[15], 16);
        assert_eq!(malformed.len(), 2);
    }
}
