//! Operations on cloud resources 资源, shared by the API and the CLI: allocation against the
//! contract (checked and written in one store transaction), resizing, release, physical
//! host inventory, and usage intervals for metering. Pure rules (clock minimum, 4 vCPUs per
//! core, GPU only with hosts, intervals) live in `govcloud_domain::resources`.

use chrono::{DateTime, Utc};
use govcloud_domain::catalog::{Contract, LineItem, Quantity};
use govcloud_domain::resources::{self as rules, Arch, ResourceKind, RuleError, Step};
use govcloud_store::{PhysicalHost, Resource, ResourceEvent, StoreError};
use rust_decimal::Decimal;
use serde_json::json;

use std::sync::Arc;

use govcloud_engine::{Engine, EngineError, HostSpec, VolumeSpec};

use crate::auth;
use crate::ops::{Ctx, OpError};

/// What the engine makes for a resource: cloud-host vCPU allocations become hosts (with the
/// spec's `memory_gb`, default 2 GB per vCPU, and `arch`, default x86), block storage
/// becomes volumes (GB as GiB, the tier's IOPS or the spec's `iops`); other kinds are
/// bookkeeping only.
enum Plan {
    Host(HostSpec),
    Volume(VolumeSpec),
    /// Public or load-balancer IPs from a network's range (`spec.network`, default
    /// `default`); with the manual engine the operator records the addresses in the spec.
    Ips {
        network: String,
        count: u64,
    },
    Nothing,
}

/// The engine reference of a set of addresses: `ips:<network>:<a>,<b>,…`.
fn ips_ref(network: &str, ips: &[String]) -> String {
    format!("ips:{network}:{}", ips.join(","))
}

fn parse_ips_ref(r: &str) -> Option<(String, Vec<String>)> {
    let (network, list) = r.strip_prefix("ips:")?.split_once(':')?;
    Some((
        network.to_owned(),
        list.split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
    ))
}

/// Bring a set of addresses to `count`: allocate the missing ones or release the extras.
/// On failure, what this call allocated is given back.
async fn adjust_ips(
    engine: &Arc<dyn Engine>,
    network: &str,
    mut have: Vec<String>,
    count: u64,
) -> Result<Vec<String>, OpError> {
    let mut new = Vec::new();
    while (have.len() as u64) < count {
        let net = network.to_owned();
        match run(engine, move |e| e.allocate_ip(&net)).await {
            Ok(ip) => {
                new.push(ip.clone());
                have.push(ip);
            }
            Err(err) => {
                for ip in new {
                    let net = network.to_owned();
                    let _ = run(engine, move |e| e.release_ip(&net, &ip)).await;
                }
                return Err(err);
            }
        }
    }
    while (have.len() as u64) > count {
        let ip = have.pop().unwrap_or_default();
        let net = network.to_owned();
        run(engine, move |e| e.release_ip(&net, &ip)).await?;
    }
    Ok(have)
}

