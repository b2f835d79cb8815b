//! The entries of one origin, indexed by key and by version.
//!
//! Most origins hold a handful of entries (a status record, perhaps an accusation and a few
//! application keys), and every node holds every origin, so this container is what a cluster's
//! memory is made of. Two `BTreeMap`s cost about 1.8 KB even for one entry (a B-tree allocates
//! whole nodes), so small origins keep a key-sorted vector and find versions by scanning it;
//! only origins past [`SMALL`] entries pay for the two indexes, where they make version-ordered
//! deltas and depth queries logarithmic.
//!
//! The status record is held apart, inline: nearly every origin holds one and most hold nothing
//! else, so a vector for it alone would cost every node a heap allocation of 128 bytes per peer
//! (one of the largest items of a simulated cluster's memory). Queries rebuild the record as an
//! [`Entry`] on the fly, which costs nothing on the heap.

use alloc::borrow::Cow;
use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use super::origin::Entry;
use crate::wire::{Key, Status, Value};

/// Entry count up to which a vector beats two maps: a scan of this many versions is cheaper than
/// a B-tree descent, and the vector is a tenth of the size.
const SMALL: usize = 16;

/// The status record's key, for iterators that hand out references.
static STATUS_KEY: Key = Key::Status;

/// An origin's entries.
#[derive(Clone, Debug, Default)]
pub(crate) struct Entries {
    /// Version and content of the status record, when it has no expiry (always, from a
    /// well-behaved origin; one with an expiry lives in `rest` like any entry).
    status: Option<(u64, Status)>,
    /// Every other entry; `None` when there is none, which keeps a quiet origin's record a
    /// pointer wide here.
    rest: Option<Box<Rest>>,
}

/// The entries other than an inline status record.
#[derive(Clone, Debug)]
enum Rest {
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

impl Default for Rest {
    fn default() -> Self {
        Rest::Small(Vec::new())
    }
}

fn borrowed<'a>((k, e): (&'a Key, &'a Entry)) -> (&'a Key, Cow<'a, Entry>) {
    (k, Cow::Borrowed(e))
}

fn status_entry(version: u64, status: Status) -> Entry {
    Entry {
        version,
        value: Value::Status(status),
        expires_at: None,
    }
}

impl Entries {
    fn inline_status(&self) -> Option<(&'static Key, Cow<'_, Entry>)> {
        self.status
            .map(|(version, status)| (&STATUS_KEY, Cow::Owned(status_entry(version, status))))
    }

