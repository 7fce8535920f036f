//! Persistence for govcloud: one [`Store`] trait with two real implementations, SQLite
//! (the embedded default, a file in the data directory in WAL mode) and PostgreSQL
//! (production). Both run their own migrations and pass the same conformance suite
//! (`tests/conformance.rs`).
//!
//! Every method that changes state takes the [`AuditEvent`] that describes the change and
//! appends it to the audit chain in the same transaction: a change is never stored without
//! its audit entry, and an audit entry never without its change.

use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use govcloud_domain::audit::{AuditEntry, AuditEvent, ChainBreak, ChainVerifier};
use govcloud_domain::catalog::Contract;
use govcloud_domain::role::{Role, UserName};

mod postgres;
mod sql;
mod sql_crypto;
mod sql_gateway;
mod sql_ops;
mod sql_payments;
mod sql_pki;
mod sql_resources;
mod sql_statements;
mod sqlite;

pub use postgres::PgStore;
pub use sqlite::SqliteStore;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),
    /// A resource change would draw more from a catalog line item than the contract has
    /// (quantities as exact decimal text in the item's unit).
    #[error("item {item}: contracted {contracted}, allocated {allocated}, requested {requested}")]
    OverContract {
        item: String,
        contracted: String,
        allocated: String,
        requested: String,
    },
    /// Placing vCPUs on a physical host would exceed 4 vCPUs per physical core.
    #[error("host {host}: {cores} physical cores allow {limit} vCPUs, {placed} placed, {requested} requested")]
    OverCommitted {
        host: String,
        cores: i64,
        limit: i64,
        placed: i64,
        requested: i64,
    },
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub id: i64,
    pub name: UserName,
    pub display_name: String,
    pub role: Role,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
}

/// A user with the Argon2id hash of their password; its `Debug` hides the hash.
#[derive(Clone)]
pub struct UserWithSecret {
    pub user: User,
    pub password_hash: String,
}

impl fmt::Debug for UserWithSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserWithSecret")
            .field("user", &self.user)
            .field("password_hash", &"[redacted]")
            .finish()
    }
}

#[derive(Clone)]
pub struct NewUser {
    pub name: UserName,
    pub display_name: String,
    pub role: Role,
    pub password_hash: String,
}

impl fmt::Debug for NewUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewUser")
            .field("name", &self.name)
            .field("role", &self.role)
            .field("password_hash", &"[redacted]")
            .finish()
    }
}

#[derive(Clone)]
pub enum UserChange {
    Role(Role),
    /// Disabling also ends the user's sessions and revokes nothing else: tokens stop working
    /// because a disabled user never authenticates.
    Disabled(bool),
    /// A new Argon2id hash; ends the user's sessions.
    PasswordHash(String),
    DisplayName(String),
}

impl fmt::Debug for UserChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UserChange::Role(r) => write!(f, "Role({r})"),
            UserChange::Disabled(d) => write!(f, "Disabled({d})"),
            UserChange::PasswordHash(_) => f.write_str("PasswordHash([redacted])"),
            UserChange::DisplayName(n) => write!(f, "DisplayName({n:?})"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiTokenInfo {
    pub id: i64,
    pub user_id: i64,
    pub label: String,
    /// The first characters of the token, to recognise it in a list.
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredContract {
    pub id: String,
    pub name: String,
    /// The catalog file as loaded: the source of truth for everything derived from it.
    pub source: String,
    /// SM3 of the source, hex.
    pub fingerprint: String,
    pub loaded_at: DateTime<Utc>,
    pub loaded_by: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoadOutcome {
    Created,
    Replaced,
    Unchanged,
}

/// A business system's API credential for the crypto service (应用).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct App {
    pub id: String,
    pub name: String,
    pub system_code: Option<String>,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub disabled: bool,
}

pub struct NewApp {
    pub id: String,
    pub name: String,
    pub system_code: Option<String>,
    pub token_hash: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyState {
    Active,
    Disabled,
    Destroyed,
}

impl KeyState {
    pub fn code(self) -> &'static str {
        match self {
            KeyState::Active => "active",
            KeyState::Disabled => "disabled",
            KeyState::Destroyed => "destroyed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [KeyState::Active, KeyState::Disabled, KeyState::Destroyed]
            .into_iter()
            .find(|k| k.code() == s)
    }
}

/// A key of an app; its versions hold the wrapped material.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CryptoKey {
    pub id: String,
    pub app_id: String,
    /// `sm2-sign`, `sm2-enc` or `sm4`.
    pub kind: String,
    pub label: String,
    pub state: KeyState,
    pub current_version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One version of a key: the provider's wrapped blob (base64) and, for SM2, the public key
/// (SEC1 hex). A destroyed version keeps its public key and loses its blob.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyVersion {
    pub version: i32,
    pub wrapped: Option<Vec<u8>>,
    pub public_key: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl fmt::Debug for KeyVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyVersion")
            .field("version", &self.version)
            .field(
                "wrapped",
                &self
                    .wrapped
                    .as_ref()
                    .map(|w| format!("[{} bytes, wrapped]", w.len())),
            )
            .field("public_key", &self.public_key)
            .finish()
    }
}

pub struct NewKeyVersion {
    pub wrapped: Vec<u8>,
    pub public_key: Option<String>,
}

/// Operations counted per app, key (empty for keyless operations), month and operation.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UsageKey {
    pub app_id: String,
    pub key_id: String,
    /// `YYYY-MM`, Asia/Shanghai.
    pub month: String,
    pub operation: String,
}

/// One of the platform's own keys (CA, OCSP responder, TSA), wrapped by the provider.
pub struct PkiKey {
    pub id: String,
    /// `sm2-sign` or `rsa-2048`.
    pub kind: String,
    pub wrapped: Vec<u8>,
    pub created_at: DateTime<Utc>,
}

impl fmt::Debug for PkiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PkiKey({} {}, [wrapped])", self.id, self.kind)
    }
}

