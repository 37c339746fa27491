//! IPAM in the inventory, on SQLite and PostgreSQL: static addresses allocated, kept, pinned,
//! refused when taken or exhausted (with nothing half-taken), released, audited; and allocations
//! racing from many connections at once never give one address twice.

mod common;

use std::collections::BTreeSet;

use planner::credentials::CredentialsKey;
use planner::inventory::{AuditFilter, Inventory, InventoryError};
use planner::model::NetworkSpec;
use planner::project::Actor;
use planner::subnet::{subnets_from_attrs, AddressPin};
use serde_json::json;

fn network(name: &str, vlan: u16, subnets: serde_json::Value) -> NetworkSpec {
    let (subnets, errs) = subnets_from_attrs(json!({ "subnet": subnets }).as_object().unwrap());
    assert!(errs.is_empty(), "{errs:?}");
    NetworkSpec {
        name: name.into(),
        vlan,
        mtu: None,
        role: "tenant".into(),
        subnets,
    }
}

async fn open(url: &str) -> Inventory {
    Inventory::open(
        url,
        Actor::admin("ops"),
        Some(CredentialsKey::from_base64(&CredentialsKey::generate().unwrap(), "test").unwrap()),
    )
    .await
    .unwrap()
}

fn texts(a: &[planner::subnet::Allocation]) -> Vec<String> {
    a.iter().map(|a| a.address.to_string()).collect()
}

#[tokio::test]
async fn addresses_are_kept_pinned_refused_when_taken_or_exhausted_and_released_on_both_backends() {
    for db in common::backends().await {
        let inv = open(&db.url).await;
        // .0 network, .1 gateway, .7 broadcast: .2 to .6 are allocatable; and an IPv6 subnet.
        inv.put_network(&network(
            "prod",
            100,
            json!([{"cidr": "10.9.0.0/29", "gateway": "10.9.0.1"}, {"cidr": "fd00:9::/64"}]),
        ))
        .await
        .unwrap();
        let nets = vec!["prod".to_string()];
        let a = inv
            .allocate_addresses("blue", "a", &nets, &[])
            .await
            .unwrap();
        assert_eq!(texts(&a), ["10.9.0.2", "fd00:9::1"], "{}", db.backend);
        // Asked again (a rebuild): the same addresses, nothing new allocated.
        let again = inv
            .allocate_addresses("blue", "a", &nets, &[])
            .await
            .unwrap();
        assert_eq!(again, a);
        // A pin is taken as asked.
        let pin = |addr: &str| AddressPin {
            network: "prod".into(),
            address: addr.parse().unwrap(),
        };
        let b = inv
            .allocate_addresses("blue", "b", &nets, &[pin("10.9.0.5")])
            .await
            .unwrap();
        assert_eq!(texts(&b), ["10.9.0.5", "fd00:9::2"]);
        // Another host pinning it is refused, naming the holder.
        let err = inv
            .allocate_addresses("blue", "c", &nets, &[pin("10.9.0.5")])
            .await
            .unwrap_err();
        assert!(
            matches!(&err, InventoryError::Conflict { detail } if detail.contains("held by host blue/b")),
            "{err}"
        );
        // The gateway cannot be pinned.
        let err = inv
            .allocate_addresses("blue", "c", &nets, &[pin("10.9.0.1")])
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("is the gateway of 10.9.0.0/29"),
            "{err}"
        );
        for h in ["d", "e", "f"] {
            inv.allocate_addresses("blue", h, &nets, &[]).await.unwrap();
        }
        // Full: refused, and the host holds nothing (its IPv6 address was not half-taken).
        let err = inv
            .allocate_addresses("blue", "g", &nets, &[])
            .await
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("network \"prod\" subnet 10.9.0.0/29 has no free address"),
            "{err}"
        );
        assert!(inv.host_addresses("blue", "g").await.unwrap().is_empty());
        let held: Vec<String> = inv
            .addresses(Some("prod"))
            .await
            .unwrap()
            .iter()
            .filter(|r| !r.address.contains(':'))
            .map(|r| format!("{}={}", r.host, r.address))
            .collect();
        assert_eq!(
            held,
            [
                "a=10.9.0.2",
                "d=10.9.0.3",
                "e=10.9.0.4",
                "b=10.9.0.5",
                "f=10.9.0.6"
            ]
        );
        let use_ = inv
            .subnet_use(&inv.network("prod").await.unwrap())
            .await
            .unwrap();
        assert_eq!((use_[0].allocated, use_[0].free), (5, 0));
        // A host that leaves the network releases its addresses; the next host gets them.
        inv.allocate_addresses("blue", "a", &[], &[]).await.unwrap();
        let g = inv
            .allocate_addresses("blue", "g", &nets, &[])
            .await
            .unwrap();
        assert_eq!(texts(&g)[0], "10.9.0.2");
        // Every allocation and release is in the audit log.
        let audit = inv.audit_log(&AuditFilter::default()).await.unwrap();
        let n = |a: &str| audit.iter().filter(|e| e.action == a).count();
        assert_eq!(n("address.allocate"), 12, "{}", db.backend);
        assert_eq!(n("address.release"), 2);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_allocations_on_postgresql_for_a_slash_26_give_no_duplicate_address() {
    let Some(db) = common::postgres_db().await else {
        return;
    };
    let inv = open(&db.url).await;
    inv.put_network(&network("tenant", 200, json!([{"cidr": "10.26.0.0/26"}])))
        .await
        .unwrap();
    // Fifty connections of their own, as fifty deploying processes would have, all at once.
    let start = std::sync::Arc::new(tokio::sync::Barrier::new(50));
    let mut tasks = Vec::new();
    for i in 0..50 {
        let url = db.url.clone();
        let start = start.clone();
        tasks.push(tokio::spawn(async move {
            let inv = open(&url).await;
            start.wait().await;
            let got = inv
                .allocate_addresses("blue", &format!("h{i}"), &["tenant".to_string()], &[])
                .await
                .unwrap();
            inv.close().await;
            got
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let distinct: BTreeSet<_> = all.iter().map(|a| a.address).collect();
    assert_eq!(all.len(), 50);
    assert_eq!(distinct.len(), 50, "an address was given twice: {all:?}");
    let stored = inv.addresses(Some("tenant")).await.unwrap();
    assert_eq!(stored.len(), 50);
    // The lowest fifty of the /26 (.1 to .50): allocation queued on the network, none skipped.
    assert_eq!(
        distinct.iter().next_back().unwrap().to_string(),
        "10.26.0.50"
    );
    let u = inv
        .subnet_use(&inv.network("tenant").await.unwrap())
        .await
        .unwrap();
    assert_eq!((u[0].allocated, u[0].free), (50, 12));
}
