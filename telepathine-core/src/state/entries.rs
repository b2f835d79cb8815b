//! The entries of one origin, indexed by key and by version.
//!
//! Most origins hold a handful of entries (a status record, perhaps an accusation and a few
//! application keys), and every node holds every origin, so this container is what a cluster's
//! memory is made of. Two `BTreeMap`s cost about 1.8 KB even for one entry (a B-tree allocates
//! whole nodes), so small origins keep a key-sorted vector and find versions by scanning it;
//! only origins past [`SMALL`] entries pay for the two indexes, where they make version-ordered
//! deltas and depth queries logarithmic.

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use super::origin::Entry;
use crate::wire::Key;

/// Entry count up to which a vector beats two maps: a scan of this many versions is cheaper than
/// a B-tree descent, and the vector is a tenth of the size.
const SMALL: usize = 16;

/// An origin's entries.
#[derive(Clone, Debug)]
pub(crate) enum Entries {
    /// Sorted by key, at most [`SMALL`] long.
    Small(Vec<(Key, Entry)>),
    /// By key, and the key of every version.
    Large(Box<Indexed>),
}

/// The two indexes of a large origin.
#[derive(Clone, Debug, Default)]
pub(crate) struct Indexed {
    by_key: BTreeMap<Key, Entry>,
    by_version: BTreeMap<u64, Key>,
}

impl Default for Entries {
    fn default() -> Self {
        Entries::Small(Vec::new())
    }
}

impl Entries {
    /// The entry under `key`.
    pub fn get(&self, key: &Key) -> Option<&Entry> {
        match self {
            Entries::Small(v) => v
                .binary_search_by(|(k, _)| k.cmp(key))
                .ok()
                .map(|i| &v[i].1),
            Entries::Large(m) => m.by_key.get(key),
        }
    }

