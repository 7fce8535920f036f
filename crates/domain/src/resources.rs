//! Rented resources (租用资源): CPU architectures 架构 and the procurement's rules on clock
//! speed 主频, over-commitment 虚拟化率 and GPU rental; the kind of resource each catalog line
//! item rents; and usage intervals 使用区间, the single source from which monthly statements
//! are computed.
//!
//! Like the rest of `domain`, nothing here reads a clock: instants come in as values.

use std::fmt;
use std::ops::RangeInclusive;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use crate::catalog::{Billing, LineItem, Unit};

// ---------------------------------------------------------------------------------------
// Architectures and the rules on them.

/// A CPU architecture 架构 of the cloud host service (平台云主机服务（包含X86、ARM、C86）).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Arch {
    /// x86-64 (Intel, AMD).
    X86,
    /// ARM 64-bit (e.g. 鲲鹏).
    Arm,
    /// C86: Hygon 海光 x86-compatible processors.
    C86,
}

impl Arch {
    pub const ALL: [Arch; 3] = [Arch::X86, Arch::Arm, Arch::C86];

    pub fn code(self) -> &'static str {
        match self {
            Arch::X86 => "x86",
            Arch::Arm => "arm",
            Arch::C86 => "c86",
        }
    }

    /// Case-insensitive; accepts the usual aliases (`x86_64`, `amd64`, `aarch64`, `arm64`,
    /// `hygon`, 海光).
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "x86" | "x86_64" | "x86-64" | "amd64" => Some(Arch::X86),
            "arm" | "arm64" | "aarch64" => Some(Arch::Arm),
            "c86" | "hygon" | "海光" => Some(Arch::C86),
            _ => None,
        }
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Arch::X86 => "x86架构",
            Arch::Arm => "ARM架构",
            Arch::C86 => "C86架构",
        }
    }

    /// The lowest vCPU clock 主频 the procurement admits, in GHz. The vCPU spec of packages
    /// 1 and 4 and the service requirements of packages 1, 3 and 5 read
    /// "vCPU ARM架构主频不低于2.4GHz，C86和x86主频不低于2.2GHz".
    /// (Package 5's own line item `p5-vcpu` says only "vCPU(主频不低于2.4GHz）" without naming
    /// the architecture; this rule follows the per-architecture wording.)
    pub fn min_clock_ghz(self) -> Decimal {
        match self {
            Arch::Arm => Decimal::new(24, 1),
            Arch::X86 | Arch::C86 => Decimal::new(22, 1),
        }
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// At most 4 vCPUs per physical CPU core: "平均虚拟化率，即物理CPU/虚拟CPU≥1/4"
/// (vCPU spec of packages 1 and 4).
pub const VCPUS_PER_CORE: i64 = 4;

/// Concurrent users per SSL VPN set: "SSL VPN接入……每套10个并发用户" (`p1-ssl-vpn`).
pub const SSL_VPN_USERS_PER_SET: i64 = 10;

/// A resource request that breaks a rule of the procurement. `code()` is stable and meant
/// for machines (API error bodies, logs); the messages are for people.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    /// The host's vCPU clock is below the minimum for its architecture (主频不达标).
    ClockBelowMinimum {
        arch: Arch,
        clock_ghz: Decimal,
        min_ghz: Decimal,
    },
    /// More vCPUs would be placed on the physical cores than 4 per core (超出虚拟化率).
    OverCommitted {
        cores: i64,
        limit: i64,
        placed: i64,
        requested: i64,
    },
    /// GPU memory or FP16 compute without a host in the same business system
    /// (GPU资源须与云主机或物理服务器联合使用).
    GpuWithoutHost,
    /// The input itself is malformed (规格无效).
    Invalid(String),
}

impl RuleError {
    pub fn code(&self) -> &'static str {
        match self {
            RuleError::ClockBelowMinimum { .. } => "clock_below_minimum",
            RuleError::OverCommitted { .. } => "over_committed",
            RuleError::GpuWithoutHost => "gpu_requires_host",
            RuleError::Invalid(_) => "invalid_spec",
        }
    }

    pub fn message_zh(&self) -> String {
        match self {
            RuleError::ClockBelowMinimum {
                arch,
                clock_ghz,
                min_ghz,
            } => format!(
                "{} vCPU主频{clock_ghz}GHz低于采购要求的{min_ghz}GHz",
                arch.label_zh()
            ),
            RuleError::OverCommitted {
                cores,
                limit,
                placed,
                requested,
            } => format!(
                "超出虚拟化率：{cores}个物理CPU核最多承载{limit}个vCPU（每核不超过{VCPUS_PER_CORE}个），\
                 已分配{placed}个，本次申请{requested}个"
            ),
            RuleError::GpuWithoutHost => "GPU显存和半精度浮点运算能力须与同一业务系统内的云主机或物理服务器联合租用\
                 （“需同时租用算力资源、云主机或物理服务器资源，联合使用”）"
                .to_owned(),
            RuleError::Invalid(why) => format!("规格无效：{why}"),
        }
    }

    pub fn message_en(&self) -> String {
        match self {
            RuleError::ClockBelowMinimum {
                arch,
                clock_ghz,
                min_ghz,
            } => format!(
                "{arch} vCPU clock {clock_ghz} GHz is below the procurement minimum of {min_ghz} GHz"
            ),
            RuleError::OverCommitted {
                cores,
                limit,
                placed,
                requested,
            } => format!(
                "over-committed: {cores} physical cores carry at most {limit} vCPUs \
                 ({VCPUS_PER_CORE} per core); {placed} are placed and {requested} more were requested"
            ),
            RuleError::GpuWithoutHost => "GPU memory and FP16 compute are rented only together with a cloud \
                 host or physical server in the same business system"
                .to_owned(),
            RuleError::Invalid(why) => format!("invalid specification: {why}"),
        }
    }
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message_en())
    }
}

