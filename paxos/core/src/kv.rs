//! The replicated state machine: a key-value map and the session table that makes application
//! exactly-once.

use super::bytes::Bytes;
use super::command::{Operation, Outcome, Request, RequestError};
use super::membership::{MemberError, Membership};
use super::types::ClientId;
use serde::{Deserialize, Serialize};
use std::collections::btree_map::Entry;
use std::collections::BTreeMap;

/// The last request applied for one client session, with its outcomes, so that a retry is
/// answered instead of applied again.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
struct Session {
    sequence: u64,
    outcomes: Vec<Outcome>,
    /// When the session was last used, in applied requests: orders eviction.
    used: u64,
}

/// The key-value state machine. Every replica applies the same requests in the same (slot) order
/// and so holds the same `KvStore`.
///
/// The session table is bounded by `sessions_max`: when it is full, the least recently used
/// quarter of the sessions is forgotten (the same ones on every replica, since eviction depends
/// only on the applied sequence). A request of a forgotten session is treated as new, so
/// exactly-once holds for a session that retries before about `sessions_max` other sessions have
/// been active.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct KvStore {
    data: BTreeMap<Key, Bytes>,
    sessions: BTreeMap<ClientId, Session>,
    /// Requests applied so far (not counting retries answered from the session table).
    applied_requests: u64,
    sessions_max: usize,
    /// Who votes and who learns, as of the applied point (see [`membership`](super::membership)).
    membership: Membership,
}

/// A key of the map, ordered by a fixed 64-bit hash of its bytes first: most comparisons are then
/// one integer comparison instead of a pointer chase and a byte comparison. The hash is fixed (no
/// random seed), so every replica, every run and the model checker see the same order.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
struct Key {
    hash: u64,
    bytes: Bytes,
}

impl Key {
    fn new(bytes: &Bytes) -> Key {
        Key { hash: key_hash(bytes), bytes: bytes.clone() }
    }
}

