//! The store conformance suite: every test runs against SQLite, and against PostgreSQL when
//! `GOVCLOUD_TEST_PG` holds a server URL (each run gets a fresh schema there). `.ci/run`
//! sets it to this machine's server; without it only SQLite runs and a line says so.

use std::future::Future;
use std::str::FromStr;
use std::sync::Arc;

use chrono::{Duration, TimeZone, Utc};
use govcloud_domain::audit::AuditEvent;
use govcloud_domain::catalog;
use govcloud_domain::role::{Role, UserName};
use govcloud_store::{
    verify_audit, LoadOutcome, NewUser, PgStore, SqliteStore, Store, StoreError, UserChange,
};
use sqlx::postgres::PgConnectOptions;

const CONTRACT: &str = include_str!("../../../catalog/bjggzy-2026.toml");

/// A store plus a raw connection to the same database, for tampering the way an intruder would.
struct Fixture {
    store: Arc<dyn Store>,
    raw: Raw,
    _dir: Option<tempfile::TempDir>,
}

enum Raw {
    Sqlite(sqlx::SqlitePool),
    Pg(sqlx::PgPool),
}

impl Raw {
    async fn exec(&self, sql: &str) {
        match self {
            Raw::Sqlite(p) => {
                sqlx::raw_sql(sql).execute(p).await.unwrap();
            }
            Raw::Pg(p) => {
                sqlx::raw_sql(sql).execute(p).await.unwrap();
            }
        }
    }
}

async fn sqlite() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("govcloud.db");
    let store = SqliteStore::open(&path).await.unwrap();
    let raw = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    Fixture {
        store: Arc::new(store),
        raw: Raw::Sqlite(raw),
        _dir: Some(dir),
    }
}

async fn postgres(url: &str) -> (Fixture, String) {
    let admin = sqlx::PgPool::connect(url).await.unwrap();
    let schema = format!("gc_test_{}_{}", std::process::id(), rand_suffix());
    sqlx::raw_sql(&format!("CREATE SCHEMA {schema}"))
        .execute(&admin)
        .await
        .unwrap();
    let opts = PgConnectOptions::from_str(url)
        .unwrap()
        .options([("search_path", schema.as_str())]);
    let store = PgStore::connect_with(opts.clone()).await.unwrap();
    let raw = sqlx::PgPool::connect_with(opts).await.unwrap();
    let f = Fixture {
        store: Arc::new(store),
        raw: Raw::Pg(raw),
        _dir: None,
    };
    (f, schema)
}

fn rand_suffix() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{nanos}_{}", N.fetch_add(1, Ordering::Relaxed))
}

/// Run one conformance check on every backend available.
async fn on_every_backend<F, Fut>(check: F)
where
    F: Fn(Fixture) -> Fut,
    Fut: Future<Output = ()>,
{
    // The checks borrow only some fields, so the temporary directory is held here.
    let mut f = sqlite().await;
    let dir = f._dir.take();
    check(f).await;
    drop(dir);
    match std::env::var("GOVCLOUD_TEST_PG") {
        Ok(url) if !url.is_empty() => {
            let (f, schema) = postgres(&url).await;
            check(f).await;
            let admin = sqlx::PgPool::connect(&url).await.unwrap();
            sqlx::raw_sql(&format!("DROP SCHEMA {schema} CASCADE"))
                .execute(&admin)
                .await
                .unwrap();
        }
        _ => eprintln!("GOVCLOUD_TEST_PG is not set: PostgreSQL part skipped"),
    }
}

fn ev(action: &str, target: &str) -> AuditEvent {
    AuditEvent::new(Utc::now(), "tester", action, target, "{}".to_owned())
}

fn name(s: &str) -> UserName {
    UserName::parse(s).unwrap()
}

fn new_user(n: &str, role: Role) -> NewUser {
    NewUser {
        name: name(n),
        display_name: format!("{n} 显示名"),
        role,
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned(),
    }
}

async fn chain_ok(store: &dyn Store) -> u64 {
    verify_audit(store).await.unwrap().unwrap()
}

#[tokio::test]
async fn users_are_created_listed_and_changed() {
    on_every_backend(|f| async move {
        let s = f.store.as_ref();
        assert_eq!(s.count_users().await.unwrap(), 0);
        let admin = s
            .create_user(&new_user("admin", Role::Admin), ev("user.create", "admin"))
            .await
            .unwrap();
        assert_eq!(admin.role, Role::Admin);
        let p = s
            .create_user(
                &new_user("采购人甲", Role::Purchaser),
                ev("user.create", "采购人甲"),
            )
            .await
            .unwrap();
        assert!(matches!(
            s.create_user(
                &new_user("admin", Role::Auditor),
                ev("user.create", "admin")
            )
            .await,
            Err(StoreError::Conflict(_))
        ));
        let names: Vec<String> = s
            .list_users()
            .await
            .unwrap()
            .into_iter()
            .map(|u| u.name.to_string())
            .collect();
        assert_eq!(names, ["admin", "采购人甲"]);

        let changed = s
            .update_user(
                &p.name,
                &[UserChange::Role(Role::Operator)],
                ev("user.role", "采购人甲"),
            )
            .await
            .unwrap();
        assert_eq!(changed.role, Role::Operator);
        let secret = s.user_with_secret(&p.name).await.unwrap().unwrap();
        assert!(
            !format!("{secret:?}").contains("argon2"),
            "Debug hides the hash"
        );

        // The last enabled admin can be neither demoted nor disabled; nothing changes.
        let before = chain_ok(s).await;
        for change in [UserChange::Role(Role::Auditor), UserChange::Disabled(true)] {
            assert!(matches!(
                s.update_user(
                    &admin.name,
                    &[UserChange::DisplayName("x".into()), change],
                    ev("user.change", "admin")
                )
                .await,
                Err(StoreError::Conflict(_))
            ));
        }
        let kept = s.user_with_secret(&admin.name).await.unwrap().unwrap().user;
        assert_eq!(
            (kept.role, kept.display_name.as_str()),
            (Role::Admin, "admin 显示名"),
            "all or nothing"
        );
        assert_eq!(
            chain_ok(s).await,
            before,
            "a refused change writes no audit entry"
        );
        assert!(matches!(
            s.update_user(
                &name("nobody"),
                &[UserChange::Disabled(true)],
                ev("user.change", "nobody")
            )
            .await,
            Err(StoreError::NotFound(_))
        ));
        assert_eq!(chain_ok(s).await, 3);
    })
    .await;
}

#[tokio::test]
async fn sessions_expire_and_end_with_the_user() {
    on_every_backend(|f| async move {
        let s = f.store.as_ref();
        s.create_user(&new_user("admin", Role::Admin), ev("user.create", "admin"))
            .await
            .unwrap();
        let u = s
            .create_user(&new_user("ops", Role::Operator), ev("user.create", "ops"))
            .await
            .unwrap();
        let now = Utc::now();
        s.create_session(
            u.id,
            "h1",
            now + Duration::hours(8),
            ev("session.login", "ops"),
        )
        .await
        .unwrap();
        assert_eq!(s.session_user("h1", now).await.unwrap().unwrap().id, u.id);
        assert!(
            s.session_user("h1", now + Duration::hours(9))
                .await
                .unwrap()
                .is_none(),
            "expired"
        );
        assert!(s.session_user("nope", now).await.unwrap().is_none());
        assert!(s
            .delete_session("h1", ev("session.logout", "ops"))
            .await
            .unwrap());
        assert!(!s
            .delete_session("h1", ev("session.logout", "ops"))
            .await
            .unwrap());
        assert!(s.session_user("h1", now).await.unwrap().is_none());

        s.create_session(
            u.id,
            "h2",
            now + Duration::hours(8),
            ev("session.login", "ops"),
        )
        .await
        .unwrap();
        s.update_user(
            &u.name,
            &[UserChange::Disabled(true)],
            ev("user.disable", "ops"),
        )
        .await
        .unwrap();
        assert!(
            s.session_user("h2", now).await.unwrap().is_none(),
            "disabling ends sessions"
        );
        chain_ok(s).await;
    })
    .await;
}

#[tokio::test]
async fn api_tokens_work_until_revoked() {
    on_every_backend(|f| async move {
        let s = f.store.as_ref();
        let u = s
            .create_user(&new_user("app", Role::Operator), ev("user.create", "app"))
            .await
            .unwrap();
        let t = s
            .create_api_token(u.id, "ci", "gct_abcd", "th1", ev("token.create", "app"))
            .await
            .unwrap();
        assert_eq!(s.token_user("th1").await.unwrap().unwrap().id, u.id);
        assert_eq!(s.list_api_tokens(u.id).await.unwrap(), vec![t.clone()]);
        let revoked = s
            .revoke_api_token(u.id, t.id, ev("token.revoke", "app"))
            .await
            .unwrap();
        assert!(revoked.revoked_at.is_some());
        assert!(s.token_user("th1").await.unwrap().is_none());
        assert!(matches!(
            s.revoke_api_token(u.id, t.id, ev("token.revoke", "app"))
                .await,
            Err(StoreError::NotFound(_))
        ));
    })
    .await;
}

#[tokio::test]
async fn contract_loads_idempotently() {
    on_every_backend(|f| async move {
        let s = f.store.as_ref();
        let c = catalog::parse(CONTRACT).unwrap();
        assert_eq!(
            s.load_contract(&c, CONTRACT, "fp1", ev("catalog.load", &c.id))
                .await
                .unwrap(),
            LoadOutcome::Created
        );
        assert_eq!(
            s.load_contract(&c, CONTRACT, "fp1", ev("catalog.load", &c.id))
                .await
                .unwrap(),
            LoadOutcome::Unchanged
        );
        assert_eq!(
            chain_ok(s).await,
            1,
            "an unchanged load writes no audit entry"
        );
        let stored = s.current_contract().await.unwrap().unwrap();
        assert_eq!(
            (stored.id.as_str(), stored.source.as_str()),
            (c.id.as_str(), CONTRACT)
        );

        let edited = CONTRACT.replacen("quantity = \"392\"", "quantity = \"400\"", 1);
        let c2 = catalog::parse(&edited).unwrap();
        assert_eq!(
            s.load_contract(&c2, &edited, "fp2", ev("catalog.load", &c.id))
                .await
                .unwrap(),
            LoadOutcome::Replaced
        );
        assert_eq!(
            s.current_contract().await.unwrap().unwrap().fingerprint,
            "fp2"
        );
        assert_eq!(chain_ok(s).await, 2);

        // Exact decimals survive on both backends: 9.6 TFLOP stays 9.6.
        let q = match &f.raw {
            Raw::Sqlite(p) => sqlx::query_scalar::<_, String>(
                "SELECT quantity FROM catalog_items WHERE id = 'p5-ai-fp16'",
            )
            .fetch_one(p)
            .await
            .unwrap(),
            Raw::Pg(p) => sqlx::query_scalar::<_, String>(
                "SELECT quantity::text FROM catalog_items WHERE id = 'p5-ai-fp16'",
            )
            .fetch_one(p)
            .await
            .unwrap(),
        };
        assert_eq!(q.trim_end_matches('0').trim_end_matches('.'), "9.6");
        let n = match &f.raw {
            Raw::Sqlite(p) => sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM catalog_items")
                .fetch_one(p)
                .await
                .unwrap(),
            Raw::Pg(p) => sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM catalog_items")
                .fetch_one(p)
                .await
                .unwrap(),
        };
        assert_eq!(n, 100);
    })
    .await;
}

#[tokio::test]
async fn concurrent_appends_keep_one_chain() {
    on_every_backend(|f| async move {
        let mut tasks = Vec::new();
        for i in 0..24 {
            let s = f.store.clone();
            tasks.push(tokio::spawn(async move {
                s.append_audit(ev("test.append", &format!("t{i}")))
                    .await
                    .unwrap()
            }));
        }
        let mut seqs: Vec<i64> = Vec::new();
        for t in tasks {
            seqs.push(t.await.unwrap().seq);
        }
        seqs.sort();
        assert_eq!(seqs, (1..=24).collect::<Vec<_>>());
        assert_eq!(chain_ok(f.store.as_ref()).await, 24);
    })
    .await;
}

#[tokio::test]
async fn audit_rows_cannot_be_changed_through_sql_and_tampering_is_named() {
    on_every_backend(|f| async move {
        let s = f.store.as_ref();
        let at = Utc.with_ymd_and_hms(2026, 11, 28, 8, 0, 0).unwrap();
        for i in 0..5 {
            s.append_audit(AuditEvent::new(
                at,
                "admin",
                "test.event",
                &format!("n{i}"),
                "{}".into(),
            ))
            .await
            .unwrap();
        }
        // The table refuses edits outright…
        let refused = match &f.raw {
            Raw::Sqlite(p) => sqlx::query("UPDATE audit_log SET actor = 'x' WHERE seq = 3")
                .execute(p)
                .await
                .is_err(),
            Raw::Pg(p) => sqlx::query("UPDATE audit_log SET actor = 'x' WHERE seq = 3")
                .execute(p)
                .await
                .is_err(),
        };
        assert!(refused, "the append-only trigger refuses an UPDATE");
        // …so an intruder drops the trigger first; the chain still tells.
        match &f.raw {
            Raw::Sqlite(_) => {
                f.raw
                    .exec("DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete;")
                    .await
            }
            Raw::Pg(_) => {
                f.raw
                    .exec("DROP TRIGGER audit_log_no_change ON audit_log;")
                    .await
            }
        }
        f.raw
            .exec("UPDATE audit_log SET actor = 'intruder' WHERE seq = 3")
            .await;
        let brk = verify_audit(s).await.unwrap().unwrap_err();
        assert_eq!(brk.seq, 3, "{brk}");
        assert!(brk.reason.contains("edited"), "{brk}");
        f.raw
            .exec("UPDATE audit_log SET actor = 'admin' WHERE seq = 3")
            .await;
        assert_eq!(chain_ok(s).await, 5);

        f.raw.exec("DELETE FROM audit_log WHERE seq = 5").await;
        let brk = verify_audit(s).await.unwrap().unwrap_err();
        assert_eq!(
            brk.seq, 5,
            "removing the newest entry shows against the head: {brk}"
        );

        f.raw.exec("DELETE FROM audit_log WHERE seq = 2").await;
        let brk = verify_audit(s).await.unwrap().unwrap_err();
        assert_eq!(brk.seq, 3, "{brk}");
    })
    .await;
}

fn version(blob: &[u8], public: Option<&str>) -> govcloud_store::NewKeyVersion {
    govcloud_store::NewKeyVersion {
        wrapped: blob.to_vec(),
        public_key: public.map(str::to_owned),
    }
}

