//! Go modules: the build information the Go linker embeds in every executable (what
//! `go version -m` prints) and `go.mod` files.
//!
//! **Binaries.** The linker writes a 32-byte header starting with `\xff Go buildinf:`
//! into the `.go.buildinfo` section (ELF), `__go_buildinfo` (Mach-O) or the data
//! section (PE). Byte 14 is the pointer size, byte 15 flags: bit 0 big-endian, bit 1
//! "strings inline". Since Go 1.18 the Go version and the module information follow the
//! header as two varint-length-prefixed strings; before that, two pointers at offset 16
//! point to Go string headers (data pointer, length) elsewhere in the image, which are
//! followed through the segment table. The module information is a text of
//! tab-separated lines (`path`, `mod`, `dep`, `=>`, `build`) framed by two 16-byte
//! sentinels. When sections are stripped or the executable's tables cannot be read, the
//! whole file is searched for the header.
//!
//! Reported: `stdlib` at the Go version without its `go` prefix, the main module unless
//! its version is `(devel)`, every `dep`; a `=>` replacement that has a version takes
//! the place of the module it replaces (a replacement by a local directory has none —
//! `(devel)` or empty — and leaves the original).
//!
//! **go.mod.** `require` lines and blocks, with `replace` directives applied by the same
//! rule; the `module` itself is the project and is not reported.

use super::{LangPackage, Parsed};
use object::{Object, ObjectSection, ObjectSegment};
use postwatch_model::PackageManager;

const MAGIC: &[u8] = b"\xff Go buildinf:";
const HEADER_LEN: usize = 32;
/// Longest version or module-information string believed (Go's own reader allows far
/// less in practice; real module lists are kilobytes).
const MAX_STRING: u64 = 16 << 20;
/// Bytes at the start of a data section searched for a pre-1.13 header.
const DATA_SEARCH_BYTES: usize = 64 << 10;
/// Magic occurrences tried before giving up on a file.
const MAX_CANDIDATES: usize = 64;
/// The sentinels the linker puts around the module information.
const MODINFO_START: &[u8] = b"0w\xaf\x0c\x92t\x08\x02A\xe1\xc1\x07\xe6\xd6\x18\xe6";
const MODINFO_END: &[u8] = b"\xf92C1\x86\x18 r\x00\x82B\x10A\x16\xd8\xf2";

/// A cheap test on the first bytes of a file: an ELF, PE (`MZ`) or Mach-O (thin or fat)
/// executable. Callers skip everything else before reading it whole.
pub fn is_candidate(head: &[u8]) -> bool {
    const MAGICS: [&[u8]; 7] = [
        b"\x7fELF",
        b"MZ",
        b"\xfe\xed\xfa\xce",
        b"\xfe\xed\xfa\xcf",
        b"\xce\xfa\xed\xfe",
        b"\xcf\xfa\xed\xfe",
        b"\xca\xfe\xba\xbe",
    ];
    MAGICS.iter().any(|m| head.starts_with(m))
}

