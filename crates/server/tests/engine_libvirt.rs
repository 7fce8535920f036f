//! Resources provisioned through libvirt (its in-process `test:///default` driver, a real
//! libvirt driver): creating, resizing and releasing a host and a volume through the API
//! shows in libvirt's own view and in govcloud's history. Built with `--features libvirt`.
#![cfg(feature = "libvirt")]

mod common;

use std::sync::Arc;

use govcloud_engine::{Described, Engine, LibvirtEngine};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

async fn call(
    app: &common::App,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut r = app.as_role(method, path, "operator");
    if let Some(b) = body {
        r = r.json(&b);
    }
    let r = r.send().await.unwrap();
    let st = r.status();
    (st, r.json().await.unwrap_or(Value::Null))
}

fn engine_ref(app: &common::App, id: &str) -> String {
    let rt = tokio::runtime::Handle::current();
    let store = app.store.clone();
    let id = id.to_owned();
    tokio::task::block_in_place(|| {
        rt.block_on(async move {
            store
                .resource(&id)
                .await
                .unwrap()
                .unwrap()
                .0
                .engine_ref
                .unwrap()
        })
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosts_and_volumes_follow_the_resources_in_libvirt() {
    let libvirt = Arc::new(LibvirtEngine::connect("test:///default").unwrap());
    // A second connection: libvirt's own view, not the engine's memory.
    let view = LibvirtEngine::connect("test:///default").unwrap();
    let app = common::spawn_app_with_engine(libvirt.clone()).await;

    // A 4-vCPU host with 8 GB.
    let (st, host) = call(
        &app,
        Method::POST,
        "/api/v1/resources",
        Some(
            json!({"system": "jypt", "item": "p1-vcpu", "quantity": "4", "spec": {"memory_gb": 8}}),
        ),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{host}");
    let hid = host["id"].as_str().unwrap().to_owned();
    let href = engine_ref(&app, &hid);
    assert_eq!(
        view.describe(&href).unwrap(),
        Some(Described::Host {
            vcpus: 4,
            memory_mib: 8192,
            running: true
        })
    );
    // Resize to 6 vCPUs.
    let (st, r) = call(
        &app,
        Method::POST,
        &format!("/api/v1/resources/{hid}/resize"),
        Some(json!({"quantity": "6"})),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{r}");
    match view.describe(&href).unwrap() {
        Some(Described::Host {
            vcpus, memory_mib, ..
        }) => assert_eq!((vcpus, memory_mib), (6, 8192)),
        other => panic!("{other:?}"),
    }
    // A 50 GB high-performance volume.
    let (st, vol) = call(&app, Method::POST, "/api/v1/resources",
        Some(json!({"system": "jypt", "item": "p1-high-performance-storage", "quantity": "50", "spec": {"iops": 5000}}))).await;
    assert_eq!(st, StatusCode::CREATED, "{vol}");
    let vid = vol["id"].as_str().unwrap().to_owned();
    let vref = engine_ref(&app, &vid);
    assert_eq!(
        view.describe(&vref).unwrap(),
        Some(Described::Volume {
            capacity_bytes: 50 << 30
        })
    );
    // Resizing a volume: libvirt's test driver has no volume resize, so the engine's refusal
    // comes back as 502 and the accounts are set back (both steps in the history).
    let (st, e) = call(
        &app,
        Method::POST,
        &format!("/api/v1/resources/{vid}/resize"),
        Some(json!({"quantity": "80"})),
    )
    .await;
    if st == StatusCode::OK {
        assert_eq!(
            view.describe(&vref).unwrap(),
            Some(Described::Volume {
                capacity_bytes: 80 << 30
            })
        );
    } else {
        assert_eq!(
            (st, e["code"].as_str()),
            (StatusCode::BAD_GATEWAY, Some("engine_failed")),
            "{e}"
        );
        let (_, v) = call(&app, Method::GET, &format!("/api/v1/resources/{vid}"), None).await;
        assert_eq!(v["quantity"], "50");
        let kinds: Vec<&str> = v["history"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["quantity"].as_str().unwrap())
            .collect();
        assert_eq!(kinds, ["50", "80", "50"]);
    }
    // Releasing deletes them in libvirt.
    for (id, r) in [(&hid, &href), (&vid, &vref)] {
        let (st, body) = call(
            &app,
            Method::DELETE,
            &format!("/api/v1/resources/{id}"),
            None,
        )
        .await;
        assert_eq!(st, StatusCode::OK, "{body}");
        assert_eq!(view.describe(r).unwrap(), None, "{r} is gone from libvirt");
    }
    // Public IPs come from the libvirt network's range, and follow resizes and release.
    let (st, ip) = call(
        &app,
        Method::POST,
        "/api/v1/resources",
        Some(json!({"system": "jypt", "item": "p1-internet-ip", "quantity": "2"})),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{ip}");
    let addrs = |v: &Value| -> Vec<String> {
        v["engine_ref"]
            .as_str()
            .unwrap()
            .strip_prefix("ips:default:")
            .unwrap()
            .split(',')
            .map(str::to_owned)
            .collect()
    };
    let two = addrs(&ip);
    assert_eq!(two.len(), 2);
    assert_ne!(two[0], two[1]);
    assert!(
        two.iter().all(|a| a.parse::<std::net::Ipv4Addr>().is_ok()),
        "{two:?}"
    );
    let iid = ip["id"].as_str().unwrap().to_owned();
    let (st, r) = call(
        &app,
        Method::POST,
        &format!("/api/v1/resources/{iid}/resize"),
        Some(json!({"quantity": "3"})),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{r}");
    let three = addrs(&r);
    assert_eq!(three.len(), 3);
    assert_eq!(&three[..2], &two[..], "the first two stay");
    let (st, _) = call(
        &app,
        Method::DELETE,
        &format!("/api/v1/resources/{iid}"),
        None,
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    // Given back: libvirt hands the same addresses out again.
    let again: Vec<String> = (0..3)
        .map(|_| view.allocate_ip("default").unwrap())
        .collect();
    for a in &three {
        assert!(again.contains(a), "{a} was released: {again:?}");
    }
    for a in &again {
        view.release_ip("default", a).unwrap();
    }

    // govcloud's history of the host: create, resize, release.
    let (_, h) = call(&app, Method::GET, &format!("/api/v1/resources/{hid}"), None).await;
    let kinds: Vec<&str> = h["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["create", "resize", "release"]);
}
