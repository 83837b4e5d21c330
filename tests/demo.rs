//! `scripts/demo.sh` as README runs it, with its temporary folder watched: a run that works
//! leaves only its chart; a run that fails keeps moto's log and the event, and says where.

mod emulator {
    use std::path::{Path, PathBuf};
    use std::process::{Command, Output};

    const BIN: &str = env!("CARGO_BIN_EXE_kinesis-autoscaler");

    fn fresh_tmpdir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("demo-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn demo(tmpdir: &Path, bin: &str) -> Output {
        Command::new("bash")
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .arg("scripts/demo.sh")
            .env("TMPDIR", tmpdir)
            .env("KINESIS_AUTOSCALER_BIN", bin)
            .output()
            .unwrap()
    }

    fn left_in(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    #[ignore = "needs an emulator: scripts/test.sh"]
    fn the_demo_leaves_only_its_chart() {
        let tmpdir = fresh_tmpdir("ok");
        let out = demo(&tmpdir, BIN);
        let left = left_in(&tmpdir);
        let _ = std::fs::remove_dir_all(&tmpdir);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(left, ["kinesis-autoscaler-demo.png"]);
    }

    #[test]
    #[ignore = "needs an emulator: scripts/test.sh"]
    fn a_failed_demo_keeps_its_log_and_says_where() {
        let tmpdir = fresh_tmpdir("failed");
        let out = demo(&tmpdir, "false");
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let left = left_in(&tmpdir);
        let kept = left
            .first()
            .map(|name| left_in(&tmpdir.join(name)))
            .unwrap_or_default();
        let _ = std::fs::remove_dir_all(&tmpdir);
        assert!(!out.status.success());
        assert_eq!(left.len(), 1, "{left:?}");
        assert!(
            stderr.contains(&format!("kept in {}", tmpdir.join(&left[0]).display())),
            "{stderr}"
        );
        assert!(kept.contains(&"moto.log".to_string()), "{kept:?}");
    }
}
