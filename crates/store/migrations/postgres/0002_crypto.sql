-- The crypto service: business-system credentials (apps), their keys with versions, and
-- usage counters for metering. Secret key material is stored only wrapped by the provider.

CREATE TABLE apps (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    system_code TEXT,
    token_hash  TEXT NOT NULL UNIQUE,
    created_at  TIMESTAMPTZ NOT NULL,
    created_by  TEXT NOT NULL,
    disabled    BOOLEAN NOT NULL DEFAULT FALSE
);

CREATE TABLE crypto_keys (
    id              TEXT PRIMARY KEY,
    app_id          TEXT NOT NULL REFERENCES apps (id),
    kind            TEXT NOT NULL CHECK (kind IN ('sm2-sign', 'sm2-enc', 'sm4')),
    label           TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('active', 'disabled', 'destroyed')),
    current_version INTEGER NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX crypto_keys_app ON crypto_keys (app_id);

CREATE TABLE key_versions (
    key_id       TEXT NOT NULL REFERENCES crypto_keys (id),
    version      INTEGER NOT NULL,
    wrapped      TEXT NOT NULL,
    public_key   TEXT,
    created_at   TIMESTAMPTZ NOT NULL,
    destroyed_at TIMESTAMPTZ,
    PRIMARY KEY (key_id, version)
);

CREATE TABLE crypto_usage (
    app_id    TEXT NOT NULL,
    key_id    TEXT NOT NULL,
    month     TEXT NOT NULL,
    operation TEXT NOT NULL,
    count     BIGINT NOT NULL,
    PRIMARY KEY (app_id, key_id, month, operation)
);
