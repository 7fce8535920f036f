//! Benchmarks of the pure rules on their real inputs: parsing the 2026 contract (done on
//! every catalog request) and verifying the SM3 audit chain (done by `audit verify`).
//! Run: `cargo bench -p govcloud-domain`; figures in docs/PERFORMANCE.md.

use chrono::{TimeZone, Utc};
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use govcloud_domain::audit::{next_entry, AuditEntry, AuditEvent, ChainVerifier};
use govcloud_domain::{calendar, catalog};

const CONTRACT: &str = include_str!("../../../catalog/bjggzy-2026.toml");
const CALENDAR: &str = include_str!("../../../catalog/calendar-cn.toml");

fn parse(c: &mut Criterion) {
    let mut g = c.benchmark_group("catalog");
    g.throughput(Throughput::Bytes(CONTRACT.len() as u64));
    g.bench_function("parse bjggzy-2026.toml", |b| {
        b.iter(|| catalog::parse(black_box(CONTRACT)).unwrap())
    });
    g.finish();
}

fn chain(n: usize) -> Vec<AuditEntry> {
    let at = Utc.with_ymd_and_hms(2026, 11, 28, 12, 0, 0).unwrap();
    let mut out: Vec<AuditEntry> = Vec::with_capacity(n);
    for i in 0..n {
        let ev = AuditEvent::new(
            at,
            "admin",
            "user.update",
            &format!("user{i}"),
            r#"{"role":"operator"}"#.into(),
        );
        let prev = out.last().map(|e| (e.seq, e.hash));
        out.push(next_entry(prev, ev));
    }
    out
}

fn verify(c: &mut Criterion) {
    let entries = chain(10_000);
    let head = entries.last().map(|e| (e.seq, e.hash));
    let mut g = c.benchmark_group("audit");
    g.throughput(Throughput::Elements(entries.len() as u64));
    g.bench_function("verify 10k entries", |b| {
        b.iter(|| {
            let mut v = ChainVerifier::default();
            for e in &entries {
                v.feed(black_box(e)).unwrap();
            }
            v.finish(head).unwrap()
        })
    });
    g.finish();
}

fn working_days(c: &mut Criterion) {
    let cal = calendar::parse(CALENDAR).unwrap();
    let start = chrono::NaiveDate::from_ymd_opt(2026, 12, 31).unwrap();
    c.bench_function("calendar/add 15 working days", |b| {
        b.iter(|| cal.add_working_days(black_box(start), 15))
    });
}

/// The status board and the SLA sweep evaluate every open incident's clocks; the monthly
/// report merges every down span of a system's monitors.
fn operations(c: &mut Criterion) {
    use govcloud_domain::ops::{availability, clocks, Down, Event, EventKind, IncidentSeverity};
    let contract = catalog::parse(CONTRACT).unwrap();
    let levels = &contract.packages[2].service_levels; // package 3: three clocks
    let opened = Utc.with_ymd_and_hms(2026, 10, 20, 2, 0, 0).unwrap();
    let events = [
        Event {
            kind: EventKind::Responded,
            at: opened + chrono::Duration::minutes(4),
        },
        Event {
            kind: EventKind::OnsiteRequested,
            at: opened + chrono::Duration::minutes(20),
        },
    ];
    let now = opened + chrono::Duration::minutes(45);
    let mut g = c.benchmark_group("ops");
    g.throughput(Throughput::Elements(1000));
    g.bench_function("clocks of 1000 open incidents", |b| {
        b.iter(|| {
            for _ in 0..1000 {
                black_box(clocks(
                    levels,
                    IncidentSeverity::Fault,
                    opened,
                    black_box(&events),
                    now,
                ));
            }
        })
    });
    let from = Utc.with_ymd_and_hms(2026, 9, 30, 16, 0, 0).unwrap();
    let to = Utc.with_ymd_and_hms(2026, 10, 31, 16, 0, 0).unwrap();
    // 10,000 spans of 2 minutes every 4 minutes over the month, some overlapping (two
    // monitors), a tenth planned.
    let downs: Vec<Down> = (0..10_000i64)
        .map(|i| Down {
            start: from + chrono::Duration::minutes(4 * (i / 2) + i % 2),
            end: Some(from + chrono::Duration::minutes(4 * (i / 2) + i % 2 + 2)),
            planned: i % 10 == 0,
        })
        .collect();
    g.throughput(Throughput::Elements(downs.len() as u64));
    g.bench_function("availability over 10k down spans", |b| {
        b.iter(|| availability(from, to, from, black_box(&downs), to))
    });
    g.finish();
}

criterion_group!(benches, parse, verify, working_days, operations);
criterion_main!(benches);
