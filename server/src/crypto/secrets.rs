//! Token signing secrets: where they come from and what is accepted.
//!
//! Sources, in order: `--jwt-secret-file PATH` (one secret per line, the first signs, all verify;
//! the file must not be readable by group or others), `APPKEYS_JWT_SECRET`, or — SQLite only — a
//! random secret generated once into the 0600 file `jwt-secret` next to the database. PostgreSQL
//! needs a configured secret: it is never stored in the database. Every secret is at least
//! [`MIN_SECRET_LEN`] bytes.

use std::path::{Path, PathBuf};

/// Shortest accepted signing secret, in bytes (HS256 keys should carry 256 bits).
pub const MIN_SECRET_LEN: usize = 32;

/// Why a secret was refused.
#[derive(Debug)]
pub enum SecretError {
    /// Shorter than [`MIN_SECRET_LEN`].
    TooShort(String),
    /// The secret file is readable by group or others.
    Exposed(PathBuf),
    /// The secret file holds no secret.
    Empty(PathBuf),
    /// PostgreSQL without a configured secret.
    Missing,
    /// PostgreSQL without a signing key file.
    MissingSigningKey,
    /// A signing key that is not a P-256 private key in PEM (says which and why, never the key).
    BadKey(String),
    /// Reading or creating the file failed.
    Io(std::io::Error),
}

impl std::fmt::Display for SecretError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretError::TooShort(source) => write!(
                f,
                "the token signing secret from {source} is too short: at least {MIN_SECRET_LEN} bytes are needed"
            ),
            SecretError::Exposed(path) => write!(
                f,
                "the secret file {} is readable by group or others; make it private (chmod 600)",
                path.display()
            ),
            SecretError::Empty(path) => write!(f, "the secret file {} holds no secret", path.display()),
            SecretError::Missing => f.write_str(
                "PostgreSQL needs a configured token signing secret: --jwt-secret-file PATH or \
                 APPKEYS_JWT_SECRET (it is never stored in the database)",
            ),
            SecretError::MissingSigningKey => f.write_str(
                "PostgreSQL needs a signing key file: --signing-key-file PATH or APPKEYS_SIGNING_KEY_FILE \
                 (make one with `appkeys-server signing-key generate FILE`; it is never stored in the database)",
            ),
            SecretError::BadKey(why) => f.write_str(why),
            SecretError::Io(e) => write!(f, "token signing secret: {e}"),
        }
    }
}

impl std::error::Error for SecretError {}

impl From<std::io::Error> for SecretError {
    fn from(e: std::io::Error) -> Self {
        SecretError::Io(e)
    }
}

/// Checks the length of a secret from `source` (a flag or variable name, never the value).
pub fn check(secret: &str, source: &str) -> Result<(), SecretError> {
    if secret.len() < MIN_SECRET_LEN {
        return Err(SecretError::TooShort(source.to_owned()));
    }
    Ok(())
}

/// Reads `--jwt-secret-file`: private to its owner, one secret per line (blank lines and lines
/// starting with `#` are skipped), each long enough.
pub fn read_file(path: &Path) -> Result<Vec<String>, SecretError> {
    let secrets = read_private_lines(path)?;
    for s in &secrets {
        check(s, &path.display().to_string())?;
    }
    Ok(secrets)
}

/// The lines of a private file (blank lines and lines starting with `#` skipped), at least one: the
/// secrets of other services (a client secret, an app secret), whatever their length.
pub fn read_private_lines(path: &Path) -> Result<Vec<String>, SecretError> {
    check_private(path)?;
    let text = std::fs::read_to_string(path)?;
    let lines: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect();
    if lines.is_empty() {
        return Err(SecretError::Empty(path.to_owned()));
    }
    Ok(lines)
}

/// Refuses a file that group or others may read (a secret file, a key file, a credentials file).
pub fn check_private(path: &Path) -> Result<(), SecretError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if std::fs::metadata(path)?.permissions().mode() & 0o077 != 0 {
            return Err(SecretError::Exposed(path.to_owned()));
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Creates `path` (mode 0600) with `content` unless it exists, atomically: a private temp file is
/// written, then hard-linked into place, so processes racing to create it all end up with one content.
pub fn write_new_private_file(path: &Path, content: &[u8]) -> Result<(), SecretError> {
    use std::io::Write;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = dir.join(format!(".{name}.{}", crate::util::new_id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&tmp)?;
    file.write_all(content)?;
    file.sync_all()?;
    drop(file);
    let linked = std::fs::hard_link(&tmp, path);
    std::fs::remove_file(&tmp)?;
    match linked {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e.into()),
    }
}

fn random_secret() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// Reads the SQLite-side secret file `jwt-secret` next to the database, creating it (mode 0600).
/// Creation is atomic (write a private temp file, then hard-link it into place), so instances
/// starting at the same time on one database end up with the same secret.
pub fn generated_file(db_path: &Path) -> Result<String, SecretError> {
    let dir = db_path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let path = dir.join("jwt-secret");
    if !path.exists() {
        write_new_private_file(&path, random_secret().as_bytes())?;
    }
    let secret = std::fs::read_to_string(&path)?.trim().to_owned();
    check(&secret, &path.display().to_string())?;
    Ok(secret)
}

/// Reads `--introspection-credentials-file`: private to its owner, lines `client_id:secret` (blank lines
/// and `#` lines skipped), each secret at least [`MIN_SECRET_LEN`] bytes.
pub fn read_credentials_file(path: &Path) -> Result<Vec<(String, String)>, SecretError> {
    check_private(path)?;
    let text = std::fs::read_to_string(path)?;
    let mut credentials = Vec::new();
    for (n, line) in text.lines().enumerate().map(|(n, l)| (n + 1, l.trim())) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let source = format!("{} line {n}", path.display());
        let Some((id, secret)) = line.split_once(':').filter(|(id, _)| !id.is_empty()) else {
            return Err(SecretError::BadKey(format!(
                "introspection credentials {source}: expected client_id:secret"
            )));
        };
        check(secret, &source)?;
        credentials.push((id.to_owned(), secret.to_owned()));
    }
    if credentials.is_empty() {
        return Err(SecretError::Empty(path.to_owned()));
    }
    Ok(credentials)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_secrets_and_exposed_files_are_refused() {
        assert!(matches!(
            check("x", "APPKEYS_JWT_SECRET"),
            Err(SecretError::TooShort(_))
        ));
        assert!(check(&"x".repeat(32), "APPKEYS_JWT_SECRET").is_ok());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secrets");
        std::fs::write(
            &path,
            format!("# rotation\n{}\n\n{}\n", "a".repeat(32), "b".repeat(40)),
        )
        .unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            assert!(matches!(read_file(&path), Err(SecretError::Exposed(_))));
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        assert_eq!(read_file(&path).unwrap(), ["a".repeat(32), "b".repeat(40)]);
        std::fs::write(&path, "short\n").unwrap();
        assert!(matches!(read_file(&path), Err(SecretError::TooShort(_))));
        std::fs::write(&path, "\n# nothing\n").unwrap();
        assert!(matches!(read_file(&path), Err(SecretError::Empty(_))));
    }
}
