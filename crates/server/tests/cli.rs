//! The command line as a user runs it: the real binary, a fresh data directory.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

fn govcloud(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_govcloud"))
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .env_remove("GOVCLOUD_DATABASE_URL")
        .env_remove("GOVCLOUD_DATA_DIR")
        .output()
        .expect("the binary runs")
}

fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn catalog_file() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../catalog/bjggzy-2026.toml")
}

#[test]
fn catalog_show_lists_every_item_as_procured() {
    let dir = tempfile::tempdir().unwrap();
    let f = catalog_file();
    let load = ok(&govcloud(
        dir.path(),
        &["catalog", "load", f.to_str().unwrap()],
    ));
    assert!(load.contains("已导入"), "{load}");
    let again = ok(&govcloud(
        dir.path(),
        &["--format", "json", "catalog", "load", f.to_str().unwrap()],
    ));
    assert_eq!(
        serde_json::from_str::<Value>(&again).unwrap()["outcome"],
        "unchanged"
    );

    let out = ok(&govcloud(
        dir.path(),
        &["catalog", "show", "--format", "json"],
    ));
    let v: Value = serde_json::from_str(&out).unwrap();
    let packages = v["packages"].as_array().unwrap();
    let numbers: Vec<u64> = packages
        .iter()
        .map(|p| p["number"].as_u64().unwrap())
        .collect();
    assert_eq!(numbers, [1, 2, 3, 4, 5]);
    let items: Vec<&Value> = packages
        .iter()
        .flat_map(|p| p["items"].as_array().unwrap())
        .collect();
    assert_eq!(items.len(), 100);
    let find = |id: &str| {
        items
            .iter()
            .find(|i| i["id"] == id)
            .copied()
            .unwrap_or_else(|| panic!("item {id}"))
    };
    // Spot checks against the procurement text.
    assert_eq!(
        (
            find("p1-vcpu")["quantity"].as_str(),
            find("p1-vcpu")["months"].as_u64()
        ),
        (Some("392"), Some(12))
    );
    assert_eq!(
        (
            find("p1-host-vuln-scan")["quantity"].as_str(),
            find("p1-host-vuln-scan")["months"].as_u64()
        ),
        (Some("64"), Some(1))
    );
    assert_eq!(find("p5-ai-fp16")["quantity"], "9.6");
    assert_eq!(find("p5-host-vuln-scan")["frequency"], "一年做四次");
    assert_eq!(find("p2-zjk-sign")["system"], "zjk");
    for i in &items {
        for key in [
            "id", "category", "item", "spec", "unit", "quantity", "months", "billing",
        ] {
            assert!(!i[key].is_null(), "{key} of {}", i["id"]);
        }
    }

    let table = ok(&govcloud(
        dir.path(),
        &["catalog", "show", "--package", "5"],
    ));
    assert!(
        table.contains("第5包") && table.contains("p5-ai-fp16") && !table.contains("p1-vcpu"),
        "{table}"
    );
    let bad = govcloud(dir.path(), &["catalog", "show", "--package", "9"]);
    assert!(!bad.status.success());
}

#[test]
fn catalog_show_on_a_fresh_directory_shows_the_bundled_contract() {
    let dir = tempfile::tempdir().unwrap();
    let o = govcloud(dir.path(), &["catalog", "show", "--format", "json"]);
    let v: Value = serde_json::from_str(&ok(&o)).unwrap();
    assert_eq!(v["packages"].as_array().unwrap().len(), 5);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("no contract is loaded"),
        "says where the data came from"
    );
}

#[test]
fn a_broken_catalog_is_rejected_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let src = std::fs::read_to_string(catalog_file()).unwrap();
    let broken = src.replacen("unit = \"TFLOP\"", "unit = \"PFLOP\"", 1);
    let line = broken.lines().position(|l| l.contains("PFLOP")).unwrap() + 1;
    let file = dir.path().join("broken.toml");
    std::fs::write(&file, broken).unwrap();
    let o = govcloud(dir.path(), &["catalog", "validate", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!("broken.toml:{line}:")) && err.contains("unknown unit \"PFLOP\""),
        "{err}"
    );
    let o = govcloud(dir.path(), &["catalog", "load", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "load refuses it too");
    let good = govcloud(
        dir.path(),
        &["catalog", "validate", catalog_file().to_str().unwrap()],
    );
    assert!(ok(&good).contains("100 个服务项"));
}

