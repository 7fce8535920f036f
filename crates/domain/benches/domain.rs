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

criterion_group!(benches, parse, verify, working_days);
criterion_main!(benches);
