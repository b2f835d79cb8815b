#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| telepathine_fuzz::open::run(data));
