//! govcloud's server, console and CLI: the only crate that knows HTTP, HTML and JSON.
//!
//! `ops` holds the operations shared by the API, the console and the CLI (so that each
//! is written once and audited the same way); `api` and `console` are the two HTTP faces;
//! `cli` is the command line.

pub mod api;
pub mod app;
pub mod auth;
pub mod cli;
pub mod console;
pub mod crypto;
pub mod error;
pub mod gateway;
pub mod incidents;
pub mod metrics;
pub mod monitors;
pub mod notify;
pub mod ops;
pub mod opsreport;
pub mod payments;
pub mod pki;
pub mod resources;
pub mod statements;

/// The 2026 contract as shipped in `catalog/`, built into the binary so that `--demo` and
/// `catalog show` work from anywhere.
pub const BUNDLED_CONTRACT: &str = include_str!("../../../catalog/bjggzy-2026.toml");
pub const BUNDLED_CONTRACT_NAME: &str = "catalog/bjggzy-2026.toml";
/// The Chinese holiday calendar (see `catalog/calendar-cn.toml`).
pub const CALENDAR: &str = include_str!("../../../catalog/calendar-cn.toml");

/// Make AWS-LC the process's TLS provider (rustls), once. Every TLS client here — reqwest for
/// HTTPS monitors and webhooks, lettre for SMTP, the TLS-certificate monitor — uses the
/// process default; call this before building one (the server, the CLI and the test server
/// do).
pub fn install_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Err means another provider was installed first, which serves as well.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    });
}

/// A time people typed in Beijing wall-clock time: `2026-12-01 08:30`, with seconds, or with
/// a `T` as a browser's `datetime-local` sends it.
pub fn parse_beijing(s: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    use chrono::TimeZone;
    [
        "%Y-%m-%d %H:%M",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%dT%H:%M:%S",
    ]
    .iter()
    .find_map(|f| chrono::NaiveDateTime::parse_from_str(s.trim(), f).ok())
    .and_then(|n| chrono_tz::Asia::Shanghai.from_local_datetime(&n).single())
    .map(|t| t.with_timezone(&chrono::Utc))
}

/// The month `YYYY-MM` (Asia/Shanghai) a time falls in: the key of every monthly counter.
pub fn shanghai_month(t: chrono::DateTime<chrono::Utc>) -> String {
    t.with_timezone(&chrono_tz::Asia::Shanghai)
        .format("%Y-%m")
        .to_string()
}

/// A time as shown to people: Asia/Shanghai, to the second.
pub fn shanghai_time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.with_timezone(&chrono_tz::Asia::Shanghai)
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// Today's date in Beijing (Asia/Shanghai): the `today` of payment due dates.
pub fn shanghai_date(t: chrono::DateTime<chrono::Utc>) -> chrono::NaiveDate {
    t.with_timezone(&chrono_tz::Asia::Shanghai).date_naive()
}

#[cfg(test)]
mod tests {
    #[test]
    fn beijing_times_are_eight_hours_ahead() {
        let want = "2026-11-30T16:30:00Z";
        for s in [
            "2026-12-01 00:30",
            "2026-12-01 00:30:00",
            "2026-12-01T00:30",
            " 2026-12-01T00:30:00 ",
        ] {
            assert_eq!(
                super::parse_beijing(s).map(crate::api::utc).as_deref(),
                Some(want),
                "{s}"
            );
        }
        for s in ["", "2026-12-01", "tomorrow", "2026-13-01 00:00"] {
            assert_eq!(super::parse_beijing(s), None, "{s}");
        }
    }
}
