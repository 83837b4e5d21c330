//! `scripts/deploy.sh --cargo-lambda` as a user runs it (with `--dry-run`, which prints the
//! commands): every setting the function reads, set in the shell, reaches `cargo lambda
//! deploy`, from the one list the settings code owns.

use kinesis_autoscaler::domain::settings::VARIABLES;
use std::process::Command;

fn deploy_script() -> Command {
    let mut command = Command::new("bash");
    command
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .arg("scripts/deploy.sh");
    for name in VARIABLES {
        command.env_remove(name);
    }
    command
}

#[test]
fn every_setting_set_in_the_shell_is_passed_to_the_function() {
    let mut command = deploy_script();
    command.args([
        "--cargo-lambda",
        "--role",
        "arn:aws:iam::123456789012:role/autoscaler",
        "--dry-run",
    ]);
    for (i, name) in VARIABLES.iter().enumerate() {
        command.env(name, format!("value-{i}"));
    }
    let out = command.output().unwrap();
    let printed = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{printed}");
    let deploy = printed
        .lines()
        .find(|l| l.starts_with("+ cargo lambda deploy"))
        .unwrap_or_else(|| panic!("no cargo lambda deploy in:\n{printed}"));
    for (i, name) in VARIABLES.iter().enumerate() {
        assert!(
            deploy.contains(&format!("--env-var {name}=value-{i}")),
            "{name} is not passed: {deploy}"
        );
    }
    assert_eq!(deploy.matches("--env-var").count(), VARIABLES.len());
}

#[test]
fn the_scripts_list_is_the_settings_codes_list() {
    let out = deploy_script().arg("--print-settings").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(printed, VARIABLES);
}

#[test]
fn unset_settings_are_left_out() {
    let out = deploy_script()
        .args([
            "--cargo-lambda",
            "--role",
            "arn:aws:iam::123456789012:role/a",
            "--dry-run",
        ])
        .env("DRY_RUN", "true")
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{printed}");
    assert_eq!(printed.matches("--env-var").count(), 1, "{printed}");
    assert!(printed.contains("--env-var DRY_RUN=true"), "{printed}");
}
