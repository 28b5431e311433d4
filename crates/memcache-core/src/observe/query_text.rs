//! A request's command lines as sent, values left out: the span's `db.query.text` when
//! [`crate::ClientBuilder::trace_keys`] asks for keys in traces.

/// The most of a request's text a span records; a batch of hundreds of keys is cut here.
const MAX_TEXT: usize = 1024;

/// The command lines of `payload` (an encoded request: lines, some followed by a data
/// block), joined by `"; "`, each data block left out, cut at [`MAX_TEXT`] bytes.
pub(crate) fn of(payload: &[u8]) -> String {
    let mut text = String::new();
    let mut rest = payload;
    while !rest.is_empty() && text.len() < MAX_TEXT {
        let end = memchr::memchr(b'\n', rest).map_or(rest.len(), |at| at + 1);
        let (line, after) = rest.split_at(end);
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if !text.is_empty() {
            text.push_str("; ");
        }
        text.push_str(&String::from_utf8_lossy(line));
        // The block and its line end; a request cut short (never one the encoder wrote)
        // just ends the text.
        let block = data_len(line).map_or(0, |len| len.saturating_add(2));
        rest = after.get(block..).unwrap_or_default();
    }
    if text.len() > MAX_TEXT {
        let mut cut = MAX_TEXT;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push('…');
    }
    text
}

/// The length of the data block that follows a command line, if it has one: the fifth
/// token of a classic storage command, the third of `ms`.
fn data_len(line: &[u8]) -> Option<usize> {
    let mut tokens = line
        .split(|&byte| byte == b' ')
        .filter(|token| !token.is_empty());
    let position = match tokens.next()? {
        b"set" | b"add" | b"replace" | b"append" | b"prepend" | b"cas" => 3,
        b"ms" => 1,
        _ => return None,
    };
    std::str::from_utf8(tokens.nth(position)?)
        .ok()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::of;

    #[test]
    fn keeps_lines_and_leaves_values_out() {
        assert_eq!(of(b"get a b c\r\n"), "get a b c");
        assert_eq!(
            of(b"set k 0 60 5\r\nhello\r\nget k\r\n"),
            "set k 0 60 5; get k"
        );
        assert_eq!(
            of(b"cas k 1 0 3 99 noreply\r\nabc\r\ndelete k\r\n"),
            "cas k 1 0 3 99 noreply; delete k"
        );
        assert_eq!(
            of(b"ms a 2 T60 q O1\r\nhi\r\nms b 0 q O2\r\n\r\nmn\r\n"),
            "ms a 2 T60 q O1; ms b 0 q O2; mn"
        );
    }

    #[test]
    fn a_value_that_looks_like_commands_stays_out() {
        assert_eq!(of(b"set k 0 0 10\r\nget secret\r\n"), "set k 0 0 10");
    }

    #[test]
    fn long_batches_are_cut() {
        let keys: Vec<String> = (0..500).map(|n| format!("key:{n}")).collect();
        let text = of(format!("get {}\r\n", keys.join(" ")).as_bytes());
        assert!(text.starts_with("get key:0 key:1 "));
        assert!(text.ends_with('…'));
        assert!(text.len() <= super::MAX_TEXT + '…'.len_utf8());
    }
}
