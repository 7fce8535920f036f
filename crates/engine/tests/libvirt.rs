//! The libvirt engine against libvirt's own in-process test driver (`test:///default`).
//!
//! Every step is checked through libvirt's view on a second, independent connection to the
//! same driver (domain XML and info, volume info, pool listing, network XML), not only
//! through the engine's `describe`. The driver's state is shared by all connections of the
//! process, so each test uses names of its own.
#![cfg(feature = "libvirt")]

use std::net::Ipv4Addr;

use govcloud_engine::{Described, Engine, HostSpec, LibvirtEngine, VolumeSpec};
use virt::connect::Connect;
use virt::domain::{Domain, DomainState};
use virt::enumutil::Enum;
use virt::error::ErrorNumber;
use virt::sys;

const URI: &str = "test:///default";
const GIB: u64 = 1 << 30;

fn engine() -> Box<dyn Engine> {
    let engine = LibvirtEngine::connect(URI).expect("test:///default opens");
    assert_eq!(engine.domain_type(), "test");
    assert_eq!(engine.pool(), "default-pool");
    Box::new(engine)
}

/// libvirt's own view: another connection to the same in-process driver.
fn view() -> Connect {
    virt::error::clear_error_callback();
    Connect::open(Some(URI)).unwrap()
}

fn host(name: &str, vcpus: u32, memory_mib: u64, arch: &str) -> HostSpec {
    HostSpec {
        name: name.into(),
        vcpus,
        memory_mib,
        arch: arch.into(),
    }
}

fn volume(name: &str, size_gib: u64, tier: &str, iops: u32) -> VolumeSpec {
    VolumeSpec {
        name: name.into(),
        size_gib,
        tier: tier.into(),
        iops,
    }
}

fn running(dom: &Domain) -> bool {
    dom.info().unwrap().state == Enum::Known(DomainState::Running)
}

/// The text of the first element `tag` directly under the XML's root.
fn root_child(xml: &str, tag: &str) -> String {
    let doc = roxmltree::Document::parse(xml).unwrap();
    let node = doc
        .root_element()
        .children()
        .find(|n| n.has_tag_name(tag))
        .unwrap_or_else(|| panic!("no <{tag}> in {xml}"));
    node.text().unwrap_or("").trim().to_string()
}

#[test]
fn host_create_resize_delete() {
    let engine = engine();
    let libvirt = view();
    assert_eq!(engine.name(), "libvirt");

    let r = engine
        .create_host(&host("gc-host-1", 2, 512, "x86"))
        .unwrap();
    assert!(r.starts_with("libvirt:domain:"), "{r}");

    // libvirt's view: defined, persistent, running, with the spec's size.
    let dom = libvirt.lookup_domain_by_name("gc-host-1").unwrap();
    assert_eq!(format!("libvirt:domain:{}", dom.uuid_string().unwrap()), r);
    assert!(dom.is_persistent().unwrap());
    assert!(running(&dom));
    let info = dom.info().unwrap();
    assert_eq!((info.nr_virt_cpu, info.memory), (2, 512 * 1024));
    let xml = dom.xml_desc(0).unwrap();
    assert!(xml.starts_with("<domain type='test'"), "{xml}");
    assert!(xml.contains("<type arch='x86_64'>hvm</type>"), "{xml}");
    assert_eq!(root_child(&xml, "vcpu"), "2");
    assert_eq!(root_child(&xml, "memory"), "524288");
    assert!(libvirt
        .list_all_domains(0)
        .unwrap()
        .iter()
        .any(|d| d.name().unwrap() == "gc-host-1"));
    assert_eq!(
        engine.describe(&r).unwrap(),
        Some(Described::Host {
            vcpus: 2,
            memory_mib: 512,
            running: true
        })
    );
    assert_eq!(
        engine
            .create_host(&host("gc-host-1", 1, 256, "x86"))
            .unwrap_err()
            .code(),
        "conflict"
    );

    // Shrink: fits the running domain's maxima, applied live without a restart.
    // (virDomainGetID answers from the handle, so look the domain up afresh for its id.)
    let id = || libvirt.lookup_domain_by_name("gc-host-1").unwrap().id();
    let first_id = id();
    engine.resize_host(&r, 1, 256).unwrap();
    let info = dom.info().unwrap();
    assert_eq!((info.nr_virt_cpu, info.memory), (1, 256 * 1024));
    assert!(running(&dom));
    assert_eq!(id(), first_id, "a shrink must not restart the host");
    let config = dom.xml_desc(sys::VIR_DOMAIN_XML_INACTIVE).unwrap();
    assert_eq!(root_child(&config, "vcpu"), "1");
    assert_eq!(root_child(&config, "memory"), "262144");
    assert_eq!(root_child(&config, "currentMemory"), "262144");

    // Grow beyond the maxima: the definition changes and the host restarts with it.
    engine.resize_host(&r, 4, 1024).unwrap();
    let info = dom.info().unwrap();
    assert_eq!((info.nr_virt_cpu, info.memory), (4, 1024 * 1024));
    assert!(running(&dom));
    assert_ne!(
        id(),
        first_id,
        "growing beyond the maxima restarts the host"
    );
    let live = dom.xml_desc(0).unwrap();
    assert_eq!(root_child(&live, "vcpu"), "4");
    assert_eq!(root_child(&live, "memory"), "1048576");
    assert_eq!(
        engine.describe(&r).unwrap(),
        Some(Described::Host {
            vcpus: 4,
            memory_mib: 1024,
            running: true
        })
    );
    assert_eq!(
        engine.resize_host(&r, 0, 1024).unwrap_err().code(),
        "invalid_spec"
    );

    // Delete: gone from libvirt.
    engine.delete_host(&r).unwrap();
    let gone = libvirt.lookup_domain_by_name("gc-host-1").unwrap_err();
    assert_eq!(gone.code(), Enum::Known(ErrorNumber::NoDomain));
    assert!(!libvirt
        .list_all_domains(0)
        .unwrap()
        .iter()
        .any(|d| d.name().unwrap() == "gc-host-1"));
    assert_eq!(engine.describe(&r).unwrap(), None);
    assert_eq!(engine.delete_host(&r).unwrap_err().code(), "not_found");
    assert_eq!(
        engine.resize_host(&r, 1, 256).unwrap_err().code(),
        "not_found"
    );
}

