//! The console's 运维 page: it renders for every role with the forms that role may use, and
//! its forms do what the API does — a notice 25 hours ahead is published, 23 hours ahead is
//! refused with the Chinese message and nothing stored, an incident shows its SLA clocks,
//! the purchaser cannot publish notices.

mod common;

use chrono::{Duration, Utc};
use chrono_tz::Asia::Shanghai;
use common::{spawn_app, App};
use reqwest::{Method, StatusCode};
use serde_json::Value;

async fn page(app: &App, cookie: &str, path: &str) -> (StatusCode, String) {
    let r = app
        .http
        .get(app.url(path))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    (r.status(), r.text().await.unwrap())
}

async fn submit(
    app: &App,
    cookie: &str,
    path: &str,
    form: &[(&str, &str)],
) -> (StatusCode, String) {
    let r = app
        .http
        .post(app.url(path))
        .header("cookie", cookie)
        .form(form)
        .send()
        .await
        .unwrap();
    (r.status(), r.text().await.unwrap())
}

/// A `datetime-local` value in Beijing time, `hours` from now.
fn beijing_in(minutes: i64) -> String {
    (Utc::now() + Duration::minutes(minutes))
        .with_timezone(&Shanghai)
        .format("%Y-%m-%dT%H:%M")
        .to_string()
}

/// The part of the page from the element with this id to the end of its table row group.
fn section<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id} in {html}"));
    let rest = &html[start..];
    let end = rest.find("</tbody>").unwrap_or(rest.len());
    &rest[..end]
}

