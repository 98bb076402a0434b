//! Writes the seed corpora, valid inputs made by the project's own encoders, into
//! `fuzz/corpus/<target>/` (run from `fuzz/`: `cargo run --example seeds`; `scripts/fuzz.sh` does
//! when a corpus is missing). The fuzzer grows and minimises them from there.

use paxos::core::io::Persist;
use paxos::core::kv::KvStore;
use paxos::core::message::{Envelope, Message};
use paxos::core::types::{Ballot, ClientId, ClusterId, GroupId, NodeId, Slot};
use paxos::core::{Operation, Request, Value};
use paxos::runtime::peer::{encode_frame, Frame, Hello};
use paxos::storage::format;
use std::path::Path;
use std::sync::Arc;

fn write(target: &str, name: &str, bytes: &[u8]) {
    let dir = Path::new("corpus").join(target);
    std::fs::create_dir_all(&dir).expect("create the corpus directory");
    std::fs::write(dir.join(name), bytes).expect("write a seed");
}

fn command(words: &[&str]) -> Vec<u8> {
    fuzz::encode_command(&words.iter().map(|word| word.as_bytes().to_vec()).collect::<Vec<_>>())
}

fn main() {
    for (name, words) in [
        ("set", &["SET", "key", "value"][..]),
        ("get", &["GET", "key"]),
        ("cas", &["CAS", "key", "old", "new"]),
        ("del", &["DEL", "key"]),
        ("info", &["INFO"]),
        ("cluster", &["CLUSTER", "NODES"]),
        ("member-add", &["MEMBER", "ADD", "4", "127.0.0.1:6382", "127.0.0.1:7382"]),
        ("member-replace", &["MEMBER", "REPLACE", "3", "4"]),
    ] {
        write("resp", name, &command(words));
    }
    write("resp", "inline", b"PING\r\n");
    let mut pipelined = command(&["SET", "a", "1"]);
    pipelined.extend(command(&["GET", "a"]));
    write("resp", "pipelined", &pipelined);

    let request = Request {
        client: ClientId(9),
        sequence: 1,
        operations: vec![Operation::Put { key: "k".into(), value: "v".into() }],
    };
    let value = Value::Batch(Arc::new(vec![request.clone()]));
    let ballot = Ballot { round: 2, node: NodeId(1) };
    let envelope = |message| Envelope { cluster: ClusterId(7), from: NodeId(1), incarnation: 0, message };
    let hello = Hello { cluster: ClusterId(7), from: NodeId(1), to: NodeId(2), address: "n1:7379".into(), groups: 4 };
    for (name, frame) in [
        ("hello", Frame::Hello(hello)),
        ("ping", Frame::Ping),
        ("pong", Frame::Pong),
        ("chunk", Frame::Chunk { bytes: vec![1, 2, 3], last: true }),
        ("prepare", Frame::Message { group: GroupId(0), envelope: envelope(Message::Prepare { ballot, from: Slot(0) }) }),
        (
            "accept",
            Frame::Message {
                group: GroupId(1),
                envelope: envelope(Message::Accept { ballot, slot: Slot(0), value: value.clone(), committed: Slot(0) }),
            },
        ),
        ("commit", Frame::Message { group: GroupId(2), envelope: envelope(Message::Commit { ballot, committed: Slot(1), round: 1 }) }),
        ("forward", Frame::Message { group: GroupId(3), envelope: envelope(Message::Forward { requests: vec![request.clone()] }) }),
    ] {
        write("peer_frame", name, &encode_frame(&frame));
    }

    for (name, bytes) in
        [("empty", &[][..]), ("three", &[3]), ("damaged", &[7, 40, 0, 0xFF]), ("cut", &[5, 9])]
    {
        write("wal", name, bytes);
    }
    let mut segment = format::segment_header(1).to_vec();
    format::encode_record(&[format::EntryRef::Persist(GroupId(0), &Persist::Promise(ballot))], &mut segment);
    write("wal", "segment", &segment);

    let mut state = KvStore::new(16);
    let _ = state.apply(&request);
    write("snapshot", "one-key", &format::encode_snapshot(GroupId(1), Slot(1), &state));
    write("snapshot", "empty", &format::encode_snapshot(GroupId(0), Slot(0), &KvStore::new(16)));

    write(
        "history",
        "jsonl",
        br#"{"process": 0, "type": "invoke", "f": "write", "key": "k", "value": "1", "time": 1}
{"process": 0, "type": "ok", "f": "write", "key": "k", "value": "1", "time": 2}
{"process": 1, "type": "invoke", "f": "read", "key": "k", "value": null, "time": 3}
{"process": 1, "type": "ok", "f": "read", "key": "k", "value": "1", "time": 4}
"#,
    );
    write(
        "history",
        "edn",
        b"{:type :invoke, :f :write, :value 1, :process 0, :time 1}\n{:type :ok, :f :write, :value 1, :process 0, :time 2}\n{:type :invoke, :f :cas, :value [1 2], :process 1, :time 3}\n{:type :fail, :f :cas, :value [1 2], :process 1, :time 4}\n",
    );
    write(
        "history",
        "jepsen-log",
        b"INFO  jepsen.util - 4\t:invoke\t:read\tnil\nINFO  jepsen.util - 4\t:ok\t:read\tnil\nINFO  jepsen.util - 1\t:invoke\t:write\t1\nINFO  jepsen.util - 2\t:invoke\t:cas\t[1 4]\nINFO  jepsen.util - 1\t:ok\t:write\t1\nINFO  jepsen.util - 2\t:info\t:cas\t:timed-out\n",
    );

    for scenario in scenarios::catalog::all() {
        write("scenario", &scenario.name, serde_json::to_string_pretty(&scenario).expect("json").as_bytes());
    }
    println!("seeds written under fuzz/corpus/");
}