#[test]
fn arm_and_c86_hosts() {
    let engine = engine();
    let libvirt = view();
    for (name, arch, libvirt_arch) in [
        ("gc-host-arm", "arm", "aarch64"),
        ("gc-host-c86", "c86", "x86_64"),
    ] {
        let r = engine.create_host(&host(name, 1, 128, arch)).unwrap();
        let xml = libvirt
            .lookup_domain_by_name(name)
            .unwrap()
            .xml_desc(0)
            .unwrap();
        assert!(
            xml.contains(&format!("<type arch='{libvirt_arch}'>hvm</type>")),
            "{xml}"
        );
        assert!(
            xml.contains(&format!("govcloud host, architecture {arch}")),
            "{xml}"
        );
        engine.delete_host(&r).unwrap();
    }
    assert_eq!(
        engine
            .create_host(&host("gc-host-bad", 1, 128, "sparc"))
            .unwrap_err()
            .code(),
        "invalid_spec"
    );
}

#[test]
fn volume_create_resize_snapshot_delete() {
    let engine = engine();
    let libvirt = view();
    let pool = libvirt.lookup_storage_pool_by_name("default-pool").unwrap();
    let listed = |name: &str| pool.list_volumes().unwrap().iter().any(|v| v == name);

    let r = engine
        .create_volume(&volume("gc-vol-1", 10, "performance", 3000))
        .unwrap();
    assert_eq!(r, "libvirt:volume:default-pool/gc-vol-1?iops=3000");
    assert!(listed("gc-vol-1"));
    let vol = pool.lookup_storage_vol_by_name("gc-vol-1").unwrap();
    assert_eq!(vol.info().unwrap().capacity, 10 * GIB);
    assert_eq!(
        engine.describe(&r).unwrap(),
        Some(Described::Volume {
            capacity_bytes: 10 * GIB
        })
    );
    assert_eq!(
        engine
            .create_volume(&volume("gc-vol-1", 1, "standard", 0))
            .unwrap_err()
            .code(),
        "conflict"
    );

    // Resize: grows where the driver can; libvirt 9.0's test driver has no
    // virStorageVolResize, and then nothing changes.
    match engine.resize_volume(&r, 20) {
        Ok(()) => {
            println!("volume resize: supported by this test driver");
            assert_eq!(vol.info().unwrap().capacity, 20 * GIB);
        }
        Err(e) => {
            println!("volume resize: {e}");
            assert_eq!(e.code(), "unsupported", "{e}");
            assert!(e.message().contains("virStorageVolResize"), "{e}");
            assert_eq!(vol.info().unwrap().capacity, 10 * GIB);
        }
    }
    let capacity = vol.info().unwrap().capacity;
    assert_eq!(
        engine.resize_volume(&r, 5).unwrap_err().code(),
        "invalid_spec"
    );
    engine.resize_volume(&r, capacity / GIB).unwrap();

    // Snapshot: a copy in the same pool, named <volume>-<snapshot>, same IOPS.
    let s = engine.snapshot_volume(&r, "daily").unwrap();
    assert_eq!(s, "libvirt:volume:default-pool/gc-vol-1-daily?iops=3000");
    assert!(listed("gc-vol-1-daily"));
    let snap = pool.lookup_storage_vol_by_name("gc-vol-1-daily").unwrap();
    assert_eq!(snap.info().unwrap().capacity, capacity);
    assert_eq!(
        engine.snapshot_volume(&r, "daily").unwrap_err().code(),
        "conflict"
    );
    assert_eq!(
        engine.snapshot_volume(&r, "no/slash").unwrap_err().code(),
        "invalid_spec"
    );

    // Delete both.
    engine.delete_volume(&s).unwrap();
    engine.delete_volume(&r).unwrap();
    assert!(!listed("gc-vol-1") && !listed("gc-vol-1-daily"));
    assert_eq!(
        pool.lookup_storage_vol_by_name("gc-vol-1")
            .unwrap_err()
            .code(),
        Enum::Known(ErrorNumber::NoStorageVolume)
    );
    assert_eq!(engine.describe(&r).unwrap(), None);
    assert_eq!(engine.delete_volume(&r).unwrap_err().code(), "not_found");
}

