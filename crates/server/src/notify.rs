//! Notifications 通知: e-mail over SMTP and webhooks signed with HMAC-SM3, each queued in the
//! store first (the delivery log 投递记录) and sent by the scheduler with retries.
//!
//! Queue-then-send means nothing is lost when a mail server or a receiver is down, and
//! nothing is sent twice: a delivery is unique per (channel, event key), so the scheduler can
//! re-evaluate SLA clocks as often as it likes.
//!
//! Webhooks: `POST` of the JSON document with
//! - `X-Govcloud-Event`: the event key, `X-Govcloud-Delivery`: the delivery id;
//! - `X-Govcloud-Timestamp`: Unix seconds;
//! - `X-Govcloud-Signature`: `hmac-sm3=` and the lowercase hex HMAC-SM3 of
//!   `timestamp + "." + body` under the channel's secret (32 hex digits, shown once when the
//!   channel is added and kept only wrapped under the master key).
//!
//! A receiver checks the signature and that the timestamp is recent. Any 2xx is success.
//!
//! SMTP: `GOVCLOUD_SMTP_URL` (`smtp://host:port` plain, `smtp://host:587?tls=required`,
//! `smtps://user:password@host:465`) and `GOVCLOUD_SMTP_FROM` (default
//! `govcloud@localhost`). Without a URL, e-mail deliveries wait in the log as failed with the
//! reason, and the console says so.

use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use govcloud_crypto::{KeyKind, KeyRef, MacKey};
use govcloud_store::{ChannelRecord, DeliveryRecord, Store};
use serde_json::json;

use crate::app::AppState;
use crate::ops::{Ctx, OpError};

/// The wait before each retry; after the last the delivery is marked failed.
pub const RETRY_AFTER: [i64; 6] = [5, 30, 120, 600, 1800, 7200];

/// How e-mail leaves: the SMTP server and the sender.
#[derive(Clone, Default)]
pub struct Settings {
    pub smtp_url: Option<String>,
    pub from: String,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry a password.
        f.debug_struct("Settings")
            .field("smtp", &self.smtp_url.as_ref().map(|_| "[set]"))
            .field("from", &self.from)
            .finish()
    }
}

impl Settings {
    pub fn from_env() -> Self {
        Self {
            smtp_url: std::env::var("GOVCLOUD_SMTP_URL")
                .ok()
                .filter(|s| !s.trim().is_empty()),
            from: std::env::var("GOVCLOUD_SMTP_FROM")
                .ok()
                .filter(|s| !s.trim().is_empty())
                .unwrap_or_else(|| "govcloud@localhost".to_owned()),
        }
    }
}

/// Something to tell people about (not to be confused with a maintenance notice 维护通知).
pub struct Message {
    /// Unique per occurrence, e.g. `incident:INC-000001:opened`.
    pub key: String,
    pub subject: String,
    /// The message for people (e-mail body).
    pub text: String,
    /// Machine-readable details (the webhook's `data`).
    pub data: serde_json::Value,
    pub at: DateTime<Utc>,
}

/// Queue a notification to every channel. Returns how many deliveries were queued (0 when
/// each channel already had this event).
pub async fn queue(store: &dyn Store, n: Message) -> Result<usize, OpError> {
    let body = json!({
        "event": n.key,
        "subject": n.subject,
        "text": n.text,
        "data": n.data,
        "at": crate::api::utc(n.at),
    })
    .to_string();
    let mut queued = 0;
    for c in store.channels().await? {
        if store
            .enqueue_delivery(&c.id, &n.key, &n.subject, &body, n.at)
            .await?
            .is_some()
        {
            queued += 1;
        }
    }
    Ok(queued)
}

fn binding(channel_id: &str) -> Vec<u8> {
    format!("webhook-secret/{channel_id}").into_bytes()
}

