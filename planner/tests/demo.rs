//! `bmplan demo` runs end to end on the embedded lab: enrollment into SQLite, scheduling, the switch,
//! and examples/lab through plan, apply, plan and drift.

#[tokio::test]
async fn demo_enrolls_schedules_plans_applies_and_reports_drift_on_the_lab() {
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
    assert!(
        text.contains(": 8 BMCs enrolled, planned, applied and checked"),
        "{text}"
    );
    // Scheduling as a member: two hosts within the quota, the third refused by it.
    assert!(text.contains("creates web-2 (general): node r1u"), "{text}");
    assert!(
        text.contains("web-3 (general): refused: quota exceeded: project demo may have 2 hosts"),
        "{text}"
    );
    // The demo's credentials key is readable by its owner only, and opens as a key file.
    let key = dir.path().join("credentials.key");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(planner::credentials::CredentialsKey::from_file(&key).is_ok());
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
    // The planner on examples/lab: one reset per node, then no changes, then the out-of-band change.
    assert!(text.contains("resets per node: 1 1 1 1 1 1 1 1"), "{text}");
    assert!(text.contains("plan again: No changes."), "{text}");
    assert!(
        text.contains("bios.ProcTurboMode [out-of-band]: live \"Enabled\", desired \"Disabled\""),
        "{text}"
    );
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
