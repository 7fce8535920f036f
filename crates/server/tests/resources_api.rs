//! Cloud resources through the API: allocation against the contract (also under 50
//! parallel requests), resize and release with history, host placement rules, the GPU
//! rule, and usage intervals.

mod common;

use common::spawn_app;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

async fn post(app: &common::App, path: &str, body: Value) -> (StatusCode, Value) {
    let r = app
        .as_role(Method::POST, path, "operator")
        .json(&body)
        .send()
        .await
        .unwrap();
    let st = r.status();
    (st, r.json().await.unwrap_or(Value::Null))
}

async fn get(app: &common::App, path: &str) -> Value {
    let r = app
        .as_role(Method::GET, path, "auditor")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{path}");
    r.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn systems_and_allocation_against_the_contract() {
    let app = spawn_app().await;
    let systems = get(&app, "/api/v1/systems").await;
    let jypt = systems
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "jypt")
        .unwrap();
    assert_eq!(jypt["packages"], json!([1, 2]));

    // p1-internet-ip: 16 IPs for jypt.
    let (st, r) = post(
        &app,
        "/api/v1/resources",
        json!({"system": "jypt", "item": "p1-internet-ip", "quantity": "10", "spec": {"icp": "京ICP备…"}}),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{r}");
    let id = r["id"].as_str().unwrap().to_owned();
    let (st, e) = post(
        &app,
        "/api/v1/resources",
        json!({"system": "jypt", "item": "p1-internet-ip", "quantity": "7"}),
    )
    .await;
    assert_eq!(st, StatusCode::CONFLICT);
    assert_eq!(e["code"], "over_contract");
    assert_eq!(e["details"]["left"], "6");
    assert!(e["message_zh"].as_str().unwrap().contains("剩余 6"));
    let u = get(&app, "/api/v1/items/p1-internet-ip/usage").await;
    assert_eq!(
        u,
        json!({"item": "p1-internet-ip", "contracted": "16", "allocated": "10", "free": "6"})
    );

    // Wrong system, unknown item, bad quantity: 400 with codes; nothing allocated.
    for (body, code) in [
        (
            json!({"system": "znh", "item": "p1-internet-ip", "quantity": "1"}),
            "item_not_for_system",
        ),
        (
            json!({"system": "jypt", "item": "p1-nope", "quantity": "1"}),
            "unknown_item",
        ),
        (
            json!({"system": "jypt", "item": "p1-internet-ip", "quantity": "-1"}),
            "invalid_quantity",
        ),
        (
            json!({"system": "jypt", "item": "p2-jypt-integration", "quantity": "1"}),
            "not_a_resource",
        ),
    ] {
        let (st, e) = post(&app, "/api/v1/resources", body.clone()).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{body}: {e}");
        assert_eq!(e["code"], code, "{body}");
    }
    // Purchasers and auditors cannot allocate.
    let r = app
        .as_role(Method::POST, "/api/v1/resources", "auditor")
        .json(&json!({"system": "jypt", "item": "p1-internet-ip", "quantity": "1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // Resize beyond → 409; down → ok; release → free again; history kept.
    let (st, _) = post(
        &app,
        &format!("/api/v1/resources/{id}/resize"),
        json!({"quantity": "17"}),
    )
    .await;
    assert_eq!(st, StatusCode::CONFLICT);
    let (st, r) = post(
        &app,
        &format!("/api/v1/resources/{id}/resize"),
        json!({"quantity": "4", "reason": "缩容"}),
    )
    .await;
    assert_eq!((st, r["quantity"].as_str()), (StatusCode::OK, Some("4")));
    let r = app
        .as_role(
            Method::DELETE,
            &format!("/api/v1/resources/{id}"),
            "operator",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let full = get(&app, &format!("/api/v1/resources/{id}")).await;
    let kinds: Vec<&str> = full["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["create", "resize", "release"]);
    assert_eq!(
        get(&app, "/api/v1/items/p1-internet-ip/usage").await["free"],
        "16"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_parallel_allocations_never_exceed_the_item() {
    let app = spawn_app().await;
    // p1-memory: 846 GB. 50 requests of 16..=65 GB (1,525 GB in all).
    let mut tasks = Vec::new();
    for i in 0..50u32 {
        let req = app
            .as_role(Method::POST, "/api/v1/resources", "operator")
            .json(
                &json!({"system": "jypt", "item": "p1-memory", "quantity": (16 + i).to_string()}),
            );
        tasks.push(tokio::spawn(async move {
            let r = req.send().await.unwrap();
            (16 + i, r.status())
        }));
    }
    let mut ok = Vec::new();
    let mut refused = Vec::new();
    for t in tasks {
        let (q, st) = t.await.unwrap();
        match st {
            StatusCode::CREATED => ok.push(q),
            StatusCode::CONFLICT => refused.push(q),
            other => panic!("{other}"),
        }
    }
    let allocated: u32 = ok.iter().sum();
    assert!(allocated <= 846, "{allocated}");
    let left = 846 - allocated;
    assert!(
        refused.iter().all(|q| *q > left),
        "a refused request would have fit: left {left}, refused {refused:?}"
    );
    let u = get(&app, "/api/v1/items/p1-memory/usage").await;
    assert_eq!(u["allocated"], allocated.to_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn placement_rules_and_usage_intervals() {
    let app = spawn_app().await;
    let (st, slow) = post(
        &app,
        "/api/v1/hosts",
        json!({"name": "arm-01", "arch": "arm", "clock_ghz": "2.2", "cores": 8}),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED);
    let (_, fast) = post(
        &app,
        "/api/v1/hosts",
        json!({"name": "x86-01", "arch": "x86", "clock_ghz": "2.6", "cores": 2}),
    )
    .await;
    // An ARM host below 2.4 GHz is refused.
    let (st, e) = post(
        &app,
        "/api/v1/resources",
        json!({"system": "jypt", "item": "p1-vcpu", "quantity": "4", "host": slow["id"]}),
    )
    .await;
    assert_eq!(
        (st, e["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("clock_below_minimum")),
        "{e}"
    );
    // 2 cores → 8 vCPUs; the 9th is refused.
    let (st, _) = post(
        &app,
        "/api/v1/resources",
        json!({"system": "jypt", "item": "p1-vcpu", "quantity": "8", "host": "x86-01",
               "effective_from": "2026-07-01T00:00:00+08:00"}),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED);
    let (st, e) = post(
        &app,
        "/api/v1/resources",
        json!({"system": "jypt", "item": "p1-vcpu", "quantity": "1", "host": fast["id"]}),
    )
    .await;
    assert_eq!(
        (st, e["code"].as_str()),
        (StatusCode::CONFLICT, Some("over_committed")),
        "{e}"
    );
    assert!(
        e["message_zh"].as_str().unwrap().contains("每核 4 个"),
        "{e}"
    );
    // GPU only together with a cloud host or physical server in the same system: znh has
    // none yet ("需同时租用算力资源、云主机或物理服务器资源").
    let (st, e) = post(
        &app,
        "/api/v1/resources",
        json!({"system": "znh", "item": "p4-gpu-memory", "quantity": "1"}),
    )
    .await;
    assert_eq!(
        (st, e["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("gpu_requires_host")),
        "{e}"
    );
    // The backdated vCPU allocation shows as one interval from 2026-07-01 (Beijing).
    let u = get(
        &app,
        "/api/v1/usage?system=jypt&from=2026-06-30T16:00:00Z&to=2026-08-01T00:00:00%2B08:00",
    )
    .await;
    let list = u.as_array().unwrap();
    assert_eq!(list.len(), 1, "{u}");
    assert_eq!(list[0]["from"], "2026-06-30T16:00:00Z");
    assert_eq!(list[0]["to"], "2026-07-31T16:00:00Z");
    assert_eq!(list[0]["quantity"], "8");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_wait_for_the_purchaser_then_execute() {
    let app = spawn_app().await;
    let ask = |role: &'static str, body: Value| {
        app.as_role(Method::POST, "/api/v1/changes", role)
            .json(&body)
            .send()
    };
    // The operator asks for 2 WAF IPs for jypt (p1-waf: 2).
    let r = ask("operator", json!({"kind": "create", "system": "jypt", "item": "p1-waf", "quantity": "2", "reason": "新上线两个公网入口"}))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let ch: Value = r.json().await.unwrap();
    assert_eq!(ch["state"], "pending");
    let id = ch["id"].as_str().unwrap().to_owned();
    assert_eq!(
        get(&app, "/api/v1/items/p1-waf/usage").await["allocated"],
        "0",
        "nothing before approval"
    );
    // Only the purchaser approves.
    for role in ["operator", "auditor", "admin"] {
        let r = app
            .as_role(Method::POST, &format!("/api/v1/changes/{id}/approve"), role)
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{role}");
    }
    let r = app
        .as_role(
            Method::POST,
            &format!("/api/v1/changes/{id}/approve"),
            "purchaser",
        )
        .json(&json!({"note": "同意"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let done: Value = r.json().await.unwrap();
    assert_eq!(done["state"], "executed");
    assert_eq!(done["decided_by"], "purchaser");
    assert_eq!(
        get(&app, "/api/v1/items/p1-waf/usage").await["allocated"],
        "2"
    );
    let resource = get(&app, "/api/v1/resources?system=jypt").await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // A resize beyond the contract: approved, but its execution is refused; it stays approved.
    let r = ask(
        "purchaser",
        json!({"kind": "resize", "resource": resource, "quantity": "3", "reason": "扩容"}),
    )
    .await
    .unwrap();
    let big: Value = r.json().await.unwrap();
    let r = app
        .as_role(
            Method::POST,
            &format!("/api/v1/changes/{}/approve", big["id"].as_str().unwrap()),
            "purchaser",
        )
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["code"], "over_contract");
    let approved = get(&app, "/api/v1/changes?state=approved").await;
    assert_eq!(approved.as_array().unwrap().len(), 1);
    // A rejected change changes nothing; deciding twice is a conflict.
    let r = ask(
        "operator",
        json!({"kind": "release", "resource": resource, "reason": "下线"}),
    )
    .await
    .unwrap();
    let rel: Value = r.json().await.unwrap();
    let rid = rel["id"].as_str().unwrap();
    let r = app
        .as_role(
            Method::POST,
            &format!("/api/v1/changes/{rid}/reject"),
            "purchaser",
        )
        .json(&json!({"note": "业务仍在使用"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = app
        .as_role(
            Method::POST,
            &format!("/api/v1/changes/{rid}/approve"),
            "purchaser",
        )
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert_eq!(
        get(&app, "/api/v1/items/p1-waf/usage").await["allocated"],
        "2"
    );
    // A request without a reason, or for an item of another system, is refused at once.
    let r = ask("operator", json!({"kind": "create", "system": "znh", "item": "p1-waf", "quantity": "1", "reason": "x"}))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = ask("operator", json!({"kind": "create", "system": "jypt", "item": "p1-waf", "quantity": "1", "reason": " "}))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // The history of the resource names the change that made it.
    let full = get(&app, &format!("/api/v1/resources/{resource}")).await;
    assert!(full["history"][0]["reason"].as_str().unwrap().contains(&id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_occurrence_services_are_recorded_with_their_hosts() {
    let app = spawn_app().await;
    let (st, o) = post(
        &app,
        "/api/v1/occurrences",
        json!({"system": "jypt", "item": "p1-host-vuln-scan", "performed_at": "2026-11-20T10:00:00+08:00", "hosts": 64, "note": "季度漏洞扫描"}),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{o}");
    assert_eq!(o["performed_at"], "2026-11-20T02:00:00Z");
    for (body, code) in [
        (
            json!({"system": "jypt", "item": "p1-vcpu", "performed_at": "2026-11-20T10:00:00+08:00", "hosts": 1}),
            "not_per_occurrence",
        ),
        (
            json!({"system": "jypt", "item": "p1-host-vuln-scan", "performed_at": "2026-11-20T10:00:00+08:00", "hosts": 0}),
            "invalid_hosts",
        ),
        (
            json!({"system": "jypt", "item": "p1-host-vuln-scan", "performed_at": "2999-01-01T00:00:00Z", "hosts": 1}),
            "in_the_future",
        ),
        (
            json!({"system": "znh", "item": "p1-host-vuln-scan", "performed_at": "2026-11-20T10:00:00+08:00", "hosts": 1}),
            "item_not_for_system",
        ),
    ] {
        let (st, e) = post(&app, "/api/v1/occurrences", body.clone()).await;
        assert_eq!(
            (st, e["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some(code)),
            "{body}"
        );
    }
    let list = get(&app, "/api/v1/occurrences?system=jypt").await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["hosts"], 64);
}
