//! Operations 运维 through the API: incidents with SLA clocks, maintenance notices with their
//! lead time and key periods, the monthly report's exceptions, and a monitor against a real
//! local server that goes down — opening an incident and notifying over real SMTP (Python's
//! aiosmtpd, when `GOVCLOUD_TEST_SMTP_PYTHON` names a Python that has it; CI sets it) and a
//! real webhook receiver that checks the HMAC-SM3 signature with RustCrypto's `hmac` + `sm3`.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, SecondsFormat, TimeZone, Utc};
use common::{error_code, spawn_app, spawn_app_with_scheduler, App};
use hmac::{KeyInit, Mac};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

fn t(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

async fn post(app: &App, role: &str, path: &str, body: Value) -> reqwest::Response {
    app.as_role(Method::POST, path, role)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn get(app: &App, role: &str, path: &str) -> Value {
    let r = app.as_role(Method::GET, path, role).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "GET {path}");
    r.json().await.unwrap()
}

fn clock<'a>(incident: &'a Value, name: &str) -> &'a Value {
    incident["sla"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["clock"] == name)
        .unwrap_or_else(|| panic!("no {name} clock in {incident}"))
}

#[tokio::test]
async fn incidents_run_the_packages_sla_clocks() {
    let app = spawn_app().await;
    let now = Utc::now();
    let opened = now - Duration::minutes(50);
    // Package 1, an outage reported by the hotline 50 minutes ago.
    let r = post(&app, "operator", "/api/v1/incidents",
        json!({"package": 1, "system": "jypt", "severity": "outage", "title": "交易平台无法访问", "opened_at": t(opened)})).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let i: Value = r.json().await.unwrap();
    let id = i["id"].as_str().unwrap().to_owned();
    assert_eq!(i["source"], "hotline");
    let names: Vec<&str> = i["sla"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["clock"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["respond", "restore"]);
    assert_eq!(clock(&i, "respond")["limit_minutes"], 30);
    assert_eq!(
        clock(&i, "respond")["breached"],
        true,
        "50 minutes without a response"
    );
    assert_eq!(clock(&i, "restore")["limit_minutes"], 240);
    assert_eq!(clock(&i, "restore")["state"], "running");

    // Responded at exactly 30:00 (entered afterwards): met.
    let r = post(&app, "operator", &format!("/api/v1/incidents/{id}/events"),
        json!({"kind": "responded", "at": t(opened + Duration::minutes(30)), "note": "值班工程师已响应"})).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let i: Value = r.json().await.unwrap();
    let respond = clock(&i, "respond");
    assert_eq!(
        (
            respond["elapsed_seconds"].as_i64(),
            respond["breached"].as_bool()
        ),
        (Some(1800), Some(false))
    );
    assert_eq!(respond["elapsed_minutes"], 30.0);
    assert_eq!(respond["state"], "met");
    let ev = &i["events"][0];
    assert_eq!(ev["at"], t(opened + Duration::minutes(30)));
    assert_ne!(
        ev["at"], ev["recorded_at"],
        "the entered time and the recorded time are both kept"
    );

    // Bad input changes nothing.
    let before = app.state().await;
    for (role, body, status, code) in [
        (
            "operator",
            json!({"kind": "responded"}),
            409,
            "duplicate_event",
        ),
        ("operator", json!({"kind": "fixed"}), 400, "invalid_event"),
        (
            "operator",
            json!({"kind": "located", "at": t(opened - Duration::minutes(1))}),
            400,
            "time_before_opened",
        ),
        (
            "operator",
            json!({"kind": "located", "at": "yesterday"}),
            400,
            "invalid_time",
        ),
        ("purchaser", json!({"kind": "restored"}), 403, "forbidden"),
        ("auditor", json!({"kind": "restored"}), 403, "forbidden"),
        (
            "operator",
            json!({"kind": "closed"}),
            400,
            "outage_report_required",
        ),
    ] {
        let r = post(
            &app,
            role,
            &format!("/api/v1/incidents/{id}/events"),
            body.clone(),
        )
        .await;
        let (s, c, _) = error_code(r).await;
        assert_eq!((s.as_u16(), c.as_str()), (status, code), "{role} {body}");
    }
    let r = post(
        &app,
        "operator",
        "/api/v1/incidents/INC-999999/events",
        json!({"kind": "responded"}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = app
        .as_role(Method::GET, "/api/v1/incidents/INC-999999", "auditor")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    for body in [
        json!({"package": 9, "system": "jypt", "severity": "outage"}),
        json!({"package": 1, "system": "zjk", "severity": "outage"}),
        json!({"package": 1, "system": "jypt", "severity": "down"}),
        json!({"package": 1, "system": "jypt", "severity": "outage", "opened_at": t(now + Duration::hours(1))}),
    ] {
        let r = post(&app, "operator", "/api/v1/incidents", body.clone()).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{body}");
    }
    assert_eq!(app.state().await, before);

    // Restored after 4 h 0 min 1 s is a breach; closing an outage writes its report.
    let r = post(
        &app,
        "operator",
        &format!("/api/v1/incidents/{id}/events"),
        json!({"kind": "restored"}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = post(&app, "operator", &format!("/api/v1/incidents/{id}/events"),
        json!({"kind": "closed", "cause": "负载均衡配置错误", "impact": "交易平台 50 分钟不可访问", "actions": "回滚配置并增加巡检"})).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let i: Value = r.json().await.unwrap();
    assert_eq!(i["status"], "closed");
    assert_eq!(i["cause"], "负载均衡配置错误");
    let report = i["report_url"].as_str().unwrap();
    let pdf = app
        .as_role(Method::GET, report, "purchaser")
        .send()
        .await
        .unwrap();
    assert_eq!(pdf.status(), StatusCode::OK);
    assert_eq!(pdf.headers()["content-type"], "application/pdf");
    assert!(pdf.bytes().await.unwrap().starts_with(b"%PDF"));
    let r = post(
        &app,
        "operator",
        &format!("/api/v1/incidents/{id}/events"),
        json!({"kind": "located"}),
    )
    .await;
    assert_eq!(error_code(r).await.1, "incident_closed");

    // Package 3: the on-site clock waits for the purchaser's request.
    let r = post(&app, "purchaser", "/api/v1/incidents",
        json!({"package": 3, "system": "zjk", "severity": "fault", "opened_at": t(now - Duration::minutes(10))})).await;
    let i: Value = r.json().await.unwrap();
    assert_eq!(i["source"], "purchaser");
    let names: Vec<&str> = i["sla"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["clock"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["respond", "locate", "onsite"]);
    assert_eq!(
        clock(&i, "respond")["breached"],
        true,
        "10 minutes against 5"
    );
    assert_eq!(clock(&i, "onsite")["state"], "not_started");
    let id3 = i["id"].as_str().unwrap();
    let r = post(
        &app,
        "purchaser",
        &format!("/api/v1/incidents/{id3}/events"),
        json!({"kind": "onsite_requested", "at": t(now - Duration::minutes(61))}),
    )
    .await;
    assert_eq!(error_code(r).await.1, "time_before_opened");
    let r = post(
        &app,
        "purchaser",
        &format!("/api/v1/incidents/{id3}/events"),
        json!({"kind": "onsite_requested", "at": t(now - Duration::minutes(2))}),
    )
    .await;
    let i: Value = r.json().await.unwrap();
    assert_eq!(clock(&i, "onsite")["state"], "running");
    assert!(clock(&i, "onsite")["remaining_seconds"].as_i64().unwrap() > 57 * 60);

    // The list filters open incidents; the audit log has every step.
    let open = get(&app, "auditor", "/api/v1/incidents?open=true").await;
    assert_eq!(open.as_array().unwrap().len(), 1);
    let audit = get(&app, "auditor", "/api/v1/audit?limit=200").await;
    let text = audit.to_string();
    assert!(text.contains("incident.open") && text.contains("incident.event"));
}

#[tokio::test]
async fn notices_need_a_day_unless_emergency() {
    let app = spawn_app().await;
    let now = Utc::now();
    // The bundled key periods were added with the contract; they are data, removed here so
    // that the test does not depend on today's date.
    let all = get(&app, "auditor", "/api/v1/key-periods").await;
    let names: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap())
        .collect();
    for want in ["春节", "两会", "五一", "十一"] {
        assert!(names.contains(&want), "{names:?}");
    }
    for k in all.as_array().unwrap() {
        let r = app
            .as_role(
                Method::DELETE,
                &format!("/api/v1/key-periods/{}", k["id"]),
                "admin",
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
    }
    let body = |start: DateTime<Utc>, emergency: bool| {
        json!({"title": "数据库版本升级", "systems": ["jypt"], "start": t(start),
               "end": t(start + Duration::hours(2)), "impact": "交易平台只读 2 小时",
               "rollback": "恢复快照", "emergency": emergency})
    };
    // 23 hours ahead: refused.
    let before = app.state().await;
    let r = post(
        &app,
        "operator",
        "/api/v1/notices",
        body(now + Duration::hours(23), false),
    )
    .await;
    let (s, code, _) = error_code(r).await;
    assert_eq!(
        (s, code.as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, "notice_too_late")
    );
    // Emergency without a reason: refused.
    let r = post(
        &app,
        "operator",
        "/api/v1/notices",
        body(now + Duration::hours(23), true),
    )
    .await;
    assert_eq!(error_code(r).await.1, "reason_required");
    // The purchaser does not publish notices.
    let r = post(
        &app,
        "purchaser",
        "/api/v1/notices",
        body(now + Duration::hours(25), false),
    )
    .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.state().await, before);

    // 25 hours ahead: published.
    let r = post(
        &app,
        "operator",
        "/api/v1/notices",
        body(now + Duration::hours(25), false),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let n: Value = r.json().await.unwrap();
    assert_eq!(
        (n["late"].as_bool(), n["emergency"].as_bool()),
        (Some(false), Some(false))
    );

    // 23 hours ahead as an emergency with a reason: published, an exception in the report.
    let mut b = body(now + Duration::hours(23), true);
    b["reason"] = json!("厂商紧急安全补丁");
    let r = post(&app, "operator", "/api/v1/notices", b).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["late"], true);
    let month = chrono_tz::Asia::Shanghai
        .from_utc_datetime(&(now + Duration::hours(23)).naive_utc())
        .format("%Y-%m")
        .to_string();
    let report = get(
        &app,
        "purchaser",
        &format!("/api/v1/ops/report?month={month}&package=1"),
    )
    .await;
    let exceptions = report["exceptions"].as_array().unwrap();
    assert_eq!(exceptions.len(), 1, "{report}");
    assert_eq!(exceptions[0]["kind"], "紧急变更");
    assert_eq!(exceptions[0]["reason"], "厂商紧急安全补丁");
    let kinds: Vec<&str> = report["notices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"紧急变更"), "{kinds:?}");
    // Other packages' systems are not in package 4's report.
    let p4 = get(
        &app,
        "purchaser",
        &format!("/api/v1/ops/report?month={month}&package=4"),
    )
    .await;
    assert!(p4["notices"].as_array().unwrap().is_empty());
    for format in ["xlsx", "pdf"] {
        let r = app
            .as_role(
                Method::GET,
                &format!("/api/v1/ops/report?month={month}&package=1&format={format}"),
                "auditor",
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{format}");
        assert!(r.bytes().await.unwrap().len() > 1000);
    }

    // Key periods are data: work inside one needs an override with a reason.
    let kp = post(&app, "purchaser", "/api/v1/key-periods",
        json!({"name": "年度业务高峰", "first_day": (now + Duration::days(10)).date_naive().to_string(),
               "last_day": (now + Duration::days(12)).date_naive().to_string()})).await;
    assert_eq!(kp.status(), StatusCode::CREATED);
    let kp: Value = kp.json().await.unwrap();
    let r = post(
        &app,
        "operator",
        "/api/v1/notices",
        body(now + Duration::days(11), false),
    )
    .await;
    let (s, code, _) = error_code(r).await;
    assert_eq!(
        (s, code.as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, "key_period")
    );
    let mut b = body(now + Duration::days(11), false);
    b["override_reason"] = json!("等保测评整改必须在高峰前完成");
    let r = post(&app, "operator", "/api/v1/notices", b).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let n: Value = r.json().await.unwrap();
    assert_eq!(n["key_periods"], json!(["年度业务高峰"]));
    let r = app
        .as_role(
            Method::DELETE,
            &format!("/api/v1/key-periods/{}", kp["id"]),
            "purchaser",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = app
        .as_role(
            Method::DELETE,
            &format!("/api/v1/key-periods/{}", kp["id"]),
            "purchaser",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // Cancelling.
    let id = n["id"].as_str().unwrap();
    let r = post(
        &app,
        "operator",
        &format!("/api/v1/notices/{id}/cancel"),
        json!({}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = post(
        &app,
        "operator",
        &format!("/api/v1/notices/{id}/cancel"),
        json!({}),
    )
    .await;
    assert_eq!(error_code(r).await.1, "already_cancelled");
}

/// A webhook receiver: every POST's headers of interest and body.
#[derive(Clone, Default)]
struct Received(Arc<Mutex<Vec<Hook>>>);

/// One webhook delivery as received.
#[derive(Clone)]
struct Hook {
    event: String,
    timestamp: String,
    signature: String,
    body: String,
}

async fn webhook_receiver() -> (String, Received) {
    use axum::http::HeaderMap;
    let got = Received::default();
    let g = got.clone();
    let router = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |h: HeaderMap, body: String| {
            let g = g.clone();
            async move {
                let hv = |k: &str| {
                    h.get(k)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_owned()
                };
                g.0.lock().unwrap().push(Hook {
                    event: hv("x-govcloud-event"),
                    timestamp: hv("x-govcloud-timestamp"),
                    signature: hv("x-govcloud-signature"),
                    body,
                });
                "ok"
            }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, router).await.unwrap() });
    (url, got)
}

/// The watched "business system": serves until its task is aborted.
async fn business_system(listener: tokio::net::TcpListener) -> tokio::task::JoinHandle<()> {
    let router =
        axum::Router::new().route("/health", axum::routing::get(|| async { "交易平台 ok" }));
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() })
}

/// aiosmtpd writing each message into a Maildir, when a Python with aiosmtpd is given.
struct Smtp {
    child: std::process::Child,
    maildir: tempfile::TempDir,
    port: u16,
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Smtp {
    fn start() -> Option<Smtp> {
        let Ok(python) = std::env::var("GOVCLOUD_TEST_SMTP_PYTHON") else {
            eprintln!("SMTP part skipped: set GOVCLOUD_TEST_SMTP_PYTHON to a Python with aiosmtpd");
            return None;
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let maildir = tempfile::tempdir().unwrap();
        let child = std::process::Command::new(python)
            .args([
                "-m",
                "aiosmtpd",
                "-n",
                "-l",
                &format!("127.0.0.1:{port}"),
                "-c",
                "aiosmtpd.handlers.Mailbox",
            ])
            .arg(maildir.path().join("mail"))
            .spawn()
            .expect("aiosmtpd starts");
        // Killed and waited for by `Drop`, also when it never listens.
        let smtp = Smtp {
            child,
            maildir,
            port,
        };
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some(smtp);
            }
            std::thread::sleep(StdDuration::from_millis(100));
        }
        panic!("aiosmtpd did not listen on {port}");
    }

    /// The messages received so far, decoded by Python's `email` package: the To and
    /// Subject headers and the text.
    fn messages(&self) -> Vec<String> {
        let dir = self.maildir.path().join("mail").join("new");
        let Ok(rd) = std::fs::read_dir(dir) else {
            return vec![];
        };
        let python = std::env::var("GOVCLOUD_TEST_SMTP_PYTHON").unwrap();
        let script = "import email, email.policy, sys\n\
            m = email.message_from_binary_file(open(sys.argv[1], 'rb'), policy=email.policy.default)\n\
            print(m['to']); print(m['subject']); print(m.get_content())";
        rd.map(|e| {
            let out = std::process::Command::new(&python)
                .args(["-c", script])
                .arg(e.unwrap().path())
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8(out.stdout).unwrap()
        })
        .collect()
    }
}

async fn wait_for<T>(what: &str, secs: u64, mut f: impl AsyncFnMut() -> Option<T>) -> T {
    for _ in 0..secs * 10 {
        if let Some(v) = f().await {
            return v;
        }
        tokio::time::sleep(StdDuration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_monitor_that_goes_down_opens_an_incident_and_notifies_once() {
    let smtp = Smtp::start();
    let settings = govcloud::notify::Settings {
        smtp_url: smtp
            .as_ref()
            .map(|s| format!("smtp://127.0.0.1:{}", s.port)),
        from: "govcloud@example.com".into(),
    };
    let app = spawn_app_with_scheduler(settings).await;
    let (hook_url, hooks) = webhook_receiver().await;

    // Channels: one webhook (its secret shown once) and, with SMTP, one mailbox.
    let r = post(
        &app,
        "operator",
        "/api/v1/channels",
        json!({"kind": "webhook", "target": hook_url}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let ch: Value = r.json().await.unwrap();
    let secret = hex::decode(ch["secret"].as_str().unwrap()).unwrap();
    assert_eq!(secret.len(), 16);
    let listed = get(&app, "operator", "/api/v1/channels").await;
    assert!(
        !listed.to_string().contains(ch["secret"].as_str().unwrap()),
        "the secret is shown once"
    );
    if smtp.is_some() {
        let r = post(
            &app,
            "operator",
            "/api/v1/channels",
            json!({"kind": "email", "target": "ops@example.com"}),
        )
        .await;
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    let r = post(
        &app,
        "operator",
        "/api/v1/channels",
        json!({"kind": "email", "target": "not an address"}),
    )
    .await;
    assert_eq!(error_code(r).await.1, "invalid_address");

    // The watched system and its monitor (every 2 s).
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = business_system(listener).await;
    let interval = 2;
    let r = post(
        &app,
        "operator",
        "/api/v1/monitors",
        json!({
        "kind": "http", "target": format!("http://{addr}/health"), "package": 1, "system": "jypt",
        "name": "交易平台首页", "interval_seconds": interval, "timeout_seconds": 1, "retries": 0,
        "body_match": "ok"}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let m: Value = r.json().await.unwrap();
    let mid = m["id"].as_str().unwrap().to_owned();
    wait_for("the monitor to be up", 20, async || {
        let m = get(&app, "auditor", &format!("/api/v1/monitors/{mid}")).await;
        (m["monitor"]["state"] == "up").then_some(())
    })
    .await;

    // The system goes down.
    server.abort();
    let _ = server.await;
    let down_at = Utc::now();
    let incident = wait_for("an incident", 30, async || {
        let l = get(&app, "auditor", "/api/v1/incidents?open=true").await;
        l.as_array().unwrap().first().cloned()
    })
    .await;
    assert_eq!(incident["source"], "monitor");
    assert_eq!(incident["severity"], "outage");
    assert_eq!(incident["monitor"], mid.as_str());
    let opened: DateTime<Utc> = incident["opened_at"].as_str().unwrap().parse().unwrap();
    assert!(
        opened - down_at <= Duration::seconds(2 * interval),
        "opened {opened}, down at {down_at}: more than two intervals"
    );
    let id = incident["id"].as_str().unwrap().to_owned();

    // One webhook, signed; one e-mail.
    let hook = wait_for("the webhook", 30, async || {
        hooks.0.lock().unwrap().first().cloned()
    })
    .await;
    assert_eq!(hook.event, format!("incident:{id}:opened"));
    let mut mac = hmac::Hmac::<sm3::Sm3>::new_from_slice(&secret).unwrap();
    mac.update(format!("{}.{}", hook.timestamp, hook.body).as_bytes());
    assert_eq!(
        hook.signature,
        format!("hmac-sm3={}", hex::encode(mac.finalize().into_bytes()))
    );
    let body: Value = serde_json::from_str(&hook.body).unwrap();
    assert_eq!(body["data"]["incident"], id.as_str());
    if let Some(smtp) = &smtp {
        let mail = wait_for("the e-mail", 30, async || smtp.messages().first().cloned()).await;
        assert!(mail.contains("ops@example.com"), "{mail}");
        assert!(
            mail.contains(&format!("【宕机】{id}")),
            "the subject names the incident: {mail}"
        );
        assert!(
            mail.contains("响应时限 30 分钟"),
            "the text gives the clocks: {mail}"
        );
    }
    // Still down over further checks: nothing more is opened or sent.
    tokio::time::sleep(StdDuration::from_secs(2 * interval as u64 + 1)).await;
    let checks = get(&app, "auditor", &format!("/api/v1/monitors/{mid}")).await;
    let failed = checks["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["ok"] == false)
        .count();
    assert!(failed >= 2, "the monitor kept checking: {checks}");
    assert_eq!(
        get(&app, "auditor", "/api/v1/incidents")
            .await
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let incident_hooks = |h: &Received| {
        h.0.lock()
            .unwrap()
            .iter()
            .filter(|x| x.event.starts_with("incident:"))
            .count()
    };
    assert_eq!(incident_hooks(&hooks), 1);
    if let Some(smtp) = &smtp {
        assert_eq!(smtp.messages().len(), 1);
    }

    // Back up: the incident is marked restored by the monitor; people close it.
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let server = business_system(listener).await;
    wait_for("the restored event", 30, async || {
        let i = get(&app, "auditor", &format!("/api/v1/incidents/{id}")).await;
        i["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "restored")
            .then_some(())
    })
    .await;
    let r = post(&app, "operator", &format!("/api/v1/incidents/{id}/events"),
        json!({"kind": "closed", "cause": "测试：服务进程停止", "impact": "首页不可访问", "actions": "重启"})).await;
    assert_eq!(r.status(), StatusCode::CREATED);

    // An emergency notice covers the system now: going down again is planned.
    let now = Utc::now();
    let r = post(
        &app,
        "operator",
        "/api/v1/notices",
        json!({
        "title": "交易平台紧急重启", "systems": ["jypt"], "start": t(now),
        "end": t(now + Duration::hours(1)), "emergency": true, "reason": "内存泄漏",
        "override_reason": "如遇重点时期：故障处置不能推迟"}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    server.abort();
    let _ = server.await;
    wait_for("the monitor to be down", 30, async || {
        let m = get(&app, "auditor", &format!("/api/v1/monitors/{mid}")).await;
        (m["monitor"]["state"] == "down").then_some(())
    })
    .await;
    tokio::time::sleep(StdDuration::from_secs(2 * interval as u64 + 1)).await;
    let all = get(&app, "auditor", "/api/v1/incidents").await;
    assert_eq!(
        all.as_array().unwrap().len(),
        1,
        "no incident during the notice: {all}"
    );
    // Deliveries: the incident's opening and closing, the notice; nothing else.
    wait_for("the notice's webhook", 30, async || {
        hooks
            .0
            .lock()
            .unwrap()
            .iter()
            .any(|x| x.event.starts_with("notice:"))
            .then_some(())
    })
    .await;
    let events: Vec<String> = hooks
        .0
        .lock()
        .unwrap()
        .iter()
        .map(|x| x.event.clone())
        .collect();
    assert_eq!(
        events.iter().filter(|e| e.ends_with(":opened")).count(),
        1,
        "{events:?}"
    );
    let log = get(&app, "operator", "/api/v1/deliveries").await;
    assert!(
        log.as_array()
            .unwrap()
            .iter()
            .all(|d| d["status"] != "failed"),
        "{log}"
    );
    // The monthly report shows the planned downtime apart and the incident.
    let month = chrono_tz::Asia::Shanghai
        .from_utc_datetime(&now.naive_utc())
        .format("%Y-%m")
        .to_string();
    let report = get(
        &app,
        "purchaser",
        &format!("/api/v1/ops/report?month={month}&package=1"),
    )
    .await;
    assert_eq!(report["incidents"].as_array().unwrap().len(), 1, "{report}");
    assert_eq!(report["availability"][0]["monitors"], 1);
}

/// A TLS server with a certificate from govcloud's own RSA CA for 127.0.0.1, answering
/// every request with `200 ok`.
async fn tls_server(app: &App) -> (std::net::SocketAddr, String) {
    use rustls::pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let r = post(
        app,
        "operator",
        "/api/v1/pki/certificates",
        json!({
        "profile": "server", "sans": ["ip:127.0.0.1"], "key_password": "monitor test password"}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let v: Value = r.json().await.unwrap();
    let rsa = &v["certificates"][2];
    assert_eq!(rsa["profile"], "server-rsa");
    let chain_pem = app
        .http
        .get(app.url("/pki/ca/rsa.pem"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut chain =
        vec![
            CertificateDer::from_pem_slice(rsa["certificate_pem"].as_str().unwrap().as_bytes())
                .unwrap(),
        ];
    chain.extend(CertificateDer::pem_slice_iter(chain_pem.as_bytes()).map(|c| c.unwrap()));
    let key = govcloud_pki::keygen::decrypt_pem(
        rsa["encrypted_private_key_pem"].as_str().unwrap(),
        "monitor test password",
    )
    .unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(chain, PrivateKeyDer::Pkcs8(key.to_vec().into()))
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut buf = [0u8; 4096];
                if tls.read(&mut buf).await.unwrap_or(0) > 0 {
                    let _ = tls
                        .write_all(
                            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                        )
                        .await;
                }
                let _ = tls.shutdown().await;
            });
        }
    });
    (addr, chain_pem)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_https_and_tcp_probes() {
    let app = spawn_app().await;
    let (addr, ca) = tls_server(&app).await;
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let mut n = 0;
    let mut probe = async |body: Value| {
        n += 1;
        let mut body = body;
        body["name"] = json!(format!("probe {n}"));
        body["package"] = json!(1);
        body["system"] = json!("jypt");
        body["retries"] = json!(0);
        let r = post(&app, "operator", "/api/v1/monitors", body.clone()).await;
        assert_eq!(r.status(), StatusCode::CREATED, "{body}");
        let m: Value = r.json().await.unwrap();
        let rec = app
            .store
            .monitor(m["id"].as_str().unwrap())
            .await
            .unwrap()
            .unwrap();
        govcloud::monitors::probe(&rec).await
    };
    // The certificate (govcloud's RSA server profile) has months left: up, with the days.
    let o = probe(json!({"kind": "tls", "target": addr.to_string(), "ca_pem": ca})).await;
    assert!(o.ok, "{}", o.detail);
    let days: i64 = o
        .detail
        .trim_start_matches("证书剩余 ")
        .trim_end_matches(" 天")
        .parse()
        .unwrap();
    assert!(days > 14, "{}", o.detail);
    // Asking for more days than it has left: down.
    let o = probe(
        json!({"kind": "tls", "target": addr.to_string(), "ca_pem": ca, "tls_min_days": days + 1}),
    )
    .await;
    assert!(
        !o.ok && o.detail.contains(&format!("少于 {} 天", days + 1)),
        "{}",
        o.detail
    );
    // Without the private CA the certificate is not trusted.
    let o = probe(json!({"kind": "tls", "target": addr.to_string()})).await;
    assert!(!o.ok && o.detail.contains("握手失败"), "{}", o.detail);
    // HTTPS through the same server.
    let url = format!("https://{addr}/");
    let o = probe(json!({"kind": "http", "target": url, "ca_pem": ca, "body_match": "ok", "expect_status": 200})).await;
    assert!(o.ok, "{}", o.detail);
    let o = probe(json!({"kind": "http", "target": url, "ca_pem": ca, "body_match": "交易"})).await;
    assert!(!o.ok && o.detail.contains("响应中没有"), "{}", o.detail);
    let o = probe(json!({"kind": "http", "target": url})).await;
    assert!(!o.ok, "untrusted without the CA: {}", o.detail);
    // TCP.
    assert!(
        probe(json!({"kind": "tcp", "target": addr.to_string()}))
            .await
            .ok
    );
    let o = probe(json!({"kind": "tcp", "target": closed.to_string()})).await;
    assert!(!o.ok && o.detail.contains("连接失败"), "{}", o.detail);

    // Bad monitors are refused and change nothing.
    let before = app.state().await;
    for (body, code) in [
        (
            json!({"kind": "ping", "target": "x", "package": 1, "system": "jypt"}),
            "invalid_kind",
        ),
        (
            json!({"kind": "tcp", "target": "no-port", "package": 1, "system": "jypt"}),
            "invalid_target",
        ),
        (
            json!({"kind": "http", "target": "ftp://x/", "package": 1, "system": "jypt"}),
            "invalid_target",
        ),
        (
            json!({"kind": "tcp", "target": "a:1", "package": 1, "system": "zjk"}),
            "unknown_system",
        ),
        (
            json!({"kind": "tcp", "target": "a:1", "package": 1, "system": "jypt", "interval_seconds": 0}),
            "out_of_range",
        ),
        (
            json!({"kind": "tls", "target": "a:1", "package": 1, "system": "jypt", "ca_pem": "not pem"}),
            "invalid_certificate",
        ),
    ] {
        let r = post(&app, "operator", "/api/v1/monitors", body.clone()).await;
        let (s, c, _) = error_code(r).await;
        assert_eq!((s, c.as_str()), (StatusCode::BAD_REQUEST, code), "{body}");
    }
    let r = post(
        &app,
        "operator",
        "/api/v1/monitors",
        json!({"kind": "tcp", "target": "a:1", "package": 1, "system": "jypt", "name": "probe 1"}),
    )
    .await;
    assert_eq!(error_code(r).await.1, "duplicate_name");
    let r = post(
        &app,
        "purchaser",
        "/api/v1/monitors",
        json!({"kind": "tcp", "target": "a:1", "package": 1, "system": "jypt"}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.state().await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clocks_warn_and_breach_once_and_deliveries_retry() {
    let app = spawn_app().await;
    let store = app.store.as_ref();
    // A receiver that refuses the first delivery.
    let got = Received::default();
    let g = got.clone();
    let router = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |h: axum::http::HeaderMap, body: String| {
            let g = g.clone();
            async move {
                let mut all = g.0.lock().unwrap();
                all.push(Hook {
                    event: h["x-govcloud-event"].to_str().unwrap().to_owned(),
                    timestamp: String::new(),
                    signature: String::new(),
                    body,
                });
                if all.len() == 1 {
                    StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    StatusCode::NO_CONTENT
                }
            }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, router).await.unwrap() });
    let r = post(
        &app,
        "operator",
        "/api/v1/channels",
        json!({"kind": "webhook", "target": url}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);

    // Package 1 outages: one 26 minutes old (a fifth of the 30-minute response clock left:
    // 即将超时), one 31 minutes old (已超时).
    let now = Utc::now();
    let mut ids = Vec::new();
    for minutes in [26, 31] {
        let r = post(
            &app,
            "operator",
            "/api/v1/incidents",
            json!({"package": 1, "system": "jypt",
            "severity": "outage", "opened_at": t(now - Duration::minutes(minutes))}),
        )
        .await;
        let i: Value = r.json().await.unwrap();
        ids.push(i["id"].as_str().unwrap().to_owned());
    }
    let (stored, c) = app.state.contract().await.unwrap().unwrap();
    let queued = govcloud::incidents::sweep_clocks(store, &stored.id, &c, Utc::now())
        .await
        .unwrap();
    assert_eq!(queued, 2);
    let keys: Vec<String> = store
        .deliveries(100)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.event_key)
        .collect();
    assert!(
        keys.contains(&format!("incident:{}:respond:warning", ids[0])),
        "{keys:?}"
    );
    assert!(
        keys.contains(&format!("incident:{}:respond:breached", ids[1])),
        "{keys:?}"
    );
    // Once per clock: sweeping again queues nothing.
    assert_eq!(
        govcloud::incidents::sweep_clocks(store, &stored.id, &c, Utc::now())
            .await
            .unwrap(),
        0
    );
    // Responding stops the clock: no breach notice for it later.
    post(
        &app,
        "operator",
        &format!("/api/v1/incidents/{}/events", ids[0]),
        json!({"kind": "responded"}),
    )
    .await;
    let later = Utc::now() + Duration::minutes(10);
    assert_eq!(
        govcloud::incidents::sweep_clocks(store, &stored.id, &c, later)
            .await
            .unwrap(),
        0
    );

    // Deliveries: the first attempt of the first one fails and is retried 5 s later.
    let sent = govcloud::notify::deliver_due(&app.state).await.unwrap();
    let log = get(&app, "operator", "/api/v1/deliveries").await;
    let failed: Vec<&Value> = log
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["status"] == "pending")
        .collect();
    assert_eq!(failed.len(), 1, "{log}");
    assert_eq!(failed[0]["attempts"], 1);
    assert!(
        failed[0]["last_error"].as_str().unwrap().contains("500"),
        "{log}"
    );
    let total = log.as_array().unwrap().len();
    assert_eq!(sent, total - 1);
    tokio::time::sleep(StdDuration::from_millis(5200)).await;
    assert_eq!(govcloud::notify::deliver_due(&app.state).await.unwrap(), 1);
    let log = get(&app, "operator", "/api/v1/deliveries").await;
    assert!(
        log.as_array()
            .unwrap()
            .iter()
            .all(|d| d["status"] == "sent"),
        "{log}"
    );
    assert_eq!(got.0.lock().unwrap().len(), total + 1, "one retry");
}
