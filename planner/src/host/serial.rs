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

use crate::bmc::{Bmc, Console};
use crate::inventory::Inventory;

/// The longest line kept; longer ones are cut.
pub const LINE_BOUND: usize = 2000;
/// Lines held between two writes to the inventory (under the host log's own bound, so the count
/// of dropped lines written with them is kept too).
pub const PENDING_BOUND: usize = 2000;
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
        match bmc.console(sys).await {
            Ok(c) => Some(Recorder::record(inv, c, (project, host, generation))),
            Err(e) => {
                let line = format!("the serial console is not recorded: {e}");
                let _ = inv
                    .append_host_log(project, host, generation, "engine", &[line])
                    .await;
                None
            }
        }
    }

    /// Keeps what `console` prints with the host until stopped or the console ends.
    pub fn record(
        inv: &Inventory,
        mut console: Box<dyn Console>,
        (project, host, generation): (&str, &str, u32),
    ) -> Recorder {
        let (project, host) = (project.to_string(), host.to_string());
        let inv = inv.clone();
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
        Recorder {
            stop: Some(stop),
            task,
        }
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
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    /// A console that prints `lines` at once, then nothing until closed (or ends, with `ends`).
    struct Printer {
        out: Vec<u8>,
        ends: bool,
        /// Set once everything was read.
        drained: Arc<AtomicBool>,
        closed: Arc<AtomicBool>,
    }

    impl Printer {
        fn new(out: &[u8], ends: bool) -> (Box<Printer>, Arc<AtomicBool>, Arc<AtomicBool>) {
            let (drained, closed) = (Arc::default(), Arc::default());
            let p = Printer {
                out: out.to_vec(),
                ends,
                drained: Arc::clone(&drained),
                closed: Arc::clone(&closed),
            };
            (Box::new(p), drained, closed)
        }
    }

    /// Waits (30 s at most: a loaded machine is slow, never wrong) until `flag` is set.
    async fn until(flag: &AtomicBool) {
        for _ in 0..3000 {
            if flag.load(Ordering::SeqCst) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[async_trait::async_trait]
    impl Console for Printer {
        async fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.out.is_empty() {
                self.drained.store(true, Ordering::SeqCst);
                if self.ends {
                    return Ok(0);
                }
                std::future::pending::<()>().await;
            }
            let n = buf.len().min(self.out.len());
            buf[..n].copy_from_slice(&self.out[..n]);
            self.out.drain(..n);
            Ok(n)
        }
        async fn write(&mut self, _: &[u8]) -> std::io::Result<()> {
            Ok(())
        }
        async fn close(self: Box<Self>) {
            self.closed.store(true, Ordering::SeqCst);
        }
    }

    async fn inventory(dir: &std::path::Path) -> Inventory {
        let url = format!("sqlite://{}", dir.join("inv.db").display());
        Inventory::open(&url, crate::project::Actor::admin("t"), None)
            .await
            .unwrap()
    }

    async fn serial_lines(inv: &Inventory) -> Vec<String> {
        inv.host_log("lab", "web-1", 10_000)
            .await
            .unwrap()
            .into_iter()
            .filter(|l| l.source == SOURCE)
            .map(|l| l.line)
            .collect()
    }

    #[tokio::test]
    async fn a_flood_of_lines_is_bounded_and_the_drop_counted() {
        let dir = tempfile::tempdir().unwrap();
        let inv = inventory(dir.path()).await;
        let out: String = (0..12_000).map(|i| format!("line {i}\r\n")).collect();
        let (console, _, closed) = Printer::new(out.as_bytes(), true);
        let r = Recorder::record(&inv, console, ("lab", "web-1", 1));
        // The console ends on its own once printed, and is closed then.
        until(&closed).await;
        r.stop().await;
        let lines = serial_lines(&inv).await;
        assert!(closed.load(Ordering::SeqCst), "the console was closed");
        assert_eq!(
            lines.len(),
            PENDING_BOUND + 1,
            "{:?}",
            lines.iter().take(3).collect::<Vec<_>>()
        );
        assert_eq!(
            lines[0],
            format!(
                "({} serial lines were dropped: too many at once)",
                12_000 - PENDING_BOUND
            )
        );
        assert_eq!(lines[1], format!("line {}", 12_000 - PENDING_BOUND));
        assert_eq!(lines.last().map(String::as_str), Some("line 11999"));
    }

    #[tokio::test]
    async fn stopping_closes_a_console_that_never_ends_and_keeps_what_it_printed() {
        let dir = tempfile::tempdir().unwrap();
        let inv = inventory(dir.path()).await;
        let (console, drained, closed) = Printer::new(
            b"SeaBIOS\r\nbm-agent: starting bm.url=http://e/agent/0123abcd\r\npartial",
            false,
        );
        let r = Recorder::record(&inv, console, ("lab", "web-1", 1));
        until(&drained).await;
        r.stop().await;
        assert!(closed.load(Ordering::SeqCst), "the console was closed");
        assert_eq!(
            serial_lines(&inv).await,
            ["SeaBIOS", "bm-agent: starting bm.url=…", "partial"]
        );
    }

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