async fn notices(app: &App) -> Vec<Value> {
    app.as_role(Method::GET, "/api/v1/notices", "auditor")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ops_page_renders_for_every_role_with_its_forms() {
    let app = spawn_app().await;
    for (role, incident, notice, monitor, key_period, channel) in [
        ("admin", true, true, true, true, true),
        ("operator", true, true, true, true, true),
        ("purchaser", true, false, false, true, false),
        ("auditor", false, false, false, false, false),
    ] {
        let cookie = app.console_session(role).await;
        let (st, html) = page(&app, &cookie, "/ops").await;
        assert_eq!(st, StatusCode::OK, "{role}");
        for want in [
            "运维总览",
            "故障与 SLA",
            "维护日历",
            "重点时期",
            "月度运维报告",
            "href=\"/ops\"",
            "hx-get=\"/ops/live?month=",
            "<th>周一</th>",
        ] {
            assert!(html.contains(want), "{role}: {want} in {html}");
        }
        for (id, shown) in [
            ("incident-form", incident),
            ("notice-form", notice),
            ("monitor-form", monitor),
            ("key-period-form", key_period),
            ("channel-form", channel),
            ("deliveries-title", channel),
        ] {
            assert_eq!(
                html.contains(&format!("id=\"{id}\"")),
                shown,
                "{role}: #{id}"
            );
        }
        // The bundled key periods and the report links.
        assert!(
            html.contains("十一") && html.contains("format=pdf"),
            "{role}"
        );
        let (st, live) = page(&app, &cookie, "/ops/live").await;
        assert_eq!(st, StatusCode::OK);
        assert!(
            live.contains("id=\"ops-stamp\"") && !live.contains("<html"),
            "{live}"
        );
    }
    // Anonymous visitors are sent to the login page.
    let r = app.http.get(app.url("/ops")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notices_through_the_form_follow_the_rules() {
    let app = spawn_app().await;
    // Key periods are data; without them the test does not depend on today's date.
    let kps: Vec<Value> = app
        .as_role(Method::GET, "/api/v1/key-periods", "admin")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let operator = app.console_session("operator").await;
    for k in &kps {
        let (st, html) = submit(
            &app,
            &operator,
            "/ops/key-periods/remove",
            &[
                ("id", &k["id"].to_string()),
                ("name", k["name"].as_str().unwrap()),
            ],
        )
        .await;
        assert_eq!(st, StatusCode::OK);
        assert!(html.contains("已删除重点时期"), "{html}");
    }

    // 23 hours ahead: refused in Chinese, the form filled again, nothing stored.
    let purchaser = app.console_session("purchaser").await;
    let before = app.state().await;
    let (st, html) = submit(
        &app,
        &operator,
        "/ops/notices",
        &[
            ("title", "数据库版本升级（太晚）"),
            ("systems", "jypt"),
            ("systems", "zjk"),
            ("start", &beijing_in(23 * 60)),
            ("end", &beijing_in(25 * 60)),
            ("impact", "交易平台只读 2 小时"),
            ("rollback", "恢复快照"),
        ],
    )
    .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        html.contains("class=\"error\"") && html.contains("维护通知须至少提前 24 小时发布"),
        "{html}"
    );
    assert!(
        html.contains("id=\"notice-panel\" open")
            && html.contains("value=\"数据库版本升级（太晚）\"")
            && html.contains("value=\"zjk\" checked"),
        "the refused form keeps what was entered: {html}"
    );
    assert_eq!(app.state().await, before, "nothing stored, nothing audited");
    assert!(notices(&app).await.is_empty());

    // The purchaser does not publish notices.
    let (st, html) = submit(
        &app,
        &purchaser,
        "/ops/notices",
        &[
            ("title", "采购人的通知"),
            ("systems", "jypt"),
            ("start", &beijing_in(25 * 60)),
            ("end", &beijing_in(27 * 60)),
        ],
    )
    .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    assert!(html.contains("无权操作"), "{html}");
    assert_eq!(app.state().await, before);

    // 25 hours ahead: published, listed and on the calendar of its month.
    let (st, html) = submit(
        &app,
        &operator,
        "/ops/notices",
        &[
            ("title", "数据库版本升级"),
            ("systems", "jypt"),
            ("start", &beijing_in(25 * 60)),
            ("end", &beijing_in(27 * 60)),
            ("impact", "交易平台只读 2 小时"),
            ("rollback", "恢复快照"),
            ("month", "2026-01"),
        ],
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{html}");
    assert!(html.contains("已发布维护通知“数据库版本升级”"), "{html}");
    let listed = notices(&app).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["late"], false);
    let id = listed[0]["id"].as_str().unwrap();
    assert!(
        section(&html, &format!("notice-{id}")).contains("计划维护"),
        "{html}"
    );
    assert!(section(&html, "calendar").contains("数据库版本升级"));
    let start = Utc::now() + Duration::hours(25);
    let month = start.with_timezone(&Shanghai).format("%Y-%m").to_string();
    let day = start
        .with_timezone(&Shanghai)
        .format("%Y-%m-%d")
        .to_string();
    let (_, html) = page(&app, &purchaser, &format!("/ops?month={month}")).await;
    let calendar = section(&html, "calendar");
    let cell = &calendar[calendar.find(&format!("data-date=\"{day}\"")).unwrap()..];
    let cell = &cell[..cell.find("</td>").unwrap()];
    assert!(cell.contains("数据库版本升级"), "{cell}");
    assert!(
        !html.contains("id=\"notice-form\"") && !html.contains("取消通知"),
        "no notice form or cancel button for the purchaser"
    );

    // An emergency change within 24 hours needs its reason; with it, it is marked.
    let (st, html) = submit(
        &app,
        &operator,
        "/ops/notices",
        &[
            ("title", "安全补丁紧急修复"),
            ("systems", "jypt"),
            ("start", &beijing_in(120)),
            ("end", &beijing_in(180)),
            ("emergency", "on"),
        ],
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(html.contains("紧急变更须填写原因"), "{html}");
    let (st, html) = submit(
        &app,
        &operator,
        "/ops/notices",
        &[
            ("title", "安全补丁紧急修复"),
            ("systems", "jypt"),
            ("start", &beijing_in(120)),
            ("end", &beijing_in(180)),
            ("emergency", "on"),
            ("reason", "厂商高危漏洞通告"),
        ],
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{html}");
    assert!(html.contains("已发布紧急变更通知"), "{html}");
    assert!(html.contains("class=\"ntc emergency\""), "{html}");

    // A key period through the form: a notice inside it needs the override reason.
    let first = (start + Duration::days(9))
        .with_timezone(&Shanghai)
        .date_naive();
    let (st, html) = submit(
        &app,
        &purchaser,
        "/ops/key-periods",
        &[
            ("name", "年度业务高峰"),
            ("first_day", &first.to_string()),
            ("last_day", &(first + Duration::days(2)).to_string()),
        ],
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    assert!(html.contains("已添加重点时期“年度业务高峰”"), "{html}");
    let (st, html) = submit(
        &app,
        &operator,
        "/ops/notices",
        &[
            ("title", "高峰期内的维护"),
            ("systems", "jypt"),
            ("start", &beijing_in(11 * 24 * 60)),
            ("end", &beijing_in(11 * 24 * 60 + 60)),
        ],
    )
    .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("与重点时期“年度业务高峰”重叠"), "{html}");

    // Cancelling: struck through, listed as cancelled.
    let (st, html) = submit(
        &app,
        &operator,
        "/ops/notices/cancel",
        &[("id", id), ("month", &month)],
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    assert!(html.contains("已取消维护通知“数据库版本升级”"), "{html}");
    assert!(section(&html, &format!("notice-{id}")).contains("已取消"));
    assert!(
        section(&html, "calendar").contains("ntc cancelled"),
        "{html}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incidents_monitors_and_channels_through_the_forms() {
    let app = spawn_app().await;
    let purchaser = app.console_session("purchaser").await;
    // The purchaser reports an outage of the trading platform 10 minutes ago.
    let (st, html) = submit(
        &app,
        &purchaser,
        "/ops/incidents",
        &[
            ("target", "1/jypt"),
            ("severity", "outage"),
            ("title", "交易平台无法登录"),
            ("opened_at", &beijing_in(-10)),
        ],
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{html}");
    assert!(
        html.contains("已登记故障 INC-000001（交易平台无法登录）"),
        "{html}"
    );
    let row = section(&html, "incident-INC-000001");
    for want in [
        "响应",
        "恢复",
        "30 分钟",
        "4 小时",
        "计时中",
        "剩余",
        "采购人报告",
    ] {
        assert!(row.contains(want), "{want} in {row}");
    }
    // The live partial has the clocks too.
    let (_, live) = page(&app, &purchaser, "/ops/live").await;
    assert!(section(&live, "incident-INC-000001").contains("计时中"));

    // Refused: a system not in the package.
    let (st, html) = submit(
        &app,
        &purchaser,
        "/ops/incidents",
        &[("target", "4/jypt"), ("severity", "fault")],
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(html.contains("第 4 包没有业务系统 jypt"), "{html}");

    // The incident page: the purchaser may only ask for people on site.
    let (st, html) = page(&app, &purchaser, "/ops/incidents/INC-000001").await;
    assert_eq!(st, StatusCode::OK);
    assert!(
        html.contains("id=\"timeline\"") && html.contains("id=\"clocks\""),
        "{html}"
    );
    let form = &html[html.find("id=\"event-form\"").expect("an event form")..];
    assert!(form.contains("value=\"onsite_requested\"") && !form.contains("value=\"responded\""));
    let (st, _) = submit(
        &app,
        &purchaser,
        "/ops/incidents/INC-000001/events",
        &[("kind", "responded")],
    )
    .await;
    assert_eq!(st, StatusCode::FORBIDDEN);

    // The operator responds, then cannot close the outage without its report.
    let operator = app.console_session("operator").await;
    let (st, html) = submit(
        &app,
        &operator,
        "/ops/incidents/INC-000001/events",
        &[
            ("kind", "responded"),
            ("at", &beijing_in(-5)),
            ("note", "值班工程师已响应"),
        ],
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{html}");
    assert!(html.contains("已记录“已响应”") && html.contains("值班工程师已响应"));
    let clocks = section(&html, "clocks");
    assert!(clocks.contains("达标"), "{clocks}");
    let (st, html) = submit(
        &app,
        &operator,
        "/ops/incidents/INC-000001/events",
        &[("kind", "closed"), ("cause", "连接池耗尽")],
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(
        html.contains("关闭宕机故障须填写宕机报告") && html.contains("连接池耗尽"),
        "{html}"
    );
    let (st, html) = submit(
        &app,
        &operator,
        "/ops/incidents/INC-000001/events",
        &[
            ("kind", "closed"),
            ("cause", "连接池耗尽"),
            ("impact", "登录失败 10 分钟"),
            ("actions", "扩容连接池"),
        ],
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{html}");
    assert!(html.contains("&#x2f;api&#x2f;v1&#x2f;incidents&#x2f;INC-000001&#x2f;report"));
    assert!(
        !html.contains("id=\"event-form\""),
        "closed: no more events"
    );
    let (st, _) = page(&app, &operator, "/ops/incidents/INC-000404").await;
    assert_eq!(st, StatusCode::NOT_FOUND);

    // A monitor through the form, then disabled.
    let (st, html) = submit(
        &app,
        &operator,
        "/ops/monitors",
        &[
            ("kind", "tcp"),
            ("target", "127.0.0.1:9"),
            ("target_system", "3/zjk"),
            ("name", "专家库端口"),
            ("interval_seconds", "30"),
            ("timeout_seconds", "5"),
            ("retries", "0"),
        ],
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{html}");
    assert!(html.contains("已新增监控项“专家库端口”"), "{html}");
    assert!(section(&html, "monitors").contains("未检测"));
    // Refused forms add nothing; a private CA that is not PEM is the API's 400.
    for (fields, message) in [
        (
            &[("kind", "tcp"), ("target", "no-port")][..],
            "监控的目标应为 主机:端口",
        ),
        (
            &[
                ("kind", "tcp"),
                ("target", "127.0.0.1:9"),
                ("interval_seconds", "每分钟"),
            ][..],
            "检测间隔应为整数",
        ),
        (
            &[
                ("kind", "tls"),
                ("target", "127.0.0.1:9"),
                ("ca_pem", "not a certificate"),
            ][..],
            "ca_pem 不是有效的 PEM 证书",
        ),
        (
            &[
                ("kind", "http"),
                ("target", "http://127.0.0.1:9/"),
                ("max_latency_ms", "-5"),
            ][..],
            "最长响应时间不能为负数",
        ),
    ] {
        let mut form = fields.to_vec();
        form.push(("target_system", "3/zjk"));
        let (st, html) = submit(&app, &operator, "/ops/monitors", &form).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{fields:?}");
        assert!(html.contains(message), "{html}");
    }
    let (st, html) = submit(
        &app,
        &operator,
        "/ops/monitors",
        &[
            ("kind", "tls"),
            ("target", "127.0.0.1:9"),
            ("target_system", "3/zjk"),
            ("name", "专家库证书"),
            ("tls_min_days", "30"),
        ],
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{html}");
    let monitors: Vec<Value> = app
        .as_role(Method::GET, "/api/v1/monitors", "auditor")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let tls = monitors.iter().find(|m| m["name"] == "专家库证书").unwrap();
    assert_eq!(tls["tls_min_days"], 30);
    assert_eq!(monitors.len(), 2);
    let (st, html) = submit(
        &app,
        &operator,
        "/ops/monitors/enabled",
        &[
            ("id", monitors[0]["id"].as_str().unwrap()),
            ("enabled", "false"),
        ],
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    assert!(section(&html, "monitors").contains("已停用"), "{html}");
    let (st, _) = submit(
        &app,
        &purchaser,
        "/ops/monitors",
        &[
            ("kind", "tcp"),
            ("target", "127.0.0.1:9"),
            ("target_system", "3/zjk"),
        ],
    )
    .await;
    assert_eq!(st, StatusCode::FORBIDDEN);

    // A webhook channel: its secret is shown once.
    let (st, html) = submit(
        &app,
        &operator,
        "/ops/channels",
        &[
            ("kind", "webhook"),
            ("target", "https://hooks.example.gov.cn/ops"),
        ],
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{html}");
    let secret = section(&html, "channel-secret");
    let hex = secret
        .split("<code class=\"mono\">")
        .nth(1)
        .and_then(|s| s.split('<').next())
        .unwrap();
    assert!(
        hex.len() == 32 && hex.chars().all(|c| c.is_ascii_hexdigit()),
        "{secret}"
    );
    let (_, html) = page(&app, &operator, "/ops").await;
    assert!(!html.contains(hex) && !html.contains("id=\"channel-secret\""));
    assert!(html.contains("hooks.example.gov.cn"));
    let (st, html) = submit(
        &app,
        &operator,
        "/ops/channels",
        &[("kind", "email"), ("target", "不是邮箱")],
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(html.contains("邮箱地址无效"), "{html}");
}
