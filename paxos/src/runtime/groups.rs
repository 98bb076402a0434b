//! Which Paxos group holds a key: `fmix32(crc32c(key)) mod G`, for the `G` groups the cluster was
//! created with. Every node computes it the same way (the function and `G` never change for a
//! cluster), so a request can reach any node: the node hands each operation to its key's group,
//! and the group's replica forwards it to the group's leader as a single-group node does.
//!
//! - `crc32c`: CRC-32C (Castagnoli, polynomial `0x1EDC6F41` reflected, initial and final value
//!   `0xFFFFFFFF`) of the key's bytes exactly as the client sent them; `crc32c("a") = 0xC1D04330`.
//! - `fmix32`: MurmurHash3's 32-bit finalizer: `h ^= h >> 16; h *= 0x85EBCA6B; h ^= h >> 13;
//!   h *= 0xC2B2AE35; h ^= h >> 16` (wrapping). A CRC is linear in its input: keys that differ in
//!   one character (`k1`, `k2`, ...) have CRCs whose low bits take only a few values, and with
//!   four groups `k0`..`k11` fell into two of them; the finalizer spreads them.
//!
//! A client that wants to send a key straight to its group's leader computes the same; with four
//! groups `a` is in group 0 and `k2` in group 2.

use crate::core::GroupId;

/// The group of `key` among `groups` groups.
///
/// # Panics
///
/// `groups` is 0 (a cluster has at least one group).
pub fn group_of(key: &[u8], groups: u16) -> GroupId {
    assert!(groups > 0, "a cluster has at least one group");
    let remainder = fmix32(crc32c::crc32c(key)) % u32::from(groups);
    GroupId(u16::try_from(remainder).expect("below the number of groups, a u16"))
}

/// MurmurHash3's 32-bit finalizer: every input bit affects every output bit.
fn fmix32(mut hash: u32) -> u32 {
    hash ^= hash >> 16;
    hash = hash.wrapping_mul(0x85EB_CA6B);
    hash ^= hash >> 13;
    hash = hash.wrapping_mul(0xC2B2_AE35);
    hash ^ (hash >> 16)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The mapping is part of the cluster's format: pinned, so that no build moves a key to
    /// another group (its value would be lost to readers).
    #[test]
    fn keys_map_to_groups_by_their_mixed_crc32c() {
        assert_eq!(crc32c::crc32c(b"a"), 0xC1D0_4330);
        assert_eq!(fmix32(0xC1D0_4330), 0xEAD7_8E20);
        let keys: Vec<String> = (0..12).map(|n| format!("k{n}")).collect();
        let groups: Vec<u16> = keys.iter().map(|key| group_of(key.as_bytes(), 4).0).collect();
        assert_eq!(groups, [3, 3, 2, 1, 2, 2, 3, 2, 3, 2, 1, 1]);
        assert_eq!(group_of(b"a", 4), GroupId(0));
        assert_eq!(group_of(b"anything", 1), GroupId(0));
    }
}
