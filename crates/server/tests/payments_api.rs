//! Payments and acceptance 付款与验收 over HTTP: milestone due dates and statuses, acceptance
//! records with evidence documents (uploaded as JSON and as a multipart form, downloaded
//! byte for byte with the SM3 that `openssl dgst -sm3` computes), payments, the roles, and
//! bad input answered with 4xx codes that change nothing. Also the console page.

mod common;

use chrono::{Days, NaiveDate, Utc};
use common::{error_code, spawn_app};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const MIB: usize = 1024 * 1024;

fn today() -> NaiveDate {
    govcloud::shanghai_date(Utc::now())
}

async fn call(
    app: &common::App,
    method: Method,
    path: &str,
    role: &str,
    body: Value,
) -> (StatusCode, Value) {
    let r = app
        .as_role(method, path, role)
        .json(&body)
        .send()
        .await
        .unwrap();
    let st = r.status();
    (st, r.json().await.unwrap_or(Value::Null))
}

async fn payments(app: &common::App, package: u8) -> Value {
    let r = app
        .as_role(
            Method::GET,
            &format!("/api/v1/payments?package={package}"),
            "auditor",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["today"], today().to_string());
    assert_eq!(v["packages"].as_array().unwrap().len(), 1);
    v["packages"][0].clone()
}

fn milestone(p: &Value, seq: u64) -> Value {
    p["milestones"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["seq"] == seq)
        .unwrap()
        .clone()
}

/// SM3 of `bytes` as OpenSSL 3 computes it (independently of govcloud).
fn openssl_sm3(bytes: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("doc.bin");
    std::fs::write(&f, bytes).unwrap();
    let out = std::process::Command::new("openssl")
        .args(["dgst", "-sm3", "-r"])
        .arg(&f)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

fn multipart(
    boundary: &str,
    fields: &[(&str, &str)],
    files: &[(&str, &str, &str, &[u8])],
) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").as_bytes(),
        );
    }
    for (field, file, ct, bytes) in files {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{file}\"\r\nContent-Type: {ct}\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    body
}