#[test]
fn users_and_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("pw");
    std::fs::write(&pw, "a long enough password\n").unwrap();
    ok(&govcloud(
        dir.path(),
        &[
            "user",
            "add",
            "admin",
            "--role",
            "admin",
            "--password-file",
            pw.to_str().unwrap(),
        ],
    ));
    let out = ok(&govcloud(
        dir.path(),
        &["user", "add", "张工", "--role", "operator"],
    ));
    assert!(
        out.contains("一次性密码"),
        "a generated password is printed once: {out}"
    );
    let dup = govcloud(dir.path(), &["user", "add", "张工", "--role", "operator"]);
    assert_eq!(dup.status.code(), Some(1));
    let bad = govcloud(dir.path(), &["user", "add", "x", "--role", "king"]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown role"));
    let list: Value = serde_json::from_str(&ok(&govcloud(
        dir.path(),
        &["user", "list", "--format", "json"],
    )))
    .unwrap();
    assert_eq!(list.as_array().unwrap().len(), 2);
    let tok: Value = serde_json::from_str(&ok(&govcloud(
        dir.path(),
        &["user", "token", "张工", "--format", "json"],
    )))
    .unwrap();
    assert!(tok["token"].as_str().unwrap().starts_with("gct_"));
    let last = govcloud(dir.path(), &["user", "disable", "admin"]);
    assert_eq!(last.status.code(), Some(1), "the last admin stays enabled");
}

#[test]
fn audit_verify_names_an_edited_row() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["a1", "a2", "a3"] {
        ok(&govcloud(
            dir.path(),
            &["user", "add", name, "--role", "auditor"],
        ));
    }
    ok(&govcloud(
        dir.path(),
        &["catalog", "load", catalog_file().to_str().unwrap()],
    ));
    let out = ok(&govcloud(dir.path(), &["audit", "verify"]));
    // Three users, the contract and the five bundled key periods it brings.
    assert!(out.contains("9 entries verified"), "{out}");

    // Edit entry 2 directly in the SQLite file, as someone with file access would
    // (the append-only trigger must be dropped first).
    let db = dir.path().join("govcloud.db");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display())).await.unwrap();
        sqlx::raw_sql("DROP TRIGGER audit_log_no_update; UPDATE audit_log SET target = 'mallory' WHERE seq = 2")
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    });
    let o = govcloud(dir.path(), &["audit", "verify"]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("第 2 条") && err.contains("edited"), "{err}");
    let o = govcloud(dir.path(), &["audit", "verify", "--format", "json"]);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        (v["ok"].as_bool(), v["broken_at"].as_i64()),
        (Some(false), Some(2))
    );
}

#[test]
fn working_days_on_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let v: Value = serde_json::from_str(&ok(&govcloud(
        dir.path(),
        &[
            "calendar",
            "add-working-days",
            "2026-02-13",
            "2",
            "--format",
            "json",
        ],
    )))
    .unwrap();
    assert_eq!(
        v["date"], "2026-02-24",
        "春节 2月15日至23日 off, 2月14日 worked"
    );
    let o = govcloud(
        dir.path(),
        &["calendar", "add-working-days", "2026-13-01", "2"],
    );
    assert!(!o.status.success());
}

#[test]
fn the_openapi_document_is_printed() {
    let dir = tempfile::tempdir().unwrap();
    let v: Value = serde_json::from_str(&ok(&govcloud(dir.path(), &["openapi"]))).unwrap();
    assert!(v["paths"]["/api/v1/catalog"]["get"].is_object());
}

