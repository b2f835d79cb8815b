//! Errors of the commands an application gives a node.

use core::fmt;

/// Why a command was refused. Nothing was changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CommandError {
    /// The key is longer than `limits.max_key_bytes`, or empty.
    KeyLength(usize),
    /// The value is larger than `limits.max_value_bytes`.
    ValueTooLarge(usize),
    /// The event name is longer than `limits.max_event_name_bytes`, or empty.
    EventNameLength(usize),
    /// The node already holds `limits.max_keys_per_origin` keys.
    TooManyKeys,
    /// The node's state would exceed `limits.max_origin_bytes`.
    StateTooLarge,
    /// The expiry time is already past.
    AlreadyExpired,
    /// The node is stopped.
    Stopped,
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommandError::KeyLength(n) => write!(f, "key of {n} bytes is empty or over the limit"),
            CommandError::ValueTooLarge(n) => write!(f, "value of {n} bytes is over the limit"),
            CommandError::EventNameLength(n) => {
                write!(f, "event name of {n} bytes is empty or over the limit")
            }
            CommandError::TooManyKeys => f.write_str("too many keys"),
            CommandError::StateTooLarge => f.write_str("state would exceed its byte limit"),
            CommandError::AlreadyExpired => f.write_str("expiry time is in the past"),
            CommandError::Stopped => f.write_str("node is stopped"),
        }
    }
}

impl core::error::Error for CommandError {}
