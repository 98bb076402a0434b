//! The replicated state machine: a key-value map and the session table that makes application
//! exactly-once.

use super::command::{Operation, Outcome, Request, RequestError};
use super::types::ClientId;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

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
/// The session table is bounded by `sessions_max`: past it, the least recently used session is
/// forgotten (the same one on every replica, since eviction depends only on the applied sequence).
/// A request of a forgotten session is treated as new, so exactly-once holds for a session that
/// retries before `sessions_max` other sessions have been active.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct KvStore {
    data: BTreeMap<Vec<u8>, Vec<u8>>,
    sessions: BTreeMap<ClientId, Session>,
    /// (used, client) for every session: the first element is the eviction candidate.
    recency: BTreeSet<(u64, ClientId)>,
    /// Requests applied so far (not counting retries answered from the session table).
    applied_requests: u64,
    sessions_max: usize,
}

impl KvStore {
    /// An empty store that remembers at most `sessions_max` sessions.
    pub fn new(sessions_max: usize) -> KvStore {
        assert!(sessions_max > 0, "sessions_max must be positive");
        KvStore {
            data: BTreeMap::new(),
            sessions: BTreeMap::new(),
            recency: BTreeSet::new(),
            applied_requests: 0,
            sessions_max,
        }
    }

    /// Applies a request taken from the log, once: a retry of the session's last request is
    /// answered from the session table; an older one is refused as [`RequestError::Stale`].
    pub fn apply(&mut self, request: &Request) -> Result<Vec<Outcome>, RequestError> {
        if let Some(session) = self.sessions.get(&request.client) {
            if request.sequence == session.sequence {
                return Ok(session.outcomes.clone());
            }
            if request.sequence < session.sequence {
                return Err(RequestError::Stale {
                    client: request.client,
                    sequence: request.sequence,
                    last: session.sequence,
                });
            }
        }
        let outcomes: Vec<Outcome> =
            request.operations.iter().map(|operation| self.execute(operation)).collect();
        self.applied_requests += 1;
        let used = self.applied_requests;
        let session = Session { sequence: request.sequence, outcomes: outcomes.clone(), used };
        if let Some(previous) = self.sessions.insert(request.client, session) {
            self.recency.remove(&(previous.used, request.client));
        }
        self.recency.insert((used, request.client));
        while self.sessions.len() > self.sessions_max {
            let (_, oldest) = self.recency.pop_first().expect("recency indexes every session");
            self.sessions.remove(&oldest);
        }
        Ok(outcomes)
    }

    /// Answers a read-only request from the current state, without recording it.
    pub fn read(&self, request: &Request) -> Vec<Outcome> {
        request
            .operations
            .iter()
            .map(|operation| match operation {
                Operation::Get { key } => Outcome::Value(self.data.get(key).cloned()),
                other => panic!("read() called with a write operation {other:?}"),
            })
            .collect()
    }

    fn execute(&mut self, operation: &Operation) -> Outcome {
        match operation {
            Operation::Get { key } => Outcome::Value(self.data.get(key).cloned()),
            Operation::Put { key, value } => {
                self.data.insert(key.clone(), value.clone());
                Outcome::Written
            }
            Operation::Delete { key } => Outcome::Deleted(self.data.remove(key).is_some()),
            Operation::Cas { key, expected, new } => {
                if self.data.get(key) == expected.as_ref() {
                    self.data.insert(key.clone(), new.clone());
                    Outcome::Swapped(true)
                } else {
                    Outcome::Swapped(false)
                }
            }
        }
    }

    /// The value of `key`.
    pub fn get(&self, key: &[u8]) -> Option<&[u8]> {
        self.data.get(key).map(Vec::as_slice)
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

    /// Every key and value, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.data.iter().map(|(key, value)| (key.as_slice(), value.as_slice()))
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
    fn retried_request_is_answered_from_the_session_not_applied_twice() {
        let mut kv = KvStore::new(16);
        assert_eq!(kv.apply(&cas(1, 1, "x", None, "a")), Ok(vec![Outcome::Swapped(true)]));
        assert_eq!(kv.apply(&put(2, 1, "x", "b")), Ok(vec![Outcome::Written]));
        // The retry of client 1's cas must not run again (it would now fail) nor overwrite "b".
        assert_eq!(kv.apply(&cas(1, 1, "x", None, "a")), Ok(vec![Outcome::Swapped(true)]));
        assert_eq!(kv.get(b"x"), Some(&b"b"[..]));
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
        assert_eq!(kv.get(b"x"), Some(&b"a"[..]));
    }

    #[test]
    fn cas_compares_with_absent_and_present_values() {
        let mut kv = KvStore::new(16);
        assert_eq!(kv.apply(&cas(1, 1, "x", Some("a"), "b")), Ok(vec![Outcome::Swapped(false)]));
        assert_eq!(kv.apply(&cas(1, 2, "x", None, "a")), Ok(vec![Outcome::Swapped(true)]));
        assert_eq!(kv.apply(&cas(1, 3, "x", None, "z")), Ok(vec![Outcome::Swapped(false)]));
        assert_eq!(kv.apply(&cas(1, 4, "x", Some("a"), "b")), Ok(vec![Outcome::Swapped(true)]));
        assert_eq!(kv.get(b"x"), Some(&b"b"[..]));
    }

    #[test]
    fn operations_of_one_request_apply_in_order() {
        let mut kv = KvStore::new(16);
        let request = Request {
            client: ClientId(1),
            sequence: 1,
            operations: vec![
                Operation::Put { key: b"k".to_vec(), value: b"1".to_vec() },
                Operation::Get { key: b"k".to_vec() },
                Operation::Delete { key: b"k".to_vec() },
                Operation::Delete { key: b"k".to_vec() },
                Operation::Get { key: b"k".to_vec() },
            ],
        };
        assert_eq!(
            kv.apply(&request),
            Ok(vec![
                Outcome::Written,
                Outcome::Value(Some(b"1".to_vec())),
                Outcome::Deleted(true),
                Outcome::Deleted(false),
                Outcome::Value(None),
            ])
        );
    }

    #[test]
    fn least_recently_used_session_is_evicted_past_the_bound() {
        let mut kv = KvStore::new(2);
        kv.apply(&put(1, 1, "a", "1")).unwrap();
        kv.apply(&put(2, 1, "b", "1")).unwrap();
        kv.apply(&put(1, 2, "a", "2")).unwrap();
        kv.apply(&put(3, 1, "c", "1")).unwrap();
        assert_eq!(kv.sessions(), 2);
        // Client 2 was least recently used and is forgotten: its retry applies again.
        assert_eq!(kv.apply(&put(2, 1, "b", "1")), Ok(vec![Outcome::Written]));
        assert_eq!(kv.applied_requests(), 5);
        // Re-admitting client 2 evicted client 1; client 3 is still remembered.
        assert_eq!(kv.apply(&put(3, 1, "c", "1")), Ok(vec![Outcome::Written]));
        assert_eq!(kv.applied_requests(), 5);
    }
}