fn spec_number(spec: &serde_json::Value, key: &str) -> Option<u64> {
    match spec.get(key)? {
        serde_json::Value::Number(n) => n.as_u64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn plan(item: &LineItem, r: &Resource, engine: &dyn Engine) -> Result<Plan, OpError> {
    let q: Decimal = r
        .quantity
        .parse()
        .map_err(|_| StoreError::Corrupt(format!("resource {} quantity", r.id)))?;
    let spec: serde_json::Value = serde_json::from_str(&r.spec).unwrap_or_default();
    let whole = |d: Decimal| -> Result<u64, OpError> {
        use rust_decimal::prelude::ToPrimitive;
        d.ceil()
            .to_u64()
            .ok_or_else(|| OpError::invalid("invalid_quantity", "数量过大", "quantity too large"))
    };
    Ok(match rules::kind_of(item) {
        ResourceKind::CloudHost if item.unit == govcloud_domain::catalog::Unit::Vcpu => {
            let vcpus = whole(q)?;
            let memory_gb = spec_number(&spec, "memory_gb").unwrap_or(2 * vcpus);
            Plan::Host(HostSpec {
                name: r.id.clone(),
                vcpus: u32::try_from(vcpus).unwrap_or(u32::MAX),
                memory_mib: memory_gb.saturating_mul(1024),
                arch: spec
                    .get("arch")
                    .and_then(|a| a.as_str())
                    .and_then(Arch::parse)
                    .unwrap_or(Arch::X86)
                    .code()
                    .to_owned(),
            })
        }
        ResourceKind::BlockStorage { tier } => Plan::Volume(VolumeSpec {
            name: r.id.clone(),
            size_gib: whole(q)?,
            tier: tier.code().to_owned(),
            iops: spec_number(&spec, "iops")
                .and_then(|n| u32::try_from(n).ok())
                .unwrap_or(*tier.iops_range().start()),
        }),
        ResourceKind::PublicIp | ResourceKind::LoadBalancerIp if engine.name() != "manual" => {
            Plan::Ips {
                network: spec
                    .get("network")
                    .and_then(|n| n.as_str())
                    .unwrap_or("default")
                    .to_owned(),
                count: whole(q)?,
            }
        }
        _ => Plan::Nothing,
    })
}

/// Run an engine call on a blocking thread.
async fn run<T: Send + 'static>(
    engine: &Arc<dyn Engine>,
    f: impl FnOnce(&dyn Engine) -> Result<T, EngineError> + Send + 'static,
) -> Result<T, OpError> {
    let engine = engine.clone();
    tokio::task::spawn_blocking(move || f(engine.as_ref()))
        .await
        .map_err(|e| OpError::Engine {
            code: "backend",
            message: format!("engine task failed: {e}"),
        })?
        .map_err(|e| OpError::Engine {
            code: e.code(),
            message: e.message().to_owned(),
        })
}

fn item_of<'c>(contract: &'c Contract, r: &Resource) -> Result<&'c LineItem, OpError> {
    contract
        .items()
        .find(|i| i.id.as_str() == r.item_id)
        .ok_or_else(|| StoreError::NotFound(format!("line item {}", r.item_id)).into())
}

fn rule(e: RuleError) -> OpError {
    OpError::invalid(e.code(), e.message_zh(), e.message_en())
}

/// What a caller asks for when allocating.
pub struct NewResource<'a> {
    pub system: &'a str,
    pub item: &'a str,
    pub quantity: &'a str,
    pub name: Option<&'a str>,
    /// A JSON object (arch, clock_ghz, memory_gb, tier, …); `null` for none.
    pub spec: serde_json::Value,
    /// The physical host a vCPU allocation is placed on (host inventory).
    pub host: Option<&'a str>,
    /// When it took effect; default now. Earlier than now is audited as backdated.
    pub effective_from: Option<DateTime<Utc>>,
    pub reason: &'a str,
    /// The approved change request 变更 this executes, if any.
    pub change_id: Option<&'a str>,
}

/// The line item `id` of `system` in `contract`: refuses unknown systems and items, and
/// items of another system.
fn system_item<'c>(
    contract: &'c Contract,
    system: &str,
    id: &str,
) -> Result<&'c LineItem, OpError> {
    let sys = contract
        .systems
        .iter()
        .find(|s| s.code.as_str() == system)
        .ok_or_else(|| {
            OpError::invalid(
                "unknown_system",
                format!("合同中没有业务系统 {system}"),
                format!("the contract has no business system {system}"),
            )
        })?;
    let item = contract
        .items()
        .find(|i| i.id.as_str() == id)
        .ok_or_else(|| {
            OpError::invalid(
                "unknown_item",
                format!("合同中没有明细项 {id}"),
                format!("the contract has no line item {id}"),
            )
        })?;
    let serves = match &item.system {
        Some(s) => s == &sys.code,
        None => contract
            .package(item.package)
            .is_some_and(|p| p.systems.contains(&sys.code)),
    };
    if !serves {
        return Err(OpError::invalid(
            "item_not_for_system",
            format!("明细项 {id} 不属于业务系统 {system}"),
            format!("line item {id} is not one of system {system}'s"),
        ));
    }
    Ok(item)
}