#[tokio::test]
async fn apps_and_their_keys() {
    use govcloud_store::{KeyState, NewApp, UsageKey};
    on_every_backend(|f| async move {
        let s = f.store.as_ref();
        let app = |id: &str, name: &str, th: &str| NewApp {
            id: id.into(),
            name: name.into(),
            system_code: Some("jypt".into()),
            token_hash: th.into(),
        };
        let a = s
            .create_app(&app("app_a", "交易平台", "ta"), ev("app.create", "app_a"))
            .await
            .unwrap();
        s.create_app(&app("app_b", "专家库", "tb"), ev("app.create", "app_b"))
            .await
            .unwrap();
        assert!(matches!(
            s.create_app(&app("app_c", "交易平台", "tc"), ev("app.create", "x"))
                .await,
            Err(StoreError::Conflict(_))
        ));
        assert_eq!(s.app_by_token("ta").await.unwrap().unwrap().id, a.id);
        assert_eq!(s.list_apps().await.unwrap().len(), 2);

        let k = s
            .create_key(
                "app_a",
                "key_1",
                "sm2-sign",
                "签名",
                &version(b"wrapped-1", Some("04ab")),
                ev("key.create", "key_1"),
            )
            .await
            .unwrap();
        assert_eq!((k.current_version, k.state), (1, KeyState::Active));
        assert!(
            s.key("app_b", "key_1").await.unwrap().is_none(),
            "keys belong to their app"
        );
        let k = s
            .rotate_key(
                "app_a",
                "key_1",
                &version(b"wrapped-2", Some("04cd")),
                ev("key.rotate", "key_1"),
            )
            .await
            .unwrap();
        assert_eq!(k.current_version, 2);
        let (_, versions) = s.key("app_a", "key_1").await.unwrap().unwrap();
        let got: Vec<(i32, Option<Vec<u8>>)> = versions
            .iter()
            .map(|v| (v.version, v.wrapped.clone()))
            .collect();
        assert_eq!(
            got,
            vec![
                (2, Some(b"wrapped-2".to_vec())),
                (1, Some(b"wrapped-1".to_vec()))
            ]
        );
        assert!(
            !format!("{versions:?}").contains("wrapped-2"),
            "Debug hides blobs"
        );

        s.set_key_state(
            "app_a",
            "key_1",
            KeyState::Disabled,
            ev("key.disable", "key_1"),
        )
        .await
        .unwrap();
        assert!(matches!(
            s.rotate_key(
                "app_a",
                "key_1",
                &version(b"w3", None),
                ev("key.rotate", "key_1")
            )
            .await,
            Err(StoreError::Conflict(_))
        ));
        let k = s
            .set_key_state(
                "app_a",
                "key_1",
                KeyState::Destroyed,
                ev("key.destroy", "key_1"),
            )
            .await
            .unwrap();
        assert_eq!(k.state, KeyState::Destroyed);
        let (_, versions) = s.key("app_a", "key_1").await.unwrap().unwrap();
        assert!(
            versions
                .iter()
                .all(|v| v.wrapped.is_none() && v.public_key.is_some()),
            "destroyed: material gone, public keys kept"
        );
        assert!(matches!(
            s.set_key_state(
                "app_a",
                "key_1",
                KeyState::Active,
                ev("key.enable", "key_1")
            )
            .await,
            Err(StoreError::Conflict(_))
        ));
        assert!(matches!(
            s.set_key_state(
                "app_b",
                "key_1",
                KeyState::Disabled,
                ev("key.disable", "key_1")
            )
            .await,
            Err(StoreError::NotFound(_))
        ));

        let u = |op: &str| UsageKey {
            app_id: "app_a".into(),
            key_id: "key_1".into(),
            month: "2026-11".into(),
            operation: op.into(),
        };
        s.add_usage(&[(u("sign"), 3), (u("verify"), 1)])
            .await
            .unwrap();
        s.add_usage(&[(u("sign"), 2)]).await.unwrap();
        let usage = s.usage(Some("app_a")).await.unwrap();
        assert_eq!(usage, vec![(u("sign"), 5), (u("verify"), 1)]);
        assert!(s.usage(Some("app_b")).await.unwrap().is_empty());

        s.set_app_disabled("app_a", true, ev("app.disable", "app_a"))
            .await
            .unwrap();
        assert!(s.app_by_token("ta").await.unwrap().is_none());
        assert_eq!(chain_ok(s).await, 7, "refused changes wrote nothing");
    })
    .await;
}

#[tokio::test]
async fn pki_records_revocation_crl_numbers_challenges_and_timestamps() {
    use chrono::{Duration, Utc};
    use govcloud_store::{CertRecord, InventoryItem, PkiKey, StoreError, TsaRecord};
    on_every_backend(|f| async move {
        let s = f.store.as_ref();
        let now = Utc::now();
        let cert = |serial: &str, key: Option<&str>| CertRecord {
            serial: serial.into(),
            alg: "sm2".into(),
            profile: if key.is_some() {
                "issuing-ca"
            } else {
                "device"
            }
            .into(),
            subject: "CN=设备,C=CN".into(),
            sans: "ip:10.0.0.1".into(),
            not_before: now,
            not_after: now + Duration::days(365),
            der: vec![0x30, 0x00],
            key_id: key.map(str::to_owned),
            request_id: "req_1".into(),
            renews: None,
            revoked_at: None,
            reason: None,
            created_at: now,
            created_by: "test".into(),
        };
        let key = PkiKey {
            id: "sm2-issuing".into(),
            kind: "sm2-sign".into(),
            wrapped: vec![1, 2, 3],
            created_at: now,
        };
        s.pki_setup(
            std::slice::from_ref(&key),
            &[cert("aa", Some("sm2-issuing"))],
            ev("pki.setup", "pki"),
        )
        .await
        .unwrap();
        // A second setup (another node starting) conflicts and changes nothing.
        assert!(matches!(
            s.pki_setup(&[key], &[], ev("pki.setup", "pki")).await,
            Err(StoreError::Conflict(_))
        ));
        assert_eq!(s.pki_keys().await.unwrap()[0].wrapped, vec![1, 2, 3]);
        s.insert_certificates(&[cert("bb", None)], ev("pki.issue", "req_1"))
            .await
            .unwrap();
        assert!(matches!(
            s.insert_certificates(&[cert("bb", None)], ev("pki.issue", "req_2"))
                .await,
            Err(StoreError::Conflict(_))
        ));
        let r = s
            .revoke_certificate("bb", now, 1, ev("pki.revoke", "bb"))
            .await
            .unwrap();
        assert_eq!((r.revoked(), r.reason), (true, Some(1)));
        assert!(matches!(
            s.revoke_certificate("bb", now, 1, ev("pki.revoke", "bb"))
                .await,
            Err(StoreError::Conflict(_))
        ));
        assert!(matches!(
            s.revoke_certificate("cc", now, 1, ev("pki.revoke", "cc"))
                .await,
            Err(StoreError::NotFound(_))
        ));
        // CRL numbers never repeat; a CRL is kept only under its own (latest) number.
        let n1 = s.next_crl_number("sm2").await.unwrap();
        let n2 = s.next_crl_number("sm2").await.unwrap();
        assert_eq!((n1, n2), (1, 2));
        let crl = |n: i64| govcloud_store::StoredCrl {
            alg: "sm2".into(),
            number: n,
            this_update: now,
            next_update: now + Duration::hours(24),
            der: vec![n as u8],
        };
        s.save_crl(&crl(1)).await.unwrap();
        assert!(
            s.crl("sm2").await.unwrap().is_none(),
            "an older CRL is not kept"
        );
        s.save_crl(&crl(2)).await.unwrap();
        assert_eq!(s.crl("sm2").await.unwrap().unwrap().der, vec![2]);
        // A challenge is used once, by its app, before it expires.
        s.create_challenge("ch1", "app_a", b"xyz", now + Duration::seconds(120))
            .await
            .unwrap();
        s.create_challenge("ch2", "app_a", b"old", now - Duration::seconds(1))
            .await
            .unwrap();
        assert_eq!(
            s.consume_challenge("ch1", "app_b", now).await.unwrap(),
            None
        );
        assert_eq!(
            s.consume_challenge("ch1", "app_a", now).await.unwrap(),
            Some(b"xyz".to_vec())
        );
        assert_eq!(
            s.consume_challenge("ch1", "app_a", now).await.unwrap(),
            None
        );
        assert_eq!(
            s.consume_challenge("ch2", "app_a", now).await.unwrap(),
            None
        );
        assert_eq!(s.purge_challenges(now).await.unwrap(), 1);
        // Timestamp serials increase.
        let t = TsaRecord {
            serial: 0,
            alg: "sm2".into(),
            app_id: "app_a".into(),
            gen_time: now,
            hash_alg: "1.2.156.10197.1.401".into(),
            imprint: "00".into(),
        };
        let a = s.record_timestamp(&t).await.unwrap();
        let b = s.record_timestamp(&t).await.unwrap();
        assert!(b > a);
        s.set_timestamp_token(b, &[9, 9]).await.unwrap();
        assert_eq!(s.timestamp(b).await.unwrap().unwrap().1, Some(vec![9, 9]));
        assert_eq!(s.count_timestamps().await.unwrap(), 2);
        // Inventory.
        let item = InventoryItem {
            id: "usbkey-1".into(),
            kind: "usbkey".into(),
            label: "1".into(),
            assigned_to: None,
            assigned_at: None,
            created_at: now,
        };
        s.add_inventory(
            std::slice::from_ref(&item),
            ev("pki.inventory.add", "usbkey"),
        )
        .await
        .unwrap();
        let got = s
            .assign_inventory(
                "usbkey-1",
                Some("张三"),
                now,
                ev("pki.inventory.assign", "usbkey-1"),
            )
            .await
            .unwrap();
        assert_eq!(got.assigned_to.as_deref(), Some("张三"));
        assert!(s
            .assign_inventory("nope", None, now, ev("x", "y"))
            .await
            .is_err());
        assert_eq!(chain_ok(s).await, 5);
    })
    .await;
}

#[tokio::test]
async fn gateway_policy_rules_limits_and_credentials() {
    use govcloud_store::{AppLimit, AppRule, NewApp};
    on_every_backend(|f| async move {
        let s = f.store.as_ref();
        let at = Utc.with_ymd_and_hms(2026, 11, 28, 8, 0, 0).unwrap();
        for (id, name, th) in [("app_a", "交易平台", "ta"), ("app_b", "专家库", "tb")] {
            let a = NewApp {
                id: id.into(),
                name: name.into(),
                system_code: None,
                token_hash: th.into(),
            };
            s.create_app(&a, ev("app.create", id)).await.unwrap();
        }
        s.set_app_disabled("app_b", true, ev("app.disable", "app_b"))
            .await
            .unwrap();
        let mut base = chain_ok(s).await;
        assert_eq!(base, 3);

        // Credentials: every app, the disabled one too, with its hash.
        let mut creds: Vec<(String, String, bool)> = s
            .app_credentials()
            .await
            .unwrap()
            .into_iter()
            .map(|(h, a)| (h, a.id, a.disabled))
            .collect();
        creds.sort();
        assert_eq!(
            creds,
            vec![
                ("ta".into(), "app_a".into(), false),
                ("tb".into(), "app_b".into(), true)
            ]
        );
        let rotated = s
            .rotate_app_token("app_a", "ta2", ev("app.rotate", "app_a"))
            .await
            .unwrap();
        assert_eq!(rotated.id, "app_a");
        assert!(s.app_by_token("ta").await.unwrap().is_none(), "old token");
        assert_eq!(s.app_by_token("ta2").await.unwrap().unwrap().id, "app_a");
        assert!(matches!(
            s.rotate_app_token("nope", "tx", ev("app.rotate", "nope"))
                .await,
            Err(StoreError::NotFound(_))
        ));
        base += 1;
        assert_eq!(chain_ok(s).await, base);

        // Rules: added once, removed once, never for an unknown app.
        let rule = |app: &str, op: &str, key: &str| AppRule {
            app_id: app.into(),
            operation: op.into(),
            key_id: key.into(),
            created_at: at,
            created_by: "tester".into(),
        };
        assert!(s
            .add_app_rule(&rule("app_a", "sign", "key_1"), ev("gw.rule.add", "app_a"))
            .await
            .unwrap());
        assert!(s
            .add_app_rule(&rule("app_a", "*", "*"), ev("gw.rule.add", "app_a"))
            .await
            .unwrap());
        assert!(s
            .add_app_rule(&rule("app_b", "verify", "*"), ev("gw.rule.add", "app_b"))
            .await
            .unwrap());
        assert!(
            !s.add_app_rule(&rule("app_a", "sign", "key_1"), ev("gw.rule.add", "app_a"))
                .await
                .unwrap(),
            "a duplicate rule is no change"
        );
        assert!(matches!(
            s.add_app_rule(&rule("ghost", "sign", "*"), ev("gw.rule.add", "ghost"))
                .await,
            Err(StoreError::NotFound(_))
        ));
        base += 3;
        assert_eq!(chain_ok(s).await, base);
        assert_eq!(
            s.app_rules().await.unwrap(),
            vec![
                rule("app_a", "*", "*"),
                rule("app_a", "sign", "key_1"),
                rule("app_b", "verify", "*")
            ]
        );
        assert!(s
            .remove_app_rule("app_a", "sign", "key_1", ev("gw.rule.remove", "app_a"))
            .await
            .unwrap());
        assert!(!s
            .remove_app_rule("app_a", "sign", "key_1", ev("gw.rule.remove", "app_a"))
            .await
            .unwrap());
        base += 1;
        assert_eq!(chain_ok(s).await, base);
        assert_eq!(s.app_rules().await.unwrap().len(), 2);

        // Limits: set, replaced in place, removed once.
        let limit = |op: &str, rps: f64, burst: i64| AppLimit {
            app_id: "app_a".into(),
            operation: op.into(),
            rps,
            burst,
            updated_at: at,
            updated_by: "tester".into(),
        };
        s.set_app_limit(&limit("*", 50.0, 100), ev("gw.limit.set", "app_a"))
            .await
            .unwrap();
        s.set_app_limit(&limit("sign", 0.5, 1), ev("gw.limit.set", "app_a"))
            .await
            .unwrap();
        s.set_app_limit(&limit("sign", 2.5, 5), ev("gw.limit.set", "app_a"))
            .await
            .unwrap();
        assert!(matches!(
            s.set_app_limit(
                &AppLimit {
                    app_id: "ghost".into(),
                    ..limit("*", 1.0, 1)
                },
                ev("gw.limit.set", "ghost")
            )
            .await,
            Err(StoreError::NotFound(_))
        ));
        assert_eq!(
            s.app_limits().await.unwrap(),
            vec![limit("*", 50.0, 100), limit("sign", 2.5, 5)]
        );
        assert!(s
            .remove_app_limit("app_a", "*", ev("gw.limit.remove", "app_a"))
            .await
            .unwrap());
        assert!(!s
            .remove_app_limit("app_a", "*", ev("gw.limit.remove", "app_a"))
            .await
            .unwrap());
        assert_eq!(s.app_limits().await.unwrap(), vec![limit("sign", 2.5, 5)]);
        base += 4;
        assert_eq!(chain_ok(s).await, base, "only real changes are audited");
    })
    .await;
}

