//! Black-box tests of the HTTP API and console: each test starts the real server on a
//! random port with a fresh SQLite database (`spawn_app`) and talks HTTP to it.

mod common;

use common::{error_code, spawn_app, App, PASSWORD};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// All (method, path) pairs of the OpenAPI document, with path parameters filled in.
async fn documented_routes(app: &App) -> Vec<(Method, String)> {
    let doc: Value = app
        .http
        .get(app.url("/api/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut out = Vec::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for method in ops.as_object().unwrap().keys() {
            let concrete = path
                .replace("{name}", "operator")
                .replace("{number}", "1")
                .replace("{id}", "1");
            out.push((method.to_uppercase().parse().unwrap(), concrete));
        }
    }
    assert!(out.len() >= 15, "the document lists the routes: {out:?}");
    out
}

#[tokio::test]
async fn every_documented_route_but_login_needs_credentials() {
    let app = spawn_app().await;
    let before = app.state().await;
    for (method, path) in documented_routes(&app).await {
        let r = app
            .http
            .request(method.clone(), app.url(&path))
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .unwrap();
        // Relying parties fetch CA chains, CRLs and OCSP answers without credentials.
        if path.starts_with("/pki/") {
            assert_ne!(
                r.status(),
                StatusCode::UNAUTHORIZED,
                "{method} {path} is public"
            );
            continue;
        }
        if method == Method::POST && path == "/api/v1/session" {
            assert_eq!(
                r.status(),
                StatusCode::BAD_REQUEST,
                "login with an empty body"
            );
            continue;
        }
        let (status, code, _) = error_code(r).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::UNAUTHORIZED, "unauthenticated"),
            "{method} {path}"
        );
        // A forged bearer token is no better.
        let r = app
            .http
            .request(method.clone(), app.url(&path))
            .bearer_auth("gct_forged")
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            StatusCode::UNAUTHORIZED,
            "{method} {path} with a forged token"
        );
    }
    assert_eq!(app.state().await, before, "nothing changed");
}

#[tokio::test]
async fn wrong_roles_get_403_and_change_nothing() {
    let app = spawn_app().await;
    let before = app.state().await;
    let cases: &[(Method, &str, &str, &str)] = &[
        (
            Method::POST,
            "/api/v1/users",
            "purchaser",
            r#"{"name":"x","role":"admin","password":"aaaaaaaaaaaaaaa"}"#,
        ),
        (
            Method::POST,
            "/api/v1/users",
            "operator",
            r#"{"name": broken json"#,
        ),
        (
            Method::PATCH,
            "/api/v1/users/admin",
            "auditor",
            r#"{"role":"purchaser"}"#,
        ),
        (Method::GET, "/api/v1/users", "operator", ""),
        (Method::POST, "/api/v1/catalog", "purchaser", "[contract]"),
        (Method::GET, "/api/v1/audit", "purchaser", ""),
        (Method::GET, "/api/v1/audit/verify", "operator", ""),
        (
            Method::POST,
            "/api/v1/users/admin/tokens",
            "operator",
            r#"{"label":"steal"}"#,
        ),
        (Method::GET, "/api/v1/users/admin/tokens", "purchaser", ""),
    ];
    for (method, path, role, body) in cases {
        let r = app
            .as_role(method.clone(), path, role)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let (status, code, _) = error_code(r).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::FORBIDDEN, "forbidden"),
            "{role} {method} {path}"
        );
    }
    assert_eq!(app.state().await, before, "nothing changed");
    // The right roles get through.
    assert_eq!(
        app.as_role(Method::GET, "/api/v1/audit", "auditor")
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        app.as_role(Method::GET, "/api/v1/users", "admin")
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    for role in ["purchaser", "operator", "auditor", "admin"] {
        assert_eq!(
            app.as_role(Method::GET, "/api/v1/catalog", role)
                .send()
                .await
                .unwrap()
                .status(),
            StatusCode::OK,
            "{role}"
        );
    }
}