/// The line item `id` for `system` in `contract`, with its kind; refuses items of other
/// systems and items that are not allocatable resources.
pub fn item_for<'c>(
    contract: &'c Contract,
    system: &str,
    id: &str,
) -> Result<(&'c LineItem, ResourceKind), OpError> {
    let item = system_item(contract, system, id)?;
    let kind = rules::kind_of(item);
    // Package 2's crypto services and certificates billed per month or year are recorded as
    // subscriptions 服务开通 (bookkeeping only): their time in service is what statements
    // rate. Per-occurrence items are recorded as occurrences instead.
    let per_occurrence = item.billing == govcloud_domain::catalog::Billing::PerOccurrence;
    if matches!(kind, ResourceKind::PerOccurrence | ResourceKind::Other)
        || (kind == ResourceKind::CryptoService && per_occurrence)
    {
        return Err(OpError::invalid(
            "not_a_resource",
            format!("明细项 {id}（{}）不是可分配的资源", item.item),
            format!(
                "line item {id} ({}) is not an allocatable resource",
                item.item
            ),
        ));
    }
    Ok((item, kind))
}

/// A resource's spec: a JSON object (none given: empty).
fn spec_object(spec: serde_json::Value) -> Result<serde_json::Value, OpError> {
    match spec {
        serde_json::Value::Null => Ok(json!({})),
        v @ serde_json::Value::Object(_) => Ok(v),
        _ => Err(rule(RuleError::Invalid(
            "spec must be a JSON object".into(),
        ))),
    }
}

fn parse_quantity(s: &str) -> Result<Decimal, OpError> {
    Quantity::parse(s)
        .map(Quantity::value)
        .map_err(|e| OpError::invalid("invalid_quantity", format!("数量不正确：{e}"), e))
}

/// vCPUs an allocation of `item` places on a host: its quantity for vCPU items, else 0.
fn vcpus_of(item: &LineItem, quantity: Decimal) -> Result<i64, OpError> {
    if item.unit == govcloud_domain::catalog::Unit::Vcpu {
        if quantity.fract() != Decimal::ZERO {
            return Err(OpError::invalid(
                "invalid_quantity",
                "vCPU 数量须为整数",
                "a vCPU quantity must be a whole number",
            ));
        }
        return i64::try_from(quantity)
            .map_err(|_| OpError::invalid("invalid_quantity", "数量过大", "quantity too large"));
    }
    Ok(0)
}

