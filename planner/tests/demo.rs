//! `bmplan demo` runs end to end on the embedded lab: enrollment into SQLite, scheduling, the switch,
//! and it says plainly what is not built yet.

#[tokio::test]
async fn demo_enrolls_every_simulated_bmc_schedules_hosts_and_names_the_missing_stages() {
    let dir = tempfile::tempdir().unwrap();
    let mut out = Vec::new();
    planner::demo::run(
        planner::demo::DemoOptions {
            nodes: 8,
            dir: Some(dir.path().to_path_buf()),
        },
        &mut out,
    )
    .await
    .expect("demo succeeds");
    let text = String::from_utf8(out).unwrap();
    for i in 1..=8 {
        assert!(
            text.contains(&format!("r1u{i:02}")),
            "node r1u{i:02} missing:\n{text}"
        );
    }
    assert!(text.contains("enrolled 8 BMCs"), "{text}");
    // Scheduling as a member: two hosts within the quota, the third refused by it.
    assert!(text.contains("creates web-2 (general): node r1u"), "{text}");
    assert!(
        text.contains("web-3 (general): refused: quota exceeded: project demo may have 2 hosts"),
        "{text}"
    );
    // The inventory is a real SQLite file with every node available.
    let inv = planner::inventory::Inventory::open(
        &format!("sqlite://{}", dir.path().join("inventory.db").display()),
        planner::project::Actor::admin("test"),
        None,
    )
    .await
    .unwrap();
    let nodes = inv.nodes(&Default::default()).await.unwrap();
    assert_eq!(nodes.len(), 8);
    assert!(nodes
        .iter()
        .all(|n| n.state == planner::lifecycle::ProvisionState::Available));
    assert!(inv.check().await.unwrap().is_empty());
    assert!(text.contains("not built yet"), "{text}");
    let manifest = lab::manifest::Manifest::read(&dir.path().join("lab.json")).unwrap();
    assert_eq!(manifest.nodes.len(), 8);
    // The manifest holds passwords: the demo output must not.
    for n in &manifest.nodes {
        assert!(
            !text.contains(&n.password),
            "password of {} printed",
            n.name
        );
    }
}