/// A new channel: `email` with comma-separated addresses, or `webhook` with an http(s) URL.
/// For a webhook, returns the secret (32 hex digits) once.
pub async fn add_channel(
    cx: Ctx<'_>,
    crypto: &crate::crypto::CryptoService,
    kind: &str,
    target: &str,
) -> Result<(ChannelRecord, Option<String>), OpError> {
    let target = target.trim();
    let id = crate::auth::new_id("ch");
    let (target, secret) = match kind {
        "email" => {
            let addrs: Vec<&str> = target
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect();
            if addrs.is_empty() {
                return Err(OpError::invalid(
                    "invalid_address",
                    "请填写至少一个邮箱地址",
                    "give at least one e-mail address",
                ));
            }
            for a in &addrs {
                if a.parse::<lettre::Address>().is_err() {
                    return Err(OpError::invalid(
                        "invalid_address",
                        format!("邮箱地址无效：{a}"),
                        format!("not an e-mail address: {a:?}"),
                    ));
                }
            }
            (addrs.join(", "), None)
        }
        "webhook" => {
            let ok = reqwest::Url::parse(target)
                .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
            if !ok {
                return Err(OpError::invalid(
                    "invalid_url",
                    "Webhook 地址应为 http:// 或 https:// 开头的 URL",
                    format!("the webhook target {target:?} is not an http(s) URL"),
                ));
            }
            // Failures here are the server's (no randomness, the provider), never the caller's.
            let internal = |what: &str| {
                tracing::error!(what, "webhook secret not made");
                OpError::Api(Box::new(crate::error::ApiError::internal()))
            };
            let mut raw = zeroize::Zeroizing::new([0u8; 16]);
            getrandom::fill(raw.as_mut()).map_err(|_| internal("random generator"))?;
            let wrapped = crypto
                .provider
                .import_key(KeyKind::Sm4, &binding(&id), raw.as_ref())
                .map_err(|_| internal("key wrapping"))?;
            (
                target.to_owned(),
                Some((hex::encode(&raw[..]), wrapped.blob)),
            )
        }
        other => {
            return Err(OpError::invalid(
                "invalid_kind",
                "通知渠道类型应为 email 或 webhook",
                format!("channel kind {other:?}: expected email or webhook"),
            ))
        }
    };
    let (secret, wrapped) = secret.unzip();
    let rec = ChannelRecord {
        id: id.clone(),
        kind: kind.to_owned(),
        target: target.clone(),
        secret_wrapped: wrapped,
        created_by: cx.actor.to_owned(),
        created_at: cx.now,
    };
    let rec = cx
        .store
        .add_channel(
            &rec,
            cx.event("channel.add", &id, json!({"kind": kind, "target": target})),
        )
        .await?;
    Ok((rec, secret))
}

/// Remove a channel (404 when there is none); its deliveries stay in the log.
pub async fn remove_channel(cx: Ctx<'_>, id: &str) -> Result<(), OpError> {
    let ev = cx.event("channel.remove", id, json!({}));
    if cx.store.remove_channel(id, ev).await? {
        Ok(())
    } else {
        Err(OpError::Api(Box::new(crate::error::ApiError::not_found(
            "通知渠道",
            "channel",
        ))))
    }
}

/// HMAC-SM3 of `timestamp.body` under the channel's wrapped secret, as lowercase hex.
pub fn sign(
    crypto: &crate::crypto::CryptoService,
    channel: &ChannelRecord,
    timestamp: i64,
    body: &str,
) -> Result<String, String> {
    let blob = channel
        .secret_wrapped
        .as_deref()
        .ok_or("the webhook channel has no secret")?;
    let key = KeyRef {
        kind: KeyKind::Sm4,
        binding: &binding(&channel.id),
        blob,
    };
    let mut msg = timestamp.to_string().into_bytes();
    msg.push(b'.');
    msg.extend_from_slice(body.as_bytes());
    crypto
        .provider
        .hmac_sm3(MacKey::Stored(key), &msg)
        .map(hex::encode)
        .map_err(|e| e.to_string())
}