#[tokio::test]
async fn bad_bodies_get_400_with_a_clear_message_and_change_nothing() {
    let app = spawn_app().await;
    let before = app.state().await;
    const JSON: Option<&str> = Some("application/json");
    // (method, path, content type, body, status, code, a word the English message must hold)
    type Case = (
        Method,
        &'static str,
        Option<&'static str>,
        &'static str,
        StatusCode,
        &'static str,
        &'static str,
    );
    let cases: &[Case] = &[
        (
            Method::POST,
            "/api/v1/users",
            JSON,
            r#"{"name": "x", "role": "admin""#,
            StatusCode::BAD_REQUEST,
            "invalid_json",
            "line 1 column",
        ),
        (
            Method::POST,
            "/api/v1/users",
            JSON,
            r#"{"name": "x", "role": "admin"}"#,
            StatusCode::BAD_REQUEST,
            "invalid_body",
            "password",
        ),
        (
            Method::POST,
            "/api/v1/users",
            JSON,
            r#"{"name":"x","role":"king","password":"aaaaaaaaaaaaaaa"}"#,
            StatusCode::BAD_REQUEST,
            "invalid_role",
            "",
        ),
        (
            Method::POST,
            "/api/v1/users",
            JSON,
            r#"{"name":"x","role":"auditor","password":"short"}"#,
            StatusCode::BAD_REQUEST,
            "weak_password",
            "",
        ),
        (
            Method::POST,
            "/api/v1/users",
            JSON,
            r#"{"name":"a b","role":"auditor","password":"aaaaaaaaaaaaaaa"}"#,
            StatusCode::BAD_REQUEST,
            "invalid_user_name",
            "",
        ),
        (
            Method::POST,
            "/api/v1/users",
            None,
            r#"{"name":"x"}"#,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "",
        ),
        // A PATCH with one bad field changes none of the good ones.
        (
            Method::PATCH,
            "/api/v1/users/operator",
            JSON,
            r#"{"display_name": "新名字", "role": "emperor"}"#,
            StatusCode::BAD_REQUEST,
            "invalid_role",
            "",
        ),
        (
            Method::GET,
            "/api/v1/calendar/working-days?from=tomorrow&days=3",
            None,
            "",
            StatusCode::BAD_REQUEST,
            "invalid_date",
            "",
        ),
        (
            Method::GET,
            "/api/v1/catalog/packages/x",
            None,
            "",
            StatusCode::BAD_REQUEST,
            "invalid_path",
            "",
        ),
        (
            Method::GET,
            "/api/v1/nope",
            None,
            "",
            StatusCode::NOT_FOUND,
            "no_such_route",
            "",
        ),
        // The last admin cannot be disabled (409) and stays as they were.
        (
            Method::PATCH,
            "/api/v1/users/admin",
            JSON,
            r#"{"display_name": "改", "disabled": true}"#,
            StatusCode::CONFLICT,
            "conflict",
            "",
        ),
    ];
    for (method, path, content_type, body, status, code, word) in cases {
        let mut r = app
            .as_role(method.clone(), path, "admin")
            .body(body.to_string());
        if let Some(ct) = content_type {
            r = r.header("content-type", *ct);
        }
        let (s, c, b) = error_code(r.send().await.unwrap()).await;
        assert_eq!((s, c.as_str()), (*status, *code), "{method} {path} {body}");
        assert!(
            b["message_en"].as_str().unwrap().contains(word),
            "{method} {path}: {b}"
        );
    }
    assert_eq!(app.state().await, before, "nothing changed");
}

