//! A Cisco IOS-style command interpreter over [`SwitchState`]: modes and prompts, keyword
//! abbreviations, `show` output in IOS's layout, and IOS's error messages (the caret under the bad
//! word, `% Incomplete command.`, `Command rejected: …`). It is pure: a line in, text out.

use std::collections::BTreeSet;

use super::{
    parse_vlan_list, short_name, sort_key, vlan_list, ChannelMode, PortMode, SwitchState,
    RESERVED_VLANS,
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    User,
    Enable,
    Config,
    ConfigVlan(Vec<u16>),
    ConfigIf(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Awaiting {
    EnablePassword,
    CopyDestination,
}

/// One CLI session's state.
#[derive(Debug, Clone)]
pub struct Cli {
    pub mode: Mode,
    /// Lines per page; 0 turns paging off (`terminal length 0`).
    pub term_length: usize,
    enable_password: String,
    awaiting: Option<Awaiting>,
}

/// What one input line produced.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Text to print before the next prompt, `\n`-separated; may be empty.
    pub output: String,
    /// The session ends (the user left exec mode).
    pub close: bool,
}

enum Failure {
    /// The word at this byte offset of the line is wrong.
    Invalid(usize),
    Incomplete,
    /// A message printed as is.
    Message(String),
}

type Res = Result<String, Failure>;

struct Words<'a> {
    line: &'a str,
    toks: Vec<(usize, &'a str)>,
    i: usize,
}

impl<'a> Words<'a> {
    fn new(line: &'a str) -> Words<'a> {
        let mut toks = Vec::new();
        let mut start = None;
        for (i, c) in line.char_indices() {
            match (c.is_whitespace(), start) {
                (true, Some(s)) => {
                    toks.push((s, &line[s..i]));
                    start = None;
                }
                (false, None) => start = Some(i),
                _ => {}
            }
        }
        if let Some(s) = start {
            toks.push((s, &line[s..]));
        }
        Words { line, toks, i: 0 }
    }

    /// Consumes the next word if it abbreviates `word` with at least `min` letters.
    fn kw(&mut self, word: &str, min: usize) -> bool {
        match self.toks.get(self.i) {
            Some((_, t))
                if t.len() >= min.min(word.len()) && word.starts_with(&t.to_ascii_lowercase()) =>
            {
                self.i += 1;
                true
            }
            _ => false,
        }
    }

    fn next(&mut self) -> Option<&'a str> {
        let t = self.toks.get(self.i).map(|t| t.1);
        if t.is_some() {
            self.i += 1;
        }
        t
    }

    fn done(&self) -> bool {
        self.i >= self.toks.len()
    }

    /// Offset of the current word (or the end of the line): where the caret goes.
    fn pos(&self) -> usize {
        self.toks
            .get(self.i)
            .map(|t| t.0)
            .unwrap_or(self.line.trim_end().len())
    }

    /// The rest of the line from the current word, as typed.
    fn rest(&self) -> &'a str {
        match self.toks.get(self.i) {
            Some((p, _)) => self.line[*p..].trim_end(),
            None => "",
        }
    }

    fn invalid(&self) -> Failure {
        Failure::Invalid(self.pos())
    }

    /// What is wrong when an expected word is not there: the line ended early, or the word is wrong.
    fn missing(&self) -> Failure {
        if self.done() {
            Failure::Incomplete
        } else {
            self.invalid()
        }
    }

    /// Consumes a required keyword, or fails the IOS way.
    fn expect(&mut self, word: &str, min: usize) -> Result<(), Failure> {
        if self.kw(word, min) {
            Ok(())
        } else {
            Err(self.missing())
        }
    }

    fn end(&self, out: String) -> Res {
        if self.done() {
            Ok(out)
        } else {
            Err(self.invalid())
        }
    }

    fn number<T: std::str::FromStr>(&mut self) -> Result<T, Failure> {
        match self.toks.get(self.i) {
            None => Err(Failure::Incomplete),
            Some((p, t)) => match t.parse() {
                Ok(n) => {
                    self.i += 1;
                    Ok(n)
                }
                Err(_) => Err(Failure::Invalid(*p)),
            },
        }
    }
}

