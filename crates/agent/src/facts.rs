//! Facts about the host: hostname, OS, kernel, CPU, memory and cloud identity.
//!
//! Everything is read from local files: the host's root filesystem (`root`), its
//! `/proc` (`proc`) and `/sys` (`sys`), given apart so that an agent running in a
//! container with the host's filesystems mounted elsewhere (`/host`, `/host/proc`)
//! reads the host's. Cloud identity never touches the network (no metadata service):
//! only DMI (SMBIOS) strings the firmware exposes in sysfs and what cloud-init already
//! wrote to `run/cloud-init/instance-data.json`. Anything unreadable is left out.

use crate::fsutil::read_text;
use postwatch_model::fleet::{CloudInfo, HostFacts};
use postwatch_target::{DirTree, FileTree};
use std::collections::BTreeMap;
use std::path::Path;

/// Largest `/proc/cpuinfo` read (about 1.5 KiB per CPU on x86: room for thousands).
const MAX_PROC_FILE: u64 = 8 << 20;
/// Largest small text file (`hostname`, DMI strings, `osrelease`).
const MAX_SMALL_FILE: u64 = 64 << 10;
/// Largest cloud-init instance data read (as the scanner's JSON metadata limit).
const MAX_INSTANCE_DATA: u64 = 16 << 20;
/// cloud-init's instance data, relative to the root.
pub const CLOUD_INIT_INSTANCE_DATA: &str = "run/cloud-init/instance-data.json";
/// The chassis asset tag Azure's hypervisor sets on every VM (cloud-init's Azure
/// data source tests for the same string); plain Hyper-V has the same vendor and
/// product name but not this tag.
const AZURE_CHASSIS_ASSET_TAG: &str = "7783-7084-3265-9085-8269-3286-77";

/// Reads the facts of the host whose root filesystem is `root`, with its `/proc` at
/// `proc` and `/sys` at `sys` (normally `/`, `/proc`, `/sys`).
pub fn host_facts(
    root: &Path,
    proc: &Path,
    sys: &Path,
    tags: BTreeMap<String, String>,
) -> HostFacts {
    let tree = DirTree::new(root);
    let os = postwatch_inventory::os::detect(&mut |path: &str| {
        tree.read(path)
            .ok()
            .flatten()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
    });
    let cpuinfo = read_text(&proc.join("cpuinfo"), MAX_PROC_FILE).unwrap_or_default();
    let cpu_cores = match cpu_count(&cpuinfo) {
        0 => read_text(&sys.join("devices/system/cpu/online"), MAX_SMALL_FILE)
            .map(|t| count_cpu_list(&t))
            .unwrap_or(0),
        n => n,
    };
    let memory_bytes = read_text(&proc.join("meminfo"), MAX_PROC_FILE)
        .and_then(|t| mem_total(&t))
        .unwrap_or(0);
    let dmi = Dmi::read(&sys.join("class/dmi/id"));
    let instance_data = read_root_file(&tree, CLOUD_INIT_INSTANCE_DATA, MAX_INSTANCE_DATA);
    HostFacts {
        hostname: hostname(&tree, root, proc),
        os,
        kernel: read_text(&proc.join("sys/kernel/osrelease"), MAX_SMALL_FILE)
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty()),
        cpu_model: cpu_model(&cpuinfo),
        cpu_cores,
        memory_bytes,
        cloud: cloud(&dmi, instance_data.as_deref()),
        tags,
        agent_version: env!("CARGO_PKG_VERSION").to_owned(),
    }
}

/// The host's name alone, as [`host_facts`] gives it: for naming the asset without
/// reading (and running the code for) every other fact.
pub fn host_name(root: &Path, proc: &Path) -> String {
    hostname(&DirTree::new(root), root, proc)
}

/// A file under the root, symlinks resolved inside it, when no larger than `limit`.
fn read_root_file(tree: &DirTree, path: &str, limit: u64) -> Option<String> {
    let (file, len) = tree.open(path).ok()??;
    if len > limit {
        return None;
    }
    let mut buf = Vec::with_capacity(len as usize);
    std::io::Read::read_to_end(&mut std::io::Read::take(file, limit), &mut buf).ok()?;
    Some(String::from_utf8_lossy(&buf).into_owned())
}

