//! `telepathine`: one telepathine node, driven by commands on stdin.
//!
//! ```text
//! TELEPATHINE_NETWORK_KEY=... telepathine --bind 127.0.0.1:9000 --seed 127.0.0.1:9001
//! set colour blue
//! ok
//! get-remote 127.0.0.1:9001 colour
//! value colour green
//! ```
//!
//! Every answer is one line (plain, or JSON with `--json`); `--watch PATTERN` adds one `event`
//! line per matching node event. `quit`, the end of stdin, SIGINT and SIGTERM all leave the
//! cluster gracefully (peers see the node as left, not failed).

mod cli;
mod exec;
mod format;
mod output;
mod parse;
mod watch;

use clap::Parser;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::cli::Args;
use crate::exec::{Flow, execute};
use crate::format::{Reply, Style};
use crate::output::Output;
use crate::watch::WatchFilter;

fn main() {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("telepathine: cannot start the async runtime: {e}");
            std::process::exit(1);
        }
    };
    let code = runtime.block_on(run(args));
    // Exit without dropping the runtime: tokio reads stdin on a blocking thread that cannot be
    // interrupted, and dropping the runtime would wait for that read (forever on a terminal).
    std::process::exit(code);
}

/// Runs the node until `quit`, the end of input or a signal; returns the exit code.
async fn run(args: Args) -> i32 {
    let env_key = std::env::var(cli::KEY_ENV).ok();
    let key = match cli::network_key(args.network_key_file.as_deref(), env_key) {
        Ok(key) => key,
        Err(e) => {
            eprintln!("telepathine: {e}");
            return 2;
        }
    };
    if let Err(e) = args.check(key.as_deref()) {
        eprintln!("telepathine: {e}");
        return 2;
    }
    let filter = match WatchFilter::new(args.watch.iter().map(String::as_str)) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("telepathine: bad --watch pattern: {e}");
            return 2;
        }
    };
    let out = Output::new(if args.json { Style::Json } else { Style::Plain });
    let node = match args.builder(key.as_deref()).start().await {
        Ok(node) => node,
        Err(e) => {
            eprintln!("telepathine: cannot start the node: {e}");
            return 1;
        }
    };

    let watcher = (!filter.is_empty()).then(|| {
        let mut events = node.events();
        tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                if let Some(w) = filter.select(&event) {
                    out.emit(&Reply::Event(w));
                }
            }
        })
    });
    let shutdown = shutdown_signal();
    out.emit(&Reply::Ready {
        peer: node.peer_name(),
    });

    tokio::select! {
        () = commands(&node, &out, args.no_stdin) => {}
        () = shutdown => {}
    }

    if let Err(e) = node.stop().await {
        out.emit(&Reply::Error(format!("leaving: {e}")));
    }
    if let Some(w) = watcher {
        // Let the watcher print what the stop produced, so `bye` is the last line.
        for _ in 0..8 {
            tokio::task::yield_now().await;
        }
        w.abort();
    }
    out.emit(&Reply::Bye);
    0
}

/// Reads and runs commands until `quit` or the end of input (forever with `--no-stdin`).
async fn commands(node: &telepathine_tokio::Telepathine, out: &Output, no_stdin: bool) {
    if no_stdin {
        return std::future::pending().await;
    }
    let mut input = BufReader::new(tokio::io::stdin());
    let mut line = Vec::new();
    loop {
        line.clear();
        match input.read_until(b'\n', &mut line).await {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) => {
                out.emit(&Reply::Error(format!("reading stdin: {e}")));
                return;
            }
        }
        let Ok(text) = std::str::from_utf8(&line) else {
            out.emit(&Reply::Error(
                "input is not valid UTF-8 (use \\xNN escapes in quotes)".into(),
            ));
            continue;
        };
        let text = text.trim_end_matches(['\n', '\r']);
        let (reply, flow) = match parse::parse_line(text) {
            Ok(command) => execute(node, command),
            Err(e) => (Some(Reply::Error(e.to_string())), Flow::Continue),
        };
        if let Some(reply) = reply {
            out.emit(&reply);
        }
        if flow == Flow::Quit {
            return;
        }
    }
}

/// Installs the SIGINT and SIGTERM handlers now and returns a future that resolves on either.
/// Installing them before `ready` is printed matters: a signal sent as soon as `ready` is read
/// would otherwise meet the default action and kill the process instead of leaving gracefully.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let handlers = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        );
        async move {
            match handlers {
                (Ok(mut int), Ok(mut term)) => {
                    tokio::select! {
                        _ = int.recv() => {}
                        _ = term.recv() => {}
                    }
                }
                _ => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
