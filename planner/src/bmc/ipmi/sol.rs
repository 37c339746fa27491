//! IPMI serial-over-LAN: `ipmitool sol activate` run in a pseudo-terminal of its own (ipmitool
//! puts its standard input in raw mode, so it needs a terminal), whose other end is the console.

use std::os::fd::OwnedFd;
use std::process::Stdio;
use std::time::Duration;

use async_trait::async_trait;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::IpmiBmc;
use crate::bmc::{BmcError, Console};

/// An active serial-over-LAN session.
pub struct Sol {
    bmc: IpmiBmc,
    child: tokio::process::Child,
    /// The terminal's controlling side, twice: what ipmitool prints is read from one, keystrokes
    /// written to the other (one tokio file runs one operation at a time, and a read waits for
    /// the server to print).
    from_tool: tokio::fs::File,
    to_tool: tokio::fs::File,
    /// Whether the last keystroke sent ended a line (or none was sent): ipmitool's escape
    /// (`~.`) counts only at the start of a line.
    at_line_start: bool,
}

/// A new pseudo-terminal: (controlling side, the terminal ipmitool gets), in raw mode from the
/// start: ipmitool makes it raw only after it announced the session, and keystrokes sent in
/// between would otherwise be cooked (a carriage return made a newline).
fn pty() -> std::io::Result<(OwnedFd, OwnedFd)> {
    use nix::sys::termios;
    let p = nix::pty::openpty(None, None)?;
    let mut raw = termios::tcgetattr(&p.slave)?;
    termios::cfmakeraw(&mut raw);
    termios::tcsetattr(&p.slave, termios::SetArg::TCSANOW, &raw)?;
    Ok((p.master, p.slave))
}

impl Sol {
    pub fn activate(bmc: IpmiBmc) -> Result<Sol, BmcError> {
        let op = "attach to the serial console";
        let fail = |e: std::io::Error| BmcError::Unreachable {
            bmc: bmc.bmc(),
            operation: op.into(),
            detail: format!("could not open a terminal for ipmitool: {e}"),
        };
        let (master, slave) = pty().map_err(fail)?;
        let (out, err) = (
            slave.try_clone().map_err(fail)?,
            slave.try_clone().map_err(fail)?,
        );
        let mut cmd = bmc.command(&[], &["sol", "activate"]);
        cmd.stdin(Stdio::from(slave))
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err));
        let child = cmd.spawn().map_err(|e| bmc.spawn_error(op, e))?;
        // The terminal's other side stays with the child only, so its exit ends our reads.
        drop(cmd);
        let writer = master.try_clone().map_err(fail)?;
        Ok(Sol {
            bmc,
            child,
            from_tool: tokio::fs::File::from_std(std::fs::File::from(master)),
            to_tool: tokio::fs::File::from_std(std::fs::File::from(writer)),
            at_line_start: true,
        })
    }
}

#[async_trait]
impl Console for Sol {
    async fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self.from_tool.read(buf).await {
            // A terminal whose other side has closed (ipmitool ended) reads as EIO.
            Err(e) if e.raw_os_error() == Some(nix::libc::EIO) => Ok(0),
            other => other,
        }
    }

    async fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.to_tool.write_all(bytes).await?;
        if let Some(last) = bytes.last() {
            self.at_line_start = matches!(last, b'\r' | b'\n');
        }
        self.to_tool.flush().await
    }

    /// ipmitool's own escape ends the session cleanly (it deactivates the payload on the BMC; a
    /// BMC whose client was killed may keep ignoring the next session's keystrokes, as
    /// OpenIPMI's simulator does). Mid-line, a carriage return goes first: the escape counts only
    /// at the start of a line. If ipmitool does not end within 3 s, it is killed and the session
    /// deactivated.
    async fn close(mut self: Box<Self>) {
        let escape: &[u8] = if self.at_line_start { b"~." } else { b"\r~." };
        let _ = self.to_tool.write_all(escape).await;
        let _ = self.to_tool.flush().await;
        let ended = tokio::time::timeout(Duration::from_secs(3), self.child.wait()).await;
        if !matches!(ended, Ok(Ok(_))) {
            let _ = self.child.start_kill();
            let _ = self.child.wait().await;
            let _ = self
                .bmc
                .run("end the serial-over-LAN session", &["sol", "deactivate"])
                .await;
        }
    }
}
