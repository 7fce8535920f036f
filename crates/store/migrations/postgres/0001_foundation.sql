-- Foundation: users, sessions, API tokens, the audit chain and the contract catalog.

CREATE TABLE users (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    display_name  TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('purchaser', 'operator', 'auditor', 'admin')),
    password_hash TEXT NOT NULL,
    disabled      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    TIMESTAMPTZ NOT NULL
);

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE api_tokens (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    label      TEXT NOT NULL,
    prefix     TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at TIMESTAMPTZ NOT NULL,
    revoked_at TIMESTAMPTZ
);

CREATE TABLE audit_log (
    seq       BIGINT PRIMARY KEY,
    at        TIMESTAMPTZ NOT NULL,
    actor     TEXT NOT NULL,
    action    TEXT NOT NULL,
    target    TEXT NOT NULL,
    detail    TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL
);
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END;
$$;
CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();

CREATE TABLE audit_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  BIGINT NOT NULL,
    hash TEXT NOT NULL
);

CREATE TABLE contracts (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    source      TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    loaded_at   TIMESTAMPTZ NOT NULL,
    loaded_by   TEXT NOT NULL
);

CREATE TABLE business_systems (
    contract_id TEXT NOT NULL REFERENCES contracts (id) ON DELETE CASCADE,
    code        TEXT NOT NULL,
    name        TEXT NOT NULL,
    cloud       TEXT,
    PRIMARY KEY (contract_id, code)
);

CREATE TABLE packages (
    contract_id TEXT NOT NULL REFERENCES contracts (id) ON DELETE CASCADE,
    number      INTEGER NOT NULL,
    name        TEXT NOT NULL,
    short_name  TEXT NOT NULL,
    budget_wan  NUMERIC(20, 6),
    PRIMARY KEY (contract_id, number)
);

CREATE TABLE catalog_items (
    id          TEXT NOT NULL,
    contract_id TEXT NOT NULL,
    package_no  INTEGER NOT NULL,
    system_code TEXT,
    category    TEXT NOT NULL,
    subcategory TEXT,
    item        TEXT NOT NULL,
    unit        TEXT NOT NULL,
    quantity    NUMERIC(20, 6) NOT NULL,
    months      INTEGER NOT NULL,
    billing     TEXT NOT NULL,
    PRIMARY KEY (contract_id, id),
    FOREIGN KEY (contract_id, package_no) REFERENCES packages (contract_id, number) ON DELETE CASCADE,
    FOREIGN KEY (contract_id, system_code) REFERENCES business_systems (contract_id, code)
);