#[test]
fn attach_puts_the_tier_iops_into_iotune() {
    let engine = engine();
    let libvirt = view();
    let h = engine
        .create_host(&host("gc-host-attach", 1, 256, "x86"))
        .unwrap();
    let fast = engine
        .create_volume(&volume("gc-vol-fast", 1, "performance", 2500))
        .unwrap();
    let plain = engine
        .create_volume(&volume("gc-vol-plain", 1, "standard", 0))
        .unwrap();

    engine.attach_volume(&h, &fast).unwrap();
    assert_eq!(
        engine.attach_volume(&h, &fast).unwrap_err().code(),
        "conflict"
    );
    engine.attach_volume(&h, &plain).unwrap();

    let dom = libvirt.lookup_domain_by_name("gc-host-attach").unwrap();
    let check = |xml: &str| {
        let doc = roxmltree::Document::parse(xml).unwrap();
        let disks: Vec<_> = doc
            .descendants()
            .filter(|n| n.has_tag_name("disk"))
            .collect();
        assert_eq!(disks.len(), 2, "{xml}");
        let attr = |disk: &roxmltree::Node, tag: &str, name: &str| {
            disk.children()
                .find(|n| n.has_tag_name(tag))
                .and_then(|n| n.attribute(name))
                .map(str::to_string)
        };
        assert_eq!(disks[0].attribute("type"), Some("file"));
        assert_eq!(
            attr(&disks[0], "source", "file").as_deref(),
            Some("/default-pool/gc-vol-fast")
        );
        assert_eq!(attr(&disks[0], "target", "dev").as_deref(), Some("vda"));
        let iops = disks[0]
            .descendants()
            .find(|n| n.has_tag_name("total_iops_sec"))
            .and_then(|n| n.text());
        assert_eq!(iops, Some("2500"), "{xml}");
        assert_eq!(
            attr(&disks[1], "source", "file").as_deref(),
            Some("/default-pool/gc-vol-plain")
        );
        assert_eq!(attr(&disks[1], "target", "dev").as_deref(), Some("vdb"));
        assert!(
            !disks[1].descendants().any(|n| n.has_tag_name("iotune")),
            "no limit, no <iotune>: {xml}"
        );
    };
    // The persistent definition has both disks at once; the test driver has no device
    // hot-plug, so the running domain gets them at its next start.
    check(&dom.xml_desc(sys::VIR_DOMAIN_XML_INACTIVE).unwrap());
    dom.destroy().unwrap();
    dom.create().unwrap();
    check(&dom.xml_desc(0).unwrap());

    // Resizing an attached volume goes through the running host (virDomainBlockResize),
    // which the test driver does not have either.
    match engine.resize_volume(&fast, 2) {
        Ok(()) => assert_eq!(
            engine.describe(&fast).unwrap(),
            Some(Described::Volume {
                capacity_bytes: 2 * GIB
            })
        ),
        Err(e) => assert!(
            e.code() == "unsupported" && e.message().contains("virDomainBlockResize"),
            "{e}"
        ),
    }

    engine.delete_host(&h).unwrap();
    engine.delete_volume(&fast).unwrap();
    engine.delete_volume(&plain).unwrap();
    assert_eq!(
        engine.attach_volume(&h, &plain).unwrap_err().code(),
        "not_found"
    );
    assert_eq!(
        engine.attach_volume("manual:x", &plain).unwrap_err().code(),
        "invalid_ref"
    );
}