/// The vCPU clock must reach the architecture's minimum (exactly the minimum is enough).
pub fn check_clock(arch: Arch, clock_ghz: Decimal) -> Result<(), RuleError> {
    if clock_ghz <= Decimal::ZERO {
        return Err(RuleError::Invalid(format!(
            "clock {clock_ghz} GHz must be greater than zero"
        )));
    }
    let min_ghz = arch.min_clock_ghz();
    if clock_ghz < min_ghz {
        return Err(RuleError::ClockBelowMinimum {
            arch,
            clock_ghz,
            min_ghz,
        });
    }
    Ok(())
}

/// `placed` vCPUs already run on `cores` physical cores; may `requested` more be placed?
/// Allowed while `placed + requested ≤ VCPUS_PER_CORE × cores` (exactly 4 per core is allowed).
pub fn check_overcommit(cores: i64, placed: i64, requested: i64) -> Result<(), RuleError> {
    for (name, v) in [
        ("cores", cores),
        ("placed", placed),
        ("requested", requested),
    ] {
        if v < 0 {
            return Err(RuleError::Invalid(format!(
                "{name} is {v}, must not be negative"
            )));
        }
    }
    let limit = cores
        .checked_mul(VCPUS_PER_CORE)
        .ok_or_else(|| RuleError::Invalid(format!("{cores} cores is out of range")))?;
    // i128: two non-negative i64 cannot overflow it.
    if placed as i128 + requested as i128 > limit as i128 {
        return Err(RuleError::OverCommitted {
            cores,
            limit,
            placed,
            requested,
        });
    }
    Ok(())
}

/// GPU memory (GPU显存) and FP16 compute (半精度浮点运算能力) are rented only together with a
/// host in the same business system. The procurement's words are "需同时租用算力资源、云主机或
/// 物理服务器资源，联合使用", so a physical server counts as a host as well as a cloud host
/// (see [`ResourceKind::is_host`]); the caller decides whether one is active.
pub fn check_gpu(has_active_host_in_system: bool) -> Result<(), RuleError> {
    if has_active_host_in_system {
        Ok(())
    } else {
        Err(RuleError::GpuWithoutHost)
    }
}

// ---------------------------------------------------------------------------------------
// What a line item rents.

/// Block-storage performance tier 存储性能等级, by the per-disk IOPS the procurement names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Tier {
    /// 普通性能存储: "单盘IOPS 1000-3000".
    Standard,
    /// 高性能存储: "单盘IOPS 3000-20000".
    Performance,
}

impl Tier {
    pub fn code(self) -> &'static str {
        match self {
            Tier::Standard => "standard",
            Tier::Performance => "performance",
        }
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Tier::Standard => "普通性能存储",
            Tier::Performance => "高性能存储",
        }
    }

    /// Per-disk IOPS 单盘IOPS, both ends included.
    pub fn iops_range(self) -> RangeInclusive<u32> {
        match self {
            Tier::Standard => 1000..=3000,
            Tier::Performance => 3000..=20000,
        }
    }
}

/// The kind of resource or service a catalog line item rents (资源类型).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ResourceKind {
    /// 平台云主机服务: vCPU and memory 内存 items (including package 5's AI compute hosts).
    CloudHost,
    /// 物理服务器租用服务: a whole server of a stated configuration.
    PhysicalServer,
    /// An extra disk for a physical server (硬盘配置, counted in 块).
    ExtraDisk,
    /// GPU memory GPU显存 and FP16 compute 半精度浮点运算能力.
    Gpu,
    /// 普通性能存储 / 高性能存储, counted in GB.
    BlockStorage { tier: Tier },
    /// 静态存储 (object storage).
    ObjectStorage,
    /// 本地备份服务 (the service; the space it uses is block storage).
    Backup,
    /// 互联网链路带宽, in Mb.
    Bandwidth,
    /// 互联网IP地址租用服务.
    PublicIp,
    /// 主机负载均衡服务, per internal IP 内网IP.
    LoadBalancerIp,
    /// 远程接入服务 (VPN to the bastion host), per account 账号.
    RemoteAccess,
    /// SSL VPN接入, [`SSL_VPN_USERS_PER_SET`] concurrent users per set 套.
    SslVpn,
    /// WAF防护 / web应用防火墙服务, per internet IP.
    Waf,
    /// Security services rented monthly per host 台: 主机杀毒, 主机防护, 主机日志分析.
    HostSecurity,
    /// 网页防篡改服务, per monitoring point 监控点.
    WebTamperProtection,
    /// 数据库审计服务, per set 套 (one database instance).
    DatabaseAudit,
    /// 时钟服务: a time source 授时时钟源.
    TimeService,
    /// 操作系统套餐: OS rental, installation and maintenance per host.
    OperatingSystem,
    /// Services billed per occurrence 元/次: vulnerability scans, hardening, log audits.
    PerOccurrence,
    /// Package 2: 密码云服务 and 证书服务采购.
    CryptoService,
    /// Nothing above fits.
    Other,
}