/// `etc/hostname` (hostname(5): one name, `#` comments ignored); else, for the live
/// root, gethostname(2); else the kernel's `proc/sys/kernel/hostname`. Empty when
/// none says.
fn hostname(tree: &DirTree, root: &Path, proc: &Path) -> String {
    let from_file = read_root_file(tree, "etc/hostname", MAX_SMALL_FILE).and_then(|text| {
        text.lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_owned)
    });
    if let Some(name) = from_file {
        return name;
    }
    if root == Path::new("/") {
        if let Some(name) = gethostname() {
            return name;
        }
    }
    read_text(&proc.join("sys/kernel/hostname"), MAX_SMALL_FILE)
        .map(|t| t.trim().to_owned())
        .unwrap_or_default()
}

fn gethostname() -> Option<String> {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname writes at most that
    // many bytes (possibly without a terminating NUL when truncated, handled below).
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return None;
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    let name = String::from_utf8_lossy(&buf[..end]).trim().to_owned();
    (!name.is_empty()).then_some(name)
}

/// `key : value` pairs of `/proc/cpuinfo` (proc(5); the x86 layout is
/// arch/x86/kernel/cpu/proc.c, arm64's arch/arm64/kernel/cpuinfo.c in the kernel).
fn cpuinfo_fields(cpuinfo: &str) -> impl Iterator<Item = (&str, &str)> {
    cpuinfo.lines().filter_map(|line| {
        let (key, value) = line.split_once(':')?;
        Some((key.trim(), value.trim()))
    })
}

/// Logical CPUs: one `processor` stanza each (s390x prints `# processors`).
fn cpu_count(cpuinfo: &str) -> u32 {
    let mut stanzas = 0u32;
    for (key, value) in cpuinfo_fields(cpuinfo) {
        if key == "processor" {
            stanzas = stanzas.saturating_add(1);
        } else if key == "# processors" {
            if let Ok(n) = value.parse() {
                return n;
            }
        }
    }
    stanzas
}

/// CPUs in a sysfs CPU list (`0-3,6,8-9`, Documentation/ABI/stable/sysfs-devices-system-cpu).
fn count_cpu_list(list: &str) -> u32 {
    let mut count = 0u32;
    for part in list.trim().split(',').filter(|p| !p.is_empty()) {
        let (from, to) = part.split_once('-').unwrap_or((part, part));
        if let (Ok(from), Ok(to)) = (from.trim().parse::<u32>(), to.trim().parse::<u32>()) {
            if to >= from {
                count = count.saturating_add(to - from + 1);
            }
        }
    }
    count
}

/// The CPU's name: `model name` (x86, 32-bit ARM), `cpu model` (MIPS), `cpu`
/// (PowerPC), `uarch` (RISC-V); arm64 prints only the implementer and part numbers,
/// named here for the common ones.
fn cpu_model(cpuinfo: &str) -> Option<String> {
    let first = |wanted: &str| {
        cpuinfo_fields(cpuinfo)
            .find(|(key, value)| *key == wanted && !value.is_empty())
            .map(|(_, value)| value.to_owned())
    };
    for key in ["model name", "cpu model", "cpu", "uarch"] {
        if let Some(model) = first(key) {
            return Some(model);
        }
    }
    let implementer = first("CPU implementer").and_then(|v| parse_hex(&v));
    let part = first("CPU part").and_then(|v| parse_hex(&v));
    if let (Some(implementer), Some(part)) = (implementer, part) {
        return Some(arm_cpu_name(implementer, part));
    }
    first("Hardware")
}

fn parse_hex(value: &str) -> Option<u32> {
    u32::from_str_radix(value.trim().trim_start_matches("0x"), 16).ok()
}

/// Names from the kernel's arch/arm64/include/asm/cputype.h.
fn arm_cpu_name(implementer: u32, part: u32) -> String {
    let vendor = match implementer {
        0x41 => "ARM",
        0x42 => "Broadcom",
        0x43 => "Cavium",
        0x48 => "HiSilicon",
        0x4e => "NVIDIA",
        0x51 => "Qualcomm",
        0x61 => "Apple",
        0xc0 => "Ampere",
        _ => "",
    };
    let known = match (implementer, part) {
        (0x41, 0xd03) => Some("Cortex-A53"),
        (0x41, 0xd04) => Some("Cortex-A35"),
        (0x41, 0xd05) => Some("Cortex-A55"),
        (0x41, 0xd07) => Some("Cortex-A57"),
        (0x41, 0xd08) => Some("Cortex-A72"),
        (0x41, 0xd09) => Some("Cortex-A73"),
        (0x41, 0xd0a) => Some("Cortex-A75"),
        (0x41, 0xd0b) => Some("Cortex-A76"),
        (0x41, 0xd0c) => Some("Neoverse-N1"),
        (0x41, 0xd0d) => Some("Cortex-A77"),
        (0x41, 0xd40) => Some("Neoverse-V1"),
        (0x41, 0xd41) => Some("Cortex-A78"),
        (0x41, 0xd49) => Some("Neoverse-N2"),
        (0x41, 0xd4f) => Some("Neoverse-V2"),
        (0xc0, 0xac3) => Some("AmpereOne"),
        _ => None,
    };
    match (known, vendor) {
        (Some(name), vendor) => format!("{vendor} {name}"),
        (None, "") => format!("CPU implementer {implementer:#04x} part {part:#05x}"),
        (None, vendor) => format!("{vendor} CPU part {part:#05x}"),
    }
}

