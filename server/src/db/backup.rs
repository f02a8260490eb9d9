//! `backup`: a consistent copy of a SQLite database while servers write.

use std::path::Path;

use super::{Backend, Store, StoreError};
use crate::util::{create_private_file, make_private};

impl Store {
    /// A consistent copy of the SQLite database at `target` (`VACUUM INTO`, safe while servers
    /// write), made 0600.
    pub async fn backup(&self, target: &Path) -> Result<(), StoreError> {
        if self.backend != Backend::Sqlite {
            return Err(StoreError::BadUrl(
                "backup copies SQLite databases; for PostgreSQL use pg_dump".to_owned(),
            ));
        }
        if target.exists() {
            return Err(StoreError::Io(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                format!("{} exists", target.display()),
            )));
        }
        create_private_file(target)?;
        std::fs::remove_file(target)?;
        sqlx::query("VACUUM INTO $1")
            .bind(target.display().to_string())
            .execute(&self.pool)
            .await?;
        make_private(target, 0o600)?;
        Ok(())
    }
}
