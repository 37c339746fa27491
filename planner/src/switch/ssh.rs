//! An interactive SSH shell on a network OS: password login, a PTY, prompt detection, `--More--`
//! paging, and a timeout on every wait. Switch CLIs offer no exec channel, so every command goes
//! through this shell.

use std::sync::Arc;
use std::time::Duration;

use russh::client::{self, Handle, Msg};
use russh::keys::PublicKeyOrCertificate;
use russh::{Channel, ChannelMsg};

use super::{SwitchEndpoint, SwitchError};

/// Accepts the switch's host key. Switches regenerate keys on reinstall and labs on every start;
/// pinning host keys is a named gap (see docs/guides/switches.md).
pub struct AcceptHostKey;

impl client::Handler for AcceptHostKey {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        _key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        Ok(true)
    }
}

/// Whether the text's last line is a CLI prompt (`tor1>`, `tor1(config-if)#`) or a question the CLI
/// asks (`Password:`, `Destination filename [startup-config]?`).
pub fn ends_with_prompt(buf: &str) -> bool {
    let last = buf.rsplit('\n').next().unwrap_or("").trim_end();
    let cli = (last.ends_with('#') || last.ends_with('>'))
        && !last.is_empty()
        && last.len() < 80
        && !last.contains(' ');
    cli || last.ends_with("Password:") || last.ends_with("]?")
}

/// Connects, logs in with the endpoint's password, and opens a session channel.
pub async fn connect(
    ep: &SwitchEndpoint,
) -> Result<(Handle<AcceptHostKey>, Channel<Msg>), SwitchError> {
    let switch = ep.address.clone();
    let config = Arc::new(client::Config {
        inactivity_timeout: Some(ep.timeout * 4),
        ..Default::default()
    });
    let connect = client::connect(config, ep.address.clone(), AcceptHostKey);
    let mut session = tokio::time::timeout(ep.timeout, connect)
        .await
        .map_err(|_| SwitchError::Connect {
            switch: switch.clone(),
            detail: format!("no SSH handshake within {}s", ep.timeout.as_secs()),
        })?
        .map_err(|e| SwitchError::Connect {
            switch: switch.clone(),
            detail: e.to_string(),
        })?;
    let auth = session
        .authenticate_password(ep.username.clone(), ep.password.expose())
        .await
        .map_err(|e| SwitchError::Connect {
            switch: switch.clone(),
            detail: e.to_string(),
        })?;
    if !auth.success() {
        return Err(SwitchError::Login {
            switch,
            username: ep.username.clone(),
        });
    }
    let channel = session
        .channel_open_session()
        .await
        .map_err(|e| SwitchError::Connect {
            switch,
            detail: e.to_string(),
        })?;
    Ok((session, channel))
}

pub struct Shell {
    _session: Handle<AcceptHostKey>,
    channel: Channel<Msg>,
    switch: String,
    timeout: Duration,
}

impl Shell {
    pub async fn open(ep: &SwitchEndpoint) -> Result<(Shell, String), SwitchError> {
        let switch = ep.address.clone();
        let (session, channel) = connect(ep).await?;
        channel
            .request_pty(false, "vt100", 250, 1000, 0, 0, &[])
            .await
            .map_err(|e| SwitchError::Connect {
                switch: switch.clone(),
                detail: e.to_string(),
            })?;
        channel
            .request_shell(false)
            .await
            .map_err(|e| SwitchError::Connect {
                switch: switch.clone(),
                detail: e.to_string(),
            })?;
        let mut shell = Shell {
            _session: session,
            channel,
            switch,
            timeout: ep.timeout,
        };
        let banner = shell.read_until_prompt("login").await?;
        Ok((shell, banner))
    }

    /// Reads until a prompt, answering `--More--` with a space. Returns the text with `\r` removed.
    pub async fn read_until_prompt(&mut self, command: &str) -> Result<String, SwitchError> {
        let mut buf = String::new();
        loop {
            let msg = tokio::time::timeout(self.timeout, self.channel.wait())
                .await
                .map_err(|_| SwitchError::Timeout {
                    switch: self.switch.clone(),
                    command: command.to_string(),
                    after: self.timeout,
                })?;
            match msg {
                Some(ChannelMsg::Data { data }) => {
                    buf.push_str(&String::from_utf8_lossy(&data).replace('\r', ""));
                    if buf.trim_end().ends_with("--More--") {
                        let cut = buf.trim_end().len() - "--More--".len();
                        buf.truncate(cut);
                        self.channel
                            .data_bytes(&b" "[..])
                            .await
                            .map_err(|_| self.dropped(command))?;
                        continue;
                    }
                    if ends_with_prompt(&buf) {
                        return Ok(buf);
                    }
                }
                Some(ChannelMsg::Eof | ChannelMsg::Close) | None => {
                    return Err(self.dropped(command))
                }
                Some(_) => {}
            }
        }
    }

    fn dropped(&self, command: &str) -> SwitchError {
        SwitchError::Dropped {
            switch: self.switch.clone(),
            command: command.to_string(),
        }
    }

    /// Sends one line and returns what the switch printed before the next prompt, without the echo
    /// and the prompt.
    pub async fn run(&mut self, line: &str) -> Result<String, SwitchError> {
        self.channel
            .data_bytes(format!("{line}\n").into_bytes())
            .await
            .map_err(|_| self.dropped(line))?;
        let out = self.read_until_prompt(line).await?;
        let mut lines: Vec<&str> = out.split('\n').collect();
        lines.pop(); // the prompt
        if lines.first().is_some_and(|l| l.trim() == line.trim()) {
            lines.remove(0);
        }
        Ok(lines.join("\n"))
    }

    /// Sends a secret (a password at a `Password:` prompt); it is never echoed or logged.
    pub async fn run_secret(&mut self, secret: &str, what: &str) -> Result<String, SwitchError> {
        self.channel
            .data_bytes(format!("{secret}\n").into_bytes())
            .await
            .map_err(|_| self.dropped(what))?;
        self.read_until_prompt(what).await
    }

    pub async fn close(self) {
        let _ = self.channel.eof().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompts_are_recognised_and_output_lines_are_not() {
        assert!(ends_with_prompt("banner\ntor1>"));
        assert!(ends_with_prompt("x\ntor1(config-if)#"));
        assert!(ends_with_prompt("Password: "));
        assert!(ends_with_prompt("Destination filename [startup-config]? "));
        assert!(!ends_with_prompt("VLAN Name Status Ports\n---- #"));
        assert!(!ends_with_prompt("Building configuration..."));
    }
}
