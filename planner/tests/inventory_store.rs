//! The inventory on both backends: a real SQLite file and a real PostgreSQL server (the one the README's
//! test command starts). Every test runs its scenario on each backend and asserts the same behaviour.
//! BMC facts are given directly here; enrollment against real Redfish peers is in `enroll_on_peers.rs`.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::hw;
use planner::bmc::Secret;
use planner::credentials::CredentialsKey;
use planner::flavor::Flavor;
use planner::inventory::{
    AuditFilter, EnrollResult, Inventory, InventoryError, NewHost, NodeFilter, NodeRegistration,
    NodeTls, StepStatus, SwitchRegistration, Verification,
};
use planner::lifecycle::{Event, ProvisionState};
use planner::project::Actor;

fn key() -> CredentialsKey {
    CredentialsKey::from_base64(&CredentialsKey::generate().unwrap(), "test").unwrap()
}

async fn open(url: &str) -> Inventory {
    Inventory::open(url, Actor::admin("ops"), Some(key()))
        .await
        .unwrap()
}

fn reg(name: &str) -> NodeRegistration {
    NodeRegistration {
        name: name.into(),
        bmc_url: format!("https://bmc-{name}.example"),
        system_id: "1".into(),
        username: "root".into(),
        password: Secret::new(format!("pw-of-{name}-s3cret")),
        tls: NodeTls::default(),
    }
}

/// Enrolls `n` nodes named `prefix01…` with the given specs; returns their names.
async fn enroll_many(
    inv: &Inventory,
    prefix: &str,
    n: usize,
    maker: &str,
    arch: &str,
    cpus: u64,
    mem: f64,
) -> Vec<String> {
    let mut names = Vec::new();
    for i in 1..=n {
        let name = format!("{prefix}{i:02}");
        let v = Verification::Inspected(Box::new(hw(
            &format!("uuid-{name}"),
            &format!("SN-{name}"),
            maker,
            arch,
            cpus,
            mem,
        )));
        let o = inv.enroll(&reg(&name), &v).await.unwrap();
        assert_eq!(o.result, EnrollResult::Enrolled, "{o:?}");
        names.push(name);
    }
    names
}