/// Expands an interface name as IOS accepts it: `Gi0/1`, `gi 0/1`, `GigabitEthernet0/1`, `Po1`,
/// `port-channel 1`. Returns the canonical name and how many words it used.
fn interface_name(words: &[&str]) -> Option<(String, usize)> {
    let first = words.first()?.to_ascii_lowercase();
    let split = first
        .find(|c: char| c.is_ascii_digit())
        .unwrap_or(first.len());
    let (kind, mut num) = (first[..split].to_string(), first[split..].to_string());
    let mut used = 1;
    if num.is_empty() {
        num = words.get(1)?.to_string();
        used = 2;
    }
    if !num.chars().all(|c| c.is_ascii_digit() || c == '/') || num.is_empty() {
        return None;
    }
    let canonical = if !kind.is_empty() && "gigabitethernet".starts_with(&kind) {
        format!("GigabitEthernet{num}")
    } else if kind.len() >= 2 && "port-channel".starts_with(&kind) {
        format!("Port-channel{num}")
    } else {
        return None;
    };
    Some((canonical, used))
}

impl Cli {
    pub fn new(enable_password: &str) -> Cli {
        Cli {
            mode: Mode::User,
            term_length: 24,
            enable_password: enable_password.to_string(),
            awaiting: None,
        }
    }

    pub fn prompt(&self, hostname: &str) -> String {
        match self.awaiting {
            Some(Awaiting::EnablePassword) => return "Password: ".into(),
            Some(Awaiting::CopyDestination) => {
                return "Destination filename [startup-config]? ".into()
            }
            None => {}
        }
        match &self.mode {
            Mode::User => format!("{hostname}>"),
            Mode::Enable => format!("{hostname}#"),
            Mode::Config => format!("{hostname}(config)#"),
            Mode::ConfigVlan(_) => format!("{hostname}(config-vlan)#"),
            Mode::ConfigIf(_) => format!("{hostname}(config-if)#"),
        }
    }

    /// Whether typed characters should be echoed (not while a password is typed).
    pub fn echo(&self) -> bool {
        self.awaiting != Some(Awaiting::EnablePassword)
    }

    /// Runs one input line.
    pub fn input(&mut self, sw: &mut SwitchState, line: &str) -> Outcome {
        let prompt_len = self.prompt(&sw.hostname).len();
        if let Some(wait) = self.awaiting.take() {
            return match wait {
                Awaiting::EnablePassword if line == self.enable_password => {
                    self.mode = Mode::Enable;
                    Outcome::default()
                }
                Awaiting::EnablePassword => Outcome {
                    output: "% Access denied".into(),
                    close: false,
                },
                Awaiting::CopyDestination
                    if line.trim().is_empty() || line.trim() == "startup-config" =>
                {
                    sw.saved_generation = sw.generation;
                    Outcome {
                        output: "Building configuration...\n[OK]".into(),
                        close: false,
                    }
                }
                Awaiting::CopyDestination => Outcome {
                    output: format!("%Error opening {} (Permission denied)", line.trim()),
                    close: false,
                },
            };
        }
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('!') {
            return Outcome::default();
        }
        let configuring = matches!(
            self.mode,
            Mode::Config | Mode::ConfigVlan(_) | Mode::ConfigIf(_)
        );
        if configuring {
            if let Some(pattern) = sw.faults.reject.clone() {
                if !pattern.is_empty() && trimmed.contains(&pattern) {
                    return Outcome {
                        output: format!("Command rejected: {trimmed} is not allowed on this switch (lab fault injection)."),
                        close: false,
                    };
                }
            }
        }
        let mut w = Words::new(line);
        let generation = sw.generation;
        let result = self.dispatch(sw, &mut w);
        match result {
            Ok(out) => {
                if configuring && sw.generation != generation {
                    sw.log.push(trimmed.to_string());
                }
                let close = out == "\u{4}";
                Outcome {
                    output: if close { String::new() } else { out },
                    close,
                }
            }
            Err(Failure::Invalid(pos)) => Outcome {
                output: format!(
                    "{}^\n% Invalid input detected at '^' marker.",
                    " ".repeat(prompt_len + pos)
                ),
                close: false,
            },
            Err(Failure::Incomplete) => Outcome {
                output: "% Incomplete command.".into(),
                close: false,
            },
            Err(Failure::Message(m)) => Outcome {
                output: m,
                close: false,
            },
        }
    }

    fn dispatch(&mut self, sw: &mut SwitchState, w: &mut Words<'_>) -> Res {
        // "do" runs exec commands from configuration modes.
        let in_config = !matches!(self.mode, Mode::User | Mode::Enable);
        if in_config && w.kw("do", 2) {
            return self.exec(sw, w);
        }
        match self.mode.clone() {
            Mode::User | Mode::Enable => self.exec(sw, w),
            Mode::Config => self.config(sw, w),
            Mode::ConfigVlan(ids) => self.config_vlan(sw, w, &ids),
            Mode::ConfigIf(name) => self.config_if(sw, w, &name),
        }
    }

