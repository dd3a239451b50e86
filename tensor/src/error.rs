//! Errors of the tensor crate: every shape, dtype, device or file problem a caller can cause
//! comes back as an [`Error`] naming the operation and the shapes or file involved.

use std::path::PathBuf;

/// What went wrong, and where.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An operation was called with arguments it cannot take (shapes, dims, dtypes, devices).
    #[error("{op}: {msg}")]
    Op { op: &'static str, msg: String },
    /// A file could be read but its content is wrong.
    #[error("{}: {msg}", path.display())]
    File { path: PathBuf, msg: String },
    /// The operating system refused a file operation.
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
}

impl Error {
    pub fn op(op: &'static str, msg: impl Into<String>) -> Self {
        Error::Op { op, msg: msg.into() }
    }
    pub fn file(path: impl Into<PathBuf>, msg: impl Into<String>) -> Self {
        Error::File { path: path.into(), msg: msg.into() }
    }
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// Returns early with an [`Error::Op`] built from a format string.
#[macro_export]
macro_rules! bail {
    ($op:expr, $($arg:tt)*) => {
        return Err($crate::Error::op($op, format!($($arg)*)))
    };
}
