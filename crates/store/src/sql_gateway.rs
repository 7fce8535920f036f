//! SQL of the gateway's (密码前置) tables, shared by both backends like `sql.rs`. The macro
//! writes inherent methods; the `Store` impl in `sql.rs` forwards to them.

use chrono::{DateTime, Utc};

use crate::{AppLimit, AppRule, GatewayNode, GatewayReplica, NodeState, Result, StoreError};

pub(crate) const RULE_COLS: &str = "app_id, operation, key_id, created_at, created_by";
pub(crate) const LIMIT_COLS: &str = "app_id, operation, rps, burst, updated_at, updated_by";
pub(crate) const NODE_COLS: &str = "url, state, added_at, added_by, changed_at";
pub(crate) const REPLICA_COLS: &str = "id, listen, started_at, seen_at, stats";

pub(crate) type RuleRow = (String, String, String, DateTime<Utc>, String);

pub(crate) fn rule_from_row(r: RuleRow) -> AppRule {
    let (app_id, operation, key_id, created_at, created_by) = r;
    AppRule {
        app_id,
        operation,
        key_id,
        created_at,
        created_by,
    }
}

pub(crate) type LimitRow = (String, String, f64, i64, DateTime<Utc>, String);

pub(crate) fn limit_from_row(r: LimitRow) -> AppLimit {
    let (app_id, operation, rps, burst, updated_at, updated_by) = r;
    AppLimit {
        app_id,
        operation,
        rps,
        burst,
        updated_at,
        updated_by,
    }
}

pub(crate) type NodeRow = (String, String, DateTime<Utc>, String, DateTime<Utc>);

pub(crate) fn node_from_row(r: NodeRow) -> Result<GatewayNode> {
    let (url, state, added_at, added_by, changed_at) = r;
    Ok(GatewayNode {
        state: NodeState::parse(&state).ok_or_else(|| {
            StoreError::Corrupt(format!("gateway node {url} has state {state:?}"))
        })?,
        url,
        added_at,
        added_by,
        changed_at,
    })
}

pub(crate) type ReplicaRow = (String, String, DateTime<Utc>, DateTime<Utc>, String);

pub(crate) fn replica_from_row(r: ReplicaRow) -> GatewayReplica {
    let (id, listen, started_at, seen_at, stats) = r;
    GatewayReplica {
        id,
        listen,
        started_at,
        seen_at,
        stats,
    }
}

/// `token_hash` followed by the app's columns.
pub(crate) type CredentialRow = (
    String,
    String,
    String,
    Option<String>,
    DateTime<Utc>,
    String,
    bool,
);

