#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| ikd_engine::credential::fuzzing::jwks(data));
