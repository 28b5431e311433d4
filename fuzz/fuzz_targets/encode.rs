#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = memproto::fuzzing::encode_no_injection(data);
});
