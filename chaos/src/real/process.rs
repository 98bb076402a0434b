//! The `paxos node` processes of a real cluster: where the binary is, starting, killing, stopping
//! and continuing them by pid.

use crate::error::ChaosError;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// Finds the `paxos` binary: `explicit` if given; else next to this executable (or one level up
/// from a test's `deps/`); else, when run by cargo, builds it with the same profile.
///
/// # Errors
///
/// Where it looked, and how to build it.
pub fn locate_paxos(explicit: Option<&Path>) -> Result<PathBuf, ChaosError> {
    if let Some(path) = explicit {
        return if path.is_file() {
            Ok(path.to_path_buf())
        } else {
            Err(ChaosError::Input(format!(
                "--paxos {}: no such file: expected the paxos binary (cargo build -p paxos)",
                path.display()
            )))
        };
    }
    let exe = std::env::current_exe().map_err(|error| ChaosError::Process {
        command: "finding this executable".to_string(),
        reason: error.to_string(),
    })?;
    let mut dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let candidate = dir.join("paxos");
    if candidate.is_file() {
        return Ok(candidate);
    }
    if let Ok(cargo) = std::env::var("CARGO") {
        let release = dir.ends_with("release");
        eprintln!(
            "building the paxos binary (cargo build -p paxos{})",
            if release { " --release" } else { "" }
        );
        let mut build = Command::new(cargo);
        build.args(["build", "-q", "-p", "paxos", "--bin", "paxos"]);
        if release {
            build.arg("--release");
        }
        let status = build.status().map_err(|error| ChaosError::Process {
            command: "cargo build -p paxos".to_string(),
            reason: error.to_string(),
        })?;
        if status.success() && candidate.is_file() {
            return Ok(candidate);
        }
    }
    Err(ChaosError::Input(format!(
        "no paxos binary at {}: build it with `cargo build -p paxos` (or pass --paxos PATH)",
        candidate.display()
    )))
}

/// One node's process, started and restarted with the same arguments.
pub struct NodeProcess {
    binary: PathBuf,
    arguments: Vec<String>,
    log: PathBuf,
    child: Option<Child>,
}

impl NodeProcess {
    /// A node not yet started; its output goes to `log`.
    pub fn new(binary: &Path, arguments: Vec<String>, log: PathBuf) -> NodeProcess {
        NodeProcess { binary: binary.to_path_buf(), arguments, log, child: None }
    }

    /// Starts it (its output appended to the log).
    ///
    /// # Errors
    ///
    /// The process could not be started.
    pub fn start(&mut self) -> Result<(), ChaosError> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(ChaosError::io(&self.log))?;
        let errors = log.try_clone().map_err(ChaosError::io(&self.log))?;
        let child = Command::new(&self.binary)
            .args(&self.arguments)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(errors)
            .spawn()
            .map_err(ChaosError::io(&self.binary))?;
        self.child = Some(child);
        Ok(())
    }

    /// Its pid, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// SIGKILL, and waits for it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends `signal` (`STOP`, `CONT`) to the process, with kill(1).
    ///
    /// # Errors
    ///
    /// The process is not running, or kill(1) failed.
    pub fn signal(&self, signal: &str) -> Result<(), ChaosError> {
        let failed = |command: String, reason: String| ChaosError::Process { command, reason };
        let pid = self.pid().ok_or_else(|| failed(format!("kill -{signal}"), "not running".to_string()))?;
        let status = Command::new("kill")
            .args([format!("-{signal}"), pid.to_string()])
            .status()
            .map_err(|error| failed(format!("kill -{signal} {pid}"), error.to_string()))?;
        if status.success() {
            Ok(())
        } else {
            Err(failed(format!("kill -{signal} {pid}"), status.to_string()))
        }
    }

    /// Whether it exited on its own, and how.
    pub fn exited(&mut self) -> Option<String> {
        let child = self.child.as_mut()?;
        match child.try_wait() {
            Ok(Some(status)) => Some(status.to_string()),
            _ => None,
        }
    }

    /// The log file.
    pub fn log(&self) -> &Path {
        &self.log
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
