-- Operations (运维): monitors 监控项 with their checks and down spans, incidents 故障 with
-- their timelines, maintenance notices 维护通知, key periods 重点时期, notification channels
-- and the delivery log 投递记录.
--
-- Like payments, rows name their contract and package by (contract_id, package_no) without
-- a foreign key: reloading a contract deletes and reinserts its contract and packages row.
-- The store checks that an incident's package exists in the writing transaction. The
-- one-per-name, one-open-down-span, one-delivery-per-event rules are checked there too,
-- with UNIQUE constraints behind them. A notice's systems and key periods are JSON arrays
-- of strings.

CREATE TABLE monitors (
    id               TEXT PRIMARY KEY,
    name             TEXT NOT NULL UNIQUE,
    kind             TEXT NOT NULL CHECK (kind IN ('http', 'tcp', 'tls')),
    target           TEXT NOT NULL,
    package_no       BIGINT NOT NULL,
    system           TEXT NOT NULL,
    severity         TEXT NOT NULL CHECK (severity IN ('outage', 'fault')),
    interval_seconds BIGINT NOT NULL CHECK (interval_seconds > 0),
    timeout_seconds  BIGINT NOT NULL CHECK (timeout_seconds > 0),
    retries          BIGINT NOT NULL CHECK (retries >= 0),
    settings         TEXT NOT NULL,
    enabled          BOOLEAN NOT NULL,
    created_by       TEXT NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL,
    state            TEXT NOT NULL CHECK (state IN ('unknown', 'up', 'down')),
    state_since      TIMESTAMPTZ,
    last_check_at    TIMESTAMPTZ,
    last_latency_ms  BIGINT,
    last_detail      TEXT NOT NULL
);

CREATE TABLE monitor_checks (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    monitor_id TEXT NOT NULL REFERENCES monitors (id),
    at         TIMESTAMPTZ NOT NULL,
    ok         BOOLEAN NOT NULL,
    latency_ms BIGINT,
    detail     TEXT NOT NULL,
    state      TEXT NOT NULL CHECK (state IN ('up', 'down'))
);
CREATE INDEX monitor_checks_at ON monitor_checks (monitor_id, at);

CREATE TABLE incidents (
    id          TEXT PRIMARY KEY,
    -- The number in the id (INC-000001 is 1), in opening order.
    number      BIGINT NOT NULL UNIQUE CHECK (number > 0),
    contract_id TEXT NOT NULL,
    package_no  BIGINT NOT NULL,
    system      TEXT NOT NULL,
    severity    TEXT NOT NULL CHECK (severity IN ('outage', 'fault')),
    title       TEXT NOT NULL,
    source      TEXT NOT NULL CHECK (source IN ('monitor', 'hotline', 'purchaser')),
    monitor_id  TEXT REFERENCES monitors (id),
    opened_at   TIMESTAMPTZ NOT NULL,
    recorded_at TIMESTAMPTZ NOT NULL,
    opened_by   TEXT NOT NULL,
    cause       TEXT NOT NULL,
    impact      TEXT NOT NULL,
    actions     TEXT NOT NULL,
    closed_at   TIMESTAMPTZ
);
CREATE INDEX incidents_opened ON incidents (contract_id, opened_at);

CREATE TABLE incident_events (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    incident_id TEXT NOT NULL REFERENCES incidents (id),
    kind        TEXT NOT NULL CHECK (kind IN ('responded', 'located', 'onsite_requested',
                                              'onsite_arrived', 'restored', 'closed')),
    at          TIMESTAMPTZ NOT NULL,
    recorded_at TIMESTAMPTZ NOT NULL,
    actor       TEXT NOT NULL,
    note        TEXT NOT NULL
);
CREATE INDEX incident_events_incident ON incident_events (incident_id, id);

CREATE TABLE notices (
    id              TEXT PRIMARY KEY,
    contract_id     TEXT NOT NULL,
    title           TEXT NOT NULL,
    systems         TEXT NOT NULL,
    start_at        TIMESTAMPTZ NOT NULL,
    end_at          TIMESTAMPTZ NOT NULL,
    impact          TEXT NOT NULL,
    rollback_plan   TEXT NOT NULL,
    emergency       BOOLEAN NOT NULL,
    reason          TEXT NOT NULL,
    override_reason TEXT NOT NULL,
    key_periods     TEXT NOT NULL,
    published_at    TIMESTAMPTZ NOT NULL,
    published_by    TEXT NOT NULL,
    cancelled_at    TIMESTAMPTZ
);
CREATE INDEX notices_window ON notices (contract_id, start_at);

CREATE TABLE monitor_downs (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    monitor_id  TEXT NOT NULL REFERENCES monitors (id),
    started_at  TIMESTAMPTZ NOT NULL,
    ended_at    TIMESTAMPTZ,
    planned     BOOLEAN NOT NULL,
    notice_id   TEXT REFERENCES notices (id),
    incident_id TEXT REFERENCES incidents (id)
);
CREATE INDEX monitor_downs_started ON monitor_downs (started_at);
-- At most one open span per monitor.
CREATE UNIQUE INDEX monitor_downs_open ON monitor_downs (monitor_id) WHERE ended_at IS NULL;

CREATE TABLE key_periods (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       TEXT NOT NULL,
    first_day  DATE NOT NULL,
    last_day   DATE NOT NULL,
    created_by TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    UNIQUE (name, first_day),
    CHECK (last_day >= first_day)
);

CREATE TABLE notify_channels (
    id             TEXT PRIMARY KEY,
    kind           TEXT NOT NULL CHECK (kind IN ('email', 'webhook')),
    target         TEXT NOT NULL,
    secret_wrapped BYTEA,
    created_by     TEXT NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL
);

-- No foreign key to notify_channels: a removed channel's deliveries stay in the log.
CREATE TABLE deliveries (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    channel_id      TEXT NOT NULL,
    event_key       TEXT NOT NULL,
    subject         TEXT NOT NULL,
    body            TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'failed')),
    attempts        BIGINT NOT NULL CHECK (attempts >= 0),
    last_error      TEXT NOT NULL,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    sent_at         TIMESTAMPTZ,
    UNIQUE (channel_id, event_key)
);
CREATE INDEX deliveries_due ON deliveries (status, next_attempt_at);
