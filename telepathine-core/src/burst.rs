//! When a map that grows in bursts has settled, so it can be rebuilt compactly.
//!
//! Peers and origins arrive in bursts (a join, a catch-up), largely in address order, and a
//! B-tree filled in order splits its nodes in two and leaves them about half full. Rebuilt from
//! a sorted sequence it fills every node, but only once the burst is over: insertions into full
//! nodes would split them again.

use core::time::Duration;

use crate::time::Timestamp;

/// Insertions after which a settled map is rebuilt (fewer are not worth a pass over it).
const REBUILD_AFTER: usize = 32;

/// Insertions since the last rebuild, and when the last one happened.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Burst {
    pub inserted: usize,
    last: Timestamp,
}

impl Burst {
    /// Notes an insertion at `now`.
    pub fn grew(&mut self, now: Timestamp) {
        self.inserted += 1;
        self.last = now;
    }

    /// Whether a rebuild is due at `now`: enough insertions, none for `settle`. Starts counting
    /// afresh when it says yes.
    pub fn settled(&mut self, now: Timestamp, settle: Duration) -> bool {
        let due = self.inserted >= REBUILD_AFTER && now.saturating_since(self.last) >= settle;
        if due {
            self.inserted = 0;
        }
        due
    }
}