    fn exec(&mut self, sw: &mut SwitchState, w: &mut Words<'_>) -> Res {
        let privileged = self.mode != Mode::User;
        if w.kw("enable", 2) {
            if privileged {
                return w.end(String::new());
            }
            self.awaiting = Some(Awaiting::EnablePassword);
            return w.end(String::new());
        }
        if w.kw("disable", 4) {
            self.mode = Mode::User;
            return w.end(String::new());
        }
        if w.kw("exit", 3) || w.kw("quit", 4) || w.kw("logout", 4) {
            if matches!(self.mode, Mode::User | Mode::Enable) {
                return Ok("\u{4}".into());
            }
            self.mode = Mode::Enable;
            return Ok(String::new());
        }
        if w.kw("terminal", 1) {
            w.expect("length", 3)?;
            let n: usize = w.number()?;
            self.term_length = n;
            return w.end(String::new());
        }
        if w.kw("show", 2) {
            return show(sw, w, privileged);
        }
        if !privileged {
            return Err(w.invalid());
        }
        if w.kw("configure", 4) {
            if !w.done() && !w.kw("terminal", 1) {
                return Err(w.invalid());
            }
            self.mode = Mode::Config;
            return w.end("Enter configuration commands, one per line.  End with CNTL/Z.".into());
        }
        if w.kw("write", 2) {
            if !w.done() && !w.kw("memory", 3) {
                return Err(w.invalid());
            }
            sw.saved_generation = sw.generation;
            return w.end("Building configuration...\n[OK]".into());
        }
        if w.kw("copy", 3) {
            w.expect("running-config", 3)?;
            w.expect("startup-config", 3)?;
            self.awaiting = Some(Awaiting::CopyDestination);
            return w.end(String::new());
        }
        Err(w.invalid())
    }

    fn common_config(&mut self, w: &mut Words<'_>) -> Option<Res> {
        if w.kw("end", 3) {
            self.mode = Mode::Enable;
            return Some(w.end(String::new()));
        }
        if w.kw("exit", 3) {
            self.mode = match self.mode {
                Mode::Config => Mode::Enable,
                _ => Mode::Config,
            };
            return Some(w.end(String::new()));
        }
        None
    }

    fn config(&mut self, sw: &mut SwitchState, w: &mut Words<'_>) -> Res {
        if let Some(r) = self.common_config(w) {
            return r;
        }
        let negate = w.kw("no", 2);
        if w.kw("vlan", 2) {
            let list = w.next().ok_or(Failure::Incomplete)?;
            let ids = parse_vlan_list(list)
                .map_err(|e| Failure::Message(format!("Command rejected: {e}.")))?;
            if !w.done() {
                return Err(w.invalid());
            }
            if negate {
                for id in &ids {
                    if *id == 1 || RESERVED_VLANS.iter().any(|r| r.0 == *id) {
                        return Err(Failure::Message(format!(
                            "%Default VLAN {id} may not be deleted."
                        )));
                    }
                }
                for id in &ids {
                    if sw.vlans.remove(id).is_some() {
                        sw.generation += 1;
                    }
                }
                return Ok(String::new());
            }
            for id in &ids {
                if !sw.vlans.contains_key(id) {
                    sw.vlans.insert(*id, format!("VLAN{id:04}"));
                    sw.generation += 1;
                }
            }
            self.mode = Mode::ConfigVlan(ids.into_iter().collect());
            return Ok(String::new());
        }
        if w.kw("interface", 3) {
            let rest: Vec<&str> = w.rest().split_whitespace().collect();
            let Some((name, used)) = interface_name(&rest) else {
                return Err(if rest.is_empty() {
                    Failure::Incomplete
                } else {
                    w.invalid()
                });
            };
            for _ in 0..used {
                w.next();
            }
            if !w.done() {
                return Err(w.invalid());
            }
            let is_po = name.starts_with("Port-channel");
            if negate {
                if !is_po || !sw.ports.contains_key(&name) {
                    return Err(Failure::Message(format!(
                        "% Interface {name} does not exist or cannot be removed"
                    )));
                }
                sw.ports.remove(&name);
                let n: u32 = name.trim_start_matches("Port-channel").parse().unwrap_or(0);
                for p in sw.ports.values_mut() {
                    if p.channel_group.map(|g| g.0) == Some(n) {
                        p.channel_group = None;
                    }
                }
                sw.generation += 1;
                return Ok(String::new());
            }
            if is_po {
                let n: u32 = name
                    .trim_start_matches("Port-channel")
                    .parse()
                    .map_err(|_| w.invalid())?;
                if !sw.ports.contains_key(&name) {
                    sw.ensure_port_channel(n);
                    sw.generation += 1;
                }
            } else if !sw.ports.contains_key(&name) {
                return Err(Failure::Invalid(w.line.find(rest[0]).unwrap_or(0)));
            }
            self.mode = Mode::ConfigIf(name);
            return Ok(String::new());
        }
        Err(w.invalid())
    }

