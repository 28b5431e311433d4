# Recipes for the memcache workspace. `just --list` shows them.

# Run the whole test suite (unit, golden, property, fuzz-corpus replay, integration, doctests).
default: test

# A tour of the client against memcached servers it starts itself.
demo:
    cargo run --release --quiet -p memcache-tokio --example demo

# Every test: needs `memcached` and `nutcracker` (twemproxy) installed; the integration
# suite starts its own servers.
test:
    cargo test --workspace --all-features

# Formatting, clippy (default and all features; `clippy.toml` holds the MSRV that
# `incompatible_msrv` checks) and rustdoc, all with warnings as errors.
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings
    cargo clippy --workspace --all-targets --all-features -- -D warnings
    RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps

# Fuzz one target (decode, decode_chunked, encode) for SECS seconds on the nightly toolchain.
fuzz TARGET SECS:
    cd fuzz && cargo +nightly fuzz run {{TARGET}} -- -max_total_time={{SECS}} -dict=dict/memcached.dict

# Codec micro-benchmarks (criterion) and the end-to-end client benchmark.
bench:
    cargo bench -p memproto --bench codec
    cargo run --profile bench -p memcache-bench