#[tokio::test]
async fn gateway_nodes_replicas_and_call_counts() {
    use govcloud_store::{CallKey, GatewayReplica, NodeState};
    on_every_backend(|f| async move {
        let s = f.store.as_ref();
        let t0 = Utc.with_ymd_and_hms(2026, 11, 28, 8, 0, 0).unwrap();
        let t1 = t0 + Duration::minutes(5);
        let t2 = t0 + Duration::minutes(10);
        let n1 = "http://10.0.0.5:8080";
        let n2 = "http://10.0.0.6:8080";

        // Nodes: added active; adding an active node again is no change.
        let (node, added) = s
            .add_gateway_node(n2, t0, "admin", ev("gw.node.add", n2))
            .await
            .unwrap();
        assert!(added);
        assert_eq!(
            (
                node.state,
                node.added_at,
                node.changed_at,
                node.added_by.as_str()
            ),
            (NodeState::Active, t0, t0, "admin")
        );
        s.add_gateway_node(n1, t0, "admin", ev("gw.node.add", n1))
            .await
            .unwrap();
        let (again, added) = s
            .add_gateway_node(n1, t1, "other", ev("gw.node.add", n1))
            .await
            .unwrap();
        assert!(!added);
        assert_eq!((again.changed_at, again.added_by.as_str()), (t0, "admin"));
        assert_eq!(chain_ok(s).await, 2);

        // Draining, then re-adding makes it active again.
        let drained = s
            .set_gateway_node_state(n1, NodeState::Draining, t1, ev("gw.node.drain", n1))
            .await
            .unwrap();
        assert_eq!(
            (drained.state, drained.changed_at),
            (NodeState::Draining, t1)
        );
        assert!(matches!(
            s.set_gateway_node_state(
                "http://nowhere:1",
                NodeState::Draining,
                t1,
                ev("gw.node.drain", "x")
            )
            .await,
            Err(StoreError::NotFound(_))
        ));
        let (back, added) = s
            .add_gateway_node(n1, t2, "other", ev("gw.node.add", n1))
            .await
            .unwrap();
        assert!(added, "a draining node becomes active again");
        assert_eq!(
            (
                back.state,
                back.added_at,
                back.changed_at,
                back.added_by.as_str()
            ),
            (NodeState::Active, t0, t2, "admin")
        );
        let urls: Vec<(String, NodeState)> = s
            .gateway_nodes()
            .await
            .unwrap()
            .into_iter()
            .map(|n| (n.url, n.state))
            .collect();
        assert_eq!(
            urls,
            vec![
                (n1.into(), NodeState::Active),
                (n2.into(), NodeState::Active)
            ]
        );
        assert!(s
            .remove_gateway_node(n2, ev("gw.node.remove", n2))
            .await
            .unwrap());
        assert!(!s
            .remove_gateway_node(n2, ev("gw.node.remove", n2))
            .await
            .unwrap());
        assert_eq!(s.gateway_nodes().await.unwrap().len(), 1);
        assert_eq!(chain_ok(s).await, 5, "only real changes are audited");

        // Replicas: saved again replaces; only recently seen ones are listed.
        let replica = |id: &str, seen, stats: &str| GatewayReplica {
            id: id.into(),
            listen: "0.0.0.0:9443".into(),
            started_at: t0,
            seen_at: seen,
            stats: stats.into(),
        };
        s.save_gateway_replica(&replica("gw-b", t0, "{}"))
            .await
            .unwrap();
        s.save_gateway_replica(&replica("gw-a", t0, "{}"))
            .await
            .unwrap();
        let fresh = replica("gw-a", t2 + Duration::milliseconds(250), r#"{"ok":3}"#);
        s.save_gateway_replica(&fresh).await.unwrap();
        assert_eq!(
            s.gateway_replicas(t0).await.unwrap(),
            vec![fresh.clone(), replica("gw-b", t0, "{}")]
        );
        assert_eq!(s.gateway_replicas(t1).await.unwrap(), vec![fresh.clone()]);
        assert_eq!(
            s.gateway_replicas(fresh.seen_at).await.unwrap(),
            vec![fresh.clone()],
            "seen_since is inclusive"
        );
        assert!(s
            .gateway_replicas(fresh.seen_at + Duration::milliseconds(1))
            .await
            .unwrap()
            .is_empty());

        // Call counts add up across calls.
        let k = |app: &str, op: &str, outcome: &str| CallKey {
            app_id: app.into(),
            month: "2026-11".into(),
            operation: op.into(),
            outcome: outcome.into(),
        };
        s.add_gateway_calls(&[]).await.unwrap();
        s.add_gateway_calls(&[
            (k("app_a", "sign", "ok"), 3),
            (k("app_a", "sign", "rejected"), 1),
            (k("app_b", "verify", "ok"), 7),
        ])
        .await
        .unwrap();
        s.add_gateway_calls(&[
            (k("app_a", "sign", "ok"), 2),
            (k("app_a", "sign", "error"), 1),
        ])
        .await
        .unwrap();
        assert_eq!(
            s.gateway_calls(Some("app_a")).await.unwrap(),
            vec![
                (k("app_a", "sign", "error"), 1),
                (k("app_a", "sign", "ok"), 5),
                (k("app_a", "sign", "rejected"), 1)
            ]
        );
        assert_eq!(s.gateway_calls(None).await.unwrap().len(), 4);
        assert!(s.gateway_calls(Some("nope")).await.unwrap().is_empty());
        assert_eq!(
            chain_ok(s).await,
            5,
            "replicas and counters are not audited"
        );
    })
    .await;
}

#[tokio::test]
async fn gateway_client_certificate_bindings() {
    use govcloud_store::{CertRecord, NewApp};
    on_every_backend(|f| async move {
        let s = f.store.as_ref();
        let now = Utc.with_ymd_and_hms(2026, 11, 29, 8, 0, 0).unwrap();
        let app = NewApp {
            id: "app_c".into(),
            name: "交易平台".into(),
            system_code: None,
            token_hash: "tc".into(),
        };
        s.create_app(&app, ev("app.create", "app_c")).await.unwrap();
        let cert = CertRecord {
            serial: "1f2e".into(),
            alg: "rsa".into(),
            profile: "server-rsa".into(),
            subject: "CN=jypt".into(),
            sans: "dns:jypt.example".into(),
            not_before: now,
            not_after: now + Duration::days(365),
            der: vec![0x30, 0x00],
            key_id: None,
            request_id: "req_c".into(),
            renews: None,
            revoked_at: None,
            reason: None,
            created_at: now,
            created_by: "test".into(),
        };
        s.insert_certificates(&[cert], ev("pki.issue", "1f2e"))
            .await
            .unwrap();
        let n0 = chain_ok(s).await;
        assert!(s
            .bind_app_cert("app_c", "1f2e", true, ev("app.policy.bind-cert", "app_c"))
            .await
            .unwrap());
        assert!(!s
            .bind_app_cert("app_c", "1f2e", true, ev("app.policy.bind-cert", "app_c"))
            .await
            .unwrap());
        assert_eq!(
            chain_ok(s).await,
            n0 + 1,
            "a repeated binding is not audited"
        );
        assert_eq!(
            s.app_certs().await.unwrap(),
            vec![("app_c".to_owned(), "1f2e".to_owned())]
        );
        for (app, serial) in [("app_x", "1f2e"), ("app_c", "ffff")] {
            assert!(matches!(
                s.bind_app_cert(app, serial, true, ev("app.policy.bind-cert", app))
                    .await,
                Err(StoreError::NotFound(_))
            ));
        }
        assert!(s
            .bind_app_cert(
                "app_c",
                "1f2e",
                false,
                ev("app.policy.unbind-cert", "app_c")
            )
            .await
            .unwrap());
        assert!(!s
            .bind_app_cert(
                "app_c",
                "1f2e",
                false,
                ev("app.policy.unbind-cert", "app_c")
            )
            .await
            .unwrap());
        assert!(s.app_certs().await.unwrap().is_empty());
        assert_eq!(chain_ok(s).await, n0 + 2);
    })
    .await;
}

// --- cloud resources (资源) ---

const CONTRACT_ID: &str = "bjggzy-2026";

async fn load_catalog(s: &dyn Store) {
    let c = catalog::parse(CONTRACT).unwrap();
    s.load_contract(&c, CONTRACT, "fp1", ev("catalog.load", &c.id))
        .await
        .unwrap();
}

/// 2026-03-01 at `h` o'clock UTC (whole seconds: both backends keep them exactly).
fn at(h: u32) -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, h, 0, 0).unwrap()
}

fn resource(id: &str, item: &str, system: &str, quantity: &str) -> govcloud_store::Resource {
    govcloud_store::Resource {
        id: id.to_owned(),
        contract_id: CONTRACT_ID.to_owned(),
        item_id: item.to_owned(),
        system_code: system.to_owned(),
        name: format!("{id} 云主机"),
        quantity: quantity.to_owned(),
        spec: r#"{"arch":"x86","vcpus":4}"#.to_owned(),
        host_id: None,
        vcpus: 0,
        engine_ref: None,
        released: false,
        created_at: at(1),
        created_by: "operator".to_owned(),
    }
}

fn on_host(mut r: govcloud_store::Resource, host: &str, vcpus: i64) -> govcloud_store::Resource {
    r.host_id = Some(host.to_owned());
    r.vcpus = vcpus;
    r
}

fn res_event(kind: &str, quantity: &str, effective: u32) -> govcloud_store::ResourceEvent {
    govcloud_store::ResourceEvent {
        resource_id: String::new(),
        seq: 0,
        kind: kind.to_owned(),
        quantity: quantity.to_owned(),
        effective_at: at(effective),
        recorded_at: at(effective),
        actor: "operator".to_owned(),
        reason: format!("{kind} for the test"),
        change_id: None,
    }
}

async fn create(
    s: &dyn Store,
    r: &govcloud_store::Resource,
) -> Result<govcloud_store::Resource, StoreError> {
    s.create_resource(r, &res_event("create", "", 1), ev("resource.create", &r.id))
        .await
}

async fn change(
    s: &dyn Store,
    id: &str,
    e: govcloud_store::ResourceEvent,
    vcpus: Option<i64>,
) -> Result<govcloud_store::Resource, StoreError> {
    let action = format!("resource.{}", e.kind);
    s.change_resource(id, &e, vcpus, ev(&action, id)).await
}

fn over_contract(r: Result<govcloud_store::Resource, StoreError>) -> [String; 4] {
    match r {
        Err(StoreError::OverContract {
            item,
            contracted,
            allocated,
            requested,
        }) => [item, contracted, allocated, requested],
        other => panic!("expected OverContract, got {other:?}"),
    }
}

async fn usage(s: &dyn Store, item: &str) -> (String, String) {
    let u = s.item_usage(CONTRACT_ID, item).await.unwrap().unwrap();
    assert_eq!(u.item_id, item);
    (u.contracted, u.allocated)
}

fn pair(a: &str, b: &str) -> (String, String) {
    (a.to_owned(), b.to_owned())
}

