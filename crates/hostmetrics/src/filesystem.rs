//! Mount table parsing for `node_filesystem_*`: which filesystems exist, under
//! node_exporter's labels (`device`, `fstype`, `mountpoint`).

/// One mount.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Mount {
    /// As the table writes it (node_exporter does not unescape it).
    pub(crate) device: String,
    /// Unescaped (`\040` → space, `\011` → tab, as fstab(5)).
    pub(crate) mount_point: String,
    pub(crate) fs_type: String,
    pub(crate) read_only: bool,
}

/// Parses a mounts file (`/proc/1/mounts`) into `out` (cleared first); returns the lines
/// with fewer than four fields.
pub(crate) fn parse_mounts(text: &str, out: &mut Vec<Mount>) -> Vec<String> {
    out.clear();
    let mut malformed = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            continue;
        }
        let mut fields = line.split_ascii_whitespace();
        let (Some(device), Some(mount_point), Some(fs_type), Some(options)) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            malformed.push(line.to_string());
            continue;
        };
        out.push(Mount {
            device: device.to_string(),
            mount_point: mount_point.replace("\\040", " ").replace("\\011", "\t"),
            fs_type: fs_type.to_string(),
            read_only: options.split(',').any(|option| option == "ro"),
        });
    }
    malformed
}

/// The mount point as seen from inside `rootfs` (node_exporter's `--path.rootfs`): the
/// prefix is removed, and the root itself becomes `/`. A mount outside `rootfs` keeps its
/// path.
pub(crate) fn strip_rootfs<'a>(rootfs: &str, mount_point: &'a str) -> &'a str {
    let rootfs = rootfs.trim_end_matches('/');
    if rootfs.is_empty() {
        return mount_point;
    }
    match mount_point.strip_prefix(rootfs) {
        Some("") => "/",
        Some(rest) if rest.starts_with('/') => rest,
        _ => mount_point,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_real_mounts() {
        let text = include_str!("../../../testdata/hostmetrics/proc/1/mounts");
        let mut mounts = Vec::new();
        let malformed = parse_mounts(text, &mut mounts);
        assert!(malformed.is_empty(), "{malformed:?}");
        let root = mounts
            .iter()
            .find(|m| m.mount_point == "/")
            .expect("root mount");
        assert!(!root.read_only);
        assert!(mounts.iter().any(|m| m.fs_type == "proc"));
    }

    #[test]
    fn spaces_tabs_and_short_lines() {
        let text = "/dev/my\\040disk /mnt/with\\040space\\011tab ext4 ro,relatime 0 0\n\
                    tmpfs /run tmpfs rw,nosuid,rox 0 0\n\
                    broken /only-two\n";
        let mut mounts = Vec::new();
        let malformed = parse_mounts(text, &mut mounts);
        assert_eq!(mounts.len(), 2);
        assert_eq!(mounts[0].device, "/dev/my\\040disk");
        assert_eq!(mounts[0].mount_point, "/mnt/with space\ttab");
        assert!(mounts[0].read_only);
        assert!(!mounts[1].read_only, "`rox` is not `ro`");
        assert_eq!(malformed, ["broken /only-two"]);
    }

    #[test]
    fn rootfs_prefix_is_stripped_like_node_exporter() {
        assert_eq!(strip_rootfs("/", "/boot"), "/boot");
        assert_eq!(strip_rootfs("/host", "/host"), "/");
        assert_eq!(strip_rootfs("/host/", "/host/boot"), "/boot");
        assert_eq!(strip_rootfs("/host", "/hostile"), "/hostile");
        assert_eq!(strip_rootfs("/host", "/proc"), "/proc");
    }
}