/// Reads the Go build information of an executable. Anything that is not a Go binary
/// gives an empty result without a warning; a damaged build information gives what
/// could be read and a warning naming `path`.
pub fn parse_go_binary(path: &str, bytes: &[u8]) -> Parsed {
    let mut parsed = Parsed::default();
    if !is_candidate(bytes) {
        return parsed;
    }
    let file = object::File::parse(bytes).ok();

    // The dedicated section first. Without one, an ELF or Mach-O file with a section
    // table is searched only where older linkers put the header (the start of the
    // data section, as Go's own debug/buildinfo does); PE files, damaged tables and
    // stripped section headers fall back to the whole file. Searching every
    // executable of a root filesystem whole would cost more than reading it.
    let mut regions: Vec<&[u8]> = Vec::new();
    // Reported only when the search does not find complete information either.
    let mut section_problem: Option<String> = None;
    let mut searched_data_only = false;
    if let Some(f) = &file {
        for name in [".go.buildinfo", "__go_buildinfo"] {
            if let Some(section) = f.section_by_name(name) {
                match section.data() {
                    Ok(data) => regions.push(data),
                    Err(e) => {
                        section_problem =
                            Some(format!("{path}: section {name} cannot be read: {e}"))
                    }
                }
            }
        }
        let has_sections = f.sections().next().is_some();
        let sectioned = matches!(
            f.format(),
            object::BinaryFormat::Elf | object::BinaryFormat::MachO
        );
        if regions.is_empty() && section_problem.is_none() && has_sections && sectioned {
            searched_data_only = true;
            for name in [".data", "__data", ".noptrdata", "__noptrdata"] {
                if let Some(data) = f.section_by_name(name).and_then(|s| s.data().ok()) {
                    regions.push(&data[..data.len().min(DATA_SEARCH_BYTES)]);
                }
            }
        }
    }
    if !searched_data_only {
        regions.push(bytes);
    }

    let mut first_damaged: Option<BuildInfo> = None;
    let mut tried = 0usize;
    'regions: for region in regions {
        for at in find_all(region, MAGIC) {
            tried += 1;
            if tried > MAX_CANDIDATES {
                break 'regions;
            }
            let Some(info) = decode(region.get(at..).unwrap_or_default(), file.as_ref()) else {
                continue;
            };
            if info.problem.is_none() {
                emit(path, &info, &mut parsed);
                return parsed;
            }
            if first_damaged.is_none() {
                first_damaged = Some(info);
            }
        }
    }
    if let Some(info) = first_damaged {
        if let Some(problem) = &info.problem {
            parsed
                .warnings
                .push(format!("{path}: Go build information: {problem}"));
        }
        emit(path, &info, &mut parsed);
    } else if let Some(problem) = section_problem {
        parsed.warnings.push(problem);
    }
    parsed
}

/// Reads Go build information from the bytes of a binary's `.go.buildinfo` section
/// alone, for callers that did not read the whole file. `None` when the section does
/// not hold complete information by itself (pre-1.18 binaries point into other
/// sections): read the whole file with [`parse_go_binary`] then.
pub fn parse_go_section(path: &str, section: &[u8]) -> Option<Parsed> {
    for at in find_all(section, MAGIC).take(MAX_CANDIDATES) {
        let info = decode(section.get(at..).unwrap_or_default(), None)?;
        if info.problem.is_none() {
            let mut parsed = Parsed::default();
            emit(path, &info, &mut parsed);
            return Some(parsed);
        }
    }
    None
}

/// What one header led to. `problem` says what was missing when the information is
/// partial.
struct BuildInfo {
    version: Option<String>,
    /// The module lines, sentinels removed; only whole lines when `problem` is set.
    modinfo: String,
    problem: Option<String>,
}

/// Every offset at which `needle` starts in `hay`.
fn find_all<'a>(hay: &'a [u8], needle: &'a [u8]) -> impl Iterator<Item = usize> + 'a {
    memchr::memmem::find_iter(hay, needle)
}

/// Decodes the build information whose header starts `data`. `None` when the bytes after
/// the magic are not a plausible header (e.g. the magic quoted as a string constant).
fn decode(data: &[u8], file: Option<&object::File<'_>>) -> Option<BuildInfo> {
    let ptr_size = *data.get(14)?;
    let flags = *data.get(15)?;
    if !(ptr_size == 4 || ptr_size == 8) || flags & !3 != 0 {
        return None;
    }
    let big_endian = flags & 1 != 0;
    let mut info = BuildInfo {
        version: None,
        modinfo: String::new(),
        problem: None,
    };
    if flags & 2 != 0 {
        decode_inline(data, &mut info);
    } else {
        decode_pointers(data, usize::from(ptr_size), big_endian, file, &mut info);
    }
    Some(info)
}

/// Go ≥ 1.18: two varint-prefixed strings right after the 32-byte header.
fn decode_inline(data: &[u8], info: &mut BuildInfo) {
    let mut at = HEADER_LEN;
    match read_varint_string(data, &mut at) {
        Ok(v) => info.version = Some(String::from_utf8_lossy(v).into_owned()),
        Err(e) => {
            info.problem = Some(format!("Go version {e}"));
            return;
        }
    }
    match read_varint_string(data, &mut at) {
        Ok(m) => info.modinfo = strip_sentinels(m),
        Err(e) => {
            info.problem = Some(format!("module information {e}"));
            info.modinfo = whole_lines(data.get(at..).unwrap_or_default());
        }
    }
}

