#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| ikd_credential::fuzzing::jwks(data));