/// Allocate a resource against the contract, then have the engine provision it (a host or
/// a volume). If provisioning fails the allocation is released again at the same instant
/// (so the history shows it and no usage accrues) and the engine's error is returned.
pub async fn create(
    cx: Ctx<'_>,
    engine: &Arc<dyn Engine>,
    contract_id: &str,
    contract: &Contract,
    req: NewResource<'_>,
) -> Result<Resource, OpError> {
    let (item, kind) = item_for(contract, req.system, req.item)?;
    let quantity = parse_quantity(req.quantity)?;
    let spec = spec_object(req.spec)?;
    let vcpus = vcpus_of(item, quantity)?;
    let host_id = match (req.host, vcpus) {
        (Some(h), v) if v > 0 => {
            let hosts = cx.store.physical_hosts().await?;
            let (host, _) = hosts
                .iter()
                .find(|(p, _)| p.id == h || p.name == h)
                .ok_or_else(|| StoreError::NotFound(format!("physical host {h}")))?;
            let arch = Arch::parse(&host.arch)
                .ok_or_else(|| StoreError::Corrupt(format!("host {} arch", host.id)))?;
            let clock: Decimal = host
                .clock_ghz
                .parse()
                .map_err(|_| StoreError::Corrupt(format!("host {} clock", host.id)))?;
            rules::check_clock(arch, clock).map_err(rule)?;
            // The 4:1 vCPU rule is checked by the store in the writing transaction (409
            // `over_committed`), so that parallel placements cannot both pass.
            Some(host.id.clone())
        }
        (Some(_), _) => {
            return Err(OpError::invalid(
                "host_for_vcpu_only",
                "只有 vCPU 分配可指定物理主机",
                "only vCPU allocations are placed on a physical host",
            ))
        }
        (None, _) => None,
    };
    if kind == ResourceKind::Gpu {
        let has_host = cx
            .store
            .list_resources(Some(req.system))
            .await?
            .iter()
            .any(|r| {
                !r.released
                    && contract
                        .items()
                        .find(|i| i.id.as_str() == r.item_id)
                        .is_some_and(|i| rules::kind_of(i).is_host())
            });
        rules::check_gpu(has_host).map_err(rule)?;
    }
    let effective = req.effective_from.unwrap_or(cx.now);
    let resource = Resource {
        id: auth::new_id("res"),
        contract_id: contract_id.to_owned(),
        item_id: item.id.as_str().to_owned(),
        system_code: req.system.to_owned(),
        name: req
            .name
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .unwrap_or(&item.item)
            .to_owned(),
        quantity: quantity.normalize().to_string(),
        spec: spec.to_string(),
        host_id,
        vcpus,
        engine_ref: None,
        released: false,
        created_at: cx.now,
        created_by: cx.actor.to_owned(),
    };
    let event = ResourceEvent {
        resource_id: resource.id.clone(),
        seq: 1,
        kind: "create".into(),
        quantity: resource.quantity.clone(),
        effective_at: effective,
        recorded_at: cx.now,
        actor: cx.actor.to_owned(),
        reason: req.reason.to_owned(),
        change_id: req.change_id.map(str::to_owned),
    };
    let audit = cx.event(
        "resource.create",
        &resource.id,
        json!({"system": req.system, "item": resource.item_id, "quantity": resource.quantity,
               "effective_at": effective, "backdated": effective < cx.now, "reason": req.reason}),
    );
    let created = cx.store.create_resource(&resource, &event, audit).await?;
    let provisioned = match plan(item, &created, engine.as_ref())? {
        Plan::Host(h) => run(engine, move |e| e.create_host(&h)).await.map(Some),
        Plan::Volume(v) => run(engine, move |e| e.create_volume(&v)).await.map(Some),
        Plan::Ips { network, count } => adjust_ips(engine, &network, Vec::new(), count)
            .await
            .map(|ips| Some(ips_ref(&network, &ips))),
        Plan::Nothing => Ok(None),
    };
    match provisioned {
        Ok(Some(engine_ref)) => {
            cx.store
                .set_resource_engine_ref(&created.id, Some(&engine_ref))
                .await?;
            Ok(Resource {
                engine_ref: Some(engine_ref),
                ..created
            })
        }
        Ok(None) => Ok(created),
        Err(e) => {
            let undo = ResourceEvent {
                resource_id: created.id.clone(),
                seq: 0,
                kind: "release".into(),
                quantity: "0".into(),
                effective_at: effective,
                recorded_at: cx.now,
                actor: cx.actor.to_owned(),
                reason: format!("provisioning failed: {e}"),
                change_id: None,
            };
            let audit = cx.event(
                "resource.release",
                &created.id,
                json!({"reason": undo.reason}),
            );
            cx.store
                .change_resource(&created.id, &undo, None, audit)
                .await?;
            Err(e)
        }
    }
}

/// A resize (`quantity`) or release (`None`) of a resource.
pub struct Change<'a> {
    pub quantity: Option<&'a str>,
    /// Effective time; default now.
    pub at: Option<DateTime<Utc>>,
    pub reason: &'a str,
    /// The approved change request it executes.
    pub change_id: Option<&'a str>,
}

