//! The SSH front of a simulated switch: password login, a PTY shell with echo and line editing,
//! `--More--` paging, and the IOS-style CLI behind it. Like many real switch OSes (and the
//! fake-switches peer) it offers no exec channel: clients must drive the interactive shell.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use russh::keys::PrivateKey;
use russh::server::{Auth, Msg, Session};
use russh::{Channel, ChannelId};
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::cli::Cli;
use super::SwitchState;

/// Login details of one simulated switch.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub username: String,
    pub password: String,
    pub enable_password: String,
}

/// A deterministic Ed25519 host key for a switch, so a lab rebuilt from the same seed keeps its keys.
pub fn host_key(seed: u64, name: &str) -> PrivateKey {
    let digest = Sha256::digest(format!("lab-switch-host-key:{seed}:{name}"));
    let mut bytes = [0u8; 32];
    bytes.copy_from_slice(&digest);
    let pair = russh::keys::ssh_key::private::Ed25519Keypair::from_seed(&bytes);
    PrivateKey::from(pair)
}

/// Serves SSH sessions for one switch until `shutdown` fires.
pub async fn serve(
    listener: TcpListener,
    state: Arc<Mutex<SwitchState>>,
    creds: Credentials,
    key: PrivateKey,
    shutdown: watch::Receiver<bool>,
) {
    let config = Arc::new(russh::server::Config {
        inactivity_timeout: Some(Duration::from_secs(600)),
        auth_rejection_time: Duration::from_millis(200),
        auth_rejection_time_initial: Some(Duration::from_millis(0)),
        keys: vec![key],
        ..Default::default()
    });
    crate::server::accept_loop(listener, shutdown, |stream| {
        let handler = Handler::new(state.clone(), creds.clone());
        let config = config.clone();
        tokio::spawn(async move {
            if let Ok(running) = russh::server::run_stream(config, stream, handler).await {
                let _ = running.await;
            }
        });
    })
    .await;
}

struct Handler {
    state: Arc<Mutex<SwitchState>>,
    creds: Credentials,
    cli: Cli,
    line: String,
    /// Lines held back behind a `--More--` prompt.
    more: VecDeque<String>,
    last_cr: bool,
}

impl Handler {
    fn new(state: Arc<Mutex<SwitchState>>, creds: Credentials) -> Handler {
        let cli = Cli::new(&creds.enable_password);
        Handler {
            state,
            creds,
            cli,
            line: String::new(),
            more: VecDeque::new(),
            last_cr: false,
        }
    }

    fn hostname(&self) -> String {
        self.state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .hostname
            .clone()
    }

    /// Sends output lines, pausing at `--More--` when paging is on.
    fn emit(&mut self, lines: Vec<String>, out: &mut String) {
        self.more = lines.into();
        self.page(out, None);
    }

    fn page(&mut self, out: &mut String, limit: Option<usize>) {
        let page = match (limit, self.cli.term_length) {
            (Some(n), _) => n,
            (None, 0) => usize::MAX,
            (None, n) => n.saturating_sub(1).max(1),
        };
        let mut sent = 0;
        while sent < page {
            let Some(l) = self.more.pop_front() else {
                break;
            };
            out.push_str(&l);
            out.push_str("\r\n");
            sent += 1;
        }
        if self.more.is_empty() {
            out.push_str(&self.cli.prompt(&self.hostname()));
        } else {
            out.push_str(" --More-- ");
        }
    }

    /// Handles one complete line; `Err` drops the session.
    fn run_line(&mut self, out: &mut String) -> Result<bool, russh::Error> {
        let line = std::mem::take(&mut self.line);
        let outcome = {
            let mut sw = self.state.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(n) = sw.faults.drop_after {
                if n == 0 {
                    sw.faults.drop_after = None;
                    return Err(russh::Error::Disconnect);
                }
                sw.faults.drop_after = Some(n - 1);
            }
            self.cli.input(&mut sw, &line)
        };
        if outcome.close {
            return Ok(true);
        }
        let lines: Vec<String> = if outcome.output.is_empty() {
            Vec::new()
        } else {
            outcome
                .output
                .trim_end_matches('\n')
                .split('\n')
                .map(String::from)
                .collect()
        };
        self.emit(lines, out);
        Ok(false)
    }
}

impl russh::server::Handler for Handler {
    type Error = russh::Error;

    async fn auth_password(&mut self, user: &str, password: &str) -> Result<Auth, Self::Error> {
        if user == self.creds.username && password == self.creds.password {
            Ok(Auth::Accept)
        } else {
            Ok(Auth::reject())
        }
    }

    async fn channel_open_session(
        &mut self,
        _channel: Channel<Msg>,
        reply: russh::server::ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        reply.accept().await;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    async fn pty_request(
        &mut self,
        channel: ChannelId,
        _term: &str,
        _col_width: u32,
        _row_height: u32,
        _pix_width: u32,
        _pix_height: u32,
        _modes: &[(russh::Pty, u32)],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_success(channel)
    }

    async fn shell_request(
        &mut self,
        channel: ChannelId,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_success(channel)?;
        let banner = format!(
            "\r\n{} - authorised access only\r\n\r\n{}",
            self.hostname(),
            self.cli.prompt(&self.hostname())
        );
        session.data(channel, banner.into_bytes())
    }

    async fn exec_request(
        &mut self,
        channel: ChannelId,
        _data: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_failure(channel)
    }

    async fn data(
        &mut self,
        channel: ChannelId,
        data: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        let mut out = String::new();
        for &b in data {
            if !self.more.is_empty() {
                // At a --More-- prompt: space shows a page, Enter a line, anything else stops.
                out.push_str("\r          \r");
                match b {
                    b' ' => self.page(&mut out, None),
                    b'\r' | b'\n' => self.page(&mut out, Some(1)),
                    _ => {
                        self.more.clear();
                        out.push_str(&self.cli.prompt(&self.hostname()));
                    }
                }
                self.last_cr = b == b'\r';
                continue;
            }
            match b {
                b'\n' | 0 if self.last_cr => {
                    self.last_cr = false;
                }
                b'\r' | b'\n' => {
                    self.last_cr = b == b'\r';
                    out.push_str("\r\n");
                    match self.run_line(&mut out) {
                        Ok(false) => {}
                        Ok(true) => {
                            session.data(channel, out.into_bytes())?;
                            session.eof(channel)?;
                            session.close(channel)?;
                            return Ok(());
                        }
                        Err(e) => return Err(e),
                    }
                }
                0x7f | 0x08 => {
                    self.last_cr = false;
                    if self.line.pop().is_some() && self.cli.echo() {
                        out.push_str("\x08 \x08");
                    }
                }
                0x03 => {
                    self.last_cr = false;
                    self.line.clear();
                    out.push_str("^C\r\n");
                    out.push_str(&self.cli.prompt(&self.hostname()));
                }
                b if b >= 0x20 => {
                    self.last_cr = false;
                    self.line.push(b as char);
                    if self.cli.echo() {
                        out.push(b as char);
                    }
                }
                _ => self.last_cr = false,
            }
        }
        if !out.is_empty() {
            session.data(channel, out.into_bytes())?;
        }
        Ok(())
    }
}