/// Reads one varint-length-prefixed string at `*at`, advancing past it. On truncation,
/// `*at` is left at the start of the string's bytes.
fn read_varint_string<'a>(data: &'a [u8], at: &mut usize) -> Result<&'a [u8], String> {
    let mut len: u64 = 0;
    let mut shift = 0u32;
    loop {
        let Some(&b) = data.get(*at) else {
            return Err("is cut off before its length".into());
        };
        *at += 1;
        if shift >= 63 {
            return Err("has an invalid length".into());
        }
        len |= u64::from(b & 0x7f) << shift;
        shift += 7;
        if b & 0x80 == 0 {
            break;
        }
    }
    if len > MAX_STRING {
        return Err(format!("claims {len} bytes, more than allowed"));
    }
    let start = *at;
    let end = usize::try_from(len)
        .ok()
        .and_then(|l| start.checked_add(l))
        .filter(|&end| end <= data.len());
    match end {
        Some(end) => {
            *at = end;
            Ok(data.get(start..end).unwrap_or_default())
        }
        None => Err(format!(
            "is cut off ({} of {len} bytes present)",
            data.len().saturating_sub(start)
        )),
    }
}

/// Go 1.13–1.17: pointers to string headers, resolved through the executable's tables.
fn decode_pointers(
    data: &[u8],
    ptr_size: usize,
    big_endian: bool,
    file: Option<&object::File<'_>>,
    info: &mut BuildInfo,
) {
    let Some(file) = file else {
        info.problem =
            Some("uses the pointer format but the executable's tables cannot be read".into());
        return;
    };
    let word = |bytes: &[u8], at: usize| read_word(bytes, at, ptr_size, big_endian);
    let (Some(vers_ptr), Some(mod_ptr)) = (word(data, 16), word(data, 16 + ptr_size)) else {
        info.problem = Some("header is cut off".into());
        return;
    };
    let read_string = |ptr: u64| -> Result<&[u8], String> {
        let header = read_at_address(file, ptr, 2 * ptr_size as u64)
            .ok_or_else(|| format!("string header at {ptr:#x} is outside the image"))?;
        let (Some(data_ptr), Some(len)) = (word(header, 0), word(header, ptr_size)) else {
            return Err(format!("string header at {ptr:#x} is cut off"));
        };
        if len > MAX_STRING {
            return Err(format!("string at {data_ptr:#x} claims {len} bytes"));
        }
        if len == 0 {
            return Ok(&[]);
        }
        read_at_address(file, data_ptr, len)
            .ok_or_else(|| format!("string at {data_ptr:#x} ({len} bytes) is outside the image"))
    };
    match read_string(vers_ptr) {
        Ok(v) => info.version = Some(String::from_utf8_lossy(v).into_owned()),
        Err(e) => {
            info.problem = Some(format!("Go version: {e}"));
            return;
        }
    }
    match read_string(mod_ptr) {
        Ok(m) => info.modinfo = strip_sentinels(m),
        Err(e) => info.problem = Some(format!("module information: {e}")),
    }
}

fn read_word(bytes: &[u8], at: usize, size: usize, big_endian: bool) -> Option<u64> {
    let raw = bytes.get(at..at.checked_add(size)?)?;
    let mut value: u64 = 0;
    if big_endian {
        for b in raw {
            value = (value << 8) | u64::from(*b);
        }
    } else {
        for b in raw.iter().rev() {
            value = (value << 8) | u64::from(*b);
        }
    }
    Some(value)
}

/// The `len` bytes at virtual address `addr`, from the segment or section that holds
/// them in the file.
fn read_at_address<'d>(file: &object::File<'d>, addr: u64, len: u64) -> Option<&'d [u8]> {
    let slice = |base: u64, data: &'d [u8]| -> Option<&'d [u8]> {
        let start = usize::try_from(addr.checked_sub(base)?).ok()?;
        let end = start.checked_add(usize::try_from(len).ok()?)?;
        data.get(start..end)
    };
    file.segments()
        .filter_map(|s| slice(s.address(), s.data().ok()?))
        .next()
        .or_else(|| {
            file.sections()
                .filter_map(|s| slice(s.address(), s.data().ok()?))
                .next()
        })
}