#[tokio::test]
async fn the_lifecycle_is_stored_and_illegal_transitions_are_refused_with_the_allowed_ones() {
    for db in common::backends().await {
        let inv = open(&db.url).await;
        enroll_many(&inv, "n", 1, "Dell Inc.", "x86_64", 32, 256.0).await;
        let n = inv.node("n01").await.unwrap();
        assert_eq!(n.state, ProvisionState::Available, "{}", db.backend);
        // available → deploying → active → deleting → cleaning → available
        for (e, s) in [
            (Event::Deploy, ProvisionState::Deploying),
            (Event::Deployed, ProvisionState::Active),
            (Event::Delete, ProvisionState::Deleting),
            (Event::Deleted, ProvisionState::Cleaning),
        ] {
            assert_eq!(inv.transition("n01", e, None).await.unwrap().state, s);
        }
        // A failed clean is never silently available: clean failed, with the reason kept.
        let n = inv
            .transition("n01", Event::Fail, Some("secure erase failed on disk 0"))
            .await
            .unwrap();
        assert_eq!(n.state, ProvisionState::CleanFailed);
        assert_eq!(
            n.last_error.as_deref(),
            Some("secure erase failed on disk 0")
        );
        let e = inv
            .transition("n01", Event::Deploy, None)
            .await
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "node n01 is clean failed: \"deploy\" is not allowed in that state (allowed: manage)",
            "{}",
            db.backend
        );
        assert!(matches!(e, InventoryError::Illegal(_)));
        // The refused transition wrote nothing.
        assert_eq!(
            inv.node("n01").await.unwrap().state,
            ProvisionState::CleanFailed
        );
        // manage → manageable, adopt → active without deploying.
        inv.transition("n01", Event::Manage, None).await.unwrap();
        inv.put_project("ops", None, None).await.unwrap();
        let h = inv.adopt("n01", "legacy-db", "ops").await.unwrap();
        assert_eq!(h.node_state, Some(ProvisionState::Active));
        assert_eq!(h.state, "active");
        // Maintenance needs a reason, and blocks deploy.
        assert!(matches!(
            inv.set_maintenance("n01", true, None).await,
            Err(InventoryError::Invalid(_))
        ));
        let n = inv
            .set_maintenance("n01", true, Some("fan 3 failed"))
            .await
            .unwrap();
        assert!(n.maintenance);
        assert_eq!(n.maintenance_reason.as_deref(), Some("fan 3 failed"));
        assert!(inv.check().await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn enrollment_recognises_duplicates_by_uuid_and_serial_whatever_the_address() {
    for db in common::backends().await {
        let inv = open(&db.url).await;
        enroll_many(&inv, "r1u", 1, "Dell Inc.", "x86_64", 32, 256.0).await;
        // The same system under another name and address (same UUID): a duplicate, nothing written.
        let mut other = reg("again");
        other.bmc_url = "https://10.9.9.9".into();
        let same = Verification::Inspected(Box::new(hw(
            "UUID-R1U01",
            "SN-r1u01",
            "Dell Inc.",
            "x86_64",
            32,
            256.0,
        )));
        let o = inv.enroll(&other, &same).await.unwrap();
        assert_eq!(o.result, EnrollResult::Duplicate, "{}", db.backend);
        assert!(o.detail.unwrap().contains("already enrolled as r1u01"));
        // Same manufacturer and serial, no UUID: a duplicate too.
        let mut no_uuid = hw("", "SN-r1u01", "DELL", "x86_64", 32, 256.0);
        no_uuid.uuid = None;
        let o = inv
            .enroll(&reg("third"), &Verification::Inspected(Box::new(no_uuid)))
            .await
            .unwrap();
        assert_eq!(o.result, EnrollResult::Duplicate);
        assert!(o.detail.unwrap().contains("same serial number"));
        assert_eq!(inv.nodes(&NodeFilter::default()).await.unwrap().len(), 1);
        // Enrolling the same name again refreshes it (idempotent).
        let o = inv
            .enroll(
                &reg("r1u01"),
                &Verification::Inspected(Box::new(hw(
                    "uuid-r1u01",
                    "SN-r1u01",
                    "Dell Inc.",
                    "x86_64",
                    64,
                    512.0,
                ))),
            )
            .await
            .unwrap();
        assert_eq!(o.result, EnrollResult::Updated);
        assert_eq!(inv.node("r1u01").await.unwrap().cpus, 64);
        // A BMC that refuses the credentials still leaves a node, in verify failed, with why.
        let o = inv
            .enroll(
                &reg("bad"),
                &Verification::VerifyFailed {
                    part: planner::hardware::EndpointPart::Credentials,
                    message: "HTTP 401 for user root".into(),
                },
            )
            .await
            .unwrap();
        assert_eq!(o.result, EnrollResult::VerifyFailed);
        let bad = inv.node("bad").await.unwrap();
        assert_eq!(bad.state, ProvisionState::VerifyFailed);
        assert_eq!(bad.last_error.as_deref(), Some("HTTP 401 for user root"));
        // Fixed credentials: enrolling again walks it on to available.
        let o = inv
            .enroll(
                &reg("bad"),
                &Verification::Inspected(Box::new(hw(
                    "uuid-bad", "SN-bad", "HPE", "x86_64", 16, 64.0,
                ))),
            )
            .await
            .unwrap();
        assert_eq!(o.state, Some(ProvisionState::Available));
        assert_eq!(inv.node("bad").await.unwrap().last_error, None);
    }
}

#[tokio::test]
async fn allocation_is_best_fit_then_name_across_architectures_and_no_capacity_says_where_nodes_are(
) {
    for db in common::backends().await {
        let inv = open(&db.url).await;
        inv.put_project("blue", None, None).await.unwrap();
        enroll_many(&inv, "big", 2, "Dell Inc.", "x86_64", 128, 1024.0).await;
        enroll_many(&inv, "small", 3, "Dell Inc.", "x86_64", 32, 256.0).await;
        enroll_many(&inv, "arm", 2, "Ampere Computing", "aarch64", 80, 512.0).await;
        inv.set_node_attributes(
            "small02",
            Some(BTreeSet::from(["CUSTOM_GPU".to_string()])),
            None,
            None,
            None,
        )
        .await
        .unwrap();
        for f in [
            Flavor {
                name: "x86".into(),
                cpus: 32,
                memory_gib: 200,
                arch: Some("x86_64".into()),
                ..Flavor::default()
            },
            Flavor {
                name: "arm".into(),
                cpus: 64,
                arch: Some("aarch64".into()),
                ..Flavor::default()
            },
            Flavor {
                name: "gpu".into(),
                traits: ["CUSTOM_GPU".to_string()].into(),
                ..Flavor::default()
            },
        ] {
            inv.put_flavor(&f).await.unwrap();
        }
        let alloc = |name: &str, flavor: &str| NewHost {
            name: name.into(),
            project: Some("blue".into()),
            flavor: Some(flavor.into()),
            node: None,
        };
        // Best fit: the smallest x86 nodes first, in name order (small02 has a trait, so it sorts
        // after its equals), and the big ones only when the small ones are gone.
        let mut got = Vec::new();
        for i in 0..5 {
            let h = inv
                .create_host(&alloc(&format!("h{i}"), "x86"))
                .await
                .unwrap();
            got.push(h.node.unwrap());
        }
        assert_eq!(
            got,
            vec!["small01", "small03", "small02", "big01", "big02"],
            "{}",
            db.backend
        );
        let a = inv.create_host(&alloc("a1", "arm")).await.unwrap();
        assert_eq!(a.node.as_deref(), Some("arm01"));
        assert_eq!(a.arch.as_deref(), Some("aarch64"));
        let e = inv.create_host(&alloc("h9", "x86")).await.unwrap_err();
        assert_eq!(
            e.to_string(),
            "no capacity for flavor \"x86\": 5 nodes match it and none is free for project blue \
             (5 available; 5 allocated to hosts, 0 in maintenance, 0 reserved for other projects)",
            "{}",
            db.backend
        );
        assert!(matches!(e, InventoryError::NoCapacity { .. }));
        // The failed allocation left nothing behind.
        assert_eq!(inv.hosts(Some("blue")).await.unwrap().len(), 6);
        // Flavor listing counts matching and free nodes; node listing filters by flavor.
        let caps = inv.flavors().await.unwrap();
        let arm = caps.iter().find(|c| c.flavor.name == "arm").unwrap();
        assert_eq!((arm.matching, arm.free), (2, 1));
        let arm_nodes = inv
            .nodes(&NodeFilter {
                flavor: Some("arm".into()),
                ..NodeFilter::default()
            })
            .await
            .unwrap();
        assert_eq!(arm_nodes.len(), 2);
        // Deleting an undeployed host releases its node to the next allocation.
        inv.delete_host("blue", "h0").await.unwrap();
        let again = inv.create_host(&alloc("h10", "x86")).await.unwrap();
        assert_eq!(again.node.as_deref(), Some("small01"));
        // A deployed host is not dropped by a record deletion.
        inv.transition("small01", Event::Deploy, None)
            .await
            .unwrap();
        let e = inv.delete_host("blue", "h10").await.unwrap_err();
        assert!(e.to_string().contains("through the lifecycle"), "{e}");
        assert!(inv.check().await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn quotas_limit_hosts_and_nodes_per_project() {
    for db in common::backends().await {
        let inv = open(&db.url).await;
        enroll_many(&inv, "n", 5, "Dell Inc.", "x86_64", 32, 256.0).await;
        inv.put_flavor(&Flavor {
            name: "any".into(),
            ..Flavor::default()
        })
        .await
        .unwrap();
        inv.put_project("small", Some(2), None).await.unwrap();
        inv.put_project("tiny", None, Some(1)).await.unwrap();
        let host = |p: &str, n: &str| NewHost {
            name: n.into(),
            project: Some(p.into()),
            flavor: Some("any".into()),
            node: None,
        };
        inv.create_host(&host("small", "a")).await.unwrap();
        inv.create_host(&host("small", "b")).await.unwrap();
        let e = inv.create_host(&host("small", "c")).await.unwrap_err();
        assert_eq!(
            e.to_string(),
            "quota exceeded: project small may have 2 hosts, and has 2",
            "{}",
            db.backend
        );
        // Node quota: a reservation counts, and a host on another node would exceed it.
        inv.set_node_attributes("n05", None, None, None, Some(Some("tiny".into())))
            .await
            .unwrap();
        let e = inv
            .set_node_attributes("n04", None, None, None, Some(Some("tiny".into())))
            .await
            .unwrap_err();
        assert!(
            matches!(e, InventoryError::Quota { what: "nodes", .. }),
            "{e}"
        );
        // A host of the project goes on its reserved node, which is within quota.
        let h = inv.create_host(&host("tiny", "t1")).await.unwrap();
        assert_eq!(h.node.as_deref(), Some("n05"));
        let projects = inv.projects().await.unwrap();
        let tiny = projects.iter().find(|p| p.name == "tiny").unwrap();
        assert_eq!((tiny.hosts, tiny.nodes), (1, 1));
        // Capacity: two free nodes left (n03, n04); the third host finds none.
        inv.put_project("big", None, None).await.unwrap();
        inv.create_host(&host("big", "x1")).await.unwrap();
        inv.create_host(&host("big", "x2")).await.unwrap();
        let e = inv.create_host(&host("big", "x3")).await.unwrap_err();
        assert!(matches!(e, InventoryError::NoCapacity { .. }), "{e}");
        // Every refusal is in the audit log with its reason: two quotas and the capacity.
        let denied = inv
            .audit_log(&AuditFilter {
                outcome: Some("denied".into()),
                ..AuditFilter::default()
            })
            .await
            .unwrap();
        let seen: Vec<(&str, &str, Option<&str>)> = denied
            .iter()
            .map(|e| (e.action.as_str(), e.object.as_str(), e.project.as_deref()))
            .collect();
        assert_eq!(
            seen,
            vec![
                ("host.create", "c", Some("small")),
                ("node.update", "n04", Some("tiny")),
                ("host.create", "x3", Some("big")),
            ],
            "{}: {denied:#?}",
            db.backend
        );
        assert!(denied[0]
            .detail
            .as_deref()
            .unwrap_or("")
            .contains("quota exceeded"));
        assert!(denied[2]
            .detail
            .as_deref()
            .unwrap_or("")
            .contains("no capacity"));
    }
}

#[tokio::test]
async fn a_member_never_sees_or_touches_another_projects_hosts_and_every_attempt_is_recorded() {
    for db in common::backends().await {
        let admin = open(&db.url).await;
        enroll_many(&admin, "n", 3, "Dell Inc.", "x86_64", 32, 256.0).await;
        admin
            .put_flavor(&Flavor {
                name: "any".into(),
                ..Flavor::default()
            })
            .await
            .unwrap();
        admin.put_project("blue", None, None).await.unwrap();
        admin.put_project("red", None, None).await.unwrap();
        let alice = admin.as_actor(Actor::member("alice", "blue"));
        let mallory = admin.as_actor(Actor::member("mallory", "red"));
        let h = alice
            .create_host(&NewHost {
                name: "web".into(),
                flavor: Some("any".into()),
                ..NewHost::default()
            })
            .await
            .unwrap();
        assert_eq!(h.project, "blue");
        mallory
            .create_host(&NewHost {
                name: "db".into(),
                flavor: Some("any".into()),
                ..NewHost::default()
            })
            .await
            .unwrap();

        // Every cross-project read and write by mallory is refused.
        let forbidden = |r: Result<(), InventoryError>| {
            assert!(matches!(r, Err(InventoryError::Forbidden { .. })), "{r:?}")
        };
        forbidden(mallory.host("blue", "web").await.map(|_| ()));
        forbidden(mallory.hosts(Some("blue")).await.map(|_| ()));
        forbidden(mallory.delete_host("blue", "web").await);
        forbidden(
            mallory
                .create_host(&NewHost {
                    name: "sneaky".into(),
                    project: Some("blue".into()),
                    flavor: Some("any".into()),
                    node: None,
                })
                .await
                .map(|_| ()),
        );
        forbidden(
            mallory
                .audit_log(&AuditFilter {
                    project: Some("blue".into()),
                    ..AuditFilter::default()
                })
                .await
                .map(|_| ()),
        );
        // Fleet objects are the admin's.
        forbidden(mallory.nodes(&NodeFilter::default()).await.map(|_| ()));
        forbidden(
            mallory
                .transition("n01", Event::Manage, None)
                .await
                .map(|_| ()),
        );
        forbidden(mallory.put_flavor(&Flavor::default()).await);
        forbidden(
            mallory
                .create_host(&NewHost {
                    name: "pinned".into(),
                    project: Some("red".into()),
                    node: Some("n03".into()),
                    flavor: None,
                })
                .await
                .map(|_| ()),
        );
        // Their own listing shows only their project's hosts.
        let seen = mallory.hosts(None).await.unwrap();
        assert_eq!(
            seen.iter().map(|h| h.name.as_str()).collect::<Vec<_>>(),
            vec!["db"]
        );
        // Nothing changed: alice's host is still there.
        assert_eq!(alice.hosts(None).await.unwrap().len(), 1);
        // Each refusal is in the audit log, attributed to mallory.
        let denied = admin
            .audit_log(&AuditFilter {
                outcome: Some("denied".into()),
                ..AuditFilter::default()
            })
            .await
            .unwrap();
        assert_eq!(denied.len(), 9, "{} {denied:#?}", db.backend);
        assert!(denied.iter().all(|e| e.actor == "mallory"));
        // Mallory's own audit view holds red's entries only.
        let own = mallory.audit_log(&AuditFilter::default()).await.unwrap();
        assert!(!own.is_empty());
        assert!(own.iter().all(|e| e.project.as_deref() == Some("red")));
    }
}

#[tokio::test]
async fn the_audit_log_records_before_and_after_without_secrets_and_filters_by_time_and_node() {
    for db in common::backends().await {
        let inv = open(&db.url).await;
        enroll_many(&inv, "n", 2, "Dell Inc.", "x86_64", 32, 256.0).await;
        inv.put_switch(&SwitchRegistration {
            name: "tor1".into(),
            driver: "cisco_ios".into(),
            address: "127.0.0.1:2222".into(),
            username: "admin".into(),
            password: Secret::new("switch-s3cret"),
            enable_password: None,
            rack: None,
        })
        .await
        .unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        let t0 = planner::inventory::parse_since("0s", now()).unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        inv.set_maintenance("n02", true, Some("PSU swap"))
            .await
            .unwrap();
        let all = inv.audit_log(&AuditFilter::default()).await.unwrap();
        let text = serde_json::to_string(&all).unwrap();
        assert!(
            !text.contains("s3cret"),
            "{}: a secret reached the audit log",
            db.backend
        );
        let recent = inv
            .audit_log(&AuditFilter {
                since_ms: Some(t0),
                ..AuditFilter::default()
            })
            .await
            .unwrap();
        assert_eq!(recent.len(), 1, "{recent:#?}");
        let m = &recent[0];
        assert_eq!(m.actor, "ops");
        assert_eq!(m.action, "node.maintenance");
        assert_eq!(m.before.as_ref().unwrap()["maintenance"], false);
        assert_eq!(m.after.as_ref().unwrap()["maintenance"], true);
        assert_eq!(m.after.as_ref().unwrap()["maintenance_reason"], "PSU swap");
        let n1 = inv
            .audit_log(&AuditFilter {
                node: Some("n01".into()),
                ..AuditFilter::default()
            })
            .await
            .unwrap();
        assert_eq!(n1.len(), 1);
        assert_eq!(
            n1[0].detail.as_deref(),
            Some("enroll → verifying → manageable → inspecting → available")
        );
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[tokio::test]
async fn credentials_are_sealed_at_rest_open_for_the_engine_and_rotate_to_a_new_key() {
    use sqlx::Connection as _;
    for db in common::backends().await {
        let inv = open(&db.url).await;
        enroll_many(&inv, "n", 2, "Dell Inc.", "x86_64", 32, 256.0).await;
        inv.put_switch(&SwitchRegistration {
            name: "tor1".into(),
            driver: "cisco_ios".into(),
            address: "127.0.0.1:2222".into(),
            username: "admin".into(),
            password: Secret::new("switch-s3cret"),
            enable_password: Some(Secret::new("enable-s3cret")),
            rack: None,
        })
        .await
        .unwrap();
        // What the database holds: no password in clear anywhere.
        sqlx::any::install_default_drivers();
        let connect = if db.backend == "sqlite" {
            format!("{}?mode=ro", db.url)
        } else {
            db.url.clone()
        };
        let mut conn = sqlx::AnyConnection::connect(&connect).await.unwrap();
        let dump: Vec<String> = sqlx::query_scalar::<_, String>(
            "SELECT password_sealed FROM nodes UNION ALL SELECT password_sealed FROM switches \
             UNION ALL SELECT enable_password_sealed FROM switches",
        )
        .fetch_all(&mut conn)
        .await
        .unwrap();
        assert_eq!(dump.len(), 4);
        for v in &dump {
            assert!(v.starts_with("bmk1:"), "{v}");
            assert!(!v.contains("s3cret"));
        }
        conn.close().await.ok();
        // The engine opens them.
        let (ep, _) = inv.node_endpoint("n01").await.unwrap();
        assert_eq!(ep.password.expose(), "pw-of-n01-s3cret");
        // Rotation re-seals everything; the old key no longer opens, the new one does.
        let new_text = CredentialsKey::generate().unwrap();
        let new = || CredentialsKey::from_base64(&new_text, "new").unwrap();
        let new_id = new().id().to_string();
        // A deployed host's sealed values: its user data and an image URL with credentials.
        inv.put_project("blue", None, None).await.unwrap();
        inv.create_host(&planner::inventory::NewHost {
            name: "web-1".into(),
            project: Some("blue".into()),
            flavor: None,
            node: Some("n01".into()),
        })
        .await
        .unwrap();
        let image = "http://deploy:img-s3cret@store/os.iso";
        let dep = serde_json::json!({
            "image_url": "http://deploy:***@store/os.iso",
            "image_url_sealed": inv.seal_text("host-image:blue/web-1", image).unwrap(),
            "image_checksum": format!("sha256:{}", "0".repeat(64)),
            "user_data_sealed": inv.seal_text("host:blue/web-1", "#cloud-config s3cret").unwrap(),
        });
        inv.set_host_state("blue", "web-1", "active", Some(&dep), None)
            .await
            .unwrap();
        assert_eq!(inv.rotate_credentials(&new()).await.unwrap(), 6);
        let e = inv.node_endpoint("n01").await.unwrap_err().to_string();
        assert!(e.contains("sealed with key") && e.contains(&new_id), "{e}");
        let rotated = inv.with_key(new());
        let (pw, enable) = rotated.switch_secrets("tor1").await.unwrap();
        assert_eq!(pw.expose(), "switch-s3cret");
        assert_eq!(enable.unwrap().expose(), "enable-s3cret");
        assert_eq!(
            rotated
                .node_endpoint("n02")
                .await
                .unwrap()
                .0
                .password
                .expose(),
            "pw-of-n02-s3cret"
        );
        // The host's values open under the new key: a migration or resume still has them.
        let host = rotated.host("blue", "web-1").await.unwrap();
        let req = planner::host::request_from_record(&rotated, &host, Duration::from_secs(60))
            .unwrap()
            .unwrap();
        assert_eq!(req.image_url, image, "{}", db.backend);
        assert_eq!(req.user_data.as_deref(), Some("#cloud-config s3cret"));
        // Running it again under the new key is a no-op (an interrupted rotation can be re-run).
        assert_eq!(rotated.rotate_credentials(&new()).await.unwrap(), 0);
        // A tenant never reads credentials: members cannot rotate or list nodes.
        let member = rotated.as_actor(Actor::member("alice", "blue"));
        assert!(matches!(
            member.rotate_credentials(&key()).await,
            Err(InventoryError::Forbidden { .. })
        ));
    }
}

#[tokio::test]
async fn a_lease_is_exclusive_until_it_expires_and_then_the_next_runner_takes_over() {
    for db in common::backends().await {
        let inv = open(&db.url).await;
        enroll_many(&inv, "n", 1, "Dell Inc.", "x86_64", 32, 256.0).await;
        let l = inv
            .acquire_lease("n01", "runner-a", "apply", Duration::from_millis(800))
            .await
            .unwrap();
        assert_eq!(l.holder, "runner-a");
        // The holder renews; another runner is refused, told who holds it and until when.
        inv.acquire_lease("n01", "runner-a", "apply", Duration::from_millis(800))
            .await
            .unwrap();
        let e = inv
            .acquire_lease("n01", "runner-b", "apply", Duration::from_secs(60))
            .await
            .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("node n01 is leased by runner-a for apply until "),
            "{e}"
        );
        assert_eq!(inv.leases().await.unwrap().len(), 1);
        // runner-a crashes (never releases); after the expiry runner-b takes over.
        tokio::time::sleep(Duration::from_millis(900)).await;
        let l = inv
            .acquire_lease("n01", "runner-b", "apply", Duration::from_secs(60))
            .await
            .unwrap();
        assert_eq!(l.holder, "runner-b", "{}", db.backend);
        // A renewal by the holder never shortens its lease (a converge run inside a longer host
        // operation), on the node's lease and on a BMC's.
        let renewed = inv
            .acquire_lease("n01", "runner-b", "apply", Duration::from_millis(10))
            .await
            .unwrap();
        assert_eq!(renewed.expires_at, l.expires_at, "{}", db.backend);
        let bmc = "https://bmc-n01:443";
        let d = inv
            .acquire_device_lease(bmc, "n01", "runner-b", "apply", Duration::from_secs(60))
            .await
            .unwrap();
        let again = inv
            .acquire_device_lease(bmc, "n01", "runner-b", "apply", Duration::from_millis(10))
            .await
            .unwrap();
        assert_eq!(again.expires_at, d.expires_at, "{}", db.backend);
        inv.release_device_lease(bmc, "runner-b").await.unwrap();
        // Releasing by someone else is a no-op; by the holder it frees the node.
        inv.release_lease("n01", "runner-a").await.unwrap();
        assert_eq!(inv.leases().await.unwrap().len(), 1);
        inv.release_lease("n01", "runner-b").await.unwrap();
        assert!(inv.leases().await.unwrap().is_empty());

        // Many runners at once: exactly one wins.
        let mut tasks = Vec::new();
        for i in 0..10 {
            let inv = inv.clone();
            tasks.push(tokio::spawn(async move {
                inv.acquire_lease("n01", &format!("r{i}"), "apply", Duration::from_secs(60))
                    .await
                    .is_ok()
            }));
        }
        let mut wins = 0;
        for t in tasks {
            wins += t.await.unwrap() as usize;
        }
        assert_eq!(wins, 1, "{}", db.backend);
    }
}

#[tokio::test]
async fn the_journal_keeps_every_step_event_and_the_last_status_of_each_step() {
    for db in common::backends().await {
        let inv = open(&db.url).await;
        inv.journal("run-1", "n01/bios", Some("n01"), StepStatus::Started, None)
            .await
            .unwrap();
        inv.journal(
            "run-1",
            "n01/bios",
            Some("n01"),
            StepStatus::Succeeded,
            None,
        )
        .await
        .unwrap();
        inv.journal("run-1", "n01/reset", Some("n01"), StepStatus::Started, None)
            .await
            .unwrap();
        inv.journal("run-2", "x", None, StepStatus::Failed, Some("boom"))
            .await
            .unwrap();
        let states = inv.step_states("run-1").await.unwrap();
        assert_eq!(states.len(), 2);
        assert_eq!(states["n01/bios"], StepStatus::Succeeded);
        assert_eq!(states["n01/reset"], StepStatus::Started);
        assert_eq!(inv.journal_of("run-1").await.unwrap().len(), 3);
    }
}

#[tokio::test]
async fn fifty_concurrent_allocations_for_forty_nodes_in_one_process() {
    for db in common::backends().await {
        let inv = open(&db.url).await;
        inv.put_project("p", None, None).await.unwrap();
        inv.put_flavor(&Flavor {
            name: "any".into(),
            ..Flavor::default()
        })
        .await
        .unwrap();
        enroll_many(&inv, "n", 40, "Dell Inc.", "x86_64", 32, 256.0).await;
        let mut tasks = Vec::new();
        for i in 0..50 {
            let inv = inv.clone();
            tasks.push(tokio::spawn(async move {
                inv.create_host(&NewHost {
                    name: format!("h{i}"),
                    project: Some("p".into()),
                    flavor: Some("any".into()),
                    node: None,
                })
                .await
            }));
        }
        let (mut ok, mut no_capacity, mut nodes) = (0, 0, BTreeSet::new());
        for t in tasks {
            match t.await.unwrap() {
                Ok(h) => {
                    ok += 1;
                    assert!(nodes.insert(h.node.unwrap()), "a node was allocated twice");
                }
                Err(InventoryError::NoCapacity { .. }) => no_capacity += 1,
                Err(e) => panic!("{}: {e}", db.backend),
            }
        }
        assert_eq!((ok, no_capacity), (40, 10), "{}", db.backend);
        assert!(inv.check().await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn the_provider_catalog_keeps_networks_profiles_and_node_configuration_and_refuses_removing_what_is_in_use(
) {
    use planner::inventory::NodeConfig;
    use planner::model::{NetworkSpec, PortWant, ProfileLayer};
    for db in common::backends().await {
        let inv = open(&db.url).await;
        enroll_many(&inv, "n", 1, "Dell Inc.", "x86_64", 32, 256.0).await;
        inv.put_switch(&SwitchRegistration {
            name: "tor1".into(),
            driver: "cisco_ios".into(),
            address: "127.0.0.1:2222".into(),
            username: "admin".into(),
            password: Secret::new("pw"),
            enable_password: None,
            rack: Some("r1".into()),
        })
        .await
        .unwrap();
        assert_eq!(
            inv.switch("tor1").await.unwrap().rack.as_deref(),
            Some("r1")
        );
        let prod = NetworkSpec {
            name: "prod".into(),
            vlan: 100,
            mtu: Some(9000),
            role: "tenant".into(),
            subnets: vec![],
        };
        inv.put_network(&prod).await.unwrap();
        assert_eq!(inv.network("prod").await.unwrap(), prod);
        let base = ProfileLayer {
            bios: [("A".to_string(), "1".to_string())].into_iter().collect(),
            ..ProfileLayer::default()
        };
        let web = ProfileLayer {
            template: Some("base".into()),
            ..ProfileLayer::default()
        };
        inv.put_profile("base", &base).await.unwrap();
        inv.put_profile("web", &web).await.unwrap();
        assert_eq!(inv.profile_layer("web").await.unwrap(), web);
        let config = NodeConfig {
            profile: Some("web".into()),
            ports: vec![PortWant {
                switch: "tor1".into(),
                port: "Gi0/1".into(),
                networks: vec!["prod".into()],
                vlans: vec![],
                mac: None,
                pxe: true,
                bond: None,
                bond_mode: None,
            }],
            ca_cert_path: Some("/etc/ca.pem".into()),
            host_override: Some(planner::inventory::HostOverride {
                networks: Some(vec!["prod".into()]),
                profile: Some("base".into()),
            }),
            boot: planner::host::netboot::NodeBoot {
                interface: Some(planner::host::BootInterface::Pxe),
                pxe_mac: Some("52:54:00:23:00:01".into()),
            },
        };
        inv.set_node_config("n01", &config).await.unwrap();
        assert_eq!(inv.node_config("n01").await.unwrap(), config);
        // What is in use cannot be removed, and says by whom.
        for e in [
            inv.delete_network("prod").await.unwrap_err(),
            inv.delete_profile("web").await.unwrap_err(),
            inv.delete_profile("base").await.unwrap_err(),
            inv.delete_switch("tor1").await.unwrap_err(),
        ] {
            assert!(matches!(e, InventoryError::Conflict { .. }), "{e}");
        }
        let e = inv.delete_profile("base").await.unwrap_err().to_string();
        assert!(e.contains("profile web (template)"), "{e}");
        // Once released, they go; every change is audited.
        inv.set_node_config("n01", &NodeConfig::default())
            .await
            .unwrap();
        inv.delete_network("prod").await.unwrap();
        inv.delete_profile("web").await.unwrap();
        inv.delete_profile("base").await.unwrap();
        inv.delete_switch("tor1").await.unwrap();
        assert!(matches!(
            inv.network("prod").await,
            Err(InventoryError::NotFound { .. })
        ));
        let log = inv.audit_log(&AuditFilter::default()).await.unwrap();
        for action in [
            "network.put",
            "profile.put",
            "node.configure",
            "network.delete",
            "profile.delete",
            "switch.delete",
        ] {
            assert!(
                log.iter().any(|e| e.action == action),
                "{action} not audited"
            );
        }
        // A member touches none of it.
        let member = inv.as_actor(Actor::member("alice", "blue"));
        assert!(matches!(
            member.put_network(&prod).await,
            Err(InventoryError::Forbidden { .. })
        ));
    }
}

#[tokio::test]
async fn a_server_enrolled_later_takes_the_profile_for_its_serial_before_one_for_its_slot() {
    for db in common::backends().await {
        let inv = open(&db.url).await;
        let layer = |serials: &[&str], slots: &[&str]| planner::model::ProfileLayer {
            serials: serials.iter().map(|s| s.to_string()).collect(),
            slots: slots.iter().map(|s| s.to_string()).collect(),
            ..planner::model::ProfileLayer::default()
        };
        // "by-slot" is listed first by name, and names the slot both servers report.
        inv.put_profile("a-by-slot", &layer(&[], &["r7/12"]))
            .await
            .unwrap();
        inv.put_profile("b-by-serial", &layer(&["SN-TWICE"], &[]))
            .await
            .unwrap();
        let facts = |uuid: &str, serial: &str, slot: &str| {
            let mut f = hw(uuid, serial, "Dell Inc.", "x86_64", 32, 256.0);
            f.slot = Some(slot.to_string());
            Verification::Inspected(Box::new(f))
        };
        inv.enroll(&reg("twice"), &facts("uuid-1", " sn-twice ", "r7/12"))
            .await
            .unwrap();
        inv.enroll(&reg("placed"), &facts("uuid-2", "SN-OTHER", "R7/12 "))
            .await
            .unwrap();
        assert_eq!(
            inv.node_config("twice").await.unwrap().profile.as_deref(),
            Some("b-by-serial"),
            "a serial names the very server: it wins over a slot ({})",
            db.backend
        );
        assert_eq!(
            inv.node_config("placed").await.unwrap().profile.as_deref(),
            Some("a-by-slot"),
            "{}",
            db.backend
        );
        let took = |h: planner::inventory::NodeHistory| {
            h.events
                .into_iter()
                .filter(|e| e.action == "node.offline_profile")
                .map(|e| e.what)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            took(inv.node_history("twice").await.unwrap()),
            ["took profile b-by-serial, assigned to its serial number sn-twice"]
        );
        assert_eq!(
            took(inv.node_history("placed").await.unwrap()),
            ["took profile a-by-slot, assigned to its slot R7/12"]
        );
    }
}

/// Names are judged by the inventory itself, whichever front end brings them: empty, control
/// characters (a terminal escape), over 253 bytes and surrounding spaces are refused, on both
/// backends, and nothing is recorded.
#[tokio::test]
async fn bad_names_are_refused_by_the_inventory_whatever_the_front_end() {
    for db in common::backends().await {
        let inv = open(&db.url).await;
        let long = "n".repeat(254);
        for bad in ["", "\u{1b}[2Jowned", long.as_str(), " padded"] {
            let e = inv.put_project(bad, None, None).await.unwrap_err();
            assert!(matches!(e, InventoryError::Invalid(_)), "{e}");
            let e = inv
                .enroll(
                    &reg(bad),
                    &Verification::Inspected(Box::new(hw(
                        "U1",
                        "S1",
                        "Dell Inc.",
                        "x86_64",
                        8,
                        64.0,
                    ))),
                )
                .await
                .unwrap_err();
            assert!(e.to_string().starts_with("node: "), "{e}");
        }
        let mut with_password = reg("n1");
        with_password.bmc_url = "https://root:calvin@10.0.0.9".into();
        let e = inv
            .enroll(
                &with_password,
                &Verification::Inspected(Box::new(hw("U2", "S2", "Dell Inc.", "x86_64", 8, 64.0))),
            )
            .await
            .unwrap_err();
        assert!(
            e.to_string().contains("carries a user or password")
                && !e.to_string().contains("calvin"),
            "{e}"
        );
        assert!(inv.nodes(&NodeFilter::default()).await.unwrap().is_empty());
    }
}