#[test]
fn ip_addresses_are_dhcp_reservations() {
    let engine = engine();
    let libvirt = view();
    let net = libvirt.lookup_network_by_name("default").unwrap();
    let reservations = || {
        let xml = net.xml_desc(0).unwrap();
        let doc = roxmltree::Document::parse(&xml).unwrap();
        doc.descendants()
            .filter(|n| n.has_tag_name("host"))
            .map(|n| {
                (
                    n.attribute("ip").unwrap().to_string(),
                    n.attribute("mac").unwrap().to_string(),
                )
            })
            .collect::<Vec<_>>()
    };
    let in_range = |ip: &str| {
        let ip: Ipv4Addr = ip.parse().unwrap();
        ip >= Ipv4Addr::new(192, 168, 122, 2) && ip <= Ipv4Addr::new(192, 168, 122, 254)
    };
    let before = reservations();

    let a = engine.allocate_ip("default").unwrap();
    let b = engine.allocate_ip("default").unwrap();
    assert_ne!(a, b);
    assert!(in_range(&a) && in_range(&b), "{a} {b}");
    let held = reservations();
    assert_eq!(held.len(), before.len() + 2, "{held:?}");
    for ip in [&a, &b] {
        let (_, mac) = held.iter().find(|(i, _)| i == ip).expect("reserved");
        assert!(mac.starts_with("52:54:00:"), "{mac}");
    }

    engine.release_ip("default", &a).unwrap();
    let held = reservations();
    assert!(!held.iter().any(|(ip, _)| *ip == a), "{held:?}");
    assert!(held.iter().any(|(ip, _)| *ip == b), "{held:?}");
    assert_eq!(
        engine.release_ip("default", &a).unwrap_err().code(),
        "not_found"
    );

    // The released address is the first free one again.
    let c = engine.allocate_ip("default").unwrap();
    assert_eq!(c, a);
    engine.release_ip("default", &c).unwrap();
    engine.release_ip("default", &b).unwrap();
    assert_eq!(reservations(), before);

    assert_eq!(
        engine.allocate_ip("no-such-net").unwrap_err().code(),
        "not_found"
    );
    assert_eq!(
        engine
            .release_ip("default", "not-an-ip")
            .unwrap_err()
            .code(),
        "invalid_spec"
    );
}

#[test]
fn references_are_checked() {
    let engine = engine();
    assert_eq!(
        engine.describe("manual:x").unwrap_err().code(),
        "invalid_ref"
    );
    assert_eq!(
        engine
            .describe("libvirt:domain:00000000-0000-0000-0000-000000000000")
            .unwrap(),
        None
    );
    assert_eq!(
        engine
            .describe("libvirt:volume:default-pool/none?iops=0")
            .unwrap(),
        None
    );
    assert_eq!(
        engine
            .delete_host("libvirt:domain:nope")
            .unwrap_err()
            .code(),
        "invalid_ref"
    );
    let other_pool = LibvirtEngine::connect(URI)
        .unwrap()
        .with_pool("no-such-pool")
        .unwrap();
    assert_eq!(
        other_pool
            .create_volume(&volume("gc-vol-x", 1, "standard", 0))
            .unwrap_err()
            .code(),
        "not_found"
    );
    assert_eq!(
        LibvirtEngine::connect("nosuchdriver:///x")
            .unwrap_err()
            .code(),
        "backend"
    );
}