    fn config_vlan(&mut self, sw: &mut SwitchState, w: &mut Words<'_>, ids: &[u16]) -> Res {
        if let Some(r) = self.common_config(w) {
            return r;
        }
        let negate = w.kw("no", 2);
        if w.kw("name", 2) {
            let name = if negate {
                None
            } else {
                Some(w.rest().to_string())
            };
            if name.as_deref() == Some("") {
                return Err(Failure::Incomplete);
            }
            if name
                .as_deref()
                .is_some_and(|n| n.contains(char::is_whitespace) || n.len() > 32)
            {
                return Err(Failure::Message(
                    "% VLAN name must be a single word of at most 32 characters".into(),
                ));
            }
            for id in ids {
                let new = name.clone().unwrap_or_else(|| format!("VLAN{id:04}"));
                if sw.vlans.get(id) != Some(&new) {
                    sw.vlans.insert(*id, new);
                    sw.generation += 1;
                }
            }
            return Ok(String::new());
        }
        // Anything else leaves VLAN mode and is tried as a global configuration command, as IOS does.
        self.mode = Mode::Config;
        let mut again = Words::new(w.line);
        self.config(sw, &mut again)
    }

    fn config_if(&mut self, sw: &mut SwitchState, w: &mut Words<'_>, name: &str) -> Res {
        if let Some(r) = self.common_config(w) {
            return r;
        }
        let negate = w.kw("no", 2);
        if w.kw("interface", 3) {
            // Switching interfaces directly, as IOS allows.
            self.mode = Mode::Config;
            let mut again = Words::new(w.line);
            return self.config(sw, &mut again);
        }
        let before = sw.ports.get(name).cloned();
        let out = self.config_if_inner(sw, w, name, negate)?;
        let after = sw.ports.get(name).cloned();
        if before.map(|p| format!("{p:?}")) != after.map(|p| format!("{p:?}")) {
            sw.generation += 1;
        }
        Ok(out)
    }

    fn config_if_inner(
        &mut self,
        sw: &mut SwitchState,
        w: &mut Words<'_>,
        name: &str,
        negate: bool,
    ) -> Res {
        if w.kw("description", 4) {
            let text = w.rest().to_string();
            let port = sw.ports.get_mut(name).ok_or(Failure::Incomplete)?;
            if negate {
                port.description = None;
                return Ok(String::new());
            }
            if text.is_empty() {
                return Err(Failure::Incomplete);
            }
            port.description = Some(text);
            return Ok(String::new());
        }
        if w.kw("shutdown", 4) {
            sw.ports.get_mut(name).ok_or(Failure::Incomplete)?.shutdown = !negate;
            return w.end(String::new());
        }
        if w.kw("mtu", 3) {
            let mtu = if negate { 1500 } else { w.number::<u32>()? };
            if !(1500..=9216).contains(&mtu) {
                return Err(Failure::Message(format!(
                    "% Invalid MTU {mtu}: the range is 1500-9216"
                )));
            }
            sw.ports.get_mut(name).ok_or(Failure::Incomplete)?.mtu = mtu;
            return w.end(String::new());
        }
        if w.kw("spanning-tree", 4) {
            // Accepted and ignored: the lab does not model spanning tree.
            let _ = w.rest();
            while w.next().is_some() {}
            return Ok(String::new());
        }
        if w.kw("channel-group", 4) {
            if name.starts_with("Port-channel") {
                return Err(Failure::Invalid(0));
            }
            if negate {
                sw.ports
                    .get_mut(name)
                    .ok_or(Failure::Incomplete)?
                    .channel_group = None;
                return w.end(String::new());
            }
            let n: u32 = w.number()?;
            if !(1..=48).contains(&n) {
                return Err(Failure::Message(format!(
                    "% Invalid port-channel number {n}: the range is 1-48"
                )));
            }
            w.expect("mode", 2)?;
            let mode = if w.kw("active", 1) {
                ChannelMode::Active
            } else if w.kw("passive", 1) {
                ChannelMode::Passive
            } else if w.kw("on", 2) {
                ChannelMode::On
            } else {
                return Err(w.missing());
            };
            if !w.done() {
                return Err(w.invalid());
            }
            let clash = sw
                .ports
                .values()
                .any(|p| p.name != name && matches!(p.channel_group, Some((g, m)) if g == n && (m == ChannelMode::On) != (mode == ChannelMode::On)));
            if clash {
                return Err(Failure::Message(format!(
                    "Command rejected (Port-channel{n}, {}): Invalid etherchnl mode",
                    short_name(name)
                )));
            }
            let mut out = String::new();
            if !sw.ports.contains_key(&format!("Port-channel{n}")) {
                sw.ensure_port_channel(n);
                out = format!("Creating a port-channel interface Port-channel {n}");
            }
            sw.ports
                .get_mut(name)
                .ok_or(Failure::Incomplete)?
                .channel_group = Some((n, mode));
            return Ok(out);
        }
        if w.kw("switchport", 2) {
            return self.switchport(sw, w, name, negate);
        }
        Err(w.invalid())
    }

