//! The libvirt engine (cargo feature `libvirt`).
//!
//! [`LibvirtEngine::connect`] takes a libvirt URI: `qemu:///system` or `qemu+ssh://…` in
//! production, `test:///default` in tests. The latter is libvirt's own in-process test
//! driver, a real libvirt driver shipped in `libvirt.so` (not a mock written here); its
//! state lives in the process and is shared by every connection to `test:///default` that
//! the process has open, and it starts with a domain `test`, a storage pool `default-pool`
//! and a NAT network `default` (`192.168.122.0/24`, DHCP range `.2`–`.254`).
//!
//! # How resources map to libvirt
//!
//! - **Hosts** are persistent domains defined from XML (`<vcpu>`, `<memory unit='MiB'>`,
//!   `<os><type arch=…>hvm</type></os>`; `x86` and `c86` are `x86_64`, `arm` is `aarch64`)
//!   and then started. The domain type follows the connection's driver: `test` on the test
//!   driver, `kvm` on QEMU when the host offers KVM (with `<cpu mode='host-passthrough'/>`),
//!   plain `qemu` otherwise. The reference is `libvirt:domain:<uuid>`.
//!   - *Resize* first rewrites the persistent definition (maximum and current vCPUs and
//!     memory, through `virDomainSetVcpusFlags`/`virDomainSetMemoryFlags` with
//!     `AFFECT_CONFIG`), then, if the domain runs, applies the new size live when it fits
//!     within the running domain's maxima and the driver accepts it (vCPU hot-plug,
//!     balloon), and otherwise restarts the domain: a graceful shutdown, forced off after
//!     [`LibvirtEngine::with_shutdown_timeout`] (default 60 s), then a start with the new
//!     definition. Growing a host beyond its maxima therefore reboots it.
//!   - *Delete* forces the domain off and undefines it (with its managed save, snapshot
//!     and checkpoint metadata and NVRAM where the driver knows them).
//! - **Volumes** live in one storage pool ([`LibvirtEngine::with_pool`]; default
//!   `default-pool` on the test driver and `default` otherwise) and are created from
//!   `<volume>` XML with the capacity in bytes. The reference is
//!   `libvirt:volume:<pool>/<name>?iops=<N>`: the tier's IOPS limit travels in the
//!   reference, because libvirt volumes carry no metadata of their own and govcloud stores
//!   the reference durably anyway; a snapshot's reference inherits it.
//!   - *Resize* grows the volume (`virStorageVolResize`), or, when a running domain has it
//!     attached, resizes it through that domain (`virDomainBlockResize`) so the guest sees
//!     the new size. Shrinking is refused (`invalid_spec`): it would destroy data.
//!   - *Snapshot* creates a full copy named `<volume>-<snapshot>` in the same pool with
//!     `virStorageVolCreateXMLFrom`.
//!   - *Attach* adds a `<disk>` (`type='file'`, `'block'` or `'volume'` after the volume's
//!     kind) on the first free `vdX` target, with
//!     `<iotune><total_iops_sec>N</total_iops_sec></iotune>` when the IOPS limit is not 0,
//!     through `virDomainAttachDeviceFlags` (persistent definition, and live while the
//!     domain runs). On drivers without device hot-plug (the test driver) the disk is added
//!     to the persistent definition by redefining the domain's XML; a running domain then
//!     gets it at its next start.
//! - **IP addresses** are DHCP host reservations in a libvirt network: the first address
//!   of the network's `<dhcp><range>`s that no `<host>` entry holds is reserved with a
//!   `<host mac='52:54:00:XX:YY:ZZ' ip='…'/>` entry through `virNetworkUpdate` (the MAC is
//!   derived from the address's last three bytes, so it is stable), in the live network and
//!   in its persistent definition. The reservations are therefore visible to libvirt, to
//!   `virsh net-dumpxml` and to dnsmasq, survive a restart of govcloud, and a domain NIC
//!   with that MAC receives that address. Release deletes the entry.
//!
//! # What libvirt 9.0's test driver supports
//!
//! Checked against Debian 12's libvirt 9.0 with the `virt` crate 0.5:
//!
//! - `virDomainSetVcpusFlags` with `AFFECT_LIVE | AFFECT_CONFIG` (within the maximum) and
//!   `VCPU_MAXIMUM | AFFECT_CONFIG`, even on a running domain; live above the maximum fails.
//! - `virDomainSetMemoryFlags` with `AFFECT_LIVE` or `AFFECT_CONFIG` but not both at once,
//!   `MEM_MAXIMUM | AFFECT_CONFIG`; live above the maximum fails; `virDomainSetMaxMemory`
//!   on a running domain fails. This engine always passes one of the two.
//! - `virStorageVolCreateXMLFrom` works (snapshots).
//! - `virStorageVolResize` is **not** supported: `resize_volume` returns `unsupported` there.
//! - `virDomainAttachDeviceFlags` and `virDomainUpdateDeviceFlags` are **not** supported,
//!   and the flag-less `virDomainAttachDevice` returns success without changing anything,
//!   so this engine never uses it; attach falls back to redefining the persistent XML.
//! - `virDomainBlockResize` is not supported either (resizing an attached volume).
//! - `virDomainUndefineFlags` accepts `MANAGED_SAVE | SNAPSHOTS_METADATA` but rejects
//!   `NVRAM` and `CHECKPOINTS_METADATA`; delete tries the fuller set first.
//! - `virNetworkUpdate` on the DHCP host section works (add, delete, duplicate detection);
//!   `virNetworkGetXMLDesc` with `VIR_NETWORK_XML_INACTIVE` does not.

