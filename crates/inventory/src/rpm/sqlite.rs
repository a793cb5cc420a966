//! `rpmdb.sqlite` (rpm ≥ 4.16): table `Packages(hnum, blob)`. Opened in memory from
//! the bytes, read-only, so images need no temporary files.

use super::RpmDbError;
use rusqlite::{Connection, MAIN_DB};

pub fn blobs(bytes: &[u8]) -> Result<Vec<Vec<u8>>, RpmDbError> {
    if bytes.len() < 100 || !bytes.starts_with(b"SQLite format 3\0") {
        return Err(RpmDbError("not an SQLite database (bad magic)".into()));
    }
    let mut image = bytes.to_vec();
    // A WAL-mode file cannot be opened from memory; mark it as rollback-journal
    // (bytes 18 and 19 are the read/write format versions: 2 = WAL, 1 = legacy).
    image[18] = 1;
    image[19] = 1;
    let sql = |e: rusqlite::Error| RpmDbError(format!("SQLite: {e}"));
    let mut conn = Connection::open_in_memory().map_err(sql)?;
    conn.deserialize_read_exact(MAIN_DB, &image[..], image.len(), true)
        .map_err(sql)?;
    let mut stmt = conn
        .prepare("SELECT blob FROM Packages ORDER BY hnum")
        .map_err(sql)?;
    let rows = stmt
        .query_map([], |row| row.get::<_, Vec<u8>>(0))
        .map_err(sql)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(sql)
}