#[tokio::test]
async fn resources_draw_within_the_contracted_quantity() {
    on_every_backend(|f| async move {
        let s = f.store.as_ref();
        load_catalog(s).await;
        let n0 = chain_ok(s).await;

        // p1-load-balancer: 2 procured. Two fit, a third is refused with the numbers.
        let lb1 = resource("lb1", "p1-load-balancer", "jypt", "1");
        let stored = create(s, &lb1).await.unwrap();
        assert_eq!(stored, lb1, "returned as stored");
        create(s, &resource("lb2", "p1-load-balancer", "jypt", "1.000"))
            .await
            .unwrap();
        assert_eq!(
            s.resource("lb2").await.unwrap().unwrap().0.quantity,
            "1",
            "quantities come back normalized"
        );
        assert_eq!(
            over_contract(create(s, &resource("lb3", "p1-load-balancer", "jypt", "1")).await),
            ["p1-load-balancer", "2", "2", "1"]
        );
        assert_eq!(usage(s, "p1-load-balancer").await, pair("2", "2"));
        assert!(
            s.resource("lb3").await.unwrap().is_none(),
            "a refused resource is not stored"
        );

        // p5-ai-fp16: 9.6 TFLOP, exact decimals on both backends.
        create(s, &resource("ai1", "p5-ai-fp16", "clwx", "4.8"))
            .await
            .unwrap();
        create(s, &resource("ai2", "p5-ai-fp16", "clwx", "4.0"))
            .await
            .unwrap();
        assert_eq!(
            over_contract(create(s, &resource("ai3", "p5-ai-fp16", "clwx", "0.9")).await),
            ["p5-ai-fp16", "9.6", "8.8", "0.9"]
        );
        create(s, &resource("ai3", "p5-ai-fp16", "clwx", "0.8"))
            .await
            .unwrap();
        assert_eq!(usage(s, "p5-ai-fp16").await, pair("9.6", "9.6"));

        // Resizing counts the new quantity instead of the old: up beyond is refused, down
        // is fine, and a release frees the whole quantity.
        assert_eq!(
            over_contract(change(s, "ai2", res_event("resize", "4.1", 2), None).await),
            ["p5-ai-fp16", "9.6", "5.6", "4.1"]
        );
        let ai2 = change(s, "ai2", res_event("resize", "3.50", 2), None)
            .await
            .unwrap();
        assert_eq!((ai2.quantity.as_str(), ai2.released), ("3.5", false));
        assert_eq!(usage(s, "p5-ai-fp16").await, pair("9.6", "9.1"));
        change(s, "ai2", res_event("resize", "4", 3), None)
            .await
            .unwrap();
        let released = change(s, "ai1", res_event("release", "4.8", 4), None)
            .await
            .unwrap();
        assert_eq!(
            (
                released.quantity.as_str(),
                released.released,
                released.vcpus
            ),
            ("0", true, 0)
        );
        assert_eq!(usage(s, "p5-ai-fp16").await, pair("9.6", "4.8"));
        create(s, &resource("ai4", "p5-ai-fp16", "clwx", "4.8"))
            .await
            .unwrap();
        assert_eq!(usage(s, "p5-ai-fp16").await, pair("9.6", "9.6"));

        // History: seq 1, 2, 3, … assigned by the store (the event's own seq is ignored),
        // kind and quantity per step, release at 0.
        let (r, events) = s.resource("ai2").await.unwrap().unwrap();
        assert_eq!(r.quantity, "4");
        let steps: Vec<(String, i64, String, String)> = events
            .iter()
            .map(|e| {
                (
                    e.resource_id.clone(),
                    e.seq,
                    e.kind.clone(),
                    e.quantity.clone(),
                )
            })
            .collect();
        let step =
            |seq: i64, kind: &str, q: &str| ("ai2".to_owned(), seq, kind.to_owned(), q.to_owned());
        assert_eq!(
            steps,
            [
                step(1, "create", "4"),
                step(2, "resize", "3.5"),
                step(3, "resize", "4")
            ]
        );
        assert_eq!(
            events.iter().map(|e| e.effective_at).collect::<Vec<_>>(),
            [at(1), at(2), at(3)]
        );
        assert_eq!(events[1].reason, "resize for the test");
        let (_, ai1_events) = s.resource("ai1").await.unwrap().unwrap();
        assert_eq!(
            ai1_events
                .iter()
                .map(|e| (e.seq, e.kind.as_str(), e.quantity.as_str()))
                .collect::<Vec<_>>(),
            [(1, "create", "4.8"), (2, "release", "0")]
        );

        // An effective time before the last event, a released resource, an unknown kind:
        // Conflict. Equal to the last event is fine.
        assert!(matches!(
            change(s, "ai2", res_event("resize", "3", 2), None).await,
            Err(StoreError::Conflict(_))
        ));
        change(s, "ai2", res_event("resize", "3", 3), None)
            .await
            .unwrap();
        for kind in ["resize", "release"] {
            assert!(matches!(
                change(s, "ai1", res_event(kind, "1", 9), None).await,
                Err(StoreError::Conflict(_))
            ));
        }
        assert!(matches!(
            change(s, "ai2", res_event("create", "1", 9), None).await,
            Err(StoreError::Conflict(_))
        ));
        assert_eq!(s.resource("ai2").await.unwrap().unwrap().1.len(), 4);

        // Unknown things; bad quantities; a duplicate id.
        assert!(matches!(
            change(s, "nope", res_event("resize", "1", 9), None).await,
            Err(StoreError::NotFound(_))
        ));
        assert!(matches!(
            create(s, &resource("x1", "p9-no-such-item", "jypt", "1")).await,
            Err(StoreError::NotFound(_))
        ));
        let mut other_contract = resource("x2", "p1-vcpu", "jypt", "1");
        other_contract.contract_id = "another".into();
        assert!(matches!(
            create(s, &other_contract).await,
            Err(StoreError::NotFound(_))
        ));
        for q in ["0", "-1", "many", "0.0000001"] {
            assert!(
                matches!(
                    create(s, &resource("x3", "p1-vcpu", "jypt", q)).await,
                    Err(StoreError::Conflict(_))
                ),
                "quantity {q}"
            );
        }
        assert!(matches!(
            create(s, &resource("lb1", "p1-vcpu", "jypt", "1")).await,
            Err(StoreError::Conflict(_))
        ));
        assert!(s.resource("nope").await.unwrap().is_none());

        // Lists: by creation, optionally one system; events by resource, seq.
        let all: Vec<String> = s
            .list_resources(None)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(all.len(), 6);
        assert!(
            all.contains(&"ai1".to_owned()),
            "released ones are listed too"
        );
        let jypt: Vec<String> = s
            .list_resources(Some("jypt"))
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(jypt, ["lb1", "lb2"]);
        let ev_clwx: Vec<(String, i64)> = s
            .resource_events(Some("clwx"))
            .await
            .unwrap()
            .into_iter()
            .map(|e| (e.resource_id, e.seq))
            .collect();
        let want: Vec<(String, i64)> = [
            ("ai1", 1),
            ("ai1", 2),
            ("ai2", 1),
            ("ai2", 2),
            ("ai2", 3),
            ("ai2", 4),
            ("ai3", 1),
            ("ai4", 1),
        ]
        .into_iter()
        .map(|(r, n)| (r.to_owned(), n))
        .collect();
        assert_eq!(ev_clwx, want);
        assert_eq!(s.resource_events(None).await.unwrap().len(), 10);
        assert!(s.resource_events(Some("zjk")).await.unwrap().is_empty());

        // Usage of every item of the contract, by item id; "0" where nothing is drawn.
        let all_usage = s.items_usage(CONTRACT_ID).await.unwrap();
        assert_eq!(all_usage.len(), 100);
        let ids: Vec<&str> = all_usage.iter().map(|u| u.item_id.as_str()).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted);
        let get = |id: &str| {
            let u = all_usage.iter().find(|u| u.item_id == id).unwrap();
            (u.contracted.clone(), u.allocated.clone())
        };
        assert_eq!(get("p1-vcpu"), pair("392", "0"));
        assert_eq!(get("p5-ai-fp16"), pair("9.6", "8.6"));
        assert_eq!(get("p1-load-balancer"), pair("2", "2"));
        assert!(s
            .item_usage(CONTRACT_ID, "p9-none")
            .await
            .unwrap()
            .is_none());
        assert!(s.items_usage("another").await.unwrap().is_empty());

        // Every change was audited (6 creations, 4 changes), nothing refused was.
        assert_eq!(chain_ok(s).await, n0 + 10);
    })
    .await;
}

#[tokio::test]
async fn reloading_the_contract_keeps_its_resources() {
    on_every_backend(|f| async move {
        let s = f.store.as_ref();
        load_catalog(s).await;
        create(s, &resource("vm1", "p1-vcpu", "jypt", "390"))
            .await
            .unwrap();
        let edited = CONTRACT.replacen("quantity = \"392\"", "quantity = \"400\"", 1);
        let c2 = catalog::parse(&edited).unwrap();
        assert_eq!(
            s.load_contract(&c2, &edited, "fp2", ev("catalog.load", CONTRACT_ID))
                .await
                .unwrap(),
            LoadOutcome::Replaced
        );
        assert_eq!(usage(s, "p1-vcpu").await, pair("400", "390"));
        assert_eq!(
            over_contract(create(s, &resource("vm2", "p1-vcpu", "jypt", "11")).await),
            ["p1-vcpu", "400", "390", "11"]
        );
        create(s, &resource("vm2", "p1-vcpu", "jypt", "10"))
            .await
            .unwrap();
        chain_ok(s).await;
    })
    .await;
}

#[tokio::test]
async fn hosts_take_at_most_four_vcpus_per_core() {
    use govcloud_store::PhysicalHost;
    on_every_backend(|f| async move {
        let s = f.store.as_ref();
        load_catalog(s).await;
        let host = |id: &str, name: &str, arch: &str, cores: i64| PhysicalHost {
            id: id.to_owned(),
            name: name.to_owned(),
            arch: arch.to_owned(),
            clock_ghz: "2.60".to_owned(),
            cores,
            created_at: at(0),
        };
        s.add_physical_host(&host("h1", "宿主机-01", "x86", 8), ev("host.add", "h1"))
            .await
            .unwrap();
        s.add_physical_host(&host("h0", "宿主机-00", "arm", 2), ev("host.add", "h0"))
            .await
            .unwrap();
        for bad in [
            host("h1", "other", "x86", 8),
            host("h2", "宿主机-01", "x86", 8),
            host("h3", "h3", "sparc", 8),
            host("h4", "h4", "x86", 0),
        ] {
            assert!(
                matches!(
                    s.add_physical_host(&bad, ev("host.add", &bad.id)).await,
                    Err(StoreError::Conflict(_))
                ),
                "{bad:?}"
            );
        }
        let hosts = s.physical_hosts().await.unwrap();
        assert_eq!(
            hosts
                .iter()
                .map(|(h, n)| (h.id.as_str(), h.clock_ghz.as_str(), h.cores, *n))
                .collect::<Vec<_>>(),
            [("h0", "2.6", 2, 0), ("h1", "2.6", 8, 0)],
            "ordered by name, clock normalized"
        );
        assert_eq!(hosts[1].0, PhysicalHost { clock_ghz: "2.6".into(), ..host("h1", "宿主机-01", "x86", 8) });

        // 8 cores allow 32 vCPUs: 16 + 16 fit exactly, one more is refused.
        let vm = |id: &str, vcpus: i64| on_host(resource(id, "p1-vcpu", "jypt", &vcpus.to_string()), "h1", vcpus);
        create(s, &vm("vm1", 16)).await.unwrap();
        create(s, &vm("vm2", 16)).await.unwrap();
        let refused = create(s, &vm("vm3", 1)).await;
        assert!(
            matches!(
                &refused,
                Err(StoreError::OverCommitted { host, cores: 8, limit: 32, placed: 32, requested: 1 })
                    if host == "h1"
            ),
            "{refused:?}"
        );
        assert!(matches!(
            create(s, &on_host(resource("vm4", "p1-vcpu", "jypt", "1"), "h9", 1)).await,
            Err(StoreError::NotFound(_))
        ));
        assert_eq!(s.physical_hosts().await.unwrap()[1].1, 32);

        // Releasing frees the host; a resize replaces the vCPUs it places.
        change(s, "vm2", res_event("release", "0", 2), Some(99))
            .await
            .unwrap();
        assert_eq!(s.physical_hosts().await.unwrap()[1].1, 16);
        let vm1 = change(s, "vm1", res_event("resize", "32", 2), Some(32))
            .await
            .unwrap();
        assert_eq!((vm1.quantity.as_str(), vm1.vcpus), ("32", 32));
        let refused = change(s, "vm1", res_event("resize", "33", 3), Some(33)).await;
        assert!(
            matches!(
                &refused,
                Err(StoreError::OverCommitted { cores: 8, limit: 32, placed: 0, requested: 33, .. })
            ),
            "{refused:?}"
        );
        assert!(matches!(
            create(s, &vm("vm3", 1)).await,
            Err(StoreError::OverCommitted { placed: 32, requested: 1, .. })
        ));
        // Shrinking and a resize that keeps the vCPUs (None) are fine.
        let vm1 = change(s, "vm1", res_event("resize", "24", 3), Some(24))
            .await
            .unwrap();
        assert_eq!(vm1.vcpus, 24);
        let vm1 = change(s, "vm1", res_event("resize", "20", 4), None)
            .await
            .unwrap();
        assert_eq!((vm1.quantity.as_str(), vm1.vcpus), ("20", 24));
        create(s, &vm("vm3", 8)).await.unwrap();
        assert_eq!(
            s.physical_hosts()
                .await
                .unwrap()
                .into_iter()
                .map(|(h, n)| (h.id, n))
                .collect::<Vec<_>>(),
            [("h0".to_owned(), 0), ("h1".to_owned(), 32)]
        );
        // A resource with no host places nothing and is never refused for placement.
        create(s, &resource("disk", "p1-vcpu", "jypt", "1"))
            .await
            .unwrap();
        chain_ok(s).await;
    })
    .await;
}

#[tokio::test]
async fn service_occurrences_are_recorded() {
    use govcloud_store::Occurrence;
    on_every_backend(|f| async move {
        let s = f.store.as_ref();
        load_catalog(s).await;
        let n0 = chain_ok(s).await;
        let occ = |id: &str, item: &str, system: &str, h: u32, hosts: i64| Occurrence {
            id: id.to_owned(),
            contract_id: CONTRACT_ID.to_owned(),
            item_id: item.to_owned(),
            system_code: system.to_owned(),
            performed_at: at(h),
            hosts,
            note: "季度漏洞扫描".to_owned(),
            recorded_at: at(h + 1),
            recorded_by: "operator".to_owned(),
        };
        let o2 = occ("o2", "p1-host-vuln-scan", "jypt", 5, 12);
        let o1 = occ("o1", "p1-host-vuln-scan", "jypt", 3, 64);
        let o3 = occ("o3", "p2-zjk-remote-ops", "zjk", 4, 1);
        for o in [&o2, &o1, &o3] {
            s.record_occurrence(o, ev("occurrence.record", &o.id))
                .await
                .unwrap();
        }
        assert_eq!(
            s.occurrences(Some("jypt")).await.unwrap(),
            [o1.clone(), o2.clone()]
        );
        assert_eq!(s.occurrences(None).await.unwrap(), [o1, o3, o2.clone()]);
        assert!(s.occurrences(Some("znh")).await.unwrap().is_empty());
        assert!(matches!(
            s.record_occurrence(&o2, ev("occurrence.record", "o2"))
                .await,
            Err(StoreError::Conflict(_))
        ));
        assert!(matches!(
            s.record_occurrence(
                &occ("o4", "p1-host-vuln-scan", "jypt", 6, 0),
                ev("occurrence.record", "o4")
            )
            .await,
            Err(StoreError::Conflict(_))
        ));
        assert!(matches!(
            s.record_occurrence(
                &occ("o5", "p9-none", "jypt", 6, 1),
                ev("occurrence.record", "o5")
            )
            .await,
            Err(StoreError::NotFound(_))
        ));
        assert_eq!(chain_ok(s).await, n0 + 3);
    })
    .await;
}

