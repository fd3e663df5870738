#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| ikd_pipelines::fuzzing::requests_table(data));
