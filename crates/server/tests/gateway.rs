//! The crypto front proxy 密码前置 as deployed: real `govcloud serve` nodes and a real
//! `govcloud gateway`, separate processes on loopback sharing one SQLite data directory.
//! Nodes are killed (SIGKILL), frozen (SIGSTOP: a node that hangs) and brought back.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const ADMIN_PASSWORD: &str = "correct horse battery staple";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The binary with the setup's data directory and database.
fn govcloud(data: &Path, db: Option<&str>) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_govcloud"));
    c.arg("--data-dir").arg(data);
    match db {
        Some(url) => c.env("GOVCLOUD_DATABASE_URL", url),
        None => c.env_remove("GOVCLOUD_DATABASE_URL"),
    };
    c
}

fn cli_db(data: &Path, db: Option<&str>, args: &[&str]) -> Value {
    let o: Output = govcloud(data, db)
        .args(["--format", "json"])
        .args(args)
        .output()
        .expect("the binary runs");
    assert!(
        o.status.success(),
        "govcloud {args:?}\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap_or(Value::Null)
}

/// A child process killed when dropped.
struct Proc {
    child: Child,
    url: String,
    log: PathBuf,
}

impl Proc {
    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill {sig}");
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            eprintln!("--- {} (last lines of its log)", self.url);
            for l in tail.iter().rev() {
                eprintln!("{l}");
            }
        }
        let _ = Command::new("kill")
            .args(["-CONT", &self.child.id().to_string()])
            .status();
        self.kill();
    }
}

fn cli(data: &Path, args: &[&str]) -> Value {
    cli_db(data, None, args)
}

fn spawn(data: &Path, db: Option<&str>, args: &[String], port: u16) -> Proc {
    let log_path = data.join(format!("proc-{port}-{}.log", args[0]));
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .unwrap();
    let child = govcloud(data, db)
        .args(args)
        .env("GOVCLOUD_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    Proc {
        child,
        url: format!("http://127.0.0.1:{port}"),
        log: log_path,
    }
}

