//! The completion scripts as a shell loads them: bash is asked, as it is on Tab, to complete
//! a subcommand's flag and a flag's value; fish likewise; zsh's script must parse. zsh and
//! fish are Debian packages that `scripts/test.sh` installs: their tests are ignored by a
//! plain `cargo test` and fail (never pass) when run without the shell.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_kinesis-autoscaler");

fn script(shell: &str) -> String {
    let out = Command::new(BIN)
        .args(["completions", shell])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Writes `text` to a temporary file named `name`; the caller removes it.
fn temp_file(name: &str, text: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("{}-{name}", std::process::id()));
    std::fs::write(&path, text).unwrap();
    path
}

/// What bash offers for the last of `words` (the word being completed), as on Tab: the
/// script is sourced, and the function `complete -p` names is called with COMP_WORDS and
/// COMP_CWORD set, as bash's completion does.
fn bash_completes(words: &[&str]) -> Vec<String> {
    let path = temp_file("kinesis-autoscaler.bash", &script("bash"));
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let cword = words.len() - 1;
    let program = format!(
        r#"source '{path}'
spec=$(complete -p kinesis-autoscaler) || exit 3
function=$(sed -E 's/.* -F ([^ ]+) .*/\1/' <<<"$spec")
COMP_WORDS=({words})
COMP_CWORD={cword}
COMP_LINE="${{COMP_WORDS[*]}}"
COMP_POINT=${{#COMP_LINE}}
"$function" kinesis-autoscaler "${{COMP_WORDS[COMP_CWORD]}}" "${{COMP_WORDS[COMP_CWORD-1]}}"
printf '%s\n' "${{COMPREPLY[@]}}""#,
        path = path.display(),
        words = quoted.join(" "),
    );
    let out = Command::new("bash")
        .args(["--norc", "--noprofile", "-c", &program])
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&path);
    assert!(
        out.status.success(),
        "bash: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

#[test]
fn bash_completes_a_subcommands_flag_and_a_flags_value() {
    assert_eq!(
        bash_completes(&["kinesis-autoscaler", "simulate", "--tr"]),
        ["--trace"]
    );
    assert_eq!(
        bash_completes(&["kinesis-autoscaler", "simulate", "--policy", ""]),
        ["ours", "upstream"]
    );
    // Two levels down, and the subcommands themselves.
    assert_eq!(
        bash_completes(&["kinesis-autoscaler", "trace", "export", "--da"]),
        ["--days"]
    );
    let subcommands = bash_completes(&["kinesis-autoscaler", "si"]);
    assert_eq!(subcommands, ["simulate"]);
    assert_eq!(
        bash_completes(&["kinesis-autoscaler", "completions", "z"]),
        ["zsh"]
    );
}

#[test]
#[ignore = "needs fish (Debian package fish): scripts/test.sh installs it"]
fn fish_parses_and_completes_the_same() {
    let path = temp_file("kinesis-autoscaler.fish", &script("fish"));
    let parse = Command::new("fish").arg("-n").arg(&path).output();
    let complete = Command::new("fish")
        .arg("-c")
        .arg(format!(
            "source '{}'; complete -C'kinesis-autoscaler simulate --tr'; complete -C'kinesis-autoscaler simulate --policy '",
            path.display()
        ))
        .output();
    let _ = std::fs::remove_file(&path);
    let parse = parse.expect("fish is not installed (apt-get install fish)");
    assert!(
        parse.status.success(),
        "{}",
        String::from_utf8_lossy(&parse.stderr)
    );
    let complete = complete.unwrap();
    let offered: Vec<String> = String::from_utf8_lossy(&complete.stdout)
        .lines()
        .map(|l| l.split('\t').next().unwrap_or_default().to_string())
        .collect();
    assert_eq!(offered, ["--trace", "ours", "upstream"]);
}

#[test]
#[ignore = "needs zsh (Debian package zsh): scripts/test.sh installs it"]
fn zsh_parses_the_script() {
    let path = temp_file("_kinesis-autoscaler", &script("zsh"));
    let parse = Command::new("zsh").arg("-n").arg(&path).output();
    let _ = std::fs::remove_file(&path);
    let parse = parse.expect("zsh is not installed (apt-get install zsh)");
    assert!(
        parse.status.success(),
        "{}",
        String::from_utf8_lossy(&parse.stderr)
    );
    assert!(script("zsh").starts_with("#compdef kinesis-autoscaler"));
}
