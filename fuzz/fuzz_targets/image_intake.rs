#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| ikd_engine::fuzzing::image_intake(data));
