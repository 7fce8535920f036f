-- Monthly service statements (月度服务明细) and the unit prices (单价) they are rated with.
--
-- A price holds from effective_from until the next price of the same item. Prices name
-- their catalog item without a foreign key, like resources (a contract reload reinserts
-- catalog_items). source is 'manual' (set by an operator) or 'demo' (the demo price list).
--
-- A statement version is immutable once inserted: data holds the canonical JSON exactly as
-- it was signed (SM2, signature over data) and timestamped (RFC 3161 token over SM3(data));
-- a later issue of the same month, package and system is a new row with version + 1.

CREATE TABLE prices (
    contract_id    TEXT NOT NULL,
    item_id        TEXT NOT NULL,
    effective_from TIMESTAMPTZ NOT NULL,
    unit_price     NUMERIC(20, 6) NOT NULL,
    source         TEXT NOT NULL CHECK (source IN ('manual', 'demo')),
    note           TEXT NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL,
    created_by     TEXT NOT NULL,
    PRIMARY KEY (contract_id, item_id, effective_from)
);

CREATE TABLE statements (
    id              TEXT PRIMARY KEY,
    contract_id     TEXT NOT NULL,
    month           TEXT NOT NULL,
    package         BIGINT NOT NULL,
    system_code     TEXT NOT NULL,
    version         BIGINT NOT NULL CHECK (version > 0),
    data            BYTEA NOT NULL,
    data_sm3        TEXT NOT NULL,
    total           NUMERIC(20, 6) NOT NULL,
    signature       BYTEA NOT NULL,
    signer_cert     BYTEA NOT NULL,
    timestamp_token BYTEA NOT NULL,
    issued_at       TIMESTAMPTZ NOT NULL,
    issued_by       TEXT NOT NULL,
    UNIQUE (contract_id, month, package, system_code, version)
);
CREATE INDEX statements_month ON statements (contract_id, month, package);

-- For a month's usage: events of a contract's resources up to an instant.
CREATE INDEX resource_events_effective ON resource_events (effective_at);
CREATE INDEX service_occurrences_performed ON service_occurrences (contract_id, performed_at);