/// A certificate govcloud issued (including its own CA, OCSP and TSA certificates).
#[derive(Clone, Debug)]
pub struct CertRecord {
    /// Lowercase hex, no leading zeros.
    pub serial: String,
    /// `sm2` or `rsa`: the hierarchy that issued it.
    pub alg: String,
    pub profile: String,
    pub subject: String,
    /// Space-separated `dns:…`/`ip:…`.
    pub sans: String,
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
    pub der: Vec<u8>,
    /// The platform key behind a CA, OCSP or TSA certificate.
    pub key_id: Option<String>,
    /// Certificates issued together (a server's signing, encryption and RSA certificates).
    pub request_id: String,
    /// The serial this certificate renews.
    pub renews: Option<String>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// RFC 5280 CRLReason code.
    pub reason: Option<i32>,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
}

impl CertRecord {
    pub fn revoked(&self) -> bool {
        self.revoked_at.is_some()
    }
}

#[derive(Clone, Debug)]
pub struct StoredCrl {
    pub alg: String,
    pub number: i64,
    pub this_update: DateTime<Utc>,
    pub next_update: DateTime<Utc>,
    pub der: Vec<u8>,
}

/// An issued RFC 3161 timestamp.
#[derive(Clone, Debug)]
pub struct TsaRecord {
    pub serial: i64,
    pub alg: String,
    pub app_id: String,
    pub gen_time: DateTime<Utc>,
    pub hash_alg: String,
    pub imprint: String,
}

/// A USB key 智能密码钥匙 or 国密 browser licence handed out under the contract.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InventoryItem {
    pub id: String,
    /// `usbkey` or `browser`.
    pub kind: String,
    pub label: String,
    pub assigned_to: Option<String>,
    pub assigned_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// One allow rule of an app's gateway policy (密码前置 access control): `operation` (an
/// operation code, or `*`) on `key_id` (a key of the app, or `*`). An app with no rules is
/// unrestricted; its first rule restricts it to its rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppRule {
    pub app_id: String,
    pub operation: String,
    pub key_id: String,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
}

/// A token-bucket rate limit of an app at the gateway, for one operation or (`*`) for all
/// of the app's requests together.
#[derive(Clone, Debug, PartialEq)]
pub struct AppLimit {
    pub app_id: String,
    pub operation: String,
    /// Sustained requests per second (may be fractional).
    pub rps: f64,
    /// Bucket size: requests allowed at once after a quiet spell.
    pub burst: i64,
    pub updated_at: DateTime<Utc>,
    pub updated_by: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeState {
    /// Receives requests.
    Active,
    /// Receives no new requests; requests in flight finish.
    Draining,
}

impl NodeState {
    pub fn code(self) -> &'static str {
        match self {
            NodeState::Active => "active",
            NodeState::Draining => "draining",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [NodeState::Active, NodeState::Draining]
            .into_iter()
            .find(|k| k.code() == s)
    }
}

/// A crypto service node behind the gateways, shared by every gateway replica.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GatewayNode {
    /// Base URL, e.g. `http://10.0.0.5:8080` (no trailing slash).
    pub url: String,
    pub state: NodeState,
    pub added_at: DateTime<Utc>,
    pub added_by: String,
    pub changed_at: DateTime<Utc>,
}

/// A running gateway replica's live figures, written every few seconds for the console.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GatewayReplica {
    pub id: String,
    pub listen: String,
    pub started_at: DateTime<Utc>,
    pub seen_at: DateTime<Utc>,
    /// JSON document of the replica's figures (per app, per node).
    pub stats: String,
}

/// Calls through the gateway per app, month, operation and outcome (`ok`, `error`,
/// `rejected`): the per-app monthly call counts for metering.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallKey {
    pub app_id: String,
    /// `YYYY-MM`, Asia/Shanghai.
    pub month: String,
    pub operation: String,
    pub outcome: String,
}

/// A cloud resource 资源 drawn from one catalog line item for one business system.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resource {
    pub id: String,
    pub contract_id: String,
    /// The catalog line item it draws from (`catalog_items.id`).
    pub item_id: String,
    pub system_code: String,
    pub name: String,
    /// Current quantity in the item's unit, exact decimal text (e.g. `"8"`, `"9.6"`); `"0"`
    /// once released.
    pub quantity: String,
    /// JSON object: arch, clock_ghz, vcpus, memory_gb, tier, iops, … as the kind needs.
    pub spec: String,
    /// The physical host a cloud host is placed on (host inventory), if any.
    pub host_id: Option<String>,
    /// vCPUs this resource places on `host_id` (0 for anything but cloud hosts).
    pub vcpus: i64,
    /// The engine's handle: libvirt domain or volume name, or the provider console's id.
    pub engine_ref: Option<String>,
    pub released: bool,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
}

/// One step of a resource's history. A resource's events, in `seq` order, give its usage
/// intervals: quantity `q_i` from `effective_at_i` to `effective_at_{i+1}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceEvent {
    pub resource_id: String,
    /// 1, 2, … per resource.
    pub seq: i64,
    /// `create`, `resize` or `release`.
    pub kind: String,
    /// Quantity from `effective_at` on (`"0"` for release), exact decimal text.
    pub quantity: String,
    /// When the change took effect (may be earlier than `recorded_at` when an operator
    /// records an existing resource; that is audited).
    pub effective_at: DateTime<Utc>,
    pub recorded_at: DateTime<Utc>,
    pub actor: String,
    pub reason: String,
    /// The approved change request 变更 it executes, if any.
    pub change_id: Option<String>,
}

/// A line item's contracted quantity against what active resources draw from it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ItemUsage {
    pub item_id: String,
    pub contracted: String,
    pub allocated: String,
}

/// A physical host of the provider's cloud (host inventory), for placement rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PhysicalHost {
    pub id: String,
    pub name: String,
    /// `x86`, `arm` or `c86`.
    pub arch: String,
    /// Base clock in GHz, exact decimal text (e.g. `"2.4"`).
    pub clock_ghz: String,
    pub cores: i64,
    pub created_at: DateTime<Utc>,
}

