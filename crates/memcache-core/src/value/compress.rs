//! lz4 compression of stored values, and decompression guarded against bombs.
//!
//! A compressed value is an lz4 block preceded by its decompressed size (4 bytes, little
//! endian). The size is checked against the client's largest value before anything is
//! allocated, so a small item cannot make a reader allocate gigabytes.

use crate::value::ValueError;

/// Which values a client compresses before storing them ([`crate::ClientBuilder::compression`]).
///
/// Compression applies to `set`, `add`, `replace`, `cas` and the batched stores; `append` and
/// `prepend` always join raw bytes, and refuse an item stored compressed
/// ([`crate::ValueError::Encoded`]). Reads decompress whatever the flags say, with or
/// without compression configured.
#[cfg(feature = "lz4")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Compression {
    min_size: usize,
}

#[cfg(feature = "lz4")]
impl Compression {
    /// lz4 (pure Rust, lz4_flex) for values of at least `min_size` bytes. A value is stored
    /// compressed only when that makes it smaller; others are stored as they are.
    /// Around 1 KiB is a good start: smaller values rarely shrink enough to pay off.
    pub fn lz4(min_size: usize) -> Self {
        Compression { min_size }
    }
}

/// `value` compressed, when `compression` applies to it and compressing makes it smaller.
#[cfg(feature = "lz4")]
pub(crate) fn compress(value: &[u8], compression: &Compression) -> Option<Vec<u8>> {
    // The size prefix is a u32.
    if value.len() < compression.min_size || u32::try_from(value.len()).is_err() {
        return None;
    }
    let compressed = lz4_flex::block::compress_prepend_size(value);
    (compressed.len() < value.len()).then_some(compressed)
}

/// The bytes of a compressed value, if it declares at most `max_len` of them.
#[cfg(feature = "lz4")]
pub(crate) fn decompress(data: &[u8], max_len: usize) -> Result<Vec<u8>, ValueError> {
    let (size, block) = data.split_at_checked(4).ok_or(ValueError::Corrupt)?;
    let size: [u8; 4] = size.try_into().map_err(|_| ValueError::Corrupt)?;
    let declared = usize::try_from(u32::from_le_bytes(size)).map_err(|_| ValueError::Corrupt)?;
    // lz4 writes at most 255 bytes per byte of block (a run's length bytes each add
    // 255), plus a few for the last literals: a larger size cannot be genuine.
    if declared > block.len().saturating_mul(255).saturating_add(64) {
        return Err(ValueError::Corrupt);
    }
    if declared > max_len {
        return Err(ValueError::TooLarge {
            declared,
            max: max_len,
        });
    }
    let mut value = vec![0; declared];
    let written =
        lz4_flex::block::decompress_into(block, &mut value).map_err(|_| ValueError::Corrupt)?;
    // A block that ends short of its declared size is damaged as well.
    if written != declared {
        return Err(ValueError::Corrupt);
    }
    Ok(value)
}

/// Without lz4 support a compressed value cannot be read.
#[cfg(not(feature = "lz4"))]
pub(crate) fn decompress(_data: &[u8], _max_len: usize) -> Result<Vec<u8>, ValueError> {
    Err(ValueError::CompressionUnavailable)
}
