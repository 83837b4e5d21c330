//! README's first screen, line by line, as far as a test can run it: the install uses the
//! committed lockfile, the scripts exist and run, the replay it shows works, and the deploy
//! commands are those `scripts/deploy.sh` runs.

use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_kinesis-autoscaler");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The first ```sh block of README.md, one command a line.
fn first_screen() -> Vec<String> {
    let readme = std::fs::read_to_string(Path::new(ROOT).join("README.md")).unwrap();
    let block = readme.split("```sh\n").nth(1).unwrap();
    let block = block.split("```").next().unwrap();
    block
        .lines()
        .map(|l| l.split("  #").next().unwrap_or(l).trim().to_string())
        .collect()
}

#[test]
fn the_first_screen_goes_from_clone_to_deploy() {
    let lines = first_screen();
    let position = |prefix: &str| {
        lines
            .iter()
            .position(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no line {prefix:?} in {lines:#?}"))
    };
    let order = [
        position("git clone"),
        position("cargo install --path . --locked"),
        position("scripts/demo.sh"),
        position("scripts/test.sh"),
        position("sam build && sam deploy --guided"),
    ];
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{lines:#?}");
}

#[test]
fn cargo_install_locked_finds_an_up_to_date_lockfile() {
    let out = Command::new(env!("CARGO"))
        .current_dir(ROOT)
        .args(["tree", "--locked", "--offline", "--quiet", "--depth", "0"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_scripts_it_names_are_there_and_executable() {
    use std::os::unix::fs::PermissionsExt;
    for line in first_screen() {
        let program = line
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_string();
        if program.starts_with("scripts/") {
            let mode = std::fs::metadata(Path::new(ROOT).join(&program))
                .unwrap_or_else(|e| panic!("{program}: {e}"))
                .permissions()
                .mode();
            assert!(mode & 0o111 != 0, "{program} is not executable");
        }
    }
}

#[test]
fn the_replay_it_shows_runs() {
    let line = first_screen()
        .into_iter()
        .find(|l| l.starts_with("kinesis-autoscaler simulate"))
        .expect("a simulate line");
    let plot = std::env::temp_dir().join(format!("readme-{}.png", std::process::id()));
    let args: Vec<String> = line
        .split_whitespace()
        .skip(1)
        .map(|a| {
            if a.ends_with(".png") {
                plot.display().to_string()
            } else {
                a.to_string()
            }
        })
        .collect();
    let out = Command::new(BIN)
        .current_dir(ROOT)
        .args(&args)
        .output()
        .unwrap();
    let written = std::fs::metadata(&plot).map(|m| m.len()).unwrap_or(0);
    let _ = std::fs::remove_file(&plot);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(written > 10_000, "plot of {written} bytes");
}

#[test]
fn the_deploy_line_is_what_deploy_sh_runs() {
    let out = Command::new("bash")
        .current_dir(ROOT)
        .args(["scripts/deploy.sh", "--dry-run"])
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{printed}");
    assert!(
        printed.contains("+ sam build --parameter-overrides Architecture=arm64"),
        "{printed}"
    );
    assert!(printed.contains("--guided"), "{printed}");
    let template = std::fs::read_to_string(Path::new(ROOT).join("template.yaml")).unwrap();
    assert!(template.contains("BuildMethod: rust-cargolambda"));
}
