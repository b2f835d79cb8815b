//! The `telepathine` command, run as a real process on loopback: commands on stdin, one answer
//! per line on stdout, watched events, errors that keep the node running, and the ways out.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

/// Generous bounds: these only cap a failing test, they are not what is tested.
const PATIENCE: Duration = Duration::from_secs(20);

struct Node {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    /// Event lines seen while waiting for replies.
    events: Vec<String>,
}

impl Node {
    fn start(args: &[&str]) -> Node {
        let mut child = Command::new(env!("CARGO_BIN_EXE_telepathine"))
            .args([
                "--gossip-interval-ms",
                "100",
                "--heartbeat-interval-ms",
                "100",
            ])
            .args(args)
            .env_remove("TELEPATHINE_NETWORK_KEY")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn telepathine");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stdin = child.stdin.take();
        Node {
            child,
            stdin,
            lines,
            events: Vec::new(),
        }
    }

    /// The next line that is not an event.
    fn next_reply(&mut self) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.starts_with("event ") => self.events.push(line),
                Ok(line) => return line,
                Err(RecvTimeoutError::Timeout) => panic!("no reply within {PATIENCE:?}"),
                Err(RecvTimeoutError::Disconnected) => panic!("the node's stdout closed"),
            }
        }
    }

    fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
    }

    fn ask(&mut self, line: &str) -> String {
        self.send(line);
        self.next_reply()
    }

    /// Asks `line` until the reply is `want` (gossip takes a few rounds).
    fn ask_until(&mut self, line: &str, want: &str) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let got = self.ask(line);
            if got == want {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{line}: last reply {got:?}, want {want:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The peer name from the `ready` line.
    fn ready(&mut self) -> String {
        let line = self.next_reply();
        line.strip_prefix("ready ")
            .unwrap_or_else(|| panic!("expected ready, got {line:?}"))
            .to_string()
    }

    /// Waits for the process to exit, reading what remains of its output.
    fn wait(&mut self) -> (ExitStatus, Vec<String>) {
        let deadline = Instant::now() + PATIENCE;
        let mut rest = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => rest.push(line),
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => panic!("still running after {PATIENCE:?}"),
            }
        }
        (self.child.wait().unwrap(), rest)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A passphrase file that every node of one test reads, in a directory of its own (returned
/// so the test removes it).
fn shared_key_file(test: &str) -> (std::path::PathBuf, String) {
    let dir = std::env::temp_dir().join(format!("telepathine-cli-{test}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let key = dir.join("key");
    std::fs::write(&key, "a shared secret\n").unwrap();
    let key = key.to_str().unwrap().to_string();
    (dir, key)
}

#[test]
fn two_nodes_share_keys_and_events_and_quit_gracefully() {
    let (dir, key) = shared_key_file("test");
    let key = key.as_str();

    let mut a = Node::start(&["--network-key-file", key, "--watch", "say.**"]);
    let a_name = a.ready();
    let mut b = Node::start(&["--network-key-file", key, "--seed", &a_name]);
    let b_name = b.ready();

    assert_eq!(b.ask("set colour \"deep blue\""), "ok");
    assert_eq!(b.ask("get colour"), r#"value colour "deep blue""#);
    a.ask_until(
        &format!("get-remote {b_name} colour"),
        r#"value colour "deep blue""#,
    );
    assert_eq!(
        a.ask(&format!("keys {b_name}")),
        format!("keys {b_name} 1 colour")
    );
    a.ask_until("peers live", &format!("peers live 1 {b_name}"));

    // Mistakes answer one error line each, and the node carries on.
    assert_eq!(
        a.ask("frobnicate"),
        r#"error unknown command "frobnicate" (try: help)"#
    );
    assert_eq!(a.ask("set k"), "error usage: set KEY VALUE [TTL]");
    assert_eq!(
        a.ask("get-remote nope k"),
        r#"error bad peer "nope": expected ip:port"#
    );
    // The node's own refusals too: a key far over the length limit.
    let refused = a.ask(&format!("set {} v", "k".repeat(100_000)));
    assert!(refused.starts_with("error "), "{refused}");
    assert_eq!(a.ask("whoami"), format!("me {a_name}"));

    // A say from b is heard (and printed by the watcher) on a.
    assert_eq!(b.ask("say chat.hello \"hi there\""), "ok");
    let deadline = Instant::now() + PATIENCE;
    let heard = format!(r#"event heard {b_name} chat.hello "hi there""#);
    while !a.events.contains(&heard) {
        assert!(
            Instant::now() < deadline,
            "never heard; events: {:?}",
            a.events
        );
        a.ask("whoami");
    }

    assert_eq!(b.ask("del colour"), "deleted colour");
    assert_eq!(b.ask("del colour"), "absent colour");
    a.ask_until(&format!("get-remote {b_name} colour"), "none colour");

    // `quit` leaves: b sees a as left, not failed.
    a.send("quit");
    let (status, rest) = a.wait();
    assert!(status.success(), "{status}");
    assert_eq!(rest.last().map(String::as_str), Some("bye"));
    b.ask_until("peers dead", &format!("peers dead 1 {a_name}"));

    // The end of input leaves as well.
    drop(b.stdin.take());
    let (status, rest) = b.wait();
    assert!(status.success(), "{status}");
    assert_eq!(rest.last().map(String::as_str), Some("bye"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn json_lines_and_sigterm() {
    let mut a = Node::start(&["--json", "--no-stdin"]);
    let ready = a.next_reply();
    assert!(ready.contains(r#""type":"ready""#), "{ready}");
    let status = Command::new("kill")
        .args(["-TERM", &a.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let (status, rest) = a.wait();
    assert!(status.success(), "{status}");
    assert_eq!(rest, [r#"{"type":"bye"}"#]);
}

#[test]
fn a_missing_key_file_is_refused_before_starting() {
    let mut a = Node::start(&["--network-key-file", "/nonexistent/telepathine-key"]);
    let (status, rest) = a.wait();
    assert_eq!(status.code(), Some(2));
    assert!(rest.is_empty(), "{rest:?}");
}

#[test]
fn aes_gcm_siv_nodes_talk_and_count_a_node_on_the_other_suite() {
    let (dir, key) = shared_key_file("aes");
    let key = key.as_str();

    let aes = ["--network-key-file", key, "--cipher", "aes256gcmsiv"];
    let mut a = Node::start(&aes);
    let a_name = a.ready();
    let mut b = Node::start(&[&aes[..], &["--seed", &a_name]].concat());
    let b_name = b.ready();
    // Same passphrase, default suite: never admitted.
    let mut c = Node::start(&["--network-key-file", key, "--seed", &a_name]);
    c.ready();

    assert_eq!(b.ask("set colour green"), "ok");
    a.ask_until(&format!("get-remote {b_name} colour"), "value colour green");
    a.ask_until("peers live", &format!("peers live 1 {b_name}"));
    let deadline = Instant::now() + PATIENCE;
    loop {
        let stats = a.ask("stats");
        if stats.split(' ').any(|f| {
            f.strip_prefix("dropped.wrong_cipher=")
                .is_some_and(|n| n != "0")
        }) {
            break;
        }
        assert!(Instant::now() < deadline, "no wrong_cipher drop: {stats}");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(c.ask("peers live"), "peers live 0");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_cipher_without_a_key_is_refused_before_starting() {
    let mut a = Node::start(&["--cipher", "aes256gcmsiv"]);
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut a.child.stderr.take().unwrap(), &mut stderr).unwrap();
    let (status, rest) = a.wait();
    assert_eq!(status.code(), Some(2));
    assert!(rest.is_empty(), "{rest:?}");
    assert!(stderr.contains("--cipher needs a network key"), "{stderr}");
}