#[tokio::test]
async fn login_session_and_logout() {
    let app = spawn_app().await;
    let login = |user: &'static str, password: &'static str| {
        app.http
            .post(app.url("/api/v1/session"))
            .json(&json!({"username": user, "password": password}))
            .send()
    };
    let (s, code, _) = error_code(login("purchaser", "not the password").await.unwrap()).await;
    assert_eq!(
        (s, code.as_str()),
        (StatusCode::UNAUTHORIZED, "invalid_credentials")
    );
    let (s, code, _) = error_code(login("nobody", "not the password").await.unwrap()).await;
    assert_eq!(
        (s, code.as_str()),
        (StatusCode::UNAUTHORIZED, "invalid_credentials"),
        "same answer for unknown users"
    );
    let failures = app.store.audit_recent(5).await.unwrap();
    assert_eq!(
        failures
            .iter()
            .filter(|e| e.event.action == "session.login_failed")
            .count(),
        2,
        "failed logins are audited"
    );

    let r = login("purchaser", PASSWORD).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let session = cookie.split(';').next().unwrap().to_owned();
    let me: Value = app
        .http
        .get(app.url("/api/v1/me"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (me["name"].as_str(), me["role"].as_str()),
        (Some("purchaser"), Some("purchaser"))
    );
    assert!(me.get("password_hash").is_none());

    let r = app
        .http
        .delete(app.url("/api/v1/session"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = app
        .http
        .get(app.url("/api/v1/me"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "the session ended");
}

#[tokio::test]
async fn tokens_are_shown_once_and_can_be_revoked() {
    let app = spawn_app().await;
    let r = app
        .as_role(Method::POST, "/api/v1/users/operator/tokens", "admin")
        .json(&json!({"label": "监控脚本"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let t: Value = r.json().await.unwrap();
    let token = t["token"].as_str().unwrap().to_owned();
    let me: Value = app
        .http
        .get(app.url("/api/v1/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["name"], "operator");
    let list: Value = app
        .as_role(Method::GET, "/api/v1/users/operator/tokens", "operator")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        !list.to_string().contains(&token),
        "listing never shows a token"
    );
    let id = t["id"].as_i64().unwrap();
    let r = app
        .as_role(
            Method::DELETE,
            &format!("/api/v1/users/operator/tokens/{id}"),
            "operator",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        app.http
            .get(app.url("/api/v1/me"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn catalog_over_http() {
    let app = spawn_app().await;
    let c: Value = app
        .as_role(Method::GET, "/api/v1/catalog", "purchaser")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let packages = c["packages"].as_array().unwrap();
    assert_eq!(packages.len(), 5);
    let items: usize = packages
        .iter()
        .map(|p| p["items"].as_array().unwrap().len())
        .sum();
    assert_eq!(items, 100);
    let fp16 = packages[4]["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == "p5-ai-fp16")
        .unwrap();
    assert_eq!(
        (
            fp16["quantity"].as_str(),
            fp16["unit"].as_str(),
            fp16["months"].as_u64()
        ),
        (Some("9.6"), Some("TFLOP"), Some(12))
    );
    assert_eq!(packages[1]["budget_wan"], "86.498");
    assert_eq!(packages[0]["budget_wan"], Value::Null);

    let p1: Value = app
        .as_role(Method::GET, "/api/v1/catalog/packages/1", "operator")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let m2 = &p1["milestones"][1];
    assert_eq!(
        (
            m2["percent"].as_str(),
            m2["latest_due"].as_str(),
            m2["latest_due_provisional"].as_bool()
        ),
        (Some("16.67"), Some("2027-01-22"), Some(true))
    );
    assert_eq!(p1["migration_working_days"], 10);
    assert_eq!(p1["migration_deadline"], Value::Null);
    let p1: Value = app
        .as_role(
            Method::GET,
            "/api/v1/catalog/packages/1?signed_on=2026-09-28",
            "operator",
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(p1["migration_deadline"]["date"], "2026-10-16");
    let r = app
        .as_role(
            Method::GET,
            "/api/v1/catalog/packages/1?signed_on=someday",
            "operator",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = app
        .as_role(Method::GET, "/api/v1/catalog/packages/9", "operator")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // Validation names the line; loading a broken file stores nothing.
    let before = app.state().await;
    let broken =
        govcloud::BUNDLED_CONTRACT.replacen("quantity = \"392\"", "quantity = \"lots\"", 1);
    let line = broken.lines().position(|l| l.contains("\"lots\"")).unwrap() + 1;
    for path in ["/api/v1/catalog/validate", "/api/v1/catalog"] {
        let r = app
            .as_role(Method::POST, path, "admin")
            .body(broken.clone())
            .send()
            .await
            .unwrap();
        let (s, code, body) = error_code(r).await;
        assert_eq!(
            (s, code.as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, "catalog_invalid"),
            "{path}"
        );
        assert_eq!(body["details"]["issues"][0]["line"], line, "{body}");
    }
    assert_eq!(app.state().await, before);
    let r: Value = app
        .as_role(Method::POST, "/api/v1/catalog", "admin")
        .body(govcloud::BUNDLED_CONTRACT)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["outcome"], "unchanged");
    assert_eq!(
        app.state().await,
        before,
        "an unchanged load writes nothing"
    );
}

#[tokio::test]
async fn calendar_and_audit_over_http() {
    let app = spawn_app().await;
    let w: Value = app
        .as_role(
            Method::GET,
            "/api/v1/calendar/working-days?from=2026-09-30&days=3",
            "purchaser",
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (w["date"].as_str(), w["provisional"].as_bool()),
        (Some("2026-10-10"), Some(false))
    );
    let v: Value = app
        .as_role(Method::GET, "/api/v1/audit/verify", "auditor")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["ok"], true);
    let entries: Value = app
        .as_role(Method::GET, "/api/v1/audit?limit=8", "auditor")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // Newest first: the PKI's first-start setup, the five bundled key periods added with the
    // contract, then the contract load.
    let actions: Vec<&str> = entries
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions[..7],
        [
            "pki.setup",
            "key_period.add",
            "key_period.add",
            "key_period.add",
            "key_period.add",
            "key_period.add",
            "catalog.load"
        ]
    );
    assert_eq!(actions.len(), 8);
}

#[tokio::test]
async fn health_metrics_and_openapi() {
    let app = spawn_app().await;
    let h: Value = app
        .http
        .get(app.url("/healthz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(h["status"], "ok");
    app.as_role(Method::GET, "/api/v1/catalog", "operator")
        .send()
        .await
        .unwrap();
    let m = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        m.contains(
            r#"govcloud_http_requests_total{method="GET",route="/api/v1/catalog",status="200"} 1"#
        ),
        "{m}"
    );
    let doc: Value = app
        .http
        .get(app.url("/api/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    assert!(doc["components"]["schemas"]["ErrorBody"].is_object());
}

#[tokio::test]
async fn console_login_overview_and_package_pages() {
    let app = spawn_app().await;
    let r = app.http.get(app.url("/")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/login?next=%2F");
    let r = app.http.get(app.url("/login")).send().await.unwrap();
    assert!(r.text().await.unwrap().contains("登录"));
    let r = app
        .http
        .post(app.url("/login"))
        .form(&[
            ("username", "purchaser"),
            ("password", "wrong password!!"),
            ("next", "/"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.text().await.unwrap().contains("用户名或密码错误"));
    let r = app
        .http
        .post(app.url("/login"))
        .form(&[
            ("username", "purchaser"),
            ("password", PASSWORD),
            ("next", "https://evil.example/"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/", "never redirects off-site");
    let session = r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let page = app
        .http
        .get(app.url("/"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for n in 1..=5 {
        assert!(
            page.contains(&format!("data-package=\"{n}\"")),
            "overview shows package {n}"
        );
    }
    assert!(page.contains("¥864,980.00"));
    let page = app
        .http
        .get(app.url("/packages/2"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(page.matches("<tr id=\"item-").count(), 35);
    let r = app
        .http
        .get(app.url("/audit"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::FORBIDDEN,
        "purchasers do not read the audit log"
    );
    let r = app
        .http
        .get(app.url("/packages/7"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let css = app
        .http
        .get(app.url("/assets/htmx.min.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(css.status(), StatusCode::OK);
}
