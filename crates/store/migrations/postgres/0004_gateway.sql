-- The gateway (密码前置): per-app allow rules and rate limits, the crypto nodes behind the
-- gateways, each running replica's live figures, and call counters for metering.

CREATE TABLE app_rules (
    app_id     TEXT NOT NULL REFERENCES apps (id),
    operation  TEXT NOT NULL,
    key_id     TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    created_by TEXT NOT NULL,
    PRIMARY KEY (app_id, operation, key_id)
);

CREATE TABLE app_limits (
    app_id     TEXT NOT NULL REFERENCES apps (id),
    operation  TEXT NOT NULL,
    rps        DOUBLE PRECISION NOT NULL CHECK (rps > 0),
    burst      BIGINT NOT NULL CHECK (burst >= 1),
    updated_at TIMESTAMPTZ NOT NULL,
    updated_by TEXT NOT NULL,
    PRIMARY KEY (app_id, operation)
);

CREATE TABLE gateway_nodes (
    url        TEXT PRIMARY KEY,
    state      TEXT NOT NULL CHECK (state IN ('active', 'draining')),
    added_at   TIMESTAMPTZ NOT NULL,
    added_by   TEXT NOT NULL,
    changed_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE gateway_replicas (
    id         TEXT PRIMARY KEY,
    listen     TEXT NOT NULL,
    started_at TIMESTAMPTZ NOT NULL,
    seen_at    TIMESTAMPTZ NOT NULL,
    stats      TEXT NOT NULL
);

CREATE TABLE gateway_calls (
    app_id    TEXT NOT NULL,
    month     TEXT NOT NULL,
    operation TEXT NOT NULL,
    outcome   TEXT NOT NULL CHECK (outcome IN ('ok', 'error', 'rejected')),
    count     BIGINT NOT NULL,
    PRIMARY KEY (app_id, month, operation, outcome)
);

-- Client certificates (govcloud-issued, by serial) an app must present over mutual TLS at
-- the gateway; an app with none authenticates with its credential alone.
CREATE TABLE app_certs (
    app_id TEXT NOT NULL REFERENCES apps (id),
    serial TEXT NOT NULL REFERENCES pki_certificates (serial),
    PRIMARY KEY (app_id, serial)
);