/// Resize or release a resource. A resize is recorded (checked against the contract) and
/// then applied by the engine; if the engine refuses, the quantity is set back (both steps
/// in the history) and the engine's error returned. A release deletes the host or volume
/// first, then records the release.
pub async fn change(
    cx: Ctx<'_>,
    engine: &Arc<dyn Engine>,
    contract: &Contract,
    id: &str,
    ch: Change<'_>,
) -> Result<Resource, OpError> {
    let Change {
        quantity,
        at,
        reason,
        change_id,
    } = ch;
    let (r, events) = cx
        .store
        .resource(id)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("resource {id}")))?;
    let effective = at.unwrap_or(cx.now);
    // The store refuses these too; checking first keeps the engine from deleting a host
    // whose release the store would then refuse.
    if r.released {
        return Err(StoreError::Conflict(format!("resource {id} is released")).into());
    }
    if events.last().is_some_and(|e| effective < e.effective_at) {
        return Err(StoreError::Conflict(format!(
            "resource {id}: a change cannot take effect before its last one"
        ))
        .into());
    }
    let item = item_of(contract, &r)?;
    let (kind, q, vcpus) = match quantity {
        Some(q) => {
            let q = parse_quantity(q)?;
            let v = vcpus_of(item, q)?;
            ("resize", q.normalize().to_string(), (v > 0).then_some(v))
        }
        None => ("release", "0".to_owned(), None),
    };
    if kind == "release" {
        if let Some(engine_ref) = r.engine_ref.clone() {
            match plan(item, &r, engine.as_ref())? {
                Plan::Host(_) => run(engine, move |e| e.delete_host(&engine_ref)).await?,
                Plan::Volume(_) => run(engine, move |e| e.delete_volume(&engine_ref)).await?,
                Plan::Ips { .. } => {
                    if let Some((network, ips)) = parse_ips_ref(&engine_ref) {
                        adjust_ips(engine, &network, ips, 0).await?;
                    }
                }
                Plan::Nothing => {}
            }
        }
    }
    let event = ResourceEvent {
        resource_id: r.id.clone(),
        seq: 0,
        kind: kind.into(),
        quantity: q.clone(),
        effective_at: effective,
        recorded_at: cx.now,
        actor: cx.actor.to_owned(),
        reason: reason.to_owned(),
        change_id: change_id.map(str::to_owned),
    };
    let audit = cx.event(
        &format!("resource.{kind}"),
        &r.id,
        json!({"from": r.quantity, "to": q, "effective_at": effective,
               "backdated": effective < cx.now, "reason": reason}),
    );
    let changed = cx
        .store
        .change_resource(&r.id, &event, vcpus, audit)
        .await?;
    let Some(engine_ref) = changed.engine_ref.clone().filter(|_| kind == "resize") else {
        return Ok(changed);
    };
    let applied = match plan(item, &changed, engine.as_ref())? {
        Plan::Ips { network, count } => {
            let have = parse_ips_ref(&engine_ref)
                .map(|(_, ips)| ips)
                .unwrap_or_default();
            match adjust_ips(engine, &network, have, count).await {
                Ok(ips) => {
                    let new_ref = ips_ref(&network, &ips);
                    cx.store
                        .set_resource_engine_ref(&r.id, Some(&new_ref))
                        .await?;
                    return Ok(Resource {
                        engine_ref: Some(new_ref),
                        ..changed
                    });
                }
                Err(e) => Err(e),
            }
        }
        Plan::Host(h) => {
            run(engine, move |e| {
                e.resize_host(&engine_ref, h.vcpus, h.memory_mib)
            })
            .await
        }
        Plan::Volume(v) => run(engine, move |e| e.resize_volume(&engine_ref, v.size_gib)).await,
        Plan::Nothing => Ok(()),
    };
    if let Err(e) = applied {
        let back = ResourceEvent {
            quantity: r.quantity.clone(),
            reason: format!("engine refused the resize, set back: {e}"),
            ..event
        };
        let audit = cx.event(
            "resource.resize",
            &r.id,
            json!({"from": changed.quantity, "to": r.quantity, "reason": back.reason}),
        );
        cx.store
            .change_resource(&r.id, &back, (r.vcpus > 0).then_some(r.vcpus), audit)
            .await?;
        return Err(e);
    }
    Ok(changed)
}

/// Add a physical host to the inventory.
pub async fn add_host(
    cx: Ctx<'_>,
    name: &str,
    arch: &str,
    clock_ghz: &str,
    cores: i64,
) -> Result<PhysicalHost, OpError> {
    let a = Arch::parse(arch).ok_or_else(|| {
        OpError::invalid(
            "invalid_arch",
            format!("架构 {arch:?} 应为 x86、arm 或 c86"),
            format!("architecture {arch:?} should be x86, arm or c86"),
        )
    })?;
    let clock: Decimal = clock_ghz.trim().parse().map_err(|_| {
        OpError::invalid(
            "invalid_clock",
            "主频应为 GHz 数值，如 2.4",
            "clock should be GHz, e.g. 2.4",
        )
    })?;
    if !(1..=4096).contains(&cores) || name.trim().is_empty() {
        return Err(OpError::invalid(
            "invalid_host",
            "主机名不能为空，物理核数须为 1–4096",
            "the name must not be empty and cores must be 1 to 4096",
        ));
    }
    let host = PhysicalHost {
        id: auth::new_id("phy"),
        name: name.trim().to_owned(),
        arch: a.code().to_owned(),
        clock_ghz: clock.normalize().to_string(),
        cores,
        created_at: cx.now,
    };
    let audit = cx.event(
        "host.add",
        &host.id,
        json!({"name": host.name, "arch": host.arch, "clock_ghz": host.clock_ghz, "cores": cores}),
    );
    cx.store.add_physical_host(&host, audit).await?;
    Ok(host)
}