/// `MemTotal:  16318412 kB` from `/proc/meminfo` (proc(5); the unit is always kB,
/// i.e. KiB).
fn mem_total(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let mut words = line["MemTotal:".len()..].split_whitespace();
    let value: u64 = words.next()?.parse().ok()?;
    let factor = match words.next() {
        Some("kB") | None => 1024,
        Some(_) => return None,
    };
    value.checked_mul(factor)
}

/// SMBIOS strings the kernel exports in `/sys/class/dmi/id` (drivers/firmware/dmi-id.c;
/// `product_uuid` and the serials are readable by root only).
#[derive(Debug, Default)]
struct Dmi {
    sys_vendor: Option<String>,
    product_name: Option<String>,
    product_uuid: Option<String>,
    board_asset_tag: Option<String>,
    chassis_asset_tag: Option<String>,
}

impl Dmi {
    fn read(dir: &Path) -> Dmi {
        let field = |name: &str| {
            read_text(&dir.join(name), MAX_SMALL_FILE)
                .map(|t| t.trim().to_owned())
                .filter(|t| !t.is_empty())
        };
        Dmi {
            sys_vendor: field("sys_vendor"),
            product_name: field("product_name"),
            product_uuid: field("product_uuid"),
            board_asset_tag: field("board_asset_tag"),
            chassis_asset_tag: field("chassis_asset_tag"),
        }
    }

    /// The provider the firmware names, with the instance id when it carries one.
    fn cloud(&self) -> Option<CloudInfo> {
        let vendor = self.sys_vendor.as_deref().unwrap_or("");
        let product = self.product_name.as_deref().unwrap_or("");
        // AWS: Nitro instances say "Amazon EC2" and put the instance id in the board
        // asset tag; Xen instances are recognised by a product UUID starting "ec2"
        // (AWS's "identify EC2 Linux instances" documentation).
        let uuid_says_ec2 = self
            .product_uuid
            .as_deref()
            .is_some_and(|u| u.len() >= 3 && u[..3].eq_ignore_ascii_case("ec2"));
        if vendor == "Amazon EC2" || uuid_says_ec2 {
            let instance_id = self
                .board_asset_tag
                .clone()
                .filter(|tag| tag.starts_with("i-"));
            return Some(cloud_info("aws", instance_id));
        }
        // GCE: vendor "Google", product "Google Compute Engine" (GCE's "detecting if
        // you are running in Compute Engine" documentation).
        if vendor == "Google" || product == "Google Compute Engine" {
            return Some(cloud_info("gcp", None));
        }
        if vendor == "Microsoft Corporation"
            && self.chassis_asset_tag.as_deref() == Some(AZURE_CHASSIS_ASSET_TAG)
        {
            return Some(cloud_info("azure", None));
        }
        None
    }
}

fn cloud_info(provider: &str, instance_id: Option<String>) -> CloudInfo {
    CloudInfo {
        provider: provider.to_owned(),
        instance_id,
        region: None,
        instance_type: None,
    }
}

/// The standardised `v1` keys of cloud-init's instance data (cloud-init's "instance
/// metadata" documentation). Older releases spell some with hyphens; both are read.
fn cloud_init(text: &str) -> Option<CloudInfo> {
    let doc: serde_json::Value = serde_json::from_str(text).ok()?;
    let v1 = doc.get("v1")?;
    let key = |underscore: &str| {
        let hyphen = underscore.replace('_', "-");
        let found = [underscore, hyphen.as_str()].into_iter().find_map(|k| {
            v1.get(k)
                .and_then(|v| v.as_str())
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        });
        found
    };
    let provider = match key("cloud_name")?.to_ascii_lowercase().as_str() {
        // Not a cloud: a local seed, or cloud-init could not tell.
        "nocloud" | "none" | "unknown" => return None,
        "gce" => "gcp".to_owned(),
        "ec2" => "aws".to_owned(),
        other => other.to_owned(),
    };
    Some(CloudInfo {
        provider,
        instance_id: key("instance_id"),
        region: key("region"),
        instance_type: key("instance_type"),
    })
}

