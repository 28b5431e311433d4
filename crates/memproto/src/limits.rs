//! Limits that bound what a hostile or broken server can make the decoder buffer.

/// Decoder limits. Every one is enforced before the bytes it guards are buffered.
///
/// A plain struct: set the fields you care about and take the rest from
/// [`Limits::default`], or derive them all from the server's item size with
/// [`Limits::for_max_item_size`].
///
/// ```
/// use memproto::Limits;
///
/// let limits = Limits {
///     max_line_len: 4096,
///     ..Limits::default()
/// };
/// assert_eq!(limits.max_value_len, 64 * 1024 * 1024);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The longest reply line accepted, CRLF included. Default 8 KiB; the server's own
    /// lines are under 1 KiB.
    pub max_line_len: usize,
    /// The largest value accepted from `VALUE` or `VA` headers. Default 64 MiB. For servers
    /// started with a larger `-I`, raise it together with `max_reply_len` (or use
    /// [`Limits::for_max_item_size`]), since one value must fit in one reply.
    pub max_value_len: usize,
    /// The most lines one `stats` reply may have. Default 65 536.
    pub max_reply_lines: usize,
    /// The most bytes one reply may total: a whole multi-get reply with all its items, a
    /// whole `stats` listing, a meta reply with its value. Every line and data block of
    /// such a reply counts, with its CRLF; an error line that ends a reply early does not
    /// (`max_line_len` bounds it). Checked as each line arrives and before each data block
    /// is buffered, so a header announcing a value that would take the total past the
    /// budget fails at once. Default 64 MiB + 64 KiB: one value at the default
    /// `max_value_len` still fits with its header and `END` lines.
    pub max_reply_len: usize,
}

/// Room beyond the value limit for a reply's header and end lines.
const REPLY_SLACK: usize = 64 * 1024;
const DEFAULT_MAX_VALUE_LEN: usize = 64 * 1024 * 1024;
const DEFAULT_MAX_REPLY_LEN: usize = DEFAULT_MAX_VALUE_LEN + REPLY_SLACK;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_line_len: 8 * 1024,
            max_value_len: DEFAULT_MAX_VALUE_LEN,
            max_reply_lines: 64 * 1024,
            max_reply_len: DEFAULT_MAX_REPLY_LEN,
        }
    }
}

impl Limits {
    /// Limits for a server whose item size limit (its `-I` setting) is `max_item_size`
    /// bytes: no value can be larger than an item, so `max_value_len` is the item size.
    /// `max_reply_len` leaves room for at least two values of that size (plus 64 KiB for
    /// their lines), and is never below the default, so multi-gets of small items are as
    /// free as with [`Limits::default`]. The other fields keep their defaults.
    ///
    /// ```
    /// use memproto::Limits;
    ///
    /// let limits = Limits::for_max_item_size(128 * 1024 * 1024);
    /// assert_eq!(limits.max_value_len, 128 * 1024 * 1024);
    /// assert_eq!(limits.max_reply_len, 256 * 1024 * 1024 + 64 * 1024);
    /// ```
    pub fn for_max_item_size(max_item_size: usize) -> Limits {
        let two_items = max_item_size.saturating_mul(2).saturating_add(REPLY_SLACK);
        Limits {
            max_value_len: max_item_size,
            max_reply_len: two_items.max(DEFAULT_MAX_REPLY_LEN),
            ..Limits::default()
        }
    }
}