/// A per-occurrence service performed (漏洞扫描, 安全加固 …): dated, with the hosts it covered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Occurrence {
    pub id: String,
    pub contract_id: String,
    pub item_id: String,
    pub system_code: String,
    pub performed_at: DateTime<Utc>,
    pub hosts: i64,
    pub note: String,
    pub recorded_at: DateTime<Utc>,
    pub recorded_by: String,
}

/// A requested change 变更 (new resource, resize or release), approved by the purchaser
/// before it is executed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChangeRequest {
    pub id: String,
    /// `create`, `resize` or `release`.
    pub kind: String,
    /// Set for resize/release; for create, set when executed.
    pub resource_id: Option<String>,
    pub contract_id: String,
    pub item_id: String,
    pub system_code: String,
    /// Requested quantity, exact decimal text (`"0"` for release).
    pub quantity: String,
    /// JSON spec for create.
    pub spec: String,
    pub effective_at: Option<DateTime<Utc>>,
    pub reason: String,
    /// `pending`, `approved`, `rejected` or `executed`.
    pub state: String,
    pub requested_by: String,
    pub requested_at: DateTime<Utc>,
    pub decided_by: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
    pub decision_note: Option<String>,
    pub executed_at: Option<DateTime<Utc>>,
}

/// A unit price 单价 of a catalog line item from an instant on, in the item's billing unit
/// (元/月, 元/次 or 元/年), exact decimal text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PriceRecord {
    pub contract_id: String,
    pub item_id: String,
    pub effective_from: DateTime<Utc>,
    pub unit_price: String,
    /// `manual` (set by an operator) or `demo` (the demo price list).
    pub source: String,
    pub note: String,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
}

/// One step of one resource, as statement generation reads it (see `usage_steps`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsageStep {
    pub system_code: String,
    pub item_id: String,
    pub resource_id: String,
    pub quantity: rust_decimal::Decimal,
    pub effective_at: DateTime<Utc>,
}

/// One issued version of a monthly service statement 月度服务明细: the canonical JSON as
/// signed and timestamped. Immutable once stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatementRecord {
    pub id: String,
    pub contract_id: String,
    /// `YYYY-MM`, Beijing time.
    pub month: String,
    pub package: i64,
    pub system_code: String,
    pub version: i64,
    /// The canonical JSON (`govcloud_report::json`).
    pub data: Vec<u8>,
    /// SM3 of `data`, hex.
    pub data_sm3: String,
    /// 合计, 元 with two decimals.
    pub total: String,
    /// SM2 signature (DER, GM/T 0009) over `data` with SM3 and the default signer ID.
    pub signature: Vec<u8>,
    /// The signer's certificate, DER.
    pub signer_cert: Vec<u8>,
    /// RFC 3161 TimeStampResp over SM3(`data`).
    pub timestamp_token: Vec<u8>,
    pub issued_at: DateTime<Utc>,
    pub issued_by: String,
}

/// A recorded acceptance 验收 of a package: `stage` (阶段性验收) or `final` (最终验收); one
/// of each per package.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AcceptanceRecord {
    pub id: String,
    pub contract_id: String,
    pub package_no: i64,
    /// `stage` or `final`.
    pub kind: String,
    pub accepted_on: NaiveDate,
    pub note: String,
    pub recorded_by: String,
    pub created_at: DateTime<Utc>,
}

/// An evidence document 验收材料 of an acceptance, without its bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EvidenceDocument {
    pub id: String,
    pub acceptance_id: String,
    /// The file name as uploaded (no directories).
    pub name: String,
    pub content_type: String,
    /// SM3 of the bytes, lowercase hex, computed by the store when it keeps them.
    pub sm3: String,
    pub size: i64,
    pub uploaded_by: String,
    pub created_at: DateTime<Utc>,
}

/// A document to keep: the store computes its SM3 and size.
#[derive(Clone)]
pub struct NewEvidence {
    pub id: String,
    pub name: String,
    pub content_type: String,
    pub content: Vec<u8>,
    pub uploaded_by: String,
    pub created_at: DateTime<Utc>,
}

impl fmt::Debug for NewEvidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewEvidence")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("content_type", &self.content_type)
            .field("content", &format!("[{} bytes]", self.content.len()))
            .finish()
    }
}

/// A payment 付款 recorded against one payment milestone of a package; one per milestone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaymentRecord {
    pub id: String,
    pub contract_id: String,
    pub package_no: i64,
    pub milestone_seq: i64,
    pub paid_on: NaiveDate,
    /// 元 with two decimals, e.g. `"216660.50"`.
    pub amount: String,
    /// Voucher or bank reference 凭证号 (may be empty).
    pub reference: String,
    pub recorded_by: String,
    pub created_at: DateTime<Utc>,
}

// --- operations (运维) ---

/// A monitor 监控项: a probe the server's scheduler runs every `interval_seconds`, and the
/// state the scheduler keeps for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MonitorRecord {
    pub id: String,
    /// Unique among monitors.
    pub name: String,
    /// `http`, `tcp` or `tls`.
    pub kind: String,
    /// URL (http), `host:port` (tcp, tls).
    pub target: String,
    pub package_no: i64,
    /// The business system it watches (a catalog system code).
    pub system: String,
    /// Severity of the incidents it opens: `outage` or `fault`.
    pub severity: String,
    pub interval_seconds: i64,
    pub timeout_seconds: i64,
    /// Extra attempts before a check counts as failed.
    pub retries: i64,
    /// Kind-specific settings as JSON text (expected status, body match, latency limit,
    /// minimum days of certificate validity); the server reads and writes it.
    pub settings: String,
    pub enabled: bool,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    /// `unknown` (never checked), `up` or `down`, kept by the scheduler.
    pub state: String,
    pub state_since: Option<DateTime<Utc>>,
    pub last_check_at: Option<DateTime<Utc>>,
    pub last_latency_ms: Option<i64>,
    /// What the last check saw (status line, error).
    pub last_detail: String,
}