#[tokio::test]
async fn change_requests_are_decided_then_executed() {
    use govcloud_store::ChangeRequest;
    on_every_backend(|f| async move {
        let s = f.store.as_ref();
        load_catalog(s).await;
        let n0 = chain_ok(s).await;
        let req =
            |id: &str, kind: &str, resource: Option<&str>, quantity: &str, h: u32| ChangeRequest {
                id: id.to_owned(),
                kind: kind.to_owned(),
                resource_id: resource.map(str::to_owned),
                contract_id: CONTRACT_ID.to_owned(),
                item_id: "p5-ai-fp16".to_owned(),
                system_code: "clwx".to_owned(),
                quantity: quantity.to_owned(),
                spec: r#"{"tier":"fp16"}"#.to_owned(),
                effective_at: Some(at(h + 1)),
                reason: "扩容".to_owned(),
                state: "pending".to_owned(),
                requested_by: "operator".to_owned(),
                requested_at: at(h),
                decided_by: None,
                decided_at: None,
                decision_note: None,
                executed_at: None,
            };
        let c1 = req("c1", "create", None, "2.40", 1);
        s.create_change(&c1, ev("change.request", "c1"))
            .await
            .unwrap();
        let stored = s.change("c1").await.unwrap().unwrap();
        assert_eq!(
            stored,
            ChangeRequest {
                quantity: "2.4".into(),
                ..c1.clone()
            }
        );
        assert!(matches!(
            s.create_change(&c1, ev("change.request", "c1")).await,
            Err(StoreError::Conflict(_))
        ));
        assert!(matches!(
            s.create_change(
                &req("c9", "resize", Some("nope"), "1", 1),
                ev("change.request", "c9")
            )
            .await,
            Err(StoreError::NotFound(_))
        ));
        assert!(matches!(
            s.create_change(&req("c9", "grow", None, "1", 1), ev("change.request", "c9"))
                .await,
            Err(StoreError::Conflict(_))
        ));

        // Pending → approved → executed.
        assert!(matches!(
            s.mark_change_executed("c1", "r1", at(3)).await,
            Err(StoreError::Conflict(_))
        ));
        assert!(matches!(
            s.decide_change(
                "c1",
                "executed",
                "purchaser",
                at(2),
                None,
                ev("change.decide", "c1")
            )
            .await,
            Err(StoreError::Conflict(_))
        ));
        let approved = s
            .decide_change(
                "c1",
                "approved",
                "采购人甲",
                at(2),
                Some("同意"),
                ev("change.approve", "c1"),
            )
            .await
            .unwrap();
        assert_eq!(
            (
                approved.state.as_str(),
                approved.decided_by.as_deref(),
                approved.decided_at,
                approved.decision_note.as_deref()
            ),
            ("approved", Some("采购人甲"), Some(at(2)), Some("同意"))
        );
        assert!(matches!(
            s.decide_change(
                "c1",
                "rejected",
                "采购人甲",
                at(2),
                None,
                ev("change.reject", "c1")
            )
            .await,
            Err(StoreError::Conflict(_))
        ));
        let mut e = res_event("create", "", 2);
        e.change_id = Some("c1".into());
        s.create_resource(
            &resource("r1", "p5-ai-fp16", "clwx", "2.4"),
            &e,
            ev("resource.create", "r1"),
        )
        .await
        .unwrap();
        assert_eq!(
            s.resource("r1").await.unwrap().unwrap().1[0]
                .change_id
                .as_deref(),
            Some("c1")
        );
        assert!(matches!(
            s.mark_change_executed("c1", "nope", at(3)).await,
            Err(StoreError::NotFound(_))
        ));
        let done = s.mark_change_executed("c1", "r1", at(3)).await.unwrap();
        assert_eq!(
            (
                done.state.as_str(),
                done.resource_id.as_deref(),
                done.executed_at
            ),
            ("executed", Some("r1"), Some(at(3)))
        );
        assert_eq!(s.change("c1").await.unwrap().unwrap(), done);
        assert!(matches!(
            s.mark_change_executed("c1", "r1", at(4)).await,
            Err(StoreError::Conflict(_))
        ));
        assert!(matches!(
            s.decide_change(
                "c1",
                "approved",
                "x",
                at(4),
                None,
                ev("change.approve", "c1")
            )
            .await,
            Err(StoreError::Conflict(_))
        ));

        // Pending → rejected: never executed, never decided again.
        s.create_change(
            &req("c2", "release", Some("r1"), "0", 5),
            ev("change.request", "c2"),
        )
        .await
        .unwrap();
        let rejected = s
            .decide_change(
                "c2",
                "rejected",
                "采购人甲",
                at(6),
                None,
                ev("change.reject", "c2"),
            )
            .await
            .unwrap();
        assert_eq!(
            (rejected.state.as_str(), rejected.decision_note),
            ("rejected", None)
        );
        assert!(matches!(
            s.mark_change_executed("c2", "r1", at(7)).await,
            Err(StoreError::Conflict(_))
        ));
        assert!(matches!(
            s.decide_change(
                "c2",
                "approved",
                "采购人甲",
                at(7),
                None,
                ev("change.approve", "c2")
            )
            .await,
            Err(StoreError::Conflict(_))
        ));

        // A change for one resource is not executed by another.
        s.create_resource(
            &resource("r2", "p5-ai-fp16", "clwx", "1"),
            &res_event("create", "", 1),
            ev("resource.create", "r2"),
        )
        .await
        .unwrap();
        s.create_change(
            &req("c3", "resize", Some("r1"), "3", 8),
            ev("change.request", "c3"),
        )
        .await
        .unwrap();
        s.decide_change(
            "c3",
            "approved",
            "采购人甲",
            at(9),
            None,
            ev("change.approve", "c3"),
        )
        .await
        .unwrap();
        assert!(matches!(
            s.mark_change_executed("c3", "r2", at(10)).await,
            Err(StoreError::Conflict(_))
        ));
        assert!(matches!(
            s.decide_change(
                "c9",
                "approved",
                "x",
                at(9),
                None,
                ev("change.approve", "c9")
            )
            .await,
            Err(StoreError::NotFound(_))
        ));
        assert!(s.change("c9").await.unwrap().is_none());

        // Newest first, optionally one state.
        let ids = |v: Vec<ChangeRequest>| v.into_iter().map(|c| c.id).collect::<Vec<_>>();
        assert_eq!(ids(s.list_changes(None).await.unwrap()), ["c3", "c2", "c1"]);
        assert_eq!(ids(s.list_changes(Some("approved")).await.unwrap()), ["c3"]);
        assert_eq!(ids(s.list_changes(Some("rejected")).await.unwrap()), ["c2"]);
        assert!(s.list_changes(Some("pending")).await.unwrap().is_empty());

        // 3 requests, 3 decisions, 2 resources; executing writes no entry of its own.
        assert_eq!(chain_ok(s).await, n0 + 8);
    })
    .await;
}

/// 50 concurrent creations on each of two items (one with a whole, one with a decimal
/// contracted quantity), more than either has: exactly the ones that fit are stored.
#[tokio::test]
async fn parallel_creates_never_overdraw_an_item() {
    use rust_decimal::Decimal;
    on_every_backend(|f| async move {
        load_catalog(f.store.as_ref()).await;
        let n0 = chain_ok(f.store.as_ref()).await;
        let plans: [(&str, &str, &[&str]); 2] = [
            ("p1-vcpu", "392", &["4", "8", "16", "12", "2", "32"]),
            ("p5-ai-fp16", "9.6", &["0.1", "0.25", "0.4", "0.75", "1.2"]),
        ];
        let mut tasks = Vec::new();
        for (item, _, sizes) in plans {
            for i in 0..50 {
                let s = f.store.clone();
                let q = sizes[i % sizes.len()].to_owned();
                let r = resource(&format!("{item}-{i}"), item, "jypt", &q);
                tasks.push(tokio::spawn(async move {
                    let out = create(s.as_ref(), &r).await;
                    (r.item_id, q, out)
                }));
            }
        }
        let mut outcomes = Vec::new();
        for t in tasks {
            outcomes.push(t.await.unwrap());
        }
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        let mut stored_total = 0;
        for (item, contracted, _) in plans {
            let q = d(contracted);
            let mut ok = Decimal::ZERO;
            let mut n_ok = 0;
            let mut smallest_failed: Option<Decimal> = None;
            for (_, req, out) in outcomes.iter().filter(|(i, _, _)| i == item) {
                match out {
                    Ok(r) => {
                        assert_eq!(d(&r.quantity), d(req));
                        ok += d(req);
                        n_ok += 1;
                    }
                    Err(StoreError::OverContract {
                        item: i,
                        contracted: c,
                        allocated,
                        requested,
                    }) => {
                        assert_eq!((i.as_str(), c.as_str()), (item, contracted));
                        assert_eq!(d(requested), d(req));
                        assert!(d(allocated) <= q && d(allocated) + d(requested) > q);
                        smallest_failed = Some(smallest_failed.map_or(d(req), |m| m.min(d(req))));
                    }
                    Err(e) => panic!("{item}: unexpected {e:?}"),
                }
            }
            let smallest_failed = smallest_failed.expect("the plan asks for more than there is");
            assert!(ok <= q, "{item}: {ok} allocated of {q}");
            assert!(
                q - ok < smallest_failed,
                "{item}: {} left, yet a request for {smallest_failed} was refused",
                q - ok
            );
            assert!(n_ok > 0);
            let (c, allocated) = usage(f.store.as_ref(), item).await;
            assert_eq!(c, contracted);
            assert_eq!(allocated, ok.normalize().to_string(), "{item}");
            stored_total += n_ok;
        }
        let stored = f.store.list_resources(None).await.unwrap();
        assert_eq!(stored.len(), stored_total);
        assert_eq!(
            f.store.resource_events(None).await.unwrap().len(),
            stored_total
        );
        assert_eq!(chain_ok(f.store.as_ref()).await, n0 + stored_total as u64);
    })
    .await;
}

fn price(item: &str, p: &str, from_h: u32) -> govcloud_store::PriceRecord {
    govcloud_store::PriceRecord {
        contract_id: CONTRACT_ID.to_owned(),
        item_id: item.to_owned(),
        effective_from: at(from_h),
        unit_price: p.to_owned(),
        source: "manual".to_owned(),
        note: String::new(),
        created_at: at(0),
        created_by: "operator".to_owned(),
    }
}

