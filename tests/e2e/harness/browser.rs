//! The router's web console in Debian's headless Chromium, driven line by line through
//! tests/browser/console.mjs (playwright-core from .tools/node_modules); the commands are listed
//! at the top of that script.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::repo_root;

pub struct Browser {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Browser {
    /// Opens `url` with basic-auth `user` and `password`, once its live view is connected.
    pub fn open(url: &str, user: &str, password: &str) -> Browser {
        let mut child = Command::new("node")
            .arg(repo_root().join("tests/browser/console.mjs"))
            .args([url, user, password])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("node (scripts/install-test-tools.sh installs playwright-core and chromium)");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let mut b = Browser { child, stdin, stdout };
        let ready = b.read();
        assert_eq!(ready["ready"], true, "{ready}");
        b
    }

    fn read(&mut self) -> Value {
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("read from the browser");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("browser said {line:?}: {e}"))
    }

    /// One command; its answer.
    pub fn ask(&mut self, command: &str) -> Value {
        writeln!(self.stdin, "{command}").expect("write to the browser");
        self.read()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = writeln!(self.stdin, "quit");
        std::thread::sleep(Duration::from_millis(300));
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
