//! Monthly service statements through the API: a hand-computed month (a mid-month start, a
//! resize, a price change mid-month, per-occurrence work), issue with an SM2 signature that
//! Debian's OpenSSL verifies and a timestamp over SM3 of the JSON, byte-identical re-runs,
//! late data giving version 2 with a diff, per-year items and crypto call details, files,
//! and bad input refused without changing anything.

mod common;

use std::path::Path;
use std::process::Command;

use common::{error_code, spawn_app};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

async fn call(
    app: &common::App,
    m: Method,
    path: &str,
    role: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut rq = app.as_role(m, path, role);
    if let Some(b) = body {
        rq = rq.json(&b);
    }
    let r = rq.send().await.unwrap();
    let st = r.status();
    (st, r.json().await.unwrap_or(Value::Null))
}

async fn ok(app: &common::App, m: Method, path: &str, body: Option<Value>) -> Value {
    let (st, v) = call(app, m, path, "operator", body).await;
    assert!(st.is_success(), "{path}: {st} {v}");
    v
}

async fn bytes(app: &common::App, path: &str) -> (StatusCode, String, Vec<u8>) {
    let r = app
        .as_role(Method::GET, path, "purchaser")
        .send()
        .await
        .unwrap();
    let st = r.status();
    let ct = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (st, ct, r.bytes().await.unwrap().to_vec())
}

