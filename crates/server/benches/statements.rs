//! Statement generation at scale (issue 7): 10,000 resources with a year of monthly
//! resizes (130,000 resource events) and per-occurrence work in an SQLite store, then each
//! month of 2026 generated for all packages and systems — read from the usage store as a
//! stream, rated, rendered to canonical JSON, SM2-signed, timestamped and stored — and a
//! re-run of a month (nothing changes: build and compare only).
//!
//! `cargo bench -p govcloud --bench statements` (GOVCLOUD_BENCH_RESOURCES overrides the
//! 10,000). Figures are recorded in docs/PERFORMANCE.md.

use std::sync::Arc;
use std::time::Instant;

use chrono::{TimeZone, Utc};
use chrono_tz::Asia::Shanghai;
use govcloud::ops::{self, Ctx};
use govcloud::statements::{self, Request};
use govcloud_domain::audit::AuditEvent;
use govcloud_domain::catalog::Billing;
use govcloud_store::{Occurrence, Resource, ResourceEvent, SqliteStore, Store};

/// Items with room for thousands of 1-GB resources (GB of storage).
const BIG_ITEMS: [&str; 6] = [
    "p1-standard-storage",
    "p1-high-performance-storage",
    "p1-local-backup",
    "p3-standard-storage-business",
    "p4-high-performance-storage",
    "p5-standard-storage",
];

fn bj(y: i32, m: u32, d: u32) -> chrono::DateTime<Utc> {
    Shanghai
        .with_ymd_and_hms(y, m, d, 0, 0, 0)
        .unwrap()
        .with_timezone(&Utc)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let n: usize = std::env::var("GOVCLOUD_BENCH_RESOURCES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    let dir = tempfile::tempdir()?;
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("bench.db")).await?);
    let now = Utc::now();
    let cx = Ctx {
        store: store.as_ref(),
        actor: "bench",
        now,
    };
    ops::load_catalog(cx, govcloud::BUNDLED_CONTRACT).await?;
    let (stored, c) = ops::current_contract(store.as_ref(), None)
        .await?
        .expect("loaded");
    for item in c.items() {
        statements::set_price(
            cx,
            &c,
            &stored.id,
            statements::NewPrice {
                item: item.id.as_str(),
                unit_price: "12.34",
                from: bj(2026, 1, 1),
                source: "manual",
                note: "",
            },
        )
        .await?;
    }
    let provider: Arc<dyn govcloud_crypto::Provider> = Arc::new(
        govcloud_crypto::SoftProvider::new(govcloud_crypto::MasterKey::generate()?),
    );
    let pki =
        govcloud::pki::PkiService::load_or_init(store.as_ref(), provider, "http://127.0.0.1:8080")
            .await?;

    let t = Instant::now();
    let mut events = 0usize;
    for i in 0..n {
        let item_id = BIG_ITEMS[i % BIG_ITEMS.len()];
        let item = c.items().find(|x| x.id.as_str() == item_id).unwrap();
        let system = item
            .system
            .clone()
            .unwrap_or_else(|| c.package(item.package).unwrap().systems[0].clone());
        let id = format!("r{i:05}");
        let start = bj(2026, 1, 1) + chrono::Duration::minutes((i * 37 % 40_000) as i64);
        let r = Resource {
            id: id.clone(),
            contract_id: stored.id.clone(),
            item_id: item_id.to_owned(),
            system_code: system.as_str().to_owned(),
            name: id.clone(),
            quantity: "1".into(),
            spec: "{}".into(),
            host_id: None,
            vcpus: 0,
            engine_ref: None,
            released: false,
            created_at: now,
            created_by: "bench".into(),
        };
        let ev = |seq: i64, kind: &str, q: &str, at| ResourceEvent {
            resource_id: id.clone(),
            seq,
            kind: kind.into(),
            quantity: q.into(),
            effective_at: at,
            recorded_at: now,
            actor: "bench".into(),
            reason: String::new(),
            change_id: None,
        };
        let audit = |action: &str| AuditEvent::new(now, "bench", action, &id, "{}".into());
        store
            .create_resource(&r, &ev(1, "create", "1", start), audit("resource.create"))
            .await?;
        events += 1;
        // A resize in every later month, alternating 2 and 1 GB; every 10th released in December.
        for m in 2..=12u32 {
            let at = bj(2026, m, 1 + (i as u32 % 27)) + chrono::Duration::hours((i % 24) as i64);
            let (kind, q) = if m == 12 && i % 10 == 0 {
                ("release", "0")
            } else {
                ("resize", if m % 2 == 0 { "2" } else { "1" })
            };
            store
                .change_resource(
                    &id,
                    &ev(m as i64, kind, q, at),
                    None,
                    audit("resource.resize"),
                )
                .await?;
            events += 1;
            if kind == "release" {
                break;
            }
        }
        if i % 1000 == 0 {
            eprint!("\rsetup: {i}/{n} resources");
        }
    }
    // Per-occurrence work: every such item, twice a month.
    for item in c.items().filter(|i| i.billing == Billing::PerOccurrence) {
        let system = item
            .system
            .clone()
            .unwrap_or_else(|| c.package(item.package).unwrap().systems[0].clone());
        for m in 1..=12u32 {
            for d in [5u32, 20] {
                store
                    .record_occurrence(
                        &Occurrence {
                            id: format!("o-{}-{m}-{d}", item.id),
                            contract_id: stored.id.clone(),
                            item_id: item.id.as_str().to_owned(),
                            system_code: system.as_str().to_owned(),
                            performed_at: bj(2026, m, d),
                            hosts: 1,
                            note: String::new(),
                            recorded_at: now,
                            recorded_by: "bench".into(),
                        },
                        AuditEvent::new(
                            now,
                            "bench",
                            "occurrence.record",
                            item.id.as_str(),
                            "{}".into(),
                        ),
                    )
                    .await?;
            }
        }
    }
    eprintln!(
        "\rsetup: {n} resources, {events} events in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    // The months of 2026 that have ended (all of them once 2027 begins).
    let ended: Vec<u32> = (1..=12)
        .filter(|&m| statements::parse_month(&format!("2026-{m:02}")).is_ok())
        .filter(|&m| govcloud_domain::rating::month_bounds(2026, m).unwrap().1 <= now)
        .collect();
    println!("month     statements  total (元)          seconds");
    let mut worst = 0f64;
    for &m in &ended {
        let t = Instant::now();
        let out = statements::generate(
            cx,
            &pki,
            &c,
            &stored.id,
            &Request {
                year: 2026,
                month: m,
                package: None,
                system: None,
            },
            |_, _, _| {},
        )
        .await?;
        let secs = t.elapsed().as_secs_f64();
        worst = worst.max(secs);
        let total: rust_decimal::Decimal = out.iter().map(|g| g.statement.total).sum();
        println!(
            "2026-{m:02}   {:>10}  {:>18}  {secs:>7.3}",
            out.len(),
            total
        );
    }
    if let Some(&m) = ended.last() {
        let t = Instant::now();
        let out = statements::generate(
            cx,
            &pki,
            &c,
            &stored.id,
            &Request {
                year: 2026,
                month: m,
                package: None,
                system: None,
            },
            |_, _, _| {},
        )
        .await?;
        assert!(out
            .iter()
            .all(|g| g.outcome == statements::Outcome::Unchanged));
        println!(
            "re-run 2026-{m:02} (unchanged): {:.3} s",
            t.elapsed().as_secs_f64()
        );
    }
    println!("slowest month: {worst:.3} s (goal: under 10 s)");
    Ok(())
}