#[tokio::test]
async fn prices_usage_streams_and_immutable_statement_versions() {
    on_every_backend(|f| async move {
        let s = f.store.as_ref();
        load_catalog(s).await;
        let n0 = chain_ok(s).await;

        // Prices: exact decimals, replaced at the same instant (audited), the same price
        // again is a no-op, unknown items and bad numbers refused.
        assert_eq!(
            s.set_price(&price("p1-vcpu", "45.50", 0), ev("price.set", "p1-vcpu"))
                .await
                .unwrap(),
            None
        );
        assert_eq!(
            s.set_price(&price("p1-vcpu", "46.125", 0), ev("price.set", "p1-vcpu"))
                .await
                .unwrap(),
            Some("45.5".to_owned())
        );
        assert_eq!(
            s.set_price(&price("p1-vcpu", "46.1250", 0), ev("price.set", "p1-vcpu"))
                .await
                .unwrap(),
            Some("46.125".to_owned()),
            "the same price again"
        );
        s.set_price(&price("p1-vcpu", "50", 5), ev("price.set", "p1-vcpu"))
            .await
            .unwrap();
        assert!(matches!(
            s.set_price(&price("p1-nope", "1", 0), ev("price.set", "p1-nope"))
                .await,
            Err(StoreError::NotFound(_))
        ));
        assert!(s
            .set_price(&price("p1-vcpu", "-1", 1), ev("price.set", "x"))
            .await
            .is_err());
        let ps = s.prices(CONTRACT_ID).await.unwrap();
        assert_eq!(
            ps.iter()
                .map(|p| (p.unit_price.as_str(), p.effective_from))
                .collect::<Vec<_>>(),
            [("46.125", at(0)), ("50", at(5))]
        );
        assert_eq!(
            chain_ok(s).await,
            n0 + 3,
            "two sets and one replacement audited"
        );

        // Usage steps: resources of the window, in (system, item, resource, seq) order;
        // a resource released before the window is left out.
        create(s, &resource("u2", "p1-internet-ip", "jypt", "3"))
            .await
            .unwrap();
        create(s, &resource("u1", "p1-internet-ip", "jypt", "2"))
            .await
            .unwrap();
        change(s, "u1", res_event("resize", "5", 4), None)
            .await
            .unwrap();
        create(s, &resource("u3", "p1-internet-ip", "jypt", "1"))
            .await
            .unwrap();
        change(s, "u3", res_event("release", "0", 2), None)
            .await
            .unwrap();
        change(s, "u2", res_event("resize", "1", 20), None)
            .await
            .unwrap();
        let mut seen = Vec::new();
        s.usage_steps(CONTRACT_ID, at(3), at(10), &mut |st| {
            seen.push((
                st.resource_id,
                st.quantity.normalize().to_string(),
                st.effective_at,
            ));
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!(
            seen,
            [
                ("u1".to_owned(), "2".to_owned(), at(1)),
                ("u1".to_owned(), "5".to_owned(), at(4)),
                ("u2".to_owned(), "3".to_owned(), at(1)),
            ],
            "steps after the window and resources released before it are not read"
        );
        // The callback's error stops the stream and comes back.
        let stopped = s
            .usage_steps(CONTRACT_ID, at(0), at(10), &mut |_| {
                Err(StoreError::Conflict("stop".into()))
            })
            .await;
        assert!(matches!(stopped, Err(StoreError::Conflict(m)) if m == "stop"));

        // Occurrence totals per (system, item) in [from, to).
        for (id, h, hosts) in [("o1", 2, 3), ("o2", 6, 4), ("o3", 12, 9)] {
            s.record_occurrence(
                &govcloud_store::Occurrence {
                    id: id.into(),
                    contract_id: CONTRACT_ID.into(),
                    item_id: "p1-host-vuln-scan".into(),
                    system_code: "jypt".into(),
                    performed_at: at(h),
                    hosts,
                    note: String::new(),
                    recorded_at: at(h),
                    recorded_by: "operator".into(),
                },
                ev("occurrence.record", id),
            )
            .await
            .unwrap();
        }
        assert_eq!(
            s.occurrence_totals(CONTRACT_ID, at(2), at(12))
                .await
                .unwrap(),
            [("jypt".to_owned(), "p1-host-vuln-scan".to_owned(), 7)]
        );

        // Statements: versions in order, never overwritten; bytes come back exactly.
        let st = |v: i64, data: &[u8]| govcloud_store::StatementRecord {
            id: format!("st-2026-03-p1-jypt-v{v}"),
            contract_id: CONTRACT_ID.into(),
            month: "2026-03".into(),
            package: 1,
            system_code: "jypt".into(),
            version: v,
            data: data.to_vec(),
            data_sm3: "00".repeat(32),
            total: "1168.07".into(),
            signature: vec![0x30, 0x45, 0, 255],
            signer_cert: vec![1, 2, 3],
            timestamp_token: vec![4, 5, 6],
            issued_at: at(23),
            issued_by: "operator".into(),
        };
        let v1 = st(1, "{\"总计\": \"1168.07\"}\n".as_bytes());
        s.insert_statement(&v1, ev("statement.issue", &v1.id))
            .await
            .unwrap();
        assert!(matches!(
            s.insert_statement(&v1, ev("statement.issue", &v1.id)).await,
            Err(StoreError::Conflict(_))
        ));
        let mut v2 = st(2, b"{\"v\": 2}\n");
        v2.total = "1468.1".into();
        s.insert_statement(&v2, ev("statement.issue", &v2.id))
            .await
            .unwrap();
        let mut stale = st(2, b"other");
        stale.id = "st-other".into();
        assert!(
            matches!(
                s.insert_statement(&stale, ev("statement.issue", "x")).await,
                Err(StoreError::Conflict(_))
            ),
            "a version that exists (or is older than the newest) is refused"
        );
        assert_eq!(s.statement(&v1.id).await.unwrap().unwrap(), v1);
        let got = s.statement(&v2.id).await.unwrap().unwrap();
        assert_eq!(got.total, "1468.10", "totals come back with two decimals");
        assert_eq!(got.data, v2.data);
        assert_eq!(
            s.statements(CONTRACT_ID, Some("2026-03"), Some(1))
                .await
                .unwrap()
                .len(),
            2
        );
        assert!(s
            .statements(CONTRACT_ID, Some("2026-04"), None)
            .await
            .unwrap()
            .is_empty());
        assert_eq!(
            s.statements(CONTRACT_ID, None, Some(2))
                .await
                .unwrap()
                .len(),
            0
        );
        assert!(s.statement("nope").await.unwrap().is_none());
    })
    .await;
}

fn day(s: &str) -> chrono::NaiveDate {
    s.parse().unwrap()
}

fn acceptance(id: &str, package: i64, kind: &str, on: &str) -> govcloud_store::AcceptanceRecord {
    govcloud_store::AcceptanceRecord {
        id: id.to_owned(),
        contract_id: CONTRACT_ID.to_owned(),
        package_no: package,
        kind: kind.to_owned(),
        accepted_on: day(on),
        note: format!("{kind} 验收会议纪要"),
        recorded_by: "purchaser".to_owned(),
        created_at: at(2),
    }
}

fn evidence(id: &str, name: &str, content: Vec<u8>) -> govcloud_store::NewEvidence {
    govcloud_store::NewEvidence {
        id: id.to_owned(),
        name: name.to_owned(),
        content_type: "application/pdf".to_owned(),
        content,
        uploaded_by: "operator".to_owned(),
        created_at: at(3),
    }
}

fn payment(id: &str, package: i64, seq: i64, amount: &str) -> govcloud_store::PaymentRecord {
    govcloud_store::PaymentRecord {
        id: id.to_owned(),
        contract_id: CONTRACT_ID.to_owned(),
        package_no: package,
        milestone_seq: seq,
        paid_on: day("2026-06-15"),
        amount: amount.to_owned(),
        reference: "财付 2026-0615-01".to_owned(),
        recorded_by: "purchaser".to_owned(),
        created_at: at(4),
    }
}

/// SM3("abc"), GB/T 32905 example 1: computed independently of the store.
const SM3_ABC: &str = "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0";

#[tokio::test]
async fn acceptances_keep_their_documents_with_sm3() {
    use govcloud_domain::payment::MAX_EVIDENCE_BYTES;
    on_every_backend(|f| async move {
        let s = f.store.as_ref();
        load_catalog(s).await;
        let n0 = chain_ok(s).await;

        // Every byte value, and the largest document allowed, come back unchanged.
        let all_bytes: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        let largest = vec![0x5a_u8; MAX_EVIDENCE_BYTES];
        let stage = acceptance("acc1", 1, "stage", "2026-09-30");
        let docs = s
            .record_acceptance(
                &stage,
                &[
                    evidence("doc1", "验收报告.pdf", b"abc".to_vec()),
                    evidence("doc2", "测试记录.bin", all_bytes.clone()),
                    evidence("doc3", "大文件.bin", largest.clone()),
                ],
                ev("acceptance.record", "acc1"),
            )
            .await
            .unwrap();
        assert_eq!(docs.len(), 3);
        assert_eq!((docs[0].sm3.as_str(), docs[0].size), (SM3_ABC, 3));
        assert_eq!(docs[1].size, 1000);
        assert_eq!(docs[2].size, MAX_EVIDENCE_BYTES as i64);
        assert!(docs.iter().all(|d| d.acceptance_id == "acc1"));
        let (d1, bytes) = s.evidence("doc2").await.unwrap().unwrap();
        assert_eq!((d1, bytes), (docs[1].clone(), all_bytes));
        let (_, bytes) = s.evidence("doc3").await.unwrap().unwrap();
        assert!(bytes == largest);
        assert!(s.evidence("doc9").await.unwrap().is_none());
        assert_eq!(s.acceptance("acc1").await.unwrap(), Some(stage.clone()));
        assert_eq!(chain_ok(s).await, n0 + 1);

        // One acceptance of each kind per package; refusals change nothing.
        let refusals = [
            (acceptance("acc2", 1, "stage", "2026-10-30"), Vec::new()),
            (acceptance("acc1", 2, "stage", "2026-10-30"), Vec::new()),
            (acceptance("acc3", 1, "initial", "2026-10-30"), Vec::new()),
            (
                acceptance("acc4", 2, "stage", "2026-10-30"),
                vec![evidence(
                    "doc4",
                    "过大.bin",
                    vec![0; MAX_EVIDENCE_BYTES + 1],
                )],
            ),
        ];
        for (a, d) in &refusals {
            let r = s
                .record_acceptance(a, d, ev("acceptance.record", &a.id))
                .await;
            assert!(matches!(r, Err(StoreError::Conflict(_))), "{}: {r:?}", a.id);
        }
        let r = s
            .record_acceptance(
                &acceptance("acc5", 9, "stage", "2026-10-30"),
                &[],
                ev("acceptance.record", "acc5"),
            )
            .await;
        assert!(matches!(r, Err(StoreError::NotFound(_))), "{r:?}");
        assert!(s.acceptance("acc4").await.unwrap().is_none());
        assert!(s.evidence("doc4").await.unwrap().is_none());
        assert_eq!(chain_ok(s).await, n0 + 1);

        // More evidence later; none for an unknown acceptance or over the cap.
        let fin = acceptance("acc6", 1, "final", "2026-12-20");
        s.record_acceptance(&fin, &[], ev("acceptance.record", "acc6"))
            .await
            .unwrap();
        let p2 = acceptance("acc7", 2, "stage", "2026-10-09");
        s.record_acceptance(&p2, &[], ev("acceptance.record", "acc7"))
            .await
            .unwrap();
        let late = s
            .add_evidence(
                "acc6",
                &evidence("doc5", "终验报告.pdf", b"final".to_vec()),
                ev("acceptance.evidence", "acc6"),
            )
            .await
            .unwrap();
        assert_eq!((late.acceptance_id.as_str(), late.size), ("acc6", 5));
        let r = s
            .add_evidence(
                "acc9",
                &evidence("doc6", "x.pdf", b"x".to_vec()),
                ev("acceptance.evidence", "acc9"),
            )
            .await;
        assert!(matches!(r, Err(StoreError::NotFound(_))), "{r:?}");
        for (id, doc) in [
            ("acc6", evidence("doc5", "again.pdf", b"x".to_vec())),
            (
                "acc6",
                evidence("doc7", "big.bin", vec![1; MAX_EVIDENCE_BYTES + 1]),
            ),
        ] {
            let r = s
                .add_evidence(id, &doc, ev("acceptance.evidence", id))
                .await;
            assert!(matches!(r, Err(StoreError::Conflict(_))), "{r:?}");
        }
        assert_eq!(chain_ok(s).await, n0 + 4);

        // Listing: by package, stage before final; documents in upload order.
        let ids = |v: Vec<govcloud_store::AcceptanceRecord>| -> Vec<String> {
            v.into_iter().map(|a| a.id).collect()
        };
        assert_eq!(
            ids(s.acceptances(CONTRACT_ID, None).await.unwrap()),
            ["acc1", "acc6", "acc7"]
        );
        assert_eq!(
            ids(s.acceptances(CONTRACT_ID, Some(1)).await.unwrap()),
            ["acc1", "acc6"]
        );
        assert_eq!(s.acceptances(CONTRACT_ID, Some(1)).await.unwrap()[1], fin);
        assert!(s.acceptances("other", None).await.unwrap().is_empty());
        let docs1: Vec<String> = s
            .evidence_list(CONTRACT_ID, Some(1))
            .await
            .unwrap()
            .into_iter()
            .map(|d| d.id)
            .collect();
        assert_eq!(docs1, ["doc1", "doc2", "doc3", "doc5"]);
        assert!(s
            .evidence_list(CONTRACT_ID, Some(2))
            .await
            .unwrap()
            .is_empty());

        // A reloaded contract keeps its acceptances.
        let c = catalog::parse(CONTRACT).unwrap();
        let edited = CONTRACT.replacen("# business systems", "# edited: business systems", 1);
        assert_ne!(edited, CONTRACT);
        assert_eq!(
            s.load_contract(&c, &edited, "fp2", ev("catalog.load", &c.id))
                .await
                .unwrap(),
            LoadOutcome::Replaced
        );
        assert_eq!(s.acceptances(CONTRACT_ID, None).await.unwrap().len(), 3);
    })
    .await;
}

#[tokio::test]
async fn payments_are_recorded_once_per_milestone() {
    on_every_backend(|f| async move {
        let s = f.store.as_ref();
        load_catalog(s).await;
        let n0 = chain_ok(s).await;
        let stored = s
            .record_payment(
                &payment("pay1", 1, 1, "216660.5"),
                ev("payment.record", "pay1"),
            )
            .await
            .unwrap();
        assert_eq!(stored.amount, "216660.50");
        assert_eq!(stored.paid_on, day("2026-06-15"));
        for (id, package, seq, amount) in [
            ("pay2", 3, 2, "0.01"),
            ("pay3", 1, 2, "99999999999999.99"),
            ("pay4", 1, 3, "1000"),
        ] {
            s.record_payment(&payment(id, package, seq, amount), ev("payment.record", id))
                .await
                .unwrap();
        }
        let n1 = chain_ok(s).await;
        assert_eq!(n1, n0 + 4);
        for (p, what) in [
            (payment("pay5", 1, 1, "1"), "second payment of a milestone"),
            (payment("pay1", 2, 1, "1"), "id reused"),
            (payment("pay6", 2, 1, "0"), "zero"),
            (payment("pay6", 2, 1, "-5"), "negative"),
            (payment("pay6", 2, 1, "1.001"), "a tenth of a fen"),
            (payment("pay6", 2, 1, "十元"), "not a number"),
            (payment("pay6", 2, 0, "1"), "milestone 0"),
        ] {
            let r = s.record_payment(&p, ev("payment.record", &p.id)).await;
            assert!(matches!(r, Err(StoreError::Conflict(_))), "{what}: {r:?}");
        }
        let r = s
            .record_payment(&payment("pay7", 6, 1, "1"), ev("payment.record", "pay7"))
            .await;
        assert!(matches!(r, Err(StoreError::NotFound(_))), "{r:?}");
        assert_eq!(chain_ok(s).await, n1);

        let all: Vec<(String, i64, i64, String)> = s
            .payments(CONTRACT_ID, None)
            .await
            .unwrap()
            .into_iter()
            .map(|p| (p.id, p.package_no, p.milestone_seq, p.amount))
            .collect();
        let want = [
            ("pay1", 1, 1, "216660.50"),
            ("pay3", 1, 2, "99999999999999.99"),
            ("pay4", 1, 3, "1000.00"),
            ("pay2", 3, 2, "0.01"),
        ]
        .map(|(i, p, m, a)| (i.to_owned(), p, m, a.to_owned()));
        assert_eq!(all, want);
        assert_eq!(s.payments(CONTRACT_ID, Some(3)).await.unwrap().len(), 1);
        assert_eq!(
            s.payments(CONTRACT_ID, Some(3)).await.unwrap()[0],
            govcloud_store::PaymentRecord {
                amount: "0.01".to_owned(),
                ..payment("pay2", 3, 2, "0.01")
            }
        );
    })
    .await;
}

/// 20 parallel attempts at the same final acceptance and at the same payment: one of each
/// is stored, the others are refused as conflicts, and the chain has one entry for each.
#[tokio::test]
async fn parallel_duplicates_store_one() {
    on_every_backend(|f| async move {
        load_catalog(f.store.as_ref()).await;
        let n0 = chain_ok(f.store.as_ref()).await;
        let mut tasks = Vec::new();
        for i in 0..20 {
            let s = f.store.clone();
            tasks.push(tokio::spawn(async move {
                let id = format!("acc{i}");
                let a = acceptance(&id, 4, "final", "2026-12-20");
                let docs = [evidence(&format!("doc{i}"), "终验.pdf", vec![i as u8; 64])];
                s.record_acceptance(&a, &docs, ev("acceptance.record", &id))
                    .await
                    .map(|_| ())
            }));
            let s = f.store.clone();
            tasks.push(tokio::spawn(async move {
                let id = format!("pay{i}");
                s.record_payment(&payment(&id, 4, 1, "10"), ev("payment.record", &id))
                    .await
                    .map(|_| ())
            }));
        }
        let mut ok = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(()) => ok += 1,
                Err(StoreError::Conflict(_)) => {}
                Err(e) => panic!("unexpected {e:?}"),
            }
        }
        assert_eq!(ok, 2);
        let s = f.store.as_ref();
        assert_eq!(s.acceptances(CONTRACT_ID, Some(4)).await.unwrap().len(), 1);
        assert_eq!(
            s.evidence_list(CONTRACT_ID, Some(4)).await.unwrap().len(),
            1
        );
        assert_eq!(s.payments(CONTRACT_ID, Some(4)).await.unwrap().len(), 1);
        assert_eq!(chain_ok(s).await, n0 + 2);
    })
    .await;
}

// --- operations (运维) ---

/// The action of the newest audit entry.
async fn last_action(s: &dyn Store) -> String {
    s.audit_recent(1).await.unwrap()[0].event.action.clone()
}

fn monitor(id: &str, name: &str, kind: &str) -> govcloud_store::MonitorRecord {
    govcloud_store::MonitorRecord {
        id: id.to_owned(),
        name: name.to_owned(),
        kind: kind.to_owned(),
        target: "https://jypt.example.gov.cn/health".to_owned(),
        package_no: 1,
        system: "jypt".to_owned(),
        severity: "outage".to_owned(),
        interval_seconds: 60,
        timeout_seconds: 10,
        retries: 2,
        settings: r#"{"expect_status":200}"#.to_owned(),
        enabled: true,
        created_by: "operator".to_owned(),
        created_at: at(0),
        // What the store keeps for a new monitor whatever is given here.
        state: "up".to_owned(),
        state_since: Some(at(0)),
        last_check_at: Some(at(0)),
        last_latency_ms: Some(1),
        last_detail: "given".to_owned(),
    }
}

fn check(monitor_id: &str, h: u32, ok: bool, state: &str) -> govcloud_store::CheckRecord {
    govcloud_store::CheckRecord {
        monitor_id: monitor_id.to_owned(),
        at: at(h),
        ok,
        latency_ms: ok.then_some(i64::from(h) * 10),
        detail: if ok { "HTTP 200" } else { "connect timeout" }.to_owned(),
        state: state.to_owned(),
    }
}

