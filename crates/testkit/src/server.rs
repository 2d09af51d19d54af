//! Starts the real `gatehouse` binary on port 0, waits for its `listening on` line and
//! keeps everything it prints, so tests can also check what reached the logs (S11).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

#[derive(Debug, Clone, Default)]
pub struct ServerOptions {
    /// `serve` (default) or `demo`.
    pub command: Option<&'static str>,
    pub database_url: Option<String>,
    pub smtp_url: Option<String>,
    pub env: Vec<(String, String)>,
}

pub struct TestServer {
    pub base_url: String,
    pub data_dir: PathBuf,
    binary: PathBuf,
    options: ServerOptions,
    child: Child,
    output: Arc<Mutex<Vec<String>>>,
    _dir: Option<tempfile::TempDir>,
}

impl TestServer {
    /// Starts `binary` with a fresh data folder of its own.
    pub async fn start(binary: &Path, options: ServerOptions) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let data_dir = dir.path().to_path_buf();
        let mut server = Self::start_in(binary, &data_dir, options).await;
        server._dir = Some(dir);
        server
    }

    /// Starts `binary` on an existing data folder (for restarts after a crash).
    pub async fn start_in(binary: &Path, data_dir: &Path, options: ServerOptions) -> Self {
        let mut command = base_command(binary, data_dir, &options);
        command
            .arg(options.command.unwrap_or("serve"))
            .env("GATEHOUSE_LISTEN", "127.0.0.1:0")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command.spawn().unwrap();
        let output = Arc::new(Mutex::new(Vec::new()));
        let (ready_tx, mut ready_rx) = tokio::sync::mpsc::unbounded_channel();
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn tokio::io::AsyncRead + Unpin + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let output = Arc::clone(&output);
            let ready = ready_tx.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(stream).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    if let Some(url) = line.strip_prefix("listening on ") {
                        let _ = ready.send(url.trim().to_string());
                    }
                    output.lock().unwrap().push(line);
                }
            });
        }
        let base_url = match tokio::time::timeout(Duration::from_secs(30), ready_rx.recv()).await {
            Ok(Some(url)) => url,
            _ => panic!(
                "gatehouse did not print `listening on` within 30 s; it printed:\n{}",
                output.lock().unwrap().join("\n")
            ),
        };
        Self {
            base_url,
            data_dir: data_dir.to_path_buf(),
            binary: binary.to_path_buf(),
            options,
            child,
            output,
            _dir: None,
        }
    }

    /// Everything the server printed so far (stdout and stderr).
    pub fn output(&self) -> String {
        self.output.lock().unwrap().join("\n")
    }

    /// Kills the process at once, as a crash or power cut would (SIGKILL).
    /// A connection on the server's own SQLite file, behind its back: for tests that must
    /// read or set what no page shows (the audit rows, a count only days of delays reach).
    pub async fn sqlite(&self) -> sqlx::AnyPool {
        sqlx::any::install_default_drivers();
        let url = format!("sqlite://{}", self.data_dir.join("gatehouse.db").display());
        sqlx::any::AnyPoolOptions::new()
            .max_connections(1)
            .connect(&url)
            .await
            .unwrap()
    }

    /// The server's CPU time so far (user + system, in clock ticks), read from `/proc`: what
    /// a request costs the server, whatever the load generator costs (S55).
    pub fn cpu_ticks(&self) -> u64 {
        let pid = self
            .child
            .id()
            .unwrap_or_else(|| panic!("the server has exited"));
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        // The name in parentheses may hold spaces; the fields after it are fixed.
        let after_name = &stat[stat.rfind(')').unwrap() + 2..];
        let fields: Vec<&str> = after_name.split(' ').collect();
        // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
        fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
    }

    pub async fn kill(&mut self) {
        let _ = self.child.kill().await;
    }

    /// Asks the server to stop (SIGTERM) and waits for it.
    pub async fn stop(&mut self) -> std::process::ExitStatus {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .arg("-TERM")
                .arg(pid.to_string())
                .status();
        }
        tokio::time::timeout(Duration::from_secs(20), self.child.wait())
            .await
            .unwrap()
            .unwrap()
    }

    /// Starts the binary again on the same data folder and database.
    pub async fn restart(&mut self) {
        self.kill().await;
        let next = Self::start_in(&self.binary, &self.data_dir, self.options.clone()).await;
        self.base_url = next.base_url.clone();
        self.output = Arc::clone(&next.output);
        let old = std::mem::replace(&mut self.child, next.child);
        drop(old);
    }

    /// Runs another `gatehouse` command against the same data folder and database.
    pub async fn cli(&self, args: &[&str], stdin: Option<&str>) -> CliOutput {
        run_cli(&self.binary, &self.data_dir, &self.options, args, stdin).await
    }
}

#[derive(Debug)]
pub struct CliOutput {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

fn base_command(binary: &Path, data_dir: &Path, options: &ServerOptions) -> Command {
    let mut command = Command::new(binary);
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("GATEHOUSE_DATA_DIR", data_dir)
        .env("GATEHOUSE_LOG", "info,sqlx=warn");
    if let Some(url) = &options.database_url {
        command.env("GATEHOUSE_DATABASE_URL", url);
    }
    if let Some(url) = &options.smtp_url {
        command.env("GATEHOUSE_SMTP_URL", url);
    }
    for (key, value) in &options.env {
        command.env(key, value);
    }
    command
}

pub async fn run_cli(
    binary: &Path,
    data_dir: &Path,
    options: &ServerOptions,
    args: &[&str],
    stdin: Option<&str>,
) -> CliOutput {
    use tokio::io::AsyncWriteExt;
    let mut command = base_command(binary, data_dir, options);
    command
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        // A command that refuses its arguments exits without reading: a broken pipe here is
        // that refusal, which the caller checks through the exit code.
        let _ = input.write_all(text.as_bytes()).await;
    }
    drop(input);
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    CliOutput {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}
