-- PKI: the platform's own keys (CA, OCSP responder, TSA; wrapped by the crypto provider like
-- app keys), every certificate issued, the current CRL per hierarchy, authentication
-- challenges, issued timestamps, and the contract's USB keys and 国密 browsers.

CREATE TABLE pki_keys (
    id         TEXT PRIMARY KEY,
    kind       TEXT NOT NULL CHECK (kind IN ('sm2-sign', 'rsa-2048')),
    wrapped    TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE pki_certificates (
    serial      TEXT PRIMARY KEY,
    alg         TEXT NOT NULL CHECK (alg IN ('sm2', 'rsa')),
    profile     TEXT NOT NULL,
    subject     TEXT NOT NULL,
    sans        TEXT NOT NULL,
    not_before  TEXT NOT NULL,
    not_after   TEXT NOT NULL,
    der         TEXT NOT NULL,
    key_id      TEXT REFERENCES pki_keys (id),
    request_id  TEXT NOT NULL,
    renews      TEXT,
    status      TEXT NOT NULL CHECK (status IN ('good', 'revoked')),
    revoked_at  TEXT,
    reason      INTEGER,
    created_at  TEXT NOT NULL,
    created_by  TEXT NOT NULL
);
CREATE INDEX pki_certificates_profile ON pki_certificates (profile, status);

CREATE TABLE pki_crls (
    alg         TEXT PRIMARY KEY,
    number      BIGINT NOT NULL,
    this_update TEXT NOT NULL,
    next_update TEXT NOT NULL,
    der         TEXT NOT NULL
);

CREATE TABLE auth_challenges (
    id         TEXT PRIMARY KEY,
    app_id     TEXT NOT NULL,
    challenge  TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at    TEXT
);
CREATE INDEX auth_challenges_expiry ON auth_challenges (expires_at);

CREATE TABLE tsa_tokens (
    serial    INTEGER PRIMARY KEY AUTOINCREMENT,
    alg       TEXT NOT NULL,
    app_id    TEXT NOT NULL,
    gen_time  TEXT NOT NULL,
    hash_alg  TEXT NOT NULL,
    imprint   TEXT NOT NULL,
    token     TEXT
);

CREATE TABLE pki_inventory (
    id          TEXT PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('usbkey', 'browser')),
    label       TEXT NOT NULL,
    assigned_to TEXT,
    assigned_at TEXT,
    created_at  TEXT NOT NULL
);
