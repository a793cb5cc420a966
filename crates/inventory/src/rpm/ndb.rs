//! NDB `Packages.db` (rpm's own format, SUSE's default): a slot table of 16-byte
//! entries (`Slot`, package index, block offset, block count), then blobs of 16-byte
//! blocks, each `BlbS`, package index, generation, length, header bytes. Little-endian.

use super::RpmDbError;

const DB_MAGIC: &[u8; 4] = b"RpmP";
const SLOT_MAGIC: &[u8; 4] = b"Slot";
const BLOB_MAGIC: &[u8; 4] = b"BlbS";
const HEADER_SIZE: usize = 32;
const SLOT_SIZE: usize = 16;
const BLOCK_SIZE: usize = 16;
const PAGE_SIZE: usize = 4096;
const BLOB_HEAD_SIZE: usize = 16;

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

pub fn blobs(bytes: &[u8]) -> Result<Vec<Vec<u8>>, RpmDbError> {
    if bytes.len() < HEADER_SIZE || &bytes[..4] != DB_MAGIC {
        return Err(RpmDbError("not an NDB package database (bad magic)".into()));
    }
    let version = le32(bytes, 4);
    if version != 0 {
        return Err(RpmDbError(format!(
            "NDB version {version} is not supported"
        )));
    }
    let slot_pages = le32(bytes, 12) as usize;
    let slot_end = slot_pages
        .checked_mul(PAGE_SIZE)
        .filter(|&end| end <= bytes.len())
        .ok_or_else(|| {
            RpmDbError(format!(
                "slot table of {slot_pages} pages runs past the file"
            ))
        })?;
    let mut out = Vec::new();
    let mut at = HEADER_SIZE;
    while at + SLOT_SIZE <= slot_end {
        let slot = &bytes[at..at + SLOT_SIZE];
        at += SLOT_SIZE;
        if &slot[..4] != SLOT_MAGIC {
            return Err(RpmDbError(format!(
                "bad slot magic at byte {}",
                at - SLOT_SIZE
            )));
        }
        let pkg_index = le32(slot, 4);
        if pkg_index == 0 {
            continue; // free slot
        }
        let offset = le32(slot, 8) as usize * BLOCK_SIZE;
        let blocks = le32(slot, 12) as usize;
        let blob_end = blocks
            .checked_mul(BLOCK_SIZE)
            .and_then(|n| n.checked_add(offset))
            .filter(|&end| end <= bytes.len() && offset + BLOB_HEAD_SIZE <= end)
            .ok_or_else(|| RpmDbError(format!("package {pkg_index}: blob runs past the file")))?;
        let blob = &bytes[offset..blob_end];
        if &blob[..4] != BLOB_MAGIC || le32(blob, 4) != pkg_index {
            return Err(RpmDbError(format!(
                "package {pkg_index}: bad blob header at byte {offset}"
            )));
        }
        let len = le32(blob, 12) as usize;
        let data = blob
            .get(BLOB_HEAD_SIZE..BLOB_HEAD_SIZE + len)
            .ok_or_else(|| {
                RpmDbError(format!(
                    "package {pkg_index}: blob length {len} runs past its blocks"
                ))
            })?;
        out.push(data.to_vec());
    }
    Ok(out)
}