impl ResourceKind {
    pub fn code(self) -> &'static str {
        match self {
            ResourceKind::CloudHost => "cloud_host",
            ResourceKind::PhysicalServer => "physical_server",
            ResourceKind::ExtraDisk => "extra_disk",
            ResourceKind::Gpu => "gpu",
            ResourceKind::BlockStorage {
                tier: Tier::Standard,
            } => "block_storage_standard",
            ResourceKind::BlockStorage {
                tier: Tier::Performance,
            } => "block_storage_performance",
            ResourceKind::ObjectStorage => "object_storage",
            ResourceKind::Backup => "backup",
            ResourceKind::Bandwidth => "bandwidth",
            ResourceKind::PublicIp => "public_ip",
            ResourceKind::LoadBalancerIp => "load_balancer_ip",
            ResourceKind::RemoteAccess => "remote_access",
            ResourceKind::SslVpn => "ssl_vpn",
            ResourceKind::Waf => "waf",
            ResourceKind::HostSecurity => "host_security",
            ResourceKind::WebTamperProtection => "web_tamper_protection",
            ResourceKind::DatabaseAudit => "database_audit",
            ResourceKind::TimeService => "time_service",
            ResourceKind::OperatingSystem => "operating_system",
            ResourceKind::PerOccurrence => "per_occurrence",
            ResourceKind::CryptoService => "crypto_service",
            ResourceKind::Other => "other",
        }
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            ResourceKind::CloudHost => "云主机",
            ResourceKind::PhysicalServer => "物理服务器",
            ResourceKind::ExtraDisk => "物理服务器硬盘",
            ResourceKind::Gpu => "GPU算力",
            ResourceKind::BlockStorage { tier } => tier.label_zh(),
            ResourceKind::ObjectStorage => "静态存储",
            ResourceKind::Backup => "本地备份服务",
            ResourceKind::Bandwidth => "互联网链路带宽",
            ResourceKind::PublicIp => "互联网IP地址",
            ResourceKind::LoadBalancerIp => "主机负载均衡",
            ResourceKind::RemoteAccess => "远程接入",
            ResourceKind::SslVpn => "SSL VPN",
            ResourceKind::Waf => "WAF防护",
            ResourceKind::HostSecurity => "主机安全服务",
            ResourceKind::WebTamperProtection => "网页防篡改",
            ResourceKind::DatabaseAudit => "数据库审计",
            ResourceKind::TimeService => "时钟服务",
            ResourceKind::OperatingSystem => "操作系统套餐",
            ResourceKind::PerOccurrence => "按次服务",
            ResourceKind::CryptoService => "密码服务",
            ResourceKind::Other => "其他",
        }
    }

    /// Whether the kind is a host that GPU resources may be rented with (云主机或物理服务器).
    pub fn is_host(self) -> bool {
        matches!(self, ResourceKind::CloudHost | ResourceKind::PhysicalServer)
    }
}

impl fmt::Display for ResourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Classify a line item by the words of the catalog (category 类别, subcategory 子类, item
/// 服务项, unit 单位 and billing 计价方式). The rules are tried in order; the first that matches
/// wins. Anything billed per occurrence (元/次) is [`ResourceKind::PerOccurrence`] whatever it
/// is, since it is counted in occurrences, not in time.
pub fn kind_of(item: &LineItem) -> ResourceKind {
    use ResourceKind as K;
    let name = item.item.as_str();
    let sub = item.subcategory.as_deref().unwrap_or("");
    let cat = item.category.as_str();
    let name_has = |k: &str| name.contains(k);
    let any_has = |k: &str| name.contains(k) || sub.contains(k);
    // "SSL VPN接入", "SSL VPN 接入", "WAF防护": compare without spaces, upper-case.
    let name_ascii: String = name
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_uppercase();

    if cat.contains("密码") || cat.contains("证书") {
        return K::CryptoService;
    }
    if item.billing == Billing::PerOccurrence || item.unit == Unit::HostTime {
        return K::PerOccurrence;
    }
    if item.unit == Unit::Tflop || name_ascii.contains("GPU") || name_has("浮点运算") {
        return K::Gpu;
    }
    if item.unit == Unit::Vcpu || name_has("内存") {
        return K::CloudHost;
    }
    if item.unit == Unit::Kuai || name_has("硬盘") {
        return K::ExtraDisk;
    }
    if any_has("物理服务器") {
        return K::PhysicalServer;
    }
    if name_has("备份") {
        return K::Backup;
    }
    if name_has("高性能存储") {
        return K::BlockStorage {
            tier: Tier::Performance,
        };
    }
    if name_has("普通存储") || name_has("普通性能存储") {
        return K::BlockStorage {
            tier: Tier::Standard,
        };
    }
    if name_has("静态存储") || name_has("对象存储") {
        return K::ObjectStorage;
    }
    if item.unit == Unit::Mb || name_has("带宽") {
        return K::Bandwidth;
    }
    if name_ascii.contains("WAF") || name_has("应用防火墙") {
        return K::Waf;
    }
    if any_has("负载均衡") || item.unit == Unit::InternalIp {
        return K::LoadBalancerIp;
    }
    if name_has("IP地址") {
        return K::PublicIp;
    }
    if name_ascii.contains("SSLVPN") {
        return K::SslVpn;
    }
    if name_has("远程接入") {
        return K::RemoteAccess;
    }
    if ["杀毒", "主机防护", "主机日志", "漏洞扫描", "安全加固"]
        .iter()
        .any(|k| name_has(k))
    {
        return K::HostSecurity;
    }
    if name_has("防篡改") {
        return K::WebTamperProtection;
    }
    if name_has("数据库审计") {
        return K::DatabaseAudit;
    }
    if name_has("时钟") {
        return K::TimeService;
    }
    if any_has("操作系统") {
        return K::OperatingSystem;
    }
    K::Other
}

// ---------------------------------------------------------------------------------------
// Usage intervals.

/// One event in a resource's life, in order: from `at` on the resource has `quantity`
/// (0 = released). Created, resized up or down and released are all steps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Step {
    pub at: DateTime<Utc>,
    pub quantity: Decimal,
}

