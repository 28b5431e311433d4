# Recipes for the memcache workspace. `just --list` shows them. `demo` and `test` run the
# cargo aliases of .cargo/config.toml, which work without `just` too.

# Run the whole test suite (unit, golden, property, fuzz-corpus replay, integration, doctests).
default: test

# A tour of the client against memcached servers it starts itself.
demo:
    cargo demo

# Every test. The integration suite starts its own memcached and nutcracker (twemproxy)
# servers, installing them first when missing and it may (root or passwordless sudo).
test:
    cargo test-all
    cargo test -p memproto -p memcache-core --no-default-features

# Formatting, clippy (default, no default and all features; `clippy.toml` holds the MSRV
# that `incompatible_msrv` checks) and rustdoc, all with warnings as errors. The library
# crates alone build without default features: the test suite and the benchmark need TLS.
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings
    cargo clippy -p memproto -p memcache-core -p memcache-tokio -p memcache-async-std --all-targets --no-default-features -- -D warnings
    cargo clippy --workspace --all-targets --all-features -- -D warnings
    RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps
    just docs-rs

# The documentation as docs.rs builds it (every feature in `package.metadata.docs.rs`):
# the feature-gated items have pages, and foreign crates' items have none of their own.
docs-rs:
    #!/usr/bin/env bash
    set -euo pipefail
    features=tls-ring,serde,lz4,tracing,metrics,testing
    RUSTDOCFLAGS="-D warnings" cargo doc --no-deps -p memcache-core -p memcache-tokio -p memcache-async-std --features "$features"
    for crate in memcache_core memcache_tokio memcache_async_std; do
        for page in struct.Tls.html value/struct.Compression.html struct.Settings.html struct.Gutter.html value/struct.Json.html value/struct.MsgPack.html testing/struct.MemoryServer.html; do
            test -f "target/doc/$crate/$page" || { echo "docs: $crate has no $page"; exit 1; }
        done
        foreign=$(find "target/doc/$crate" -path '*rustls*' -o -path '*bytes/*' | wc -l)
        test "$foreign" -eq 0 || { echo "docs: $crate holds $foreign pages of other crates"; exit 1; }
    done
    echo "docs: feature-gated items present, no foreign pages"

# Clippy against the newest versions of the dependencies that Cargo.toml allows (what a new
# user's project resolves), so an upstream deprecation shows here before users see it. The
# lockfile is put back afterwards, and the build has a target directory of its own.
lint-latest:
    #!/usr/bin/env bash
    set -euo pipefail
    mkdir -p target
    cp Cargo.lock target/Cargo.lock.pinned
    trap 'cp target/Cargo.lock.pinned Cargo.lock' EXIT
    cargo update --quiet
    CARGO_TARGET_DIR=target/latest cargo clippy --workspace --all-targets -- -D warnings

# Fuzz one target (decode, decode_chunked, encode, engine) for SECS seconds on the nightly toolchain.
fuzz TARGET SECS:
    cd fuzz && cargo +nightly fuzz run {{TARGET}} -- -max_total_time={{SECS}} -dict=dict/memcached.dict

# Codec micro-benchmarks (criterion) and the end-to-end client benchmark.
bench:
    cargo bench -p memproto --bench codec
    cargo run --profile bench -p memcache-bench