/// Removes the linker's sentinels when both are present (Go's own rule: the text is at
/// least 33 bytes and the byte before the end sentinel is a newline).
fn strip_sentinels(m: &[u8]) -> String {
    let inner = if m.len() >= 33 && m.get(m.len() - 17) == Some(&b'\n') {
        m.get(16..m.len() - 16).unwrap_or_default()
    } else {
        let m = m.strip_prefix(MODINFO_START).unwrap_or(m);
        m.strip_suffix(MODINFO_END).unwrap_or(m)
    };
    String::from_utf8_lossy(inner).into_owned()
}

/// The complete lines of a cut-off module text (start sentinel removed).
fn whole_lines(m: &[u8]) -> String {
    let m = m.strip_prefix(MODINFO_START).unwrap_or(m);
    let end = m.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    String::from_utf8_lossy(m.get(..end).unwrap_or_default()).into_owned()
}

/// A module as named by a `mod` or `dep` line, with its `=>` replacement applied.
struct Module {
    path: String,
    version: String,
    main: bool,
}

fn emit(path: &str, info: &BuildInfo, parsed: &mut Parsed) {
    let package = |name: &str, version: &str| LangPackage {
        manager: PackageManager::Go,
        name: name.to_string(),
        version: version.to_string(),
        files: vec![path.to_string()],
        dev: false,
    };
    if let Some(version) = info.version.as_deref().and_then(stdlib_version) {
        parsed.packages.push(package("stdlib", version));
    }
    let mut modules: Vec<Module> = Vec::new();
    for (n, line) in info.modinfo.lines().enumerate() {
        let fields: Vec<&str> = line.split('\t').collect();
        match fields.as_slice() {
            ["mod", p, rest @ ..] | ["dep", p, rest @ ..] => modules.push(Module {
                path: p.to_string(),
                version: rest.first().copied().unwrap_or_default().to_string(),
                main: fields.first() == Some(&"mod"),
            }),
            ["=>", p, rest @ ..] => {
                let version = rest.first().copied().unwrap_or_default();
                match modules.last_mut() {
                    // A directory replacement has no version (`(devel)` or empty).
                    Some(m) if !version.is_empty() && version != "(devel)" => {
                        m.path = p.to_string();
                        m.version = version.to_string();
                    }
                    Some(_) => {}
                    None => parsed.warnings.push(format!(
                        "{path}: Go build information line {}: replacement without a module",
                        n + 1
                    )),
                }
            }
            _ => {}
        }
    }
    for m in modules {
        if m.path.is_empty() || m.version.is_empty() || (m.main && m.version == "(devel)") {
            continue;
        }
        parsed.packages.push(package(&m.path, &m.version));
    }
}

/// `go1.19.8` → `1.19.8`; `go1.21.0 X:boringcrypto` → `1.21.0`. Development toolchains
/// (`devel +abc`) have no release version.
fn stdlib_version(v: &str) -> Option<&str> {
    let v = v.split_whitespace().next()?.strip_prefix("go")?;
    v.starts_with(|c: char| c.is_ascii_digit()).then_some(v)
}