/// A span `[from, to)` during which the quantity held; `to = None`: still running.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Interval {
    pub from: DateTime<Utc>,
    pub to: Option<DateTime<Utc>>,
    pub quantity: Decimal,
}

/// The spans a resource held a positive quantity, from its steps.
///
/// Consecutive steps give `[at_i, at_{i+1})`; spans with quantity 0 and spans of zero
/// length are left out (of two steps at the same instant the later one wins); the last
/// step, if its quantity is positive, gives an open interval. Adjacent spans with the same
/// quantity are not merged: each interval starts at the step that set it.
///
/// `Err(Invalid)` when the steps are not in non-decreasing time order or a quantity is
/// negative.
pub fn intervals(steps: &[Step]) -> Result<Vec<Interval>, RuleError> {
    for (i, s) in steps.iter().enumerate() {
        if s.quantity < Decimal::ZERO {
            return Err(RuleError::Invalid(format!(
                "step {} at {} has negative quantity {}",
                i + 1,
                s.at,
                s.quantity
            )));
        }
        if i > 0 && s.at < steps[i - 1].at {
            return Err(RuleError::Invalid(format!(
                "step {} at {} comes before step {} at {}: steps must be in time order",
                i + 1,
                s.at,
                i,
                steps[i - 1].at
            )));
        }
    }
    let mut out = Vec::new();
    for (i, s) in steps.iter().enumerate() {
        let to = steps.get(i + 1).map(|n| n.at);
        if to == Some(s.at) || s.quantity.is_zero() {
            continue;
        }
        out.push(Interval {
            from: s.at,
            to,
            quantity: s.quantity,
        });
    }
    Ok(out)
}

/// The quantity in force at `t`: that of the last step at or before `t`, 0 before the
/// first step. The steps must be in time order (as [`intervals`] checks).
pub fn quantity_at(steps: &[Step], t: DateTime<Utc>) -> Decimal {
    match steps.partition_point(|s| s.at <= t) {
        0 => Decimal::ZERO,
        n => steps[n - 1].quantity,
    }
}

