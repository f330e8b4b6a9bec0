//! Where a command reads a document from: a file, or standard input for `-`.

use std::ffi::OsString;
use std::fmt;
use std::fs;
use std::io::{self, Read};
use std::path::PathBuf;

use crate::error::Error;

/// A `FILE` argument. `-` means standard input; a file really named `-` is `./-`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Source {
    /// Standard input.
    Stdin,
    /// A file.
    File(PathBuf),
}

impl Source {
    /// Reads the whole input: documents are decoded in one piece.
    pub(crate) fn read(&self) -> Result<Vec<u8>, Error> {
        let bytes = match self {
            Source::Stdin => {
                let mut bytes = Vec::new();
                io::stdin().lock().read_to_end(&mut bytes).map(|_| bytes)
            }
            Source::File(path) => fs::read(path),
        };
        bytes.map_err(|source| Error::Read {
            input: self.to_string(),
            source,
        })
    }
}

// clap builds the argument through this, which keeps paths that are not UTF-8 intact.
impl From<OsString> for Source {
    fn from(arg: OsString) -> Self {
        if arg == "-" {
            Source::Stdin
        } else {
            Source::File(arg.into())
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Stdin => f.write_str("standard input"),
            Source::File(path) => write!(f, "{}", path.display()),
        }
    }
}
