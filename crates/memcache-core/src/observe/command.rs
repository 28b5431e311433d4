//! The command a request runs, named from its first bytes: the `db.operation.name` of its
//! span and of its latency series.

/// Every command name, by index; the last stands for anything else.
pub(crate) const NAMES: [&str; 25] = [
    "get",
    "gets",
    "gat",
    "gats",
    "set",
    "add",
    "replace",
    "append",
    "prepend",
    "cas",
    "delete",
    "incr",
    "decr",
    "touch",
    "mg",
    "ms",
    "md",
    "ma",
    "mn",
    "me",
    "version",
    "stats",
    "flush_all",
    "verbosity",
    "other",
];

/// The index in [`NAMES`] of the command a request's bytes start with (a batch's first).
pub(crate) fn of(payload: &[u8]) -> usize {
    let end = payload
        .iter()
        .position(|&byte| byte == b' ' || byte == b'\r')
        .unwrap_or(payload.len());
    // A match the compiler turns into length and byte comparisons, not a scan of NAMES.
    match &payload[..end] {
        b"get" => 0,
        b"gets" => 1,
        b"gat" => 2,
        b"gats" => 3,
        b"set" => 4,
        b"add" => 5,
        b"replace" => 6,
        b"append" => 7,
        b"prepend" => 8,
        b"cas" => 9,
        b"delete" => 10,
        b"incr" => 11,
        b"decr" => 12,
        b"touch" => 13,
        b"mg" => 14,
        b"ms" => 15,
        b"md" => 16,
        b"ma" => 17,
        b"mn" => 18,
        b"me" => 19,
        b"version" => 20,
        b"stats" => 21,
        b"flush_all" => 22,
        b"verbosity" => 23,
        _ => NAMES.len() - 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_is_found_at_its_index() {
        for (at, name) in NAMES.iter().enumerate() {
            assert_eq!(of(format!("{name} k\r\n").as_bytes()), at, "{name}");
        }
    }

    #[test]
    fn commands_are_named_by_their_first_word() {
        let name = |payload: &[u8]| NAMES[of(payload)];
        assert_eq!(name(b"get a b\r\n"), "get");
        assert_eq!(name(b"mg a v q O0\r\nmn\r\n"), "mg");
        assert_eq!(name(b"version\r\n"), "version");
        assert_eq!(name(b"frobnicate\r\n"), "other");
        assert_eq!(name(b"other\r\n"), "other");
        assert_eq!(name(b""), "other");
    }
}
