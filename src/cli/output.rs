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

/// Writes to standard output, flushed. Its error is the caller's to return: a reader that has
/// gone away (`simulate ... | head`) ends the command quietly in [`crate::cli::main`], as it
/// ends `ls`, instead of the panic `print!` gives.
pub fn write_stdout(text: std::fmt::Arguments<'_>) -> std::io::Result<()> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    stdout.write_fmt(text)?;
    stdout.flush()
}

/// Writes a diagnostic to standard error. A closed stderr has nowhere to be reported, so its
/// failure is ignored (`eprint!` would panic).
pub fn write_stderr(text: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let _ = std::io::stderr().lock().write_fmt(text);
}

/// Whether `err` comes from writing to a pipe whose reader has gone away.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        let kind = if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            Some(io.kind())
        } else if let Some(json) = cause.downcast_ref::<serde_json::Error>() {
            json.io_error_kind()
        } else {
            None
        };
        kind == Some(std::io::ErrorKind::BrokenPipe)
    })
}

/// `print!` for the command line: returns the write's `io::Result` (see [`write_stdout`]).
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::cli::output::write_stdout(::std::format_args!($($arg)*))
    };
}

/// `println!` for the command line: returns the write's `io::Result` (see [`write_stdout`]).
macro_rules! outln {
    () => {
        $crate::cli::output::write_stdout(::std::format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::cli::output::write_stdout(::std::format_args!(
            "{}\n",
            ::std::format_args!($($arg)*)
        ))
    };
}

/// `eprintln!` for the command line, ignoring a closed stderr (see [`write_stderr`]).
macro_rules! eoutln {
    ($($arg:tt)*) => {
        $crate::cli::output::write_stderr(::std::format_args!(
            "{}\n",
            ::std::format_args!($($arg)*)
        ))
    };
}

/// `eprint!` for the command line, ignoring a closed stderr (see [`write_stderr`]).
macro_rules! eout {
    ($($arg:tt)*) => {
        $crate::cli::output::write_stderr(::std::format_args!($($arg)*))
    };
}

pub(crate) use {eout, eoutln, out, outln};