fn openssl(dir: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("Debian's openssl is installed");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// October 2026 for jypt, package 1 (31 days = 2,678,400 s):
/// - p1-internet-ip: 10 IPs from 1 Oct 00:00, 4 from 11 Oct 00:00 (Beijing time);
///   60 元/月 until 16 Oct 00:00, 90 元/月 after.
///   Line 1: 60 × (10×10 + 4×5) IP-days / 31 = 232.258… → 232.26 (mean 3.8710, 15.00 days)
///   Line 2: 90 × (4×16) / 31 = 185.806… → 185.81 (mean 2.0645, 16.00 days)
/// - p1-host-vuln-scan: 5 hosts on 20 Oct at 150 元/次 → 750.00
///   Total 1,168.07 (壹仟壹佰陆拾捌元零柒分).
async fn october(app: &common::App) {
    for (item, price, from) in [
        ("p1-internet-ip", "60", "2026-01-01"),
        ("p1-internet-ip", "90.00", "2026-10-16"),
        ("p1-host-vuln-scan", "150", "2026-01-01"),
    ] {
        ok(
            app,
            Method::POST,
            "/api/v1/prices",
            Some(json!({"item": item, "unit_price": price, "from": from})),
        )
        .await;
    }
    let r = ok(
        app,
        Method::POST,
        "/api/v1/resources",
        Some(
            json!({"system": "jypt", "item": "p1-internet-ip", "quantity": "10",
            "effective_from": "2026-10-01T00:00:00+08:00"}),
        ),
    )
    .await;
    let id = r["id"].as_str().unwrap();
    ok(
        app,
        Method::POST,
        &format!("/api/v1/resources/{id}/resize"),
        Some(json!({"quantity": "4", "effective_from": "2026-10-11T00:00:00+08:00"})),
    )
    .await;
    ok(
        app,
        Method::POST,
        "/api/v1/occurrences",
        Some(
            json!({"system": "jypt", "item": "p1-host-vuln-scan", "hosts": 5,
            "performed_at": "2026-10-20T10:00:00+08:00"}),
        ),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_month_is_exact_signed_timestamped_and_repeatable() {
    let app = spawn_app().await;
    october(&app).await;
    let gen = json!({"month": "2026-10", "package": 1, "system": "jypt"});
    let out = ok(
        &app,
        Method::POST,
        "/api/v1/statements/generate",
        Some(gen.clone()),
    )
    .await;
    assert_eq!(out.as_array().unwrap().len(), 1, "{out}");
    assert_eq!(out[0]["outcome"], "issued");
    let id = out[0]["statement"]["id"].as_str().unwrap().to_owned();
    assert_eq!(id, "st-2026-10-p1-jypt-v1");
    assert_eq!(out[0]["statement"]["total"], "1168.07");

    let (st, ct, data) = bytes(&app, &format!("/api/v1/statements/{id}/files/json")).await;
    assert_eq!((st, ct.as_str()), (StatusCode::OK, "application/json"));
    let doc: Value = serde_json::from_slice(&data).unwrap();
    assert_eq!(doc["month"], "2026-10");
    assert_eq!(doc["package"], 1);
    assert_eq!(doc["total"], "1168.07");
    assert_eq!(doc["total_in_capitals"], "壹仟壹佰陆拾捌元零柒分");
    let ip: Vec<&Value> = doc["lines"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["item"] == "p1-internet-ip")
        .collect();
    assert_eq!(ip.len(), 2, "split at the price change");
    assert_eq!(
        (
            &ip[0]["unit_price"],
            &ip[0]["quantity"],
            &ip[0]["days"],
            &ip[0]["amount"]
        ),
        (
            &json!("60"),
            &json!("3.8710"),
            &json!("15.00"),
            &json!("232.26")
        )
    );
    assert_eq!(
        (
            &ip[1]["unit_price"],
            &ip[1]["quantity"],
            &ip[1]["days"],
            &ip[1]["amount"]
        ),
        (
            &json!("90"),
            &json!("2.0645"),
            &json!("16.00"),
            &json!("185.81")
        )
    );
    let scan = doc["lines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["item"] == "p1-host-vuln-scan")
        .unwrap();
    assert_eq!(
        (&scan["quantity"], &scan["amount"], &scan["days"]),
        (&json!("5"), &json!("750.00"), &Value::Null)
    );
    assert!(doc["rule"]["zh"].as_str().unwrap().contains("当月秒数"));

    // Verified by govcloud …
    let detail = ok(&app, Method::GET, &format!("/api/v1/statements/{id}"), None).await;
    assert_eq!(detail["verification"]["valid"], true, "{detail}");
    assert_eq!(detail["statement"], doc);

    // … and independently: the signature with Debian's OpenSSL (SM2, SM3, default ID),
    // the timestamp's imprint against OpenSSL's SM3 of the file.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("statement.json"), &data).unwrap();
    for (kind, file) in [
        ("sig", "statement.json.sig"),
        ("tsr", "statement.json.tsr"),
        ("pem", "signer.pem"),
    ] {
        let (st, _, b) = bytes(&app, &format!("/api/v1/statements/{id}/files/{kind}")).await;
        assert_eq!(st, StatusCode::OK);
        std::fs::write(d.join(file), b).unwrap();
    }
    let (okk, out) = openssl(
        d,
        &[
            "x509",
            "-in",
            "signer.pem",
            "-pubkey",
            "-noout",
            "-out",
            "pub.pem",
        ],
    );
    assert!(okk, "{out}");
    let (okk, out) = openssl(
        d,
        &[
            "dgst",
            "-sm3",
            "-verify",
            "pub.pem",
            "-sigopt",
            "distid:1234567812345678",
            "-signature",
            "statement.json.sig",
            "statement.json",
        ],
    );
    assert!(okk && out.contains("Verified OK"), "{out}");
    let (_, subject) = openssl(
        d,
        &[
            "x509",
            "-in",
            "signer.pem",
            "-noout",
            "-subject",
            "-ext",
            "keyUsage",
        ],
    );
    assert!(subject.contains("Non Repudiation"), "{subject}");
    let (okk, sm3) = openssl(d, &["dgst", "-sm3", "-r", "statement.json"]);
    assert!(okk, "{sm3}");
    let sm3 = sm3.split_whitespace().next().unwrap().to_owned();
    assert_eq!(detail["data_sm3"], sm3.as_str());
    let (okk, reply) = openssl(d, &["ts", "-reply", "-in", "statement.json.tsr", "-text"]);
    assert!(okk, "{reply}");
    let imprint: String = reply
        .lines()
        .skip_while(|l| !l.starts_with("Message data:"))
        .skip(1)
        .take_while(|l| l.starts_with("    "))
        .flat_map(|l| {
            // "    0000 - 64 0d … 20-40 a0 … 89   d.....o": the bytes between " - " and the
            // three spaces before the ASCII column.
            let bytes = l.split_once(" - ").map_or("", |x| x.1);
            let bytes = bytes.split("   ").next().unwrap_or("");
            bytes
                .split([' ', '-'])
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(imprint, sm3, "{reply}");
    // A changed byte no longer verifies.
    let mut tampered = data.clone();
    let at = tampered.iter().position(|&b| b == b'7').unwrap();
    tampered[at] = b'8';
    std::fs::write(d.join("statement.json"), &tampered).unwrap();
    let (okk, _) = openssl(
        d,
        &[
            "dgst",
            "-sm3",
            "-verify",
            "pub.pem",
            "-sigopt",
            "distid:1234567812345678",
            "-signature",
            "statement.json.sig",
            "statement.json",
        ],
    );
    assert!(!okk);

    // Renderings.
    let (st, ct, pdf) = bytes(&app, &format!("/api/v1/statements/{id}/files/pdf")).await;
    assert_eq!((st, ct.as_str()), (StatusCode::OK, "application/pdf"));
    assert!(pdf.starts_with(b"%PDF"));
    let (st, _, xlsx) = bytes(&app, &format!("/api/v1/statements/{id}/files/xlsx")).await;
    assert_eq!(st, StatusCode::OK);
    assert!(xlsx.starts_with(b"PK"));

    // Re-running the month: nothing new, the same bytes, no audit entry.
    let head = app.state().await;
    let again = ok(
        &app,
        Method::POST,
        "/api/v1/statements/generate",
        Some(gen.clone()),
    )
    .await;
    assert_eq!(again[0]["outcome"], "unchanged");
    assert_eq!(again[0]["statement"]["id"], id.as_str());
    assert_eq!(app.state().await, head);
    let (_, _, data2) = bytes(&app, &format!("/api/v1/statements/{id}/files/json")).await;
    assert_eq!(data2, data);

    // Late data: 2 more hosts scanned on 25 October, recorded now → version 2 with a diff.
    ok(
        &app,
        Method::POST,
        "/api/v1/occurrences",
        Some(
            json!({"system": "jypt", "item": "p1-host-vuln-scan", "hosts": 2,
            "performed_at": "2026-10-25T10:00:00+08:00"}),
        ),
    )
    .await;
    let v2 = ok(
        &app,
        Method::POST,
        "/api/v1/statements/generate",
        Some(gen.clone()),
    )
    .await;
    assert_eq!(v2[0]["outcome"], "issued");
    assert_eq!(v2[0]["statement"]["id"], "st-2026-10-p1-jypt-v2");
    assert_eq!(v2[0]["statement"]["total"], "1468.07");
    let diff = &v2[0]["diff"];
    assert_eq!(diff["from_version"], 1);
    assert_eq!(diff["lines"].as_array().unwrap().len(), 1, "{diff}");
    assert_eq!(diff["lines"][0]["item"], "p1-host-vuln-scan");
    assert_eq!(diff["lines"][0]["change"], "changed");
    assert_eq!(diff["lines"][0]["before"]["amount"], "750.00");
    assert_eq!(diff["lines"][0]["after"]["amount"], "1050.00");
    // Version 1 is still there, unchanged.
    let (_, _, v1) = bytes(&app, &format!("/api/v1/statements/{id}/files/json")).await;
    assert_eq!(v1, data);
    let latest = ok(
        &app,
        Method::GET,
        "/api/v1/statements?month=2026-10&package=1",
        None,
    )
    .await;
    assert_eq!(latest.as_array().unwrap().len(), 1);
    assert_eq!(latest[0]["version"], 2);
    let all = ok(
        &app,
        Method::GET,
        "/api/v1/statements?month=2026-10&package=1&all_versions=true",
        None,
    )
    .await;
    assert_eq!(all.as_array().unwrap().len(), 2);
    let d2 = ok(
        &app,
        Method::GET,
        "/api/v1/statements/st-2026-10-p1-jypt-v2",
        None,
    )
    .await;
    assert_eq!(d2["diff"]["lines"][0]["after"]["amount"], "1050.00");
    assert_eq!(d2["verification"]["valid"], true);

    // The console shows the list and the statement with its diff.
    let cookie = app.console_session("purchaser").await;
    for (path, want) in [
        ("/statements?month=2026-10", "st-2026-10-p1-jypt-v2"),
        (
            "/statements/st-2026-10-p1-jypt-v2",
            "壹仟肆佰陆拾捌元零柒分",
        ),
        ("/statements/st-2026-10-p1-jypt-v2", "与上一版本的差异"),
    ] {
        let r = app
            .http
            .get(app.url(path))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        assert!(
            r.text().await.unwrap().contains(want),
            "{path} shows {want}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_year_items_and_crypto_calls_on_package_2() {
    let app = spawn_app().await;
    for (item, price) in [("p2-jypt-sign", "4800"), ("p2-jypt-personal-cert", "180")] {
        ok(
            &app,
            Method::POST,
            "/api/v1/prices",
            Some(json!({"item": item, "unit_price": price, "from": "2026-01-01"})),
        )
        .await;
    }
    for (item, q) in [("p2-jypt-sign", "1"), ("p2-jypt-personal-cert", "100")] {
        ok(
            &app,
            Method::POST,
            "/api/v1/resources",
            Some(json!({"system": "jypt", "item": item, "quantity": q, "effective_from": "2026-09-01T00:00:00+08:00"})),
        )
        .await;
    }
    let a = ok(
        &app,
        Method::POST,
        "/api/v1/apps",
        Some(json!({"name": "交易平台", "system": "jypt"})),
    )
    .await;
    app.store
        .add_usage(&[(
            govcloud_store::UsageKey {
                app_id: a["id"].as_str().unwrap().to_owned(),
                key_id: "k1".into(),
                month: "2026-10".into(),
                operation: "sign".into(),
            },
            42,
        )])
        .await
        .unwrap();
    let out = ok(
        &app,
        Method::POST,
        "/api/v1/statements/generate",
        Some(json!({"month": "2026-10", "package": 2, "system": "jypt"})),
    )
    .await;
    // 4800 × 1 + 180 / 12 × 100 = 4800 + 1500.
    assert_eq!(out[0]["statement"]["total"], "6300.00", "{out}");
    let id = out[0]["statement"]["id"].as_str().unwrap();
    let d = ok(&app, Method::GET, &format!("/api/v1/statements/{id}"), None).await;
    let cert = d["statement"]["lines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["item"] == "p2-jypt-personal-cert")
        .unwrap()
        .clone();
    assert_eq!(
        (&cert["unit_price"], &cert["billing"], &cert["amount"]),
        (&json!("180"), &json!("元/年"), &json!("1500.00"))
    );
    assert!(d["statement"]["rule"]["zh"]
        .as_str()
        .unwrap()
        .contains("年单价 ÷ 12"));
    assert_eq!(
        d["statement"]["details"],
        json!([{"label": "密码服务调用：签名 sign", "value": 42}])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    october(&app).await;
    let before = app.state().await;
    let month_now = govcloud::shanghai_month(chrono::Utc::now());
    for (body, code) in [
        (json!({"month": "2026-13"}), "invalid_month"),
        (json!({"month": "2026-1"}), "invalid_month"),
        (json!({"month": month_now}), "month_not_ended"),
        (json!({"month": "2026-10", "package": 9}), "unknown_package"),
        (
            json!({"month": "2026-10", "package": 1, "system": "nope"}),
            "unknown_system",
        ),
    ] {
        let r = app
            .as_role(Method::POST, "/api/v1/statements/generate", "operator")
            .json(&body)
            .send()
            .await
            .unwrap();
        let (st, c, _) = error_code(r).await;
        assert_eq!((st, c.as_str()), (StatusCode::BAD_REQUEST, code), "{body}");
    }
    // A month with usage but no price for it.
    ok(
        &app,
        Method::POST,
        "/api/v1/resources",
        Some(json!({"system": "jypt", "item": "p1-ssl-vpn", "quantity": "1", "effective_from": "2026-09-01T00:00:00+08:00"})),
    )
    .await;
    let before = {
        let _ = before;
        app.state().await
    };
    let r = app
        .as_role(Method::POST, "/api/v1/statements/generate", "operator")
        .json(&json!({"month": "2026-10", "package": 1}))
        .send()
        .await
        .unwrap();
    let (st, c, body) = error_code(r).await;
    assert_eq!((st, c.as_str()), (StatusCode::BAD_REQUEST, "no_price"));
    assert!(body["message_zh"].as_str().unwrap().contains("p1-ssl-vpn"));
    for (body, code) in [
        (
            json!({"item": "p1-nope", "unit_price": "1", "from": "2026-01-01"}),
            "unknown_item",
        ),
        (
            json!({"item": "p1-vcpu", "unit_price": "-1", "from": "2026-01-01"}),
            "invalid_price",
        ),
        (
            json!({"item": "p1-vcpu", "unit_price": "abc", "from": "2026-01-01"}),
            "invalid_price",
        ),
        (
            json!({"item": "p1-vcpu", "unit_price": "1", "from": "yesterday"}),
            "invalid_time",
        ),
    ] {
        let r = app
            .as_role(Method::POST, "/api/v1/prices", "operator")
            .json(&body)
            .send()
            .await
            .unwrap();
        let (st, c, _) = error_code(r).await;
        assert_eq!((st, c.as_str()), (StatusCode::BAD_REQUEST, code), "{body}");
    }
    // The purchaser reads statements but neither prices nor issues them.
    let (st, _) = call(
        &app,
        Method::POST,
        "/api/v1/statements/generate",
        "purchaser",
        Some(json!({"month": "2026-10"})),
    )
    .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, _) = call(
        &app,
        Method::POST,
        "/api/v1/prices",
        "purchaser",
        Some(json!({"item": "p1-vcpu", "unit_price": "1", "from": "2026-01-01"})),
    )
    .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, v) = call(
        &app,
        Method::GET,
        "/api/v1/statements/st-nope",
        "purchaser",
        None,
    )
    .await;
    assert_eq!(st, StatusCode::NOT_FOUND, "{v}");
    assert_eq!(app.state().await, before);
    // An unknown file kind.
    ok(
        &app,
        Method::POST,
        "/api/v1/prices",
        Some(json!({"item": "p1-ssl-vpn", "unit_price": "350", "from": "2026-01-01"})),
    )
    .await;
    let out = ok(
        &app,
        Method::POST,
        "/api/v1/statements/generate",
        Some(json!({"month": "2026-10", "package": 1, "system": "jypt"})),
    )
    .await;
    let id = out[0]["statement"]["id"].as_str().unwrap();
    let (st, v) = call(
        &app,
        Method::GET,
        &format!("/api/v1/statements/{id}/files/docx"),
        "purchaser",
        None,
    )
    .await;
    assert_eq!(
        (st, v["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("unknown_file"))
    );
}
