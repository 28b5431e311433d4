//! Finds the binary of a server the demos and the integration tests start (memcached,
//! nutcracker), installing its Debian package when it is missing and this process may
//! (as root, or through passwordless sudo), so that a machine with only Rust runs them.
//! Otherwise the error is one line saying what to install.
//!
//! Included with `#[path]` by `local_memcached.rs` (the tokio and async-std demos) and by
//! `tests/src/lib.rs`. It lives in this package because memcache-tokio is published, and a
//! published example cannot include a file from outside its package.

use std::ffi::OsStr;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock, PoisonError};

/// A program shipped by a Debian package, looked up (and installed) at most once per
/// process.
pub(crate) struct DebianBinary {
    program: &'static str,
    package: &'static str,
    env_var: &'static str,
    found: OnceLock<Result<PathBuf, String>>,
}

impl DebianBinary {
    /// `program`, shipped by the Debian package `package`; the environment variable
    /// `env_var`, when set, names the binary to use instead.
    pub(crate) const fn new(
        program: &'static str,
        package: &'static str,
        env_var: &'static str,
    ) -> DebianBinary {
        DebianBinary {
            program,
            package,
            env_var,
            found: OnceLock::new(),
        }
    }

    /// The binary: what `$ENV_VAR` names when set, else the program from PATH or
    /// `/usr/sbin`, else the one that installing the package provides. The error is one
    /// line saying what to install.
    ///
    /// Only the first call looks; concurrent callers wait for it, so parallel tests run
    /// apt-get once.
    pub(crate) fn path(&self) -> Result<&Path, &str> {
        match self.found.get_or_init(|| self.locate()) {
            Ok(path) => Ok(path),
            Err(hint) => Err(hint),
        }
    }

    fn locate(&self) -> Result<PathBuf, String> {
        if let Some(named) = std::env::var_os(self.env_var) {
            // An explicit choice: installing the package would not make it exist.
            return find_program(&named).ok_or_else(|| {
                format!(
                    "{}={} does not name a {} binary: fix it, or unset it to use the installed one",
                    self.env_var,
                    named.to_string_lossy(),
                    self.program
                )
            });
        }
        if let Some(path) = find_program(OsStr::new(self.program)) {
            return Ok(path);
        }
        self.install()?;
        find_program(OsStr::new(self.program)).ok_or_else(|| {
            format!(
                "installed the {} package, but no {} is on PATH or in /usr/sbin",
                self.package, self.program
            )
        })
    }

    /// Installs the package with apt-get, running `apt-get update` first when the install
    /// fails (a fresh container has no package lists).
    fn install(&self) -> Result<(), String> {
        if find_program(OsStr::new("apt-get")).is_none() {
            return Err(format!(
                "{} is not installed: install it (the Debian/Ubuntu package is `{}`), or set {}",
                self.program, self.package, self.env_var
            ));
        }
        let sudo = if running_as_root() {
            false
        } else if passwordless_sudo() {
            true
        } else {
            return Err(format!(
                "{} is not installed: run `sudo apt-get install -y {}` (or set {})",
                self.program, self.package, self.env_var
            ));
        };
        // memcached and nutcracker may be wanted by two tests at once: one apt-get at a time
        // in this process. Other processes wait on apt's own lock (see `apt_get`).
        let _one_at_a_time = APT.lock().unwrap_or_else(PoisonError::into_inner);
        // Written to the stream itself, which the test harness does not capture: installing
        // takes a while, and the wait should not look like a hang.
        let _ = writeln!(
            std::io::stderr(),
            "{} is not installed: installing it with `apt-get install -y {}`",
            self.program,
            self.package
        );
        let install = ["install", "-y", "-q", self.package];
        apt_get(sudo, &install)
            .or_else(|_| apt_get(sudo, &["update", "-q"]).and_then(|()| apt_get(sudo, &install)))
            .map_err(|reason| {
                format!(
                    "{} is not installed, and `apt-get install -y {}` failed ({reason}): \
                     install it, or set {}",
                    self.program, self.package, self.env_var
                )
            })
    }
}

/// Held while apt-get runs.
static APT: Mutex<()> = Mutex::new(());

/// Runs apt-get non-interactively (through `sudo -n` when `sudo`); the error is the last
/// line apt-get printed.
fn apt_get(sudo: bool, args: &[&str]) -> Result<(), String> {
    // `env` sets the frontend after sudo has reset the environment.
    let mut argv = if sudo { vec!["sudo", "-n"] } else { Vec::new() };
    argv.extend(["env", "DEBIAN_FRONTEND=noninteractive", "apt-get"]);
    // Another process (a second test binary, the system's own updates) may hold the dpkg
    // lock: wait for it rather than fail.
    argv.extend(["-o", "DPkg::Lock::Timeout=300"]);
    argv.extend(args);
    let output = Command::new(argv[0])
        .args(&argv[1..])
        .stdin(Stdio::null())
        .output()
        .map_err(|error| format!("cannot run {}: {error}", argv[0]))?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let last_line = stderr.lines().rev().find(|line| !line.trim().is_empty());
    Err(last_line.map_or_else(|| output.status.to_string(), |line| line.trim().to_owned()))
}

/// `name` itself when it holds a `/`; otherwise the first `name` in PATH, then in
/// `/usr/sbin`, where Debian puts daemons such as nutcracker (not on ordinary users' PATH).
fn find_program(name: &OsStr) -> Option<PathBuf> {
    let name = Path::new(name);
    if name.components().count() > 1 {
        return name.is_file().then(|| name.to_path_buf());
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin")])
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// Whether `sudo` runs commands without asking for a password.
fn passwordless_sudo() -> bool {
    Command::new("sudo")
        .args(["-n", "true"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// Whether the real or effective user id is 0 (the `Uid:` line of `/proc/self/status`).
/// Also why memcached needs `-u root`: it refuses to run as root otherwise.
pub(crate) fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status.lines().find_map(|line| {
                let ids = line.strip_prefix("Uid:")?;
                Some(ids.split_whitespace().take(2).any(|id| id == "0"))
            })
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_is_taken_as_is_and_a_name_is_looked_up() {
        assert_eq!(find_program(OsStr::new("/nonexistent/memcached")), None);
        let shell = find_program(OsStr::new("sh")).expect("sh is on PATH");
        assert_eq!(find_program(shell.as_os_str()), Some(shell.clone()));
    }
}