use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use virt::connect::Connect;
use virt::domain::{Domain, DomainState};
use virt::enumutil::Enum;
use virt::error::{Error as VirtError, ErrorNumber};
use virt::network::Network;
use virt::storage_pool::StoragePool;
use virt::storage_vol::StorageVol;
use virt::sys;

use crate::{validate_name, validate_size, Described, Engine, EngineError, HostSpec, VolumeSpec};

const DOMAIN_PREFIX: &str = "libvirt:domain:";
const VOLUME_PREFIX: &str = "libvirt:volume:";
const GIB: u64 = 1 << 30;
/// How many reservations `allocate_ip` attempts when others win races for an address.
const IP_ATTEMPTS: usize = 16;

/// An [`Engine`] that drives a libvirt hypervisor. See the [module docs](self).
#[derive(Debug)]
pub struct LibvirtEngine {
    conn: Connect,
    uri: String,
    driver: String,
    domain_type: String,
    pool: String,
    shutdown_timeout: Duration,
    /// Serializes address reservations made through this engine; reservations made by
    /// other processes are caught by libvirt's duplicate check and retried.
    ip_lock: Mutex<()>,
}

impl LibvirtEngine {
    /// Opens a libvirt connection: `qemu:///system`, `qemu+ssh://user@host/system`, or
    /// `test:///default` for libvirt's in-process test driver.
    pub fn connect(uri: &str) -> Result<Self, EngineError> {
        if uri.is_empty() || uri.contains('\0') {
            return Err(EngineError::InvalidSpec(format!(
                "invalid libvirt URI {uri:?}"
            )));
        }
        // libvirt's default error handler prints every error to stderr; they are all
        // returned as values here, so silence it.
        virt::error::clear_error_callback();
        let conn = Connect::open(Some(uri)).map_err(lv(&format!("connecting to {uri}")))?;
        let driver = conn
            .driver_type()
            .map_err(lv("reading the connection's driver"))?;
        let (domain_type, pool) = match driver.as_str() {
            "TEST" => ("test".to_string(), "default-pool"),
            "QEMU" => {
                let caps = conn
                    .capabilities()
                    .map_err(lv("reading the host's capabilities"))?;
                let kvm = roxmltree::Document::parse(&caps)
                    .map(|doc| {
                        doc.descendants()
                            .any(|n| n.has_tag_name("domain") && n.attribute("type") == Some("kvm"))
                    })
                    .unwrap_or(false);
                (if kvm { "kvm" } else { "qemu" }.to_string(), "default")
            }
            other => (other.to_ascii_lowercase(), "default"),
        };
        Ok(LibvirtEngine {
            conn,
            uri: uri.to_string(),
            driver,
            domain_type,
            pool: pool.to_string(),
            shutdown_timeout: Duration::from_secs(60),
            ip_lock: Mutex::new(()),
        })
    }

    /// Uses the storage pool `pool` for new volumes.
    pub fn with_pool(mut self, pool: &str) -> Result<Self, EngineError> {
        validate_name("storage pool name", pool)?;
        self.pool = pool.to_string();
        Ok(self)
    }

    /// How long a resize that needs a restart waits for the guest to shut down before
    /// forcing it off.
    pub fn with_shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// The URI this engine is connected to.
    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// The storage pool that new volumes go to.
    pub fn pool(&self) -> &str {
        &self.pool
    }

    /// The domain type used for new hosts (`test`, `kvm`, `qemu`…).
    pub fn domain_type(&self) -> &str {
        &self.domain_type
    }

    fn domain_xml(&self, spec: &HostSpec) -> String {
        let qemu = self.driver == "QEMU";
        let (arch, machine) = match spec.arch.as_str() {
            "arm" if qemu => ("aarch64", " machine='virt'"),
            "arm" => ("aarch64", ""),
            _ => ("x86_64", ""),
        };
        let cpu = if self.domain_type == "kvm" {
            "<cpu mode='host-passthrough'/>"
        } else {
            ""
        };
        format!(
            "<domain type='{dt}'><name>{name}</name>\
             <description>govcloud host, architecture {contract_arch}</description>\
             <memory unit='MiB'>{mem}</memory><vcpu>{vcpus}</vcpu>\
             <os><type arch='{arch}'{machine}>hvm</type></os>{cpu}<devices></devices></domain>",
            dt = self.domain_type,
            name = spec.name,
            contract_arch = spec.arch,
            mem = spec.memory_mib,
            vcpus = spec.vcpus,
        )
    }