/// One check of a monitor and the monitor's state after it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckRecord {
    pub monitor_id: String,
    pub at: DateTime<Utc>,
    pub ok: bool,
    pub latency_ms: Option<i64>,
    pub detail: String,
    /// `up` or `down`: the monitor's state after this check.
    pub state: String,
}

/// A span during which a monitor was down; `ended_at` is `None` while it still is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DownRecord {
    /// Assigned by the store.
    pub id: i64,
    pub monitor_id: String,
    pub started_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    /// Inside a published notice's window (计划内).
    pub planned: bool,
    pub notice_id: Option<String>,
    /// The incident it opened (none when planned).
    pub incident_id: Option<String>,
}

/// An incident 故障 with its timeline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IncidentRecord {
    /// `INC-` and a number, assigned by the store in opening order (`INC-000001`).
    pub id: String,
    pub contract_id: String,
    pub package_no: i64,
    pub system: String,
    /// `outage` or `fault`.
    pub severity: String,
    pub title: String,
    /// `monitor`, `hotline` (the provider's 7×24 hotline) or `purchaser`.
    pub source: String,
    pub monitor_id: Option<String>,
    /// When it happened (as entered; may be earlier than `recorded_at`).
    pub opened_at: DateTime<Utc>,
    pub recorded_at: DateTime<Utc>,
    pub opened_by: String,
    /// The outage report's fields 宕机报告, given when the incident is closed.
    pub cause: String,
    pub impact: String,
    pub actions: String,
    pub closed_at: Option<DateTime<Utc>>,
    /// In the order recorded.
    pub events: Vec<IncidentEventRecord>,
}

/// A timeline event of an incident.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IncidentEventRecord {
    /// `responded`, `located`, `onsite_requested`, `onsite_arrived`, `restored`, `closed`.
    pub kind: String,
    /// When it happened, as entered.
    pub at: DateTime<Utc>,
    /// When it was recorded.
    pub recorded_at: DateTime<Utc>,
    pub actor: String,
    pub note: String,
}

/// What closing an incident records besides the event.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IncidentClosing {
    pub cause: String,
    pub impact: String,
    pub actions: String,
}

/// Which incidents to list.
#[derive(Clone, Debug, Default)]
pub struct IncidentFilter {
    pub package_no: Option<i64>,
    /// Opened at or after.
    pub from: Option<DateTime<Utc>>,
    /// Opened before.
    pub to: Option<DateTime<Utc>>,
    /// Only those not closed.
    pub open_only: bool,
}

/// A published maintenance notice 维护通知.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoticeRecord {
    pub id: String,
    pub contract_id: String,
    pub title: String,
    /// Catalog system codes of the affected systems.
    pub systems: Vec<String>,
    pub start_at: DateTime<Utc>,
    pub end_at: DateTime<Utc>,
    pub impact: String,
    pub rollback: String,
    /// Emergency change 紧急变更 (published less than 24 h ahead).
    pub emergency: bool,
    pub reason: String,
    /// Why work in a key period is necessary (empty when none is touched).
    pub override_reason: String,
    /// Names of the key periods the window touches.
    pub key_periods: Vec<String>,
    pub published_at: DateTime<Utc>,
    pub published_by: String,
    pub cancelled_at: Option<DateTime<Utc>>,
}

/// A key period 重点时期 (whole days, Beijing time, both ends included).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyPeriodRecord {
    /// Assigned by the store.
    pub id: i64,
    pub name: String,
    pub first_day: NaiveDate,
    pub last_day: NaiveDate,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

/// Where notifications go: `email` (target: comma-separated addresses) or `webhook`
/// (target: URL; its HMAC-SM3 secret kept wrapped).
#[derive(Clone, PartialEq, Eq)]
pub struct ChannelRecord {
    pub id: String,
    pub kind: String,
    pub target: String,
    /// The webhook secret wrapped under the master key (never the plain secret).
    pub secret_wrapped: Option<Vec<u8>>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

impl fmt::Debug for ChannelRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChannelRecord")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("target", &self.target)
            .field(
                "secret_wrapped",
                &self.secret_wrapped.as_ref().map(|_| "[wrapped]"),
            )
            .finish()
    }
}