macro_rules! impl_gateway {
    ($ty:ty, $db:ty) => {
        impl $ty {
            /// `NotFound` unless the app exists (checked inside the write transaction, so a
            /// rule or limit never names an unknown app).
            async fn gw_require_app(
                tx: &mut sqlx::Transaction<'_, $db>,
                app_id: &str,
            ) -> $crate::Result<()> {
                let found: Option<(String,)> = sqlx::query_as("SELECT id FROM apps WHERE id = $1")
                    .bind(app_id)
                    .fetch_optional(&mut **tx)
                    .await?;
                match found {
                    Some(_) => Ok(()),
                    None => Err($crate::StoreError::NotFound(format!("app {app_id}"))),
                }
            }

            pub(crate) async fn gw_app_credentials(&self) -> $crate::Result<Vec<(String, $crate::App)>> {
                let rows: Vec<$crate::sql_gateway::CredentialRow> = sqlx::query_as(&format!(
                    "SELECT token_hash, {} FROM apps ORDER BY id",
                    $crate::sql_crypto::APP_COLS
                ))
                .fetch_all(&self.pool)
                .await?;
                Ok(rows
                    .into_iter()
                    .map(|(token_hash, id, name, system_code, created_at, created_by, disabled)| {
                        (
                            token_hash,
                            $crate::sql_crypto::app_from_row((id, name, system_code, created_at, created_by, disabled)),
                        )
                    })
                    .collect())
            }

            pub(crate) async fn gw_rotate_app_token(
                &self,
                id: &str,
                token_hash: &str,
                event: govcloud_domain::audit::AuditEvent,
            ) -> $crate::Result<$crate::App> {
                let mut tx = self.begin_write().await?;
                let row: Option<$crate::sql_crypto::AppRow> = sqlx::query_as(&format!(
                    "UPDATE apps SET token_hash = $1 WHERE id = $2 RETURNING {}",
                    $crate::sql_crypto::APP_COLS
                ))
                .bind(token_hash)
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(row) = row else {
                    return Err($crate::StoreError::NotFound(format!("app {id}")));
                };
                Self::audit_in_tx(&mut tx, event).await?;
                tx.commit().await?;
                Ok($crate::sql_crypto::app_from_row(row))
            }

            pub(crate) async fn gw_app_rules(&self) -> $crate::Result<Vec<$crate::AppRule>> {
                let rows: Vec<$crate::sql_gateway::RuleRow> = sqlx::query_as(&format!(
                    "SELECT {} FROM app_rules ORDER BY app_id, operation, key_id",
                    $crate::sql_gateway::RULE_COLS
                ))
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map($crate::sql_gateway::rule_from_row).collect())
            }

            pub(crate) async fn gw_add_app_rule(
                &self,
                rule: &$crate::AppRule,
                event: govcloud_domain::audit::AuditEvent,
            ) -> $crate::Result<bool> {
                let mut tx = self.begin_write().await?;
                Self::gw_require_app(&mut tx, &rule.app_id).await?;
                let n = sqlx::query(
                    "INSERT INTO app_rules (app_id, operation, key_id, created_at, created_by) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (app_id, operation, key_id) DO NOTHING",
                )
                .bind(&rule.app_id)
                .bind(&rule.operation)
                .bind(&rule.key_id)
                .bind(rule.created_at)
                .bind(&rule.created_by)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if n == 0 {
                    return Ok(false);
                }
                Self::audit_in_tx(&mut tx, event).await?;
                tx.commit().await?;
                Ok(true)
            }

            pub(crate) async fn gw_remove_app_rule(
                &self,
                app_id: &str,
                operation: &str,
                key_id: &str,
                event: govcloud_domain::audit::AuditEvent,
            ) -> $crate::Result<bool> {
                let mut tx = self.begin_write().await?;
                let n = sqlx::query("DELETE FROM app_rules WHERE app_id = $1 AND operation = $2 AND key_id = $3")
                    .bind(app_id)
                    .bind(operation)
                    .bind(key_id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if n == 0 {
                    return Ok(false);
                }
                Self::audit_in_tx(&mut tx, event).await?;
                tx.commit().await?;
                Ok(true)
            }

            pub(crate) async fn gw_app_limits(&self) -> $crate::Result<Vec<$crate::AppLimit>> {
                let rows: Vec<$crate::sql_gateway::LimitRow> = sqlx::query_as(&format!(
                    "SELECT {} FROM app_limits ORDER BY app_id, operation",
                    $crate::sql_gateway::LIMIT_COLS
                ))
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map($crate::sql_gateway::limit_from_row).collect())
            }

            pub(crate) async fn gw_set_app_limit(
                &self,
                limit: &$crate::AppLimit,
                event: govcloud_domain::audit::AuditEvent,
            ) -> $crate::Result<()> {
                let mut tx = self.begin_write().await?;
                Self::gw_require_app(&mut tx, &limit.app_id).await?;
                sqlx::query(
                    "INSERT INTO app_limits (app_id, operation, rps, burst, updated_at, updated_by) \
                     VALUES ($1, $2, $3, $4, $5, $6) \
                     ON CONFLICT (app_id, operation) DO UPDATE SET rps = excluded.rps, burst = excluded.burst, \
                     updated_at = excluded.updated_at, updated_by = excluded.updated_by",
                )
                .bind(&limit.app_id)
                .bind(&limit.operation)
                .bind(limit.rps)
                .bind(limit.burst)
                .bind(limit.updated_at)
                .bind(&limit.updated_by)
                .execute(&mut *tx)
                .await?;
                Self::audit_in_tx(&mut tx, event).await?;
                tx.commit().await?;
                Ok(())
            }

            pub(crate) async fn gw_remove_app_limit(
                &self,
                app_id: &str,
                operation: &str,
                event: govcloud_domain::audit::AuditEvent,
            ) -> $crate::Result<bool> {
                let mut tx = self.begin_write().await?;
                let n = sqlx::query("DELETE FROM app_limits WHERE app_id = $1 AND operation = $2")
                    .bind(app_id)
                    .bind(operation)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if n == 0 {
                    return Ok(false);
                }
                Self::audit_in_tx(&mut tx, event).await?;
                tx.commit().await?;
                Ok(true)
            }

            pub(crate) async fn gw_app_certs(&self) -> $crate::Result<Vec<(String, String)>> {
                Ok(sqlx::query_as("SELECT app_id, serial FROM app_certs ORDER BY app_id, serial")
                    .fetch_all(&self.pool)
                    .await?)
            }

            pub(crate) async fn gw_bind_app_cert(
                &self,
                app_id: &str,
                serial: &str,
                bind: bool,
                event: govcloud_domain::audit::AuditEvent,
            ) -> $crate::Result<bool> {
                let mut tx = self.begin_write().await?;
                let n = if bind {
                    let app: Option<(String,)> = sqlx::query_as("SELECT id FROM apps WHERE id = $1")
                        .bind(app_id)
                        .fetch_optional(&mut *tx)
                        .await?;
                    if app.is_none() {
                        return Err($crate::StoreError::NotFound(format!("app {app_id}")));
                    }
                    let cert: Option<(String,)> =
                        sqlx::query_as("SELECT serial FROM pki_certificates WHERE serial = $1")
                            .bind(serial)
                            .fetch_optional(&mut *tx)
                            .await?;
                    if cert.is_none() {
                        return Err($crate::StoreError::NotFound(format!("certificate {serial}")));
                    }
                    sqlx::query(
                        "INSERT INTO app_certs (app_id, serial) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                    )
                    .bind(app_id)
                    .bind(serial)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
                } else {
                    sqlx::query("DELETE FROM app_certs WHERE app_id = $1 AND serial = $2")
                        .bind(app_id)
                        .bind(serial)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected()
                };
                if n == 0 {
                    return Ok(false);
                }
                Self::audit_in_tx(&mut tx, event).await?;
                tx.commit().await?;
                Ok(true)
            }

            pub(crate) async fn gw_gateway_nodes(&self) -> $crate::Result<Vec<$crate::GatewayNode>> {
                let rows: Vec<$crate::sql_gateway::NodeRow> = sqlx::query_as(&format!(
                    "SELECT {} FROM gateway_nodes ORDER BY url",
                    $crate::sql_gateway::NODE_COLS
                ))
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter().map($crate::sql_gateway::node_from_row).collect()
            }

            pub(crate) async fn gw_add_gateway_node(
                &self,
                url: &str,
                at: chrono::DateTime<chrono::Utc>,
                by: &str,
                event: govcloud_domain::audit::AuditEvent,
            ) -> $crate::Result<($crate::GatewayNode, bool)> {
                let mut tx = self.begin_write().await?;
                let existing: Option<$crate::sql_gateway::NodeRow> = sqlx::query_as(&format!(
                    "SELECT {} FROM gateway_nodes WHERE url = $1",
                    $crate::sql_gateway::NODE_COLS
                ))
                .bind(url)
                .fetch_optional(&mut *tx)
                .await?;
                let row: $crate::sql_gateway::NodeRow = match existing {
                    None => {
                        sqlx::query_as(&format!(
                            "INSERT INTO gateway_nodes (url, state, added_at, added_by, changed_at) \
                             VALUES ($1, 'active', $2, $3, $2) RETURNING {}",
                            $crate::sql_gateway::NODE_COLS
                        ))
                        .bind(url)
                        .bind(at)
                        .bind(by)
                        .fetch_one(&mut *tx)
                        .await?
                    }
                    Some(row) => {
                        let node = $crate::sql_gateway::node_from_row(row)?;
                        if node.state == $crate::NodeState::Active {
                            return Ok((node, false));
                        }
                        sqlx::query_as(&format!(
                            "UPDATE gateway_nodes SET state = 'active', changed_at = $1 WHERE url = $2 RETURNING {}",
                            $crate::sql_gateway::NODE_COLS
                        ))
                        .bind(at)
                        .bind(url)
                        .fetch_one(&mut *tx)
                        .await?
                    }
                };
                let node = $crate::sql_gateway::node_from_row(row)?;
                Self::audit_in_tx(&mut tx, event).await?;
                tx.commit().await?;
                Ok((node, true))
            }

            pub(crate) async fn gw_set_gateway_node_state(
                &self,
                url: &str,
                state: $crate::NodeState,
                at: chrono::DateTime<chrono::Utc>,
                event: govcloud_domain::audit::AuditEvent,
            ) -> $crate::Result<$crate::GatewayNode> {
                let mut tx = self.begin_write().await?;
                // `changed_at` records when the state last changed, so setting the state a
                // node already has leaves it as it was.
                let row: Option<$crate::sql_gateway::NodeRow> = sqlx::query_as(&format!(
                    "UPDATE gateway_nodes SET changed_at = CASE WHEN state = $1 THEN changed_at ELSE $2 END, \
                     state = $1 WHERE url = $3 RETURNING {}",
                    $crate::sql_gateway::NODE_COLS
                ))
                .bind(state.code())
                .bind(at)
                .bind(url)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(row) = row else {
                    return Err($crate::StoreError::NotFound(format!("gateway node {url}")));
                };
                let node = $crate::sql_gateway::node_from_row(row)?;
                Self::audit_in_tx(&mut tx, event).await?;
                tx.commit().await?;
                Ok(node)
            }

            pub(crate) async fn gw_remove_gateway_node(
                &self,
                url: &str,
                event: govcloud_domain::audit::AuditEvent,
            ) -> $crate::Result<bool> {
                let mut tx = self.begin_write().await?;
                let n = sqlx::query("DELETE FROM gateway_nodes WHERE url = $1")
                    .bind(url)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if n == 0 {
                    return Ok(false);
                }
                Self::audit_in_tx(&mut tx, event).await?;
                tx.commit().await?;
                Ok(true)
            }

            pub(crate) async fn gw_save_gateway_replica(&self, r: &$crate::GatewayReplica) -> $crate::Result<()> {
                sqlx::query(
                    "INSERT INTO gateway_replicas (id, listen, started_at, seen_at, stats) VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (id) DO UPDATE SET listen = excluded.listen, started_at = excluded.started_at, \
                     seen_at = excluded.seen_at, stats = excluded.stats",
                )
                .bind(&r.id)
                .bind(&r.listen)
                .bind(r.started_at)
                .bind(r.seen_at)
                .bind(&r.stats)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            pub(crate) async fn gw_gateway_replicas(
                &self,
                seen_since: chrono::DateTime<chrono::Utc>,
            ) -> $crate::Result<Vec<$crate::GatewayReplica>> {
                let rows: Vec<$crate::sql_gateway::ReplicaRow> = sqlx::query_as(&format!(
                    "SELECT {} FROM gateway_replicas WHERE seen_at >= $1 ORDER BY id",
                    $crate::sql_gateway::REPLICA_COLS
                ))
                .bind(seen_since)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map($crate::sql_gateway::replica_from_row).collect())
            }

            pub(crate) async fn gw_add_gateway_calls(&self, counts: &[($crate::CallKey, i64)]) -> $crate::Result<()> {
                if counts.is_empty() {
                    return Ok(());
                }
                let mut tx = self.pool.begin().await?;
                for (k, n) in counts {
                    sqlx::query(
                        "INSERT INTO gateway_calls (app_id, month, operation, outcome, count) VALUES ($1, $2, $3, $4, $5) \
                         ON CONFLICT (app_id, month, operation, outcome) DO UPDATE SET count = gateway_calls.count + excluded.count",
                    )
                    .bind(&k.app_id)
                    .bind(&k.month)
                    .bind(&k.operation)
                    .bind(&k.outcome)
                    .bind(*n)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            pub(crate) async fn gw_gateway_calls(&self, app_id: Option<&str>) -> $crate::Result<Vec<($crate::CallKey, i64)>> {
                let sql = "SELECT app_id, month, operation, outcome, count FROM gateway_calls \
                           WHERE ($1 IS NULL OR app_id = $1) ORDER BY app_id, month, operation, outcome";
                let rows: Vec<(String, String, String, String, i64)> =
                    sqlx::query_as(sql).bind(app_id).fetch_all(&self.pool).await?;
                Ok(rows
                    .into_iter()
                    .map(|(app_id, month, operation, outcome, n)| ($crate::CallKey { app_id, month, operation, outcome }, n))
                    .collect())
            }
        }
    };
}

pub(crate) use impl_gateway;
