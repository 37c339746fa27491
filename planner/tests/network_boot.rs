//! Network boot from the deployment endpoint: the iPXE entry script every node is pointed to by
//! DHCP, the per-MAC script of an agent session (the agent's kernel and initrd, its session URL on
//! the command line), the script that boots the next device for a MAC with nothing planned, and
//! the withdrawal of all of it when the session ends. Fetched over HTTP as iPXE fetches them.

use planner::host::agent::{Agent, AgentBoot};
use planner::host::MediaServer;

async fn get(url: &str) -> (u16, String) {
    let r = reqwest::get(url).await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test]
async fn a_pxe_session_serves_its_node_the_agent_and_nothing_to_other_macs() {
    // The agent's kernel and initrd beside its ISO, as scripts/build-agent-iso.sh writes them.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("agent.iso"), b"iso").unwrap();
    std::fs::write(dir.path().join("vmlinuz"), b"KERNEL-BYTES").unwrap();
    std::fs::write(dir.path().join("initrd.img"), b"INITRD-BYTES").unwrap();
    std::env::set_var(
        planner::host::agent::AGENT_ISO_ENV,
        dir.path().join("agent.iso"),
    );
    let media = MediaServer::start("127.0.0.1:0", None).await.unwrap();
    let base = media.base_url().to_string();

    // The entry script links to the MAC's script through the address it was fetched by.
    let (code, entry) = get(&media.pxe_entry_url()).await;
    assert_eq!(code, 200);
    assert!(entry.starts_with("#!ipxe\n"), "{entry}");
    assert!(
        entry.contains(&format!(
            "chain --autofree {base}/pxe/mac/${{netX/mac:hexhyp}}"
        )),
        "{entry}"
    );

    let boot = AgentBoot::Pxe {
        mac: "52:54:00:23:00:01".into(),
    };
    let mut agent = Agent::start(&media, "web-1", &boot).unwrap();
    // iPXE asks with hyphens and in either case.
    let (code, script) = get(&format!("{base}/pxe/mac/52-54-00-23-00-01")).await;
    assert_eq!(code, 200);
    let line = |word: &str| {
        script
            .lines()
            .find(|l| l.starts_with(word))
            .unwrap_or_else(|| panic!("no {word} line in {script}"))
            .to_string()
    };
    let kernel = line("kernel ");
    assert!(
        kernel.ends_with(&format!("bm.url={}", agent.session.url)),
        "{kernel}"
    );
    assert!(kernel.contains("console=ttyS0,115200"), "{kernel}");
    let kernel_url = kernel.split_whitespace().nth(3).unwrap().to_string();
    let initrd_url = line("initrd ")
        .split_whitespace()
        .nth(3)
        .unwrap()
        .to_string();
    assert_eq!(get(&kernel_url).await, (200, "KERNEL-BYTES".into()));
    assert_eq!(get(&initrd_url).await, (200, "INITRD-BYTES".into()));
    assert!(script.trim_end().ends_with("boot"), "{script}");

    // Another MAC has nothing planned: its firmware boots the next device.
    let (code, other) = get(&format!("{base}/pxe/mac/52-54-00-23-00-02")).await;
    assert_eq!(code, 200);
    assert!(
        other.contains("exit 1") && other.contains("52:54:00:23:00:02"),
        "{other}"
    );
    assert!(!other.contains("kernel"), "{other}");
    // Garbage where the MAC goes is not a MAC.
    let (_, junk) = get(&format!("{base}/pxe/mac/..%2F..%2Fetc")).await;
    assert!(junk.contains("exit 1"), "{junk}");

    // The session ends: the script, the kernel and the initrd are gone.
    agent.withdraw(&media);
    let (_, after) = get(&format!("{base}/pxe/mac/52-54-00-23-00-01")).await;
    assert!(
        after.contains("exit 1") && !after.contains("kernel"),
        "{after}"
    );
    assert_eq!(get(&kernel_url).await.0, 404);
    assert_eq!(get(&initrd_url).await.0, 404);

    // A later session for the same MAC is not withdrawn by an earlier one ending.
    let first = Agent::start(&media, "web-1", &boot).unwrap();
    let second = Agent::start(&media, "web-1", &boot).unwrap();
    drop(first);
    let (_, now) = get(&format!("{base}/pxe/mac/52:54:00:23:00:01")).await;
    assert!(
        now.contains(&format!("bm.url={}", second.session.url)),
        "{now}"
    );
}