    /// The entry under `key`.
    pub fn get(&self, key: &Key) -> Option<Cow<'_, Entry>> {
        if *key == Key::Status
            && let Some((version, status)) = self.status
        {
            return Some(Cow::Owned(status_entry(version, status)));
        }
        self.get_stored(key).map(Cow::Borrowed)
    }

    /// The entry under `key`, if it is stored as an [`Entry`]: every key's but an inline
    /// status record's.
    pub fn get_stored(&self, key: &Key) -> Option<&Entry> {
        self.rest.as_ref().and_then(|r| r.get(key))
    }

    /// Every entry but an inline status record, by key.
    pub fn stored(&self) -> impl Iterator<Item = (&Key, &Entry)> {
        self.rest.iter().flat_map(|r| r.iter())
    }

    fn rest_count_after(&self, version: u64) -> usize {
        self.rest.as_ref().map_or(0, |r| r.count_after(version))
    }

    fn rest_kth_newest_version(&self, k: usize) -> Option<u64> {
        self.rest.as_ref().and_then(|r| r.kth_newest_version(k))
    }

    fn rest_insert(&mut self, key: Key, entry: Entry) -> Option<Entry> {
        self.rest.get_or_insert_default().insert(key, entry)
    }

    fn rest_remove(&mut self, key: &Key) -> Option<Entry> {
        let rest = self.rest.as_mut()?;
        let old = rest.remove(key);
        if rest.len() == 0 {
            // Give the room back: tombstones of a once-busy origin are collected in the end.
            self.rest = None;
        }
        old
    }

    /// Every entry in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&Key, Cow<'_, Entry>)> {
        // Key order puts the status record after user keys and events, before accusations.
        let split = self.stored().take_while(|(k, _)| **k < Key::Status).count();
        self.stored()
            .take(split)
            .map(borrowed)
            .chain(self.inline_status())
            .chain(self.stored().skip(split).map(borrowed))
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.rest.as_ref().map_or(0, |r| r.len()) + usize::from(self.status.is_some())
    }

    /// Stores `entry` under `key`, returning what it replaced.
    pub fn insert(&mut self, key: Key, entry: Entry) -> Option<Entry> {
        if key == Key::Status {
            let old_inline = self
                .status
                .take()
                .map(|(version, status)| status_entry(version, status));
            if let (Value::Status(status), None) = (&entry.value, entry.expires_at) {
                let old_rest = self.rest_remove(&key);
                self.status = Some((entry.version, *status));
                return old_inline.or(old_rest);
            }
            let old_rest = self.rest_insert(key, entry);
            return old_inline.or(old_rest);
        }
        self.rest_insert(key, entry)
    }

    /// Removes the entry under `key`.
    pub fn remove(&mut self, key: &Key) -> Option<Entry> {
        if *key == Key::Status
            && let Some((version, status)) = self.status.take()
        {
            return Some(status_entry(version, status));
        }
        self.rest_remove(key)
    }

    /// Takes every entry out, in key order.
    pub fn take(&mut self) -> Vec<(Key, Entry)> {
        let status = self
            .status
            .take()
            .map(|(version, status)| (Key::Status, status_entry(version, status)));
        let mut all = self.rest.take().map_or_else(Vec::new, |mut r| r.take());
        if let Some(s) = status {
            let at = all.partition_point(|(k, _)| *k < Key::Status);
            all.insert(at, s);
        }
        all
    }

    /// Entries with a version above `version`, in version order.
    pub fn after(&self, version: u64) -> impl Iterator<Item = (&Key, Cow<'_, Entry>)> {
        let status = self.status.filter(|(v, _)| *v > version);
        let mut rest = self
            .rest
            .iter()
            .flat_map(move |r| r.after(version))
            .peekable();
        let mut status = status.map(|(v, st)| (&STATUS_KEY, status_entry(v, st)));
        core::iter::from_fn(move || {
            let status_first = match (&status, rest.peek()) {
                (Some((_, s)), Some((_, e))) => s.version < e.version,
                (Some(_), None) => true,
                (None, _) => false,
            };
            if status_first {
                status.take().map(|(k, e)| (k, Cow::Owned(e)))
            } else {
                rest.next().map(|(k, e)| (k, Cow::Borrowed(e)))
            }
        })
    }

    /// Number of entries with a version above `version`.
    pub fn count_after(&self, version: u64) -> usize {
        self.rest_count_after(version) + usize::from(self.status.is_some_and(|(v, _)| v > version))
    }

    /// The version of the `k`-th newest entry (`k` from 1), if there are that many.
    pub fn kth_newest_version(&self, k: usize) -> Option<u64> {
        let k = k.max(1);
        let Some((sv, _)) = self.status else {
            return self.rest_kth_newest_version(k);
        };
        // The status record is one of the k newest exactly when fewer than k others are newer.
        let newer = self.rest_count_after(sv);
        if newer >= k {
            self.rest_kth_newest_version(k)
        } else if newer + 1 == k {
            Some(sv)
        } else {
            self.rest_kth_newest_version(k - 1)
        }
    }
}

impl Rest {
    /// The entry under `key`.
    pub fn get(&self, key: &Key) -> Option<&Entry> {
        match self {
            Rest::Small(v) => v
                .binary_search_by(|(k, _)| k.cmp(key))
                .ok()
                .map(|i| &v[i].1),
            Rest::Large(m) => m.by_key.get(key),
        }
    }

