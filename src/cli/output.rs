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

/// The one error that ends a command quietly: standard output's reader has gone away
/// (`simulate ... | head`), as it ends `ls`. A broken pipe elsewhere (a socket, a FIFO named
/// as an output file) stays an error.
#[derive(Debug, thiserror::Error)]
#[error("the reader of standard output has gone away")]
pub struct ReaderGone;

/// Standard output for the command line: a broken pipe comes back as [`ReaderGone`] (inside
/// the `io::Error`), which [`crate::cli::main`] turns into a quiet exit 0.
pub struct Stdout(std::io::StdoutLock<'static>);

/// Locks standard output for the command's writes (see [`Stdout`]).
pub fn stdout() -> Stdout {
    Stdout(std::io::stdout().lock())
}

fn reader_gone(err: std::io::Error) -> std::io::Error {
    if err.kind() == std::io::ErrorKind::BrokenPipe {
        std::io::Error::new(std::io::ErrorKind::BrokenPipe, ReaderGone)
    } else {
        err
    }
}

impl std::io::Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf).map_err(reader_gone)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush().map_err(reader_gone)
    }
}

/// Writes to standard output, flushed; the error is the caller's to return (see [`Stdout`]),
/// where `print!` would panic.
pub fn write_stdout(text: std::fmt::Arguments<'_>) -> std::io::Result<()> {
    use std::io::Write;
    let mut out = stdout();
    out.write_fmt(text)?;
    out.flush()
}

/// Writes a diagnostic to standard error. A closed stderr has nowhere to be reported, so its
/// failure is ignored (`eprint!` would panic).
pub fn write_stderr(text: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let _ = std::io::stderr().lock().write_fmt(text);
}

/// Whether `err` is (or was caused by) [`ReaderGone`].
pub fn is_reader_gone(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause.is::<ReaderGone>()
            || cause
                .downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .is_some_and(|inner| inner.is::<ReaderGone>())
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

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context as _;
    use std::io::{Error, ErrorKind};

    #[test]
    fn only_standard_outputs_broken_pipe_ends_a_command_quietly() {
        let ours = Err::<(), _>(reader_gone(Error::from(ErrorKind::BrokenPipe)))
            .context("writing the trace to standard output")
            .unwrap_err();
        assert!(is_reader_gone(&ours));
        // A socket's or a FIFO's broken pipe is a failure to report.
        let elsewhere = anyhow::Error::from(Error::from(ErrorKind::BrokenPipe));
        assert!(!is_reader_gone(&elsewhere));
        let other = anyhow::Error::from(reader_gone(Error::from(ErrorKind::WriteZero)));
        assert!(!is_reader_gone(&other));
    }
}
