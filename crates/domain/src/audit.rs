//! The audit chain (审计日志): every entry is hashed with SM3 over its own fields and the
//! previous entry's hash, so that editing, deleting or reordering any stored row breaks the
//! chain at a place `verify` can name.

use chrono::{DateTime, SubsecRound, Utc};
use sm3::{Digest, Sm3};

/// The hash that precedes the first entry.
pub const GENESIS: [u8; 32] = [0; 32];

/// What happened, before it is stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEvent {
    pub at: DateTime<Utc>,
    /// Who did it: a user name, or `system` for the server itself.
    pub actor: String,
    /// A dotted verb such as `user.create` or `catalog.load`.
    pub action: String,
    /// What it was done to (a user name, a contract id, …), may be empty.
    pub target: String,
    /// Details as canonical JSON text (no secrets ever).
    pub detail: String,
}

impl AuditEvent {
    pub fn new(at: DateTime<Utc>, actor: &str, action: &str, target: &str, detail: String) -> Self {
        // Stored times keep microseconds (PostgreSQL's precision); hash what is stored.
        Self {
            at: at.trunc_subsecs(6),
            actor: actor.to_owned(),
            action: action.to_owned(),
            target: target.to_owned(),
            detail,
        }
    }
}

/// A stored entry with its place in the chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEntry {
    pub seq: i64,
    pub event: AuditEvent,
    pub prev_hash: [u8; 32],
    pub hash: [u8; 32],
}

/// SM3 over the previous hash and the entry's fields, each length-prefixed so that no two
/// different entries hash the same bytes.
pub fn entry_hash(prev: &[u8; 32], seq: i64, e: &AuditEvent) -> [u8; 32] {
    let mut h = Sm3::new();
    h.update(b"govcloud-audit-v1");
    h.update(prev);
    h.update(seq.to_be_bytes());
    let at = e.at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    for field in [at.as_str(), &e.actor, &e.action, &e.target, &e.detail] {
        h.update((field.len() as u64).to_be_bytes());
        h.update(field.as_bytes());
    }
    h.finalize().into()
}

/// Build the entry that follows `prev` (or starts the chain).
pub fn next_entry(prev: Option<(i64, [u8; 32])>, event: AuditEvent) -> AuditEntry {
    let (seq, prev_hash) = match prev {
        Some((s, h)) => (s + 1, h),
        None => (1, GENESIS),
    };
    let hash = entry_hash(&prev_hash, seq, &event);
    AuditEntry {
        seq,
        event,
        prev_hash,
        hash,
    }
}

/// Where and why the chain is broken.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("audit chain broken at entry {seq}: {reason}")]
pub struct ChainBreak {
    pub seq: i64,
    pub reason: String,
}

/// Checks entries in the order they are stored, one at a time, so that a long log is
/// verified without holding it in memory.
#[derive(Debug)]
pub struct ChainVerifier {
    expected_seq: i64,
    prev: [u8; 32],
    checked: u64,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        Self {
            expected_seq: 1,
            prev: GENESIS,
            checked: 0,
        }
    }
}

impl ChainVerifier {
    pub fn feed(&mut self, e: &AuditEntry) -> Result<(), ChainBreak> {
        let brk = |reason: String| ChainBreak { seq: e.seq, reason };
        if e.seq != self.expected_seq {
            return Err(brk(format!(
                "expected entry {} here, found {} (an entry was deleted or reordered)",
                self.expected_seq, e.seq
            )));
        }
        if e.prev_hash != self.prev {
            return Err(brk(
                "its link to the previous entry does not match (the previous entry was changed, deleted or reordered)"
                    .to_owned(),
            ));
        }
        if entry_hash(&e.prev_hash, e.seq, &e.event) != e.hash {
            return Err(brk(
                "its contents do not match its hash (the entry was edited)".to_owned(),
            ));
        }
        self.expected_seq += 1;
        self.prev = e.hash;
        self.checked += 1;
        Ok(())
    }

    /// Compare the end of the chain with the head recorded separately, which catches
    /// entries removed from the end.
    pub fn finish(self, head: Option<(i64, [u8; 32])>) -> Result<u64, ChainBreak> {
        match head {
            None if self.checked == 0 => Ok(0),
            Some((seq, hash)) if seq == self.expected_seq - 1 && hash == self.prev => Ok(self.checked),
            Some((seq, _)) => Err(ChainBreak {
                seq,
                reason: format!(
                    "the recorded head is entry {seq} but the log ends at entry {} (entries were removed from the end)",
                    self.expected_seq - 1
                ),
            }),
            None => Err(ChainBreak {
                seq: 1,
                reason: "the log has entries but no recorded head".to_owned(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn chain(n: i64) -> Vec<AuditEntry> {
        let mut out: Vec<AuditEntry> = Vec::new();
        for i in 0..n {
            let at = Utc.with_ymd_and_hms(2026, 11, 28, 12, 0, i as u32).unwrap();
            let ev = AuditEvent::new(at, "admin", "user.create", &format!("u{i}"), "{}".into());
            let prev = out.last().map(|e| (e.seq, e.hash));
            out.push(next_entry(prev, ev));
        }
        out
    }

    fn verify(entries: &[AuditEntry], head: Option<(i64, [u8; 32])>) -> Result<u64, ChainBreak> {
        let mut v = ChainVerifier::default();
        for e in entries {
            v.feed(e)?;
        }
        v.finish(head)
    }

    fn head(c: &[AuditEntry]) -> Option<(i64, [u8; 32])> {
        c.last().map(|e| (e.seq, e.hash))
    }

    #[test]
    fn sm3_is_the_standard_one() {
        // GB/T 32905-2016 Appendix A.1: SM3("abc").
        let d: [u8; 32] = Sm3::digest(b"abc").into();
        assert_eq!(
            hex::encode(d),
            "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
        );
    }

    #[test]
    fn intact_chain_verifies() {
        let c = chain(5);
        assert_eq!(verify(&c, head(&c)), Ok(5));
        assert_eq!(verify(&[], None), Ok(0));
    }

    #[test]
    fn each_kind_of_tampering_is_named() {
        let c = chain(5);
        let h = head(&c);
        let mut edited = c.clone();
        edited[2].event.detail = "{\"x\":1}".into();
        assert_eq!(verify(&edited, h).unwrap_err().seq, 3);

        let mut deleted = c.clone();
        deleted.remove(1);
        assert_eq!(verify(&deleted, h).unwrap_err().seq, 3);

        let mut swapped = c.clone();
        swapped.swap(1, 2);
        assert_eq!(verify(&swapped, h).unwrap_err().seq, 3);

        // renumbering after a deletion still breaks the link
        let mut renumbered = deleted.clone();
        for (i, e) in renumbered.iter_mut().enumerate() {
            e.seq = i as i64 + 1;
        }
        assert_eq!(verify(&renumbered, h).unwrap_err().seq, 2);

        let truncated = &c[..4];
        assert_eq!(verify(truncated, h).unwrap_err().seq, 5);
    }
}
