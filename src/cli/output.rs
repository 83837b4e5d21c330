//! Terminal manners: colour only on a terminal and never with `NO_COLOR`; progress bars only
//! on a terminal, so piped output stays exactly the data.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;

/// `NO_COLOR` set to anything but the empty string turns colour off (no-color.org).
pub fn no_color() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

/// Whether to colour what goes to stderr.
pub fn colour_stderr() -> bool {
    !no_color() && std::io::stderr().is_terminal()
}

/// A bar counting `len` steps of `what` on stderr; hidden when stderr is not a terminal (or
/// `len` is 0 or 1: one step needs no bar).
pub fn progress(len: u64, what: &str) -> ProgressBar {
    if len < 2 || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    let template = if no_color() {
        "{prefix} [{bar:30}] {pos}/{len} {msg}"
    } else {
        "{prefix:.bold} [{bar:30.cyan/blue}] {pos}/{len} {msg}"
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_prefix(what.to_string());
    bar
}

/// A spinner with `message` for work of unknown length; hidden when stderr is not a terminal.
pub fn spinner(message: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner();
    bar.set_message(message.to_string());
    bar.enable_steady_tick(std::time::Duration::from_millis(100));
    bar
}

/// The width of the terminal stdout is, `None` when stdout is not a terminal (a pipe gets
/// every column).
pub fn terminal_width() -> Option<usize> {
    if !std::io::stdout().is_terminal() {
        return None;
    }
    console::Term::stdout()
        .size_checked()
        .map(|(_, cols)| usize::from(cols))
}
