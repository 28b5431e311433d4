//! Limits that bound what a hostile or broken server can make the decoder buffer.

/// Decoder limits. Every one is enforced before the bytes it guards are buffered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The longest reply line accepted, CRLF included. Default 8 KiB; the server's own
    /// lines are under 1 KiB.
    pub max_line_len: usize,
    /// The largest value accepted from `VALUE` or `VA` headers. Default 64 MiB; raise it for
    /// servers started with a larger `-I`.
    pub max_value_len: usize,
    /// The most lines one `stats` reply may have. Default 65 536.
    pub max_reply_lines: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_line_len: 8 * 1024,
            max_value_len: 64 * 1024 * 1024,
            max_reply_lines: 64 * 1024,
        }
    }
}
