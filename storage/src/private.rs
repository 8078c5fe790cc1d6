//! Files the engine writes are its own: the data directory is `0700`, the files in it `0600` —
//! whatever modes they had before (a directory made by hand, a file an older version wrote).

use std::io;
use std::path::Path;

/// Creates `dir` if needed and makes it private to this user.
pub fn private_dir(dir: &Path) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    set_mode(dir, 0o700)
}

/// Makes the file at `path` private to this user, if it exists.
pub fn private_file(path: &Path) -> io::Result<()> {
    match set_mode(path, 0o600) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_: &Path, _: u32) -> io::Result<()> {
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn what_existed_with_open_modes_is_made_private() {
        let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        std::fs::create_dir(&dir).unwrap();
        set_mode(&dir, 0o755).unwrap();
        let file = dir.join("f");
        std::fs::write(&file, "x").unwrap();
        set_mode(&file, 0o644).unwrap();
        private_dir(&dir).unwrap();
        private_file(&file).unwrap();
        private_file(&dir.join("absent")).unwrap();
        assert_eq!((mode(&dir), mode(&file)), (0o700, 0o600));
    }
}
