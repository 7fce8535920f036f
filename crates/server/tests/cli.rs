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
    assert!(out.contains("4 entries verified"), "{out}");

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