    fn switchport(
        &mut self,
        sw: &mut SwitchState,
        w: &mut Words<'_>,
        name: &str,
        negate: bool,
    ) -> Res {
        if w.done() {
            return Ok(String::new());
        }
        if w.kw("mode", 2) {
            let mode = if negate || w.kw("access", 3) {
                PortMode::Access
            } else if w.kw("trunk", 2) {
                PortMode::Trunk
            } else {
                return Err(w.missing());
            };
            let port = sw.ports.get_mut(name).ok_or(Failure::Incomplete)?;
            port.mode = mode;
            port.mode_set = !negate;
            return w.end(String::new());
        }
        if w.kw("access", 3) {
            w.expect("vlan", 2)?;
            if negate {
                sw.ports
                    .get_mut(name)
                    .ok_or(Failure::Incomplete)?
                    .access_vlan = 1;
                return Ok(String::new());
            }
            let pos = w.pos();
            let id: u16 = w.number()?;
            if !(1..=4094).contains(&id) {
                return Err(Failure::Invalid(pos));
            }
            let mut out = String::new();
            if let std::collections::btree_map::Entry::Vacant(e) = sw.vlans.entry(id) {
                e.insert(format!("VLAN{id:04}"));
                out = format!("% Access VLAN does not exist. Creating vlan {id}");
            }
            sw.ports
                .get_mut(name)
                .ok_or(Failure::Incomplete)?
                .access_vlan = id;
            return w.end(out);
        }
        if w.kw("trunk", 2) {
            if w.kw("encapsulation", 5) {
                w.kw("dot1q", 3);
                return w.end(String::new());
            }
            if w.kw("native", 2) {
                w.expect("vlan", 2)?;
                let id: u16 = if negate { 1 } else { w.number()? };
                if !(1..=4094).contains(&id) {
                    return Err(Failure::Message(format!(
                        "Command rejected: Bad VLAN list - VLAN {id} is out of range 1..4094."
                    )));
                }
                sw.ports
                    .get_mut(name)
                    .ok_or(Failure::Incomplete)?
                    .native_vlan = id;
                return w.end(String::new());
            }
            if w.kw("allowed", 2) {
                w.expect("vlan", 2)?;
                let port = sw.ports.get_mut(name).ok_or(Failure::Incomplete)?;
                if negate {
                    port.trunk_allowed = None;
                    return w.end(String::new());
                }
                let reject = |e: String| Failure::Message(format!("Command rejected: {e}."));
                let all: BTreeSet<u16> = (1..=4094).collect();
                let current = port.trunk_allowed.clone().unwrap_or_else(|| all.clone());
                let next = if w.kw("all", 3) {
                    None
                } else if w.kw("none", 3) {
                    Some(BTreeSet::new())
                } else if w.kw("add", 3) {
                    let add =
                        parse_vlan_list(w.next().ok_or(Failure::Incomplete)?).map_err(reject)?;
                    Some(current.union(&add).copied().collect())
                } else if w.kw("remove", 3) {
                    let rm =
                        parse_vlan_list(w.next().ok_or(Failure::Incomplete)?).map_err(reject)?;
                    Some(current.difference(&rm).copied().collect())
                } else if w.kw("except", 3) {
                    let ex =
                        parse_vlan_list(w.next().ok_or(Failure::Incomplete)?).map_err(reject)?;
                    Some(all.difference(&ex).copied().collect())
                } else {
                    Some(parse_vlan_list(w.next().ok_or(Failure::Incomplete)?).map_err(reject)?)
                };
                // Normalise: the full range is "all".
                port.trunk_allowed = next.filter(|s| s.len() != 4094);
                return w.end(String::new());
            }
            return Err(w.missing());
        }
        Err(w.invalid())
    }
}