    fn domain(&self, r: &str) -> Result<Domain, EngineError> {
        let uuid = r
            .strip_prefix(DOMAIN_PREFIX)
            .filter(|u| u.len() == 36 && u.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-'))
            .ok_or_else(|| {
                EngineError::InvalidRef(format!(
                    "{r:?} is not a libvirt host reference ({DOMAIN_PREFIX}<uuid>)"
                ))
            })?;
        self.conn
            .lookup_domain_by_uuid_string(uuid)
            .map_err(lv(&format!("host {r}")))
    }

    fn storage_pool(&self, name: &str) -> Result<StoragePool, EngineError> {
        self.conn
            .lookup_storage_pool_by_name(name)
            .map_err(lv(&format!("storage pool {name}")))
    }

    fn volume(&self, v: &VolRef) -> Result<(StoragePool, StorageVol), EngineError> {
        let pool = self.storage_pool(&v.pool)?;
        let vol = pool
            .lookup_storage_vol_by_name(&v.name)
            .map_err(lv(&format!("volume {}/{}", v.pool, v.name)))?;
        Ok((pool, vol))
    }

    fn network(&self, name: &str) -> Result<Network, EngineError> {
        validate_name("network name", name)?;
        self.conn
            .lookup_network_by_name(name)
            .map_err(lv(&format!("network {name}")))
    }

    /// Fails with `conflict` when a domain named `name` exists.
    fn ensure_no_domain(&self, name: &str) -> Result<(), EngineError> {
        match self.conn.lookup_domain_by_name(name) {
            Ok(_) => Err(EngineError::Conflict(format!(
                "a host named {name} already exists"
            ))),
            Err(e) if is(&e, ErrorNumber::NoDomain) => Ok(()),
            Err(e) => Err(lv(&format!("looking up host {name}"))(e)),
        }
    }

    /// Fails with `conflict` when the pool has a volume named `name`.
    fn ensure_no_volume(&self, pool: &StoragePool, name: &str) -> Result<(), EngineError> {
        match pool.lookup_storage_vol_by_name(name) {
            Ok(_) => Err(EngineError::Conflict(format!(
                "a volume named {name} already exists in pool {}",
                self.pool
            ))),
            Err(e) if is(&e, ErrorNumber::NoStorageVolume) => Ok(()),
            Err(e) => Err(lv(&format!("looking up volume {name}"))(e)),
        }
    }

    /// Writes vCPUs and memory into the persistent definition, maxima included, in an
    /// order that keeps current <= maximum at every step.
    fn set_config_size(&self, dom: &Domain, vcpus: u32, kib: u64) -> Result<(), EngineError> {
        let ctx = "changing the host's definition";
        let max_vcpus = dom
            .vcpus_flags(sys::VIR_DOMAIN_VCPU_MAXIMUM | sys::VIR_DOMAIN_AFFECT_CONFIG)
            .map_err(lv(ctx))?;
        let set_max_vcpus = || {
            dom.set_vcpus_flags(
                vcpus,
                sys::VIR_DOMAIN_VCPU_MAXIMUM | sys::VIR_DOMAIN_AFFECT_CONFIG,
            )
        };
        let set_vcpus = || dom.set_vcpus_flags(vcpus, sys::VIR_DOMAIN_AFFECT_CONFIG);
        if vcpus > max_vcpus {
            set_max_vcpus().map_err(lv(ctx))?;
            set_vcpus().map_err(lv(ctx))?;
        } else {
            set_vcpus().map_err(lv(ctx))?;
            if vcpus < max_vcpus {
                set_max_vcpus().map_err(lv(ctx))?;
            }
        }

        let config = dom
            .xml_desc(sys::VIR_DOMAIN_XML_INACTIVE)
            .map_err(lv(ctx))?;
        let max_kib = max_memory_kib(&config)?;
        let set_max_mem = || {
            dom.set_memory_flags(
                kib,
                sys::VIR_DOMAIN_MEM_MAXIMUM | sys::VIR_DOMAIN_AFFECT_CONFIG,
            )
        };
        let set_mem = || dom.set_memory_flags(kib, sys::VIR_DOMAIN_AFFECT_CONFIG);
        if kib > max_kib {
            set_max_mem().map_err(lv(ctx))?;
            set_mem().map_err(lv(ctx))?;
        } else {
            set_mem().map_err(lv(ctx))?;
            if kib < max_kib {
                set_max_mem().map_err(lv(ctx))?;
            }
        }
        Ok(())
    }

    /// Applies vCPUs and memory to the running domain when the driver can; false when the
    /// new size needs a restart.
    fn try_live_size(&self, dom: &Domain, vcpus: u32, kib: u64) -> Result<bool, EngineError> {
        let ctx = "reading the running host";
        let info = dom.info().map_err(lv(ctx))?;
        let max_vcpus = dom
            .vcpus_flags(sys::VIR_DOMAIN_VCPU_MAXIMUM | sys::VIR_DOMAIN_AFFECT_LIVE)
            .map_err(lv(ctx))?;
        if vcpus > max_vcpus || kib > info.max_mem {
            return Ok(false);
        }
        if info.nr_virt_cpu != vcpus
            && dom
                .set_vcpus_flags(vcpus, sys::VIR_DOMAIN_AFFECT_LIVE)
                .is_err()
        {
            return Ok(false);
        }
        if info.memory != kib
            && dom
                .set_memory_flags(kib, sys::VIR_DOMAIN_AFFECT_LIVE)
                .is_err()
        {
            return Ok(false);
        }
        Ok(true)
    }

    /// Shuts the domain down gracefully, forcing it off after the shutdown timeout.
    fn stop(&self, dom: &Domain) -> Result<(), EngineError> {
        if dom.shutdown().is_ok() {
            let deadline = Instant::now() + self.shutdown_timeout;
            while dom
                .is_active()
                .map_err(lv("waiting for the host to stop"))?
                && Instant::now() < deadline
            {
                std::thread::sleep(Duration::from_millis(200));
            }
        }
        if dom.is_active().map_err(lv("stopping the host"))? {
            dom.destroy().map_err(lv("forcing the host off"))?;
        }
        Ok(())
    }

    /// Active domains that have the disk at `path` attached, with its target device.
    fn running_attachments(&self, path: &str) -> Result<Vec<(Domain, String)>, EngineError> {
        let doms = self
            .conn
            .list_all_domains(sys::VIR_CONNECT_LIST_DOMAINS_ACTIVE)
            .map_err(lv("listing hosts"))?;
        let mut found = Vec::new();
        for dom in doms {
            let Ok(xml) = dom.xml_desc(0) else { continue };
            if let Some(target) = disks(&xml)?
                .into_iter()
                .find(|d| d.source.as_deref() == Some(path))
                .and_then(|d| d.target)
            {
                found.push((dom, target));
            }
        }
        Ok(found)
    }

    fn update_dhcp_host(
        &self,
        net: &Network,
        cmd: sys::virNetworkUpdateCommand,
        ip_index: usize,
        entry: &str,
    ) -> Result<(), VirtError> {
        let mut flags = 0;
        if net.is_persistent()? {
            flags |= sys::VIR_NETWORK_UPDATE_AFFECT_CONFIG;
        }
        if net.is_active()? {
            flags |= sys::VIR_NETWORK_UPDATE_AFFECT_LIVE;
        }
        let index = i32::try_from(ip_index).unwrap_or(-1);
        net.update(
            cmd,
            sys::VIR_NETWORK_SECTION_IP_DHCP_HOST,
            index,
            entry,
            flags,
        )
    }
}

impl Engine for LibvirtEngine {
    fn name(&self) -> &'static str {
        "libvirt"
    }