/// The intervals intersected with `[from, to)`; every result is closed and non-empty.
pub fn clip(intervals: &[Interval], from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<Interval> {
    intervals
        .iter()
        .filter_map(|iv| {
            let start = iv.from.max(from);
            let end = iv.to.map_or(to, |t| t.min(to));
            (start < end).then_some(Interval {
                from: start,
                to: Some(end),
                quantity: iv.quantity,
            })
        })
        .collect()
}

/// Σ quantity × whole seconds of overlap with `[from, to)`, exactly.
///
/// Instants count at whole-second resolution (their sub-second part is dropped before
/// subtracting), so the sums over adjacent windows add up to the sum over their union.
pub fn quantity_seconds(intervals: &[Interval], from: DateTime<Utc>, to: DateTime<Utc>) -> Decimal {
    intervals
        .iter()
        .map(|iv| {
            let start = iv.from.max(from).timestamp();
            let end = iv.to.map_or(to, |t| t.min(to)).timestamp();
            if start < end {
                iv.quantity * Decimal::from(end - start)
            } else {
                Decimal::ZERO
            }
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use chrono::{Duration, TimeZone};

    use super::*;
    use crate::catalog;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn t(day: u32, h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 10, day, h, m, s).unwrap()
    }

    fn step(at: DateTime<Utc>, q: &str) -> Step {
        Step { at, quantity: d(q) }
    }

    fn iv(from: DateTime<Utc>, to: Option<DateTime<Utc>>, q: &str) -> Interval {
        Interval {
            from,
            to,
            quantity: d(q),
        }
    }

    #[test]
    fn arch_parses_aliases_case_insensitively() {
        for (s, want) in [
            ("x86", Arch::X86),
            ("X86_64", Arch::X86),
            ("amd64", Arch::X86),
            ("ARM", Arch::Arm),
            ("aarch64", Arch::Arm),
            ("Arm64", Arch::Arm),
            ("c86", Arch::C86),
            ("HYGON", Arch::C86),
            (" hygon ", Arch::C86),
        ] {
            assert_eq!(Arch::parse(s), Some(want), "{s:?}");
        }
        assert_eq!(Arch::parse("riscv"), None);
        assert_eq!(Arch::parse(""), None);
        for a in Arch::ALL {
            assert_eq!(Arch::parse(a.code()), Some(a));
        }
    }

    #[test]
    fn clock_minimum_depends_on_arch() {
        assert_eq!(Arch::Arm.min_clock_ghz(), d("2.4"));
        assert_eq!(Arch::X86.min_clock_ghz(), d("2.2"));
        assert_eq!(Arch::C86.min_clock_ghz(), d("2.2"));
        assert_eq!(check_clock(Arch::Arm, d("2.4")), Ok(()));
        assert_eq!(check_clock(Arch::X86, d("2.20")), Ok(()));
        assert_eq!(check_clock(Arch::C86, d("3.0")), Ok(()));
        let e = check_clock(Arch::Arm, d("2.3")).unwrap_err();
        assert_eq!(
            e,
            RuleError::ClockBelowMinimum {
                arch: Arch::Arm,
                clock_ghz: d("2.3"),
                min_ghz: d("2.4")
            }
        );
        assert_eq!(e.code(), "clock_below_minimum");
        assert!(
            e.message_zh().contains("2.3GHz低于采购要求的2.4GHz"),
            "{}",
            e.message_zh()
        );
        assert!(e.to_string().contains("arm vCPU clock 2.3 GHz"), "{e}");
        assert!(check_clock(Arch::C86, d("2.19")).is_err());
        assert_eq!(
            check_clock(Arch::X86, d("0")).unwrap_err().code(),
            "invalid_spec"
        );
    }

    #[test]
    fn overcommit_allows_exactly_four_per_core() {
        assert_eq!(check_overcommit(8, 30, 2), Ok(()));
        assert_eq!(check_overcommit(8, 0, 32), Ok(()));
        assert_eq!(check_overcommit(0, 0, 0), Ok(()));
        let e = check_overcommit(8, 30, 3).unwrap_err();
        assert_eq!(
            e,
            RuleError::OverCommitted {
                cores: 8,
                limit: 32,
                placed: 30,
                requested: 3
            }
        );
        assert_eq!(e.code(), "over_committed");
        assert!(
            e.message_zh().contains("8个物理CPU核最多承载32个vCPU"),
            "{}",
            e.message_zh()
        );
        assert!(check_overcommit(0, 0, 1).is_err());
        for (c, p, r) in [(-1, 0, 0), (1, -1, 0), (1, 0, -1), (i64::MAX, 0, 0)] {
            assert_eq!(
                check_overcommit(c, p, r).unwrap_err().code(),
                "invalid_spec"
            );
        }
        assert!(check_overcommit(i64::MAX / 4, i64::MAX, i64::MAX).is_err());
    }

    #[test]
    fn gpu_needs_a_host() {
        assert_eq!(check_gpu(true), Ok(()));
        let e = check_gpu(false).unwrap_err();
        assert_eq!(e.code(), "gpu_requires_host");
        assert!(e.message_zh().contains("云主机或物理服务器"));
        assert!(e.message_en().contains("same business system"));
    }

    #[test]
    fn error_codes_are_distinct() {
        let all = [
            check_clock(Arch::Arm, d("1")).unwrap_err(),
            check_overcommit(1, 4, 1).unwrap_err(),
            check_gpu(false).unwrap_err(),
            RuleError::Invalid("x".into()),
        ];
        let codes: std::collections::BTreeSet<_> = all.iter().map(|e| e.code()).collect();
        assert_eq!(codes.len(), all.len());
        for e in &all {
            assert!(!e.message_zh().is_empty() && !e.message_en().is_empty());
        }
    }

    #[test]
    fn tiers_follow_the_iops_in_the_catalog() {
        assert_eq!(Tier::Standard.iops_range(), 1000..=3000);
        assert_eq!(Tier::Performance.iops_range(), 3000..=20000);
    }

    fn bundled() -> catalog::Contract {
        catalog::parse(include_str!("../../../catalog/bjggzy-2026.toml")).unwrap()
    }

    #[test]
    fn every_rented_item_of_the_2026_catalog_has_a_kind() {
        let c = bundled();
        // Items of packages 1, 3, 4, 5 that genuinely fit no kind, with the reason. None now.
        let unfit: &[(&str, &str)] = &[];
        let mut seen = 0;
        for p in &c.packages {
            let n = p.number.get();
            for item in &p.items {
                let k = kind_of(item);
                if n == 2 {
                    assert_eq!(k, ResourceKind::CryptoService, "{}", item.id);
                    continue;
                }
                seen += 1;
                assert_ne!(k, ResourceKind::CryptoService, "{}", item.id);
                let listed = unfit.iter().any(|(id, _)| *id == item.id.as_str());
                assert_eq!(
                    k == ResourceKind::Other,
                    listed,
                    "{} ({} / {}) is {k}",
                    item.id,
                    item.category,
                    item.item
                );
            }
        }
        assert_eq!(seen, 19 + 19 + 7 + 20);
    }

    #[test]
    fn catalog_items_are_classified_as_written() {
        let c = bundled();
        let kinds: BTreeMap<&str, ResourceKind> =
            c.items().map(|i| (i.id.as_str(), kind_of(i))).collect();
        use ResourceKind as K;
        let standard = K::BlockStorage {
            tier: Tier::Standard,
        };
        let performance = K::BlockStorage {
            tier: Tier::Performance,
        };
        for (id, want) in [
            ("p1-vcpu", K::CloudHost),
            ("p1-memory", K::CloudHost),
            ("p5-ai-vcpu", K::CloudHost),
            ("p1-physical-server-config1", K::PhysicalServer),
            ("p3-disk-config2-600gb-sas", K::ExtraDisk),
            ("p4-gpu-memory", K::Gpu),
            ("p5-ai-gpu-memory", K::Gpu),
            ("p5-ai-fp16", K::Gpu),
            ("p1-standard-storage", standard),
            ("p3-standard-storage-backup", standard),
            ("p1-high-performance-storage", performance),
            ("p5-ai-high-performance-storage", performance),
            ("p1-static-storage", K::ObjectStorage),
            ("p3-local-backup", K::Backup),
            ("p5-ai-internet-bandwidth", K::Bandwidth),
            ("p4-internet-ip", K::PublicIp),
            ("p3-load-balancer", K::LoadBalancerIp),
            ("p1-remote-access", K::RemoteAccess),
            ("p5-ssl-vpn", K::SslVpn),
            ("p3-waf", K::Waf),
            ("p1-host-antivirus", K::HostSecurity),
            ("p3-host-protection", K::HostSecurity),
            ("p1-host-log-analysis", K::HostSecurity),
            ("p1-host-vuln-scan", K::PerOccurrence),
            ("p3-host-log-audit", K::PerOccurrence),
            ("p5-host-hardening", K::PerOccurrence),
            ("p5-ai-host-vuln-scan", K::PerOccurrence),
            ("p1-web-tamper-protection", K::WebTamperProtection),
            ("p1-db-audit", K::DatabaseAudit),
            ("p1-clock", K::TimeService),
            ("p3-commercial-os-linux", K::OperatingSystem),
            ("p5-ai-open-source-os", K::OperatingSystem),
            ("p2-jypt-sign", K::CryptoService),
            ("p2-cert-usb-key", K::CryptoService),
            ("p2-zjk-integration", K::CryptoService),
        ] {
            assert_eq!(kinds.get(id), Some(&want), "{id}");
        }
        assert!(kinds[&"p5-ai-vcpu"].is_host() && kinds[&"p1-physical-server-config1"].is_host());
        assert!(!kinds[&"p4-gpu-memory"].is_host());
    }

    #[test]
    fn create_resize_and_release() {
        let steps = [
            step(t(1, 9, 0, 0), "2"),
            step(t(3, 0, 0, 0), "8"),
            step(t(5, 12, 0, 0), "4"),
            step(t(10, 0, 0, 0), "0"),
        ];
        let got = intervals(&steps).unwrap();
        assert_eq!(
            got,
            [
                iv(t(1, 9, 0, 0), Some(t(3, 0, 0, 0)), "2"),
                iv(t(3, 0, 0, 0), Some(t(5, 12, 0, 0)), "8"),
                iv(t(5, 12, 0, 0), Some(t(10, 0, 0, 0)), "4"),
            ]
        );
        assert_eq!(quantity_at(&steps, t(1, 8, 59, 59)), d("0"));
        assert_eq!(quantity_at(&steps, t(1, 9, 0, 0)), d("2"));
        assert_eq!(quantity_at(&steps, t(3, 0, 0, 0)), d("8"));
        assert_eq!(quantity_at(&steps, t(9, 23, 59, 59)), d("4"));
        assert_eq!(quantity_at(&steps, t(10, 0, 0, 0)), d("0"));
        assert_eq!(quantity_at(&steps, t(31, 0, 0, 0)), d("0"));
        // 2 × 39 h + 8 × 60 h + 4 × 108 h, in seconds
        let month = quantity_seconds(&got, t(1, 0, 0, 0), t(31, 0, 0, 0));
        assert_eq!(month, Decimal::from((2 * 39 + 8 * 60 + 4 * 108) * 3600));
    }

    #[test]
    fn a_running_resource_gives_an_open_interval() {
        let steps = [step(t(1, 0, 0, 0), "1.5"), step(t(2, 0, 0, 0), "0.25")];
        let got = intervals(&steps).unwrap();
        assert_eq!(
            got,
            [
                iv(t(1, 0, 0, 0), Some(t(2, 0, 0, 0)), "1.5"),
                iv(t(2, 0, 0, 0), None, "0.25"),
            ]
        );
        assert_eq!(
            quantity_seconds(&got, t(1, 0, 0, 0), t(3, 0, 0, 0)),
            d("1.5") * Decimal::from(86400) + d("0.25") * Decimal::from(86400)
        );
        assert_eq!(
            clip(&got, t(1, 12, 0, 0), t(4, 0, 0, 0)),
            [
                iv(t(1, 12, 0, 0), Some(t(2, 0, 0, 0)), "1.5"),
                iv(t(2, 0, 0, 0), Some(t(4, 0, 0, 0)), "0.25"),
            ]
        );
    }

    #[test]
    fn released_stays_released() {
        let steps = [
            step(t(1, 0, 0, 0), "4"),
            step(t(2, 0, 0, 0), "0"),
            step(t(3, 0, 0, 0), "0"),
        ];
        let got = intervals(&steps).unwrap();
        assert_eq!(got, [iv(t(1, 0, 0, 0), Some(t(2, 0, 0, 0)), "4")]);
        assert_eq!(quantity_at(&steps, t(2, 12, 0, 0)), d("0"));
        assert_eq!(quantity_at(&steps, t(30, 0, 0, 0)), d("0"));
        assert_eq!(intervals(&[step(t(1, 0, 0, 0), "0")]).unwrap(), []);
        assert_eq!(intervals(&[]).unwrap(), []);
        assert_eq!(quantity_at(&[], t(1, 0, 0, 0)), d("0"));
    }

    #[test]
    fn same_instant_steps_the_later_wins() {
        let steps = [
            step(t(1, 0, 0, 0), "2"),
            step(t(1, 0, 0, 0), "3"),
            step(t(2, 0, 0, 0), "0"),
            step(t(2, 0, 0, 0), "5"),
            step(t(4, 0, 0, 0), "6"),
            step(t(4, 0, 0, 0), "0"),
        ];
        assert_eq!(
            intervals(&steps).unwrap(),
            [
                iv(t(1, 0, 0, 0), Some(t(2, 0, 0, 0)), "3"),
                iv(t(2, 0, 0, 0), Some(t(4, 0, 0, 0)), "5"),
            ]
        );
        assert_eq!(quantity_at(&steps, t(1, 0, 0, 0)), d("3"));
        assert_eq!(quantity_at(&steps, t(2, 0, 0, 0)), d("5"));
        assert_eq!(quantity_at(&steps, t(4, 0, 0, 0)), d("0"));
    }

    #[test]
    fn disorder_and_negative_quantities_are_invalid() {
        let e = intervals(&[step(t(2, 0, 0, 0), "1"), step(t(1, 0, 0, 0), "2")]).unwrap_err();
        assert_eq!(e.code(), "invalid_spec");
        assert!(e.to_string().contains("time order"), "{e}");
        let e = intervals(&[step(t(1, 0, 0, 0), "1"), step(t(2, 0, 0, 0), "-1")]).unwrap_err();
        assert!(e.to_string().contains("negative quantity -1"), "{e}");
    }

    #[test]
    fn clip_and_windows() {
        let ivs = [
            iv(t(1, 0, 0, 0), Some(t(2, 0, 0, 0)), "1"),
            iv(t(3, 0, 0, 0), None, "2"),
        ];
        assert_eq!(clip(&ivs, t(2, 0, 0, 0), t(3, 0, 0, 0)), []);
        assert_eq!(clip(&ivs, t(5, 0, 0, 0), t(4, 0, 0, 0)), []);
        assert_eq!(
            clip(&ivs, t(1, 6, 0, 0), t(3, 1, 0, 0)),
            [
                iv(t(1, 6, 0, 0), Some(t(2, 0, 0, 0)), "1"),
                iv(t(3, 0, 0, 0), Some(t(3, 1, 0, 0)), "2"),
            ]
        );
        assert_eq!(
            quantity_seconds(&ivs, t(1, 6, 0, 0), t(3, 1, 0, 0)),
            Decimal::from(18 * 3600 + 2 * 3600)
        );
        assert_eq!(quantity_seconds(&ivs, t(5, 0, 0, 0), t(4, 0, 0, 0)), d("0"));
    }

    #[test]
    fn sub_second_instants_count_whole_seconds_additively() {
        let ms = |s: u32, milli: i64| t(1, 0, 0, s) + Duration::milliseconds(milli);
        let ivs = [iv(ms(0, 500), None, "1")];
        // [0.5 s, 2.2 s) counts the seconds 1 and 2 begin: 2 − 0 = 2
        assert_eq!(quantity_seconds(&ivs, ms(0, 0), ms(2, 200)), d("2"));
        let whole = quantity_seconds(&ivs, ms(0, 0), ms(9, 0));
        let split = quantity_seconds(&ivs, ms(0, 0), ms(3, 700))
            + quantity_seconds(&ivs, ms(3, 700), ms(9, 0));
        assert_eq!(whole, split);
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        const SPAN: i64 = 4 * 86_400;

        fn base() -> DateTime<Utc> {
            Utc.with_ymd_and_hms(2026, 10, 1, 0, 0, 0).unwrap()
        }

        fn at(off: i64) -> DateTime<Utc> {
            base() + Duration::seconds(off)
        }

        fn quantity() -> impl Strategy<Value = Decimal> {
            prop_oneof![
                1 => Just(Decimal::ZERO),
                4 => (1i64..100_000, 0u32..=2).prop_map(|(n, scale)| Decimal::new(n, scale)),
            ]
        }

        /// Sorted steps within a few days, second resolution; a short range of offsets now
        /// and then so that steps share an instant.
        fn steps() -> impl Strategy<Value = Vec<Step>> {
            let offset = prop_oneof![0i64..SPAN, 0i64..60];
            prop::collection::vec((offset, quantity()), 0..16).prop_map(|mut v| {
                v.sort_by_key(|(o, _)| *o);
                v.into_iter()
                    .map(|(o, quantity)| Step {
                        at: at(o),
                        quantity,
                    })
                    .collect()
            })
        }

        /// The quantity at `t` by the definition, without binary search: the last step in
        /// sequence order whose instant is not after `t`.
        fn naive_at(steps: &[Step], t: DateTime<Utc>) -> Decimal {
            steps
                .iter()
                .rfind(|s| s.at <= t)
                .map_or(Decimal::ZERO, |s| s.quantity)
        }

        /// Σ over the pieces between step boundaries inside `[a, b)`: the quantity is
        /// constant on each piece, so it is the quantity at the piece's start × its length.
        fn by_boundaries(steps: &[Step], a: DateTime<Utc>, b: DateTime<Utc>) -> Decimal {
            if a >= b {
                return Decimal::ZERO;
            }
            let mut cuts: Vec<DateTime<Utc>> = steps
                .iter()
                .map(|s| s.at)
                .filter(|x| *x > a && *x < b)
                .collect();
            cuts.push(a);
            cuts.push(b);
            cuts.sort();
            cuts.dedup();
            cuts.windows(2)
                .map(|w| naive_at(steps, w[0]) * Decimal::from((w[1] - w[0]).num_seconds()))
                .sum()
        }

        fn containing(ivs: &[Interval], t: DateTime<Utc>) -> Decimal {
            let hits: Vec<&Interval> = ivs
                .iter()
                .filter(|iv| iv.from <= t && iv.to.is_none_or(|to| t < to))
                .collect();
            assert!(hits.len() <= 1, "{t} lies in {} intervals", hits.len());
            hits.first().map_or(Decimal::ZERO, |iv| iv.quantity)
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]

            #[test]
            fn intervals_agree_with_the_steps(
                steps in steps(),
                probes in prop::collection::vec(-3_600i64..SPAN + 3_600, 32),
                window in (-3_600i64..SPAN + 3_600, -3_600i64..SPAN + 3_600),
            ) {
                let ivs = intervals(&steps).unwrap();

                // (b) sorted, non-overlapping, positive, non-empty; only the last may be open
                for (i, iv) in ivs.iter().enumerate() {
                    prop_assert!(iv.quantity > Decimal::ZERO);
                    match iv.to {
                        Some(to) => prop_assert!(iv.from < to),
                        None => prop_assert_eq!(i, ivs.len() - 1),
                    }
                    if let Some(next) = ivs.get(i + 1) {
                        prop_assert!(iv.to.unwrap() <= next.from);
                    }
                }

                // (a) the interval containing t carries the quantity in force at t
                let boundaries = steps
                    .iter()
                    .flat_map(|s| [s.at - Duration::seconds(1), s.at, s.at + Duration::seconds(1)]);
                for t in probes.iter().map(|o| at(*o)).chain(boundaries) {
                    let q = quantity_at(&steps, t);
                    prop_assert_eq!(q, naive_at(&steps, t), "quantity_at({})", t);
                    prop_assert_eq!(containing(&ivs, t), q, "at {}", t);
                }

                // (c) quantity_seconds against the sum over step boundaries
                let (a, b) = (at(window.0), at(window.1));
                let total = quantity_seconds(&ivs, a, b);
                prop_assert_eq!(total, by_boundaries(&steps, a, b));

                // (d) clipping first changes nothing, and the pieces lie inside [a, b)
                let clipped = clip(&ivs, a, b);
                for c in &clipped {
                    prop_assert!(a <= c.from && c.to.is_some_and(|to| c.from < to && to <= b));
                }
                prop_assert_eq!(quantity_seconds(&clipped, a, b), total);
                let wide = (at(-86_400), at(SPAN + 86_400));
                prop_assert_eq!(quantity_seconds(&clipped, wide.0, wide.1), total);

                // windows add up: [a, m) + [m, b) = [a, b)
                if a < b {
                    let m = a + (b - a) / 2;
                    prop_assert_eq!(
                        quantity_seconds(&ivs, a, m) + quantity_seconds(&ivs, m, b),
                        total
                    );
                }
            }

            #[test]
            fn out_of_order_steps_are_rejected(
                mut offs in prop::collection::vec(0i64..SPAN, 2..10),
            ) {
                let sorted = offs.windows(2).all(|w| w[0] <= w[1]);
                let steps: Vec<Step> = offs
                    .iter()
                    .map(|o| Step { at: at(*o), quantity: Decimal::ONE })
                    .collect();
                prop_assert_eq!(intervals(&steps).is_ok(), sorted);
                offs.sort();
                let steps: Vec<Step> = offs
                    .iter()
                    .map(|o| Step { at: at(*o), quantity: Decimal::ONE })
                    .collect();
                prop_assert!(intervals(&steps).is_ok());
            }
        }
    }
}
