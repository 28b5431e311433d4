//! The client's engine (a node's pool, its connections, a scripted server) driven by
//! arbitrary sequences of events in virtual time; it panics when an invariant breaks: a
//! caller given another request's reply, a caller on a connection still waiting past its
//! deadline, a connection over its budget.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    memcache_core::fuzzing::engine(data);
});