    fn create_host(&self, spec: &HostSpec) -> Result<String, EngineError> {
        spec.validate()?;
        self.ensure_no_domain(&spec.name)?;
        let dom = self
            .conn
            .define_domain_xml(&self.domain_xml(spec))
            .map_err(lv(&format!("defining host {}", spec.name)))?;
        if let Err(e) = dom.create() {
            // Leave nothing half-made behind.
            let _ = dom.undefine();
            return Err(lv(&format!("starting host {}", spec.name))(e));
        }
        let uuid = dom.uuid_string().map_err(lv("reading the host's UUID"))?;
        Ok(format!("{DOMAIN_PREFIX}{uuid}"))
    }

    fn resize_host(&self, r: &str, vcpus: u32, memory_mib: u64) -> Result<(), EngineError> {
        validate_size(vcpus, memory_mib)?;
        let kib = memory_mib
            .checked_mul(1024)
            .ok_or_else(|| EngineError::InvalidSpec(format!("{memory_mib} MiB is too much")))?;
        let dom = self.domain(r)?;
        self.set_config_size(&dom, vcpus, kib)?;
        if dom.is_active().map_err(lv("reading the host's state"))?
            && !self.try_live_size(&dom, vcpus, kib)?
        {
            self.stop(&dom)?;
            dom.create()
                .map_err(lv("starting the host with its new size"))?;
        }
        Ok(())
    }

    fn delete_host(&self, r: &str) -> Result<(), EngineError> {
        let dom = self.domain(r)?;
        if dom.is_active().map_err(lv("reading the host's state"))? {
            dom.destroy().map_err(lv("forcing the host off"))?;
        }
        // The most thorough undefine the driver accepts: drivers reject flags they do not
        // know with an invalid-argument error (the test driver knows only the first two).
        let save_and_snapshots =
            sys::VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | sys::VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA;
        let attempts = [
            save_and_snapshots
                | sys::VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA
                | sys::VIR_DOMAIN_UNDEFINE_NVRAM,
            save_and_snapshots,
            0,
        ];
        let mut last = None;
        for flags in attempts {
            match dom.undefine_flags(flags) {
                Ok(()) => return Ok(()),
                Err(e)
                    if is(&e, ErrorNumber::InvalidArg)
                        || is(&e, ErrorNumber::NoSupport)
                        || is(&e, ErrorNumber::ArgumentUnsupported) =>
                {
                    last = Some(e);
                }
                Err(e) => return Err(lv("undefining the host")(e)),
            }
        }
        Err(lv("undefining the host")(
            last.expect("at least one attempt"),
        ))
    }

    fn create_volume(&self, spec: &VolumeSpec) -> Result<String, EngineError> {
        spec.validate()?;
        let bytes = gib_to_bytes(spec.size_gib)?;
        let pool = self.storage_pool(&self.pool)?;
        self.ensure_no_volume(&pool, &spec.name)?;
        let xml = format!(
            "<volume><name>{}</name><capacity unit='bytes'>{bytes}</capacity></volume>",
            spec.name
        );
        StorageVol::create_xml(&pool, &xml, 0)
            .map_err(lv(&format!("creating volume {}", spec.name)))?;
        Ok(VolRef {
            pool: self.pool.clone(),
            name: spec.name.clone(),
            iops: spec.iops,
        }
        .to_string())
    }

    fn resize_volume(&self, r: &str, size_gib: u64) -> Result<(), EngineError> {
        let v = VolRef::parse(r)?;
        let bytes = gib_to_bytes(size_gib)?;
        let (_, vol) = self.volume(&v)?;
        let capacity = vol.info().map_err(lv("reading the volume"))?.capacity;
        if bytes < capacity {
            return Err(EngineError::InvalidSpec(format!(
                "volume {} has {capacity} bytes; shrinking it to {bytes} would destroy data",
                v.name
            )));
        }
        if bytes == capacity {
            return Ok(());
        }
        let path = vol.path().map_err(lv("reading the volume's path"))?;
        if let Some((dom, target)) = self.running_attachments(&path)?.into_iter().next() {
            // Through the running domain, so that the guest sees the new size.
            return dom
                .block_resize(&target, bytes, sys::VIR_DOMAIN_BLOCK_RESIZE_BYTES)
                .map_err(lv(&format!("resizing volume {} through its host", v.name)));
        }
        vol.resize(bytes, 0)
            .map_err(lv(&format!("resizing volume {}", v.name)))
    }