/// POST `length` bytes of JSON with `Expect: 100-continue` over a raw connection, sending
/// only the head; the answer as text.
async fn expect_continue(app: &common::App, path: &str, length: usize) -> String {
    use std::io::{Read, Write};
    let addr = app.base.trim_start_matches("http://").to_owned();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\n\
         Content-Length: {length}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n",
        app.tokens["operator"]
    );
    tokio::task::spawn_blocking(move || {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        s.write_all(head.as_bytes()).unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out).expect("answered without the body");
        String::from_utf8_lossy(&out).into_owned()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn milestones_acceptances_documents_and_payments() {
    use base64::Engine;
    let app = spawn_app().await;
    let cal = govcloud_domain::calendar::parse(govcloud::CALENDAR).unwrap();
    let today = today();
    let signing_due: NaiveDate = "2026-06-30".parse().unwrap();

    // Before anything is recorded: 首款 is owed (overdue after 2026-06-30), the others wait
    // for acceptance and show the latest date they could fall due.
    let p = payments(&app, 1).await;
    assert_eq!(p["milestones"].as_array().unwrap().len(), 3);
    let first = milestone(&p, 1);
    let want = if today > signing_due {
        "overdue"
    } else {
        "due"
    };
    assert_eq!(
        (first["status"].as_str(), first["due_date"].as_str()),
        (Some(want), Some("2026-06-30"))
    );
    assert_eq!(
        first["status_zh"],
        if want == "overdue" {
            "逾期"
        } else {
            "应付"
        }
    );
    let mid = milestone(&p, 2);
    assert_eq!(
        (
            mid["status"].as_str(),
            mid["status_zh"].as_str(),
            mid["due_kind"].as_str(),
            mid["due_date"].as_str()
        ),
        (
            Some("not_due"),
            Some("未到期"),
            Some("latest"),
            Some("2027-01-22")
        )
    );
    assert_eq!(mid["provisional"], true);
    assert_eq!(milestone(&p, 3)["due_date"], "2027-06-30");

    // Who may record: not operators or auditors (403 before the body is read).
    for role in ["operator", "auditor"] {
        let (st, _) = call(
            &app,
            Method::POST,
            "/api/v1/acceptances",
            role,
            json!({"nonsense": 1}),
        )
        .await;
        assert_eq!(st, StatusCode::FORBIDDEN, "{role}");
        let (st, _) = call(&app, Method::POST, "/api/v1/payments", role, json!({})).await;
        assert_eq!(st, StatusCode::FORBIDDEN, "{role}");
    }

    let stage_on = today - Days::new(60);
    let day = |d: NaiveDate| d.to_string();
    let before = app.state().await;
    // Bad input: 4xx with codes, nothing changes.
    let bad: Vec<(&str, Value, StatusCode, &str)> = vec![
        (
            "/api/v1/acceptances",
            json!({"package": 1, "kind": "final", "accepted_on": day(stage_on)}),
            StatusCode::CONFLICT,
            "stage_acceptance_missing",
        ),
        (
            "/api/v1/acceptances",
            json!({"package": 1, "kind": "initial", "accepted_on": day(stage_on)}),
            StatusCode::BAD_REQUEST,
            "invalid_kind",
        ),
        (
            "/api/v1/acceptances",
            json!({"package": 6, "kind": "stage", "accepted_on": day(stage_on)}),
            StatusCode::BAD_REQUEST,
            "unknown_package",
        ),
        (
            "/api/v1/acceptances",
            json!({"package": 1, "kind": "stage", "accepted_on": "2026-02-30"}),
            StatusCode::BAD_REQUEST,
            "invalid_date",
        ),
        (
            "/api/v1/acceptances",
            json!({"package": 1, "kind": "stage", "accepted_on": day(today + Days::new(1))}),
            StatusCode::BAD_REQUEST,
            "future_date",
        ),
        (
            "/api/v1/acceptances",
            json!({"package": 1, "kind": "stage"}),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            "/api/v1/payments",
            json!({"package": 1, "milestone": 2, "paid_on": day(today), "amount": "100"}),
            StatusCode::CONFLICT,
            "not_triggered",
        ),
        (
            "/api/v1/payments",
            json!({"package": 1, "milestone": 9, "paid_on": day(today), "amount": "100"}),
            StatusCode::BAD_REQUEST,
            "unknown_milestone",
        ),
        (
            "/api/v1/payments",
            json!({"package": 0, "milestone": 1, "paid_on": day(today), "amount": "100"}),
            StatusCode::BAD_REQUEST,
            "unknown_package",
        ),
        (
            "/api/v1/payments",
            json!({"package": 1, "milestone": 1, "paid_on": day(today), "amount": "1.001"}),
            StatusCode::BAD_REQUEST,
            "invalid_amount",
        ),
        (
            "/api/v1/payments",
            json!({"package": 1, "milestone": 1, "paid_on": day(today), "amount": "-5"}),
            StatusCode::BAD_REQUEST,
            "invalid_amount",
        ),
        (
            "/api/v1/payments",
            json!({"package": 1, "milestone": 1, "paid_on": day(today), "amount": 100}),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            "/api/v1/payments",
            json!({"package": 1, "milestone": 1, "paid_on": "30/06/2026", "amount": "100"}),
            StatusCode::BAD_REQUEST,
            "invalid_date",
        ),
        (
            "/api/v1/payments",
            json!({"package": 1, "milestone": 1, "paid_on": day(today + Days::new(1)), "amount": "100"}),
            StatusCode::BAD_REQUEST,
            "future_date",
        ),
    ];
    for (path, body, status, code) in bad {
        let r = app
            .as_role(Method::POST, path, "purchaser")
            .json(&body)
            .send()
            .await
            .unwrap();
        let (st, c, _) = error_code(r).await;
        assert_eq!((st, c.as_str()), (status, code), "{path} {body}");
    }
    let r = app
        .as_role(Method::GET, "/api/v1/payments?package=9", "auditor")
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(r).await.1, "unknown_package");
    assert_eq!(app.state().await, before, "refusals change nothing");

    // The purchaser records the stage acceptance; a second one is refused.
    let (st, acc) = call(
        &app,
        Method::POST,
        "/api/v1/acceptances",
        "purchaser",
        json!({"package": 1, "kind": "stage", "accepted_on": day(stage_on), "note": "阶段性验收会议"}),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{acc}");
    assert_eq!(
        (
            acc["kind_zh"].as_str(),
            acc["documents"].as_array().map(Vec::len)
        ),
        (Some("阶段性验收"), Some(0))
    );
    let acc_id = acc["id"].as_str().unwrap().to_owned();
    let (st, e) = call(
        &app,
        Method::POST,
        "/api/v1/acceptances",
        "admin",
        json!({"package": 1, "kind": "stage", "accepted_on": day(today)}),
    )
    .await;
    assert_eq!(
        (st, e["code"].as_str()),
        (StatusCode::CONFLICT, Some("duplicate_acceptance"))
    );

    // 中期款 is now due 15 working days after the acceptance: long past, so overdue.
    let due = cal.add_working_days(stage_on, 15);
    let mid = milestone(&payments(&app, 1).await, 2);
    assert_eq!(
        (
            mid["due_kind"].as_str(),
            mid["due_date"].as_str(),
            mid["status"].as_str(),
            mid["triggered_on"].as_str()
        ),
        (
            Some("on"),
            Some(due.date.to_string().as_str()),
            Some("overdue"),
            Some(day(stage_on).as_str())
        )
    );

    // Evidence: JSON upload by the operator (every byte value, a Chinese name).
    let pdf: Vec<u8> = b"%PDF-1.7 \xe9\xaa\x8c\xe6\x94\xb6"
        .iter()
        .copied()
        .chain((0..=255u8).cycle().take(70_000))
        .collect();
    let docs_path = format!("/api/v1/acceptances/{acc_id}/documents");
    let (st, doc) = call(
        &app,
        Method::POST,
        &docs_path,
        "operator",
        json!({"name": "C:\\验收\\阶段性验收报告.pdf", "content_base64": base64::engine::general_purpose::STANDARD.encode(&pdf)}),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{doc}");
    let sm3 = openssl_sm3(&pdf);
    assert_eq!(
        (
            doc["name"].as_str(),
            doc["content_type"].as_str(),
            doc["size"].as_u64(),
            doc["sm3"].as_str()
        ),
        (
            Some("阶段性验收报告.pdf"),
            Some("application/pdf"),
            Some(pdf.len() as u64),
            Some(sm3.as_str())
        )
    );
    // Download (an auditor): the same bytes, type, name and SM3.
    let r = app
        .as_role(Method::GET, doc["url"].as_str().unwrap(), "auditor")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let h = r.headers().clone();
    assert_eq!(h["content-type"], "application/pdf");
    assert_eq!(h["x-content-sm3"].to_str().unwrap(), sm3);
    let cd = h["content-disposition"].to_str().unwrap();
    assert!(
        cd.starts_with("attachment;") && cd.contains("filename*=UTF-8''%E9%98%B6%E6%AE%B5"),
        "{cd}"
    );
    let body = r.bytes().await.unwrap();
    assert!(body.as_ref() == pdf.as_slice(), "downloaded bytes differ");
    assert_eq!(openssl_sm3(&body), sm3);

    // Multipart upload by the purchaser.
    let scan = b"\x89PNG\r\n\x1a\n scanned signature page".to_vec();
    let boundary = "gcBoundary7MA4YWxkTrZu0gW";
    let r = app
        .as_role(Method::POST, &docs_path, "purchaser")
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(multipart(
            boundary,
            &[],
            &[("file", "签字页.png", "image/png", &scan)],
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let doc2: Value = r.json().await.unwrap();
    assert_eq!(
        (doc2["name"].as_str(), doc2["content_type"].as_str()),
        (Some("签字页.png"), Some("image/png"))
    );
    assert_eq!(doc2["sm3"].as_str().unwrap(), openssl_sm3(&scan));
    let r = app
        .as_role(Method::GET, doc2["url"].as_str().unwrap(), "operator")
        .send()
        .await
        .unwrap();
    assert_eq!(r.bytes().await.unwrap().as_ref(), scan.as_slice());

    // Upload refusals: nothing stored.
    let before = app.state().await;
    let big = base64::engine::general_purpose::STANDARD.encode(vec![7u8; 20 * MIB + 1]);
    for (role, path, body, status, code) in [
        (
            "auditor",
            docs_path.as_str(),
            json!({"name": "a.pdf", "content_base64": "YQ=="}),
            StatusCode::FORBIDDEN,
            "forbidden",
        ),
        (
            "operator",
            "/api/v1/acceptances/acc_none/documents",
            json!({"name": "a.pdf", "content_base64": "YQ=="}),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "operator",
            docs_path.as_str(),
            json!({"name": "a.pdf", "content_base64": "not base64!"}),
            StatusCode::BAD_REQUEST,
            "invalid_base64",
        ),
        (
            "operator",
            docs_path.as_str(),
            json!({"name": "a.pdf", "content_base64": ""}),
            StatusCode::BAD_REQUEST,
            "empty_document",
        ),
        (
            "operator",
            docs_path.as_str(),
            json!({"name": "", "content_base64": "YQ=="}),
            StatusCode::BAD_REQUEST,
            "invalid_file_name",
        ),
        (
            "operator",
            docs_path.as_str(),
            json!({"name": "a.pdf", "content_type": "pdf", "content_base64": "YQ=="}),
            StatusCode::BAD_REQUEST,
            "invalid_content_type",
        ),
        (
            "operator",
            docs_path.as_str(),
            json!({"name": "big.bin", "content_base64": big}),
            StatusCode::PAYLOAD_TOO_LARGE,
            "document_too_large",
        ),
    ] {
        let r = app
            .as_role(Method::POST, path, role)
            .json(&body)
            .send()
            .await
            .unwrap();
        let (st, c, _) = error_code(r).await;
        assert_eq!((st, c.as_str()), (status, code), "{role} {path}");
    }
    // A body declared over the limit is refused before it is sent (413): the client waits
    // for `100 Continue`, which never comes.
    let resp = expect_continue(&app, &docs_path, 40 * MIB).await;
    assert!(resp.starts_with("HTTP/1.1 413"), "{resp}");
    assert!(resp.contains("\"code\":\"payload_too_large\""), "{resp}");
    // A multipart file one byte over 20 MiB: read, then refused.
    let r = app
        .as_role(Method::POST, &docs_path, "operator")
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(multipart(
            boundary,
            &[],
            &[(
                "file",
                "big.bin",
                "application/octet-stream",
                &vec![1u8; 20 * MIB + 1],
            )],
        ))
        .send()
        .await
        .unwrap();
    let (st, c, _) = error_code(r).await;
    assert_eq!(
        (st, c.as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, "document_too_large")
    );
    // Two files in one multipart request, or none.
    let r = app
        .as_role(Method::POST, &docs_path, "operator")
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(multipart(boundary, &[("x", "y")], &[]))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(r).await.1, "one_file_expected");
    assert_eq!(app.state().await, before);
    // A document is served only under its own acceptance.
    let r = app
        .as_role(
            Method::GET,
            &format!(
                "/api/v1/acceptances/acc_other/documents/{}",
                doc["id"].as_str().unwrap()
            ),
            "auditor",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(r).await.0, StatusCode::NOT_FOUND);

    // Payments: not before the acceptance, then once.
    let (st, e) = call(
        &app,
        Method::POST,
        "/api/v1/payments",
        "purchaser",
        json!({"package": 1, "milestone": 2, "paid_on": day(stage_on - Days::new(1)), "amount": "100"}),
    )
    .await;
    assert_eq!(
        (st, e["code"].as_str()),
        (StatusCode::CONFLICT, Some("paid_before_trigger"))
    );
    let (st, paid) = call(
        &app,
        Method::POST,
        "/api/v1/payments",
        "purchaser",
        json!({"package": 1, "milestone": 2, "paid_on": day(today), "amount": "216660.5", "reference": "财付〔2026〕118号"}),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{paid}");
    assert_eq!(
        (
            paid["amount"].as_str(),
            paid["amount_display"].as_str(),
            paid["amount_capitals"].as_str()
        ),
        (
            Some("216660.50"),
            Some("216,660.50"),
            Some("贰拾壹万陆仟陆佰陆拾元伍角")
        )
    );
    let (st, e) = call(
        &app,
        Method::POST,
        "/api/v1/payments",
        "admin",
        json!({"package": 1, "milestone": 2, "paid_on": day(today), "amount": "1"}),
    )
    .await;
    assert_eq!(
        (st, e["code"].as_str()),
        (StatusCode::CONFLICT, Some("already_paid"))
    );
    let p = payments(&app, 1).await;
    let mid = milestone(&p, 2);
    assert_eq!(
        (mid["status"].as_str(), mid["paid_late"].as_bool()),
        (Some("paid"), Some(true))
    );
    assert_eq!(mid["payment"], paid["id"]);
    assert_eq!(p["payments"].as_array().unwrap().len(), 1);
    let docs = p["acceptances"][0]["documents"].as_array().unwrap();
    assert_eq!(docs.len(), 2);
    assert_eq!(docs[0]["sm3"].as_str().unwrap(), sm3);

    // Final acceptance: not before the stage one; then 尾款 is owed by 2027-06-30.
    let (st, e) = call(
        &app,
        Method::POST,
        "/api/v1/acceptances",
        "purchaser",
        json!({"package": 1, "kind": "final", "accepted_on": day(stage_on - Days::new(1))}),
    )
    .await;
    assert_eq!(
        (st, e["code"].as_str()),
        (StatusCode::CONFLICT, Some("final_before_stage"))
    );
    let (st, _) = call(
        &app,
        Method::POST,
        "/api/v1/acceptances",
        "admin",
        json!({"package": 1, "kind": "final", "accepted_on": day(today)}),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED);
    let tail = milestone(&payments(&app, 1).await, 3);
    let tail_due: NaiveDate = "2027-06-30".parse().unwrap();
    let want = if today > tail_due { "overdue" } else { "due" };
    assert_eq!(
        (
            tail["due_kind"].as_str(),
            tail["due_date"].as_str(),
            tail["status"].as_str()
        ),
        (Some("on"), Some("2027-06-30"), Some(want))
    );
    // Other packages are untouched.
    assert_eq!(milestone(&payments(&app, 2).await, 2)["status"], "not_due");

    // Every change is in the audit chain.
    let r = app
        .as_role(Method::GET, "/api/v1/audit?limit=50", "auditor")
        .send()
        .await
        .unwrap();
    let log: Value = r.json().await.unwrap();
    let actions: Vec<&str> = log
        .as_array()
        .or_else(|| log["entries"].as_array())
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for a in ["acceptance.record", "acceptance.evidence", "payment.record"] {
        assert!(actions.contains(&a), "{a} in {actions:?}");
    }
    assert_eq!(
        actions
            .iter()
            .filter(|a| **a == "acceptance.evidence")
            .count(),
        2
    );

    // The OpenAPI document lists the routes.
    let doc: Value = app
        .http
        .get(app.url("/api/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for path in [
        "/api/v1/payments",
        "/api/v1/acceptances",
        "/api/v1/acceptances/{id}/documents",
        "/api/v1/acceptances/{id}/documents/{doc_id}",
    ] {
        assert!(doc["paths"][path].is_object(), "{path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_page_records_acceptance_evidence_and_payment() {
    let app = spawn_app().await;
    let today = today();
    let page = |cookie: String, path: &'static str| {
        let req = app.http.get(app.url(path)).header("cookie", cookie);
        async move {
            let r = req.send().await.unwrap();
            (r.status(), r.text().await.unwrap())
        }
    };
    let purchaser = app.console_session("purchaser").await;
    let (st, html) = page(purchaser.clone(), "/payments?package=1").await;
    assert_eq!(st, StatusCode::OK);
    assert!(
        html.contains("付款与验收")
            && html.contains("首款")
            && html.contains("class=\"status not_due\""),
        "{html}"
    );
    assert!(html.contains("id=\"acceptance-form\"") && html.contains("id=\"payment-form\""));
    assert!(html.contains("暂定"), "the 2027 date is marked provisional");

    // Record the stage acceptance with a document through the form.
    let boundary = "consoleBoundary42";
    let body = multipart(
        boundary,
        &[
            ("package", "1"),
            ("kind", "stage"),
            ("accepted_on", &(today - Days::new(3)).to_string()),
            ("note", "会议纪要"),
        ],
        &[(
            "documents",
            "纪要.txt",
            "text/plain",
            "阶段性验收通过".as_bytes(),
        )],
    );
    let r = app
        .http
        .post(app.url("/payments/acceptances"))
        .header("cookie", &purchaser)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("已登记阶段性验收") && html.contains("纪要.txt"),
        "{html}"
    );
    let sm3 = openssl_sm3("阶段性验收通过".as_bytes());
    assert!(html.contains(&sm3), "the SM3 is shown");
    // The download link works with the console's session.
    let link = html
        .split("href=\"")
        .map(|s| s.split('"').next().unwrap().replace("&#x2f;", "/"))
        .find(|h| h.starts_with("/api/v1/acceptances/"))
        .expect("a download link");
    let r = app
        .http
        .get(app.url(&link))
        .header("cookie", &purchaser)
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-content-sm3"].to_str().unwrap(), sm3);
    assert_eq!(
        r.bytes().await.unwrap().as_ref(),
        "阶段性验收通过".as_bytes()
    );
    // A refused form keeps the package and says why in Chinese.
    let body = multipart(
        boundary,
        &[
            ("package", "3"),
            ("kind", "final"),
            ("accepted_on", &today.to_string()),
        ],
        &[],
    );
    let r = app
        .http
        .post(app.url("/payments/acceptances"))
        .header("cookie", &purchaser)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("须先登记阶段性验收") && html.contains("第3包 <small>"),
        "{html}"
    );
    assert!(
        html.contains("href=\"/payments?package=3\" class=\"active\""),
        "{html}"
    );

    // An operator sees no acceptance or payment form, and is refused if posting anyway.
    let operator = app.console_session("operator").await;
    let (_, html) = page(operator.clone(), "/payments?package=1").await;
    assert!(!html.contains("id=\"acceptance-form\"") && !html.contains("id=\"payment-form\""));
    assert!(
        html.contains("id=\"document-form\""),
        "operators upload evidence"
    );
    let r = app
        .http
        .post(app.url("/payments/record"))
        .header("cookie", &operator)
        .form(&[
            ("package", "1"),
            ("milestone", "1"),
            ("paid_on", "2026-06-01"),
            ("amount", "1"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // A payment through the form; a bad amount shows the Chinese message.
    let r = app
        .http
        .post(app.url("/payments/record"))
        .header("cookie", &purchaser)
        .form(&[
            ("package", "1"),
            ("milestone", "1"),
            ("paid_on", "2026-06-01"),
            ("amount", "12.345"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("最多两位小数"));
    let r = app
        .http
        .post(app.url("/payments/record"))
        .header("cookie", &purchaser)
        .form(&[
            ("package", "1"),
            ("milestone", "1"),
            ("paid_on", "2026-06-01"),
            ("amount", "500000"),
            ("reference", "凭证001"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("500,000.00")
            && html.contains("伍拾万元整")
            && html.contains("class=\"status paid\""),
        "{html}"
    );
}
