//! Printing lines to stdout from the command loop and the watcher at once.

use std::io::Write;

use crate::format::{Reply, Style};

/// Where replies and events go: stdout, one whole line per write, flushed at once so that a
/// program reading through a pipe sees each answer as soon as it is made.
#[derive(Clone, Copy, Debug)]
pub struct Output {
    style: Style,
}

impl Output {
    /// Prints in `style`.
    pub fn new(style: Style) -> Self {
        Output { style }
    }

    /// Prints `reply` as one line. A closed stdout is ignored: the node keeps running for its
    /// peers, as it would with its output discarded.
    pub fn emit(&self, reply: &Reply) {
        let line = reply.render(self.style);
        // Holding stdout's lock over the write and the flush keeps the watcher's lines from
        // splitting a reply.
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "{line}");
        let _ = stdout.flush();
    }
}
