-- Cloud resources (资源): the provider's physical hosts (for placement), the resources drawn
-- from the contract's catalog line items with their dated history, per-occurrence services
-- performed, and change requests (变更) the purchaser approves before they are executed.
-- Quantities and clock speeds are canonical decimal text, like catalog_items.quantity.
--
-- Resources, occurrences and changes name their catalog item (contract_id, item_id) without a
-- foreign key: reloading a contract deletes and reinserts its catalog_items, which a foreign
-- key would refuse. The store checks that the item exists in the writing transaction.

CREATE TABLE physical_hosts (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    arch       TEXT NOT NULL CHECK (arch IN ('x86', 'arm', 'c86')),
    clock_ghz  TEXT NOT NULL,
    cores      INTEGER NOT NULL CHECK (cores > 0),
    created_at TEXT NOT NULL
);

CREATE TABLE resources (
    id          TEXT PRIMARY KEY,
    contract_id TEXT NOT NULL,
    item_id     TEXT NOT NULL,
    system_code TEXT NOT NULL,
    name        TEXT NOT NULL,
    quantity    TEXT NOT NULL,
    spec        TEXT NOT NULL,
    host_id     TEXT REFERENCES physical_hosts (id),
    vcpus       INTEGER NOT NULL DEFAULT 0 CHECK (vcpus >= 0),
    engine_ref  TEXT,
    released    BOOLEAN NOT NULL DEFAULT FALSE,
    created_at  TEXT NOT NULL,
    created_by  TEXT NOT NULL
);
CREATE INDEX resources_item ON resources (contract_id, item_id);
CREATE INDEX resources_system ON resources (system_code);
CREATE INDEX resources_host ON resources (host_id);

CREATE TABLE resource_events (
    resource_id  TEXT NOT NULL REFERENCES resources (id),
    seq          INTEGER NOT NULL CHECK (seq > 0),
    kind         TEXT NOT NULL CHECK (kind IN ('create', 'resize', 'release')),
    quantity     TEXT NOT NULL,
    effective_at TEXT NOT NULL,
    recorded_at  TEXT NOT NULL,
    actor        TEXT NOT NULL,
    reason       TEXT NOT NULL,
    change_id    TEXT,
    PRIMARY KEY (resource_id, seq)
);

CREATE TABLE service_occurrences (
    id           TEXT PRIMARY KEY,
    contract_id  TEXT NOT NULL,
    item_id      TEXT NOT NULL,
    system_code  TEXT NOT NULL,
    performed_at TEXT NOT NULL,
    hosts        INTEGER NOT NULL CHECK (hosts > 0),
    note         TEXT NOT NULL,
    recorded_at  TEXT NOT NULL,
    recorded_by  TEXT NOT NULL
);
CREATE INDEX service_occurrences_item ON service_occurrences (contract_id, item_id);
CREATE INDEX service_occurrences_system ON service_occurrences (system_code, performed_at);

CREATE TABLE resource_changes (
    id            TEXT PRIMARY KEY,
    kind          TEXT NOT NULL CHECK (kind IN ('create', 'resize', 'release')),
    resource_id   TEXT REFERENCES resources (id),
    contract_id   TEXT NOT NULL,
    item_id       TEXT NOT NULL,
    system_code   TEXT NOT NULL,
    quantity      TEXT NOT NULL,
    spec          TEXT NOT NULL,
    effective_at  TEXT,
    reason        TEXT NOT NULL,
    state         TEXT NOT NULL CHECK (state IN ('pending', 'approved', 'rejected', 'executed')),
    requested_by  TEXT NOT NULL,
    requested_at  TEXT NOT NULL,
    decided_by    TEXT,
    decided_at    TEXT,
    decision_note TEXT,
    executed_at   TEXT
);
CREATE INDEX resource_changes_state ON resource_changes (state, requested_at);
