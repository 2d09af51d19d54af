//! The files in `deploy/` (docs/deploy.md) name things this binary must have: the unit's
//! `ExecStart` a subcommand and flags it accepts, the environment file settings it reads.
//! A rename in the CLI or the configuration that forgets them fails here, not on a server.

use crate::helpers::binary;
use std::path::{Path, PathBuf};

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(relative: &str) -> String {
    let path = repository().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The words of the unit's `ExecStart=` line: the program, then its arguments.
fn exec_start(unit: &str) -> Vec<String> {
    let lines: Vec<&str> = unit
        .lines()
        .filter_map(|line| line.trim().strip_prefix("ExecStart="))
        .collect();
    assert_eq!(lines.len(), 1, "one ExecStart line");
    lines[0].split_whitespace().map(str::to_string).collect()
}

#[tokio::test]
async fn the_units_exec_start_names_a_subcommand_and_flags_the_binary_accepts() {
    let words = exec_start(&read("deploy/gatehouse.service"));
    let (program, args) = words.split_first().expect("a program");
    assert!(program.ends_with("/gatehouse"), "{program}");
    assert!(!args.is_empty(), "a subcommand");
    // clap refuses an unknown subcommand or flag before it answers --help.
    let mut command: Vec<&str> = args.iter().map(String::as_str).collect();
    command.push("--help");
    let out = std::process::Command::new(binary())
        .args(&command)
        .env_clear()
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "gatehouse {}: {}",
        command.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("Usage: gatehouse"), "{stdout}");

    // And the check has teeth: a flag the binary lacks is refused.
    let out = std::process::Command::new(binary())
        .args(["serve", "--no-such-flag", "--help"])
        .env_clear()
        .output()
        .unwrap();
    assert!(!out.status.success());
}

#[test]
fn every_setting_in_the_deploy_files_is_one_the_binary_reads() {
    let sources: String = [
        "crates/server/src/config/mod.rs",
        "crates/server/src/cli.rs",
        "crates/server/src/logging.rs",
    ]
    .iter()
    .map(|path| read(path))
    .collect();
    let files = read("deploy/gatehouse.env") + &read("deploy/gatehouse.service");
    let mut names: Vec<&str> = files
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|word| word.starts_with("GATEHOUSE_"))
        .collect();
    names.sort_unstable();
    names.dedup();
    assert!(names.len() >= 8, "{names:?}");
    for name in names {
        // `NAME_FILE` is how any setting is read from a file (config::layers); the master
        // key file is a setting of its own.
        let setting = match name.strip_suffix("_FILE") {
            Some(base) if !sources.contains(&format!("\"{name}\"")) => base,
            _ => name,
        };
        assert!(
            sources.contains(&format!("\"{setting}\"")),
            "{name} is not a setting gatehouse reads"
        );
    }
}
