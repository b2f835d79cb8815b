//! The errors of the async API.

use std::fmt;
use std::io;
use std::net::SocketAddr;

use crate::{CommandError, ConfigError, PatternError};

/// Why an operation of [`Telepathine`](super::Telepathine) or its builder failed. Nothing here is
/// ever raised as a panic.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// An address could not be parsed (`a.b.c.d:port`, `[v6]:port` or `host:port` expected).
    BadAddress {
        /// What was given.
        input: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A hostname could not be resolved.
    Resolve {
        /// The `host:port` that was looked up.
        input: String,
        /// The resolver's error.
        source: io::Error,
    },
    /// The port is already taken by another socket.
    PortInUse(SocketAddr),
    /// Binding a socket failed for another reason than the port being taken.
    Bind {
        /// The address that could not be bound.
        addr: SocketAddr,
        /// The OS error.
        source: io::Error,
    },
    /// The configuration cannot work.
    Config(ConfigError),
    /// The node refused a command: key empty or too long, value too large, expiry in the past,
    /// too many keys, event name too long.
    Command(CommandError),
    /// A subscription pattern was refused.
    Pattern(PatternError),
    /// The node is stopped; call [`Telepathine::start`](super::Telepathine::start) first.
    Stopped,
    /// The node was shut down for good (every handle dropped); no more events will come.
    Closed,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::BadAddress { input, reason } => write!(f, "bad address {input:?}: {reason}"),
            Error::Resolve { input, source } => write!(f, "cannot resolve {input:?}: {source}"),
            Error::PortInUse(addr) => write!(f, "address {addr} is already in use"),
            Error::Bind { addr, source } => write!(f, "cannot bind {addr}: {source}"),
            Error::Config(e) => e.fmt(f),
            Error::Command(e) => e.fmt(f),
            Error::Pattern(e) => e.fmt(f),
            Error::Stopped => f.write_str("node is stopped"),
            Error::Closed => f.write_str("node was shut down"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Resolve { source, .. } | Error::Bind { source, .. } => Some(source),
            Error::Config(e) => Some(e),
            Error::Command(e) => Some(e),
            Error::Pattern(e) => Some(e),
            _ => None,
        }
    }
}

impl From<CommandError> for Error {
    fn from(e: CommandError) -> Self {
        match e {
            CommandError::Stopped => Error::Stopped,
            e => Error::Command(e),
        }
    }
}

impl From<ConfigError> for Error {
    fn from(e: ConfigError) -> Self {
        Error::Config(e)
    }
}

impl From<PatternError> for Error {
    fn from(e: PatternError) -> Self {
        Error::Pattern(e)
    }
}

impl Error {
    /// Classifies a bind failure: a taken port gets its own variant.
    pub(crate) fn bind(addr: SocketAddr, source: io::Error) -> Self {
        if source.kind() == io::ErrorKind::AddrInUse {
            Error::PortInUse(addr)
        } else {
            Error::Bind { addr, source }
        }
    }
}
