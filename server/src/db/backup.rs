//! `backup`: a consistent copy of a SQLite database while servers write.

use std::path::Path;

use super::{Backend, Store, StoreError};

impl Store {
    /// A consistent copy of the SQLite database at `target` (`VACUUM INTO`, safe while servers write).
    /// The file is private from its first byte: it is created empty, mode 0600, with `O_EXCL` (so an
    /// existing file or a symlink there is refused, never followed), and SQLite writes into it.
    pub async fn backup(&self, target: &Path) -> Result<(), StoreError> {
        if self.backend != Backend::Sqlite {
            return Err(StoreError::BadUrl(
                "backup copies SQLite databases; for PostgreSQL use pg_dump".to_owned(),
            ));
        }
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        options.open(target).map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                StoreError::Io(std::io::Error::new(
                    e.kind(),
                    format!(
                        "{} exists (a file or a link); choose a new file",
                        target.display()
                    ),
                ))
            } else {
                StoreError::Io(e)
            }
        })?;
        // SQLite writes into an empty existing file; on failure the empty file is removed again.
        let copied = sqlx::query("VACUUM INTO $1")
            .bind(target.display().to_string())
            .execute(&self.pool)
            .await;
        if let Err(e) = copied {
            let _ = std::fs::remove_file(target);
            return Err(e.into());
        }
        Ok(())
    }
}
