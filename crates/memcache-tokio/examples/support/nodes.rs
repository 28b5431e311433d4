//! The nodes of the examples that talk to servers named on the command line
//! (`-- [HOST:PORT ...]`). Plain `std`, no client and no runtime, so the async-std examples
//! include this file too (with `#[path]`).

/// The `HOST:PORT` arguments, or `127.0.0.1:11211` when there are none.
pub(crate) fn from_args() -> Vec<String> {
    let mut nodes: Vec<String> = std::env::args().skip(1).collect();
    if nodes.is_empty() {
        nodes.push("127.0.0.1:11211".into());
    }
    nodes
}
