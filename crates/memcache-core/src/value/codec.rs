//! [`ToValue`] and [`FromValue`], and their implementations for bytes, text and integers.

use std::borrow::Cow;
use std::str::FromStr;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};

use crate::value::{Encoded, Format, ValueError};

/// A value that can be stored: it turns itself into bytes and names their [`Format`].
///
/// Raw bytes and text are stored as they are (borrowed, not copied); integers in ASCII
/// decimal, so that `increment` and `decrement` work on them; `Json` and
/// `MsgPack` (feature `serde`) serialize.
pub trait ToValue {
    /// The bytes to store and their format.
    fn to_value(&self) -> Result<Encoded<'_>, ValueError>;
}

/// A type a fetched value can be read as, given the bytes (already decompressed) and the
/// format the item's flags name.
///
/// `Bytes` and `Vec<u8>` read any item, whatever its flags (see [`FromValue::RAW`]);
/// `String` and the integers take plain values only, and refuse flags that name no
/// encoding of this client's.
pub trait FromValue: Sized {
    /// Whether the type takes a value's bytes whatever the item's flags say. Then flags
    /// that are no valid encoding of this client's (another client's flags, raw flags in
    /// the top byte) read as [`Format::Plain`] bytes as stored, and so does a value marked
    /// compressed that is no lz4 block of this client's; a valid one is decompressed, within
    /// the size limit. Otherwise (the default) such flags are
    /// [`ValueError::UnknownEncoding`] and such a value [`ValueError::Corrupt`]: set it only
    /// for types that accept any bytes.
    const RAW: bool = false;

    /// Reads `value`, stored in `format`.
    fn from_value(value: Bytes, format: Format) -> Result<Self, ValueError>;
}

/// Raw bytes, as they are.
macro_rules! raw_value {
    ($($ty:ty),*) => {$(
        impl ToValue for $ty {
            fn to_value(&self) -> Result<Encoded<'_>, ValueError> {
                Ok(Encoded::borrowed(self.as_ref()))
            }
        }
    )*};
}

raw_value!([u8], str, Vec<u8>, String, Bytes, BytesMut, Cow<'_, [u8]>);

impl ToValue for Cow<'_, str> {
    fn to_value(&self) -> Result<Encoded<'_>, ValueError> {
        Ok(Encoded::borrowed(self.as_bytes()))
    }
}

impl<const N: usize> ToValue for [u8; N] {
    fn to_value(&self) -> Result<Encoded<'_>, ValueError> {
        Ok(Encoded::borrowed(self))
    }
}

/// Containers and references store what they hold.
macro_rules! forward_value {
    ($($ty:ty),*) => {$(
        impl<T: ToValue + ?Sized> ToValue for $ty {
            fn to_value(&self) -> Result<Encoded<'_>, ValueError> {
                (**self).to_value()
            }
        }
    )*};
}

forward_value!(&T, &mut T, Box<T>, Arc<T>);

impl FromValue for Bytes {
    const RAW: bool = true;

    fn from_value(value: Bytes, _format: Format) -> Result<Self, ValueError> {
        Ok(value)
    }
}

impl FromValue for Vec<u8> {
    const RAW: bool = true;

    fn from_value(value: Bytes, _format: Format) -> Result<Self, ValueError> {
        Ok(value.into())
    }
}

impl FromValue for String {
    fn from_value(value: Bytes, format: Format) -> Result<Self, ValueError> {
        expect_format(Format::Plain, format)?;
        String::from_utf8(value.into()).map_err(|_| ValueError::NotUtf8)
    }
}

/// Integers, in ASCII decimal.
macro_rules! integer_value {
    ($($ty:ty),*) => {$(
        impl ToValue for $ty {
            fn to_value(&self) -> Result<Encoded<'_>, ValueError> {
                Encoded::decimal(*self)
                    .ok_or_else(|| ValueError::Encode("integer too long".into()))
            }
        }

        impl FromValue for $ty {
            fn from_value(value: Bytes, format: Format) -> Result<Self, ValueError> {
                expect_format(Format::Plain, format)?;
                parse_decimal(&value)
            }
        }
    )*};
}

integer_value!(u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize);

/// Fails with [`ValueError::WrongFormat`] unless the value is in the format expected.
pub(crate) fn expect_format(expected: Format, found: Format) -> Result<(), ValueError> {
    if expected == found {
        Ok(())
    } else {
        Err(ValueError::WrongFormat { expected, found })
    }
}

/// An ASCII decimal integer, a leading `-` allowed (for signed types). Trailing spaces are
/// skipped: memcached's `decr` overwrites a shrinking number in place and pads it with
/// them. Anything else, `+` and leading spaces included, is not a number.
fn parse_decimal<T: FromStr>(value: &[u8]) -> Result<T, ValueError> {
    let end = value
        .iter()
        .rposition(|&byte| byte != b' ')
        .map_or(0, |last| last + 1);
    let digits = value.get(..end).unwrap_or_default();
    let unsigned = digits.strip_prefix(b"-").unwrap_or(digits);
    if unsigned.is_empty() || !unsigned.iter().all(u8::is_ascii_digit) {
        return Err(ValueError::NotAnInteger);
    }
    // All ASCII, so valid UTF-8; the parse rejects values out of the type's range, and a
    // sign on an unsigned type.
    std::str::from_utf8(digits)
        .ok()
        .and_then(|text| text.parse().ok())
        .ok_or(ValueError::NotAnInteger)
}
