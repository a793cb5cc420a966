//! The store's error type: every variant says what the store was doing.

use std::path::PathBuf;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite refused an operation; `context` names it.
    #[error("fleet store: {context}: {source}")]
    Sql {
        context: String,
        #[source]
        source: rusqlite::Error,
    },
    /// The store's directory could not be created.
    #[error("fleet store: cannot create directory {path}: {source}")]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The database was written by a newer postwatch.
    #[error(
        "fleet store {path}: schema version {found} is newer than this build supports \
         ({supported}); run a postwatch at least as new as the one that wrote it"
    )]
    SchemaTooNew {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    /// A stored value does not decode (the file was damaged or edited by hand).
    #[error("fleet store: stored {what} is unreadable: {detail}")]
    Corrupt { what: String, detail: String },
    /// A value could not be encoded for storage.
    #[error("fleet store: cannot encode {what}: {detail}")]
    Encode { what: String, detail: String },
    /// The caller passed something the store cannot accept.
    #[error("fleet store: invalid {what}: {detail}")]
    Invalid { what: &'static str, detail: String },
    /// An asset id that the store does not hold.
    #[error("fleet store: no asset with id {0}")]
    UnknownAsset(i64),
    /// The operating system gave no random bytes for a secret.
    #[error("fleet store: no random bytes from the operating system for a secret: {0}")]
    Random(String),
}

impl StoreError {
    pub(crate) fn corrupt(what: impl Into<String>, detail: impl std::fmt::Display) -> Self {
        StoreError::Corrupt {
            what: what.into(),
            detail: detail.to_string(),
        }
    }

    pub(crate) fn invalid(what: &'static str, detail: impl Into<String>) -> Self {
        StoreError::Invalid {
            what,
            detail: detail.into(),
        }
    }
}

/// Attaches what was being done to a SQLite error.
pub(crate) trait SqlContext<T> {
    fn ctx(self, context: &str) -> Result<T, StoreError>;
    fn ctx_with(self, context: impl FnOnce() -> String) -> Result<T, StoreError>;
}

impl<T> SqlContext<T> for rusqlite::Result<T> {
    fn ctx(self, context: &str) -> Result<T, StoreError> {
        self.map_err(|source| StoreError::Sql {
            context: context.to_owned(),
            source,
        })
    }

    fn ctx_with(self, context: impl FnOnce() -> String) -> Result<T, StoreError> {
        self.map_err(|source| StoreError::Sql {
            context: context(),
            source,
        })
    }
}
