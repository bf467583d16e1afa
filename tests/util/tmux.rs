//! A command in a tmux session: a real terminal for the live table, read
//! back with capture-pane and driven with send-keys.

use std::process::Command;
use std::time::{Duration, Instant};

/// A tmux session running one command, killed on drop.
pub struct Tmux {
    name: String,
}

impl Tmux {
    pub fn start(command: &str) -> Tmux {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("dttest{}-{n}", std::process::id());
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &name])
            .status();
        let ok = Command::new("tmux")
            .args(["new-session", "-d", "-s", &name, "-x", "160", "-y", "40"])
            .arg(command)
            .env("TERM", "xterm-256color")
            .status()
            .expect("running tmux (apt-get install tmux)");
        assert!(ok.success());
        super::run("tmux", &["set-option", "-t", &name, "remain-on-exit", "on"]);
        Tmux { name }
    }

    pub fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["capture-pane", "-p", "-t", &self.name])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn format(&self, f: &str) -> String {
        let out = Command::new("tmux")
            .args(["display-message", "-p", "-t", &self.name, f])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    pub fn keys(&self, keys: &str) {
        super::run("tmux", &["send-keys", "-t", &self.name, keys]);
    }

    /// Waits until the screen satisfies `pred`; fails with the screen.
    pub fn wait_for(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let s = self.screen();
            if pred(&s) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "waiting for {what}; the screen:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.name])
            .status();
    }
}