    /// Every entry in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&Key, &Entry)> {
        let (small, large) = match self {
            Rest::Small(v) => (Some(v.iter().map(|(k, e)| (k, e))), None),
            Rest::Large(m) => (None, Some(m.by_key.iter())),
        };
        small
            .into_iter()
            .flatten()
            .chain(large.into_iter().flatten())
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        match self {
            Rest::Small(v) => v.len(),
            Rest::Large(m) => m.by_key.len(),
        }
    }

    /// Stores `entry` under `key`, returning what it replaced.
    pub fn insert(&mut self, key: Key, entry: Entry) -> Option<Entry> {
        match self {
            Rest::Small(v) => match v.binary_search_by(|(k, _)| k.cmp(&key)) {
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
                    *self = Rest::Large(Box::new(indexed));
                    self.insert(key, entry)
                }
            },
            Rest::Large(m) => {
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
            Rest::Small(v) => {
                let i = v.binary_search_by(|(k, _)| k.cmp(key)).ok()?;
                Some(v.remove(i).1)
            }
            Rest::Large(m) => {
                let old = m.by_key.remove(key)?;
                m.by_version.remove(&old.version);
                Some(old)
            }
        }
    }

    /// Takes every entry out, in key order.
    pub fn take(&mut self) -> Vec<(Key, Entry)> {
        match core::mem::take(self) {
            Rest::Small(v) => v,
            Rest::Large(m) => m.by_key.into_iter().collect(),
        }
    }

    /// Entries with a version above `version`, in version order.
    pub fn after(&self, version: u64) -> impl Iterator<Item = (&Key, &Entry)> {
        let (small, large) = match self {
            Rest::Small(v) => {
                let mut newer: Vec<(&Key, &Entry)> = v
                    .iter()
                    .filter(|(_, e)| e.version > version)
                    .map(|(k, e)| (k, e))
                    .collect();
                newer.sort_unstable_by_key(|(_, e)| e.version);
                (Some(newer.into_iter()), None)
            }
            Rest::Large(m) => (
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
            Rest::Small(v) => v.iter().filter(|(_, e)| e.version > version).count(),
            Rest::Large(m) => m.by_version.range(version.saturating_add(1)..).count(),
        }
    }

    /// The version of the `k`-th newest entry (`k` from 1), if there are that many.
    pub fn kth_newest_version(&self, k: usize) -> Option<u64> {
        let k = k.max(1);
        match self {
            Rest::Small(v) => {
                if k > v.len() {
                    return None;
                }
                let mut versions: Vec<u64> = v.iter().map(|(_, e)| e.version).collect();
                versions.sort_unstable_by(|a, b| b.cmp(a));
                versions.get(k - 1).copied()
            }
            Rest::Large(m) => m.by_version.keys().rev().nth(k - 1).copied(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{Status, Value};
    use core::net::SocketAddr;

    fn key(i: u64) -> Key {
        match i % 10 {
            0 => Key::Status,
            1 => Key::Accuse(SocketAddr::from(([10, 0, 0, 1], (i % 7) as u16))),
            _ => Key::User(alloc::format!("k{:03}", i % 97)),
        }
    }

    /// A status record (inline unless it expires, which only a broken peer would send) or a
    /// tombstone for any other key.
    fn entry(key: &Key, version: u64, step: u64) -> Entry {
        match key {
            Key::Status => Entry {
                version,
                value: Value::Status(Status {
                    incarnation: step,
                    left: step.is_multiple_of(2),
                }),
                expires_at: step.is_multiple_of(3).then_some(step),
            },
            _ => Entry {
                version,
                value: Value::Tombstone,
                expires_at: None,
            },
        }
    }

    fn owned<'a>(it: impl Iterator<Item = (&'a Key, Cow<'a, Entry>)>) -> Vec<(Key, Entry)> {
        it.map(|(k, e)| (k.clone(), e.into_owned())).collect()
    }

    /// Both representations, with the status record inline or not, answer every query alike
    /// (`stored` lists all but an inline status record), through the switch from one to the
    /// other and after rewrites at new and at equal versions.
    #[test]
    fn small_and_large_agree_with_a_model() {
        let mut e = Entries::default();
        let mut model: BTreeMap<Key, Entry> = BTreeMap::new();
        let mut version = 0;
        let mut inline_seen = false;
        for step in 0..400u64 {
            let k = key(step * 7919 % 40);
            if step % 5 == 4 {
                assert_eq!(e.remove(&k), model.remove(&k));
            } else if step % 11 == 10 && model.contains_key(&k) {
                // An expiry rewrites an entry at its own version.
                let v = model[&k].version;
                let new = entry(&k, v, step);
                assert_eq!(e.insert(k.clone(), new.clone()), model.insert(k, new));
            } else {
                version += 1;
                let new = entry(&k, version, step);
                assert_eq!(e.insert(k.clone(), new.clone()), model.insert(k, new));
            }
            inline_seen |= e.status.is_some();
            assert_eq!(e.len(), model.len());
            let expected: Vec<(Key, Entry)> =
                model.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            assert_eq!(owned(e.iter()), expected);
            // `stored` is everything but the inline status record.
            let stored: Vec<(Key, Entry)> =
                e.stored().map(|(k, v)| (k.clone(), v.clone())).collect();
            let not_inline: Vec<(Key, Entry)> = expected
                .iter()
                .filter(|(k, _)| *k != Key::Status || e.status.is_none())
                .cloned()
                .collect();
            assert_eq!(stored, not_inline);
            for (k, v) in &model {
                assert_eq!(e.get(k).as_deref(), Some(v));
            }
            let mut by_version: Vec<(Key, Entry)> = expected.clone();
            by_version.sort_by_key(|(_, e)| e.version);
            for from in [0, version / 2, version.saturating_sub(3), version] {
                let newer: Vec<_> = by_version
                    .iter()
                    .filter(|(_, e)| e.version > from)
                    .cloned()
                    .collect();
                assert_eq!(owned(e.after(from)), newer);
                assert_eq!(e.count_after(from), newer.len());
            }
            for k in 1..6 {
                let expected = by_version.iter().rev().nth(k - 1).map(|(_, e)| e.version);
                assert_eq!(e.kth_newest_version(k), expected, "k = {k}");
            }
        }
        assert!(inline_seen, "the status record was held inline at times");
        assert!(
            matches!(e.rest.as_deref(), Some(Rest::Large(_))),
            "40 keys outgrow the vector"
        );
        let expected: Vec<(Key, Entry)> = model.into_iter().collect();
        assert_eq!(e.take(), expected);
        assert_eq!(e.len(), 0);
    }

    /// A status record alone costs no heap: the reason it is held apart.
    #[test]
    fn a_lone_status_record_is_inline() {
        let mut e = Entries::default();
        e.insert(Key::Status, entry(&Key::Status, 1, 1));
        assert!(e.status.is_some());
        assert!(e.rest.is_none());
        assert_eq!(e.get(&Key::Status).map(|s| s.version), Some(1));
        assert_eq!(e.get_stored(&Key::Status), None);
    }
}