fn show(sw: &SwitchState, w: &mut Words<'_>, privileged: bool) -> Res {
    if w.kw("vlan", 1) {
        let _brief = w.kw("brief", 2);
        return w.end(show_vlan(sw));
    }
    if w.kw("running-config", 3) {
        if !privileged {
            return Err(Failure::Invalid(0));
        }
        if w.kw("interface", 3) {
            let rest: Vec<&str> = w.rest().split_whitespace().collect();
            let pos = w.pos();
            let Some((name, used)) = interface_name(&rest) else {
                return Err(if rest.is_empty() {
                    Failure::Incomplete
                } else {
                    w.invalid()
                });
            };
            for _ in 0..used {
                w.next();
            }
            let Some(port) = sw.ports.get(&name) else {
                return Err(Failure::Invalid(pos));
            };
            let body = interface_config(port);
            return w.end(format!(
                "Building configuration...\n\nCurrent configuration : {} bytes\n!\n{body}end\n",
                body.len() + 4
            ));
        }
        return w.end(running_config(sw));
    }
    if w.kw("interfaces", 3) {
        w.expect("status", 3)?;
        return w.end(show_interfaces_status(sw));
    }
    if w.kw("etherchannel", 5) {
        w.expect("summary", 3)?;
        return w.end(show_etherchannel(sw));
    }
    if w.kw("version", 2) {
        return w.end(format!(
            "Cisco IOS Software, C2960X Software (C2960X-UNIVERSALK9-M), Version 15.2(7)E8, RELEASE SOFTWARE (fc2)\n\n{} uptime is 1 day, 2 hours\n",
            sw.hostname
        ));
    }
    Err(w.missing())
}

fn show_vlan(sw: &SwitchState) -> String {
    let mut out = String::from(
        "\nVLAN Name                             Status    Ports\n---- -------------------------------- --------- -------------------------------\n",
    );
    for (id, name) in &sw.vlans {
        let reserved = RESERVED_VLANS.iter().any(|r| r.0 == *id);
        let ports: Vec<String> = sw
            .ports_sorted()
            .into_iter()
            .filter(|p| {
                p.mode == PortMode::Access && p.access_vlan == *id && p.channel_group.is_none()
            })
            .map(|p| p.short())
            .collect();
        let status = if reserved { "act/unsup" } else { "active" };
        let chunks: Vec<String> = ports.chunks(4).map(|c| c.join(", ")).collect();
        let first = chunks.first().cloned().unwrap_or_default();
        out.push_str(format!("{id:<4} {name:<32} {status:<9} {first}").trim_end());
        out.push('\n');
        for c in chunks.iter().skip(1) {
            out.push_str(&format!("{:48}{c}\n", ""));
        }
    }
    out
}

fn interface_config(p: &super::Port) -> String {
    let mut s = format!("interface {}\n", p.name);
    if let Some(d) = &p.description {
        s.push_str(&format!(" description {d}\n"));
    }
    if p.access_vlan != 1 {
        s.push_str(&format!(" switchport access vlan {}\n", p.access_vlan));
    }
    if p.native_vlan != 1 {
        s.push_str(&format!(
            " switchport trunk native vlan {}\n",
            p.native_vlan
        ));
    }
    if let Some(allowed) = &p.trunk_allowed {
        s.push_str(&format!(
            " switchport trunk allowed vlan {}\n",
            vlan_list(allowed)
        ));
    }
    if p.mode_set {
        s.push_str(match p.mode {
            PortMode::Access => " switchport mode access\n",
            PortMode::Trunk => " switchport mode trunk\n",
        });
    }
    if p.mtu != 1500 {
        s.push_str(&format!(" mtu {}\n", p.mtu));
    }
    if p.shutdown {
        s.push_str(" shutdown\n");
    }
    if let Some((n, m)) = p.channel_group {
        s.push_str(&format!(" channel-group {n} mode {}\n", m.as_str()));
    }
    s
}

