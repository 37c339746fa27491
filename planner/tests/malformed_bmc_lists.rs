//! Malformed BMC lists for `bmplan nodes enroll`: each list holds a healthy lab node and one bad
//! row. Every bad row is refused with its row and column named, nothing is enrolled (not even the
//! healthy node: a list is taken whole or not at all), no BMC is contacted, and no password shows.

mod common;

use std::time::Duration;

use lab::{Lab, LabConfig};

struct Row {
    name: &'static str,
    /// The bad row (CSV), or the whole file when `whole` is set.
    row: String,
    whole: bool,
    /// Expected `row N, column C` and words of the message.
    at: &'static str,
    says: &'static str,
}

fn row(name: &'static str, row: &str, at: &'static str, says: &'static str) -> Row {
    Row {
        name,
        row: row.to_string(),
        whole: false,
        at,
        says,
    }
}

const HEADER: &str = "name,bmc_url,system_id,username,password,ca_cert,fingerprint,insecure";

fn rows() -> Vec<Row> {
    let fp = "ab".repeat(32);
    vec![
        row("insecure maybe", "bad,https://10.0.0.9,,root,pw,,,maybe", "row 3, column insecure", "\"maybe\" is not true or false"),
        row("insecure yes", "bad,https://10.0.0.9,,root,pw,,,yes", "row 3, column insecure", "is not true or false"),
        row("insecure 1", "bad,https://10.0.0.9,,root,pw,,,1", "row 3, column insecure", "is not true or false"),
        row("insecure TRUE", "bad,https://10.0.0.9,,root,pw,,,TRUE", "row 3, column insecure", "is not true or false"),
        row("empty user", "bad,https://10.0.0.9,,,pw,,,", "row 3, column username", "the user is empty"),
        row("blank user", "bad,https://10.0.0.9,,   ,pw,,,", "row 3, column username", "the user is empty"),
        row("empty password", "bad,https://10.0.0.9,,root,,,,", "row 3, column password", "the password is empty"),
        row("password from an unset variable", "bad,https://10.0.0.9,,root,env:BMPLAN_NO_SUCH_VAR_X,,,", "row 3, column password", "BMPLAN_NO_SUCH_VAR_X, which is not set"),
        row("URL with user and password", "bad,https://root:calvin@10.0.0.9,,root,pw,,,", "row 3, column bmc_url", "carries a user or password"),
        row("URL with a user only", "bad,https://root@10.0.0.9,,root,pw,,,", "row 3, column bmc_url", "carries a user or password"),
        row("URL scheme ftp", "bad,ftp://10.0.0.9,,root,pw,,,", "row 3, column bmc_url", "must start with https:// or http://"),
        row("URL without scheme", "bad,10.0.0.9,,root,pw,,,", "row 3, column bmc_url", "is not a URL"),
        row("URL port out of range", "bad,https://10.0.0.9:99999,,root,pw,,,", "row 3, column bmc_url", "invalid port number"),
        row("URL empty", "bad,,,root,pw,,,", "row 3, column bmc_url", "is not a URL"),
        row("URL with spaces", "bad,https://10.0.0 .9,,root,pw,,,", "row 3, column bmc_url", "is not a URL"),
        row("empty name", ",https://10.0.0.9,,root,pw,,,", "row 3, column name", "the name is empty"),
        row("name over 253 bytes", &format!("{},https://10.0.0.9,,root,pw,,,", "n".repeat(300)), "row 3, column name", "names are at most 253"),
        row("name with an escape", "\"bad\u{1b}[31m\",https://10.0.0.9,,root,pw,,,", "row 3, column name", "control character"),
        row("duplicate name", "r1u01,https://10.0.0.9,,root,pw,,,", "row 3, column name", "the name r1u01 is also on row 2"),
        row("missing CA file", "bad,https://10.0.0.9,,root,pw,/nonexistent/ca.pem,,", "row 3, column ca_cert", "/nonexistent/ca.pem"),
        row("CA file without a certificate", "bad,https://10.0.0.9,,root,pw,bmcs.csv,,", "row 3, column ca_cert", "holds no PEM certificate"),
        row("fingerprint malformed", "bad,https://10.0.0.9,,root,pw,,zz:zz,", "row 3, column fingerprint", "not a SHA-256 fingerprint"),
        row("fingerprint with insecure", &format!("bad,https://10.0.0.9,,root,pw,,{fp},true"), "row 3, column insecure", "fingerprint and insecure contradict each other"),
        row("fingerprint on http", &format!("bad,http://10.0.0.9,,root,pw,,{fp},"), "row 3, column fingerprint", "reached in clear"),
        row("too few fields", "bad,https://10.0.0.9,,root", "row 3, column -", "the row has 4 fields and the header 8"),
        row("too many fields", "bad,https://10.0.0.9,,root,pw,,,,extra", "row 3, column -", "the row has 9 fields and the header 8"),
        row("system id with a control character", "bad,https://10.0.0.9,\"a\u{7}b\",root,pw,,,", "row 3, column system_id", "control character"),
        row("unterminated quote", "bad,\"https://10.0.0.9,,root,pw,,,\n", "row 3, column", "fields"),
        Row { name: "unknown column", row: "name,bmc_url,username,password,insecrue\nbad,https://10.0.0.9,root,pw,true\n".into(), whole: true, at: "bmcs.csv", says: "unknown CSV column \"insecrue\" (did you mean \"insecure\"?)" },
        Row { name: "missing required column", row: "name,bmc_url,username\nbad,https://10.0.0.9,root\n".into(), whole: true, at: "bmcs.csv", says: "the CSV header lacks \"password\"" },
        Row { name: "column named twice", row: "name,bmc_url,username,password,name\nbad,https://10.0.0.9,root,pw,x\n".into(), whole: true, at: "bmcs.csv", says: "names the column \"name\" twice" },
        Row { name: "JSON insecure as a word", row: r#"[{"name":"bad","bmc_url":"https://10.0.0.9","username":"root","password":"pw","insecure":"maybe"}]"#.into(), whole: true, at: "row 1, column insecure", says: "is not true or false" },
        Row { name: "JSON unknown key", row: r#"[{"name":"bad","bmc_url":"https://10.0.0.9","username":"root","password":"pw","insecrue":true}]"#.into(), whole: true, at: "row 1, column insecrue", says: "unknown field" },
        Row { name: "JSON empty password", row: r#"[{"name":"bad","bmc_url":"https://10.0.0.9","username":"root","password":""}]"#.into(), whole: true, at: "row 1, column password", says: "the password is empty" },
        Row { name: "JSON URL with userinfo", row: r#"[{"name":"bad","bmc_url":"https://u:hunter2@10.0.0.9","username":"root","password":"pw"}]"#.into(), whole: true, at: "row 1, column bmc_url", says: "carries a user or password" },
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_malformed_row_is_refused_with_its_row_and_column_and_nothing_is_enrolled() {
    let labdir = tempfile::tempdir().unwrap();
    let lab = Lab::start(LabConfig {
        nodes: 1,
        switches: 1,
        tls: false,
        dir: labdir.path().to_path_buf(),
        power_delay: Duration::from_millis(50),
        ..LabConfig::default()
    })
    .await
    .unwrap();
    let m = lab.manifest().clone();
    let n = &m.nodes[0];
    let good = format!(
        "{},{},{},{},{},,,",
        n.name, n.bmc_http_url, n.system_id, n.username, n.password
    );
    let rows = rows();
    assert!(rows.len() >= 30, "{} rows", rows.len());
    let mut failures = Vec::new();
    for r in &rows {
        let dir = tempfile::tempdir().unwrap();
        let bad = r
            .row
            .replace("{url}", &n.bmc_http_url)
            .replace("{system}", &n.system_id);
        let (file, text) = if r.whole && bad.starts_with('[') {
            ("bmcs.json", bad)
        } else if r.whole {
            ("bmcs.csv", bad)
        } else {
            ("bmcs.csv", format!("{HEADER}\n{good}\n{bad}\n"))
        };
        let list = dir.path().join(file);
        std::fs::write(&list, text).unwrap();
        let run = |args: &[&str]| common::bmplan_in(dir.path(), args, &[]);
        let o = run(&["nodes", "enroll", list.to_str().unwrap()]);
        let out = common::text(&o);
        let listed = run(&["nodes", "list", "--json"]);
        let nodes: serde_json::Value =
            serde_json::from_slice(&listed.stdout).unwrap_or(serde_json::Value::Null);
        let located = out.lines().any(|l| l.contains(r.at) && l.contains(r.says));
        let leaked = ["calvin", "hunter2"].iter().any(|p| out.contains(p));
        if o.status.success()
            || !located
            || leaked
            || out.contains("panicked")
            || nodes.as_array().is_none_or(|a| !a.is_empty())
        {
            failures.push(format!(
                "{}: exit {:?}, wanted {:?} with {:?}; nodes {nodes}:\n{}",
                r.name,
                o.status.code(),
                r.at,
                r.says,
                out.chars().take(800).collect::<String>()
            ));
        }
    }
    let stats = common::lab_stats(&m.control_url).await;
    assert_eq!(stats["nodes"][&n.name]["requests"], 0, "{stats}");
    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n\n{}",
        failures.len(),
        rows.len(),
        failures.join("\n\n")
    );
    lab.shutdown().await;
}
