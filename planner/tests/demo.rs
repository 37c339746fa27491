//! `bmplan demo` runs end to end on the embedded lab and says plainly what is not built yet.

#[tokio::test]
async fn demo_reads_every_simulated_bmc_and_names_the_missing_stages() {
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
    assert!(text.contains("read 8 BMCs"), "{text}");
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
