//! [`Encoded`]: a value's bytes as they will be stored, and their format.

use std::fmt;

use crate::value::Format;

/// The longest decimal integer: `i128::MIN` is 40 characters.
const INLINE_LEN: usize = 40;

/// A value's bytes, ready to store, with the [`Format`] they are in.
///
/// Raw bytes are borrowed from the value (nothing is copied), integers are written into a
/// small buffer held here (nothing is allocated), and serialized values own their bytes.
/// Implementations of [`crate::ToValue`] for your own types build one with
/// [`Encoded::borrowed`] or [`Encoded::owned`].
#[derive(Clone)]
pub struct Encoded<'a> {
    bytes: Repr<'a>,
    format: Format,
}

#[derive(Clone)]
enum Repr<'a> {
    Borrowed(&'a [u8]),
    Inline { buf: [u8; INLINE_LEN], len: usize },
    Owned(Vec<u8>),
}

impl<'a> Encoded<'a> {
    /// Plain bytes borrowed from the value.
    pub fn borrowed(bytes: &'a [u8]) -> Self {
        Encoded {
            bytes: Repr::Borrowed(bytes),
            format: Format::Plain,
        }
    }

    /// Plain bytes the encoding produced.
    pub fn owned(bytes: Vec<u8>) -> Self {
        Encoded {
            bytes: Repr::Owned(bytes),
            format: Format::Plain,
        }
    }

    /// The same bytes, marked as being in `format` (stored in the item's flags, so that
    /// reads can check it).
    pub fn with_format(mut self, format: Format) -> Self {
        self.format = format;
        self
    }

    /// The bytes to store.
    pub fn as_bytes(&self) -> &[u8] {
        match &self.bytes {
            Repr::Borrowed(bytes) => bytes,
            // `len` never exceeds the buffer (see `decimal`); `get` keeps that from mattering.
            Repr::Inline { buf, len } => buf.get(..*len).unwrap_or_default(),
            Repr::Owned(bytes) => bytes,
        }
    }

    /// The format the bytes are in.
    pub fn format(&self) -> Format {
        self.format
    }

    /// The number of bytes.
    pub fn len(&self) -> usize {
        self.as_bytes().len()
    }

    /// Whether there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.as_bytes().is_empty()
    }

    /// `value` in ASCII decimal, the form memcached's `incr` and `decr` work on, written
    /// without allocating. `None` only for a number too long for the buffer, which no
    /// integer type has.
    pub(crate) fn decimal(value: impl fmt::Display) -> Option<Encoded<'static>> {
        let mut writer = Inline {
            buf: [0; INLINE_LEN],
            len: 0,
        };
        fmt::write(&mut writer, format_args!("{value}")).ok()?;
        Some(Encoded {
            bytes: Repr::Inline {
                buf: writer.buf,
                len: writer.len,
            },
            format: Format::Plain,
        })
    }
}

impl fmt::Debug for Encoded<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Encoded")
            .field("format", &self.format)
            .field("len", &self.len())
            .finish()
    }
}

/// A fixed buffer that refuses (rather than truncates) what does not fit.
struct Inline {
    buf: [u8; INLINE_LEN],
    len: usize,
}

impl fmt::Write for Inline {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len.checked_add(s.len()).ok_or(fmt::Error)?;
        let slot = self.buf.get_mut(self.len..end).ok_or(fmt::Error)?;
        slot.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}