    fn snapshot_volume(&self, r: &str, snapshot: &str) -> Result<String, EngineError> {
        let v = VolRef::parse(r)?;
        validate_name("snapshot name", snapshot)?;
        let name = format!("{}-{snapshot}", v.name);
        validate_name("snapshot volume name", &name)?;
        let (pool, src) = self.volume(&v)?;
        self.ensure_no_volume(&pool, &name)?;
        let capacity = src.info().map_err(lv("reading the volume"))?.capacity;
        let xml = format!(
            "<volume><name>{name}</name><capacity unit='bytes'>{capacity}</capacity></volume>"
        );
        StorageVol::create_xml_from(&pool, &xml, &src, 0)
            .map_err(lv(&format!("copying volume {} to {name}", v.name)))?;
        Ok(VolRef {
            pool: v.pool,
            name,
            iops: v.iops,
        }
        .to_string())
    }

    fn delete_volume(&self, r: &str) -> Result<(), EngineError> {
        let v = VolRef::parse(r)?;
        let (_, vol) = self.volume(&v)?;
        vol.delete(0)
            .map_err(lv(&format!("deleting volume {}", v.name)))
    }

    fn attach_volume(&self, host: &str, volume: &str) -> Result<(), EngineError> {
        let v = VolRef::parse(volume)?;
        let dom = self.domain(host)?;
        let (_, vol) = self.volume(&v)?;
        let path = vol.path().map_err(lv("reading the volume's path"))?;
        let kind = vol.info().map_err(lv("reading the volume"))?.kind;
        let format = volume_format(&vol.xml_desc(0).map_err(lv("reading the volume"))?)?;

        let live = dom.xml_desc(0).map_err(lv("reading the host"))?;
        let config = dom
            .xml_desc(sys::VIR_DOMAIN_XML_INACTIVE)
            .map_err(lv("reading the host"))?;
        let mut used = HashSet::new();
        for xml in [&live, &config] {
            for disk in disks(xml)? {
                if disk.source.as_deref() == Some(path.as_str())
                    || disk.source.as_deref() == Some(&format!("{}/{}", v.pool, v.name))
                {
                    return Err(EngineError::Conflict(format!(
                        "volume {} is already attached to host {host}",
                        v.name
                    )));
                }
                used.extend(disk.target);
            }
        }
        let target = (b'a'..=b'z')
            .map(|c| format!("vd{}", c as char))
            .find(|t| !used.contains(t))
            .ok_or_else(|| EngineError::Exhausted(format!("host {host} has no free disk slot")))?;

        let disk = disk_xml(kind, &path, &v, &format, &target);
        let mut flags = sys::VIR_DOMAIN_AFFECT_CONFIG;
        if dom.is_active().map_err(lv("reading the host's state"))? {
            flags |= sys::VIR_DOMAIN_AFFECT_LIVE;
        }
        match dom.attach_device_flags(&disk, flags) {
            Ok(()) => Ok(()),
            Err(e) if is(&e, ErrorNumber::NoSupport) => {
                // No hot-plug in this driver: into the persistent definition, effective at
                // the next start.
                let xml = insert_device(&config, &disk)?;
                self.conn
                    .define_domain_xml(&xml)
                    .map(drop)
                    .map_err(lv("adding the disk to the host's definition"))
            }
            Err(e) => Err(lv(&format!("attaching volume {}", v.name))(e)),
        }
    }

    fn allocate_ip(&self, network: &str) -> Result<String, EngineError> {
        let net = self.network(network)?;
        let _guard = self.ip_lock.lock().unwrap_or_else(|p| p.into_inner());
        // Addresses whose reservation libvirt refused (another process took it, or an
        // entry elsewhere holds the derived MAC).
        let mut refused = HashSet::new();
        for _ in 0..IP_ATTEMPTS {
            let xml = net
                .xml_desc(0)
                .map_err(lv(&format!("reading network {network}")))?;
            let Some((index, ip)) = NetworkView::parse(&xml)?.first_free(&refused) else {
                return Err(EngineError::Exhausted(format!(
                    "network {network} has no free address in its DHCP ranges"
                )));
            };
            let entry = format!("<host mac='{}' ip='{ip}'/>", mac_for(ip));
            match self.update_dhcp_host(
                &net,
                sys::VIR_NETWORK_UPDATE_COMMAND_ADD_LAST,
                index,
                &entry,
            ) {
                Ok(()) => return Ok(ip.to_string()),
                Err(e) if is(&e, ErrorNumber::OperationInvalid) => {
                    refused.insert(ip);
                }
                Err(e) => return Err(lv(&format!("reserving {ip} in network {network}"))(e)),
            }
        }
        Err(EngineError::Backend(format!(
            "could not reserve an address in network {network} after {IP_ATTEMPTS} attempts"
        )))
    }