fn down(monitor_id: &str, h: u32) -> govcloud_store::DownRecord {
    govcloud_store::DownRecord {
        id: 0,
        monitor_id: monitor_id.to_owned(),
        started_at: at(h),
        ended_at: None,
        planned: false,
        notice_id: None,
        incident_id: None,
    }
}

#[tokio::test]
async fn monitors_keep_their_state_checks_and_down_spans() {
    on_every_backend(|f| async move {
        let s = f.store.as_ref();
        let n0 = chain_ok(s).await;
        let m1 = s
            .add_monitor(
                &monitor("m1", "交易平台 HTTP", "http"),
                ev("monitor.add", "m1"),
            )
            .await
            .unwrap();
        assert_eq!(last_action(s).await, "monitor.add");
        assert_eq!(
            m1,
            govcloud_store::MonitorRecord {
                state: "unknown".to_owned(),
                state_since: None,
                last_check_at: None,
                last_latency_ms: None,
                last_detail: String::new(),
                ..monitor("m1", "交易平台 HTTP", "http")
            }
        );
        let m2 = s
            .add_monitor(
                &monitor("m2", "A 专家库 TCP", "tcp"),
                ev("monitor.add", "m2"),
            )
            .await
            .unwrap();
        assert_eq!(chain_ok(s).await, n0 + 2);

        // Name and id once each; kinds, severities and intervals as documented.
        let mut bad_severity = monitor("m4", "m4", "tls");
        bad_severity.severity = "minor".to_owned();
        let mut bad_interval = monitor("m5", "m5", "tls");
        bad_interval.interval_seconds = 0;
        for (m, what) in [
            (monitor("m3", "交易平台 HTTP", "tls"), "name reused"),
            (monitor("m1", "另一个", "tls"), "id reused"),
            (monitor("m6", "m6", "icmp"), "unknown kind"),
            (bad_severity, "unknown severity"),
            (bad_interval, "zero interval"),
        ] {
            let r = s.add_monitor(&m, ev("monitor.add", &m.id)).await;
            assert!(matches!(r, Err(StoreError::Conflict(_))), "{what}: {r:?}");
        }
        assert_eq!(chain_ok(s).await, n0 + 2);
        let names: Vec<String> = s
            .monitors()
            .await
            .unwrap()
            .into_iter()
            .map(|m| m.name)
            .collect();
        assert_eq!(names, ["A 专家库 TCP", "交易平台 HTTP"]);
        assert_eq!(s.monitor("m2").await.unwrap(), Some(m2.clone()));
        assert!(s.monitor("m9").await.unwrap().is_none());

        // Enabling: audited only when something changes.
        let off = s
            .set_monitor_enabled("m1", false, ev("monitor.disable", "m1"))
            .await
            .unwrap()
            .unwrap();
        assert!(!off.enabled);
        assert_eq!(last_action(s).await, "monitor.disable");
        let again = s
            .set_monitor_enabled("m1", false, ev("monitor.disable", "m1"))
            .await
            .unwrap();
        assert_eq!(again, Some(off));
        assert!(s
            .set_monitor_enabled("m9", true, ev("monitor.enable", "m9"))
            .await
            .unwrap()
            .is_none());
        assert_eq!(chain_ok(s).await, n0 + 3);
        s.set_monitor_enabled("m1", true, ev("monitor.enable", "m1"))
            .await
            .unwrap();
        assert!(s.monitor("m1").await.unwrap().unwrap().enabled);
        let n1 = chain_ok(s).await;
        assert_eq!(n1, n0 + 4);

        // Checks move the state; state_since only when the state changes.
        let state = |m: govcloud_store::MonitorRecord| {
            (
                m.state,
                m.state_since,
                m.last_check_at,
                m.last_latency_ms,
                m.last_detail,
            )
        };
        s.record_check(&check("m1", 1, true, "up")).await.unwrap();
        assert_eq!(
            state(s.monitor("m1").await.unwrap().unwrap()),
            (
                "up".into(),
                Some(at(1)),
                Some(at(1)),
                Some(10),
                "HTTP 200".into()
            )
        );
        s.record_check(&check("m1", 2, true, "up")).await.unwrap();
        assert_eq!(
            state(s.monitor("m1").await.unwrap().unwrap()),
            (
                "up".into(),
                Some(at(1)),
                Some(at(2)),
                Some(20),
                "HTTP 200".into()
            )
        );
        // A failed check that does not yet count as down keeps the state.
        s.record_check(&check("m1", 3, false, "up")).await.unwrap();
        s.record_check(&check("m1", 4, false, "down"))
            .await
            .unwrap();
        assert_eq!(
            state(s.monitor("m1").await.unwrap().unwrap()),
            (
                "down".into(),
                Some(at(4)),
                Some(at(4)),
                None,
                "connect timeout".into()
            )
        );
        s.record_check(&check("m2", 5, false, "down"))
            .await
            .unwrap();
        assert_eq!(
            s.monitor("m2").await.unwrap().unwrap().state_since,
            Some(at(5)),
            "from unknown the state always changes"
        );
        let r = s.record_check(&check("m9", 1, true, "up")).await;
        assert!(matches!(r, Err(StoreError::NotFound(_))), "{r:?}");
        let r = s.record_check(&check("m1", 6, true, "unknown")).await;
        assert!(matches!(r, Err(StoreError::Conflict(_))), "{r:?}");
        let checks = s.monitor_checks("m1", 2).await.unwrap();
        assert_eq!(
            checks,
            [check("m1", 4, false, "down"), check("m1", 3, false, "up")]
        );
        assert_eq!(s.monitor_checks("m1", 100).await.unwrap().len(), 4);
        assert!(s.monitor_checks("m9", 100).await.unwrap().is_empty());

        // Down spans: one open at a time per monitor.
        let a = s.open_down(&down("m1", 4)).await.unwrap();
        assert_eq!(
            a,
            govcloud_store::DownRecord {
                id: a.id,
                ..down("m1", 4)
            }
        );
        let r = s.open_down(&down("m1", 5)).await;
        assert!(matches!(r, Err(StoreError::Conflict(_))), "{r:?}");
        let r = s.open_down(&down("m9", 5)).await;
        assert!(matches!(r, Err(StoreError::NotFound(_))), "{r:?}");
        let closed = s.close_down("m1", at(6)).await.unwrap().unwrap();
        assert_eq!(
            closed,
            govcloud_store::DownRecord {
                ended_at: Some(at(6)),
                ..a.clone()
            }
        );
        assert!(s.close_down("m1", at(7)).await.unwrap().is_none());
        assert!(s.close_down("m2", at(7)).await.unwrap().is_none());
        let b = s
            .open_down(&govcloud_store::DownRecord {
                planned: true,
                ..down("m2", 8)
            })
            .await
            .unwrap();
        assert!(b.planned);
        let c = s.open_down(&down("m1", 10)).await.unwrap();
        s.close_down("m1", at(12)).await.unwrap().unwrap();
        assert!(a.id != b.id && b.id != c.id && a.id != c.id);

        // Spans [4, 6), [8, open), [10, 12) against [from, to).
        let ids = |v: Vec<govcloud_store::DownRecord>| -> Vec<i64> {
            v.into_iter().map(|d| d.id).collect()
        };
        for (from, to, want) in [
            (0, 23, vec![a.id, b.id, c.id]),
            (0, 4, vec![]),
            (6, 8, vec![]),
            (5, 6, vec![a.id]),
            (3, 9, vec![a.id, b.id]),
            (12, 13, vec![b.id]),
            (11, 12, vec![b.id, c.id]),
        ] {
            assert_eq!(
                ids(s.downs(at(from), at(to)).await.unwrap()),
                want,
                "[{from}, {to})"
            );
        }
        // Checks and down spans are not audited.
        assert_eq!(chain_ok(s).await, n1);
    })
    .await;
}

fn incident(title: &str, package: i64, opened_h: u32) -> govcloud_store::IncidentRecord {
    govcloud_store::IncidentRecord {
        id: "ignored".to_owned(),
        contract_id: CONTRACT_ID.to_owned(),
        package_no: package,
        system: "jypt".to_owned(),
        severity: "outage".to_owned(),
        title: title.to_owned(),
        source: "hotline".to_owned(),
        monitor_id: None,
        opened_at: at(opened_h),
        recorded_at: at(opened_h + 1),
        opened_by: "operator".to_owned(),
        cause: String::new(),
        impact: String::new(),
        actions: String::new(),
        closed_at: None,
        events: vec![inc_event("responded", 0)],
    }
}

fn inc_event(kind: &str, h: u32) -> govcloud_store::IncidentEventRecord {
    govcloud_store::IncidentEventRecord {
        kind: kind.to_owned(),
        at: at(h),
        recorded_at: at(h) + Duration::minutes(5),
        actor: "值班工程师".to_owned(),
        note: format!("{kind} 记录"),
    }
}

#[tokio::test]
async fn incidents_are_numbered_and_closed_once() {
    on_every_backend(|f| async move {
        let s = f.store.as_ref();
        load_catalog(s).await;
        let n0 = chain_ok(s).await;
        let first = s
            .open_incident(&incident("门户无法访问", 1, 2), ev("incident.open", "门户"))
            .await
            .unwrap();
        assert_eq!(last_action(s).await, "incident.open");
        assert_eq!(
            first,
            govcloud_store::IncidentRecord {
                id: "INC-000001".to_owned(),
                events: vec![],
                ..incident("门户无法访问", 1, 2)
            }
        );
        s.add_monitor(&monitor("m1", "门户", "http"), ev("monitor.add", "m1"))
            .await
            .unwrap();
        let second = s
            .open_incident(
                &govcloud_store::IncidentRecord {
                    source: "monitor".to_owned(),
                    monitor_id: Some("m1".to_owned()),
                    ..incident("监控发现宕机", 1, 3)
                },
                ev("incident.open", "m1"),
            )
            .await
            .unwrap();
        assert_eq!(second.id, "INC-000002");
        assert_eq!(second.monitor_id.as_deref(), Some("m1"));
        assert_eq!(chain_ok(s).await, n0 + 3);

        // Refusals take no number and write nothing.
        let mut bad_source = incident("x", 1, 1);
        bad_source.source = "rumour".to_owned();
        let mut bad_severity = incident("x", 1, 1);
        bad_severity.severity = "minor".to_owned();
        for (i, conflict) in [
            (incident("x", 9, 1), false),
            (
                govcloud_store::IncidentRecord {
                    monitor_id: Some("m9".to_owned()),
                    ..incident("x", 1, 1)
                },
                false,
            ),
            (bad_source, true),
            (bad_severity, true),
        ] {
            let r = s.open_incident(&i, ev("incident.open", "x")).await;
            if conflict {
                assert!(matches!(r, Err(StoreError::Conflict(_))), "{r:?}");
            } else {
                assert!(matches!(r, Err(StoreError::NotFound(_))), "{r:?}");
            }
        }
        let n1 = chain_ok(s).await;
        assert_eq!(n1, n0 + 3);
        let third = s
            .open_incident(&incident("专家库故障", 2, 0), ev("incident.open", "zjk"))
            .await
            .unwrap();
        assert_eq!(third.id, "INC-000003");

        // A timeline, then closing with the outage report.
        let r = s
            .add_incident_event(
                "INC-000001",
                &inc_event("responded", 3),
                None,
                ev("incident.event", "INC-000001"),
            )
            .await
            .unwrap();
        assert_eq!(r.events, [inc_event("responded", 3)]);
        assert_eq!(last_action(s).await, "incident.event");
        s.add_incident_event(
            "INC-000001",
            &inc_event("located", 4),
            None,
            ev("incident.event", "INC-000001"),
        )
        .await
        .unwrap();
        let report = govcloud_store::IncidentClosing {
            cause: "负载均衡配置错误".to_owned(),
            impact: "门户 2 小时不可用".to_owned(),
            actions: "回滚配置，增加变更复核".to_owned(),
        };
        let closed = s
            .add_incident_event(
                "INC-000001",
                &inc_event("closed", 6),
                Some(&report),
                ev("incident.close", "INC-000001"),
            )
            .await
            .unwrap();
        assert_eq!(last_action(s).await, "incident.close");
        let want = govcloud_store::IncidentRecord {
            id: "INC-000001".to_owned(),
            cause: report.cause.clone(),
            impact: report.impact.clone(),
            actions: report.actions.clone(),
            closed_at: Some(at(6)),
            events: vec![
                inc_event("responded", 3),
                inc_event("located", 4),
                inc_event("closed", 6),
            ],
            ..incident("门户无法访问", 1, 2)
        };
        assert_eq!(closed, want);
        assert_eq!(s.incident("INC-000001").await.unwrap(), Some(want.clone()));
        let n2 = chain_ok(s).await;
        assert_eq!(n2, n1 + 4);

        // Closed is final; unknown incidents and kinds are refused; nothing is written.
        for kind in ["closed", "restored"] {
            let r = s
                .add_incident_event(
                    "INC-000001",
                    &inc_event(kind, 7),
                    Some(&report),
                    ev("incident.event", "INC-000001"),
                )
                .await;
            assert!(matches!(r, Err(StoreError::Conflict(_))), "{kind}: {r:?}");
        }
        let r = s
            .add_incident_event(
                "INC-000009",
                &inc_event("responded", 7),
                None,
                ev("incident.event", "INC-000009"),
            )
            .await;
        assert!(matches!(r, Err(StoreError::NotFound(_))), "{r:?}");
        let r = s
            .add_incident_event(
                "INC-000002",
                &inc_event("escalated", 7),
                None,
                ev("incident.event", "INC-000002"),
            )
            .await;
        assert!(matches!(r, Err(StoreError::Conflict(_))), "{r:?}");
        assert_eq!(chain_ok(s).await, n2);
        assert_eq!(s.incident("INC-000001").await.unwrap(), Some(want.clone()));
        assert!(s
            .incident("INC-000002")
            .await
            .unwrap()
            .unwrap()
            .events
            .is_empty());
        assert!(s.incident("INC-000009").await.unwrap().is_none());

        // Closing without a report leaves its fields empty.
        let third = s
            .add_incident_event(
                "INC-000003",
                &inc_event("closed", 1),
                None,
                ev("incident.close", "INC-000003"),
            )
            .await
            .unwrap();
        assert_eq!((third.closed_at, third.cause.as_str()), (Some(at(1)), ""));

        // Lists: newest opened first, with their events; filters combine.
        let list = |f: govcloud_store::IncidentFilter| async move {
            s.incidents(CONTRACT_ID, &f)
                .await
                .unwrap()
                .into_iter()
                .map(|i| i.id)
                .collect::<Vec<_>>()
        };
        let all = s.incidents(CONTRACT_ID, &Default::default()).await.unwrap();
        assert_eq!(
            all.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(),
            ["INC-000002", "INC-000001", "INC-000003"]
        );
        assert_eq!(all[1], want);
        assert_eq!(all[2].events, [inc_event("closed", 1)]);
        use govcloud_store::IncidentFilter as F;
        assert_eq!(
            list(F {
                package_no: Some(2),
                ..F::default()
            })
            .await,
            ["INC-000003"]
        );
        assert_eq!(
            list(F {
                open_only: true,
                ..F::default()
            })
            .await,
            ["INC-000002"]
        );
        assert_eq!(
            list(F {
                from: Some(at(2)),
                ..F::default()
            })
            .await,
            ["INC-000002", "INC-000001"]
        );
        assert_eq!(
            list(F {
                from: Some(at(1)),
                to: Some(at(3)),
                package_no: Some(1),
                open_only: false,
            })
            .await,
            ["INC-000001"]
        );
        assert!(s
            .incidents("other", &F::default())
            .await
            .unwrap()
            .is_empty());

        // A reloaded contract keeps its incidents.
        let c = catalog::parse(CONTRACT).unwrap();
        let edited = CONTRACT.replacen("# business systems", "# edited: business systems", 1);
        assert_eq!(
            s.load_contract(&c, &edited, "fp2", ev("catalog.load", &c.id))
                .await
                .unwrap(),
            LoadOutcome::Replaced
        );
        assert_eq!(list(F::default()).await.len(), 3);
    })
    .await;
}