fn running_config(sw: &SwitchState) -> String {
    let mut s = format!(
        "Building configuration...\n\nCurrent configuration:\n!\nversion 15.2\n!\nhostname {}\n!\n",
        sw.hostname
    );
    for (id, name) in &sw.vlans {
        if *id == 1 || RESERVED_VLANS.iter().any(|r| r.0 == *id) {
            continue;
        }
        s.push_str(&format!("vlan {id}\n name {name}\n!\n"));
    }
    for p in sw.ports_sorted() {
        s.push_str(&interface_config(p));
        s.push_str("!\n");
    }
    s.push_str("end\n");
    s
}

fn show_interfaces_status(sw: &SwitchState) -> String {
    let mut out =
        String::from("\nPort      Name               Status       Vlan       Duplex  Speed Type\n");
    for p in sw.ports_sorted() {
        let name: String = p
            .description
            .clone()
            .unwrap_or_default()
            .chars()
            .take(18)
            .collect();
        let status = if p.shutdown { "disabled" } else { "connected" };
        let vlan = match p.mode {
            PortMode::Trunk => "trunk".to_string(),
            PortMode::Access => p.access_vlan.to_string(),
        };
        out.push_str(&format!(
            "{:<9} {:<18} {:<12} {:<10} {:<7} {:<5} {}\n",
            p.short(),
            name,
            status,
            vlan,
            "a-full",
            "a-1000",
            "10/100/1000BaseTX"
        ));
    }
    out
}

