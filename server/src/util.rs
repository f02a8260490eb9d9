//! Small helpers every layer may use: the clock, ids, and private files and directories.

use std::path::Path;

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Seconds since the Unix epoch.
pub fn now_secs() -> i64 {
    now_ms() / 1000
}

/// Milliseconds since the epoch as RFC 3339 UTC with milliseconds (`2026-12-01T22:53:31.123Z`).
pub fn rfc3339(ms: i64) -> String {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_millis(at).to_string()
}

/// A new 24-hex id in ObjectId layout: 4 bytes of seconds since the epoch + 8 random bytes.
pub fn new_id() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 12];
    let secs = (now_ms() / 1000) as u32;
    bytes[..4].copy_from_slice(&secs.to_be_bytes());
    rand::rngs::OsRng.fill_bytes(&mut bytes[4..]);
    hex::encode(bytes)
}

/// Sets the permission bits of `path` (Unix only).
pub fn make_private(path: &Path, mode: u32) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
    Ok(())
}

/// Creates `dir` and its missing parents 0700, unless it exists (the data and mail directories).
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Creates the file 0600 (and missing parent directories 0700) unless it exists.
pub fn create_private_file(path: &Path) -> std::io::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        create_private_dir(parent)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)?;
    Ok(())
}