    /// Every entry in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&Key, &Entry)> {
        let (small, large) = match self {
            Entries::Small(v) => (Some(v.iter().map(|(k, e)| (k, e))), None),
            Entries::Large(m) => (None, Some(m.by_key.iter())),
        };
        small
            .into_iter()
            .flatten()
            .chain(large.into_iter().flatten())
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        match self {
            Entries::Small(v) => v.len(),
            Entries::Large(m) => m.by_key.len(),
        }
    }

    /// Stores `entry` under `key`, returning what it replaced.
    pub fn insert(&mut self, key: Key, entry: Entry) -> Option<Entry> {
        match self {
            Entries::Small(v) => match v.binary_search_by(|(k, _)| k.cmp(&key)) {
                Ok(i) => Some(core::mem::replace(&mut v[i].1, entry)),
                Err(i) if v.len() < SMALL => {
                    // Grow one at a time: the default doubling would reserve four entries for
                    // the one that nearly every origin holds.
                    v.reserve_exact(1);
                    v.insert(i, (key, entry));
                    None
                }
                Err(_) => {
                    let mut indexed = Indexed::default();
                    for (k, e) in v.drain(..) {
                        indexed.by_version.insert(e.version, k.clone());
                        indexed.by_key.insert(k, e);
                    }
                    *self = Entries::Large(Box::new(indexed));
                    self.insert(key, entry)
                }
            },
            Entries::Large(m) => {
                let version = entry.version;
                let old = m.by_key.insert(key.clone(), entry);
                if let Some(old) = &old {
                    m.by_version.remove(&old.version);
                }
                // After removing the old version: an expiry rewrites an entry at the same version.
                m.by_version.insert(version, key);
                old
            }
        }
    }

    /// Removes the entry under `key`.
    pub fn remove(&mut self, key: &Key) -> Option<Entry> {
        match self {
            Entries::Small(v) => {
                let i = v.binary_search_by(|(k, _)| k.cmp(key)).ok()?;
                Some(v.remove(i).1)
            }
            Entries::Large(m) => {
                let old = m.by_key.remove(key)?;
                m.by_version.remove(&old.version);
                Some(old)
            }
        }
    }

    /// Takes every entry out, in key order.
    pub fn take(&mut self) -> Vec<(Key, Entry)> {
        match core::mem::take(self) {
            Entries::Small(v) => v,
            Entries::Large(m) => m.by_key.into_iter().collect(),
        }
    }

    /// Entries with a version above `version`, in version order.
    pub fn after(&self, version: u64) -> impl Iterator<Item = (&Key, &Entry)> {
        let (small, large) = match self {
            Entries::Small(v) => {
                let mut newer: Vec<(&Key, &Entry)> = v
                    .iter()
                    .filter(|(_, e)| e.version > version)
                    .map(|(k, e)| (k, e))
                    .collect();
                newer.sort_unstable_by_key(|(_, e)| e.version);
                (Some(newer.into_iter()), None)
            }
            Entries::Large(m) => (
                None,
                Some(
                    m.by_version
                        .range(version.saturating_add(1)..)
                        .filter_map(|(_, k)| m.by_key.get_key_value(k)),
                ),
            ),
        };
        small
            .into_iter()
            .flatten()
            .chain(large.into_iter().flatten())
    }

    /// Number of entries with a version above `version`.
    pub fn count_after(&self, version: u64) -> usize {
        match self {
            Entries::Small(v) => v.iter().filter(|(_, e)| e.version > version).count(),
            Entries::Large(m) => m.by_version.range(version.saturating_add(1)..).count(),
        }
    }

    /// The version of the `k`-th newest entry (`k` from 1), if there are that many.
    pub fn kth_newest_version(&self, k: usize) -> Option<u64> {
        let k = k.max(1);
        match self {
            Entries::Small(v) => {
                if k > v.len() {
                    return None;
                }
                let mut versions: Vec<u64> = v.iter().map(|(_, e)| e.version).collect();
                versions.sort_unstable_by(|a, b| b.cmp(a));
                versions.get(k - 1).copied()
            }
            Entries::Large(m) => m.by_version.keys().rev().nth(k - 1).copied(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Value;
    use alloc::string::ToString;

    fn entry(version: u64) -> Entry {
        Entry {
            version,
            value: Value::Tombstone,
            expires_at: None,
        }
    }

    fn key(i: u64) -> Key {
        Key::User(alloc::format!("k{:03}", i % 97).to_string())
    }

    /// Both representations answer every query alike, through the switch from one to the other
    /// and after rewrites at new and at equal versions.
    #[test]
    fn small_and_large_agree_with_a_model() {
        let mut e = Entries::default();
        let mut model: BTreeMap<Key, Entry> = BTreeMap::new();
        let mut version = 0;
        for step in 0..400u64 {
            let k = key(step * 7919 % 40);
            if step % 5 == 4 {
                assert_eq!(e.remove(&k), model.remove(&k));
            } else if step % 11 == 10 && model.contains_key(&k) {
                // An expiry rewrites an entry at its own version.
                let v = model[&k].version;
                assert_eq!(e.insert(k.clone(), entry(v)), model.insert(k, entry(v)));
            } else {
                version += 1;
                assert_eq!(
                    e.insert(k.clone(), entry(version)),
                    model.insert(k, entry(version))
                );
            }
            assert_eq!(e.len(), model.len());
            assert!(e.iter().eq(model.iter()));
            let mut by_version: Vec<(&Key, &Entry)> = model.iter().collect();
            by_version.sort_by_key(|(_, e)| e.version);
            for from in [0, version / 2, version.saturating_sub(3), version] {
                let expected: Vec<_> = by_version
                    .iter()
                    .filter(|(_, e)| e.version > from)
                    .copied()
                    .collect();
                assert!(e.after(from).eq(expected.iter().copied()));
                assert_eq!(e.count_after(from), expected.len());
            }
            for k in 1..4 {
                let expected = by_version.iter().rev().nth(k - 1).map(|(_, e)| e.version);
                assert_eq!(e.kth_newest_version(k), expected);
            }
        }
        assert!(matches!(e, Entries::Large(_)), "40 keys outgrow the vector");
        assert_eq!(e.take().len(), model.len());
        assert_eq!(e.len(), 0);
    }
}