async fn wait_healthy(http: &reqwest::Client, url: &str) {
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(60) {
        if let Ok(r) = http.get(format!("{url}/healthz")).send().await {
            if r.status().is_success() {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{url} did not become healthy");
}

fn node(data: &Path, port: u16) -> Proc {
    node_db(data, None, port)
}

fn node_db(data: &Path, db: Option<&str>, port: u16) -> Proc {
    spawn(
        data,
        db,
        &[
            "serve".into(),
            "--listen".into(),
            format!("127.0.0.1:{port}"),
        ],
        port,
    )
}

/// A gateway with quick health checks and short circuit times, so the tests see state
/// changes within seconds.
fn gateway(data: &Path, port: u16, nodes: &[&Proc], extra: &[&str]) -> Proc {
    gateway_db(data, None, port, nodes, extra)
}

fn gateway_db(data: &Path, db: Option<&str>, port: u16, nodes: &[&Proc], extra: &[&str]) -> Proc {
    let mut args: Vec<String> = vec![
        "gateway".into(),
        "--listen".into(),
        format!("127.0.0.1:{port}"),
    ];
    for (flag, value) in [
        ("--health-interval-ms", "200"),
        ("--open-ms", "500"),
        ("--failure-threshold", "3"),
    ] {
        if !extra.contains(&flag) {
            args.extend([flag.to_owned(), value.to_owned()]);
        }
    }
    for n in nodes {
        args.push("--node".into());
        args.push(n.url.clone());
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    spawn(data, db, &args, port)
}

struct Setup {
    _dir: tempfile::TempDir,
    data: PathBuf,
    /// A PostgreSQL URL with its own fresh schema, or the SQLite file in `data`.
    db: Option<String>,
    http: reqwest::Client,
}

impl Setup {
    fn new() -> Self {
        Self::with_db(None)
    }

    /// On PostgreSQL when `GOVCLOUD_TEST_PG` names a server: a fresh schema there.
    fn postgres() -> Option<Self> {
        let url = std::env::var("GOVCLOUD_TEST_PG")
            .ok()
            .filter(|u| !u.is_empty())?;
        let schema = format!(
            "gc_gw_{}_{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .subsec_nanos()
        );
        let ok = Command::new("psql")
            .args([url.as_str(), "-qc", &format!("CREATE SCHEMA {schema}")])
            .status()
            .expect("psql runs")
            .success();
        assert!(ok, "CREATE SCHEMA {schema}");
        assert!(
            !url.contains('?'),
            "GOVCLOUD_TEST_PG without query parameters"
        );
        Some(Self::with_db(Some(format!(
            "{url}?options=-csearch_path%3D{schema}"
        ))))
    }

    fn with_db(db: Option<String>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().to_owned();
        govcloud::install_crypto_provider();
        Self {
            _dir: dir,
            data,
            db,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .unwrap(),
        }
    }

    /// An app with an SM2 signing key, created through `url`.
    async fn app(&self, url: &str, name: &str) -> (String, String, String) {
        let app = cli_db(&self.data, self.db.as_deref(), &["app", "add", name]);
        let token = app["token"].as_str().unwrap().to_owned();
        let key = self
            .post(
                url,
                &token,
                "/api/v1/crypto/keys",
                json!({"type": "sm2-sign"}),
            )
            .await;
        assert_eq!(key.0, 201, "{}", key.1);
        (
            app["id"].as_str().unwrap().to_owned(),
            token,
            key.1["id"].as_str().unwrap().to_owned(),
        )
    }

    async fn post(&self, url: &str, token: &str, path: &str, body: Value) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{url}{path}"))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// The gateway's view of its nodes: url → (up, circuit).
    async fn nodes(&self, gw: &str) -> Vec<(String, bool, String)> {
        let v: Value = self
            .http
            .get(format!("{gw}/healthz"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| {
                (
                    n["url"].as_str().unwrap().to_owned(),
                    n["up"].as_bool().unwrap(),
                    n["circuit"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }

    /// The gateway's Prometheus metrics.
    async fn metrics(&self, gw: &str) -> String {
        self.http
            .get(format!("{gw}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// Requests per node counted in the gateway's Prometheus metrics.
    async fn served_by(&self, gw: &str, node: &str) -> u64 {
        self.metrics(gw)
            .await
            .lines()
            .filter(|l| {
                l.starts_with("govcloud_gateway_requests_total")
                    && l.contains(&format!("node=\"{node}\""))
                    && l.contains("status=\"200\"")
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum()
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        // Processes are gone by now (declared after the setup); drop the test schema.
        if let Some((url, schema)) = self
            .db
            .as_deref()
            .and_then(|u| u.split_once("?options=-csearch_path%3D"))
        {
            let _ = Command::new("psql")
                .args([url, "-qc", &format!("DROP SCHEMA {schema} CASCADE")])
                .stderr(Stdio::null())
                .status();
        }
    }
}

async fn wait_for<F: std::future::Future<Output = bool>>(
    what: &str,
    within: Duration,
    mut f: impl FnMut() -> F,
) -> Duration {
    let t = Instant::now();
    while t.elapsed() < within {
        if f().await {
            return t.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{what}: not within {within:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_a_node_mid_load_loses_no_retryable_request_and_it_rejoins() {
    failover(Setup::new()).await;
}

/// The production layout: nodes and gateway share PostgreSQL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_a_node_on_postgresql_loses_no_retryable_request() {
    match Setup::postgres() {
        Some(s) => failover(s).await,
        None => eprintln!("GOVCLOUD_TEST_PG is not set: PostgreSQL part skipped"),
    }
}

async fn failover(s: Setup) {
    let db = s.db.as_deref();
    let (pa, pb, pg) = (free_port(), free_port(), free_port());
    let mut a = node_db(&s.data, db, pa);
    wait_healthy(&s.http, &a.url).await;
    let b = node_db(&s.data, db, pb);
    wait_healthy(&s.http, &b.url).await;
    let g = gateway_db(&s.data, db, pg, &[&a, &b], &[]);
    wait_healthy(&s.http, &g.url).await;
    let (_, token, key) = s.app(&a.url, "load").await;
    // Let every gateway snapshot know the new app.
    tokio::time::sleep(Duration::from_millis(1200)).await;

    let stop = Arc::new(AtomicBool::new(false));
    let results: Arc<Mutex<Vec<(u16, String)>>> = Arc::default();
    let mut workers = Vec::new();
    for _ in 0..4 {
        let (http, url, token, key) = (s.http.clone(), g.url.clone(), token.clone(), key.clone());
        let (stop, results) = (stop.clone(), results.clone());
        workers.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let r = http
                    .post(format!("{url}/api/v1/crypto/sign"))
                    .bearer_auth(&token)
                    .json(&json!({"key_id": key, "data": "c2lnbiBtZQ=="}))
                    .send()
                    .await
                    .expect("the gateway always answers");
                let status = r.status().as_u16();
                let body: Value = r.json().await.unwrap_or(Value::Null);
                let code = body["code"].as_str().unwrap_or("").to_owned();
                results.lock().unwrap().push((status, code));
            }
        }));
    }
    wait_for("both nodes serve", Duration::from_secs(10), || async {
        s.served_by(&g.url, &a.url).await > 20 && s.served_by(&g.url, &b.url).await > 20
    })
    .await;
    a.kill();
    let before_kill = results.lock().unwrap().len();
    // Traffic continues on the other node.
    wait_for(
        "traffic continues on node b",
        Duration::from_secs(10),
        || async { results.lock().unwrap().len() > before_kill + 200 },
    )
    .await;
    let served_a_while_down = s.served_by(&g.url, &a.url).await;

    // Bring it back on the same address: it rejoins.
    let a2 = node_db(&s.data, db, pa);
    wait_healthy(&s.http, &a2.url).await;
    wait_for("node a serves again", Duration::from_secs(15), || async {
        s.served_by(&g.url, &a.url).await > served_a_while_down + 20
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.await.unwrap();
    }
    let metrics = s.metrics(&g.url).await;
    let retries: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("govcloud_gateway_retries_total"))
        .collect();
    let results = results.lock().unwrap();
    let ok = results.iter().filter(|(s, _)| *s == 200).count();
    let lost: Vec<_> = results.iter().filter(|(s, _)| *s != 200).collect();
    eprintln!(
        "{ok} signed, {} failed in flight: {lost:?}; retried elsewhere: {retries:?}",
        lost.len()
    );
    // Only requests node a had already received when it died may fail, and they say so;
    // at most one per worker was in flight.
    assert!(
        lost.iter()
            .all(|(s, c)| *s == 502 && c == "upstream_failed"),
        "unexpected failures: {lost:?}"
    );
    assert!(lost.len() <= 4, "{} failures for 4 workers", lost.len());
    assert!(ok > 200, "{ok} signatures");
    drop(g);
    drop(b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_over_its_limit_gets_429_while_another_is_unaffected() {
    let s = Setup::new();
    let (pa, pg) = (free_port(), free_port());
    let a = node(&s.data, pa);
    wait_healthy(&s.http, &a.url).await;
    let g = gateway(&s.data, pg, &[&a], &[]);
    wait_healthy(&s.http, &g.url).await;
    let (_, busy, _) = s.app(&a.url, "busy").await;
    let (_, calm, _) = s.app(&a.url, "calm").await;
    cli(
        &s.data,
        &["app", "limit", "busy", "--rps", "2", "--burst", "5"],
    );
    cli(
        &s.data,
        &[
            "app",
            "limit",
            "calm",
            "--rps",
            "1000",
            "--operation",
            "verify",
        ],
    );
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let hash = json!({"data": "YWJj"});
    let mut busy_codes = Vec::new();
    let mut retry_after = Vec::new();
    for _ in 0..20 {
        let r = s
            .http
            .post(format!("{}/api/v1/crypto/hash", g.url))
            .bearer_auth(&busy)
            .json(&hash)
            .send()
            .await
            .unwrap();
        busy_codes.push(r.status().as_u16());
        if let Some(v) = r.headers().get("retry-after") {
            retry_after.push(v.to_str().unwrap().parse::<u64>().unwrap());
        }
        let (calm_status, _) = s
            .post(&g.url, &calm, "/api/v1/crypto/hash", hash.clone())
            .await;
        assert_eq!(calm_status, 200, "the other app is unaffected");
    }
    let allowed = busy_codes.iter().filter(|c| **c == 200).count();
    let limited = busy_codes.iter().filter(|c| **c == 429).count();
    // A burst of 5, plus what 2/s refills during the loop.
    assert!((5..=9).contains(&allowed), "{busy_codes:?}");
    assert_eq!(allowed + limited, 20, "{busy_codes:?}");
    assert_eq!(retry_after.len(), limited);
    assert!(retry_after.iter().all(|s| *s == 1), "{retry_after:?}");
    // The refusal is a documented error and is counted.
    let (st, body) = s
        .post(&g.url, &busy, "/api/v1/crypto/hash", hash.clone())
        .await;
    if st == 429 {
        assert_eq!(body["code"], "rate_limited");
        assert!(body["message_zh"].as_str().unwrap().contains("频率"));
    }
    let metrics = s.metrics(&g.url).await;
    assert!(metrics.contains(
        "govcloud_gateway_errors_total{app=\"busy\",operation=\"hash\",code=\"rate_limited\"}"
    ));
    // Lifting the limit takes effect within seconds.
    cli(&s.data, &["app", "unlimit", "busy"]);
    wait_for("limit lifted", Duration::from_secs(5), || async {
        let mut all = true;
        for _ in 0..10 {
            all &= s
                .post(&g.url, &busy, "/api/v1/crypto/hash", hash.clone())
                .await
                .0
                == 200;
        }
        all
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_node_opens_its_circuit_and_with_all_down_the_answer_is_a_quick_503() {
    let s = Setup::new();
    let (pa, pb, pg) = (free_port(), free_port(), free_port());
    let a = node(&s.data, pa);
    wait_healthy(&s.http, &a.url).await;
    let b = node(&s.data, pb);
    wait_healthy(&s.http, &b.url).await;
    let g = gateway(&s.data, pg, &[&a, &b], &["--upstream-timeout-ms", "300"]);
    wait_healthy(&s.http, &g.url).await;
    let (_, token, _) = s.app(&a.url, "steady").await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let hash = json!({"data": "YWJj"});

    // Node a hangs: it accepts connections and never answers.
    a.signal("-STOP");
    let opened = wait_for("node a's circuit opens", Duration::from_secs(5), || async {
        // Traffic keeps going meanwhile; requests on a time out (504) or go to b.
        let (st, body) = s
            .post(&g.url, &token, "/api/v1/crypto/hash", hash.clone())
            .await;
        assert!(
            st == 200 || (st == 504 && body["code"] == "upstream_timeout"),
            "{st} {body}"
        );
        s.nodes(&g.url)
            .await
            .iter()
            .any(|(u, _, c)| *u == a.url && c == "open")
    })
    .await;
    eprintln!("circuit of the hanging node opened after {opened:?}");
    // With a's circuit open every request goes to b at once.
    for _ in 0..20 {
        let t = Instant::now();
        let (st, _) = s
            .post(&g.url, &token, "/api/v1/crypto/hash", hash.clone())
            .await;
        assert_eq!(st, 200);
        assert!(
            t.elapsed() < Duration::from_millis(250),
            "{:?}",
            t.elapsed()
        );
    }

    // Both hang: once both circuits are open the gateway fails fast with 503.
    b.signal("-STOP");
    wait_for("node b's circuit opens", Duration::from_secs(5), || async {
        s.nodes(&g.url)
            .await
            .iter()
            .all(|(_, up, c)| c == "open" || !up)
    })
    .await;
    for _ in 0..5 {
        let t = Instant::now();
        let (st, body) = s
            .post(&g.url, &token, "/api/v1/crypto/hash", hash.clone())
            .await;
        let took = t.elapsed();
        assert_eq!(st, 503, "{body}");
        assert_eq!(body["code"], "no_healthy_node");
        assert!(took < Duration::from_millis(100), "503 took {took:?}");
    }

    // They recover: health checks pass, a probe closes each circuit.
    a.signal("-CONT");
    b.signal("-CONT");
    wait_for("traffic flows again", Duration::from_secs(10), || async {
        s.post(&g.url, &token, "/api/v1/crypto/hash", hash.clone())
            .await
            .0
            == 200
    })
    .await;
    wait_for("both circuits close", Duration::from_secs(10), || async {
        let _ = s
            .post(&g.url, &token, "/api/v1/crypto/hash", hash.clone())
            .await;
        s.nodes(&g.url)
            .await
            .iter()
            .all(|(_, up, c)| *up && c == "closed")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policies_and_credentials_are_enforced_and_audited() {
    let s = Setup::new();
    let (pa, pg) = (free_port(), free_port());
    let a = node(&s.data, pa);
    wait_healthy(&s.http, &a.url).await;
    let g = gateway(&s.data, pg, &[&a], &[]);
    wait_healthy(&s.http, &g.url).await;
    let (app_id, token, k1) = s.app(&a.url, "jypt").await;
    let (st, k2) = s
        .post(
            &g.url,
            &token,
            "/api/v1/crypto/keys",
            json!({"type": "sm2-sign"}),
        )
        .await;
    assert_eq!(
        st, 201,
        "an unrestricted app may manage keys through the gateway: {k2}"
    );
    let k2 = k2["id"].as_str().unwrap().to_owned();
    let sign = |k: &str| json!({"key_id": k, "data": "YWJj"});

    // Restrict it: sign with k1 only, verify with any key.
    cli(
        &s.data,
        &["app", "allow", "jypt", "--operation", "sign", "--key", &k1],
    );
    cli(&s.data, &["app", "allow", "jypt", "--operation", "verify"]);
    let denied = wait_for("the policy applies", Duration::from_secs(5), || async {
        s.post(&g.url, &token, "/api/v1/crypto/sign", sign(&k2))
            .await
            .0
            == 403
    })
    .await;
    eprintln!("policy applied after {denied:?}");
    let (st, body) = s
        .post(&g.url, &token, "/api/v1/crypto/sign", sign(&k2))
        .await;
    assert_eq!((st, body["code"].as_str()), (403, Some("key_not_allowed")));
    assert!(body["message_zh"].as_str().unwrap().contains(&k2));
    let (st, sig) = s
        .post(&g.url, &token, "/api/v1/crypto/sign", sign(&k1))
        .await;
    assert_eq!(st, 200, "{sig}");
    let (st, v) = s
        .post(
            &g.url,
            &token,
            "/api/v1/crypto/verify",
            json!({"key_id": k1, "data": "YWJj", "signature": sig["signature"]}),
        )
        .await;
    assert_eq!((st, v["valid"].as_bool()), (200, Some(true)), "{v}");
    // A batch naming one forbidden key is refused whole.
    let (st, body) = s
        .post(
            &g.url,
            &token,
            "/api/v1/crypto/sign/batch",
            json!({"items": [sign(&k1), sign(&k2)]}),
        )
        .await;
    assert_eq!((st, body["code"].as_str()), (403, Some("key_not_allowed")));
    for (path, body) in [
        (
            "/api/v1/crypto/encrypt",
            json!({"key_id": k1, "plaintext": "YWJj"}),
        ),
        ("/api/v1/crypto/random", json!({"length": 16})),
        ("/api/v1/crypto/keys", json!({"type": "sm4"})),
    ] {
        let (st, b) = s.post(&g.url, &token, path, body).await;
        assert_eq!(
            (st, b["code"].as_str()),
            (403, Some("operation_not_allowed")),
            "{path}"
        );
    }
    // A body the gateway cannot read for its keys is refused, not passed on.
    let r = s
        .http
        .post(format!("{}/api/v1/crypto/sign", g.url))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(r#"{"key_id":"a","key_id":"b"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    // Routes the gateway does not serve.
    let (st, b) = s.post(&g.url, &token, "/api/v1/users", json!({})).await;
    assert_eq!((st, b["code"].as_str()), (404, Some("no_such_route")));

    // Unknown credential: 401.
    let (st, b) = s
        .post(
            &g.url,
            "gca_unknown",
            "/api/v1/crypto/hash",
            json!({"data": "YWJj"}),
        )
        .await;
    assert_eq!((st, b["code"].as_str()), (401, Some("unauthenticated")));
    let r = s
        .http
        .post(format!("{}/api/v1/crypto/hash", g.url))
        .json(&json!({"data": "YWJj"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);

    // Rotation: the old credential stops working within seconds, the new one works.
    let rotated = cli(&s.data, &["app", "rotate", "jypt"]);
    let new_token = rotated["token"].as_str().unwrap().to_owned();
    let took = wait_for(
        "the old credential stops",
        Duration::from_secs(5),
        || async {
            s.post(&g.url, &token, "/api/v1/crypto/sign", sign(&k1))
                .await
                .0
                == 401
        },
    )
    .await;
    eprintln!("rotation applied after {took:?}");
    let (st, _) = s
        .post(&g.url, &new_token, "/api/v1/crypto/sign", sign(&k1))
        .await;
    assert_eq!(st, 200);
    // Revocation (disable): 401 with its own code.
    cli(&s.data, &["app", "disable", "jypt"]);
    wait_for(
        "the revoked credential stops",
        Duration::from_secs(5),
        || async {
            let (st, b) = s
                .post(&g.url, &new_token, "/api/v1/crypto/sign", sign(&k1))
                .await;
            st == 401 && b["code"] == "credential_revoked"
        },
    )
    .await;

    // Every policy change is in the audit chain, which still verifies.
    let entries = cli(&s.data, &["audit", "list", "--limit", "100"]);
    let actions: Vec<(&str, &str)> = entries
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["action"].as_str().unwrap(), e["target"].as_str().unwrap()))
        .collect();
    for action in ["app.policy.allow", "app.rotate", "app.disable"] {
        assert!(
            actions.contains(&(action, app_id.as_str())),
            "{action} missing from {actions:?}"
        );
    }
    assert!(actions.contains(&("gateway.node.add", a.url.as_str())));
    cli(&s.data, &["audit", "verify"]);
    // The monthly calls reached the store (flushed every 2 s) for metering.
    wait_for("calls are counted", Duration::from_secs(6), || async {
        let p = cli(&s.data, &["app", "policy", "jypt"]);
        let c = &p["calls"][0];
        c["ok"].as_i64().unwrap_or(0) >= 3 && c["rejected"].as_i64().unwrap_or(0) >= 7
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_no_node_received_is_retried_on_another_and_refusals_open_the_circuit() {
    let s = Setup::new();
    let (pa, pg, dead) = (free_port(), free_port(), free_port());
    let a = node(&s.data, pa);
    wait_healthy(&s.http, &a.url).await;
    // Health checks only at start, so a node added later is tried before any check.
    let g = gateway(&s.data, pg, &[&a], &["--health-interval-ms", "600000"]);
    wait_healthy(&s.http, &g.url).await;
    let (_, token, key) = s.app(&a.url, "retry").await;
    let dead_url = format!("http://127.0.0.1:{dead}");
    let added = cli(&s.data, &["node", "add", &dead_url]);
    assert_eq!(added["changed"], true);
    wait_for(
        "the gateway knows the new node",
        Duration::from_secs(5),
        || async { s.nodes(&g.url).await.iter().any(|(u, _, _)| *u == dead_url) },
    )
    .await;
    // Nothing listens there: every request it gets is refused before it is sent, and goes
    // to node a instead. Signing is one of the operations never repeated once received.
    for _ in 0..30 {
        let (st, body) = s
            .post(
                &g.url,
                &token,
                "/api/v1/crypto/sign",
                json!({"key_id": key, "data": "YWJj"}),
            )
            .await;
        assert_eq!(st, 200, "{body}");
    }
    let metrics = s.metrics(&g.url).await;
    let retried: u64 = metrics
        .lines()
        .filter(|l| {
            l.starts_with(&format!(
                "govcloud_gateway_retries_total{{node=\"{dead_url}\"}}"
            ))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum();
    assert!(retried >= 3, "{retried} retries: {metrics}");
    let view = s.nodes(&g.url).await;
    assert!(
        view.iter().any(|(u, _, c)| *u == dead_url && c == "open"),
        "refused connections open the circuit: {view:?}"
    );
    assert!(metrics.contains(&format!(
        "govcloud_gateway_circuit_state{{node=\"{dead_url}\"}} 2"
    )));
    // Draining and removing take it out of the gateway's list.
    cli(&s.data, &["node", "drain", &dead_url]);
    cli(&s.data, &["node", "remove", &dead_url]);
    wait_for("the node leaves", Duration::from_secs(5), || async {
        !s.nodes(&g.url).await.iter().any(|(u, _, _)| *u == dead_url)
    })
    .await;
    let listed = cli(&s.data, &["node", "list"]);
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
}

/// `curl` (Debian's, on OpenSSL) as the independent TLS client: the HTTP status and body.
fn curl(args: &[&str]) -> (u16, Value) {
    let o = Command::new("curl")
        .args(["-sS", "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .expect("curl runs");
    if !o.status.success() {
        eprintln!(
            "curl {}: {}",
            o.status,
            String::from_utf8_lossy(&o.stderr).trim()
        );
    }
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let (body, code) = out.rsplit_once('\n').unwrap_or(("", "0"));
    (
        code.trim().parse().unwrap_or(0),
        serde_json::from_str(body).unwrap_or(Value::Null),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_binds_an_app_to_its_rsa_client_certificate() {
    let s = Setup::new();
    let (pa, pg) = (free_port(), free_port());
    let a = node(&s.data, pa);
    wait_healthy(&s.http, &a.url).await;
    let dir = |d: &str| s.data.join(d).to_str().unwrap().to_owned();
    let gw_cert = cli(
        &s.data,
        &[
            "pki",
            "issue",
            "--profile",
            "server",
            "--cn",
            "gateway",
            "--san",
            "ip:127.0.0.1",
            "--out",
            &dir("gw"),
        ],
    );
    let client = cli(
        &s.data,
        &[
            "pki",
            "issue",
            "--profile",
            "server",
            "--cn",
            "jypt",
            "--san",
            "dns:jypt.example",
            "--out",
            &dir("client"),
        ],
    );
    let serial_of = |v: &Value, alg: &str| {
        v["certificates"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["alg"] == alg && c["profile"] != "server-enc")
            .unwrap()["serial"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    // The gateway reads its encrypted key with the password from the environment.
    let log = std::fs::File::create(s.data.join("gateway-tls.log")).unwrap();
    let child = govcloud(&s.data, None)
        .args([
            "gateway",
            "--listen",
            &format!("127.0.0.1:{pg}"),
            "--node",
            &a.url,
        ])
        .arg("--tls-cert")
        .arg(s.data.join("gw/rsa-cert.pem"))
        .arg("--tls-key")
        .arg(s.data.join("gw/rsa-key.pem"))
        .env(
            "GOVCLOUD_TLS_KEY_PASSWORD",
            gw_cert["key_password"].as_str().unwrap(),
        )
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let _g = Proc {
        child,
        url: format!("https://127.0.0.1:{pg}"),
        log: s.data.join("gateway-tls.log"),
    };
    // The client's key, decrypted by OpenSSL for curl.
    let plain = s.data.join("client/plain-key.pem");
    let ok = Command::new("openssl")
        .args(["pkcs8", "-in"])
        .arg(s.data.join("client/rsa-key.pem"))
        .args([
            "-passin",
            &format!("pass:{}", client["key_password"].as_str().unwrap()),
            "-out",
        ])
        .arg(&plain)
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let ca = s.data.join("ca-rsa.pem");
    let pem = s
        .http
        .get(format!("{}/pki/ca/rsa.pem", a.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    std::fs::write(&ca, pem).unwrap();
    let bound = cli(&s.data, &["app", "add", "bound"])["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let free = cli(&s.data, &["app", "add", "free"])["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let rsa_serial = serial_of(&client, "rsa");
    cli(
        &s.data,
        &["app", "bind-cert", "bound", "--serial", &rsa_serial],
    );
    // An SM2 certificate cannot be bound: no TLS stack here negotiates SM2.
    let refused = govcloud(&s.data, None)
        .args([
            "app",
            "bind-cert",
            "bound",
            "--serial",
            &serial_of(&client, "sm2"),
        ])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("SM2"));

    let url = format!("https://127.0.0.1:{pg}/api/v1/crypto/hash");
    let (ca, plain) = (ca.to_str().unwrap(), plain.to_str().unwrap());
    let cert = dir("client/rsa-cert.pem");
    let call = |token: &str, with_cert: bool| {
        let auth = format!("Authorization: Bearer {token}");
        let mut args = vec![
            "--cacert",
            ca,
            "-H",
            &auth,
            "-H",
            "content-type: application/json",
            "-d",
            r#"{"data":"YWJj"}"#,
        ];
        if with_cert {
            args.extend(["--cert", &cert, "--key", plain]);
        }
        args.push(&url);
        curl(&args)
    };
    wait_for(
        "the gateway listens over TLS",
        Duration::from_secs(10),
        || async { call(&free, false).0 == 200 },
    )
    .await;
    wait_for("the binding applies", Duration::from_secs(5), || async {
        call(&bound, false).0 == 401
    })
    .await;
    let (st, body) = call(&bound, false);
    assert_eq!(
        (st, body["code"].as_str()),
        (401, Some("client_certificate_required"))
    );
    let (st, body) = call(&bound, true);
    assert_eq!(st, 200, "{body}");
    assert!(body["digest"].is_string());
    // A certificate from elsewhere fails the handshake.
    let (k, c) = (s.data.join("self.key"), s.data.join("self.pem"));
    assert!(Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=other",
            "-days",
            "1",
            "-keyout"
        ])
        .arg(&k)
        .arg("-out")
        .arg(&c)
        .stderr(Stdio::null())
        .status()
        .unwrap()
        .success());
    let auth = format!("Authorization: Bearer {free}");
    let (st, _) = curl(&[
        "--cacert",
        ca,
        "--cert",
        c.to_str().unwrap(),
        "--key",
        k.to_str().unwrap(),
        "-H",
        &auth,
        "-H",
        "content-type: application/json",
        "-d",
        r#"{"data":"YWJj"}"#,
        &url,
    ]);
    assert_eq!(st, 0, "no HTTP answer without a trusted certificate");
    // Revoking the client certificate locks the bound app out within seconds.
    cli(
        &s.data,
        &["pki", "revoke", &rsa_serial, "--reason", "keyCompromise"],
    );
    wait_for("revocation applies", Duration::from_secs(5), || async {
        call(&bound, true).1["code"] == "client_certificate_mismatch"
    })
    .await;
    let entries = cli(&s.data, &["audit", "list", "--limit", "50"]);
    assert!(entries
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["action"] == "app.policy.bind-cert"));
}
