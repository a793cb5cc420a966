//! Berkeley DB hash `Packages` (rpm < 4.16, RHEL/CentOS ≤ 8, Amazon Linux 2): read
//! page by page without libdb. Values (the header blobs) are either inline
//! (`H_KEYDATA`) or in chains of overflow pages (`H_OFFPAGE`). Byte order is the
//! writer's; the metadata page's magic tells which.

use super::RpmDbError;

const HASH_MAGIC: u32 = 0x0006_1561;
const PAGE_HEADER: usize = 26;
const P_HASH_UNSORTED: u8 = 2;
const P_OVERFLOW: u8 = 7;
const P_HASH: u8 = 13;
const H_KEYDATA: u8 = 1;
const H_OFFPAGE: u8 = 3;

struct Db<'a> {
    bytes: &'a [u8],
    page_size: usize,
    little: bool,
}

impl<'a> Db<'a> {
    fn u32_at(&self, at: usize) -> u32 {
        let b = [
            self.bytes[at],
            self.bytes[at + 1],
            self.bytes[at + 2],
            self.bytes[at + 3],
        ];
        if self.little {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        }
    }

    fn u16_at(&self, at: usize) -> u16 {
        let b = [self.bytes[at], self.bytes[at + 1]];
        if self.little {
            u16::from_le_bytes(b)
        } else {
            u16::from_be_bytes(b)
        }
    }

    fn page(&self, pgno: usize) -> Option<&'a [u8]> {
        let start = pgno.checked_mul(self.page_size)?;
        self.bytes.get(start..start + self.page_size)
    }

    fn page_start(&self, pgno: usize) -> usize {
        pgno * self.page_size
    }

    /// Follows an overflow chain from `pgno`, collecting `total` bytes.
    fn overflow(&self, mut pgno: usize, total: usize) -> Result<Vec<u8>, RpmDbError> {
        let mut out = Vec::with_capacity(total.min(self.bytes.len()));
        let mut hops = 0usize;
        while out.len() < total {
            hops += 1;
            if pgno == 0 || hops > self.bytes.len() / self.page_size + 1 {
                return Err(RpmDbError(format!(
                    "overflow chain broken or looping at page {pgno}"
                )));
            }
            let page = self.page(pgno).ok_or_else(|| {
                RpmDbError(format!("overflow page {pgno} is past the end of the file"))
            })?;
            if page[25] != P_OVERFLOW {
                return Err(RpmDbError(format!(
                    "page {pgno} should be an overflow page, is type {}",
                    page[25]
                )));
            }
            let start = self.page_start(pgno);
            let len = self.u16_at(start + 22) as usize;
            let data = page
                .get(PAGE_HEADER..PAGE_HEADER + len)
                .ok_or_else(|| RpmDbError(format!("overflow page {pgno} claims {len} bytes")))?;
            out.extend_from_slice(data);
            pgno = self.u32_at(start + 16) as usize;
        }
        out.truncate(total);
        Ok(out)
    }
}

pub fn blobs(bytes: &[u8]) -> Result<Vec<Vec<u8>>, RpmDbError> {
    if bytes.len() < 512 {
        return Err(RpmDbError("too short for a Berkeley DB file".into()));
    }
    let magic_le = u32::from_le_bytes([bytes[12], bytes[13], bytes[14], bytes[15]]);
    let magic_be = u32::from_be_bytes([bytes[12], bytes[13], bytes[14], bytes[15]]);
    let little = match (magic_le == HASH_MAGIC, magic_be == HASH_MAGIC) {
        (true, _) => true,
        (_, true) => false,
        _ => {
            return Err(RpmDbError(
                "not a Berkeley DB hash database (bad magic)".into(),
            ))
        }
    };
    let mut db = Db {
        bytes,
        page_size: 0,
        little,
    };
    db.page_size = db.u32_at(20) as usize;
    if !(512..=65536).contains(&db.page_size) || !db.page_size.is_power_of_two() {
        return Err(RpmDbError(format!(
            "implausible page size {}",
            db.page_size
        )));
    }
    if bytes[24] != 0 {
        return Err(RpmDbError(
            "encrypted Berkeley DB files are not supported".into(),
        ));
    }
    let pages = bytes.len() / db.page_size;
    let mut out = Vec::new();
    for pgno in 1..pages {
        let Some(page) = db.page(pgno) else { break };
        if page[25] != P_HASH && page[25] != P_HASH_UNSORTED {
            continue;
        }
        let start = db.page_start(pgno);
        let entries = db.u16_at(start + 20) as usize;
        if PAGE_HEADER + entries * 2 > db.page_size {
            return Err(RpmDbError(format!(
                "hash page {pgno} claims {entries} entries"
            )));
        }
        // Entries alternate key, value; values are at odd positions.
        for i in (1..entries).step_by(2) {
            let key_item = db.u16_at(start + PAGE_HEADER + (i - 1) * 2) as usize;
            let key_end = if i >= 2 {
                db.u16_at(start + PAGE_HEADER + (i - 2) * 2) as usize
            } else {
                db.page_size
            };
            // Record 0 is rpm's bookkeeping (the next instance number), not a header.
            if page.get(key_item) == Some(&H_KEYDATA)
                && page
                    .get(key_item + 1..key_end)
                    .is_some_and(|k| k.iter().all(|&b| b == 0))
            {
                continue;
            }
            let item = db.u16_at(start + PAGE_HEADER + i * 2) as usize;
            let Some(&kind) = page.get(item) else {
                return Err(RpmDbError(format!(
                    "hash page {pgno}: entry {i} points outside the page"
                )));
            };
            match kind {
                H_OFFPAGE => {
                    if item + 12 > db.page_size {
                        return Err(RpmDbError(format!(
                            "hash page {pgno}: entry {i} is cut off"
                        )));
                    }
                    let first = db.u32_at(start + item + 4) as usize;
                    let total = db.u32_at(start + item + 8) as usize;
                    if total > bytes.len() {
                        return Err(RpmDbError(format!(
                            "hash page {pgno}: value of {total} bytes is larger than the file"
                        )));
                    }
                    out.push(db.overflow(first, total)?);
                }
                H_KEYDATA => {
                    // Inline: runs up to the previous item (items grow down the page).
                    let end = db.u16_at(start + PAGE_HEADER + (i - 1) * 2) as usize;
                    if end <= item || end > db.page_size {
                        return Err(RpmDbError(format!(
                            "hash page {pgno}: entry {i} has a bad length"
                        )));
                    }
                    out.push(page[item + 1..end].to_vec());
                }
                _ => {}
            }
        }
    }
    Ok(out)
}