/// One usage interval of one resource.
pub struct Usage {
    pub resource: Resource,
    pub interval: rules::Interval,
}

/// The usage intervals of a system's resources (or all) clipped to [from, to).
pub async fn usage(
    store: &dyn govcloud_store::Store,
    system: Option<&str>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Usage>, OpError> {
    let resources = store.list_resources(system).await?;
    let events = store.resource_events(system).await?;
    let mut out = Vec::new();
    for r in resources {
        let steps: Vec<Step> = events
            .iter()
            .filter(|e| e.resource_id == r.id)
            .map(|e| {
                Ok(Step {
                    at: e.effective_at,
                    quantity: e.quantity.parse().map_err(|_| {
                        StoreError::Corrupt(format!("resource {} event {}", r.id, e.seq))
                    })?,
                })
            })
            .collect::<Result<_, StoreError>>()?;
        let all = rules::intervals(&steps).map_err(rule)?;
        for interval in rules::clip(&all, from, to) {
            out.push(Usage {
                resource: r.clone(),
                interval,
            });
        }
    }
    Ok(out)
}

/// What a change request 变更 asks for.
pub enum Requested<'a> {
    Create(NewResource<'a>),
    Resize {
        resource: &'a str,
        quantity: &'a str,
    },
    Release {
        resource: &'a str,
    },
}

/// Record a change request (pending until the purchaser decides). Validated now so that a
/// request that could never be executed is refused at once.
pub async fn request_change(
    cx: Ctx<'_>,
    contract_id: &str,
    contract: &Contract,
    req: Requested<'_>,
    effective_from: Option<DateTime<Utc>>,
    reason: &str,
) -> Result<govcloud_store::ChangeRequest, OpError> {
    if reason.trim().is_empty() {
        return Err(OpError::invalid(
            "reason_required",
            "变更须说明原因",
            "a change needs a reason",
        ));
    }
    let (kind, resource_id, item_id, system, quantity, spec) = match &req {
        Requested::Create(n) => {
            let (item, _) = item_for(contract, n.system, n.item)?;
            let q = parse_quantity(n.quantity)?;
            let spec = spec_object(n.spec.clone())?;
            (
                "create",
                None,
                item.id.as_str().to_owned(),
                n.system.to_owned(),
                q.normalize().to_string(),
                spec.to_string(),
            )
        }
        Requested::Resize { resource, .. } | Requested::Release { resource } => {
            let (r, _) = cx
                .store
                .resource(resource)
                .await?
                .ok_or_else(|| StoreError::NotFound(format!("resource {resource}")))?;
            if r.released {
                return Err(OpError::invalid(
                    "resource_released",
                    format!("资源 {resource} 已释放"),
                    format!("resource {resource} is released"),
                ));
            }
            let (kind, q) = match &req {
                Requested::Resize { quantity, .. } => {
                    ("resize", parse_quantity(quantity)?.normalize().to_string())
                }
                _ => ("release", "0".to_owned()),
            };
            (kind, Some(r.id), r.item_id, r.system_code, q, r.spec)
        }
    };
    let c = govcloud_store::ChangeRequest {
        id: auth::new_id("chg"),
        kind: kind.into(),
        resource_id,
        contract_id: contract_id.to_owned(),
        item_id,
        system_code: system,
        quantity,
        spec,
        effective_at: effective_from,
        reason: reason.trim().to_owned(),
        state: "pending".into(),
        requested_by: cx.actor.to_owned(),
        requested_at: cx.now,
        decided_by: None,
        decided_at: None,
        decision_note: None,
        executed_at: None,
    };
    let audit = cx.event(
        "change.request",
        &c.id,
        json!({"kind": c.kind, "resource": c.resource_id, "system": c.system_code,
               "item": c.item_id, "quantity": c.quantity, "reason": c.reason}),
    );
    cx.store.create_change(&c, audit).await?;
    Ok(c)
}

/// The purchaser approves (and the change is executed at once) or rejects a pending change.
/// An approved change whose execution fails (e.g. the item is now fully allocated) stays
/// approved and can be executed later with [`execute_change`].
pub async fn decide_change(
    cx: Ctx<'_>,
    engine: &Arc<dyn Engine>,
    contract: &Contract,
    id: &str,
    approve: bool,
    note: Option<&str>,
) -> Result<govcloud_store::ChangeRequest, OpError> {
    let state = if approve { "approved" } else { "rejected" };
    let audit = cx.event(
        &format!("change.{}", if approve { "approve" } else { "reject" }),
        id,
        json!({"note": note}),
    );
    let c = cx
        .store
        .decide_change(id, state, cx.actor, cx.now, note, audit)
        .await?;
    if approve {
        return execute_change(cx, engine, contract, id).await;
    }
    Ok(c)
}

/// Execute an approved change: make the resource change it asks for, then mark it executed.
pub async fn execute_change(
    cx: Ctx<'_>,
    engine: &Arc<dyn Engine>,
    contract: &Contract,
    id: &str,
) -> Result<govcloud_store::ChangeRequest, OpError> {
    let c = cx
        .store
        .change(id)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("change {id}")))?;
    if c.state != "approved" {
        return Err(
            StoreError::Conflict(format!("change {id} is {}, not approved", c.state)).into(),
        );
    }
    let reason = format!("{}（变更 {id}）", c.reason);
    let r = match c.kind.as_str() {
        "create" => {
            create(
                cx,
                engine,
                &c.contract_id,
                contract,
                NewResource {
                    system: &c.system_code,
                    item: &c.item_id,
                    quantity: &c.quantity,
                    name: None,
                    spec: serde_json::from_str(&c.spec).unwrap_or(serde_json::Value::Null),
                    host: None,
                    effective_from: c.effective_at,
                    reason: &reason,
                    change_id: Some(id),
                },
            )
            .await?
        }
        kind => {
            let rid = c.resource_id.as_deref().unwrap_or_default();
            let q = (kind == "resize").then_some(c.quantity.as_str());
            change(
                cx,
                engine,
                contract,
                rid,
                Change {
                    quantity: q,
                    at: c.effective_at,
                    reason: &reason,
                    change_id: Some(id),
                },
            )
            .await?
        }
    };
    Ok(cx.store.mark_change_executed(id, &r.id, cx.now).await?)
}

