-- Foundation: users, sessions, API tokens, the audit chain and the contract catalog.
-- Times are UTC; decimals are kept as canonical decimal text (SQLite has no exact decimal type).

CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    name          TEXT NOT NULL UNIQUE,
    display_name  TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('purchaser', 'operator', 'auditor', 'admin')),
    password_hash TEXT NOT NULL,
    disabled      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    TEXT NOT NULL
);

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE api_tokens (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    label      TEXT NOT NULL,
    prefix     TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);

CREATE TABLE audit_log (
    seq       INTEGER PRIMARY KEY,
    at        TEXT NOT NULL,
    actor     TEXT NOT NULL,
    action    TEXT NOT NULL,
    target    TEXT NOT NULL,
    detail    TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL
);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;

-- The chain's tip, kept apart from the log so that removing entries from the end shows.
CREATE TABLE audit_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  INTEGER NOT NULL,
    hash TEXT NOT NULL
);

CREATE TABLE contracts (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    source      TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    loaded_at   TEXT NOT NULL,
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
    budget_wan  TEXT,
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
    quantity    TEXT NOT NULL,
    months      INTEGER NOT NULL,
    billing     TEXT NOT NULL,
    PRIMARY KEY (contract_id, id),
    FOREIGN KEY (contract_id, package_no) REFERENCES packages (contract_id, number) ON DELETE CASCADE,
    FOREIGN KEY (contract_id, system_code) REFERENCES business_systems (contract_id, code)
);