/// The firmware names the provider; cloud-init fills in what the firmware does not
/// carry (region, instance type) when it agrees on the provider.
fn cloud(dmi: &Dmi, instance_data: Option<&str>) -> Option<CloudInfo> {
    let from_init = instance_data.and_then(cloud_init);
    match (dmi.cloud(), from_init) {
        (Some(mut found), Some(init)) if init.provider == found.provider => {
            found.instance_id = found.instance_id.or(init.instance_id);
            found.region = init.region;
            found.instance_type = init.instance_type;
            Some(found)
        }
        (Some(found), _) => Some(found),
        (None, init) => init,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::path::PathBuf;

    fn write(base: &Path, path: &str, text: &str) {
        let full = base.join(path);
        fs::create_dir_all(full.parent().unwrap()).unwrap();
        fs::write(full, text).unwrap();
    }

    // Two logical CPUs of an Intel Xeon as arch/x86/kernel/cpu/proc.c prints them
    // (stanzas separated by a blank line; flags shortened).
    const CPUINFO_X86: &str = "processor\t: 0
vendor_id\t: GenuineIntel
cpu family\t: 6
model\t\t: 85
model name\t: Intel(R) Xeon(R) Platinum 8259CL CPU @ 2.50GHz
stepping\t: 7
microcode\t: 0x5003604
cpu MHz\t\t: 2499.998
cache size\t: 36608 KB
physical id\t: 0
siblings\t: 2
core id\t\t: 0
cpu cores\t: 1
flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov
bogomips\t: 4999.99

processor\t: 1
vendor_id\t: GenuineIntel
cpu family\t: 6
model\t\t: 85
model name\t: Intel(R) Xeon(R) Platinum 8259CL CPU @ 2.50GHz
stepping\t: 7
cpu MHz\t\t: 2499.998
physical id\t: 0
siblings\t: 2
core id\t\t: 0
cpu cores\t: 1
bogomips\t: 4999.99

";

    // An AWS Graviton2 (Neoverse-N1) as arch/arm64/kernel/cpuinfo.c prints it: no
    // model name, only implementer and part.
    const CPUINFO_ARM64: &str = "processor\t: 0
BogoMIPS\t: 243.75
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid
CPU implementer\t: 0x41
CPU architecture: 8
CPU variant\t: 0x3
CPU part\t: 0xd0c
CPU revision\t: 1

processor\t: 1
BogoMIPS\t: 243.75
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid
CPU implementer\t: 0x41
CPU architecture: 8
CPU variant\t: 0x3
CPU part\t: 0xd0c
CPU revision\t: 1

";

    // The head of /proc/meminfo (proc(5)); values in kB.
    const MEMINFO: &str = "MemTotal:        8005540 kB
MemFree:          361504 kB
MemAvailable:    6263948 kB
Buffers:          281628 kB
Cached:          5330172 kB
SwapCached:            0 kB
";

    const OS_RELEASE: &str = r#"PRETTY_NAME="Ubuntu 22.04.4 LTS"
NAME="Ubuntu"
VERSION_ID="22.04"
VERSION="22.04.4 LTS (Jammy Jellyfish)"
VERSION_CODENAME=jammy
ID=ubuntu
ID_LIKE=debian
HOME_URL="https://www.ubuntu.com/"
UBUNTU_CODENAME=jammy
"#;

    // What cloud-init 23.x writes on EC2 (world-readable copy: sensitive keys
    // redacted), trimmed of the large `ds` and `sys_info` sections.
    const INSTANCE_DATA_AWS: &str = r#"{
 "_beta_keys": ["subplatform"],
 "availability_zone": "eu-west-1a",
 "base64_encoded_keys": [],
 "merged_cfg": "redacted for non-root user",
 "sensitive_keys": ["merged_cfg", "security-credentials"],
 "v1": {
  "_beta_keys": ["subplatform"],
  "availability-zone": "eu-west-1a",
  "availability_zone": "eu-west-1a",
  "cloud-name": "aws",
  "cloud_id": "aws",
  "cloud_name": "aws",
  "distro": "ubuntu",
  "distro_release": "jammy",
  "distro_version": "22.04",
  "instance-id": "i-0a1b2c3d4e5f67890",
  "instance_id": "i-0a1b2c3d4e5f67890",
  "instance_type": "t3.medium",
  "kernel_release": "6.5.0-1014-aws",
  "local-hostname": "ip-172-31-20-5",
  "local_hostname": "ip-172-31-20-5",
  "machine": "x86_64",
  "platform": "ec2",
  "public_ssh_keys": [],
  "python_version": "3.10.12",
  "region": "eu-west-1",
  "subplatform": "metadata (http://169.254.169.254)",
  "system_platform": "Linux-6.5.0-1014-aws-x86_64-with-glibc2.35",
  "variant": "ubuntu"
 }
}"#;

    struct Fixture {
        _dir: tempfile::TempDir,
        root: PathBuf,
        proc: PathBuf,
        sys: PathBuf,
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let proc = dir.path().join("proc");
        let sys = dir.path().join("sys");
        for d in [&root, &proc, &sys] {
            fs::create_dir_all(d).unwrap();
        }
        Fixture {
            _dir: dir,
            root,
            proc,
            sys,
        }
    }

    #[test]
    fn an_ec2_host_is_described_from_its_files() {
        let f = fixture();
        write(&f.root, "etc/hostname", "# set by cloud-init\nweb-1\n");
        // os-release through the usual relative symlink.
        write(&f.root, "usr/lib/os-release", OS_RELEASE);
        std::os::unix::fs::symlink("../usr/lib/os-release", f.root.join("etc/os-release")).unwrap();
        write(&f.root, CLOUD_INIT_INSTANCE_DATA, INSTANCE_DATA_AWS);
        write(&f.proc, "sys/kernel/osrelease", "6.5.0-1014-aws\n");
        write(&f.proc, "cpuinfo", CPUINFO_X86);
        write(&f.proc, "meminfo", MEMINFO);
        // A Nitro instance's DMI strings (one value and a newline per file).
        write(&f.sys, "class/dmi/id/sys_vendor", "Amazon EC2\n");
        write(&f.sys, "class/dmi/id/product_name", "t3.medium\n");
        write(
            &f.sys,
            "class/dmi/id/product_uuid",
            "ec2e1916-9099-7caa-fd21-0123456789ab\n",
        );
        write(
            &f.sys,
            "class/dmi/id/board_asset_tag",
            "i-0a1b2c3d4e5f67890\n",
        );
        write(&f.sys, "class/dmi/id/chassis_asset_tag", "Amazon EC2\n");
        let tags = BTreeMap::from([("env".to_owned(), "prod".to_owned())]);
        let facts = host_facts(&f.root, &f.proc, &f.sys, tags.clone());
        assert_eq!(facts.hostname, "web-1");
        assert_eq!(host_name(&f.root, &f.proc), "web-1");
        let os = facts.os.expect("os");
        assert_eq!(os.id, "ubuntu");
        assert_eq!(os.version_id.as_deref(), Some("22.04"));
        // OSV's name for Ubuntu's LTS releases.
        assert_eq!(os.ecosystem.as_deref(), Some("Ubuntu:22.04:LTS"));
        assert_eq!(facts.kernel.as_deref(), Some("6.5.0-1014-aws"));
        assert_eq!(
            facts.cpu_model.as_deref(),
            Some("Intel(R) Xeon(R) Platinum 8259CL CPU @ 2.50GHz")
        );
        assert_eq!(facts.cpu_cores, 2);
        assert_eq!(facts.memory_bytes, 8005540 * 1024);
        assert_eq!(
            facts.cloud,
            Some(CloudInfo {
                provider: "aws".into(),
                instance_id: Some("i-0a1b2c3d4e5f67890".into()),
                region: Some("eu-west-1".into()),
                instance_type: Some("t3.medium".into()),
            })
        );
        assert_eq!(facts.tags, tags);
        assert_eq!(facts.agent_version, env!("CARGO_PKG_VERSION"));
    }

    #[test]
    fn gcp_and_azure_are_told_from_dmi_and_hyper_v_is_not_azure() {
        let f = fixture();
        write(&f.sys, "class/dmi/id/sys_vendor", "Google\n");
        write(
            &f.sys,
            "class/dmi/id/product_name",
            "Google Compute Engine\n",
        );
        let facts = host_facts(&f.root, &f.proc, &f.sys, BTreeMap::new());
        assert_eq!(facts.cloud.map(|c| c.provider).as_deref(), Some("gcp"));

        let f = fixture();
        write(&f.sys, "class/dmi/id/sys_vendor", "Microsoft Corporation\n");
        write(&f.sys, "class/dmi/id/product_name", "Virtual Machine\n");
        write(
            &f.sys,
            "class/dmi/id/chassis_asset_tag",
            &format!("{AZURE_CHASSIS_ASSET_TAG}\n"),
        );
        let facts = host_facts(&f.root, &f.proc, &f.sys, BTreeMap::new());
        assert_eq!(facts.cloud.map(|c| c.provider).as_deref(), Some("azure"));

        // A Hyper-V VM on someone's own server: same vendor, no Azure tag.
        let f = fixture();
        write(&f.sys, "class/dmi/id/sys_vendor", "Microsoft Corporation\n");
        write(&f.sys, "class/dmi/id/product_name", "Virtual Machine\n");
        write(&f.sys, "class/dmi/id/chassis_asset_tag", "0000-0000-0000\n");
        let facts = host_facts(&f.root, &f.proc, &f.sys, BTreeMap::new());
        assert_eq!(facts.cloud, None);
    }

    #[test]
    fn cloud_init_alone_names_the_cloud_and_nocloud_is_none() {
        let f = fixture();
        // OpenStack: generic DMI, cloud-init knows.
        write(
            &f.root,
            CLOUD_INIT_INSTANCE_DATA,
            r#"{"v1": {"cloud_name": "openstack", "instance_id": "3b9b1c6e-1f5e-4c8e-9d7a-2f1e0c3b4a59", "region": "RegionOne", "instance_type": "m1.small"}}"#,
        );
        let facts = host_facts(&f.root, &f.proc, &f.sys, BTreeMap::new());
        let cloud = facts.cloud.expect("cloud");
        assert_eq!(cloud.provider, "openstack");
        assert_eq!(cloud.region.as_deref(), Some("RegionOne"));

        let f = fixture();
        write(
            &f.root,
            CLOUD_INIT_INSTANCE_DATA,
            r#"{"v1": {"cloud-name": "nocloud", "instance-id": "iid-local01"}}"#,
        );
        assert_eq!(
            host_facts(&f.root, &f.proc, &f.sys, BTreeMap::new()).cloud,
            None
        );

        // Broken JSON is no cloud, not a panic.
        let f = fixture();
        write(&f.root, CLOUD_INIT_INSTANCE_DATA, r#"{"v1": {"cloud_na"#);
        assert_eq!(
            host_facts(&f.root, &f.proc, &f.sys, BTreeMap::new()).cloud,
            None
        );
    }

    #[test]
    fn arm64_cpus_are_named_from_implementer_and_part() {
        assert_eq!(cpu_model(CPUINFO_ARM64).as_deref(), Some("ARM Neoverse-N1"));
        assert_eq!(cpu_count(CPUINFO_ARM64), 2);
        assert_eq!(arm_cpu_name(0x61, 0x022), "Apple CPU part 0x022");
    }

    #[test]
    fn cores_fall_back_to_the_online_cpu_list() {
        let f = fixture();
        write(&f.proc, "cpuinfo", "");
        write(&f.sys, "devices/system/cpu/online", "0-3,6,8-9\n");
        let facts = host_facts(&f.root, &f.proc, &f.sys, BTreeMap::new());
        assert_eq!(facts.cpu_cores, 7);
        // Nothing at all: zeros and absent fields, no panic.
        assert_eq!(facts.memory_bytes, 0);
        assert_eq!(facts.kernel, None);
        assert_eq!(facts.os, None);
    }

    #[test]
    fn hostname_comes_from_the_kernel_when_the_root_has_none() {
        let f = fixture();
        write(&f.proc, "sys/kernel/hostname", "builder\n");
        let facts = host_facts(&f.root, &f.proc, &f.sys, BTreeMap::new());
        assert_eq!(facts.hostname, "builder");
        assert_eq!(host_name(&f.root, &f.proc), "builder");
    }

    #[test]
    fn the_real_machine() {
        let facts = host_facts(
            Path::new("/"),
            Path::new("/proc"),
            Path::new("/sys"),
            BTreeMap::new(),
        );
        assert!(!facts.hostname.is_empty(), "{facts:?}");
        assert!(facts.cpu_cores >= 1, "{facts:?}");
        assert!(facts.memory_bytes > 0, "{facts:?}");
        assert!(facts.kernel.is_some(), "{facts:?}");
    }
}