/// A per-occurrence service performed (漏洞扫描, 安全加固 …) with the hosts it covered.
pub struct NewOccurrence<'a> {
    pub system: &'a str,
    pub item: &'a str,
    pub performed_at: DateTime<Utc>,
    pub hosts: i64,
    pub note: &'a str,
}

/// Record a per-occurrence service for a system; the item must be billed per occurrence.
pub async fn record_occurrence(
    cx: Ctx<'_>,
    contract_id: &str,
    contract: &Contract,
    occ: NewOccurrence<'_>,
) -> Result<govcloud_store::Occurrence, OpError> {
    let NewOccurrence {
        system,
        item,
        performed_at,
        hosts,
        note,
    } = occ;
    let line = system_item(contract, system, item)?;
    // Billed per occurrence (元/次): host-times of scans and hardening, and one-off
    // services such as package 2's integration 接入集成服务.
    if rules::kind_of(line) != ResourceKind::PerOccurrence
        && line.billing != govcloud_domain::catalog::Billing::PerOccurrence
    {
        return Err(OpError::invalid(
            "not_per_occurrence",
            format!("明细项 {item}（{}）不是按次计费的服务", line.item),
            format!(
                "line item {item} ({}) is not billed per occurrence",
                line.item
            ),
        ));
    }
    if !(1..=100_000).contains(&hosts) {
        return Err(OpError::invalid(
            "invalid_hosts",
            "主机台数须为 1–100000",
            "hosts must be 1 to 100000",
        ));
    }
    if performed_at > cx.now {
        return Err(OpError::invalid(
            "in_the_future",
            "执行时间不能晚于现在",
            "performed_at cannot be in the future",
        ));
    }
    let o = govcloud_store::Occurrence {
        id: auth::new_id("occ"),
        contract_id: contract_id.to_owned(),
        item_id: item.to_owned(),
        system_code: system.to_owned(),
        performed_at,
        hosts,
        note: note.trim().to_owned(),
        recorded_at: cx.now,
        recorded_by: cx.actor.to_owned(),
    };
    let audit = cx.event(
        "occurrence.record",
        &o.id,
        json!({"system": system, "item": item, "performed_at": performed_at, "hosts": hosts}),
    );
    cx.store.record_occurrence(&o, audit).await?;
    Ok(o)
}
