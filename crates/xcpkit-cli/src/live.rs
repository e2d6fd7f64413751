//! Live progress lines on standard error: redrawn in place on a terminal, and plain lines at
//! most once every few seconds when standard error is a file or a pipe, so logs get no runs
//! of carriage returns.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// How often a plain line is written when standard error is not a terminal.
const LOG_EVERY: Duration = Duration::from_secs(5);

/// One live line.
pub(crate) struct Live {
    terminal: bool,
    last: Option<Instant>,
    drawn: bool,
}

impl Live {
    pub(crate) fn new() -> Self {
        Self {
            terminal: std::io::stderr().is_terminal(),
            last: None,
            drawn: false,
        }
    }

    /// Whether standard error is a terminal (lines are redrawn in place).
    pub(crate) const fn is_terminal(&self) -> bool {
        self.terminal
    }

    /// Shows `text`: redrawn on a terminal, a new line in a log when the last is old enough.
    pub(crate) fn show(&mut self, text: &str) {
        let mut err = std::io::stderr().lock();
        if self.terminal {
            // Carriage return, the text, and clear to the end of the line.
            let _ = write!(err, "\r{text}\x1b[K");
            let _ = err.flush();
            self.drawn = true;
        } else if self.last.is_none_or(|t| t.elapsed() >= LOG_EVERY) {
            self.last = Some(Instant::now());
            let _ = writeln!(err, "{}", text.trim());
        }
    }

    /// Ends the line on a terminal, so what follows starts on a line of its own.
    pub(crate) fn finish(&mut self) {
        if self.terminal && self.drawn {
            let _ = writeln!(std::io::stderr());
            self.drawn = false;
        }
    }
}