    fn release_ip(&self, network: &str, ip: &str) -> Result<(), EngineError> {
        let addr: Ipv4Addr = ip
            .parse()
            .map_err(|_| EngineError::InvalidSpec(format!("{ip:?} is not an IPv4 address")))?;
        let net = self.network(network)?;
        let _guard = self.ip_lock.lock().unwrap_or_else(|p| p.into_inner());
        let xml = net
            .xml_desc(0)
            .map_err(lv(&format!("reading network {network}")))?;
        let view = NetworkView::parse(&xml)?;
        let host = view.hosts.iter().find(|h| h.ip == addr).ok_or_else(|| {
            EngineError::NotFound(format!("no reservation of {ip} in network {network}"))
        })?;
        let mut entry = format!("<host ip='{addr}'");
        if let Some(mac) = &host.mac {
            entry.push_str(&format!(" mac='{}'", xml_escape(mac)));
        }
        if let Some(name) = &host.name {
            entry.push_str(&format!(" name='{}'", xml_escape(name)));
        }
        entry.push_str("/>");
        self.update_dhcp_host(
            &net,
            sys::VIR_NETWORK_UPDATE_COMMAND_DELETE,
            host.ip_index,
            &entry,
        )
        .map_err(lv(&format!("releasing {ip} in network {network}")))
    }

    fn describe(&self, r: &str) -> Result<Option<Described>, EngineError> {
        if r.starts_with(DOMAIN_PREFIX) {
            let dom = match self.domain(r) {
                Ok(d) => d,
                Err(EngineError::NotFound(_)) => return Ok(None),
                Err(e) => return Err(e),
            };
            let info = dom.info().map_err(lv("reading the host"))?;
            Ok(Some(Described::Host {
                vcpus: info.nr_virt_cpu,
                memory_mib: info.memory / 1024,
                running: matches!(
                    info.state,
                    Enum::Known(DomainState::Running | DomainState::Blocked)
                ),
            }))
        } else {
            let v = VolRef::parse(r)?;
            let vol = match self.volume(&v) {
                Ok((_, vol)) => vol,
                Err(EngineError::NotFound(_)) => return Ok(None),
                Err(e) => return Err(e),
            };
            let info = vol.info().map_err(lv("reading the volume"))?;
            Ok(Some(Described::Volume {
                capacity_bytes: info.capacity,
            }))
        }
    }
}

/// A volume reference: `libvirt:volume:<pool>/<name>?iops=<N>`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct VolRef {
    pool: String,
    name: String,
    iops: u32,
}

impl VolRef {
    fn parse(r: &str) -> Result<Self, EngineError> {
        let bad = || {
            EngineError::InvalidRef(format!(
                "{r:?} is not a libvirt volume reference ({VOLUME_PREFIX}<pool>/<name>?iops=<N>)"
            ))
        };
        let rest = r.strip_prefix(VOLUME_PREFIX).ok_or_else(bad)?;
        let (path, query) = rest.split_once('?').ok_or_else(bad)?;
        let (pool, name) = path.split_once('/').ok_or_else(bad)?;
        let iops = query
            .strip_prefix("iops=")
            .and_then(|n| n.parse().ok())
            .ok_or_else(bad)?;
        if validate_name("pool", pool).is_err() || validate_name("volume", name).is_err() {
            return Err(bad());
        }
        Ok(VolRef {
            pool: pool.to_string(),
            name: name.to_string(),
            iops,
        })
    }
}

impl std::fmt::Display for VolRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{VOLUME_PREFIX}{}/{}?iops={}",
            self.pool, self.name, self.iops
        )
    }
}

/// Maps a libvirt error to an [`EngineError`], with `context` in front of libvirt's message.
fn lv(context: &str) -> impl FnOnce(VirtError) -> EngineError + '_ {
    move |e| {
        let msg = format!("{context}: {}", e.message());
        match e.code() {
            Enum::Known(
                ErrorNumber::NoDomain
                | ErrorNumber::NoStorageVolume
                | ErrorNumber::NoStoragePool
                | ErrorNumber::NoNetwork,
            ) => EngineError::NotFound(msg),
            Enum::Known(
                ErrorNumber::NoSupport
                | ErrorNumber::OperationUnsupported
                | ErrorNumber::ArgumentUnsupported,
            ) => EngineError::Unsupported(msg),
            Enum::Known(
                ErrorNumber::DomExist | ErrorNumber::StorageVolExist | ErrorNumber::NetworkExist,
            ) => EngineError::Conflict(msg),
            _ => EngineError::Backend(msg),
        }
    }
}

fn is(e: &VirtError, code: ErrorNumber) -> bool {
    e.code() == Enum::Known(code)
}

fn gib_to_bytes(size_gib: u64) -> Result<u64, EngineError> {
    if size_gib == 0 {
        return Err(EngineError::InvalidSpec(
            "a volume needs at least 1 GiB".into(),
        ));
    }
    size_gib
        .checked_mul(GIB)
        .ok_or_else(|| EngineError::InvalidSpec(format!("{size_gib} GiB is too much")))
}

fn parse_xml(xml: &str) -> Result<roxmltree::Document<'_>, EngineError> {
    roxmltree::Document::parse(xml)
        .map_err(|e| EngineError::Backend(format!("libvirt returned XML that does not parse: {e}")))
}

