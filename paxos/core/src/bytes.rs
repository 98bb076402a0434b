//! [`Bytes`]: an immutable, cheaply cloned byte string for keys and values.
//!
//! A value written by a client is held by the log entry that carries it, by the state machine of
//! every replica, by snapshots and by messages in flight. Sharing one allocation (an `Arc<[u8]>`)
//! makes each of those a reference-count increment instead of a copy.

use serde::de::{self, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

/// An immutable byte string; clones share the allocation.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Bytes(Arc<[u8]>);

impl Bytes {
    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        &self.0
    }
}

impl Deref for Bytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl Borrow<[u8]> for Bytes {
    fn borrow(&self) -> &[u8] {
        &self.0
    }
}

impl AsRef<[u8]> for Bytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl From<&[u8]> for Bytes {
    fn from(bytes: &[u8]) -> Bytes {
        Bytes(Arc::from(bytes))
    }
}

impl<const N: usize> From<&[u8; N]> for Bytes {
    fn from(bytes: &[u8; N]) -> Bytes {
        Bytes(Arc::from(&bytes[..]))
    }
}

impl From<Vec<u8>> for Bytes {
    fn from(bytes: Vec<u8>) -> Bytes {
        Bytes(Arc::from(bytes))
    }
}

impl From<&str> for Bytes {
    fn from(text: &str) -> Bytes {
        Bytes(Arc::from(text.as_bytes()))
    }
}

impl From<String> for Bytes {
    fn from(text: String) -> Bytes {
        Bytes::from(text.into_bytes())
    }
}

impl fmt::Debug for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match std::str::from_utf8(&self.0) {
            Ok(text) => write!(f, "{text:?}"),
            Err(_) => write!(f, "0x{}", self.0.iter().map(|byte| format!("{byte:02x}")).collect::<String>()),
        }
    }
}

impl Serialize for Bytes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Bytes, D::Error> {
        struct BytesVisitor;

        impl<'de> Visitor<'de> for BytesVisitor {
            type Value = Bytes;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a byte string")
            }

            fn visit_bytes<E: de::Error>(self, bytes: &[u8]) -> Result<Bytes, E> {
                Ok(Bytes::from(bytes))
            }

            fn visit_byte_buf<E: de::Error>(self, bytes: Vec<u8>) -> Result<Bytes, E> {
                Ok(Bytes::from(bytes))
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<Bytes, E> {
                Ok(Bytes::from(text))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Bytes, A::Error> {
                let mut bytes = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 20));
                while let Some(byte) = seq.next_element::<u8>()? {
                    bytes.push(byte);
                }
                Ok(Bytes::from(bytes))
            }
        }

        deserializer.deserialize_bytes(BytesVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::de::value::{BytesDeserializer, Error, SeqDeserializer, StrDeserializer};
    use serde::de::IntoDeserializer;
    use std::collections::BTreeMap;

    /// Every view of a `Bytes` is the bytes it was made from, whichever way it was made: the
    /// runtime reads keys and values through each of them.
    #[test]
    fn every_conversion_keeps_the_bytes_and_every_view_shows_them() {
        let made = [
            Bytes::from(&b"k\x001"[..]),
            Bytes::from(b"k\x001"),
            Bytes::from(b"k\x001".to_vec()),
            Bytes::from("k\u{0}1"),
            Bytes::from(String::from("k\u{0}1")),
        ];
        for bytes in &made {
            assert_eq!(bytes.as_slice(), b"k\x001");
            assert_eq!(<Bytes as AsRef<[u8]>>::as_ref(bytes), b"k\x001");
            assert_eq!(<Bytes as Borrow<[u8]>>::borrow(bytes), b"k\x001");
            assert_eq!(&**bytes, b"k\x001");
            assert_eq!(bytes, &made[0]);
        }
        // A map keyed by `Bytes` is searched with a plain slice through `Borrow`.
        let map: BTreeMap<Bytes, u8> = [(Bytes::from("a"), 1), (Bytes::from("b"), 2)].into();
        assert_eq!((map.get(&b"b"[..]), map.get(&b"c"[..])), (Some(&2), None));
        assert!(Bytes::default().is_empty());
    }

    #[test]
    fn debug_shows_text_as_a_string_and_anything_else_in_hex() {
        assert_eq!(format!("{:?}", Bytes::from("a\"b")), "\"a\\\"b\"");
        assert_eq!(format!("{:?}", Bytes::from(&[0xff, 0x00, 0x7f][..])), "0xff007f");
    }

    /// Serialised as a byte string; read back from a byte string, a byte buffer, a string or a
    /// sequence of numbers, as the formats that store and send it produce.
    #[test]
    fn it_serialises_as_bytes_and_reads_back_from_every_form_a_format_gives() {
        assert_eq!(serde_json::to_string(&Bytes::from("ab")).expect("serialises"), "[97,98]");
        let from_bytes = Bytes::deserialize(BytesDeserializer::<Error>::new(b"ab")).expect("bytes");
        let from_str = Bytes::deserialize(StrDeserializer::<Error>::new("ab")).expect("str");
        let from_seq =
            Bytes::deserialize(SeqDeserializer::<_, Error>::new([97u8, 98].into_iter())).expect("seq");
        let from_buf = Bytes::deserialize(ByteBuf(b"ab".to_vec())).expect("byte buf");
        for read in [from_bytes, from_str, from_seq, from_buf] {
            assert_eq!(read.as_slice(), b"ab");
        }
        let refused: Result<Bytes, Error> = Bytes::deserialize(7u32.into_deserializer());
        assert_eq!(
            refused.expect_err("a number is no byte string").to_string(),
            "invalid type: integer `7`, expected a byte string"
        );
    }

    /// A deserializer that hands over an owned buffer (`visit_byte_buf`), as binary formats do.
    struct ByteBuf(Vec<u8>);

    impl<'de> Deserializer<'de> for ByteBuf {
        type Error = Error;

        fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            visitor.visit_byte_buf(self.0)
        }

        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 u8 u16 u32 u64 f32 f64 char str string bytes byte_buf option unit
            unit_struct newtype_struct seq tuple tuple_struct map struct enum identifier ignored_any
        }
    }
}