/// A fixed 64-bit hash, eight bytes at a time (the multiply-rotate mix of rustc's FxHash), with
/// the length mixed in so that keys differing only by trailing zero bytes differ.
fn key_hash(bytes: &[u8]) -> u64 {
    const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;
    let mix = |hash: u64, word: u64| (hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    let mut chunks = bytes.chunks_exact(8);
    let mut hash = mix(0, bytes.len() as u64);
    for chunk in &mut chunks {
        hash = mix(hash, u64::from_le_bytes(chunk.try_into().expect("chunks of eight")));
    }
    let mut tail = [0u8; 8];
    tail[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
    mix(hash, u64::from_le_bytes(tail))
}

/// Applies one operation to the data or the membership.
fn execute(data: &mut BTreeMap<Key, Bytes>, membership: &mut Membership, operation: &Operation) -> Outcome {
    match operation {
        Operation::Member(change) => Outcome::Member(membership.apply(change)),
        Operation::Transfer { to } => Outcome::Member(if membership.is_voter(*to) {
            Ok(membership.version)
        } else {
            Err(MemberError::NotVoter(*to))
        }),
        Operation::Get { key } => Outcome::Value(data.get(&Key::new(key)).cloned()),
        Operation::Put { key, value } => {
            write(data, Key::new(key), value);
            Outcome::Written
        }
        Operation::Delete { key } => Outcome::Deleted(data.remove(&Key::new(key)).is_some()),
        Operation::Cas { key, expected, new } => {
            let key = Key::new(key);
            let swap = data.get(&key) == expected.as_ref();
            if swap {
                write(data, key, new);
            }
            Outcome::Swapped(swap)
        }
    }
}

/// Writes `value` under `key`, in place when the key exists.
fn write(data: &mut BTreeMap<Key, Bytes>, key: Key, value: &Bytes) {
    match data.get_mut(&key) {
        Some(slot) => *slot = value.clone(),
        None => {
            data.insert(key, value.clone());
        }
    }
}

impl KvStore {
    /// An empty store that remembers at most `sessions_max` sessions.
    pub fn new(sessions_max: usize) -> KvStore {
        KvStore::with_membership(sessions_max, Membership::default())
    }

    /// An empty store whose membership starts as `membership`.
    pub fn with_membership(sessions_max: usize, membership: Membership) -> KvStore {
        assert!(sessions_max > 0, "sessions_max must be positive");
        KvStore {
            data: BTreeMap::new(),
            sessions: BTreeMap::new(),
            applied_requests: 0,
            sessions_max,
            membership,
        }
    }

    /// The membership as of the applied point.
    pub fn membership(&self) -> &Membership {
        &self.membership
    }

    /// Applies a request taken from the log, once: a retry of the session's last request is
    /// answered from the session table; an older one is refused as [`RequestError::Stale`].
    pub fn apply(&mut self, request: &Request) -> Result<&[Outcome], RequestError> {
        let client = request.client;
        if self.sessions.len() >= self.sessions_max && !self.sessions.contains_key(&client) {
            self.evict();
        }
        let used = self.applied_requests + 1;
        let session = match self.sessions.entry(client) {
            Entry::Occupied(entry) => {
                let session = entry.into_mut();
                if request.sequence < session.sequence {
                    return Err(RequestError::Stale {
                        client,
                        sequence: request.sequence,
                        last: session.sequence,
                    });
                }
                if request.sequence == session.sequence {
                    return Ok(&session.outcomes);
                }
                session
            }
            Entry::Vacant(entry) => entry.insert(Session { sequence: 0, outcomes: Vec::new(), used }),
        };
        self.applied_requests = used;
        session.sequence = request.sequence;
        session.used = used;
        // The session's buffer is reused: no allocation per request in the steady state.
        session.outcomes.clear();
        for operation in &request.operations {
            session.outcomes.push(execute(&mut self.data, &mut self.membership, operation));
        }
        Ok(&session.outcomes)
    }

    /// Forgets the least recently used quarter of the sessions (at least one).
    fn evict(&mut self) {
        let count = (self.sessions_max / 4).max(1);
        let mut used: Vec<u64> = self.sessions.values().map(|session| session.used).collect();
        let (_, threshold, _) = used.select_nth_unstable(count - 1);
        let threshold = *threshold;
        self.sessions.retain(|_, session| session.used > threshold);
    }

    /// Answers a read-only request from the current state, without recording it.
    pub fn read(&self, request: &Request) -> Vec<Outcome> {
        request
            .operations
            .iter()
            .map(|operation| match operation {
                Operation::Get { key } => Outcome::Value(self.data.get(&Key::new(key)).cloned()),
                other => panic!("read() called with a write operation {other:?}"),
            })
            .collect()
    }

    /// The value of `key`.
    pub fn get(&self, key: &[u8]) -> Option<&Bytes> {
        self.data.get(&Key::new(&Bytes::from(key)))
    }

    /// The number of keys.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Whether the store holds no key.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The number of sessions remembered.
    pub fn sessions(&self) -> usize {
        self.sessions.len()
    }

    /// Requests applied (retries excluded).
    pub fn applied_requests(&self) -> u64 {
        self.applied_requests
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(client: u64, sequence: u64, key: &str, value: &str) -> Request {
        Request {
            client: ClientId(client),
            sequence,
            operations: vec![Operation::Put { key: key.into(), value: value.into() }],
        }
    }

    fn cas(client: u64, sequence: u64, key: &str, expected: Option<&str>, new: &str) -> Request {
        Request {
            client: ClientId(client),
            sequence,
            operations: vec![Operation::Cas {
                key: key.into(),
                expected: expected.map(Into::into),
                new: new.into(),
            }],
        }
    }

    #[test]
    fn a_store_counts_its_keys_and_says_when_it_has_none() {
        let mut kv = KvStore::new(4);
        assert!(kv.is_empty());
        assert_eq!(kv.len(), 0);
        kv.apply(&put(1, 1, "a", "1")).unwrap();
        kv.apply(&put(1, 2, "b", "1")).unwrap();
        assert!(!kv.is_empty());
        assert_eq!(kv.len(), 2);
    }

    #[test]
    fn the_key_hash_is_pinned_because_snapshots_store_it() {
        // Snapshots hold the map with each key's hash: a snapshot written by one version is read
        // by the next, so the hash of a key must never change (or old keys would not be found).
        for (key, hash) in [
            (&b""[..], 0),
            (b"a", 10_257_619_447_530_855_975),
            (b"12345678", 8_575_438_251_622_851_519),
            (b"123456789", 15_707_450_863_705_177_476),
            (b"a\0", 4_354_803_469_640_022_489),
        ] {
            assert_eq!(key_hash(key), hash, "{:?}", String::from_utf8_lossy(key));
        }
    }

    #[test]
    fn retried_request_is_answered_from_the_session_not_applied_twice() {
        let mut kv = KvStore::new(16);
        assert_eq!(kv.apply(&cas(1, 1, "x", None, "a")), Ok(&[Outcome::Swapped(true)][..]));
        assert_eq!(kv.apply(&put(2, 1, "x", "b")), Ok(&[Outcome::Written][..]));
        // The retry of client 1's cas must not run again (it would now fail) nor overwrite "b".
        assert_eq!(kv.apply(&cas(1, 1, "x", None, "a")), Ok(&[Outcome::Swapped(true)][..]));
        assert_eq!(kv.get(b"x"), Some(&Bytes::from("b")));
        assert_eq!(kv.applied_requests(), 2);
    }

    #[test]
    fn older_request_of_a_session_is_stale() {
        let mut kv = KvStore::new(16);
        kv.apply(&put(1, 5, "x", "a")).unwrap();
        assert_eq!(
            kv.apply(&put(1, 4, "x", "b")),
            Err(RequestError::Stale { client: ClientId(1), sequence: 4, last: 5 })
        );
        assert_eq!(kv.get(b"x"), Some(&Bytes::from("a")));
    }

    #[test]
    fn cas_compares_with_absent_and_present_values() {
        let mut kv = KvStore::new(16);
        assert_eq!(kv.apply(&cas(1, 1, "x", Some("a"), "b")), Ok(&[Outcome::Swapped(false)][..]));
        assert_eq!(kv.apply(&cas(1, 2, "x", None, "a")), Ok(&[Outcome::Swapped(true)][..]));
        assert_eq!(kv.apply(&cas(1, 3, "x", None, "z")), Ok(&[Outcome::Swapped(false)][..]));
        assert_eq!(kv.apply(&cas(1, 4, "x", Some("a"), "b")), Ok(&[Outcome::Swapped(true)][..]));
        assert_eq!(kv.get(b"x"), Some(&Bytes::from("b")));
    }

    #[test]
    fn operations_of_one_request_apply_in_order() {
        let mut kv = KvStore::new(16);
        let request = Request {
            client: ClientId(1),
            sequence: 1,
            operations: vec![
                Operation::Put { key: "k".into(), value: "1".into() },
                Operation::Get { key: "k".into() },
                Operation::Delete { key: "k".into() },
                Operation::Delete { key: "k".into() },
                Operation::Get { key: "k".into() },
            ],
        };
        assert_eq!(
            kv.apply(&request),
            Ok(&[
                Outcome::Written,
                Outcome::Value(Some("1".into())),
                Outcome::Deleted(true),
                Outcome::Deleted(false),
                Outcome::Value(None),
            ][..])
        );
    }

    #[test]
    fn least_recently_used_sessions_are_evicted_past_the_bound() {
        let mut kv = KvStore::new(4);
        for client in 1..=4 {
            kv.apply(&put(client, 1, "a", "1")).unwrap();
        }
        kv.apply(&put(1, 2, "a", "2")).unwrap();
        // A fifth session evicts the least recently used quarter: client 2.
        kv.apply(&put(5, 1, "b", "1")).unwrap();
        assert_eq!(kv.sessions(), 4);
        assert_eq!(kv.applied_requests(), 6);
        // Client 3 is still remembered: its retry is answered, not applied.
        kv.apply(&put(3, 1, "a", "1")).unwrap();
        assert_eq!(kv.applied_requests(), 6);
        // Client 2 was forgotten: its retry applies again.
        kv.apply(&put(2, 1, "a", "1")).unwrap();
        assert_eq!(kv.applied_requests(), 7);
        // Of eight sessions, a quarter is two: clients 2 and 3 go, 4 stays.
        let mut kv = KvStore::new(8);
        for client in 1..=8 {
            kv.apply(&put(client, 1, "a", "1")).unwrap();
        }
        kv.apply(&put(1, 2, "a", "2")).unwrap();
        kv.apply(&put(9, 1, "b", "1")).unwrap();
        assert_eq!(kv.sessions(), 7);
        for (client, applied_again) in [(4, false), (3, true), (2, true)] {
            let before = kv.applied_requests();
            kv.apply(&put(client, 1, "a", "1")).unwrap();
            assert_eq!(kv.applied_requests() > before, applied_again, "client {client}");
        }
    }
}
