//! The files of a SQLite database, for backups and restores: new files readable by their
//! owner only, syncing a file and its folder so a rename survives a power cut, and the
//! `-wal`, `-shm` and `-journal` files beside a database.

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

/// The folder a file is in; `.` for a bare name.
pub(super) fn folder_of(path: &Path) -> &Path {
    match path.parent() {
        Some(folder) if !folder.as_os_str().is_empty() => folder,
        _ => Path::new("."),
    }
}

/// Creates `path`, failing with `AlreadyExists` if anything is there: never an overwrite.
/// Owner-only, since a database holds password hashes and sealed secrets.
pub(super) fn create_private(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

/// Flushes the file's contents, then its folder (so that its name, new or renamed, is on
/// disk too); returns the file's size. A folder that cannot be synced (some platforms) is
/// left to the file system.
pub(super) fn sync_file_and_folder(path: &Path) -> io::Result<u64> {
    let file = File::open(path)?;
    file.sync_all()?;
    let size = file.metadata()?.len();
    if let Ok(folder) = File::open(folder_of(path)) {
        let _ = folder.sync_all();
    }
    Ok(size)
}

/// A name for a new file beside `path` (the same folder, so a rename onto `path` is atomic),
/// created empty and owner-only. A name already taken is never reused.
pub(super) fn create_beside(path: &Path, purpose: &str) -> io::Result<PathBuf> {
    let name = path.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "the database path names no file",
        )
    })?;
    for attempt in 0..100u32 {
        let mut temp = OsString::from(".");
        temp.push(name);
        temp.push(format!(".{purpose}-{}-{attempt}.tmp", std::process::id()));
        let temp = path.with_file_name(temp);
        match create_private(&temp) {
            Ok(_) => return Ok(temp),
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {}
            Err(error) => return Err(error),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        "no free name for a temporary file",
    ))
}

/// `path` with `suffix` appended to its file name (`gatehouse.db` → `gatehouse.db-wal`).
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(suffix);
    PathBuf::from(name)
}

/// Removes the write-ahead log, its index and a rollback journal beside `path`, if any. Only
/// ever called for a database nobody has open: another database's log left beside a new
/// file would be replayed into it.
pub(super) fn remove_sidecars(path: &Path) -> io::Result<()> {
    for suffix in ["-wal", "-shm", "-journal"] {
        match std::fs::remove_file(with_suffix(path, suffix)) {
            Ok(()) => {}
            Err(error) if error.kind() == io::ErrorKind::NotFound => {}
            Err(error) => return Err(error),
        }
    }
    Ok(())
}

/// Removes `path` and its sidecars, best effort (a temporary file being given up).
pub(super) fn discard(path: &Path) {
    let _ = std::fs::remove_file(path);
    let _ = remove_sidecars(path);
}

/// A `sqlite://` URL that names exactly `path`: sqlx percent-decodes the file name and
/// splits off options at `?`, so those characters are escaped.
pub(super) fn sqlite_url(path: &Path, options: &str) -> Option<String> {
    let text = path.to_str()?;
    let mut url = String::from("sqlite://");
    for c in text.chars() {
        match c {
            '%' => url.push_str("%25"),
            '?' => url.push_str("%3F"),
            '#' => url.push_str("%23"),
            c => url.push(c),
        }
    }
    url.push('?');
    url.push_str(options);
    Some(url)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_sqlite_url_escapes_what_sqlx_would_read_as_options() {
        assert_eq!(
            sqlite_url(Path::new("/data/odd?name%#.db"), "mode=ro").unwrap(),
            "sqlite:///data/odd%3Fname%25%23.db?mode=ro"
        );
    }

    #[test]
    fn the_folder_of_a_bare_name_is_the_current_one() {
        assert_eq!(folder_of(Path::new("backup.db")), Path::new("."));
        assert_eq!(folder_of(Path::new("/srv/backup.db")), Path::new("/srv"));
    }
}
