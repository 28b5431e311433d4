//! memproto over a plain blocking `std::net::TcpStream`, without an async runtime.
//!
//! ```text
//! cargo run -p memproto --example blocking -- 127.0.0.1:11211
//! ```
//!
//! The client lives in `blocking/client.rs`; this program walks through what it can do
//! against the server named by the first argument (default `127.0.0.1:11211`).

use std::process::ExitCode;
use std::time::Duration;

use memproto::{
    Command, EncodeError, Exptime, MetaSet, MetaSetMode, Reply, Retrieve, RetrieveKind, Store,
    StoreMode,
};

#[path = "blocking/client.rs"]
mod client;

use client::{Client, Error};

fn main() -> ExitCode {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:11211".to_owned());
    match run(&addr) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run(addr: &str) -> Result<(), Box<dyn std::error::Error>> {
    let mut client = Client::connect(addr, Duration::from_secs(2))?;
    println!("connected to {addr}");

    client.set(b"example:greeting", b"hello", Exptime::Never)?;
    println!("set example:greeting = hello");
    let value = client.get(b"example:greeting")?;
    println!("get example:greeting -> {}", show(value.as_deref()));
    println!(
        "get example:missing -> {}",
        show(client.get(b"example:missing")?.as_deref())
    );

    client.set(b"example:counter", b"41", Exptime::Never)?;
    println!(
        "incr example:counter by 1 -> {:?}",
        client.incr(b"example:counter", 1)?
    );
    println!(
        "incr example:nothing by 1 -> {:?}",
        client.incr(b"example:nothing", 1)?
    );
    println!(
        "delete example:counter -> {}",
        client.delete(b"example:counter")?
    );
    println!(
        "delete example:counter -> {}",
        client.delete(b"example:counter")?
    );

    // Three requests in one write; three replies, in order.
    let keys: &[&[u8]] = &[b"example:a", b"example:b"];
    let replies = client.pipeline(&[
        Command::Store(Store::new(StoreMode::Set, b"example:a", b"1")),
        Command::Store(Store::new(StoreMode::Add, b"example:a", b"2")),
        Command::Retrieve(Retrieve {
            kind: RetrieveKind::Get,
            keys,
        }),
    ])?;
    println!("pipelined set, add, get:");
    for reply in &replies {
        match reply {
            Reply::Values(items) => {
                for item in items.iter() {
                    println!(
                        "  VALUE {} = {}",
                        show(Some(&item.key)),
                        show(Some(&item.value))
                    );
                }
            }
            other => println!("  {other:?}"),
        }
    }

    // Quiet sets: the server answers only the one that fails (an add on a present key).
    let sets = [
        MetaSet {
            key: b"example:q0",
            value: b"zero",
            ..MetaSet::default()
        },
        MetaSet {
            key: b"example:a",
            value: b"again",
            mode: MetaSetMode::Add,
            ..MetaSet::default()
        },
        MetaSet {
            key: b"example:q2",
            value: b"two",
            ..MetaSet::default()
        },
    ];
    let failures = client.set_quiet(&sets)?;
    println!("quiet batch of {} sets, failures:", sets.len());
    for (index, reply) in &failures {
        println!(
            "  #{index} ({}): {:?}",
            show(Some(sets[*index].key)),
            reply.status
        );
    }

    // A key with a space would split the command: refused before anything is sent.
    match client.get(b"two words") {
        Err(Error::Encode(EncodeError::Key(error))) => {
            println!("get \"two words\" refused: {error}")
        }
        other => println!("get \"two words\" -> {other:?}"),
    }
    let usable = client.get(b"example:greeting").is_ok();
    println!("connection still usable: {usable}");

    // `quit` makes the server close the connection without answering the `get` behind it.
    let keys: &[&[u8]] = &[b"example:greeting"];
    let closed = client.pipeline(&[
        Command::Quit,
        Command::Retrieve(Retrieve {
            kind: RetrieveKind::Get,
            keys,
        }),
    ]);
    match closed {
        Err(error) => println!(
            "after quit: {error} (usable: {})",
            error.connection_usable()
        ),
        Ok(replies) => println!("after quit: {replies:?}"),
    }
    Ok(())
}

fn show(bytes: Option<&[u8]>) -> String {
    match bytes {
        Some(bytes) => format!("{:?}", bytes.escape_ascii().to_string()),
        None => "miss".to_owned(),
    }
}
