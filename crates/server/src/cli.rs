//! The command line: `govcloud <noun> <verb>`, every command with `--format table|json`,
//! `--data-dir` and `--database-url`. Exit code 0 on success, 1 on any error, with the
//! error on stderr in Chinese and English.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{anyhow, bail, Context, Result};
use chrono::{NaiveDate, Utc};
use clap::{Parser, Subcommand, ValueEnum};
use govcloud_domain::calendar;
use govcloud_domain::catalog::PackageNo;
use govcloud_domain::role::Role;
use govcloud_store::{Store, UserChange};
use rust_decimal::Decimal;
use serde::Serialize;
use unicode_width::UnicodeWidthStr;

mod opscmd;

use crate::api::catalog::{catalog_dto, outcome_code};
use crate::app::{self, AppState};
use crate::ops::{self, Ctx};
use crate::{auth, BUNDLED_CONTRACT, BUNDLED_CONTRACT_NAME};

#[derive(Parser)]
#[command(
    name = "govcloud",
    version,
    about = "政务云服务合同管理与商用密码服务平台 — server, console and CLI"
)]
pub struct Cli {
    /// Directory for the embedded database and local files.
    #[arg(
        long,
        global = true,
        env = "GOVCLOUD_DATA_DIR",
        default_value = "govcloud-data"
    )]
    data_dir: PathBuf,
    /// Database URL (postgres://… or sqlite://PATH); default: SQLite in the data directory.
    #[arg(
        long,
        global = true,
        env = "GOVCLOUD_DATABASE_URL",
        hide_env_values = true
    )]
    database_url: Option<String>,
    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t = Format::Table)]
    format: Format,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Table,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server: API under /api/v1, console at /.
    Serve {
        #[arg(long, env = "GOVCLOUD_LISTEN", default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// The URL relying parties use to reach this server (CRL and OCSP addresses in the
        /// certificates it issues). Default: http://LISTEN.
        #[arg(long, env = "GOVCLOUD_PUBLIC_URL")]
        public_url: Option<String>,
        /// Load the 2026 contract and demo users (purchaser, operator, auditor).
        #[arg(long)]
        demo: bool,
        /// How hosts and volumes come into being: `manual` (the provider provisions in its
        /// own console; govcloud records) or `libvirt` (needs a build with
        /// `--features libvirt`).
        #[arg(long, env = "GOVCLOUD_ENGINE", default_value = "manual")]
        engine: String,
        /// libvirt connection URI (qemu:///system, qemu+ssh://host/system, test:///default).
        #[arg(long, env = "GOVCLOUD_LIBVIRT_URI", default_value = "qemu:///system")]
        libvirt_uri: String,
        /// libvirt storage pool for volumes (default: the engine's choice for the URI).
        #[arg(long, env = "GOVCLOUD_LIBVIRT_POOL")]
        libvirt_pool: Option<String>,
        /// Do not run the monitors, SLA clock notices and notification sending in this
        /// process. With several servers on one database, let exactly one run them.
        #[arg(long, env = "GOVCLOUD_NO_SCHEDULER")]
        no_scheduler: bool,
    },
    /// The contract as data (合同目录).
    #[command(subcommand)]
    Catalog(CatalogCmd),
    /// Users, roles and API tokens.
    #[command(subcommand)]
    User(UserCmd),
    /// The audit chain (审计日志).
    #[command(subcommand)]
    Audit(AuditCmd),
    /// Working days on the Chinese holiday calendar.
    #[command(subcommand)]
    Calendar(CalendarCmd),
    /// Business systems' credentials for the crypto service (应用).
    #[command(subcommand)]
    App(AppCmd),
    /// Keys of the crypto service.
    #[command(subcommand)]
    Key(KeyCmd),
    /// Certificates: the CAs, issuing, revoking, listing (证书服务).
    #[command(subcommand)]
    Pki(PkiCmd),
    /// RFC 3161 timestamps of files (时间戳服务).
    #[command(subcommand)]
    Tsa(TsaCmd),
    /// Run the crypto front proxy 密码前置 in front of crypto nodes (`serve` instances
    /// sharing this store): app policies, rate limits, circuit breaking, load balancing.
    Gateway {
        #[arg(
            long,
            env = "GOVCLOUD_GATEWAY_LISTEN",
            default_value = "127.0.0.1:8081"
        )]
        listen: SocketAddr,
        /// A crypto node's base URL (repeatable); added to the shared node list if absent.
        #[arg(long = "node")]
        nodes: Vec<String>,
        /// Timeout of every upstream call, milliseconds.
        #[arg(long, default_value_t = 5000)]
        upstream_timeout_ms: u64,
        /// Connect timeout of every upstream call, milliseconds.
        #[arg(long, default_value_t = 500)]
        connect_timeout_ms: u64,
        /// Interval of the active health checks (GET /healthz), milliseconds.
        #[arg(long, default_value_t = 1000)]
        health_interval_ms: u64,
        /// Consecutive failures that open a node's circuit.
        #[arg(long, default_value_t = 5)]
        failure_threshold: u32,
        /// Failure share in the window that opens a node's circuit (0–1).
        #[arg(long, default_value_t = 0.5)]
        error_rate: f64,
        /// The error-rate window, milliseconds.
        #[arg(long, default_value_t = 10_000)]
        window_ms: u64,
        /// Requests needed in the window before the error rate counts.
        #[arg(long, default_value_t = 20)]
        min_requests: u32,
        /// How long an open circuit refuses traffic before a probe, milliseconds.
        #[arg(long, default_value_t = 5000)]
        open_ms: u64,
        /// Serve HTTPS with this PEM certificate chain (e.g. the rsa-cert.pem of
        /// `govcloud pki issue --profile server`); clients may then present certificates.
        #[arg(long, requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// The PEM private key (PKCS #8; if encrypted, its password in
        /// GOVCLOUD_TLS_KEY_PASSWORD).
        #[arg(long, requires = "tls_cert")]
        tls_key: Option<PathBuf>,
    },
    /// Crypto nodes behind the gateways (shared by every gateway replica).
    #[command(subcommand)]
    Node(NodeCmd),
    /// Cloud resources drawn from the contract's line items (资源).
    #[command(subcommand)]
    Resource(ResourceCmd),
    /// The physical host inventory (for placement rules).
    #[command(subcommand)]
    Host(HostCmd),
    /// Unit prices of the contract's line items (单价).
    #[command(subcommand)]
    Price(PriceCmd),
    /// Monthly service statements (月度服务明细).
    #[command(subcommand)]
    Statement(StatementCmd),
    /// Payment milestones with due dates and statuses; recording payments (付款).
    #[command(subcommand)]
    Payment(PaymentCmd),
    /// Stage and final acceptance (验收) with their evidence documents.
    #[command(subcommand)]
    Acceptance(AcceptanceCmd),
    /// Monitors 监控 (HTTP, TCP, TLS certificate) run 7×24 by the server.
    #[command(subcommand)]
    Monitor(opscmd::MonitorCmd),
    /// Incidents 故障 with their SLA clocks.
    #[command(subcommand)]
    Incident(opscmd::IncidentCmd),
    /// Maintenance notices 维护通知 (at least 24 hours ahead).
    #[command(subcommand)]
    Notice(opscmd::NoticeCmd),
    /// Key periods 重点时期 (五一, 十一, 春节, 两会, business peaks).
    #[command(subcommand)]
    Keyperiod(opscmd::KeyPeriodCmd),
    /// Notification channels: e-mail and signed webhooks.
    #[command(subcommand)]
    Channel(opscmd::ChannelCmd),
    /// Monthly operations reports 月度运维报告.
    #[command(subcommand)]
    Opsreport(opscmd::OpsReportCmd),
    /// Print the OpenAPI document.
    Openapi,
}

#[derive(Subcommand)]
enum PaymentCmd {
    /// Every milestone with its due date and status today (未到期/应付/已付/逾期).
    List {
        #[arg(long)]
        package: Option<i64>,
    },
    /// Record the payment of a milestone.
    Record {
        #[arg(long)]
        package: i64,
        /// The milestone's number in the package (1 首款, 2 中期款, 3 尾款).
        #[arg(long)]
        milestone: i64,
        /// The payment date, YYYY-MM-DD.
        #[arg(long)]
        on: String,
        /// 元, at most two decimals.
        #[arg(long)]
        amount: String,
        /// Voucher or bank reference 凭证号.
        #[arg(long, default_value = "")]
        reference: String,
    },
}

#[derive(Subcommand)]
enum AcceptanceCmd {
    /// Record a package's stage or final acceptance with its evidence documents (one
    /// transaction: a bad document records nothing).
    Add {
        #[arg(long)]
        package: i64,
        /// stage (阶段性验收) | final (最终验收)
        #[arg(long)]
        kind: String,
        /// The acceptance date, YYYY-MM-DD.
        #[arg(long)]
        on: String,
        #[arg(long, default_value = "")]
        note: String,
        /// An evidence document (repeatable); at most 20 MiB each.
        #[arg(long = "document")]
        documents: Vec<PathBuf>,
    },
    /// Acceptances with their documents (name, size, SM3).
    List {
        #[arg(long)]
        package: Option<i64>,
    },
}

