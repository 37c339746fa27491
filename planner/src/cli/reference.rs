//! `docs/reference/bmplan.md`: every command of `bmplan` with its arguments, defaults and
//! environment variables, rendered from the grammar ([`super::args`]) so the page cannot drift
//! from `--help` (the docs test fails when it is stale).

use clap::{Arg, ArgAction, Command, CommandFactory};

use super::args::Cli;

/// The exit codes, as the reference page lists them (see [`super::exit`]).
pub const EXIT_CODES: [(u8, &str); 10] = [
    (
        0,
        "success (`plan` and `drift` with `-detailed-exitcode`: no changes)",
    ),
    (1, "any other error"),
    (
        2,
        "changes present (`plan` and `drift` with `-detailed-exitcode`), or a usage error",
    ),
    (3, "credentials refused by a BMC or a switch"),
    (
        4,
        "a BMC or switch unreachable (connection, TLS or timeout)",
    ),
    (5, "not found in the inventory"),
    (
        6,
        "conflict: an illegal transition, no capacity, a quota, a lease held, a duplicate",
    ),
    (7, "permission denied"),
    (8, "a bulk command finished with some items failed"),
    (
        141,
        "stdout closed by its reader (as a SIGPIPE would end it)",
    ),
];

/// The reference page, in Markdown.
pub fn markdown() -> String {
    let mut root = Cli::command();
    root.build();
    let mut out = String::from(
        "# `bmplan` command reference\n\n\
         <!-- Generated from the command's grammar (planner/src/cli/args.rs) by \
         `UPDATE_DOCS=1 cargo test -p planner --test docs`; do not edit. -->\n\n",
    );
    if let Some(a) = root.get_about() {
        out.push_str(&format!("{a}\n\n"));
    }
    out.push_str(
        "Terraform's single-dash spellings work too: `-out`, `-var`, `-var-file`, `-auto-approve`, \
         `-detailed-exitcode`.\n\n## Exit codes\n\n| Code | Meaning |\n|---|---|\n",
    );
    for (code, meaning) in EXIT_CODES {
        out.push_str(&format!("| {code} | {meaning} |\n"));
    }
    out.push_str("\n## Options of every command\n\n");
    options(&root, &mut out, true);
    for sub in root.get_subcommands() {
        command(sub, "bmplan", &mut out);
    }
    out
}

fn command(cmd: &Command, parent: &str, out: &mut String) {
    let path = format!("{parent} {}", cmd.get_name());
    out.push_str(&format!("\n## `{path}`\n\n"));
    if let Some(a) = cmd.get_long_about().or(cmd.get_about()) {
        out.push_str(&format!("{a}.\n\n"));
    }
    let subs: Vec<&Command> = cmd.get_subcommands().collect();
    if !subs.is_empty() {
        out.push_str("| Command | What it does |\n|---|---|\n");
        for s in &subs {
            out.push_str(&format!(
                "| `{path} {}` | {} |\n",
                s.get_name(),
                s.get_about().map(|a| a.to_string()).unwrap_or_default()
            ));
        }
    }
    options(cmd, out, false);
    for s in subs {
        command(s, &path, out);
    }
}

/// The arguments of `cmd` as a table: the global ones on the root only.
fn options(cmd: &Command, out: &mut String, globals: bool) {
    let args: Vec<&Arg> = cmd
        .get_arguments()
        .filter(|a| !matches!(a.get_action(), ArgAction::Help | ArgAction::Version))
        .filter(|a| a.is_global_set() == globals)
        .collect();
    if args.is_empty() {
        return;
    }
    if !out.ends_with("\n\n") {
        out.push('\n');
    }
    out.push_str("| Argument | Default | Description |\n|---|---|---|\n");
    for a in args {
        out.push_str(&format!(
            "| {} | {} | {} |\n",
            spelling(a),
            default(a),
            help(a)
        ));
    }
}

fn spelling(a: &Arg) -> String {
    let value = a
        .get_value_names()
        .and_then(|v| v.first())
        .map(|v| v.to_string())
        .unwrap_or_else(|| a.get_id().as_str().to_ascii_uppercase());
    let takes_value = !matches!(
        a.get_action(),
        ArgAction::SetTrue | ArgAction::SetFalse | ArgAction::Count
    );
    let mut s = match (a.get_long(), a.get_short()) {
        (Some(l), Some(c)) => format!("`-{c}`, `--{l}`"),
        (Some(l), None) => format!("`--{l}`"),
        (None, Some(c)) => format!("`-{c}`"),
        (None, None) => return format!("`<{value}>`"),
    };
    if takes_value {
        s.push_str(&format!(" `<{value}>`"));
    }
    s
}

fn default(a: &Arg) -> String {
    if matches!(a.get_action(), ArgAction::SetTrue | ArgAction::SetFalse) {
        return String::new();
    }
    let d: Vec<String> = a
        .get_default_values()
        .iter()
        .map(|v| v.to_string_lossy().into_owned())
        .collect();
    if d.is_empty() {
        "".into()
    } else {
        format!("`{}`", d.join(","))
    }
}

fn help(a: &Arg) -> String {
    let mut s = a
        .get_long_help()
        .or(a.get_help())
        .map(|h| h.to_string())
        .unwrap_or_default()
        .replace('\n', " ")
        .replace('|', "\\|");
    if !s.is_empty() && !s.ends_with('.') {
        s.push('.');
    }
    let values: Vec<String> = a
        .get_possible_values()
        .iter()
        .filter(|v| !v.is_hide_set())
        .map(|v| format!("`{}`", v.get_name()))
        .collect();
    if !values.is_empty() && a.get_action().takes_values() {
        s.push_str(&format!(" One of: {}.", values.join(", ")));
    }
    if let Some(env) = a.get_env() {
        s.push_str(&format!(" Environment: `{}`.", env.to_string_lossy()));
    }
    if a.is_required_set() {
        s.push_str(" Required.");
    }
    s.trim().to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_command_and_flag_is_in_the_reference() {
        let page = super::markdown();
        for needle in [
            "## `bmplan nodes enroll`",
            "## `bmplan hosts deploy`",
            "## `bmplan apply`",
            "`--max-failures` `<MAX_FAILURES>` | `0` |",
            "Environment: `BAREMETAL_MEDIA_LISTEN`.",
            "| 8 | a bulk command finished",
            "One of: `text`, `markdown`, `json`, `junit`.",
        ] {
            assert!(page.contains(needle), "missing {needle:?}");
        }
    }
}
