//! `bmplan nodes console`: the user's terminal joined to a node's serial console until the detach
//! key (Ctrl-], as `virsh console` and telnet use it) or the console's end.

use std::io::IsTerminal;

use nix::sys::termios::{self, SetArg, Termios};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::bmc::Console;

/// The detach key: Ctrl-] (0x1d). It is never sent to the server.
pub const DETACH: u8 = 0x1d;

/// The terminal in raw mode (keystrokes pass through one by one, Ctrl-C included) while it lives;
/// its settings come back when it is dropped. Nothing happens when standard input is no terminal.
struct Raw(Option<Termios>);

impl Raw {
    fn enter() -> std::io::Result<Raw> {
        let stdin = std::io::stdin();
        if !stdin.is_terminal() {
            return Ok(Raw(None));
        }
        let saved = termios::tcgetattr(&stdin)?;
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        termios::tcsetattr(&stdin, SetArg::TCSANOW, &raw)?;
        Ok(Raw(Some(saved)))
    }
}

impl Drop for Raw {
    fn drop(&mut self) {
        if let Some(saved) = &self.0 {
            let _ = termios::tcsetattr(std::io::stdin(), SetArg::TCSANOW, saved);
        }
    }
}

/// How an attached console ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The user pressed the detach key.
    Detached,
    /// The console ended (the BMC closed it, or the user's input ended).
    Closed,
}

/// Joins standard input and output to `node`'s `console` until the detach key or its end, then
/// closes it on the BMC. The terminal is put back as it was whatever happens; what happened is
/// said on standard error.
pub async fn attach(node: &str, mut console: Box<dyn Console>) -> std::io::Result<Ended> {
    eprintln!("{node}: serial console attached; detach with Ctrl-]");
    let raw = Raw::enter()?;
    let (mut stdin, mut stdout) = (tokio::io::stdin(), tokio::io::stdout());
    let (mut from_server, mut from_user) = ([0u8; 4096], [0u8; 1024]);
    let ended = loop {
        tokio::select! {
            n = console.read(&mut from_server) => match n {
                Ok(0) | Err(_) => break Ended::Closed,
                Ok(n) => {
                    stdout.write_all(&from_server[..n]).await?;
                    stdout.flush().await?;
                }
            },
            n = stdin.read(&mut from_user) => match n {
                Ok(0) | Err(_) => break Ended::Closed,
                Ok(n) => {
                    let typed = &from_user[..n];
                    match typed.iter().position(|b| *b == DETACH) {
                        Some(at) => {
                            if at > 0 {
                                console.write(&typed[..at]).await?;
                            }
                            break Ended::Detached;
                        }
                        None => console.write(typed).await?,
                    }
                }
            },
        }
    };
    console.close().await;
    drop(raw);
    match ended {
        Ended::Detached => eprintln!("\n{node}: detached"),
        Ended::Closed => eprintln!("\n{node}: the console ended"),
    }
    Ok(ended)
}

/// Waits for Ctrl-C or SIGTERM (what stops `bmplan lab`).
pub async fn wait_for_signal() -> anyhow::Result<()> {
    use anyhow::Context;
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.context("waiting for Ctrl-C")?,
        _ = term.recv() => {}
    }
    Ok(())
}
