//! A node's serial console kept with the host's record while a deployment or a clean runs: the
//! firmware, the deploy agent's kernel and the deployed system's boot, as the BMC's console shows
//! them (IPMI serial-over-LAN), in the host's log under the source `serial`.
//!
//! Bounded: lines are cut at [`LINE_BOUND`] bytes, at most [`PENDING_BOUND`] wait between two
//! writes to the inventory (older ones are dropped and counted), and the host's log keeps its own
//! newest lines only. Terminal escapes and control characters are removed. The deploy agent's
//! session URL, which its kernel prints in its command line, is masked.

use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::bmc::Bmc;
use crate::inventory::Inventory;

/// The longest line kept; longer ones are cut.
pub const LINE_BOUND: usize = 2000;
/// Lines held between two writes to the inventory.
pub const PENDING_BOUND: usize = 5000;
/// How often what was read goes to the inventory.
const FLUSH_EVERY: Duration = Duration::from_secs(2);
/// The log's source name for these lines.
pub const SOURCE: &str = "serial";

/// Splits a console's bytes into clean lines.
#[derive(Default)]
pub struct Lines {
    partial: Vec<u8>,
    /// Inside an escape sequence: 1 after ESC, 2 inside `ESC [`.
    escape: u8,
}

impl Lines {
    /// Takes bytes; returns the lines they completed (empty lines left out).
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<String> {
        let mut out = Vec::new();
        for &b in bytes {
            match (self.escape, b) {
                (0, 0x1b) => self.escape = 1,
                (1, b'[') => self.escape = 2,
                // A two-byte escape (ESC c, ESC 7…), or the final byte of a CSI sequence.
                (1, _) => self.escape = 0,
                (2, 0x40..=0x7e) => self.escape = 0,
                (2, _) => {}
                (_, b'\n') => out.extend(self.finish()),
                (_, b'\t') => self.partial.push(b' '),
                (_, c) if c < 0x20 || c == 0x7f => {}
                (_, c) => {
                    if self.partial.len() < LINE_BOUND {
                        self.partial.push(c);
                    }
                }
            }
        }
        out
    }

    /// The line in progress, if any (at the end of the console).
    pub fn finish(&mut self) -> Option<String> {
        let bytes = std::mem::take(&mut self.partial);
        let text = String::from_utf8_lossy(&bytes);
        let line = text.trim_end();
        (!line.trim().is_empty()).then(|| mask(line))
    }
}

/// The agent's session URL masked: `bm.url=…`.
fn mask(line: &str) -> String {
    let Some(i) = line.find("bm.url=") else {
        return line.to_string();
    };
    let start = i + "bm.url=".len();
    let end = line[start..]
        .find(char::is_whitespace)
        .map(|e| start + e)
        .unwrap_or(line.len());
    format!("{}…{}", &line[..start], &line[end..])
}

/// A console being recorded into a host's log.
pub struct Recorder {
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Recorder {
    /// Attaches to the node's console when its BMC offers one, and keeps what it prints with the
    /// host (`project`/`host`, at `generation`). A BMC without a console is said once in the log.
    pub async fn start(
        inv: &Inventory,
        bmc: &dyn Bmc,
        sys: &str,
        (project, host, generation): (&str, &str, u32),
    ) -> Option<Recorder> {
        let (project, host) = (project.to_string(), host.to_string());
        let inv = inv.clone();
        let mut console = match bmc.console(sys).await {
            Ok(c) => c,
            Err(e) => {
                let line = format!("the serial console is not recorded: {e}");
                let _ = inv
                    .append_host_log(&project, &host, generation, "engine", &[line])
                    .await;
                return None;
            }
        };
        let (stop, mut stopped) = oneshot::channel();
        let task = tokio::spawn(async move {
            let mut lines = Lines::default();
            let mut pending: Vec<String> = Vec::new();
            let mut dropped = 0u64;
            let mut buf = vec![0u8; 8192];
            let mut tick = tokio::time::interval(FLUSH_EVERY);
            let flush = |pending: &mut Vec<String>, dropped: &mut u64| {
                let mut out = std::mem::take(pending);
                if *dropped > 0 {
                    out.insert(
                        0,
                        format!("({dropped} serial lines were dropped: too many at once)"),
                    );
                    *dropped = 0;
                }
                out
            };
            loop {
                tokio::select! {
                    _ = &mut stopped => break,
                    _ = tick.tick() => {
                        let out = flush(&mut pending, &mut dropped);
                        let _ = inv.append_host_log(&project, &host, generation, SOURCE, &out).await;
                    }
                    n = console.read(&mut buf) => match n {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            pending.extend(lines.feed(&buf[..n]));
                            if pending.len() > PENDING_BOUND {
                                let cut = pending.len() - PENDING_BOUND;
                                pending.drain(..cut);
                                dropped += cut as u64;
                            }
                        }
                    },
                }
            }
            pending.extend(lines.finish());
            let out = flush(&mut pending, &mut dropped);
            let _ = inv
                .append_host_log(&project, &host, generation, SOURCE, &out)
                .await;
            console.close().await;
        });
        Some(Recorder {
            stop: Some(stop),
            task,
        })
    }

    /// Stops recording: the console is closed on the BMC and the last lines kept.
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let _ = tokio::time::timeout(Duration::from_secs(15), &mut self.task).await;
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        // Not stopped (an operation that unwound): the task ends its session on its own.
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_split_cleaned_of_escapes_and_the_agent_url_masked() {
        let mut l = Lines::default();
        assert!(l
            .feed(b"\x1b[2J\x1b[1;1HSeaBIOS (version 1.16)\r")
            .is_empty());
        assert_eq!(
            l.feed(b"\n\r\n"),
            vec!["SeaBIOS (version 1.16)".to_string()]
        );
        let got = l.feed(
            b"[    0.000000] Command line: console=ttyS0 bm.url=http://10.0.0.1:8081/agent/0123abcd panic=10\r\nlogin:\x07 \tx",
        );
        assert_eq!(
            got,
            vec!["[    0.000000] Command line: console=ttyS0 bm.url=… panic=10".to_string()]
        );
        assert_eq!(l.finish().as_deref(), Some("login:  x"));
        assert_eq!(l.finish(), None);
    }

    #[test]
    fn a_line_without_end_is_cut_at_the_bound() {
        let mut l = Lines::default();
        assert!(l.feed(&vec![b'a'; LINE_BOUND * 3]).is_empty());
        let line = l.feed(b"\n").remove(0);
        assert_eq!(line.len(), LINE_BOUND);
    }

    #[test]
    fn escape_sequences_split_across_reads_are_still_removed() {
        let mut l = Lines::default();
        l.feed(b"ok \x1b[");
        l.feed(b"0;3");
        assert_eq!(l.feed(b"2mgreen\n"), vec!["ok green".to_string()]);
    }
}
