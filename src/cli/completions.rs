//! `completions`: clap_complete's scripts, with its bash script repaired for our hyphenated
//! binary name.
//!
//! clap_complete (4.6.12, clap-rs/clap#6421, #6529) spells the bash script's state for a
//! subcommand two ways when the binary's name has a hyphen: the loop that reads the words
//! sets `kinesis__autoscaler__subcmd__simulate`, while the case labels that offer the flags
//! read `kinesis__subcmd__autoscaler__subcmd__simulate`, so nothing after a subcommand ever
//! completed. The labels are rewritten to the loop's spelling.

use clap_complete::Shell;

/// The completion script for `shell`, for the command `bin`.
pub fn script(shell: Shell, command: &mut clap::Command, bin: &str) -> String {
    let mut out = Vec::new();
    clap_complete::generate(shell, command, bin, &mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    match shell {
        Shell::Bash => repair_bash(&text, bin),
        _ => text,
    }
}

/// The case labels' spelling of the binary's name, replaced by the word loop's.
fn repair_bash(text: &str, bin: &str) -> String {
    let loop_spelling = bin.replace('-', "__");
    let label_spelling = bin.replace('-', "__subcmd__");
    if loop_spelling == label_spelling {
        return text.to_string();
    }
    text.replace(
        &format!("{label_spelling}__subcmd__"),
        &format!("{loop_spelling}__subcmd__"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bash_labels_take_the_loops_spelling() {
        let mut command = clap::Command::new("my-app")
            .subcommand(clap::Command::new("thunder").arg(clap::Arg::new("x").long("lightning")));
        let text = script(Shell::Bash, &mut command, "my-app");
        assert!(!text.contains("my__subcmd__app"), "{text}");
        assert!(text.contains("my__app__subcmd__thunder)"), "{text}");
        assert!(text.contains("cmd=\"my__app__subcmd__thunder\""), "{text}");
    }
}