fn show_etherchannel(sw: &SwitchState) -> String {
    let mut out = String::from(
        "Flags:  D - down        P - bundled in port-channel\n        S - Layer2      U - in use\n\nGroup  Port-channel  Protocol    Ports\n------+-------------+-----------+-----------------------------------------------\n",
    );
    let mut groups: Vec<&super::Port> = sw
        .ports
        .values()
        .filter(|p| p.name.starts_with("Port-channel"))
        .collect();
    groups.sort_by_key(|p| sort_key(&p.name));
    for po in groups {
        let n: u32 = po
            .name
            .trim_start_matches("Port-channel")
            .parse()
            .unwrap_or(0);
        let members: Vec<&super::Port> = sw
            .ports_sorted()
            .into_iter()
            .filter(|p| p.channel_group.map(|g| g.0) == Some(n))
            .collect();
        let proto = match members.first().and_then(|m| m.channel_group) {
            Some((_, ChannelMode::On)) | None => "-",
            Some(_) => "LACP",
        };
        let ports: Vec<String> = members
            .iter()
            .map(|m| format!("{}(P)", m.short()))
            .collect();
        out.push_str(&format!(
            "{:<6} {:<13} {:<11} {}\n",
            n,
            format!("{}(SU)", po.short()),
            proto,
            ports.join("   ")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(cli: &mut Cli, sw: &mut SwitchState, lines: &[&str]) -> Vec<Outcome> {
        lines.iter().map(|l| cli.input(sw, l)).collect()
    }

    #[test]
    fn enable_needs_the_password() {
        let mut sw = SwitchState::new("tor1", 4);
        let mut cli = Cli::new("secret");
        let out = run(&mut cli, &mut sw, &["enable", "wrong"]);
        assert_eq!(out[1].output, "% Access denied");
        assert_eq!(cli.prompt("tor1"), "tor1>");
        run(&mut cli, &mut sw, &["en", "secret"]);
        assert_eq!(cli.prompt("tor1"), "tor1#");
    }

    #[test]
    fn access_port_config_shows_in_running_config_and_vlan_table() {
        let mut sw = SwitchState::new("tor1", 4);
        let mut cli = Cli::new("x");
        cli.mode = Mode::Enable;
        let out = run(
            &mut cli,
            &mut sw,
            &[
                "conf t",
                "vlan 100",
                "name provisioning",
                "exit",
                "int gi0/2",
                "desc r1u01 nic1",
                "sw mo acc",
                "switchport access vlan 100",
                "end",
            ],
        );
        assert!(out.iter().all(|o| !o.output.contains('%')), "{out:?}");
        let shown = cli
            .input(&mut sw, "show running-config interface GigabitEthernet0/2")
            .output;
        assert!(shown.contains(" switchport access vlan 100\n"), "{shown}");
        assert!(shown.contains(" description r1u01 nic1\n"), "{shown}");
        let vlans = cli.input(&mut sw, "show vlan brief").output;
        assert!(
            vlans
                .lines()
                .any(|l| l.starts_with("100  provisioning") && l.ends_with("Gi0/2")),
            "{vlans}"
        );
        // The log keeps commands that changed something ("exit" and "end" did not).
        assert_eq!(
            sw.log,
            [
                "vlan 100",
                "name provisioning",
                "desc r1u01 nic1",
                "sw mo acc",
                "switchport access vlan 100"
            ]
        );
    }

    #[test]
    fn trunk_allowed_add_and_remove() {
        let mut sw = SwitchState::new("tor1", 4);
        let mut cli = Cli::new("x");
        cli.mode = Mode::Enable;
        run(
            &mut cli,
            &mut sw,
            &[
                "configure terminal",
                "interface Gi0/1",
                "switchport mode trunk",
                "switchport trunk allowed vlan 10,20",
                "switchport trunk allowed vlan add 30-32",
                "switchport trunk allowed vlan remove 20",
                "switchport trunk native vlan 10",
            ],
        );
        let p = &sw.ports["GigabitEthernet0/1"];
        assert_eq!(vlan_list(p.trunk_allowed.as_ref().unwrap()), "10,30-32");
        assert_eq!(p.native_vlan, 10);
        assert_eq!(p.mode, PortMode::Trunk);
    }

    #[test]
    fn bad_input_gets_a_caret_under_the_bad_word() {
        let mut sw = SwitchState::new("tor1", 4);
        let mut cli = Cli::new("x");
        cli.mode = Mode::Enable;
        run(&mut cli, &mut sw, &["conf t", "int gi0/1"]);
        let out = cli.input(&mut sw, "switchport mode bogus").output;
        let prompt = "tor1(config-if)#";
        let caret = out.lines().next().unwrap();
        assert_eq!(caret.len(), prompt.len() + "switchport mode ".len() + 1);
        assert!(out.ends_with("% Invalid input detected at '^' marker."));
        assert_eq!(
            cli.input(&mut sw, "switchport access").output,
            "% Incomplete command."
        );
    }

    #[test]
    fn default_vlans_cannot_be_deleted_and_bad_vlans_are_rejected() {
        let mut sw = SwitchState::new("tor1", 4);
        let mut cli = Cli::new("x");
        cli.mode = Mode::Config;
        assert_eq!(
            cli.input(&mut sw, "no vlan 1").output,
            "%Default VLAN 1 may not be deleted."
        );
        assert!(cli
            .input(&mut sw, "vlan 5000")
            .output
            .starts_with("Command rejected: Bad VLAN list"));
    }

    #[test]
    fn port_channels_are_created_by_channel_group_and_modes_must_agree() {
        let mut sw = SwitchState::new("tor1", 4);
        let mut cli = Cli::new("x");
        cli.mode = Mode::Config;
        let out = run(
            &mut cli,
            &mut sw,
            &[
                "interface Gi0/1",
                "channel-group 1 mode active",
                "interface Gi0/2",
                "channel-group 1 mode on",
            ],
        );
        assert_eq!(
            out[1].output,
            "Creating a port-channel interface Port-channel 1"
        );
        assert!(
            out[3]
                .output
                .starts_with("Command rejected (Port-channel1, Gi0/2)"),
            "{:?}",
            out[3]
        );
        assert!(sw.ports.contains_key("Port-channel1"));
        run(&mut cli, &mut sw, &["exit", "no interface Port-channel1"]);
        assert!(!sw.ports.contains_key("Port-channel1"));
        assert_eq!(sw.ports["GigabitEthernet0/1"].channel_group, None);
    }

    #[test]
    fn injected_rejection_names_the_command() {
        let mut sw = SwitchState::new("tor1", 4);
        sw.faults.reject = Some("vlan 666".into());
        let mut cli = Cli::new("x");
        cli.mode = Mode::Config;
        let out = cli.input(&mut sw, "vlan 666").output;
        assert!(out.starts_with("Command rejected: vlan 666"), "{out}");
        assert!(!sw.vlans.contains_key(&666));
    }

    #[test]
    fn copy_run_start_asks_for_the_destination() {
        let mut sw = SwitchState::new("tor1", 4);
        let mut cli = Cli::new("x");
        cli.mode = Mode::Enable;
        cli.input(&mut sw, "copy running-config startup-config");
        assert_eq!(
            cli.prompt("tor1"),
            "Destination filename [startup-config]? "
        );
        assert_eq!(
            cli.input(&mut sw, "").output,
            "Building configuration...\n[OK]"
        );
    }
}