/// Incidents opened in parallel get distinct numbers with no gaps.
#[tokio::test]
async fn parallel_incidents_take_consecutive_numbers() {
    on_every_backend(|f| async move {
        load_catalog(f.store.as_ref()).await;
        let mut tasks = Vec::new();
        for i in 0..12 {
            let s = f.store.clone();
            tasks.push(tokio::spawn(async move {
                s.open_incident(
                    &incident(&format!("并发 {i}"), 1, 1),
                    ev("incident.open", "x"),
                )
                .await
                .unwrap()
                .id
            }));
        }
        let mut ids = Vec::new();
        for t in tasks {
            ids.push(t.await.unwrap());
        }
        ids.sort();
        let want: Vec<String> = (1..=12).map(|n| format!("INC-{n:06}")).collect();
        assert_eq!(ids, want);
    })
    .await;
}

fn notice(id: &str, start_h: u32, end_h: u32) -> govcloud_store::NoticeRecord {
    govcloud_store::NoticeRecord {
        id: id.to_owned(),
        contract_id: CONTRACT_ID.to_owned(),
        title: format!("{id} 数据库升级"),
        systems: vec!["jypt".to_owned(), "zjk".to_owned()],
        start_at: at(start_h),
        end_at: at(end_h),
        impact: "交易平台只读".to_owned(),
        rollback: "恢复快照".to_owned(),
        emergency: false,
        reason: String::new(),
        override_reason: String::new(),
        key_periods: vec![],
        published_at: at(0),
        published_by: "operator".to_owned(),
        cancelled_at: None,
    }
}

#[tokio::test]
async fn notices_and_key_periods() {
    on_every_backend(|f| async move {
        let s = f.store.as_ref();
        load_catalog(s).await;
        let n0 = chain_ok(s).await;
        let n1 = notice("n1", 2, 4);
        let n2 = govcloud_store::NoticeRecord {
            systems: vec!["clwx".to_owned()],
            emergency: true,
            reason: "安全漏洞紧急修复".to_owned(),
            override_reason: "重点时期内必须修复".to_owned(),
            key_periods: vec!["两会".to_owned(), "国庆 \"长假\"".to_owned()],
            ..notice("n2", 6, 8)
        };
        let n3 = govcloud_store::NoticeRecord {
            contract_id: "other".to_owned(),
            ..notice("n3", 0, 23)
        };
        for n in [&n2, &n1, &n3] {
            let stored = s
                .publish_notice(n, ev("notice.publish", &n.id))
                .await
                .unwrap();
            assert_eq!(&stored, n);
        }
        assert_eq!(last_action(s).await, "notice.publish");
        let r = s
            .publish_notice(&notice("n1", 9, 10), ev("notice.publish", "n1"))
            .await;
        assert!(matches!(r, Err(StoreError::Conflict(_))), "{r:?}");
        assert_eq!(chain_ok(s).await, n0 + 3);
        assert_eq!(s.notice("n2").await.unwrap(), Some(n2.clone()));
        assert!(s.notice("n9").await.unwrap().is_none());

        // Windows [2, 4) and [6, 8) against [from, to), by start.
        let ids = |v: Vec<govcloud_store::NoticeRecord>| -> Vec<String> {
            v.into_iter().map(|n| n.id).collect()
        };
        assert_eq!(
            s.notices(CONTRACT_ID, None, None).await.unwrap(),
            [n1.clone(), n2.clone()]
        );
        for (from, to, want) in [
            (Some(4), Some(6), vec![]),
            (Some(3), Some(7), vec!["n1", "n2"]),
            (Some(0), Some(2), vec![]),
            (Some(7), Some(9), vec!["n2"]),
            (Some(5), None, vec!["n2"]),
            (None, Some(3), vec!["n1"]),
            (Some(8), None, vec![]),
        ] {
            assert_eq!(
                ids(s
                    .notices(CONTRACT_ID, from.map(at), to.map(at))
                    .await
                    .unwrap()),
                want,
                "[{from:?}, {to:?})"
            );
        }

        // Cancelling: once; cancelled notices are still listed.
        let cancelled = s
            .cancel_notice("n1", at(1), ev("notice.cancel", "n1"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(last_action(s).await, "notice.cancel");
        assert_eq!(
            cancelled,
            govcloud_store::NoticeRecord {
                cancelled_at: Some(at(1)),
                ..n1.clone()
            }
        );
        let r = s
            .cancel_notice("n1", at(2), ev("notice.cancel", "n1"))
            .await;
        assert!(matches!(r, Err(StoreError::Conflict(_))), "{r:?}");
        assert!(s
            .cancel_notice("n9", at(2), ev("notice.cancel", "n9"))
            .await
            .unwrap()
            .is_none());
        assert_eq!(chain_ok(s).await, n0 + 4);
        assert_eq!(
            s.notices(CONTRACT_ID, None, Some(at(3))).await.unwrap(),
            [cancelled]
        );

        // Key periods: by first day; one per name and first day; never backwards.
        let kp = |name: &str, first: &str, last: &str| govcloud_store::KeyPeriodRecord {
            id: 0,
            name: name.to_owned(),
            first_day: day(first),
            last_day: day(last),
            created_by: "admin".to_owned(),
            created_at: at(0),
        };
        let k0 = chain_ok(s).await;
        let national = s
            .add_key_period(
                &kp("国庆", "2026-10-01", "2026-10-08"),
                ev("key_period.add", "国庆"),
            )
            .await
            .unwrap();
        assert_eq!(last_action(s).await, "key_period.add");
        let congress = s
            .add_key_period(
                &kp("两会", "2026-03-03", "2026-03-15"),
                ev("key_period.add", "两会"),
            )
            .await
            .unwrap();
        let one_day = s
            .add_key_period(
                &kp("两会", "2027-03-05", "2027-03-05"),
                ev("key_period.add", "两会"),
            )
            .await
            .unwrap();
        assert_eq!(
            congress,
            govcloud_store::KeyPeriodRecord {
                id: congress.id,
                ..kp("两会", "2026-03-03", "2026-03-15")
            }
        );
        assert!(national.id != congress.id && congress.id != one_day.id);
        for (k, what) in [
            (
                kp("两会", "2026-03-03", "2026-03-20"),
                "same name and first day",
            ),
            (kp("春节", "2026-02-20", "2026-02-10"), "backwards"),
        ] {
            let r = s.add_key_period(&k, ev("key_period.add", &k.name)).await;
            assert!(matches!(r, Err(StoreError::Conflict(_))), "{what}: {r:?}");
        }
        assert_eq!(chain_ok(s).await, k0 + 3);
        assert_eq!(
            s.key_periods().await.unwrap(),
            [congress.clone(), national.clone(), one_day.clone()]
        );
        assert!(s
            .remove_key_period(national.id, ev("key_period.remove", "国庆"))
            .await
            .unwrap());
        assert_eq!(last_action(s).await, "key_period.remove");
        assert!(!s
            .remove_key_period(national.id, ev("key_period.remove", "国庆"))
            .await
            .unwrap());
        assert_eq!(chain_ok(s).await, k0 + 4);
        assert_eq!(s.key_periods().await.unwrap(), [congress, one_day]);
    })
    .await;
}

fn channel(id: &str, kind: &str, h: u32) -> govcloud_store::ChannelRecord {
    govcloud_store::ChannelRecord {
        id: id.to_owned(),
        kind: kind.to_owned(),
        target: if kind == "webhook" {
            "https://hooks.example.gov.cn/govcloud".to_owned()
        } else {
            "ops@example.gov.cn,duty@example.gov.cn".to_owned()
        },
        secret_wrapped: (kind == "webhook").then(|| (0..=255u8).collect()),
        created_by: "admin".to_owned(),
        created_at: at(h),
    }
}

#[tokio::test]
async fn channels_and_the_delivery_lifecycle() {
    on_every_backend(|f| async move {
        let s = f.store.as_ref();
        let n0 = chain_ok(s).await;
        let hook = s
            .add_channel(&channel("hook", "webhook", 2), ev("channel.add", "hook"))
            .await
            .unwrap();
        assert_eq!(hook, channel("hook", "webhook", 2));
        assert_eq!(last_action(s).await, "channel.add");
        let mail = s
            .add_channel(&channel("mail", "email", 1), ev("channel.add", "mail"))
            .await
            .unwrap();
        for (c, what) in [
            (channel("mail", "webhook", 3), "id reused"),
            (channel("sms", "sms", 3), "unknown kind"),
        ] {
            let r = s.add_channel(&c, ev("channel.add", &c.id)).await;
            assert!(matches!(r, Err(StoreError::Conflict(_))), "{what}: {r:?}");
        }
        assert_eq!(chain_ok(s).await, n0 + 2);
        assert_eq!(s.channels().await.unwrap(), [mail.clone(), hook.clone()]);

        // Queueing: once per channel and event key.
        let key = "incident:INC-000001:opened";
        let d1 = s
            .enqueue_delivery(
                "mail",
                key,
                "故障 INC-000001",
                r#"{"id":"INC-000001"}"#,
                at(1),
            )
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            d1,
            govcloud_store::DeliveryRecord {
                id: d1.id,
                channel_id: "mail".to_owned(),
                event_key: key.to_owned(),
                subject: "故障 INC-000001".to_owned(),
                body: r#"{"id":"INC-000001"}"#.to_owned(),
                status: "pending".to_owned(),
                attempts: 0,
                last_error: String::new(),
                next_attempt_at: at(1),
                created_at: at(1),
                sent_at: None,
            }
        );
        assert!(s
            .enqueue_delivery("mail", key, "again", "{}", at(2))
            .await
            .unwrap()
            .is_none());
        let d2 = s
            .enqueue_delivery("hook", key, "故障 INC-000001", "{}", at(1))
            .await
            .unwrap()
            .unwrap();
        let d3 = s
            .enqueue_delivery("hook", "incident:INC-000001:closed", "关闭", "{}", at(5))
            .await
            .unwrap()
            .unwrap();
        let r = s.enqueue_delivery("sms", key, "x", "{}", at(1)).await;
        assert!(matches!(r, Err(StoreError::NotFound(_))), "{r:?}");
        assert_eq!(s.deliveries(100).await.unwrap().len(), 3);
        let ids = |v: Vec<govcloud_store::DeliveryRecord>| -> Vec<i64> {
            v.into_iter().map(|d| d.id).collect()
        };
        assert!(s.due_deliveries(at(0), 10).await.unwrap().is_empty());
        assert_eq!(
            ids(s.due_deliveries(at(1), 10).await.unwrap()),
            [d1.id, d2.id]
        );
        assert_eq!(ids(s.due_deliveries(at(1), 1).await.unwrap()), [d1.id]);

        // pending → retry → sent.
        s.delivery_attempted(d1.id, at(1), false, "smtp: 421 try later", Some(at(3)))
            .await
            .unwrap();
        let get = |id: i64| async move {
            s.deliveries(100)
                .await
                .unwrap()
                .into_iter()
                .find(|d| d.id == id)
                .unwrap()
        };
        let d = get(d1.id).await;
        assert_eq!(
            (
                d.status.as_str(),
                d.attempts,
                d.last_error.as_str(),
                d.next_attempt_at,
                d.sent_at
            ),
            ("pending", 1, "smtp: 421 try later", at(3), None)
        );
        assert_eq!(ids(s.due_deliveries(at(2), 10).await.unwrap()), [d2.id]);
        assert_eq!(
            ids(s.due_deliveries(at(3), 10).await.unwrap()),
            [d2.id, d1.id]
        );
        s.delivery_attempted(d1.id, at(3), true, "", None)
            .await
            .unwrap();
        let d = get(d1.id).await;
        assert_eq!(
            (
                d.status.as_str(),
                d.attempts,
                d.last_error.as_str(),
                d.sent_at
            ),
            ("sent", 2, "", Some(at(3)))
        );

        // pending → failed (no retry).
        s.delivery_attempted(d2.id, at(2), false, "HTTP 500", None)
            .await
            .unwrap();
        let d = get(d2.id).await;
        assert_eq!(
            (
                d.status.as_str(),
                d.attempts,
                d.last_error.as_str(),
                d.sent_at
            ),
            ("failed", 1, "HTTP 500", None)
        );
        assert_eq!(ids(s.due_deliveries(at(23), 10).await.unwrap()), [d3.id]);
        let r = s
            .delivery_attempted(d3.id + 100, at(5), true, "", None)
            .await;
        assert!(matches!(r, Err(StoreError::NotFound(_))), "{r:?}");

        // The log, newest first.
        assert_eq!(ids(s.deliveries(10).await.unwrap()), [d3.id, d2.id, d1.id]);
        assert_eq!(ids(s.deliveries(1).await.unwrap()), [d3.id]);

        // Removing a channel keeps its deliveries; deliveries are never audited.
        assert_eq!(chain_ok(s).await, n0 + 2);
        assert!(s
            .remove_channel("mail", ev("channel.remove", "mail"))
            .await
            .unwrap());
        assert_eq!(last_action(s).await, "channel.remove");
        assert!(!s
            .remove_channel("mail", ev("channel.remove", "mail"))
            .await
            .unwrap());
        assert_eq!(chain_ok(s).await, n0 + 3);
        assert_eq!(s.channels().await.unwrap(), [hook]);
        assert_eq!(get(d1.id).await.status, "sent");
    })
    .await;
}
