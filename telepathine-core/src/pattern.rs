//! EventEmitter2-style wildcard patterns, shared by every adapter's subscriptions.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// The segment delimiter of event names and patterns.
pub const DELIMITER: char = '.';

/// Longest pattern accepted, in segments; keeps matching cost bounded.
pub const MAX_PATTERN_SEGMENTS: usize = 64;

/// A subscription pattern: segments split on `.`, where `*` matches exactly one segment and `**`
/// matches any number of segments, none included.
///
/// ```
/// # use telepathine_core::Pattern;
/// let p = Pattern::new("chat.*").unwrap();
/// assert!(p.matches("chat.room1"));
/// assert!(!p.matches("chat.room1.alice"));
/// assert!(Pattern::new("chat.**").unwrap().matches("chat"));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Pattern {
    source: String,
    segments: Vec<Segment>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Segment {
    Literal(String),
    One,
    Any,
}

/// Why a pattern was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PatternError {
    /// The pattern has more than [`MAX_PATTERN_SEGMENTS`] segments.
    TooLong,
}

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pattern has more than {MAX_PATTERN_SEGMENTS} segments")
    }
}

impl core::error::Error for PatternError {}

impl Pattern {
    /// Parses `pattern`. Every string of at most [`MAX_PATTERN_SEGMENTS`] segments is valid;
    /// segments other than `*` and `**` match literally.
    pub fn new(pattern: &str) -> Result<Self, PatternError> {
        let mut segments = Vec::new();
        for part in pattern.split(DELIMITER) {
            if segments.len() == MAX_PATTERN_SEGMENTS {
                return Err(PatternError::TooLong);
            }
            segments.push(match part {
                "*" => Segment::One,
                "**" => Segment::Any,
                literal => Segment::Literal(String::from(literal)),
            });
        }
        // Adjacent `**` match the same as one, and collapsing them keeps matching linear.
        segments.dedup_by(|a, b| *a == Segment::Any && *b == Segment::Any);
        Ok(Pattern {
            source: String::from(pattern),
            segments,
        })
    }

    /// The text the pattern was parsed from.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether `name` matches.
    pub fn matches(&self, name: &str) -> bool {
        let parts: Vec<&str> = name.split(DELIMITER).collect();
        // Dynamic programming over (pattern index, name index): O(p * n), no recursion, so a
        // hostile event name cannot blow the stack or take exponential time.
        let n = parts.len();
        let mut reachable = alloc::vec![false; n + 1];
        reachable[0] = true;
        for seg in &self.segments {
            let mut next = alloc::vec![false; n + 1];
            match seg {
                Segment::Any => {
                    let mut any = false;
                    for i in 0..=n {
                        any |= reachable[i];
                        next[i] = any;
                    }
                }
                Segment::One => {
                    next[1..=n].copy_from_slice(&reachable[..n]);
                }
                Segment::Literal(lit) => {
                    for i in 0..n {
                        next[i + 1] = reachable[i] && parts[i] == lit;
                    }
                }
            }
            reachable = next;
        }
        reachable[n]
    }
}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pattern({:?})", self.source)
    }
}

impl core::str::FromStr for Pattern {
    type Err = PatternError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Pattern::new(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn m(p: &str, n: &str) -> bool {
        Pattern::new(p).unwrap().matches(n)
    }

    #[test]
    fn literal_and_single_wildcard() {
        assert!(m("eventname", "eventname"));
        assert!(!m("eventname", "eventname2"));
        assert!(m("*", "reply"));
        assert!(!m("*", "a.b"));
        assert!(m("chat.*", "chat.room"));
        assert!(!m("chat.*", "chat"));
        assert!(m("*.b.*", "a.b.c"));
        assert!(!m("*.b.*", "a.x.c"));
    }

    #[test]
    fn double_wildcard_matches_zero_or_more() {
        assert!(m("**", "a"));
        assert!(m("**", "a.b.c"));
        assert!(m("a.**", "a"));
        assert!(m("a.**", "a.b.c"));
        assert!(m("a.**.z", "a.z"));
        assert!(m("a.**.z", "a.b.c.z"));
        assert!(!m("a.**.z", "a.b.c"));
        assert!(m("**.z", "z"));
        assert!(m("a.**.**.z", "a.q.z"));
    }

    #[test]
    fn too_long_is_refused() {
        let long = ["x"; MAX_PATTERN_SEGMENTS + 1].join(".");
        assert_eq!(Pattern::new(&long), Err(PatternError::TooLong));
        assert!(Pattern::new(&["x"; MAX_PATTERN_SEGMENTS].join(".")).is_ok());
    }

    proptest! {
        #[test]
        fn every_name_matches_itself_and_double_star(name in "[a-c]{1,3}(\\.[a-c]{1,3}){0,5}") {
            prop_assert!(m(&name, &name));
            prop_assert!(m("**", &name));
            let stars = vec!["*"; name.split('.').count()].join(".");
            prop_assert!(m(&stars, &name));
        }

        #[test]
        fn matching_arbitrary_input_terminates(p in ".{0,80}", n in ".{0,200}") {
            if let Ok(p) = Pattern::new(&p) { let _ = p.matches(&n); }
        }
    }
}