/// No private or secret key material in the database files, the logs or any response.
#[test]
fn key_material_never_appears_in_the_database_logs_or_responses() {
    let dir = tempfile::tempdir().unwrap();
    let known = "8c1f4b2a9d3e7f60a5b4c3d2e1f00718";
    let known_bytes = hex::decode(known).unwrap();
    let app: Value = serde_json::from_str(&ok(&govcloud(
        dir.path(),
        &[
            "--format",
            "json",
            "app",
            "add",
            "交易平台",
            "--system",
            "jypt",
        ],
    )))
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_govcloud"))
        .args([
            "--data-dir",
            dir.path().to_str().unwrap(),
            "--format",
            "json",
            "key",
            "import",
            "--app",
            app["id"].as_str().unwrap(),
            "--type",
            "sm4",
            "--hex",
            known,
        ])
        .env("RUST_LOG", "trace")
        .output()
        .unwrap();
    let key: Value = serde_json::from_str(&ok(&out)).unwrap();
    let mut logs = String::from_utf8_lossy(&out.stderr).into_owned();

    // Use the key through a running server with verbose logs.
    let port = 20000 + (std::process::id() % 20000) as u16;
    let mut server = Command::new(env!("CARGO_BIN_EXE_govcloud"))
        .args([
            "--data-dir",
            dir.path().to_str().unwrap(),
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .env("RUST_LOG", "trace")
        .env("GOVCLOUD_ADMIN_PASSWORD", "correct horse battery staple")
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let bodies = rt.block_on(async {
        govcloud::install_crypto_provider();
        let http = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}/api/v1/crypto");
        for _ in 0..100 {
            if http
                .get(format!("http://127.0.0.1:{port}/healthz"))
                .send()
                .await
                .is_ok()
            {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let token = app["token"].as_str().unwrap();
        let id = key["id"].as_str().unwrap();
        let mut bodies = String::new();
        for (path, body) in [
            (
                "/encrypt",
                serde_json::json!({"key_id": id, "plaintext": "c2VjcmV0", "mode": "sm4-gcm"}),
            ),
            (
                "/hmac",
                serde_json::json!({"key_id": id, "data": "c2VjcmV0"}),
            ),
            ("/keys", serde_json::json!({"type": "sm2-sign"})),
        ] {
            bodies += &http
                .post(format!("{base}{path}"))
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
        }
        bodies += &http
            .get(format!("{base}/keys"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        bodies += &http
            .get(format!("{base}/keys/{id}"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        bodies
    });
    terminate(&mut server);
    let out = server.wait_with_output().unwrap();
    logs += &String::from_utf8_lossy(&out.stderr);
    logs += &String::from_utf8_lossy(&out.stdout);
    assert!(
        logs.contains("DEBUG") || logs.contains("TRACE"),
        "verbose logs were captured"
    );
    assert!(
        bodies.contains("\"ciphertext\"") && bodies.contains("\"mac\""),
        "the imported key worked: {bodies}"
    );

    let forms = [
        known.to_owned(),
        known.to_uppercase(),
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &known_bytes),
    ];
    for f in &forms {
        assert!(!logs.contains(f.as_str()), "key material in the logs");
        assert!(!bodies.contains(f.as_str()), "key material in a response");
    }
    let mut files = 0;
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.starts_with("govcloud.db") {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        files += 1;
        assert!(
            !bytes
                .windows(known_bytes.len())
                .any(|w| w == known_bytes.as_slice()),
            "raw key bytes in {name}"
        );
        for f in &forms {
            assert!(
                !bytes.windows(f.len()).any(|w| w == f.as_bytes()),
                "key material as text in {name}"
            );
        }
    }
    assert!(files >= 1);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("master.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the master key file is private");
    }
}

/// Stop the server as an operator would (SIGTERM), so it shuts down gracefully.
fn terminate(child: &mut std::process::Child) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
}

#[test]
fn statements_on_the_command_line_are_issued_once_and_verify() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let f = catalog_file();
    ok(&govcloud(d, &["catalog", "load", f.to_str().unwrap()]));
    let set = ok(&govcloud(
        d,
        &[
            "price",
            "set",
            "p1-internet-ip",
            "60",
            "--from",
            "2026-01-01",
        ],
    ));
    assert!(set.contains("60"), "{set}");
    ok(&govcloud(
        d,
        &[
            "resource",
            "add",
            "--system",
            "jypt",
            "--item",
            "p1-internet-ip",
            "--quantity",
            "10",
            "--effective-from",
            "2026-10-16T00:00:00+08:00",
        ],
    ));
    let out = d.join("out");
    let args = [
        "--format",
        "json",
        "statement",
        "generate",
        "--month",
        "2026-10",
        "--package",
        "1",
        "--system",
        "jypt",
        "--out",
        out.to_str().unwrap(),
    ];
    let first: Value = serde_json::from_str(&ok(&govcloud(d, &args))).unwrap();
    assert_eq!(first[0]["outcome"], "issued");
    // 60 × 10 × 16 of 31 days = 309.677… → 309.68
    assert_eq!(first[0]["total"], "309.68");
    let id = first[0]["id"].as_str().unwrap();
    let json = std::fs::read(out.join(format!("{id}.json"))).unwrap();
    for ext in ["xlsx", "pdf", "json.sig", "json.tsr", "signer.pem"] {
        assert!(
            out.join(format!("{id}.{ext}")).metadata().unwrap().len() > 0,
            "{ext}"
        );
    }
    let again: Value = serde_json::from_str(&ok(&govcloud(d, &args))).unwrap();
    assert_eq!(again[0]["outcome"], "unchanged");
    assert_eq!(
        std::fs::read(out.join(format!("{id}.json"))).unwrap(),
        json,
        "byte-identical"
    );
    let v = ok(&govcloud(d, &["statement", "verify", id]));
    assert!(v.contains("签名有效") && v.contains("时间戳有效"), "{v}");
    let list = ok(&govcloud(d, &["statement", "list", "--month", "2026-10"]));
    assert!(list.contains(id), "{list}");

    // Errors: exit code 1 and the reason in both languages.
    for bad in [
        vec![
            "statement",
            "generate",
            "--month",
            "2026-13",
            "--out",
            out.to_str().unwrap(),
        ],
        vec!["price", "set", "p1-nope", "1", "--from", "2026-01-01"],
        vec!["statement", "verify", "st-nope"],
    ] {
        let o = govcloud(d, &bad);
        assert!(!o.status.success(), "{bad:?}");
        assert!(!o.stderr.is_empty(), "{bad:?}");
    }
}

#[test]
fn acceptance_and_payment_commands() {
    let dir = tempfile::tempdir().unwrap();
    let f = catalog_file();
    ok(&govcloud(
        dir.path(),
        &["catalog", "load", f.to_str().unwrap()],
    ));
    let today = govcloud::shanghai_date(chrono::Utc::now());
    let stage_on = (today - chrono::Days::new(20)).to_string();
    let doc = dir.path().join("阶段性验收报告.pdf");
    std::fs::write(&doc, b"%PDF-1.7 stage acceptance").unwrap();

    // Payment before its acceptance: refused, exit 1, the reason in both languages.
    let o = govcloud(
        dir.path(),
        &[
            "payment",
            "record",
            "--package",
            "3",
            "--milestone",
            "2",
            "--on",
            &today.to_string(),
            "--amount",
            "100",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("阶段性验收尚未登记") && err.contains("not owed yet"),
        "{err}"
    );

    let out = ok(&govcloud(
        dir.path(),
        &[
            "--format",
            "json",
            "acceptance",
            "add",
            "--package",
            "3",
            "--kind",
            "stage",
            "--on",
            &stage_on,
            "--note",
            "阶段性验收",
            "--document",
            doc.to_str().unwrap(),
        ],
    ));
    let a: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (a["kind"].as_str(), a["package"].as_i64()),
        (Some("stage"), Some(3))
    );
    assert_eq!(a["documents"][0]["name"], "阶段性验收报告.pdf");
    assert_eq!(a["documents"][0]["content_type"], "application/pdf");
    assert_eq!(a["documents"][0]["size"], 25);

    // A missing document file records nothing.
    let o = govcloud(
        dir.path(),
        &[
            "acceptance",
            "add",
            "--package",
            "3",
            "--kind",
            "final",
            "--on",
            &today.to_string(),
            "--document",
            "/nonexistent/x.pdf",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    let list = ok(&govcloud(
        dir.path(),
        &["acceptance", "list", "--package", "3", "--format", "json"],
    ));
    let list: Value = serde_json::from_str(&list).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
    let table = ok(&govcloud(dir.path(), &["acceptance", "list"]));
    assert!(
        table.contains("阶段性验收") && table.contains("SM3 "),
        "{table}"
    );

    let out = ok(&govcloud(
        dir.path(),
        &[
            "payment",
            "record",
            "--package",
            "3",
            "--milestone",
            "2",
            "--on",
            &today.to_string(),
            "--amount",
            "12345.6",
            "--reference",
            "凭证-7",
        ],
    ));
    assert!(
        out.contains("12,345.60") && out.contains("壹万贰仟叁佰肆拾伍元陆角"),
        "{out}"
    );
    let o = govcloud(
        dir.path(),
        &[
            "payment",
            "record",
            "--package",
            "3",
            "--milestone",
            "2",
            "--on",
            &today.to_string(),
            "--amount",
            "1",
        ],
    );
    assert_eq!(o.status.code(), Some(1), "paid once only");

    let out = ok(&govcloud(
        dir.path(),
        &["payment", "list", "--package", "3", "--format", "json"],
    ));
    let v: Value = serde_json::from_str(&out).unwrap();
    let ms = v["packages"][0]["milestones"].as_array().unwrap();
    let status: Vec<&str> = ms.iter().map(|m| m["status"].as_str().unwrap()).collect();
    assert_eq!(status[1..], ["paid", "not_due"]);
    let table = ok(&govcloud(dir.path(), &["payment", "list"]));
    assert!(
        table.contains("第3包") && table.contains("已付") && table.contains("12,345.60"),
        "{table}"
    );
    assert_eq!(
        govcloud(dir.path(), &["payment", "list", "--package", "8"])
            .status
            .code(),
        Some(1)
    );
}

#[test]
fn operations_on_the_command_line() {
    use chrono::{Duration, Utc};
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(&govcloud(
        d,
        &["catalog", "load", catalog_file().to_str().unwrap()],
    ));
    let beijing = |t: chrono::DateTime<Utc>| {
        t.with_timezone(&chrono_tz::Asia::Shanghai)
            .format("%Y-%m-%d %H:%M")
            .to_string()
    };
    let now = Utc::now();
    // An outage 40 minutes ago: the 30-minute response clock is breached.
    let i: Value = serde_json::from_str(&ok(&govcloud(
        d,
        &[
            "incident",
            "open",
            "--package",
            "1",
            "--system",
            "jypt",
            "--severity",
            "outage",
            "--title",
            "交易平台宕机",
            "--at",
            &beijing(now - Duration::minutes(40)),
            "--format",
            "json",
        ],
    )))
    .unwrap();
    let id = i["id"].as_str().unwrap();
    assert_eq!(i["sla"][0]["clock"], "respond");
    assert_eq!(i["sla"][0]["breached"], true);
    let table = ok(&govcloud(
        d,
        &["incident", "event", id, "--kind", "responded"],
    ));
    assert!(table.contains("响应 超时"), "{table}");
    let bad = govcloud(d, &["incident", "event", id, "--kind", "closed"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("outage"),
        "the outage report is required"
    );
    let list: Value = serde_json::from_str(&ok(&govcloud(
        d,
        &["incident", "list", "--open", "--format", "json"],
    )))
    .unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
    let shown = ok(&govcloud(d, &["incident", "show", id]));
    assert!(
        shown.contains("已响应") && shown.contains("30分钟"),
        "{shown}"
    );

    // Notices: 23 hours ahead is refused, 25 hours accepted.
    let notice = |hours: i64| {
        govcloud(
            d,
            &[
                "notice",
                "publish",
                "--title",
                "升级",
                "--system",
                "jypt",
                "--start",
                &beijing(now + Duration::hours(hours) + Duration::minutes(1)),
                "--end",
                &beijing(now + Duration::hours(hours + 2)),
            ],
        )
    };
    let refused = notice(23);
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("24 小时"));
    ok(&notice(25));
    let notices: Value =
        serde_json::from_str(&ok(&govcloud(d, &["notice", "list", "--format", "json"]))).unwrap();
    assert_eq!(notices.as_array().unwrap().len(), 1);
    let kp: Value = serde_json::from_str(&ok(&govcloud(
        d,
        &["keyperiod", "list", "--format", "json"],
    )))
    .unwrap();
    assert!(kp.as_array().unwrap().len() >= 4);

    // Monitors and channels.
    ok(&govcloud(
        d,
        &[
            "monitor",
            "add",
            "--kind",
            "tcp",
            "--target",
            "127.0.0.1:9",
            "--package",
            "1",
            "--system",
            "jypt",
        ],
    ));
    assert!(ok(&govcloud(d, &["monitor", "list"])).contains("127.0.0.1:9"));
    let ch: Value = serde_json::from_str(&ok(&govcloud(
        d,
        &[
            "channel",
            "add",
            "--kind",
            "webhook",
            "--target",
            "http://127.0.0.1:9/hook",
            "--format",
            "json",
        ],
    )))
    .unwrap();
    assert_eq!(ch["secret"].as_str().unwrap().len(), 32);
    assert!(!ok(&govcloud(d, &["channel", "list", "--format", "json"]))
        .contains(ch["secret"].as_str().unwrap()));

    // The month's report, three files.
    // The incident's month (40 minutes ago may be last month).
    let month = (now - Duration::minutes(40))
        .with_timezone(&chrono_tz::Asia::Shanghai)
        .format("%Y-%m")
        .to_string();
    let out = d.join("reports");
    ok(&govcloud(
        d,
        &[
            "opsreport",
            "generate",
            "--month",
            &month,
            "--package",
            "1",
            "--out",
            out.to_str().unwrap(),
        ],
    ));
    let base = format!("运维报告-{month}-第1包");
    let json: Value =
        serde_json::from_slice(&std::fs::read(out.join(format!("{base}.json"))).unwrap()).unwrap();
    assert_eq!(json["incidents"][0]["id"], id);
    assert!(std::fs::read(out.join(format!("{base}.pdf")))
        .unwrap()
        .starts_with(b"%PDF"));
    assert!(std::fs::read(out.join(format!("{base}.xlsx")))
        .unwrap()
        .starts_with(b"PK"));
}
