-- Payments and acceptance (付款与验收): acceptance records of a package (stage 阶段性验收 and
-- final 最终验收), the evidence documents uploaded for them (the bytes with their SM3), and the
-- payments recorded against the contract's payment milestones. Milestones themselves are in
-- the catalog source; due dates and statuses are computed from these facts (domain::payment).
--
-- 0006 is left to the monthly statements. Rows name their package by (contract_id,
-- package_no) without a foreign key, like resources: reloading a contract deletes and
-- reinserts its packages. The store checks that the package exists in the writing
-- transaction. Amounts are canonical decimal text in 元 with two decimals.

CREATE TABLE acceptances (
    id          TEXT PRIMARY KEY,
    contract_id TEXT NOT NULL,
    package_no  INTEGER NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('stage', 'final')),
    accepted_on TEXT NOT NULL,
    note        TEXT NOT NULL,
    recorded_by TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    UNIQUE (contract_id, package_no, kind)
);

CREATE TABLE acceptance_documents (
    id            TEXT PRIMARY KEY,
    acceptance_id TEXT NOT NULL REFERENCES acceptances (id),
    name          TEXT NOT NULL,
    content_type  TEXT NOT NULL,
    content       BLOB NOT NULL,
    sm3           TEXT NOT NULL,
    size          INTEGER NOT NULL CHECK (size >= 0),
    uploaded_by   TEXT NOT NULL,
    created_at    TEXT NOT NULL
);
CREATE INDEX acceptance_documents_acceptance ON acceptance_documents (acceptance_id);

CREATE TABLE payments (
    id            TEXT PRIMARY KEY,
    contract_id   TEXT NOT NULL,
    package_no    INTEGER NOT NULL,
    milestone_seq INTEGER NOT NULL CHECK (milestone_seq > 0),
    paid_on       TEXT NOT NULL,
    amount        TEXT NOT NULL,
    reference     TEXT NOT NULL,
    recorded_by   TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    UNIQUE (contract_id, package_no, milestone_seq)
);
