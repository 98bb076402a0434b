//! libFuzzer drives [`fuzz::peer_frame`]: see `fuzz/src/lib.rs` for the property.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz::peer_frame(data));
