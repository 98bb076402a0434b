//! The fuzz targets' properties (`fuzz/src/lib.rs`, included here as it is) in the ordinary test
//! command, without libFuzzer: every kept corpus file (`fuzz/corpus/TARGET/`, grown and minimised
//! by `scripts/fuzz.sh`), then seeded mutations of each (bytes flipped, inserted, removed, cut),
//! so that a regression in any decoder of outside bytes fails here before anyone fuzzes again.
//! `FUZZ_MUTATIONS=N` mutants per file (default 8); `FUZZ_SEED=S` another seed. A failure prints
//! the target, the file, the seed and the mutant's bytes.

#[allow(dead_code, missing_docs)]
#[path = "../../fuzz/src/lib.rs"]
mod properties;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::path::Path;

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|value| value.parse().ok()).unwrap_or(default)
}

/// One random change of `bytes`.
fn mutate(rng: &mut SmallRng, bytes: &mut Vec<u8>) {
    let at = if bytes.is_empty() { 0 } else { rng.random_range(0..bytes.len()) };
    match rng.random_range(0..5) {
        0 if !bytes.is_empty() => bytes[at] ^= 1 << rng.random_range(0..8),
        1 if !bytes.is_empty() => bytes[at] = rng.random(),
        2 => bytes.insert(at, rng.random()),
        3 if !bytes.is_empty() => {
            bytes.remove(at);
        }
        _ => bytes.truncate(at),
    }
}

#[test]
fn every_corpus_file_and_its_mutants_keep_every_decoders_properties() {
    let mutations = env_number("FUZZ_MUTATIONS", 8);
    let seed = env_number("FUZZ_SEED", 1);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
    // The allocation limit is not vacuous: the counting allocator is in place, and a decoder that
    // trusted a length prefix would break it.
    let claimed = 64 << 20;
    let (_, bytes) = properties::allocated_by(|| Vec::<u8>::with_capacity(claimed));
    assert!(bytes >= claimed && bytes > properties::allocation_limit(20), "{bytes} bytes counted");
    let mut checked = 0;
    for (target, property) in properties::TARGETS {
        let dir = root.join(target);
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|error| panic!("{}: {error}", dir.display()))
            .map(|entry| entry.expect("a corpus entry").path())
            .collect();
        files.sort();
        assert!(!files.is_empty(), "{}: an empty corpus", dir.display());
        for (index, file) in files.iter().enumerate() {
            let bytes = std::fs::read(file).expect("read a corpus file");
            let mut rng = SmallRng::seed_from_u64(seed ^ (index as u64) << 8);
            let mut inputs = vec![bytes.clone()];
            let mut mutant = bytes;
            for _ in 0..mutations {
                for _ in 0..rng.random_range(1..=4) {
                    mutate(&mut rng, &mut mutant);
                }
                inputs.push(mutant.clone());
            }
            for input in inputs {
                let outcome = std::panic::catch_unwind(|| property(&input));
                assert!(
                    outcome.is_ok(),
                    "target {target}, {} (seed {seed}), input {:?}: the property failed; reproduce: FUZZ_SEED={seed} cargo test -p chaos --test fuzz_corpus",
                    file.display(),
                    String::from_utf8_lossy(&input)
                );
                checked += 1;
            }
        }
    }
    println!("{checked} inputs checked (seed {seed}, {mutations} mutants per corpus file)");
}
