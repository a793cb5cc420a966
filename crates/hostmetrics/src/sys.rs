//! The few answers `/proc` and `/sys` do not give: filesystem usage (`statfs`), `uname`,
//! the tick rate, the page size and the local time zone. The only `unsafe` of the crate.

use std::ffi::{CStr, CString};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// What `statfs` says about one mounted filesystem, in node_exporter's units.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct FsUsage {
    pub(crate) size_bytes: f64,
    pub(crate) free_bytes: f64,
    pub(crate) avail_bytes: f64,
    pub(crate) files: f64,
    pub(crate) files_free: f64,
}

/// `statfs(2)` on `path`; blocks count in `f_bsize` units as node_exporter counts them.
pub(crate) fn statfs(path: &Path) -> Result<FsUsage, String> {
    let c_path = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| format!("{}: path holds a NUL byte", path.display()))?;
    let mut buf = std::mem::MaybeUninit::<libc::statfs>::zeroed();
    // SAFETY: `c_path` is a valid NUL-terminated string and `buf` points to writable
    // memory of the right type; the kernel fills it completely on success.
    let rc = unsafe { libc::statfs(c_path.as_ptr(), buf.as_mut_ptr()) };
    if rc != 0 {
        return Err(format!(
            "statfs {}: {}",
            path.display(),
            std::io::Error::last_os_error()
        ));
    }
    // SAFETY: statfs returned 0, so `buf` is initialised.
    let buf = unsafe { buf.assume_init() };
    let block = buf.f_bsize as f64;
    Ok(FsUsage {
        size_bytes: buf.f_blocks as f64 * block,
        free_bytes: buf.f_bfree as f64 * block,
        avail_bytes: buf.f_bavail as f64 * block,
        files: buf.f_files as f64,
        files_free: buf.f_ffree as f64,
    })
}

/// `uname(2)`'s six fields, named as `node_uname_info`'s labels.
pub(crate) fn uname() -> Result<[(&'static str, String); 6], String> {
    let mut buf = std::mem::MaybeUninit::<libc::utsname>::zeroed();
    // SAFETY: `buf` is writable memory of the right type.
    let rc = unsafe { libc::uname(buf.as_mut_ptr()) };
    if rc != 0 {
        return Err(format!("uname: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: uname returned 0, so every field is a NUL-terminated string.
    let buf = unsafe { buf.assume_init() };
    let text = |field: &[libc::c_char]| {
        // The kernel terminates each field; a field without NUL is read to its end.
        let bytes: Vec<u8> = field
            .iter()
            .take_while(|&&c| c != 0)
            .map(|&c| c as u8)
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    };
    Ok([
        ("domainname", text(&buf.domainname)),
        ("machine", text(&buf.machine)),
        ("nodename", text(&buf.nodename)),
        ("release", text(&buf.release)),
        ("sysname", text(&buf.sysname)),
        ("version", text(&buf.version)),
    ])
}

/// The kernel's `USER_HZ` (ticks per second in `/proc/stat` and `/proc/PID/stat`).
pub(crate) fn user_hz() -> f64 {
    // SAFETY: sysconf only reads a constant.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if hz > 0 {
        hz as f64
    } else {
        100.0
    }
}

/// The page size in bytes (RSS in `/proc/PID/stat` counts pages).
pub(crate) fn page_size() -> f64 {
    // SAFETY: sysconf only reads a constant.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if size > 0 {
        size as f64
    } else {
        4096.0
    }
}

/// The local time zone's abbreviation and offset from UTC in seconds at `unix_seconds`.
pub(crate) fn local_zone(unix_seconds: i64) -> Result<(String, f64), String> {
    let time: libc::time_t = unix_seconds as libc::time_t;
    let mut tm = std::mem::MaybeUninit::<libc::tm>::zeroed();
    // SAFETY: both pointers are valid; localtime_r is the thread-safe variant and fills
    // `tm` on success.
    let result = unsafe { libc::localtime_r(&time, tm.as_mut_ptr()) };
    if result.is_null() {
        return Err("localtime_r failed".to_string());
    }
    // SAFETY: localtime_r succeeded.
    let tm = unsafe { tm.assume_init() };
    let zone = if tm.tm_zone.is_null() {
        String::new()
    } else {
        // SAFETY: tm_zone points to a NUL-terminated string owned by libc that lives at
        // least until the next tzset.
        unsafe { CStr::from_ptr(tm.tm_zone) }
            .to_string_lossy()
            .into_owned()
    };
    Ok((zone, tm.tm_gmtoff as f64))
}