#[derive(Subcommand)]
enum ResourceCmd {
    /// Resources (released ones too), optionally of one system.
    List {
        #[arg(long)]
        system: Option<String>,
    },
    /// One resource with its history.
    Show { id: String },
    /// Allocate (or record an existing) resource; refused beyond the contracted quantity.
    Add {
        #[arg(long)]
        system: String,
        /// Catalog line item id, e.g. p1-vcpu.
        #[arg(long)]
        item: String,
        #[arg(long)]
        quantity: String,
        #[arg(long)]
        name: Option<String>,
        /// vCPU items: the physical host (id or name).
        #[arg(long)]
        host: Option<String>,
        /// RFC 3339; earlier than now records an existing resource (audited).
        #[arg(long)]
        effective_from: Option<String>,
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Change a resource's quantity.
    Resize {
        id: String,
        #[arg(long, required = true)]
        quantity: Option<String>,
        #[arg(long)]
        effective_from: Option<String>,
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Release a resource.
    Release {
        id: String,
        /// (always none: a release returns the whole quantity)
        #[arg(skip)]
        quantity: Option<String>,
        #[arg(long)]
        effective_to: Option<String>,
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Usage intervals (resource, item, quantity, from, to) within [FROM, TO).
    Usage {
        #[arg(long)]
        system: Option<String>,
        #[arg(long)]
        from: String,
        #[arg(long)]
        to: String,
    },
}

#[derive(Subcommand)]
enum PriceCmd {
    /// Set an item's unit price (元 per its billing unit: 元/月, 元/次 or 元/年) from a date.
    Set {
        /// Catalog line item id, e.g. p1-vcpu.
        item: String,
        /// e.g. 45.50
        price: String,
        /// A date (midnight Beijing time) or an RFC 3339 instant.
        #[arg(long)]
        from: String,
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Every price, by item.
    List,
}

#[derive(Subcommand)]
enum StatementCmd {
    /// Generate (issue, sign, timestamp) a month's statements and write each as .json,
    /// .xlsx and .pdf (with .json.sig, .json.tsr and .signer.pem) into DIR.
    Generate {
        /// YYYY-MM, an ended month.
        #[arg(long)]
        month: String,
        #[arg(long)]
        package: Option<u8>,
        #[arg(long)]
        system: Option<String>,
        #[arg(long)]
        out: PathBuf,
    },
    /// Issued statements (newest versions; --all-versions for every version).
    List {
        #[arg(long)]
        month: Option<String>,
        #[arg(long)]
        package: Option<u8>,
        #[arg(long)]
        all_versions: bool,
    },
    /// Verify an issued statement's signature and timestamp.
    Verify { id: String },
}

#[derive(Subcommand)]
enum HostCmd {
    /// Add a physical host.
    Add {
        name: String,
        /// x86 | arm | c86
        #[arg(long)]
        arch: String,
        /// Base clock, GHz.
        #[arg(long)]
        clock_ghz: String,
        /// Physical cores.
        #[arg(long)]
        cores: i64,
    },
    /// Hosts with vCPUs placed and the 4-per-core limit.
    List,
}

#[derive(Subcommand)]
enum NodeCmd {
    /// Add a node (or make a draining one active again); gateways use it within a second.
    Add { url: String },
    /// Send no new requests to a node; requests in flight finish.
    Drain { url: String },
    /// Remove a node from the list.
    Remove { url: String },
    /// The nodes, with each running gateway replica's view of them.
    List,
}

#[derive(Subcommand)]
enum PkiCmd {
    /// The CA chain of a hierarchy (PEM: issuing CA, then root).
    #[command(subcommand)]
    Ca(PkiCaCmd),
    /// Issue certificates; writes cert.pem (server: also enc-cert.pem and rsa-cert.pem) and,
    /// for keys generated here, encrypted PKCS #8 key files, into --out.
    Issue {
        /// server | device | personal
        #[arg(long)]
        profile: String,
        /// PKCS #10 request (PEM) for the SM2 key; without it the key pair is generated.
        #[arg(long)]
        csr: Option<PathBuf>,
        /// Server only: PKCS #10 request for the RSA key.
        #[arg(long)]
        rsa_csr: Option<PathBuf>,
        #[arg(long)]
        out: PathBuf,
        /// dns:NAME or ip:ADDRESS (repeatable).
        #[arg(long)]
        san: Vec<String>,
        /// Subject CN (server name, device name, the person's name).
        #[arg(long)]
        cn: Option<String>,
        #[arg(long)]
        org: Option<String>,
        /// Personal only: the holder's ID number.
        #[arg(long)]
        id_number: Option<String>,
        /// Where relying parties reach the server (CRL and OCSP URLs in the certificates).
        /// Default: $GOVCLOUD_PUBLIC_URL, else http://127.0.0.1:8080.
        #[arg(long)]
        public_url: Option<String>,
    },
    /// Revoke a certificate by serial (hex).
    Revoke {
        serial: String,
        /// unspecified, keyCompromise, cACompromise, affiliationChanged, superseded,
        /// cessationOfOperation, certificateHold, privilegeWithdrawn, aACompromise
        #[arg(long)]
        reason: String,
    },
    /// Every certificate issued.
    List,
}

#[derive(Subcommand)]
enum PkiCaCmd {
    Show {
        /// sm2 | rsa
        #[arg(long, default_value = "sm2")]
        alg: String,
    },
}

#[derive(Subcommand)]
enum TsaCmd {
    /// Timestamp FILE (SM3 → the SM2 TSA; --sha256 → the RSA TSA); writes FILE.tsr.
    Stamp {
        file: PathBuf,
        #[arg(long)]
        sha256: bool,
        /// Where to write the reply (default FILE.tsr).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Verify a timestamp reply or token for FILE.
    Verify { file: PathBuf, token: PathBuf },
}

#[derive(Subcommand)]
enum CatalogCmd {
    /// Show the loaded contract's line items.
    Show {
        #[arg(long)]
        package: Option<u8>,
    },
    /// Check a catalog file; errors name their line.
    Validate { file: PathBuf },
    /// Load a catalog file into the store (idempotent).
    Load { file: PathBuf },
}

#[derive(Subcommand)]
enum UserCmd {
    /// Create a user; without --password-file a password is generated and printed once.
    Add {
        name: String,
        #[arg(long)]
        role: String,
        #[arg(long)]
        password_file: Option<PathBuf>,
        #[arg(long)]
        display_name: Option<String>,
    },
    /// List users.
    List,
    /// Issue a new API bearer token for NAME (printed once).
    Token {
        name: String,
        #[arg(long, default_value = "cli")]
        label: String,
    },
    /// Change a user's role.
    SetRole { name: String, role: String },
    /// Disable a user (ends their sessions; their tokens stop working).
    Disable { name: String },
    /// Enable a disabled user.
    Enable { name: String },
    /// Set a user's password.
    Password {
        name: String,
        #[arg(long)]
        password_file: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum AuditCmd {
    /// Check every link of the chain; exits non-zero at the first broken entry.
    Verify,
    /// Show the newest entries.
    List {
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
}

#[derive(Subcommand)]
enum AppCmd {
    /// Issue a credential for a business system; prints its id and bearer token once.
    Add {
        name: String,
        /// Business system code (jypt, zjk, …).
        #[arg(long)]
        system: Option<String>,
    },
    /// List apps with their key counts and usage.
    List,
    /// Revoke an app's credential (it stops working within seconds everywhere).
    Disable { app: String },
    /// Re-enable a disabled app's credential.
    Enable { app: String },
    /// Issue a new credential; the old one stops working. Prints the new token once.
    Rotate { app: String },
    /// Allow an operation (or `*`), optionally only with one key. The first rule restricts
    /// an unrestricted app to its rules.
    Allow {
        app: String,
        #[arg(long)]
        operation: String,
        #[arg(long, default_value = "*")]
        key: String,
    },
    /// Remove an allow rule.
    Disallow {
        app: String,
        #[arg(long)]
        operation: String,
        #[arg(long, default_value = "*")]
        key: String,
    },
    /// Rate-limit an app at the gateways (token bucket), for one operation or all.
    Limit {
        app: String,
        #[arg(long)]
        rps: f64,
        /// Bucket size (default: one second's worth).
        #[arg(long)]
        burst: Option<i64>,
        #[arg(long, default_value = "*")]
        operation: String,
    },
    /// Remove a rate limit.
    Unlimit {
        app: String,
        #[arg(long, default_value = "*")]
        operation: String,
    },
    /// An app's gateway policy: rules, limits, client certificates and this month's calls.
    Policy { app: String },
    /// Require mutual TLS at the gateway with this govcloud-issued RSA certificate (serial
    /// in hex); an app may have several.
    BindCert {
        app: String,
        #[arg(long)]
        serial: String,
    },
    /// Remove a certificate binding (with none left, the credential alone suffices again).
    UnbindCert {
        app: String,
        #[arg(long)]
        serial: String,
    },
}

#[derive(Subcommand)]
enum KeyCmd {
    /// Import key material for an app (BYOK): an SM2 private key (PEM) or a raw key (hex).
    Import {
        #[arg(long)]
        app: String,
        /// sm2-sign | sm2-enc | sm4
        #[arg(long = "type")]
        kind: String,
        /// PEM private key file (PKCS#8 or SEC1), for SM2.
        #[arg(long, conflicts_with = "hex")]
        pem: Option<PathBuf>,
        /// The key in hex: 32 hex digits for SM4, 64 for an SM2 private scalar.
        #[arg(long)]
        hex: Option<String>,
        #[arg(long)]
        label: Option<String>,
    },
    /// List keys (all apps, or one).
    List {
        #[arg(long)]
        app: Option<String>,
    },
}

#[derive(Subcommand)]
enum CalendarCmd {
    /// The date N working days after FROM.
    AddWorkingDays { from: NaiveDate, days: u32 },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = match cli.command {
        Command::Serve { .. } | Command::Gateway { .. } => "info,sqlx=warn",
        _ => "warn",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("RUST_LOG")
                .unwrap_or_else(|_| filter.into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("错误 / error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("错误 / error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn actor() -> String {
    format!(
        "cli:{}",
        std::env::var("USER").unwrap_or_else(|_| "unknown".into())
    )
}

/// The context of a command run now by `who`.
fn now_ctx<'a>(store: &'a dyn Store, who: &'a str) -> Ctx<'a> {
    Ctx {
        store,
        actor: who,
        now: Utc::now(),
    }
}

/// The loaded contract, or an error that says how to load one.
async fn loaded_contract(
    store: &dyn Store,
) -> Result<(
    govcloud_store::StoredContract,
    Arc<govcloud_domain::catalog::Contract>,
)> {
    ops::current_contract(store, None)
        .await?
        .ok_or_else(|| anyhow!("尚未加载合同 / no contract loaded: govcloud catalog load FILE"))
}

async fn open_store(cli: &Cli) -> Result<Arc<dyn Store>> {
    let url = match &cli.database_url {
        Some(u) => u.clone(),
        None => {
            std::fs::create_dir_all(&cli.data_dir).with_context(|| {
                format!("cannot create data directory {}", cli.data_dir.display())
            })?;
            restrict(&cli.data_dir, 0o700);
            format!("sqlite://{}", cli.data_dir.join("govcloud.db").display())
        }
    };
    let store = govcloud_store::open(&url)
        .await
        .with_context(|| format!("cannot open database {}", govcloud_store::redact_url(&url)))?;
    Ok(Arc::from(store))
}

#[cfg(unix)]
fn restrict(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode));
}
#[cfg(not(unix))]
fn restrict(_: &Path, _: u32) {}

/// Print `json` with `--format json`, else the Chinese sentence.
fn done(fmt: Format, json: &serde_json::Value, sentence: &str) -> Result<()> {
    if fmt == Format::Json {
        print_json(json)
    } else {
        println!("{sentence}");
        Ok(())
    }
}

fn rfc3339(field: &str, s: Option<&str>) -> Result<Option<chrono::DateTime<Utc>>> {
    crate::api::parse_time(&format!("--{field}"), s)
        .map_err(|e| anyhow!("{} / {}", e.body.message_zh, e.body.message_en))
}

/// The provisioning engine `serve --engine` names.
fn make_engine(
    name: &str,
    uri: &str,
    pool: Option<&str>,
) -> Result<Arc<dyn govcloud_engine::Engine>> {
    match name {
        "manual" => Ok(Arc::new(govcloud_engine::ManualEngine::new())),
        #[cfg(feature = "libvirt")]
        "libvirt" => {
            let mut e = govcloud_engine::LibvirtEngine::connect(uri)
                .map_err(|e| anyhow!("libvirt {uri}: {e}"))?;
            if let Some(p) = pool {
                e = e
                    .with_pool(p)
                    .map_err(|e| anyhow!("libvirt pool {p}: {e}"))?;
            }
            eprintln!("资源编排：libvirt {uri} / provisioning through libvirt at {uri}");
            Ok(Arc::new(e))
        }
        #[cfg(not(feature = "libvirt"))]
        "libvirt" => {
            let _ = (uri, pool);
            bail!("此版本未启用 libvirt / this build has no libvirt engine: cargo build --release --features libvirt")
        }
        other => bail!("--engine {other:?}: manual 或 libvirt / manual or libvirt"),
    }
}

/// The CLI records resources without driving a hypervisor (the manual engine); resources a
/// server provisioned through libvirt are changed through its API (the manual engine
/// refuses their references).
fn manual_engine() -> Arc<dyn govcloud_engine::Engine> {
    Arc::new(govcloud_engine::ManualEngine::new())
}

/// An operation's error as the API words it: Chinese / English.
fn op_err(e: ops::OpError) -> anyhow::Error {
    let a = crate::error::ApiError::from(e);
    anyhow!("{} / {}", a.body.message_zh, a.body.message_en)
}

fn resource_row(r: &govcloud_store::Resource) -> Vec<String> {
    vec![
        r.id.clone(),
        r.system_code.clone(),
        r.item_id.clone(),
        r.name.clone(),
        r.quantity.clone(),
        if r.released { "已释放" } else { "使用中" }.into(),
        crate::shanghai_time(r.created_at),
    ]
}

fn resource_json(r: &govcloud_store::Resource) -> serde_json::Value {
    serde_json::json!({"id": r.id, "system": r.system_code, "item": r.item_id, "name": r.name,
        "quantity": r.quantity, "host": r.host_id, "vcpus": r.vcpus, "released": r.released,
        "created_at": crate::api::utc(r.created_at), "created_by": r.created_by})
}

async fn resource_cmd(cli: &Cli, cmd: &ResourceCmd, fmt: Format) -> Result<()> {
    let store = open_store(cli).await?;
    let who = actor();
    let cx = now_ctx(store.as_ref(), &who);
    const HEAD: [&str; 7] = [
        "资源编号",
        "业务系统",
        "明细项",
        "名称",
        "数量",
        "状态",
        "登记时间",
    ];
    match cmd {
        ResourceCmd::List { system } => {
            let list = store.list_resources(system.as_deref()).await?;
            if fmt == Format::Json {
                print_json(&list.iter().map(resource_json).collect::<Vec<_>>())?;
            } else {
                print_table(&HEAD, &list.iter().map(resource_row).collect::<Vec<_>>());
            }
        }
        ResourceCmd::Show { id } => {
            let (r, events) = store
                .resource(id)
                .await?
                .ok_or_else(|| anyhow!("资源 {id} 不存在 / resource {id} not found"))?;
            if fmt == Format::Json {
                let mut v = resource_json(&r);
                v["history"] = events
                    .iter()
                    .map(|e| serde_json::json!({"seq": e.seq, "kind": e.kind, "quantity": e.quantity,
                        "effective_at": crate::api::utc(e.effective_at), "recorded_at": crate::api::utc(e.recorded_at),
                        "actor": e.actor, "reason": e.reason}))
                    .collect();
                print_json(&v)?;
            } else {
                print_table(&HEAD, &[resource_row(&r)]);
                println!();
                let rows: Vec<Vec<String>> = events
                    .iter()
                    .map(|e| {
                        vec![
                            e.seq.to_string(),
                            e.kind.clone(),
                            e.quantity.clone(),
                            crate::shanghai_time(e.effective_at),
                            crate::shanghai_time(e.recorded_at),
                            e.actor.clone(),
                            e.reason.clone(),
                        ]
                    })
                    .collect();
                print_table(
                    &[
                        "序号",
                        "变化",
                        "数量",
                        "生效时间",
                        "记录时间",
                        "操作人",
                        "原因",
                    ],
                    &rows,
                );
            }
        }
        ResourceCmd::Add {
            system,
            item,
            quantity,
            name,
            host,
            effective_from,
            reason,
        } => {
            let (stored, c) = loaded_contract(store.as_ref()).await?;
            let r = crate::resources::create(
                cx,
                &manual_engine(),
                &stored.id,
                &c,
                crate::resources::NewResource {
                    system,
                    item,
                    quantity,
                    name: name.as_deref(),
                    spec: serde_json::Value::Null,
                    host: host.as_deref(),
                    effective_from: rfc3339("effective-from", effective_from.as_deref())?,
                    reason,
                    change_id: None,
                },
            )
            .await
            .map_err(op_err)?;
            done(
                fmt,
                &resource_json(&r),
                &format!(
                    "已分配资源 {}：{} {} {}",
                    r.id, r.item_id, r.quantity, r.name
                ),
            )?;
        }
        ResourceCmd::Resize {
            id,
            quantity,
            effective_from: at,
            reason,
        }
        | ResourceCmd::Release {
            id,
            quantity,
            effective_to: at,
            reason,
        } => {
            let (_, c) = loaded_contract(store.as_ref()).await?;
            let r = crate::resources::change(
                cx,
                &manual_engine(),
                &c,
                id,
                crate::resources::Change {
                    quantity: quantity.as_deref(),
                    at: rfc3339("effective-from", at.as_deref())?,
                    reason,
                    change_id: None,
                },
            )
            .await
            .map_err(op_err)?;
            done(
                fmt,
                &resource_json(&r),
                &format!("资源 {} 现为 {}", r.id, r.quantity),
            )?;
        }
        ResourceCmd::Usage { system, from, to } => {
            let from = rfc3339("from", Some(from))?.unwrap_or_default();
            let to = rfc3339("to", Some(to))?.unwrap_or_default();
            let list = crate::resources::usage(store.as_ref(), system.as_deref(), from, to)
                .await
                .map_err(op_err)?;
            let rows: Vec<serde_json::Value> = list
                .iter()
                .map(|u| serde_json::json!({"resource": u.resource.id, "system": u.resource.system_code,
                    "item": u.resource.item_id, "quantity": u.interval.quantity.normalize().to_string(),
                    "from": crate::api::utc(u.interval.from), "to": u.interval.to.map(crate::api::utc)}))
                .collect();
            if fmt == Format::Json {
                print_json(&rows)?;
            } else {
                let table: Vec<Vec<String>> = list
                    .iter()
                    .map(|u| {
                        vec![
                            u.resource.id.clone(),
                            u.resource.item_id.clone(),
                            u.interval.quantity.normalize().to_string(),
                            crate::shanghai_time(u.interval.from),
                            u.interval.to.map(crate::shanghai_time).unwrap_or_default(),
                        ]
                    })
                    .collect();
                print_table(&["资源编号", "明细项", "数量", "自", "至"], &table);
            }
        }
    }
    Ok(())
}

async fn price_cmd(cli: &Cli, cmd: &PriceCmd, fmt: Format) -> Result<()> {
    let store = open_store(cli).await?;
    let who = actor();
    let cx = now_ctx(store.as_ref(), &who);
    let (stored, c) = loaded_contract(store.as_ref()).await?;
    match cmd {
        PriceCmd::Set {
            item,
            price,
            from,
            note,
        } => {
            let at = crate::statements::parse_from(from).map_err(op_err)?;
            let p = crate::statements::set_price(
                cx,
                &c,
                &stored.id,
                crate::statements::NewPrice {
                    item,
                    unit_price: price,
                    from: at,
                    source: "manual",
                    note,
                },
            )
            .await
            .map_err(op_err)?;
            done(
                fmt,
                &serde_json::json!({"item": p.item_id, "unit_price": p.unit_price, "from": p.effective_from}),
                &format!(
                    "已设置 {} 单价 {} 元，自 {} 起（北京时间）",
                    p.item_id,
                    p.unit_price,
                    crate::shanghai_time(p.effective_from)
                ),
            )?;
        }
        PriceCmd::List => {
            let prices = store.prices(&stored.id).await?;
            let billing = |id: &str| {
                c.items()
                    .find(|i| i.id.as_str() == id)
                    .map(|i| i.billing.code())
                    .unwrap_or("")
            };
            if fmt == Format::Json {
                print_json(&prices.iter().map(|p| serde_json::json!({"item": p.item_id, "unit_price": p.unit_price,
                    "billing": billing(&p.item_id), "from": p.effective_from, "source": p.source, "note": p.note})).collect::<Vec<_>>())?;
            } else {
                let rows: Vec<Vec<String>> = prices
                    .iter()
                    .map(|p| {
                        vec![
                            p.item_id.clone(),
                            p.unit_price.clone(),
                            billing(&p.item_id).to_owned(),
                            crate::shanghai_time(p.effective_from),
                            if p.source == "demo" {
                                "演示价格".into()
                            } else {
                                "正式".into()
                            },
                        ]
                    })
                    .collect();
                print_table(&["明细项", "单价（元）", "计价", "生效时间", "来源"], &rows);
            }
        }
    }
    Ok(())
}

async fn statement_cmd(cli: &Cli, cmd: &StatementCmd, fmt: Format) -> Result<()> {
    let store = open_store(cli).await?;
    let who = actor();
    let cx = now_ctx(store.as_ref(), &who);
    let (stored, c) = loaded_contract(store.as_ref()).await?;
    match cmd {
        StatementCmd::Generate {
            month,
            package,
            system,
            out,
        } => {
            let (year, m) = crate::statements::parse_month(month).map_err(op_err)?;
            let pki = pki_service(cli, store.as_ref(), None).await?;
            let done_list = crate::statements::generate(
                cx,
                &pki,
                &c,
                &stored.id,
                &crate::statements::Request {
                    year,
                    month: m,
                    package: *package,
                    system: system.as_deref(),
                },
                |n, total, system| {
                    if n < total {
                        eprintln!("[{}/{total}] 生成 {month} {system} …", n + 1);
                    }
                },
            )
            .await
            .map_err(op_err)?;
            std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
            let mut rows = Vec::new();
            let mut listing = Vec::new();
            for g in &done_list {
                let r = &g.record;
                let base = out.join(&r.id);
                let write = |ext: &str, bytes: &[u8]| -> Result<PathBuf> {
                    let path = base.with_extension(ext);
                    std::fs::write(&path, bytes)
                        .with_context(|| format!("writing {}", path.display()))?;
                    Ok(path)
                };
                let json = write("json", &r.data)?;
                let xlsx = govcloud_report::xlsx::xlsx(&g.statement)?;
                write("xlsx", &xlsx)?;
                let pdf = govcloud_report::pdf::pdf(&g.statement)?;
                write("pdf", &pdf)?;
                write("json.sig", &r.signature)?;
                write("json.tsr", &r.timestamp_token)?;
                let mut pem = govcloud_pki::cert::to_pem("CERTIFICATE", &r.signer_cert);
                pem.push_str(&pki.sm2.chain_pem());
                write("signer.pem", pem.as_bytes())?;
                rows.push(vec![
                    r.id.clone(),
                    g.outcome.code().to_owned(),
                    r.version.to_string(),
                    format!(
                        "{} 元",
                        govcloud_domain::money::format_yuan(g.statement.total)
                    ),
                    g.diff
                        .as_ref()
                        .map_or(String::new(), |d| format!("{} 行变化", d.lines.len())),
                ]);
                listing.push(serde_json::json!({"id": r.id, "outcome": g.outcome.code(), "version": r.version,
                    "month": r.month, "package": r.package, "system": r.system_code, "total": r.total,
                    "data_sm3": r.data_sm3, "json": json,
                    "diff": g.diff.as_ref().map(govcloud_report::json::diff_to_json)}));
            }
            if fmt == Format::Json {
                print_json(&listing)?;
            } else {
                print_table(&["编号", "结果", "版本", "合计", "与上一版差异"], &rows);
                println!("文件已写入 {}", out.display());
            }
        }
        StatementCmd::List {
            month,
            package,
            all_versions,
        } => {
            if let Some(m) = month {
                crate::statements::parse_month(m).map_err(op_err)?;
            }
            let all = store
                .statements(&stored.id, month.as_deref(), package.map(i64::from))
                .await?;
            let list = crate::api::statements::listing(&all, None, *all_versions);
            if fmt == Format::Json {
                print_json(&list)?;
            } else {
                let rows: Vec<Vec<String>> = list
                    .iter()
                    .map(|s| {
                        vec![
                            s.id.clone(),
                            s.month.clone(),
                            s.package.to_string(),
                            s.system.clone(),
                            s.version.to_string(),
                            s.total.clone(),
                        ]
                    })
                    .collect();
                print_table(
                    &["编号", "月份", "包", "业务系统", "版本", "合计（元）"],
                    &rows,
                );
            }
        }
        StatementCmd::Verify { id } => {
            let r = store
                .statement(id)
                .await?
                .ok_or_else(|| anyhow!("没有月度服务明细 {id} / no statement {id}"))?;
            let pki = pki_service(cli, store.as_ref(), None).await?;
            let v = crate::statements::verify(&pki, &r);
            let ok = v.ok();
            done(
                fmt,
                &serde_json::json!({"id": r.id, "valid": ok, "signature_valid": v.signature_valid,
                    "signer_subject": v.signer_subject, "signer_issued_by_platform": v.signer_issued_by_platform,
                    "timestamp_valid": v.timestamp_valid, "timestamp_time": v.timestamp_time,
                    "data_sm3_matches": v.data_sm3_matches}),
                &format!(
                    "{}：签名{}，签名证书{}，时间戳{}（{}）",
                    r.id,
                    if v.signature_valid {
                        "有效"
                    } else {
                        "无效"
                    },
                    if v.signer_issued_by_platform {
                        "由本平台 SM2 CA 签发"
                    } else {
                        "不是本平台签发"
                    },
                    if v.timestamp_valid {
                        "有效"
                    } else {
                        "无效"
                    },
                    v.timestamp_time
                        .map(crate::shanghai_time)
                        .unwrap_or_default()
                ),
            )?;
            if !ok {
                bail!("验证失败 / verification failed");
            }
        }
    }
    Ok(())
}

async fn host_cmd(cli: &Cli, cmd: &HostCmd, fmt: Format) -> Result<()> {
    let store = open_store(cli).await?;
    let who = actor();
    let cx = now_ctx(store.as_ref(), &who);
    match cmd {
        HostCmd::Add {
            name,
            arch,
            clock_ghz,
            cores,
        } => {
            let h = crate::resources::add_host(cx, name, arch, clock_ghz, *cores)
                .await
                .map_err(op_err)?;
            done(
                fmt,
                &serde_json::json!({"id": h.id, "name": h.name, "arch": h.arch, "clock_ghz": h.clock_ghz, "cores": h.cores}),
                &format!(
                    "已登记物理主机 {}（{}，{} GHz，{} 核，最多 {} vCPU）",
                    h.name,
                    h.arch,
                    h.clock_ghz,
                    h.cores,
                    h.cores * 4
                ),
            )?;
        }
        HostCmd::List => {
            let hosts = store.physical_hosts().await?;
            if fmt == Format::Json {
                print_json(&hosts.iter().map(|(h, placed)| serde_json::json!({"id": h.id, "name": h.name,
                    "arch": h.arch, "clock_ghz": h.clock_ghz, "cores": h.cores, "vcpus_placed": placed,
                    "vcpus_limit": h.cores * 4})).collect::<Vec<_>>())?;
            } else {
                let rows: Vec<Vec<String>> = hosts
                    .iter()
                    .map(|(h, placed)| {
                        vec![
                            h.id.clone(),
                            h.name.clone(),
                            h.arch.clone(),
                            h.clock_ghz.clone(),
                            h.cores.to_string(),
                            format!("{placed}/{}", h.cores * 4),
                        ]
                    })
                    .collect();
                print_table(
                    &[
                        "编号",
                        "名称",
                        "架构",
                        "主频(GHz)",
                        "物理核",
                        "vCPU 已放置/上限",
                    ],
                    &rows,
                );
            }
        }
    }
    Ok(())
}

async fn node_cmd(cli: &Cli, cmd: &NodeCmd, fmt: Format) -> Result<()> {
    let store = open_store(cli).await?;
    let who = actor();
    let cx = now_ctx(store.as_ref(), &who);
    match cmd {
        NodeCmd::Add { url } => {
            let (n, changed) = ops::add_node(cx, url).await?;
            let msg = if changed {
                format!("已加入节点 {}，各密码前置约 1 秒内生效", n.url)
            } else {
                format!("节点 {} 已在使用中，未变更", n.url)
            };
            done(
                fmt,
                &serde_json::json!({"url": n.url, "state": n.state.code(), "changed": changed}),
                &msg,
            )?;
        }
        NodeCmd::Drain { url } => {
            let n = ops::drain_node(cx, url).await?;
            done(
                fmt,
                &serde_json::json!({"url": n.url, "state": n.state.code()}),
                &format!("节点 {} 已排空：不再接收新请求，进行中的请求将完成", n.url),
            )?;
        }
        NodeCmd::Remove { url } => {
            let changed = ops::remove_node(cx, url).await?;
            done(
                fmt,
                &serde_json::json!({"url": url, "changed": changed}),
                &if changed {
                    format!("已移除节点 {url}")
                } else {
                    format!("节点 {url} 不在列表中，未变更")
                },
            )?;
        }
        NodeCmd::List => {
            let status = crate::api::gateway::status(store.as_ref(), Utc::now()).await?;
            if fmt == Format::Json {
                print_json(&status.nodes)?;
            } else {
                let rows: Vec<Vec<String>> = status
                    .nodes
                    .iter()
                    .map(|n| {
                        vec![
                            n.url.clone(),
                            n.state_zh.clone(),
                            n.circuit_zh.clone(),
                            format!("{:.2}", n.latency_ms),
                            format!("{:.1}", n.rps),
                            n.requests.to_string(),
                            n.failures.to_string(),
                        ]
                    })
                    .collect();
                print_table(
                    &[
                        "节点",
                        "状态",
                        "熔断",
                        "延迟(ms)",
                        "每秒请求",
                        "请求数",
                        "失败数",
                    ],
                    &rows,
                );
                println!("运行中的密码前置实例：{}", status.replicas.len());
            }
        }
    }
    Ok(())
}

async fn payment_cmd(cli: &Cli, cmd: &PaymentCmd, fmt: Format) -> Result<()> {
    let store = open_store(cli).await?;
    let who = actor();
    let cx = now_ctx(store.as_ref(), &who);
    match cmd {
        PaymentCmd::List { package } => {
            let contract = ops::current_contract(store.as_ref(), None).await?;
            let cal =
                calendar::parse(crate::CALENDAR).map_err(|e| anyhow!("bundled calendar: {e}"))?;
            let dto = crate::api::payments::payments_dto(
                store.as_ref(),
                contract,
                &cal,
                *package,
                cx.now,
            )
            .await
            .map_err(api_err)?;
            if fmt == Format::Json {
                return print_json(&dto);
            }
            let mut rows = Vec::new();
            for p in &dto.packages {
                for m in &p.milestones {
                    let due = match (m.due_kind.as_str(), &m.due_date) {
                        (_, None) => "未约定日期".to_owned(),
                        ("latest", Some(d)) => format!("最迟 {d}（待验收）"),
                        (_, Some(d)) => d.clone(),
                    };
                    let paid = p
                        .payments
                        .iter()
                        .find(|x| Some(&x.id) == m.payment.as_ref());
                    rows.push(vec![
                        format!("第{}包", p.package),
                        m.seq.to_string(),
                        m.name.clone(),
                        m.percent
                            .as_ref()
                            .map(|x| format!("{x}%"))
                            .unwrap_or_default(),
                        m.trigger_zh.clone(),
                        format!("{due}{}", if m.provisional { " 暂定" } else { "" }),
                        m.status_zh.clone(),
                        paid.map(|x| x.paid_on.clone()).unwrap_or_default(),
                        paid.map(|x| x.amount_display.clone()).unwrap_or_default(),
                    ]);
                }
            }
            print_table(
                &[
                    "包",
                    "序号",
                    "付款节点",
                    "比例",
                    "付款条件",
                    "应付日期",
                    "状态",
                    "付款日期",
                    "金额(元)",
                ],
                &rows,
            );
            println!("状态按北京时间 {} 计算", dto.today);
        }
        PaymentCmd::Record {
            package,
            milestone,
            on,
            amount,
            reference,
        } => {
            let (stored, c) = loaded_contract(store.as_ref()).await?;
            let p = crate::payments::record_payment(
                cx,
                &stored.id,
                &c,
                crate::payments::NewPayment {
                    package: *package,
                    milestone: *milestone,
                    paid_on: crate::payments::parse_date("--on", on).map_err(op_err)?,
                    amount,
                    reference,
                },
            )
            .await
            .map_err(op_err)?;
            let dto = crate::api::payments::payment_dto(&p);
            done(
                fmt,
                &serde_json::to_value(&dto)?,
                &format!(
                    "已登记第 {} 包第 {} 个付款节点的付款：{} 元（{}），{}",
                    dto.package,
                    dto.milestone,
                    dto.amount_display,
                    dto.amount_capitals,
                    dto.paid_on
                ),
            )?;
        }
    }
    Ok(())
}

async fn acceptance_cmd(cli: &Cli, cmd: &AcceptanceCmd, fmt: Format) -> Result<()> {
    let store = open_store(cli).await?;
    let who = actor();
    let cx = now_ctx(store.as_ref(), &who);
    let (stored, c) = loaded_contract(store.as_ref()).await?;
    match cmd {
        AcceptanceCmd::Add {
            package,
            kind,
            on,
            note,
            documents,
        } => {
            let mut uploads = Vec::new();
            for f in documents {
                let meta = std::fs::metadata(f)
                    .with_context(|| format!("无法读取文件 / cannot read {}", f.display()))?;
                if meta.len() > govcloud_domain::payment::MAX_EVIDENCE_BYTES as u64 {
                    return Err(op_err(crate::payments::too_large(meta.len() as usize)));
                }
                uploads.push(crate::payments::Upload {
                    name: f
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                    content_type: None,
                    content: std::fs::read(f)
                        .with_context(|| format!("无法读取文件 / cannot read {}", f.display()))?,
                });
            }
            let (a, docs) = crate::payments::record_acceptance(
                cx,
                &stored.id,
                &c,
                crate::payments::NewAcceptance {
                    package: *package,
                    kind,
                    accepted_on: crate::payments::parse_date("--on", on).map_err(op_err)?,
                    note,
                    documents: uploads,
                },
            )
            .await
            .map_err(op_err)?;
            let dto = crate::api::payments::acceptance_dto(&a, &docs);
            let mut sentence = format!(
                "已登记第 {} 包{}（{}），编号 {}",
                dto.package, dto.kind_zh, dto.accepted_on, dto.id
            );
            for d in &dto.documents {
                sentence.push_str(&format!(
                    "\n  材料 {}（{} 字节）SM3 {}",
                    d.name, d.size, d.sm3
                ));
            }
            done(fmt, &serde_json::to_value(&dto)?, &sentence)?;
        }
        AcceptanceCmd::List { package } => {
            if let Some(n) = package {
                crate::payments::package_of(&c, *n).map_err(op_err)?;
            }
            let list = store.acceptances(&stored.id, *package).await?;
            let docs = store.evidence_list(&stored.id, *package).await?;
            let dtos: Vec<_> = list
                .iter()
                .map(|a| {
                    let mine: Vec<_> = docs
                        .iter()
                        .filter(|d| d.acceptance_id == a.id)
                        .cloned()
                        .collect();
                    crate::api::payments::acceptance_dto(a, &mine)
                })
                .collect();
            if fmt == Format::Json {
                return print_json(&dtos);
            }
            let mut rows = Vec::new();
            for a in &dtos {
                rows.push(vec![
                    format!("第{}包", a.package),
                    a.kind_zh.clone(),
                    a.accepted_on.clone(),
                    a.id.clone(),
                    a.recorded_by.clone(),
                    a.note.clone(),
                ]);
                for d in &a.documents {
                    rows.push(vec![
                        String::new(),
                        "└ 材料".to_owned(),
                        d.name.clone(),
                        d.id.clone(),
                        format!("{} 字节", d.size),
                        format!("SM3 {}", d.sm3),
                    ]);
                }
            }
            print_table(&["包", "验收", "日期", "编号", "登记人", "说明"], &rows);
        }
    }
    Ok(())
}

fn print_json<T: Serialize>(v: &T) -> Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, v)?;
    writeln!(out)?;
    Ok(())
}

/// Columns padded by display width, so Chinese text lines up.
fn print_table(headers: &[&str], rows: &[Vec<String>]) {
    let mut w: Vec<usize> = headers.iter().map(|h| h.width()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(c.width());
        }
    }
    let line = |cells: Vec<&str>| {
        let s: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c}{}", " ".repeat(w[i] - c.width())))
            .collect();
        println!("{}", s.join("  ").trim_end());
    };
    line(headers.to_vec());
    line(
        w.iter()
            .map(|n| "-".repeat(*n))
            .collect::<Vec<_>>()
            .iter()
            .map(String::as_str)
            .collect(),
    );
    for r in rows {
        line(r.iter().map(String::as_str).collect());
    }
}

fn read_password(file: Option<&Path>) -> Result<(String, bool)> {
    match file {
        Some(f) => {
            let s = std::fs::read_to_string(f)
                .with_context(|| format!("cannot read password file {}", f.display()))?;
            Ok((s.trim_end_matches(['\r', '\n']).to_owned(), false))
        }
        None => Ok((auth::random_password(), true)),
    }
}

async fn run(cli: Cli) -> Result<ExitCode> {
    let fmt = cli.format;
    match &cli.command {
        Command::Openapi => {
            let (_, doc) = crate::api::routes().split_for_parts();
            print_json(&doc)?;
        }
        Command::Serve {
            listen,
            demo,
            public_url,
            engine,
            libvirt_uri,
            libvirt_pool,
            no_scheduler,
        } => {
            let engine = make_engine(engine, libvirt_uri, libvirt_pool.as_deref())?;
            let store = open_store(&cli).await?;
            let crypto = crate::crypto::CryptoService::from_environment(&cli.data_dir)?;
            bootstrap(
                store.as_ref(),
                crypto.provider.as_ref(),
                &cli.data_dir,
                *demo,
            )
            .await?;
            let public_url = public_url
                .clone()
                .unwrap_or_else(|| format!("http://{listen}"));
            if *demo {
                opscmd::demo(store.as_ref(), &public_url).await?;
            }
            let pki = crate::pki::PkiService::load_or_init(
                store.as_ref(),
                crypto.provider.clone(),
                &public_url,
            )
            .await?;
            app::serve(
                AppState::new(store, crypto, pki).with_engine(engine),
                *listen,
                !*no_scheduler,
            )
            .await?;
        }
        Command::Gateway {
            listen,
            nodes,
            upstream_timeout_ms,
            connect_timeout_ms,
            health_interval_ms,
            failure_threshold,
            error_rate,
            window_ms,
            min_requests,
            open_ms,
            tls_cert,
            tls_key,
        } => {
            let store = open_store(&cli).await?;
            let ms = std::time::Duration::from_millis;
            let mut cfg = crate::gateway::GatewayConfig::new(*listen, nodes.clone());
            cfg.upstream_timeout = ms(*upstream_timeout_ms);
            cfg.connect_timeout = ms(*connect_timeout_ms);
            cfg.health_interval = ms(*health_interval_ms);
            cfg.breaker = crate::gateway::balance::BreakerConfig {
                consecutive_failures: *failure_threshold,
                error_rate: *error_rate,
                window: ms(*window_ms),
                min_requests: *min_requests,
                open_for: ms(*open_ms),
            };
            cfg.tls = tls_cert.clone().zip(tls_key.clone());
            crate::gateway::run(store, cfg).await?;
        }
        Command::Node(cmd) => node_cmd(&cli, cmd, fmt).await?,
        Command::Resource(cmd) => resource_cmd(&cli, cmd, fmt).await?,
        Command::Host(cmd) => host_cmd(&cli, cmd, fmt).await?,
        Command::Price(cmd) => price_cmd(&cli, cmd, fmt).await?,
        Command::Statement(cmd) => statement_cmd(&cli, cmd, fmt).await?,
        Command::Payment(cmd) => payment_cmd(&cli, cmd, fmt).await?,
        Command::Acceptance(cmd) => acceptance_cmd(&cli, cmd, fmt).await?,
        Command::Monitor(cmd) => opscmd::monitor_cmd(&cli, cmd, fmt).await?,
        Command::Incident(cmd) => opscmd::incident_cmd(&cli, cmd, fmt).await?,
        Command::Notice(cmd) => opscmd::notice_cmd(&cli, cmd, fmt).await?,
        Command::Keyperiod(cmd) => opscmd::key_period_cmd(&cli, cmd, fmt).await?,
        Command::Channel(cmd) => opscmd::channel_cmd(&cli, cmd, fmt).await?,
        Command::Opsreport(cmd) => opscmd::ops_report_cmd(&cli, cmd, fmt).await?,
        Command::Catalog(cmd) => return catalog(&cli, cmd, fmt).await,
        Command::User(cmd) => user(&cli, cmd, fmt).await?,
        Command::Audit(cmd) => return audit(&cli, cmd, fmt).await,
        Command::App(cmd) => app_cmd(&cli, cmd, fmt).await?,
        Command::Key(cmd) => key_cmd(&cli, cmd, fmt).await?,
        Command::Pki(cmd) => pki_cmd(&cli, cmd, fmt).await?,
        Command::Tsa(cmd) => return tsa_cmd(&cli, cmd, fmt).await,
        Command::Calendar(CalendarCmd::AddWorkingDays { from, days }) => {
            let cal =
                calendar::parse(crate::CALENDAR).map_err(|e| anyhow!("bundled calendar: {e}"))?;
            let w = cal.add_working_days(*from, *days);
            if fmt == Format::Json {
                print_json(
                    &serde_json::json!({"from": from.to_string(), "days": days, "date": w.date.to_string(), "provisional": w.provisional}),
                )?;
            } else {
                let note = if w.provisional {
                    "（暂定：涉及尚未发布调休安排的年份）"
                } else {
                    ""
                };
                println!("{from} 后第 {days} 个工作日：{}{note}", w.date);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn catalog(cli: &Cli, cmd: &CatalogCmd, fmt: Format) -> Result<ExitCode> {
    match cmd {
        CatalogCmd::Validate { file } => {
            let src = std::fs::read_to_string(file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            match govcloud_domain::catalog::parse(&src) {
                Ok(c) => {
                    if fmt == Format::Json {
                        print_json(
                            &serde_json::json!({"valid": true, "contract_id": c.id, "packages": c.packages.len(), "items": c.items().count()}),
                        )?;
                    } else {
                        println!(
                            "{}: 有效 / valid — {} 个包，{} 个服务项",
                            file.display(),
                            c.packages.len(),
                            c.items().count()
                        );
                    }
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    if fmt == Format::Json {
                        let issues: Vec<_> = e.issues.iter().map(|i| serde_json::json!({"line": i.line, "column": i.column, "message": i.message})).collect();
                        print_json(&serde_json::json!({"valid": false, "issues": issues}))?;
                    }
                    eprintln!("{}", e.report(&file.display().to_string()));
                    eprintln!(
                        "错误 / error: {} 有 {} 处错误 / {} problem(s)",
                        file.display(),
                        e.issues.len(),
                        e.issues.len()
                    );
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        CatalogCmd::Load { file } => {
            let src = std::fs::read_to_string(file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let store = open_store(cli).await?;
            let who = actor();
            let cx = Ctx {
                store: store.as_ref(),
                actor: &who,
                now: Utc::now(),
            };
            match ops::load_catalog(cx, &src).await {
                Ok((c, outcome)) => {
                    if fmt == Format::Json {
                        print_json(
                            &serde_json::json!({"outcome": outcome_code(outcome), "contract_id": c.id, "packages": c.packages.len(), "items": c.items().count(), "fingerprint": ops::fingerprint(&src)}),
                        )?;
                    } else {
                        let what = match outcome_code(outcome) {
                            "created" => "已导入",
                            "replaced" => "已更新",
                            _ => "未变化（与已导入内容相同）",
                        };
                        println!(
                            "{} {what}：{} 个包，{} 个服务项，{} 个业务系统",
                            c.id,
                            c.packages.len(),
                            c.items().count(),
                            c.systems.len()
                        );
                    }
                    Ok(ExitCode::SUCCESS)
                }
                Err(ops::OpError::Catalog(e)) => {
                    eprintln!("{}", e.report(&file.display().to_string()));
                    eprintln!("错误 / error: nothing was loaded");
                    Ok(ExitCode::FAILURE)
                }
                Err(e) => Err(e.into()),
            }
        }
        CatalogCmd::Show { package } => {
            let store = open_store(cli).await?;
            let loaded = ops::current_contract(store.as_ref(), None).await?;
            let (stored, contract) = match loaded {
                Some((s, c)) => (Some(s), c),
                None => {
                    eprintln!(
                        "提示 / note: no contract is loaded in this database yet; showing the bundled {BUNDLED_CONTRACT_NAME} (load it with: govcloud catalog load {BUNDLED_CONTRACT_NAME})"
                    );
                    (
                        None,
                        Arc::new(
                            govcloud_domain::catalog::parse(BUNDLED_CONTRACT)
                                .map_err(|e| anyhow!("bundled catalog: {e}"))?,
                        ),
                    )
                }
            };
            let pkg = match package {
                Some(n) => {
                    let p =
                        PackageNo::new(i64::from(*n)).filter(|p| contract.package(*p).is_some());
                    Some(p.ok_or_else(|| {
                        anyhow!("第{n}包不存在 / no package {n} in contract {}", contract.id)
                    })?)
                }
                None => None,
            };
            let dto = catalog_dto(&contract, stored.as_ref(), pkg);
            if fmt == Format::Json {
                print_json(&dto)?;
            } else {
                for p in &dto.packages {
                    let budget = p
                        .budget_wan
                        .as_deref()
                        .map_or("未列预算".to_owned(), |b| format!("预算 {b} 万元"));
                    println!(
                        "\n第{}包 {}（{}，{} 项）",
                        p.number,
                        p.short_name,
                        budget,
                        p.items.len()
                    );
                    let rows: Vec<Vec<String>> = p
                        .items
                        .iter()
                        .map(|i| {
                            vec![
                                i.id.clone(),
                                i.category.clone(),
                                i.item.chars().take(24).collect(),
                                i.quantity.clone(),
                                i.unit.clone(),
                                i.months.to_string(),
                                i.frequency.clone().unwrap_or_default(),
                                i.billing.clone(),
                                i.system.clone().unwrap_or_else(|| "-".into()),
                            ]
                        })
                        .collect();
                    print_table(
                        &[
                            "编号",
                            "类别",
                            "服务项",
                            "数量",
                            "单位",
                            "月",
                            "频次",
                            "计价",
                            "系统",
                        ],
                        &rows,
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn user(cli: &Cli, cmd: &UserCmd, fmt: Format) -> Result<()> {
    let store = open_store(cli).await?;
    let who = actor();
    let cx = now_ctx(store.as_ref(), &who);
    let find = |name: &str| {
        let store = store.clone();
        let name = name.to_owned();
        async move {
            let n = ops::parse_name(&name)?;
            store
                .user_with_secret(&n)
                .await?
                .map(|u| u.user)
                .ok_or_else(|| anyhow!("用户 {name} 不存在 / no user {name}"))
        }
    };
    match cmd {
        UserCmd::Add {
            name,
            role,
            password_file,
            display_name,
        } => {
            let (password, generated) = read_password(password_file.as_deref())?;
            let u = ops::create_user(cx, name, role, display_name.as_deref(), &password).await?;
            if fmt == Format::Json {
                let mut v = serde_json::json!({"name": u.name.to_string(), "role": u.role.code()});
                if generated {
                    v["password"] = password.into();
                }
                print_json(&v)?;
            } else {
                println!("已创建用户 {}（{}）", u.name, u.role.label_zh());
                if generated {
                    println!("一次性密码 / one-time password: {password}");
                    println!("（仅显示这一次，请妥善转交 / shown once）");
                }
            }
        }
        UserCmd::List => {
            let users = store.list_users().await?;
            if fmt == Format::Json {
                let v: Vec<_> = users
                    .iter()
                    .map(crate::api::session::UserDto::from)
                    .collect();
                print_json(&v)?;
            } else {
                let rows: Vec<Vec<String>> = users
                    .iter()
                    .map(|u| {
                        vec![
                            u.name.to_string(),
                            u.display_name.clone(),
                            format!("{} {}", u.role.code(), u.role.label_zh()),
                            if u.disabled {
                                "已停用".into()
                            } else {
                                "正常".into()
                            },
                        ]
                    })
                    .collect();
                print_table(&["用户名", "显示名称", "角色", "状态"], &rows);
            }
        }
        UserCmd::Token { name, label } => {
            let u = find(name).await?;
            let (token, info) = ops::issue_token(cx, &u, label).await?;
            if fmt == Format::Json {
                print_json(
                    &serde_json::json!({"user": u.name.to_string(), "id": info.id, "label": info.label, "token": token}),
                )?;
            } else {
                println!("{token}");
                eprintln!(
                    "已为 {} 签发 API 令牌（编号 {}）。令牌仅显示这一次 / the token is shown once.",
                    u.name, info.id
                );
            }
        }
        UserCmd::SetRole { name, role } => {
            let role: Role = ops::parse_role(role)?;
            let u =
                ops::change_user(cx, &ops::parse_name(name)?, vec![UserChange::Role(role)]).await?;
            println!("{} 的角色已改为 {}", u.name, u.role.label_zh());
        }
        UserCmd::Disable { name } => {
            let u = ops::change_user(
                cx,
                &ops::parse_name(name)?,
                vec![UserChange::Disabled(true)],
            )
            .await?;
            println!("已停用 {}", u.name);
        }
        UserCmd::Enable { name } => {
            let u = ops::change_user(
                cx,
                &ops::parse_name(name)?,
                vec![UserChange::Disabled(false)],
            )
            .await?;
            println!("已启用 {}", u.name);
        }
        UserCmd::Password {
            name,
            password_file,
        } => {
            let (password, generated) = read_password(password_file.as_deref())?;
            let u = ops::set_password(cx, &ops::parse_name(name)?, &password).await?;
            println!("已重设 {} 的密码", u.name);
            if generated {
                println!("一次性密码 / one-time password: {password}");
            }
        }
    }
    Ok(())
}

async fn audit(cli: &Cli, cmd: &AuditCmd, fmt: Format) -> Result<ExitCode> {
    let store = open_store(cli).await?;
    match cmd {
        AuditCmd::Verify => match govcloud_store::verify_audit(store.as_ref()).await? {
            Ok(n) => {
                if fmt == Format::Json {
                    print_json(&serde_json::json!({"ok": true, "checked": n}))?;
                } else {
                    println!("审计链完整 / audit chain intact: {n} entries verified (SM3)");
                }
                Ok(ExitCode::SUCCESS)
            }
            Err(b) => {
                if fmt == Format::Json {
                    print_json(
                        &serde_json::json!({"ok": false, "broken_at": b.seq, "reason": b.reason}),
                    )?;
                }
                eprintln!("审计链在第 {} 条记录处断裂 / {b}", b.seq);
                Ok(ExitCode::FAILURE)
            }
        },
        AuditCmd::List { limit } => {
            if !(1..=10_000).contains(limit) {
                bail!("--limit must be 1 to 10000");
            }
            let entries = store.audit_recent(*limit).await?;
            if fmt == Format::Json {
                let v: Vec<_> = entries
                    .iter()
                    .map(crate::api::audit::AuditEntryDto::from)
                    .collect();
                print_json(&v)?;
            } else {
                let rows: Vec<Vec<String>> = entries
                    .iter()
                    .map(|e| {
                        vec![
                            e.seq.to_string(),
                            crate::shanghai_time(e.event.at),
                            e.event.actor.clone(),
                            e.event.action.clone(),
                            e.event.target.clone(),
                            e.event.detail.clone(),
                        ]
                    })
                    .collect();
                print_table(
                    &["序号", "时间(北京)", "操作人", "操作", "对象", "详情"],
                    &rows,
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// First start: an admin (password from GOVCLOUD_ADMIN_PASSWORD, else generated and printed
/// once). With `--demo`: the 2026 contract and one user per role.
async fn bootstrap(
    store: &dyn Store,
    provider: &dyn govcloud_crypto::Provider,
    data_dir: &Path,
    demo: bool,
) -> Result<()> {
    let now = Utc::now();
    let cx = Ctx {
        store,
        actor: "system",
        now,
    };
    let mut demo_lines = Vec::new();
    if store.count_users().await? == 0 {
        let (password, generated) = match std::env::var("GOVCLOUD_ADMIN_PASSWORD") {
            Ok(p) if !p.is_empty() => (p, false),
            _ => (auth::random_password(), true),
        };
        ops::create_user(cx, "admin", "admin", Some("系统管理员"), &password)
            .await
            .context("creating the first admin (GOVCLOUD_ADMIN_PASSWORD must have at least 12 characters)")?;
        if generated {
            eprintln!("首次启动：已创建管理员 admin，一次性密码 / first start: admin password: {password}");
            eprintln!("（仅显示这一次；登录后请修改 / shown once, change it after logging in）");
            if demo {
                demo_lines.push(format!("admin\t{password}\t管理员"));
            }
        } else {
            eprintln!("首次启动：已创建管理员 admin（密码取自 GOVCLOUD_ADMIN_PASSWORD）");
        }
    }
    if demo {
        let (_, outcome) = ops::load_catalog(
            Ctx {
                actor: "demo",
                ..cx
            },
            BUNDLED_CONTRACT,
        )
        .await?;
        eprintln!(
            "演示模式 / demo: contract {BUNDLED_CONTRACT_NAME} {}",
            outcome_code(outcome)
        );
        let demo_password = std::env::var("GOVCLOUD_DEMO_PASSWORD")
            .ok()
            .filter(|p| !p.is_empty());
        for (name, role, display) in [
            ("purchaser", "purchaser", "采购人（演示）"),
            ("operator", "operator", "服务商运维（演示）"),
            ("auditor", "auditor", "审计员（演示）"),
        ] {
            if store
                .user_with_secret(&ops::parse_name(name)?)
                .await?
                .is_some()
            {
                continue;
            }
            let password = demo_password.clone().unwrap_or_else(auth::random_password);
            ops::create_user(
                Ctx {
                    actor: "demo",
                    ..cx
                },
                name,
                role,
                Some(display),
                &password,
            )
            .await?;
            if demo_password.is_none() {
                demo_lines.push(format!("{name}\t{password}\t{display}"));
            }
        }
        // One app credential with a key of each type per crypto-serviced business system,
        // so that 密码服务 has something to show and the API something to call.
        if store
            .list_apps()
            .await?
            .iter()
            .all(|a| a.id == ops::SERVICE_APP)
        {
            let demo_cx = Ctx {
                actor: "demo",
                ..cx
            };
            for (name, system) in [
                ("交易平台信息系统（演示）", "jypt"),
                ("评标专家库管理系统（演示）", "zjk"),
            ] {
                let (app, token) = ops::create_app(demo_cx, name, Some(system)).await?;
                for (kind, label) in [
                    (govcloud_crypto::KeyKind::Sm2Sign, "业务数据签名"),
                    (govcloud_crypto::KeyKind::Sm2Enc, "数字信封"),
                    (govcloud_crypto::KeyKind::Sm4, "数据加密"),
                ] {
                    ops::create_key(demo_cx, provider, &app, kind, Some(label), None).await?;
                }
                demo_lines.push(format!("{}\t{token}\t{name}（应用凭据）", app.id));
            }
        }
        demo_usage(Ctx {
            actor: "demo",
            ..cx
        })
        .await?;
        let file = data_dir.join("demo-credentials.txt");
        if !demo_lines.is_empty() {
            std::fs::create_dir_all(data_dir)?;
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&file)?;
            restrict(&file, 0o600);
            for l in &demo_lines {
                writeln!(f, "{l}")?;
            }
        }
        if let Ok(text) = std::fs::read_to_string(&file) {
            eprintln!("演示账号 / demo accounts (from {}):", file.display());
            for l in text.lines() {
                eprintln!("  {l}");
            }
        }
    }
    Ok(())
}

/// The demo price list (invented prices, labelled 演示价格 on every statement).
pub const DEMO_PRICES: &str = include_str!("../../../catalog/demo-prices-2026.toml");

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct DemoPrices {
    price: Vec<DemoPrice>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct DemoPrice {
    item: String,
    unit_price: String,
    from: toml::value::Datetime,
}

/// Demo usage, once (when no price is set yet): the demo prices, a physical host, and for
/// each package's systems resources from 1 July 2026 at about half the contracted
/// quantity, one resize in mid-September, per-occurrence work in October — so that the
/// months July to October have realistic statements to generate.
async fn demo_usage(cx: Ctx<'_>) -> Result<()> {
    let Some((stored, c)) = ops::current_contract(cx.store, None).await? else {
        return Ok(());
    };
    if !cx.store.prices(&stored.id).await?.is_empty() {
        return Ok(());
    }
    let list: DemoPrices = toml::from_str(DEMO_PRICES).context("catalog/demo-prices-2026.toml")?;
    for p in &list.price {
        let from = crate::statements::parse_from(&p.from.to_string()).map_err(op_err)?;
        crate::statements::set_price(
            cx,
            &c,
            &stored.id,
            crate::statements::NewPrice {
                item: &p.item,
                unit_price: &p.unit_price,
                from,
                source: "demo",
                note: "演示价格",
            },
        )
        .await
        .map_err(op_err)
        .with_context(|| format!("demo price of {}", p.item))?;
    }
    let engine: std::sync::Arc<dyn govcloud_engine::Engine> =
        std::sync::Arc::new(govcloud_engine::ManualEngine::new());
    let host = crate::resources::add_host(cx, "demo-host-01", "x86", "2.6", 512)
        .await
        .map_err(op_err)?;
    let bj = |s: &str| crate::statements::parse_from(s).map_err(op_err);
    let (start, resize_at, occ_at) = (bj("2026-07-01")?, bj("2026-09-15")?, bj("2026-10-20")?);
    let mut made = 0;
    for p in &c.packages {
        for sys in &p.systems {
            for item in p
                .items
                .iter()
                .filter(|i| govcloud_domain::statement::applies_to(i, sys.as_str()))
            {
                // A table shared by the package's systems: the first system holds it.
                if item.system.is_none() && sys != &p.systems[0] {
                    continue;
                }
                let share = Decimal::from(2);
                if item.billing == govcloud_domain::catalog::Billing::PerOccurrence {
                    let hosts = (item.quantity.value() / Decimal::from(4))
                        .ceil()
                        .max(Decimal::ONE);
                    crate::resources::record_occurrence(
                        Ctx { now: occ_at, ..cx },
                        &stored.id,
                        &c,
                        crate::resources::NewOccurrence {
                            system: sys.as_str(),
                            item: item.id.as_str(),
                            performed_at: occ_at,
                            hosts: hosts.to_string().parse::<i64>().unwrap_or(1),
                            note: "演示",
                        },
                    )
                    .await
                    .map_err(op_err)?;
                    continue;
                }
                let q = (item.quantity.value() / share)
                    .round_dp(0)
                    .max(Decimal::ONE);
                let spec = match govcloud_domain::resources::kind_of(item) {
                    govcloud_domain::resources::ResourceKind::CloudHost => {
                        serde_json::json!({"arch": "x86", "clock_ghz": "2.6"})
                    }
                    _ => serde_json::Value::Null,
                };
                let is_host = item.unit == govcloud_domain::catalog::Unit::Vcpu;
                let created = crate::resources::create(
                    cx,
                    &engine,
                    &stored.id,
                    &c,
                    crate::resources::NewResource {
                        system: sys.as_str(),
                        item: item.id.as_str(),
                        quantity: &q.to_string(),
                        name: None,
                        spec,
                        host: is_host.then_some(host.id.as_str()),
                        effective_from: Some(start),
                        reason: "演示数据",
                        change_id: None,
                    },
                )
                .await;
                let r = match created {
                    Ok(r) => r,
                    Err(e) => {
                        tracing::warn!(item = %item.id, error = %op_err(e), "demo resource not created");
                        continue;
                    }
                };
                made += 1;
                if made % 3 == 0 {
                    let bigger = (q * Decimal::new(15, 1))
                        .round_dp(0)
                        .min(item.quantity.value());
                    if let Err(e) = crate::resources::change(
                        cx,
                        &engine,
                        &c,
                        &r.id,
                        crate::resources::Change {
                            quantity: Some(&bigger.to_string()),
                            at: Some(resize_at),
                            reason: "演示扩容",
                            change_id: None,
                        },
                    )
                    .await
                    {
                        tracing::warn!(item = %item.id, error = %op_err(e), "demo resize not applied");
                    }
                }
            }
        }
    }
    eprintln!(
        "演示模式 / demo: {} 项演示价格，{made} 项演示资源（自 2026-07-01 起）",
        list.price.len()
    );
    Ok(())
}

async fn app_cmd(cli: &Cli, cmd: &AppCmd, fmt: Format) -> Result<()> {
    let store = open_store(cli).await?;
    let who = actor();
    let cx = now_ctx(store.as_ref(), &who);
    match cmd {
        AppCmd::Disable { app } | AppCmd::Enable { app } => {
            let a = ops::find_app(store.as_ref(), app).await?;
            let disable = matches!(cmd, AppCmd::Disable { .. });
            let a = ops::set_app_disabled(cx, &a, disable).await?;
            done(
                fmt,
                &serde_json::json!({"id": a.id, "name": a.name, "disabled": a.disabled}),
                &format!(
                    "应用 {} 的凭据已{}",
                    a.name,
                    if disable { "停用" } else { "启用" }
                ),
            )?;
        }
        AppCmd::Rotate { app } => {
            let a = ops::find_app(store.as_ref(), app).await?;
            let (a, token) = ops::rotate_app(cx, &a).await?;
            if fmt == Format::Json {
                print_json(&serde_json::json!({"id": a.id, "name": a.name, "token": token}))?;
            } else {
                println!("已为应用 {} 更换凭据，旧凭据数秒内失效", a.name);
                println!("应用凭据 / app token (shown once): {token}");
            }
        }
        AppCmd::Allow {
            app,
            operation,
            key,
        }
        | AppCmd::Disallow {
            app,
            operation,
            key,
        } => {
            let a = ops::find_app(store.as_ref(), app).await?;
            let allow = matches!(cmd, AppCmd::Allow { .. });
            let changed = if allow {
                ops::allow(cx, &a, operation, key).await?
            } else {
                ops::disallow(cx, &a, operation, key).await?
            };
            let msg = match (allow, changed) {
                (true, true) => format!("已授权应用 {} 执行 {operation}（密钥：{key}）", a.name),
                (true, false) => format!("应用 {} 已有此授权，未变更", a.name),
                (false, true) => format!("已撤销应用 {} 的授权 {operation}（密钥：{key}）", a.name),
                (false, false) => format!("应用 {} 没有此授权，未变更", a.name),
            };
            done(
                fmt,
                &serde_json::json!({"app": a.id, "operation": operation, "key": key, "changed": changed}),
                &msg,
            )?;
        }
        AppCmd::Limit {
            app,
            rps,
            burst,
            operation,
        } => {
            let a = ops::find_app(store.as_ref(), app).await?;
            let l = ops::set_limit(cx, &a, operation, *rps, *burst).await?;
            done(
                fmt,
                &serde_json::json!({"app": a.id, "operation": l.operation, "rps": l.rps, "burst": l.burst}),
                &format!(
                    "已限制应用 {} 的 {}：每秒 {} 次，突发 {}",
                    a.name, l.operation, l.rps, l.burst
                ),
            )?;
        }
        AppCmd::Unlimit { app, operation } => {
            let a = ops::find_app(store.as_ref(), app).await?;
            let changed = ops::remove_limit(cx, &a, operation).await?;
            let msg = if changed {
                format!("已取消应用 {} 的 {operation} 频率限制", a.name)
            } else {
                format!("应用 {} 没有 {operation} 频率限制，未变更", a.name)
            };
            done(
                fmt,
                &serde_json::json!({"app": a.id, "operation": operation, "changed": changed}),
                &msg,
            )?;
        }
        AppCmd::BindCert { app, serial } | AppCmd::UnbindCert { app, serial } => {
            let a = ops::find_app(store.as_ref(), app).await?;
            let bind = matches!(cmd, AppCmd::BindCert { .. });
            let changed = ops::bind_cert(cx, &a, serial, bind).await?;
            let msg = match (bind, changed) {
                (true, true) => format!(
                    "应用 {} 今后须以证书 {serial} 通过双向 TLS 访问密码前置",
                    a.name
                ),
                (true, false) => format!("证书 {serial} 已绑定到应用 {}，未变更", a.name),
                (false, true) => format!("已解除应用 {} 与证书 {serial} 的绑定", a.name),
                (false, false) => format!("证书 {serial} 未绑定到应用 {}，未变更", a.name),
            };
            done(
                fmt,
                &serde_json::json!({"app": a.id, "serial": serial, "bound": bind, "changed": changed}),
                &msg,
            )?;
        }
        AppCmd::Policy { app } => {
            let a = ops::find_app(store.as_ref(), app).await?;
            let p = crate::api::gateway::policy_of(store.as_ref(), &a).await?;
            if fmt == Format::Json {
                print_json(&p)?;
            } else {
                println!(
                    "应用 {}（{}）：{}",
                    a.name,
                    a.id,
                    if p.unrestricted {
                        "未限制操作与密钥"
                    } else {
                        "仅限以下授权"
                    }
                );
                let rows: Vec<Vec<String>> = p
                    .rules
                    .iter()
                    .map(|r| {
                        vec![
                            "授权".into(),
                            r.operation.clone(),
                            r.key.clone(),
                            String::new(),
                        ]
                    })
                    .chain(p.limits.iter().map(|l| {
                        vec![
                            "限流".into(),
                            l.operation.clone(),
                            String::new(),
                            format!("{}/s，突发 {}", l.rps, l.burst),
                        ]
                    }))
                    .collect();
                print_table(&["类型", "操作", "密钥", "限额"], &rows);
                if !p.client_certs.is_empty() {
                    println!(
                        "须以双向 TLS 出示的客户端证书：{}",
                        p.client_certs.join("、")
                    );
                }
                for c in &p.calls {
                    println!(
                        "{} 调用：成功 {}，错误 {}，拒绝 {}",
                        c.month, c.ok, c.error, c.rejected
                    );
                }
            }
        }
        AppCmd::Add { name, system } => {
            let (app, token) = ops::create_app(cx, name, system.as_deref()).await?;
            if fmt == Format::Json {
                print_json(&serde_json::json!({"id": app.id, "name": app.name, "token": token}))?;
            } else {
                println!("已创建应用 {}（{}）", app.name, app.id);
                println!("应用凭据 / app token (shown once): {token}");
            }
        }
        AppCmd::List => {
            let apps = crate::api::apps::app_list(store.as_ref(), Vec::new()).await?;
            if fmt == Format::Json {
                print_json(&apps)?;
            } else {
                let rows: Vec<Vec<String>> = apps
                    .iter()
                    .map(|a| {
                        let status = if a.disabled { "已停用" } else { "正常" };
                        vec![
                            a.id.clone(),
                            a.name.clone(),
                            a.system.clone().unwrap_or_default(),
                            a.keys.to_string(),
                            a.operations.to_string(),
                            status.into(),
                        ]
                    })
                    .collect();
                print_table(
                    &["应用编号", "名称", "业务系统", "密钥数", "调用次数", "状态"],
                    &rows,
                );
            }
        }
    }
    Ok(())
}

async fn key_cmd(cli: &Cli, cmd: &KeyCmd, fmt: Format) -> Result<()> {
    let store = open_store(cli).await?;
    match cmd {
        KeyCmd::Import {
            app,
            kind,
            pem,
            hex: hex_material,
            label,
        } => {
            let kind = ops::parse_key_kind(kind)?;
            let app = store
                .app(app)
                .await?
                .ok_or_else(|| anyhow!("应用 {app} 不存在 / no app {app}"))?;
            let material = match (pem, hex_material) {
                (Some(f), None) => {
                    let text = zeroize::Zeroizing::new(
                        std::fs::read_to_string(f)
                            .with_context(|| format!("cannot read {}", f.display()))?,
                    );
                    govcloud_crypto::sm2_private_scalar_from_pem(&text)?
                }
                (None, Some(h)) => zeroize::Zeroizing::new(
                    hex::decode(h.trim()).map_err(|_| anyhow!("--hex is not hexadecimal"))?,
                ),
                _ => bail!("give --pem FILE or --hex HEX"),
            };
            let crypto = crate::crypto::CryptoService::from_environment(&cli.data_dir)?;
            let who = actor();
            let cx = Ctx {
                store: store.as_ref(),
                actor: &who,
                now: Utc::now(),
            };
            let key = ops::create_key(
                cx,
                crypto.provider.as_ref(),
                &app,
                kind,
                label.as_deref(),
                Some(&material),
            )
            .await?;
            if fmt == Format::Json {
                print_json(
                    &serde_json::json!({"id": key.id, "type": key.kind, "app": key.app_id, "version": key.current_version}),
                )?;
            } else {
                println!("已导入密钥 {}（{}，应用 {}）", key.id, key.kind, app.name);
            }
        }
        KeyCmd::List { app } => {
            let keys = store.list_keys(app.as_deref()).await?;
            if fmt == Format::Json {
                let v: Vec<_> = keys.iter().map(|k| serde_json::json!({"id": k.id, "app": k.app_id, "type": k.kind, "label": k.label, "state": k.state.code(), "version": k.current_version})).collect();
                print_json(&v)?;
            } else {
                let rows: Vec<Vec<String>> = keys
                    .iter()
                    .map(|k| {
                        vec![
                            k.id.clone(),
                            k.app_id.clone(),
                            k.kind.clone(),
                            k.label.clone(),
                            k.state.code().to_owned(),
                            k.current_version.to_string(),
                        ]
                    })
                    .collect();
                print_table(&["密钥编号", "应用", "类型", "说明", "状态", "版本"], &rows);
            }
        }
    }
    Ok(())
}

fn api_err(e: crate::error::ApiError) -> anyhow::Error {
    anyhow!(
        "{} / {} [{}]",
        e.body.message_zh,
        e.body.message_en,
        e.body.code
    )
}

/// Where relying parties reach the server when the CLI is the first to set up the PKI.
const DEFAULT_PUBLIC_URL: &str = "http://127.0.0.1:8080";

/// The PKI service on this data directory; `public_url` matters only when the CLI is the
/// first to touch it (the CAs' CRL addresses are fixed then).
async fn pki_service(
    cli: &Cli,
    store: &dyn Store,
    public_url: Option<&str>,
) -> Result<crate::pki::PkiService> {
    let crypto = crate::crypto::CryptoService::from_environment(&cli.data_dir)?;
    let env = std::env::var("GOVCLOUD_PUBLIC_URL").ok();
    let url = public_url.or(env.as_deref()).unwrap_or(DEFAULT_PUBLIC_URL);
    crate::pki::PkiService::load_or_init(store, crypto.provider.clone(), url).await
}

async fn pki_cmd(cli: &Cli, cmd: &PkiCmd, fmt: Format) -> Result<()> {
    let store = open_store(cli).await?;
    match cmd {
        PkiCmd::Ca(PkiCaCmd::Show { alg }) => {
            let Some(alg) = govcloud_pki::SigAlg::parse(alg) else {
                bail!("--alg must be sm2 or rsa, not {alg:?}");
            };
            let pki = pki_service(cli, store.as_ref(), None).await?;
            print!("{}", pki.hierarchy(alg).chain_pem());
        }
        PkiCmd::Issue {
            profile,
            csr,
            rsa_csr,
            out,
            san,
            cn,
            org,
            id_number,
            public_url,
        } => {
            let read = |p: &Option<PathBuf>| -> Result<Option<String>> {
                p.as_ref()
                    .map(|f| {
                        std::fs::read_to_string(f)
                            .with_context(|| format!("cannot read {}", f.display()))
                    })
                    .transpose()
            };
            let input = crate::api::pki::IssueInput {
                profile: profile.clone(),
                csr_pem: read(csr)?,
                rsa_csr_pem: read(rsa_csr)?,
                sans: san.clone(),
                common_name: cn.clone(),
                organization: org.clone(),
                id_number: id_number.clone(),
                ..Default::default()
            };
            let pki = pki_service(cli, store.as_ref(), public_url.as_deref()).await?;
            let state_limits = contract_limits_of(store.as_ref()).await?;
            let issued = pki
                .issue(store.as_ref(), &actor(), &input, &state_limits)
                .await
                .map_err(api_err)?;
            std::fs::create_dir_all(out)
                .with_context(|| format!("cannot create {}", out.display()))?;
            for c in &issued.certificates {
                let stem = match c.profile.as_str() {
                    "server-enc" => "enc-",
                    "server-rsa" => "rsa-",
                    _ => "",
                };
                std::fs::write(out.join(format!("{stem}cert.pem")), &c.certificate_pem)?;
                if let Some(k) = &c.encrypted_private_key_pem {
                    let path = out.join(format!("{stem}key.pem"));
                    std::fs::write(&path, k)?;
                    #[cfg(unix)]
                    {
                        use std::os::unix::fs::PermissionsExt;
                        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
                    }
                }
            }
            match fmt {
                Format::Json => print_json(&issued)?,
                Format::Table => {
                    print_table(
                        &[
                            "序列号 serial",
                            "类型 profile",
                            "主题 subject",
                            "到期 not after",
                        ],
                        &issued
                            .certificates
                            .iter()
                            .map(|c| {
                                vec![
                                    c.serial.clone(),
                                    c.profile.clone(),
                                    c.subject.clone(),
                                    crate::shanghai_time(c.not_after),
                                ]
                            })
                            .collect::<Vec<_>>(),
                    );
                    println!("已写入 / written to {}", out.display());
                    if let Some(p) = &issued.key_password {
                        eprintln!("私钥口令（仅显示一次）/ key password (shown once): {p}");
                    }
                }
            }
        }
        PkiCmd::Revoke { serial, reason } => {
            let pki = pki_service(cli, store.as_ref(), None).await?;
            let r = pki
                .revoke(store.as_ref(), &actor(), serial, reason)
                .await
                .map_err(api_err)?;
            println!("已吊销 / revoked {} ({reason})", r.serial);
        }
        PkiCmd::List => {
            pki_service(cli, store.as_ref(), None).await?;
            let now = chrono::Utc::now();
            let list: Vec<_> = store
                .list_certificates()
                .await?
                .iter()
                .map(|r| crate::api::pki::CertificateInfo::from_record(r, now))
                .collect();
            match fmt {
                Format::Json => print_json(&list)?,
                Format::Table => print_table(
                    &[
                        "序列号 serial",
                        "类型 profile",
                        "算法 alg",
                        "状态 status",
                        "主题 subject",
                        "到期 not after",
                    ],
                    &list
                        .iter()
                        .map(|c| {
                            vec![
                                c.serial.clone(),
                                c.profile.clone(),
                                c.alg.clone(),
                                c.status.clone(),
                                c.subject.clone(),
                                crate::shanghai_time(c.not_after),
                            ]
                        })
                        .collect::<Vec<_>>(),
                ),
            }
        }
    }
    Ok(())
}

/// The contract's certificate quantities, read from the store's current contract.
async fn contract_limits_of(store: &dyn Store) -> Result<Vec<(String, i64)>> {
    let Some((_, contract)) = ops::current_contract(store, None).await? else {
        return Ok(Vec::new());
    };
    Ok(crate::api::pki::limits_from_contract(&contract))
}

async fn tsa_cmd(cli: &Cli, cmd: &TsaCmd, fmt: Format) -> Result<ExitCode> {
    let store = open_store(cli).await?;
    let pki = pki_service(cli, store.as_ref(), None).await?;
    match cmd {
        TsaCmd::Stamp { file, sha256, out } => {
            let data =
                std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
            let (oid, digest) = if *sha256 {
                (
                    govcloud_pki::OID_SHA256,
                    govcloud_pki::SigAlg::RsaSha256.digest(&data),
                )
            } else {
                (
                    govcloud_pki::OID_SM3,
                    govcloud_pki::SigAlg::Sm2Sm3.digest(&data),
                )
            };
            let mut nonce = [0u8; 8];
            getrandom::fill(&mut nonce).map_err(|_| anyhow!("random source failed"))?;
            nonce[0] &= 0x7f;
            let query = govcloud_pki::tsp::request_der(&oid, &digest, Some(&nonce), true)?;
            let reply = pki
                .timestamp(store.as_ref(), &actor(), &query)
                .await
                .map_err(api_err)?;
            let out = out.clone().unwrap_or_else(|| {
                let mut p = file.clone().into_os_string();
                p.push(".tsr");
                PathBuf::from(p)
            });
            std::fs::write(&out, &reply)?;
            let v = govcloud_pki::tsp::verify_token(&reply, &data)?;
            let time = crate::shanghai_time(chrono::DateTime::<chrono::Utc>::from(v.gen_time));
            match fmt {
                Format::Json => print_json(
                    &serde_json::json!({"file": file, "reply": out, "time": chrono::DateTime::<chrono::Utc>::from(v.gen_time), "serial": v.serial.to_string()}),
                )?,
                Format::Table => println!(
                    "已加盖时间戳 / timestamped: {} at {time} (serial {}), reply {}",
                    file.display(),
                    v.serial,
                    out.display()
                ),
            }
            Ok(ExitCode::SUCCESS)
        }
        TsaCmd::Verify { file, token } => {
            let data =
                std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
            let tok =
                std::fs::read(token).with_context(|| format!("cannot read {}", token.display()))?;
            match govcloud_pki::tsp::verify_token(&tok, &data) {
                Ok(v) if pki.is_own_tsa(&v.tsa_cert_der) => {
                    let time = chrono::DateTime::<chrono::Utc>::from(v.gen_time);
                    match fmt {
                        Format::Json => print_json(
                            &serde_json::json!({"valid": true, "time": time, "serial": v.serial.to_string()}),
                        )?,
                        Format::Table => println!(
                            "有效 / valid: {} at {} (serial {})",
                            file.display(),
                            crate::shanghai_time(time),
                            v.serial
                        ),
                    }
                    Ok(ExitCode::SUCCESS)
                }
                Ok(_) => {
                    eprintln!("无效：签发者不是本平台的时间戳服务 / invalid: not signed by this platform's TSA");
                    Ok(ExitCode::FAILURE)
                }
                Err(e) => {
                    eprintln!("无效 / invalid: {e}");
                    Ok(ExitCode::FAILURE)
                }
            }
        }
    }
}
