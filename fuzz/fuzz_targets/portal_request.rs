#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| duo_okta_fuzz::targets::portal_request(data));