/// Reads the `require` and `replace` directives of a go.mod file.
pub fn parse_go_mod(path: &str, bytes: &[u8]) -> Parsed {
    let mut parsed = Parsed::default();
    let text = String::from_utf8_lossy(bytes);
    if matches!(text, std::borrow::Cow::Owned(_)) {
        parsed
            .warnings
            .push(format!("{path}: not valid UTF-8; invalid bytes replaced"));
    }

    struct Require {
        path: String,
        version: String,
    }
    struct Replace {
        old: String,
        old_version: Option<String>,
        new: String,
        new_version: Option<String>,
    }
    let mut requires: Vec<Require> = Vec::new();
    let mut replaces: Vec<Replace> = Vec::new();
    let mut block: Option<(String, usize)> = None;

    for (n, raw) in text.lines().enumerate() {
        let line_no = n + 1;
        let tokens = match tokenize(raw) {
            Ok(t) => t,
            Err(e) => {
                parsed
                    .warnings
                    .push(format!("{path}: line {line_no}: {e}; line skipped"));
                continue;
            }
        };
        if tokens.is_empty() {
            continue;
        }
        let (verb, args): (String, &[String]) = match (&block, tokens.as_slice()) {
            (Some(_), [close]) if close == ")" => {
                block = None;
                continue;
            }
            (Some((verb, _)), all) => (verb.clone(), all),
            (None, [verb, open]) if open == "(" => {
                block = Some((verb.clone(), line_no));
                continue;
            }
            (None, [verb, rest @ ..]) => (verb.clone(), rest),
            (None, []) => continue,
        };
        let mut bad = |what: &str| {
            parsed.warnings.push(format!(
                "{path}: line {line_no}: malformed {what} directive; skipped"
            ))
        };
        match verb.as_str() {
            "require" => match args {
                [p, v] => requires.push(Require {
                    path: p.clone(),
                    version: v.clone(),
                }),
                _ => bad("require"),
            },
            "replace" => {
                let Some(arrow) = args.iter().position(|t| t == "=>") else {
                    bad("replace");
                    continue;
                };
                let (left, right) = args.split_at(arrow);
                let right = right.get(1..).unwrap_or_default();
                let (old, old_version) = match left {
                    [o] => (o.clone(), None),
                    [o, v] => (o.clone(), Some(v.clone())),
                    _ => {
                        bad("replace");
                        continue;
                    }
                };
                let (new, new_version) = match right {
                    [n] => (n.clone(), None),
                    [n, v] => (n.clone(), Some(v.clone())),
                    _ => {
                        bad("replace");
                        continue;
                    }
                };
                replaces.push(Replace {
                    old,
                    old_version,
                    new,
                    new_version,
                });
            }
            _ => {}
        }
    }
    if let Some((verb, line)) = block {
        parsed.warnings.push(format!(
            "{path}: {verb} block opened on line {line} is not closed"
        ));
    }

    for r in requires {
        // A replacement of this exact version wins over one of every version.
        let replacement = replaces
            .iter()
            .filter(|p| p.old == r.path && p.old_version.as_deref() == Some(&r.version))
            .chain(
                replaces
                    .iter()
                    .filter(|p| p.old == r.path && p.old_version.is_none()),
            )
            .next();
        let (name, version) = match replacement {
            Some(Replace {
                new,
                new_version: Some(v),
                ..
            }) => (new.clone(), v.clone()),
            _ => (r.path, r.version),
        };
        parsed.packages.push(LangPackage {
            manager: PackageManager::Go,
            name,
            version,
            files: vec![path.to_string()],
            dev: false,
        });
    }
    parsed
}

/// Splits a go.mod line into tokens: words, `"quoted"` and `` `raw` `` strings, and
/// the punctuation `(`, `)`, `=>`; a `//` comment ends the line.
fn tokenize(line: &str) -> Result<Vec<String>, String> {
    let mut tokens = Vec::new();
    let mut chars = line.char_indices().peekable();
    while let Some(&(i, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let rest = line.get(i..).unwrap_or_default();
        if rest.starts_with("//") {
            break;
        }
        if c == '(' || c == ')' {
            tokens.push(c.to_string());
            chars.next();
            continue;
        }
        if rest.starts_with("=>") {
            tokens.push("=>".into());
            chars.next();
            chars.next();
            continue;
        }
        if c == '"' || c == '`' {
            chars.next();
            let mut s = String::new();
            let mut closed = false;
            while let Some((_, d)) = chars.next() {
                if d == c {
                    closed = true;
                    break;
                }
                if d == '\\' && c == '"' {
                    if let Some((_, e)) = chars.next() {
                        s.push(e);
                    }
                    continue;
                }
                s.push(d);
            }
            if !closed {
                return Err("unterminated quoted string".into());
            }
            tokens.push(s);
            continue;
        }
        let mut s = String::new();
        while let Some(&(j, d)) = chars.peek() {
            let here = line.get(j..).unwrap_or_default();
            if d.is_whitespace()
                || d == '('
                || d == ')'
                || here.starts_with("//")
                || here.starts_with("=>")
            {
                break;
            }
            s.push(d);
            chars.next();
        }
        tokens.push(s);
    }
    Ok(tokens)
}