/// Escapes a value for an XML attribute in single or double quotes.
fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\'' => out.push_str("&apos;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

/// The `<memory>` (maximum memory) of a domain XML, in KiB.
fn max_memory_kib(xml: &str) -> Result<u64, EngineError> {
    let doc = parse_xml(xml)?;
    let node = doc
        .root_element()
        .children()
        .find(|n| n.has_tag_name("memory"))
        .ok_or_else(|| EngineError::Backend("the host's definition has no <memory>".into()))?;
    let value: u64 = node
        .text()
        .and_then(|t| t.trim().parse().ok())
        .ok_or_else(|| EngineError::Backend("the host's <memory> is not a number".into()))?;
    let factor = match node.attribute("unit").unwrap_or("KiB") {
        "b" | "bytes" => return Ok(value / 1024),
        "KiB" | "k" | "K" => 1,
        "MiB" | "M" => 1 << 10,
        "GiB" | "G" => 1 << 20,
        "TiB" | "T" => 1 << 30,
        other => {
            return Err(EngineError::Backend(format!(
                "unexpected memory unit {other:?} in the host's definition"
            )))
        }
    };
    Ok(value.saturating_mul(factor))
}

/// A `<disk>` of a domain XML: its source (file, device, or `pool/volume`) and target.
#[derive(Debug)]
struct Disk {
    source: Option<String>,
    target: Option<String>,
}

fn disks(xml: &str) -> Result<Vec<Disk>, EngineError> {
    let doc = parse_xml(xml)?;
    Ok(doc
        .descendants()
        .filter(|n| n.has_tag_name("disk") && n.parent().is_some_and(|p| p.has_tag_name("devices")))
        .map(|disk| {
            let child = |tag: &str| disk.children().find(|n| n.has_tag_name(tag));
            let source = child("source").and_then(|s| {
                s.attribute("file")
                    .or(s.attribute("dev"))
                    .map(str::to_string)
                    .or_else(|| {
                        Some(format!(
                            "{}/{}",
                            s.attribute("pool")?,
                            s.attribute("volume")?
                        ))
                    })
            });
            let target = child("target")
                .and_then(|t| t.attribute("dev"))
                .map(str::to_string);
            Disk { source, target }
        })
        .collect())
}

/// The format (`raw`, `qcow2`…) of a volume XML; `raw` when it does not say.
fn volume_format(xml: &str) -> Result<String, EngineError> {
    let doc = parse_xml(xml)?;
    Ok(doc
        .descendants()
        .find(|n| n.has_tag_name("format") && n.parent().is_some_and(|p| p.has_tag_name("target")))
        .and_then(|n| n.attribute("type"))
        .unwrap_or("raw")
        .to_string())
}

/// The `<disk>` element that attaches a volume, with the IOPS limit in `<iotune>`.
fn disk_xml(kind: u32, path: &str, v: &VolRef, format: &str, target: &str) -> String {
    let (disk_type, source) = match kind {
        sys::VIR_STORAGE_VOL_FILE => ("file", format!("<source file='{}'/>", xml_escape(path))),
        sys::VIR_STORAGE_VOL_BLOCK => ("block", format!("<source dev='{}'/>", xml_escape(path))),
        _ => (
            "volume",
            format!("<source pool='{}' volume='{}'/>", v.pool, v.name),
        ),
    };
    let iotune = if v.iops > 0 {
        format!(
            "<iotune><total_iops_sec>{}</total_iops_sec></iotune>",
            v.iops
        )
    } else {
        String::new()
    };
    format!(
        "<disk type='{disk_type}' device='disk'><driver name='qemu' type='{}'/>{source}\
         <target dev='{target}' bus='virtio'/>{iotune}</disk>",
        xml_escape(format)
    )
}

/// Inserts `device` at the end of the `<devices>` of a domain XML.
fn insert_device(xml: &str, device: &str) -> Result<String, EngineError> {
    let doc = parse_xml(xml)?;
    let root = doc.root_element();
    let mut out = String::with_capacity(xml.len() + device.len() + 32);
    match root.children().find(|n| n.has_tag_name("devices")) {
        Some(devices) => {
            let range = devices.range();
            let element = &xml[range.clone()];
            if element.ends_with("/>") {
                out.push_str(&xml[..range.start]);
                out.push_str(&format!("<devices>{device}</devices>"));
            } else {
                let close = element
                    .rfind("</")
                    .map(|i| range.start + i)
                    .ok_or_else(|| {
                        EngineError::Backend(
                            "unexpected <devices> element in the host's XML".into(),
                        )
                    })?;
                out.push_str(&xml[..close]);
                out.push_str(device);
                out.push_str(&xml[close..range.end]);
            }
            out.push_str(&xml[range.end..]);
        }
        None => {
            let range = root.range();
            let close = xml[range.clone()]
                .rfind("</")
                .map(|i| range.start + i)
                .ok_or_else(|| {
                    EngineError::Backend("unexpected <domain> element in the host's XML".into())
                })?;
            out.push_str(&xml[..close]);
            out.push_str(&format!("<devices>{device}</devices>"));
            out.push_str(&xml[close..]);
        }
    }
    Ok(out)
}

/// The IPv4 DHCP ranges and host reservations of a network XML.
#[derive(Debug, Default)]
struct NetworkView {
    /// (index of the `<ip>` element among all of them, own address, start, end)
    ranges: Vec<(usize, Option<Ipv4Addr>, Ipv4Addr, Ipv4Addr)>,
    hosts: Vec<DhcpHost>,
}

#[derive(Debug)]
struct DhcpHost {
    ip_index: usize,
    ip: Ipv4Addr,
    mac: Option<String>,
    name: Option<String>,
}

impl NetworkView {
    fn parse(xml: &str) -> Result<Self, EngineError> {
        let doc = parse_xml(xml)?;
        let mut view = NetworkView::default();
        let ips = doc
            .root_element()
            .children()
            .filter(|n| n.has_tag_name("ip"));
        for (index, ip) in ips.enumerate() {
            if ip.attribute("family").is_some_and(|f| f != "ipv4") {
                continue;
            }
            let own = ip.attribute("address").and_then(|a| a.parse().ok());
            let Some(dhcp) = ip.children().find(|n| n.has_tag_name("dhcp")) else {
                continue;
            };
            for n in dhcp.children() {
                let addr = |name| n.attribute(name).and_then(|a| a.parse::<Ipv4Addr>().ok());
                if n.has_tag_name("range") {
                    if let (Some(start), Some(end)) = (addr("start"), addr("end")) {
                        view.ranges.push((index, own, start, end));
                    }
                } else if n.has_tag_name("host") {
                    if let Some(ip) = addr("ip") {
                        view.hosts.push(DhcpHost {
                            ip_index: index,
                            ip,
                            mac: n.attribute("mac").map(str::to_string),
                            name: n.attribute("name").map(str::to_string),
                        });
                    }
                }
            }
        }
        Ok(view)
    }

    /// The first address of the ranges, in order, that no reservation holds and that is
    /// not in `skip`, with the index of its `<ip>` element.
    fn first_free(&self, skip: &HashSet<Ipv4Addr>) -> Option<(usize, Ipv4Addr)> {
        let taken: HashSet<Ipv4Addr> = self.hosts.iter().map(|h| h.ip).collect();
        self.ranges.iter().find_map(|&(index, own, start, end)| {
            (u32::from(start)..=u32::from(end))
                .map(Ipv4Addr::from)
                .find(|ip| !taken.contains(ip) && !skip.contains(ip) && Some(*ip) != own)
                .map(|ip| (index, ip))
        })
    }
}

/// A locally administered MAC in QEMU's `52:54:00` prefix, derived from the address.
fn mac_for(ip: Ipv4Addr) -> String {
    let [_, b, c, d] = ip.octets();
    format!("52:54:00:{b:02x}:{c:02x}:{d:02x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_refs_round_trip() {
        let v = VolRef {
            pool: "default".into(),
            name: "data-1".into(),
            iops: 3000,
        };
        let s = v.to_string();
        assert_eq!(s, "libvirt:volume:default/data-1?iops=3000");
        assert_eq!(VolRef::parse(&s).unwrap(), v);
        for bad in [
            "manual:data-1",
            "libvirt:volume:default/data-1",
            "libvirt:volume:data-1?iops=1",
            "libvirt:volume:default/da'ta?iops=1",
            "libvirt:volume:default/data-1?iops=x",
        ] {
            assert_eq!(
                VolRef::parse(bad).unwrap_err().code(),
                "invalid_ref",
                "{bad}"
            );
        }
    }

    #[test]
    fn network_view_picks_the_first_free_address() {
        let xml = "<network><name>n</name>\
            <ip family='ipv6' address='fd00::1' prefix='64'><dhcp><range start='fd00::10' end='fd00::20'/></dhcp></ip>\
            <ip address='10.0.0.1' netmask='255.255.255.0'><dhcp>\
              <range start='10.0.0.1' end='10.0.0.4'/>\
              <host mac='52:54:00:00:00:02' ip='10.0.0.2'/>\
            </dhcp></ip></network>";
        let view = NetworkView::parse(xml).unwrap();
        assert_eq!(view.hosts.len(), 1);
        assert_eq!(view.hosts[0].ip_index, 1);
        let mut skip = HashSet::new();
        assert_eq!(
            view.first_free(&skip),
            Some((1, "10.0.0.3".parse().unwrap()))
        );
        skip.insert("10.0.0.3".parse().unwrap());
        assert_eq!(
            view.first_free(&skip),
            Some((1, "10.0.0.4".parse().unwrap()))
        );
        skip.insert("10.0.0.4".parse().unwrap());
        assert_eq!(view.first_free(&skip), None);
    }

    #[test]
    fn macs_are_derived_from_addresses() {
        assert_eq!(
            mac_for("192.168.122.2".parse().unwrap()),
            "52:54:00:a8:7a:02"
        );
    }

    #[test]
    fn devices_are_inserted() {
        let disk = "<disk/>";
        assert_eq!(
            insert_device("<domain><devices>\n  </devices>\n</domain>", disk).unwrap(),
            "<domain><devices>\n  <disk/></devices>\n</domain>"
        );
        assert_eq!(
            insert_device("<domain><devices/></domain>", disk).unwrap(),
            "<domain><devices><disk/></devices></domain>"
        );
        assert_eq!(
            insert_device("<domain><name>x</name></domain>", disk).unwrap(),
            "<domain><name>x</name><devices><disk/></devices></domain>"
        );
    }

    #[test]
    fn memory_units() {
        assert_eq!(
            max_memory_kib("<domain><memory unit='KiB'>524288</memory></domain>").unwrap(),
            524288
        );
        assert_eq!(
            max_memory_kib("<domain><memory unit='MiB'>512</memory></domain>").unwrap(),
            524288
        );
        assert_eq!(
            max_memory_kib("<domain><memory>1024</memory></domain>").unwrap(),
            1024
        );
    }

    #[test]
    fn disks_carry_iotune() {
        let v = VolRef {
            pool: "p".into(),
            name: "v".into(),
            iops: 500,
        };
        let xml = disk_xml(sys::VIR_STORAGE_VOL_FILE, "/p/v", &v, "raw", "vda");
        assert!(xml.contains("<source file='/p/v'/>"), "{xml}");
        assert!(xml.contains("<iotune><total_iops_sec>500</total_iops_sec></iotune>"));
        let unlimited = VolRef { iops: 0, ..v };
        assert!(!disk_xml(
            sys::VIR_STORAGE_VOL_BLOCK,
            "/dev/x",
            &unlimited,
            "raw",
            "vda"
        )
        .contains("iotune"));
    }
}
