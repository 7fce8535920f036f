-- Payments and acceptance (付款与验收): acceptance records of a package (stage 阶段性验收 and
-- final 最终验收), the evidence documents uploaded for them (the bytes with their SM3), and the
-- payments recorded against the contract's payment milestones. Milestones themselves are in
-- the catalog source; due dates and statuses are computed from these facts (domain::payment).
--
-- 0006 is left to the monthly statements. Rows name their package by (contract_id,
-- package_no) without a foreign key, like resources: reloading a contract deletes and
-- reinserts its packages. The store checks that the package exists in the writing
-- transaction. Amounts are NUMERIC(20, 2) in 元.

CREATE TABLE acceptances (
    id          TEXT PRIMARY KEY,
    contract_id TEXT NOT NULL,
    package_no  BIGINT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('stage', 'final')),
    accepted_on DATE NOT NULL,
    note        TEXT NOT NULL,
    recorded_by TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    UNIQUE (contract_id, package_no, kind)
);

CREATE TABLE acceptance_documents (
    id            TEXT PRIMARY KEY,
    acceptance_id TEXT NOT NULL REFERENCES acceptances (id),
    name          TEXT NOT NULL,
    content_type  TEXT NOT NULL,
    content       BYTEA NOT NULL,
    sm3           TEXT NOT NULL,
    size          BIGINT NOT NULL CHECK (size >= 0),
    uploaded_by   TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX acceptance_documents_acceptance ON acceptance_documents (acceptance_id);

CREATE TABLE payments (
    id            TEXT PRIMARY KEY,
    contract_id   TEXT NOT NULL,
    package_no    BIGINT NOT NULL,
    milestone_seq BIGINT NOT NULL CHECK (milestone_seq > 0),
    paid_on       DATE NOT NULL,
    amount        NUMERIC(20, 2) NOT NULL,
    reference     TEXT NOT NULL,
    recorded_by   TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    UNIQUE (contract_id, package_no, milestone_seq)
);
