//! Items returned by fetch operations.

use bytes::Bytes;

/// A fetched item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// The value (shares the connection's read buffer: no copy was made).
    pub value: Bytes,
    /// The client flags, when asked for with `return_flags()`.
    pub flags: Option<u32>,
    /// The CAS token, for the `gets` and `gats` families.
    pub cas: Option<u64>,
}

impl Item {
    pub(crate) fn from_wire(item: memproto::Item, return_flags: bool) -> Self {
        Item {
            value: item.value,
            flags: return_flags.then_some(item.flags),
            cas: item.cas,
        }
    }
}
