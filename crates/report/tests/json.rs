mod common;

use govcloud_report::json::{from_json, to_json};

#[test]
fn canonical_json_round_trips_byte_for_byte() {
    for pkg in 1..=5 {
        let s = common::sample(pkg);
        let bytes = to_json(&s);
        assert_eq!(
            to_json(&s),
            bytes,
            "package {pkg}: same statement, same bytes"
        );
        let back = from_json(&bytes).unwrap();
        assert_eq!(back, s, "package {pkg}");
        assert_eq!(to_json(&back), bytes);
    }
}

#[test]
fn the_documented_fields_are_there_with_money_as_strings() {
    let s = common::sample(1);
    let v: serde_json::Value = serde_json::from_slice(&to_json(&s)).unwrap();
    assert_eq!(v["month"], "2026-12");
    assert_eq!(v["package"], 1);
    assert_eq!(v["total"], s.total.to_string());
    assert!(v["total"].as_str().unwrap().contains('.'));
    let line = &v["lines"][0];
    for k in ["item", "quantity", "days", "unit_price", "amount"] {
        assert!(line.get(k).is_some(), "line has {k}");
    }
    assert!(line["amount"].is_string() && line["unit_price"].is_string());
    // A price change on 16 December splits the first item into two lines.
    let first = v["lines"][0]["item"].as_str().unwrap();
    assert_eq!(
        v["lines"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|l| l["item"] == first)
            .count(),
        2
    );
}

#[test]
fn malformed_json_is_an_error_not_a_panic() {
    for bad in [&b"{"[..], b"[]", b"{\"schema\":\"other\"}", b"\xff"] {
        assert!(from_json(bad).is_err());
    }
    let s = common::sample(2);
    let text = String::from_utf8(to_json(&s)).unwrap();
    let tampered = text.replacen("\"total\": \"", "\"total\": \"x", 1);
    assert!(from_json(tampered.as_bytes()).is_err());
}
