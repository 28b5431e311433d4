#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = memproto::fuzzing::decode_raw(data);
});
