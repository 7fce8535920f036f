//! The manual engine: records only, never calls out, always succeeds on valid input.

use std::sync::Arc;

use govcloud_engine::{Engine, HostSpec, ManualEngine, VolumeSpec};

#[test]
fn manual_engine_records_without_provisioning() {
    let engine: Arc<dyn Engine> = Arc::new(ManualEngine::new());
    assert_eq!(engine.name(), "manual");

    let host = engine
        .create_host(&HostSpec {
            name: "web-01".into(),
            vcpus: 4,
            memory_mib: 8192,
            arch: "c86".into(),
        })
        .unwrap();
    assert_eq!(host, "manual:web-01");
    engine.resize_host(&host, 8, 16384).unwrap();
    assert_eq!(engine.describe(&host).unwrap(), None);

    let vol = engine
        .create_volume(&VolumeSpec {
            name: "data-01".into(),
            size_gib: 100,
            tier: "performance".into(),
            iops: 5000,
        })
        .unwrap();
    assert_eq!(vol, "manual:data-01");
    engine.resize_volume(&vol, 200).unwrap();
    assert_eq!(
        engine.snapshot_volume(&vol, "daily").unwrap(),
        "manual:data-01-daily"
    );
    engine.attach_volume(&host, &vol).unwrap();
    assert_eq!(engine.describe(&vol).unwrap(), None);

    // A placeholder, not an address: the provider's console assigns the address.
    assert_eq!(engine.allocate_ip("default").unwrap(), "manual:default");
    engine.release_ip("default", "10.0.0.5").unwrap();

    engine.delete_volume(&vol).unwrap();
    engine.delete_host(&host).unwrap();
}

#[test]
fn manual_engine_still_validates() {
    let engine = ManualEngine;
    let bad_host = HostSpec {
        name: "web 01".into(),
        vcpus: 1,
        memory_mib: 1,
        arch: "x86".into(),
    };
    assert_eq!(
        engine.create_host(&bad_host).unwrap_err().code(),
        "invalid_spec"
    );
    let bad_volume = VolumeSpec {
        name: "v".into(),
        size_gib: 1,
        tier: "gold".into(),
        iops: 0,
    };
    assert_eq!(
        engine.create_volume(&bad_volume).unwrap_err().code(),
        "invalid_spec"
    );
    assert_eq!(
        engine.resize_host("manual:h", 0, 1).unwrap_err().code(),
        "invalid_spec"
    );
    assert_eq!(
        engine.resize_volume("manual:v", 0).unwrap_err().code(),
        "invalid_spec"
    );
    assert_eq!(
        engine.delete_host("libvirt:domain:x").unwrap_err().code(),
        "invalid_ref"
    );
    assert_eq!(engine.describe("h").unwrap_err().code(), "invalid_ref");
    assert_eq!(
        engine
            .snapshot_volume("manual:v", "a b")
            .unwrap_err()
            .code(),
        "invalid_spec"
    );
}