async fn send_webhook(
    state: &AppState,
    channel: &ChannelRecord,
    d: &DeliveryRecord,
) -> Result<(), String> {
    let ts = state.now().timestamp();
    let sig = sign(&state.crypto, channel, ts, &d.body)?;
    let resp = http_client()
        .post(&channel.target)
        .header("content-type", "application/json")
        .header("x-govcloud-event", &d.event_key)
        .header("x-govcloud-delivery", d.id.to_string())
        .header("x-govcloud-timestamp", ts.to_string())
        .header("x-govcloud-signature", format!("hmac-sm3={sig}"))
        .body(d.body.clone())
        .send()
        .await
        .map_err(|e| format!("request failed: {e}"))?;
    if resp.status().is_success() {
        Ok(())
    } else {
        Err(format!(
            "the receiver answered HTTP {}",
            resp.status().as_u16()
        ))
    }
}

fn http_client() -> &'static reqwest::Client {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    CLIENT.get_or_init(|| {
        crate::install_crypto_provider();
        reqwest::Client::builder()
            .timeout(StdDuration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("a plain HTTP client builds")
    })
}

async fn send_email(
    settings: &Settings,
    channel: &ChannelRecord,
    d: &DeliveryRecord,
) -> Result<(), String> {
    use lettre::message::header::ContentType;
    use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
    let url = settings
        .smtp_url
        .as_deref()
        .ok_or("no SMTP server configured (GOVCLOUD_SMTP_URL)")?;
    let doc: serde_json::Value = serde_json::from_str(&d.body).map_err(|e| e.to_string())?;
    let text = doc["text"].as_str().unwrap_or_default();
    let from = settings
        .from
        .parse()
        .map_err(|e| format!("GOVCLOUD_SMTP_FROM: {e}"))?;
    let mut msg = Message::builder().from(from).subject(d.subject.clone());
    for a in channel.target.split(',').map(str::trim) {
        msg = msg.to(a.parse().map_err(|e| format!("{a}: {e}"))?);
    }
    let msg = msg
        .header(ContentType::TEXT_PLAIN)
        .body(format!(
            "{text}\n\n-- \ngovcloud 事件 {}（投递 #{}）\n",
            d.event_key, d.id
        ))
        .map_err(|e| e.to_string())?;
    let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
        .map_err(|_| "GOVCLOUD_SMTP_URL is not a valid SMTP URL".to_owned())?
        .timeout(Some(StdDuration::from_secs(15)))
        .build();
    transport
        .send(msg)
        .await
        .map(|_| ())
        .map_err(|e| format!("SMTP: {e}"))
}

/// Send what is due: each delivery once, then record the attempt (retry later or give up).
pub async fn deliver_due(state: &AppState) -> Result<usize, OpError> {
    let store = state.store.as_ref();
    let now = state.now();
    let due = store.due_deliveries(now, 50).await?;
    if due.is_empty() {
        return Ok(0);
    }
    let channels = store.channels().await?;
    let mut sent = 0;
    for d in due {
        let result = match channels.iter().find(|c| c.id == d.channel_id) {
            None => Err("the channel was removed".to_owned()),
            Some(c) if c.kind == "webhook" => send_webhook(state, c, &d).await,
            Some(c) => send_email(&state.notify, c, &d).await,
        };
        let at = state.now();
        match result {
            Ok(()) => {
                sent += 1;
                store.delivery_attempted(d.id, at, true, "", None).await?;
            }
            Err(e) => {
                let retry = RETRY_AFTER
                    .get(d.attempts as usize)
                    .map(|s| at + Duration::seconds(*s))
                    .filter(|_| !e.starts_with("the channel was removed"));
                tracing::warn!(delivery = d.id, channel = %d.channel_id, error = %e, "notification not delivered");
                store.delivery_attempted(d.id, at, false, &e, retry).await?;
            }
        }
    }
    Ok(sent)
}