/// One notification to one channel, with its attempts (投递记录).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryRecord {
    /// Assigned by the store.
    pub id: i64,
    pub channel_id: String,
    /// What it is about, unique per channel: the same event is never sent twice
    /// (e.g. `incident:INC-000001:opened`, `incident:INC-000001:respond:breached`).
    pub event_key: String,
    pub subject: String,
    /// The JSON document sent (webhook body; e-mail text is made from it).
    pub body: String,
    /// `pending`, `sent` or `failed` (gave up).
    pub status: String,
    pub attempts: i64,
    pub last_error: String,
    pub next_attempt_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;

    // --- the contract ---
    /// Store a validated contract with its source text; loading the same source again
    /// changes nothing (and writes no audit entry).
    async fn load_contract(
        &self,
        contract: &Contract,
        source: &str,
        fingerprint: &str,
        event: AuditEvent,
    ) -> Result<LoadOutcome>;
    /// The most recently loaded contract.
    async fn current_contract(&self) -> Result<Option<StoredContract>>;

    // --- users ---
    async fn count_users(&self) -> Result<i64>;
    async fn create_user(&self, user: &NewUser, event: AuditEvent) -> Result<User>;
    async fn user_with_secret(&self, name: &UserName) -> Result<Option<UserWithSecret>>;
    async fn list_users(&self) -> Result<Vec<User>>;
    /// Apply all changes in one transaction (all or nothing), with one audit entry.
    async fn update_user(
        &self,
        name: &UserName,
        changes: &[UserChange],
        event: AuditEvent,
    ) -> Result<User>;

    // --- console sessions (only hashes of tokens are stored) ---
    async fn create_session(
        &self,
        user_id: i64,
        token_hash: &str,
        expires_at: DateTime<Utc>,
        event: AuditEvent,
    ) -> Result<()>;
    /// The enabled user behind an unexpired session.
    async fn session_user(&self, token_hash: &str, now: DateTime<Utc>) -> Result<Option<User>>;
    /// Returns false when there was no such session (then nothing is audited).
    async fn delete_session(&self, token_hash: &str, event: AuditEvent) -> Result<bool>;

    // --- API tokens for programs ---
    async fn create_api_token(
        &self,
        user_id: i64,
        label: &str,
        prefix: &str,
        token_hash: &str,
        event: AuditEvent,
    ) -> Result<ApiTokenInfo>;
    /// The enabled user behind an unrevoked token.
    async fn token_user(&self, token_hash: &str) -> Result<Option<User>>;
    async fn list_api_tokens(&self, user_id: i64) -> Result<Vec<ApiTokenInfo>>;
    async fn revoke_api_token(
        &self,
        user_id: i64,
        token_id: i64,
        event: AuditEvent,
    ) -> Result<ApiTokenInfo>;

    // --- the audit chain ---
    /// Append an event that comes with no other change (a failed login, a verification).
    async fn append_audit(&self, event: AuditEvent) -> Result<AuditEntry>;
    /// Entries with `seq > after`, in stored order, at most `limit`.
    async fn audit_page(&self, after: i64, limit: i64) -> Result<Vec<AuditEntry>>;
    /// Entries newest first, for reading.
    async fn audit_recent(&self, limit: i64) -> Result<Vec<AuditEntry>>;
    /// The chain's recorded tip.
    async fn audit_head(&self) -> Result<Option<(i64, [u8; 32])>>;

    // --- the crypto service ---
    async fn create_app(&self, app: &NewApp, event: AuditEvent) -> Result<App>;
    async fn list_apps(&self) -> Result<Vec<App>>;
    /// The enabled app behind a credential.
    async fn app_by_token(&self, token_hash: &str) -> Result<Option<App>>;
    async fn app(&self, id: &str) -> Result<Option<App>>;
    async fn set_app_disabled(&self, id: &str, disabled: bool, event: AuditEvent) -> Result<App>;
    /// A new key with its first version.
    async fn create_key(
        &self,
        app_id: &str,
        id: &str,
        kind: &str,
        label: &str,
        first: &NewKeyVersion,
        event: AuditEvent,
    ) -> Result<CryptoKey>;
    /// A key of the given app (keys are usable only by their app) with its versions, newest first.
    async fn key(&self, app_id: &str, key_id: &str)
        -> Result<Option<(CryptoKey, Vec<KeyVersion>)>>;
    /// Keys of one app, or of every app with `None`.
    async fn list_keys(&self, app_id: Option<&str>) -> Result<Vec<CryptoKey>>;
    /// Add a version; new operations use it, old versions keep working.
    async fn rotate_key(
        &self,
        app_id: &str,
        key_id: &str,
        next: &NewKeyVersion,
        event: AuditEvent,
    ) -> Result<CryptoKey>;
    /// Disable or re-enable; `Destroyed` also erases every wrapped blob and cannot be undone.
    async fn set_key_state(
        &self,
        app_id: &str,
        key_id: &str,
        state: KeyState,
        event: AuditEvent,
    ) -> Result<CryptoKey>;
    /// Add counted operations (metering).
    async fn add_usage(&self, counts: &[(UsageKey, i64)]) -> Result<()>;
    /// Usage counters, optionally for one app.
    async fn usage(&self, app_id: Option<&str>) -> Result<Vec<(UsageKey, i64)>>;

    // --- cloud resources (资源) ---
    /// Create a resource with its `create` event, in one write transaction that first
    /// checks the line item: the quantities of its active resources plus this one must not
    /// exceed the contracted quantity (else `OverContract`), and, with `host_id`, the vCPUs
    /// placed on that host plus `vcpus` must not exceed 4 × its cores (else
    /// `OverCommitted`). `NotFound` for an unknown item (in `contract_id`) or host.
    async fn create_resource(
        &self,
        resource: &Resource,
        event: &ResourceEvent,
        audit: AuditEvent,
    ) -> Result<Resource>;
    /// Resize (`event.kind == "resize"`, checked like creation, counting the resource's new
    /// quantity instead of its old one; `vcpus` replaces the placed vCPUs when given) or
    /// release (`"release"`, quantity 0, frees its vCPUs) a resource and append the event
    /// (its `seq` is assigned here). `NotFound` for an unknown resource, `Conflict` for a
    /// released one or an `effective_at` before its last event.
    async fn change_resource(
        &self,
        id: &str,
        event: &ResourceEvent,
        vcpus: Option<i64>,
        audit: AuditEvent,
    ) -> Result<Resource>;
    /// A resource with its events in `seq` order.
    async fn resource(&self, id: &str) -> Result<Option<(Resource, Vec<ResourceEvent>)>>;
    /// Resources (released ones too), optionally of one system, ordered by creation.
    async fn list_resources(&self, system_code: Option<&str>) -> Result<Vec<Resource>>;
    /// Every event of the resources of a system (or all), ordered by resource, seq.
    async fn resource_events(&self, system_code: Option<&str>) -> Result<Vec<ResourceEvent>>;
    /// Contracted against allocated for one item of a contract.
    async fn item_usage(&self, contract_id: &str, item_id: &str) -> Result<Option<ItemUsage>>;
    /// The same for every item of a contract, ordered by item id.
    async fn items_usage(&self, contract_id: &str) -> Result<Vec<ItemUsage>>;
    /// Record the provisioning engine's handle of a resource (not audited: the resource's
    /// creation is).
    async fn set_resource_engine_ref(&self, id: &str, engine_ref: Option<&str>) -> Result<()>;
    async fn add_physical_host(&self, host: &PhysicalHost, audit: AuditEvent) -> Result<()>;
    /// Physical hosts with the vCPUs placed on each (active resources), ordered by name.
    async fn physical_hosts(&self) -> Result<Vec<(PhysicalHost, i64)>>;
    async fn record_occurrence(&self, o: &Occurrence, audit: AuditEvent) -> Result<()>;
    /// Occurrences, optionally of one system, ordered by `performed_at`.
    async fn occurrences(&self, system_code: Option<&str>) -> Result<Vec<Occurrence>>;
    async fn create_change(&self, c: &ChangeRequest, audit: AuditEvent) -> Result<()>;
    /// Approve or reject a pending change (`state` = `approved`/`rejected`); `Conflict` when
    /// it is not pending.
    async fn decide_change(
        &self,
        id: &str,
        state: &str,
        by: &str,
        at: DateTime<Utc>,
        note: Option<&str>,
        audit: AuditEvent,
    ) -> Result<ChangeRequest>;
    /// Mark an approved change executed, with the resource it created or changed;
    /// `Conflict` when it is not approved. (The resource change itself is made with
    /// `create_resource`/`change_resource` carrying `change_id`.)
    async fn mark_change_executed(
        &self,
        id: &str,
        resource_id: &str,
        at: DateTime<Utc>,
    ) -> Result<ChangeRequest>;
    async fn change(&self, id: &str) -> Result<Option<ChangeRequest>>;
    /// Changes, optionally in one state, newest first.
    async fn list_changes(&self, state: Option<&str>) -> Result<Vec<ChangeRequest>>;

    // --- prices and monthly statements ---
    /// Set an item's price from an instant (replacing a price set for the same instant);
    /// returns the replaced price, if any. The same price again changes nothing and writes
    /// no audit entry. `NotFound` for an item not in the contract.
    async fn set_price(&self, p: &PriceRecord, audit: AuditEvent) -> Result<Option<String>>;
    /// Every price of a contract, ordered by item then `effective_from`.
    async fn prices(&self, contract_id: &str) -> Result<Vec<PriceRecord>>;
    /// Stream the steps (events) of the contract's resources that matter for `[from, to)`:
    /// every step before `to` of each resource not released by `from`, ordered by system,
    /// item, resource and sequence. `f` sees one step at a time; its error stops the stream.
    async fn usage_steps(
        &self,
        contract_id: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        f: &mut (dyn FnMut(UsageStep) -> Result<()> + Send),
    ) -> Result<()>;
    /// Host-times performed in `[from, to)` per (system, item).
    async fn occurrence_totals(
        &self,
        contract_id: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<(String, String, i64)>>;
    /// Store an issued statement version; `Conflict` when that version (or a later one) of
    /// the month, package and system exists.
    async fn insert_statement(&self, s: &StatementRecord, audit: AuditEvent) -> Result<()>;
    /// Issued statements, ordered by month, package, system and version.
    async fn statements(
        &self,
        contract_id: &str,
        month: Option<&str>,
        package: Option<i64>,
    ) -> Result<Vec<StatementRecord>>;
    async fn statement(&self, id: &str) -> Result<Option<StatementRecord>>;
    // --- payments and acceptance (付款与验收) ---
    /// Record an acceptance with its evidence documents, all in one transaction. `NotFound`
    /// for a package not in the contract; `Conflict` when the package already has an
    /// acceptance of this kind, for a kind other than `stage`/`final`, or a document over
    /// `MAX_EVIDENCE_BYTES`. Returns the documents as stored (with SM3 and size).
    async fn record_acceptance(
        &self,
        a: &AcceptanceRecord,
        documents: &[NewEvidence],
        audit: AuditEvent,
    ) -> Result<Vec<EvidenceDocument>>;
    /// Add an evidence document to an acceptance (`NotFound` for an unknown acceptance).
    async fn add_evidence(
        &self,
        acceptance_id: &str,
        document: &NewEvidence,
        audit: AuditEvent,
    ) -> Result<EvidenceDocument>;
    /// Acceptances of a contract, optionally of one package, by package and kind (stage first).
    async fn acceptances(
        &self,
        contract_id: &str,
        package_no: Option<i64>,
    ) -> Result<Vec<AcceptanceRecord>>;
    async fn acceptance(&self, id: &str) -> Result<Option<AcceptanceRecord>>;
    /// The documents (without bytes) of a contract's acceptances, optionally of one
    /// package, in upload order.
    async fn evidence_list(
        &self,
        contract_id: &str,
        package_no: Option<i64>,
    ) -> Result<Vec<EvidenceDocument>>;
    /// One document with its bytes.
    async fn evidence(&self, id: &str) -> Result<Option<(EvidenceDocument, Vec<u8>)>>;
    /// Record a payment. `NotFound` for a package not in the contract; `Conflict` when the
    /// milestone already has a payment, or for an amount that is not above zero with at most
    /// two decimals.
    async fn record_payment(&self, p: &PaymentRecord, audit: AuditEvent) -> Result<PaymentRecord>;
    /// Payments of a contract, optionally of one package, by package and milestone.
    async fn payments(
        &self,
        contract_id: &str,
        package_no: Option<i64>,
    ) -> Result<Vec<PaymentRecord>>;

    // --- operations (运维) ---
    /// Add a monitor (state `unknown`). `Conflict` for a name already used.
    async fn add_monitor(&self, m: &MonitorRecord, audit: AuditEvent) -> Result<MonitorRecord>;
    /// Every monitor, by name.
    async fn monitors(&self) -> Result<Vec<MonitorRecord>>;
    async fn monitor(&self, id: &str) -> Result<Option<MonitorRecord>>;
    /// Enable or disable a monitor; `None` for an unknown one. No audit entry when nothing
    /// changed.
    async fn set_monitor_enabled(
        &self,
        id: &str,
        enabled: bool,
        audit: AuditEvent,
    ) -> Result<Option<MonitorRecord>>;
    /// Store a check and the monitor's state after it (`state_since` moves only when the
    /// state changes). `NotFound` for an unknown monitor.
    async fn record_check(&self, c: &CheckRecord) -> Result<()>;
    /// A monitor's newest checks first.
    async fn monitor_checks(&self, monitor_id: &str, limit: i64) -> Result<Vec<CheckRecord>>;
    /// Open a down span (id assigned). `Conflict` when the monitor already has an open one.
    async fn open_down(&self, d: &DownRecord) -> Result<DownRecord>;
    /// Close the monitor's open down span at `at`; `None` when there was none.
    async fn close_down(&self, monitor_id: &str, at: DateTime<Utc>) -> Result<Option<DownRecord>>;
    /// Down spans that overlap `[from, to)` (open ones included), by start.
    async fn downs(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<DownRecord>>;
    /// Open an incident; the store assigns the id (`INC-000001`, …) and ignores `i.id` and
    /// `i.events`. `NotFound` for a package not in the contract.
    async fn open_incident(&self, i: &IncidentRecord, audit: AuditEvent) -> Result<IncidentRecord>;
    /// Add an event; with `kind = closed` also set `closed_at` (the event's `at`) and the
    /// closing fields, in the same transaction. `NotFound` for an unknown incident,
    /// `Conflict` when it is already closed.
    async fn add_incident_event(
        &self,
        incident_id: &str,
        e: &IncidentEventRecord,
        closing: Option<&IncidentClosing>,
        audit: AuditEvent,
    ) -> Result<IncidentRecord>;
    /// Incidents of a contract with their events, newest opened first.
    async fn incidents(&self, contract_id: &str, f: &IncidentFilter)
        -> Result<Vec<IncidentRecord>>;
    async fn incident(&self, id: &str) -> Result<Option<IncidentRecord>>;
    /// Publish a notice. `Conflict` for an id already used.
    async fn publish_notice(&self, n: &NoticeRecord, audit: AuditEvent) -> Result<NoticeRecord>;
    /// Notices of a contract whose window overlaps `[from, to)` (all when `None`),
    /// cancelled ones included, by start.
    async fn notices(
        &self,
        contract_id: &str,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> Result<Vec<NoticeRecord>>;
    async fn notice(&self, id: &str) -> Result<Option<NoticeRecord>>;
    /// Cancel a notice; `None` for an unknown one, `Conflict` when already cancelled.
    async fn cancel_notice(
        &self,
        id: &str,
        at: DateTime<Utc>,
        audit: AuditEvent,
    ) -> Result<Option<NoticeRecord>>;
    /// Add a key period (id assigned). `Conflict` for the same name and first day, or a
    /// last day before the first.
    async fn add_key_period(
        &self,
        k: &KeyPeriodRecord,
        audit: AuditEvent,
    ) -> Result<KeyPeriodRecord>;
    /// Every key period, by first day.
    async fn key_periods(&self) -> Result<Vec<KeyPeriodRecord>>;
    /// Remove a key period; `false` (and no audit entry) when there was none.
    async fn remove_key_period(&self, id: i64, audit: AuditEvent) -> Result<bool>;
    /// Add a notification channel. `Conflict` for an id already used.
    async fn add_channel(&self, c: &ChannelRecord, audit: AuditEvent) -> Result<ChannelRecord>;
    /// Every channel, by creation.
    async fn channels(&self) -> Result<Vec<ChannelRecord>>;
    /// Remove a channel (its deliveries stay in the log); `false` when there was none.
    async fn remove_channel(&self, id: &str, audit: AuditEvent) -> Result<bool>;
    /// Queue a notification (status `pending`, next attempt `at`); `None` when the channel
    /// already has one with this event key (nothing is sent twice).
    async fn enqueue_delivery(
        &self,
        channel_id: &str,
        event_key: &str,
        subject: &str,
        body: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<DeliveryRecord>>;
    /// Pending deliveries due at `now`, oldest first, at most `limit`.
    async fn due_deliveries(&self, now: DateTime<Utc>, limit: i64) -> Result<Vec<DeliveryRecord>>;
    /// Record an attempt: `sent` when `ok`; otherwise `pending` again at `retry_at`, or
    /// `failed` when `retry_at` is `None`. Attempts count up; the error is kept.
    async fn delivery_attempted(
        &self,
        id: i64,
        at: DateTime<Utc>,
        ok: bool,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
    ) -> Result<()>;
    /// The delivery log, newest first, at most `limit`.
    async fn deliveries(&self, limit: i64) -> Result<Vec<DeliveryRecord>>;

    // --- the gateway (密码前置) ---
    /// Every app (enabled or not) with its credential hash, for a gateway's snapshot.
    async fn app_credentials(&self) -> Result<Vec<(String, App)>>;
    /// Replace an app's credential; the old one stops working.
    async fn rotate_app_token(&self, id: &str, token_hash: &str, event: AuditEvent) -> Result<App>;
    /// Every app's allow rules, ordered by app, operation, key.
    async fn app_rules(&self) -> Result<Vec<AppRule>>;
    /// Add a rule; `false` (and no audit entry) when it was already there.
    async fn add_app_rule(&self, rule: &AppRule, event: AuditEvent) -> Result<bool>;
    /// Remove a rule; `false` (and no audit entry) when there was none.
    async fn remove_app_rule(
        &self,
        app_id: &str,
        operation: &str,
        key_id: &str,
        event: AuditEvent,
    ) -> Result<bool>;
    /// Every app's rate limits, ordered by app, operation.
    async fn app_limits(&self) -> Result<Vec<AppLimit>>;
    /// Set (insert or replace) a limit.
    async fn set_app_limit(&self, limit: &AppLimit, event: AuditEvent) -> Result<()>;
    /// Remove a limit; `false` (and no audit entry) when there was none.
    async fn remove_app_limit(
        &self,
        app_id: &str,
        operation: &str,
        event: AuditEvent,
    ) -> Result<bool>;
    /// Every (app id, certificate serial) binding, ordered.
    async fn app_certs(&self) -> Result<Vec<(String, String)>>;
    /// Bind (`bind`) or unbind a govcloud-issued certificate to an app: with any bound, the
    /// app must present one over mutual TLS at the gateway. `false` (and no audit entry)
    /// when nothing changed; `NotFound` for an unknown app or certificate when binding.
    async fn bind_app_cert(
        &self,
        app_id: &str,
        serial: &str,
        bind: bool,
        event: AuditEvent,
    ) -> Result<bool>;
    /// The crypto nodes, ordered by URL.
    async fn gateway_nodes(&self) -> Result<Vec<GatewayNode>>;
    /// Add a node as active, or make a draining node active again. `false` (and no audit
    /// entry) when it was already active.
    async fn add_gateway_node(
        &self,
        url: &str,
        at: DateTime<Utc>,
        by: &str,
        event: AuditEvent,
    ) -> Result<(GatewayNode, bool)>;
    /// Change a node's state; `NotFound` for an unknown URL.
    async fn set_gateway_node_state(
        &self,
        url: &str,
        state: NodeState,
        at: DateTime<Utc>,
        event: AuditEvent,
    ) -> Result<GatewayNode>;
    /// Remove a node; `false` (and no audit entry) when there was none.
    async fn remove_gateway_node(&self, url: &str, event: AuditEvent) -> Result<bool>;
    /// Insert or replace a replica's figures.
    async fn save_gateway_replica(&self, replica: &GatewayReplica) -> Result<()>;
    /// Replicas seen at or after `seen_since`, ordered by id.
    async fn gateway_replicas(&self, seen_since: DateTime<Utc>) -> Result<Vec<GatewayReplica>>;
    /// Add counted calls.
    async fn add_gateway_calls(&self, counts: &[(CallKey, i64)]) -> Result<()>;
    /// Call counters, optionally for one app, ordered by key.
    async fn gateway_calls(&self, app_id: Option<&str>) -> Result<Vec<(CallKey, i64)>>;

    // --- PKI ---
    async fn pki_keys(&self) -> Result<Vec<PkiKey>>;
    /// Store the platform's keys and their certificates in one transaction (first start).
    /// Conflict when any key id exists already.
    async fn pki_setup(
        &self,
        keys: &[PkiKey],
        certs: &[CertRecord],
        event: AuditEvent,
    ) -> Result<()>;
    /// Record certificates issued together.
    async fn insert_certificates(&self, certs: &[CertRecord], event: AuditEvent) -> Result<()>;
    async fn certificate(&self, serial: &str) -> Result<Option<CertRecord>>;
    /// All certificates, newest first.
    async fn list_certificates(&self) -> Result<Vec<CertRecord>>;
    /// Revoke a good certificate; Conflict when it is revoked already.
    async fn revoke_certificate(
        &self,
        serial: &str,
        at: DateTime<Utc>,
        reason: i32,
        event: AuditEvent,
    ) -> Result<CertRecord>;
    /// The next CRL number of a hierarchy (starts at 1, never repeats).
    async fn next_crl_number(&self, alg: &str) -> Result<i64>;
    /// Keep a CRL unless a newer one (higher number) is stored.
    async fn save_crl(&self, crl: &StoredCrl) -> Result<()>;
    async fn crl(&self, alg: &str) -> Result<Option<StoredCrl>>;
    async fn create_challenge(
        &self,
        id: &str,
        app_id: &str,
        challenge: &[u8],
        expires_at: DateTime<Utc>,
    ) -> Result<()>;
    /// Use a challenge once: its bytes if it exists for this app, is unused and unexpired.
    async fn consume_challenge(
        &self,
        id: &str,
        app_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Vec<u8>>>;
    /// Delete challenges that expired before `before`.
    async fn purge_challenges(&self, before: DateTime<Utc>) -> Result<u64>;
    /// Reserve the next timestamp serial (monotonic) and record the request.
    async fn record_timestamp(&self, t: &TsaRecord) -> Result<i64>;
    async fn set_timestamp_token(&self, serial: i64, token: &[u8]) -> Result<()>;
    async fn timestamp(&self, serial: i64) -> Result<Option<(TsaRecord, Option<Vec<u8>>)>>;
    async fn count_timestamps(&self) -> Result<i64>;
    async fn add_inventory(&self, items: &[InventoryItem], event: AuditEvent) -> Result<()>;
    async fn assign_inventory(
        &self,
        id: &str,
        to: Option<&str>,
        at: DateTime<Utc>,
        event: AuditEvent,
    ) -> Result<InventoryItem>;
    async fn list_inventory(&self) -> Result<Vec<InventoryItem>>;
}

/// Open the store a URL names: `sqlite://path`, `postgres://…` or `postgresql://…`.
pub async fn open(url: &str) -> Result<Box<dyn Store>> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Box::new(PgStore::connect(url).await?))
    } else if let Some(path) = url.strip_prefix("sqlite://") {
        Ok(Box::new(
            SqliteStore::open(std::path::Path::new(path)).await?,
        ))
    } else {
        Err(StoreError::Conflict(format!(
            "unsupported database url {:?}: expected sqlite://PATH or postgres://…",
            redact_url(url)
        )))
    }
}

/// A database URL with any password replaced, fit for messages and logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &creds[..c], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// Walk the whole audit log in stored order and check every link, then the recorded head.
/// Returns the number of entries checked, or the first break.
pub async fn verify_audit(store: &dyn Store) -> Result<Result<u64, ChainBreak>> {
    let mut v = ChainVerifier::default();
    let mut after = 0;
    loop {
        let page = store.audit_page(after, 1000).await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        for e in &page {
            if let Err(b) = v.feed(e) {
                return Ok(Err(b));
            }
        }
    }
    Ok(v.finish(store.audit_head().await?))
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn urls_lose_their_passwords() {
        assert_eq!(
            redact_url("postgres://u:secret@h/db"),
            "postgres://u:***@h/db"
        );
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact_url("sqlite://x.db"), "sqlite://x.db");
    }
}
