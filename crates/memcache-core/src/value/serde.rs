//! Values serialized with serde: [`Json`] and [`MsgPack`].

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::value::codec::expect_format;
use crate::value::{Encoded, Format, FromValue, ToValue, ValueError};

/// A value stored as JSON (serde_json). Store `Json(&value)` to serialize without taking
/// it; read with `get_as::<Json<T>>` and take the value out with `.0`.
///
/// ```no_run
/// # async fn f(client: memcache_tokio::Client) -> Result<(), Box<dyn std::error::Error>> {
/// use memcache_tokio::Json;
///
/// #[derive(serde::Serialize, serde::Deserialize)]
/// struct User {
///     name: String,
/// }
///
/// let user = User { name: "ada".into() };
/// client.set("user:1", Json(&user)).await?;
/// let user: Option<Json<User>> = client.get_as("user:1").await?;
/// # let _ = user;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Json<T>(pub T);

/// A value stored as MessagePack with named fields (rmp-serde): smaller and faster to read
/// than JSON, and as tolerant of fields added later. Used like [`Json`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct MsgPack<T>(pub T);

impl<T: Serialize> ToValue for Json<T> {
    fn to_value(&self) -> Result<Encoded<'_>, ValueError> {
        let bytes = serde_json::to_vec(&self.0).map_err(|e| ValueError::Encode(e.to_string()))?;
        Ok(Encoded::owned(bytes).with_format(Format::Json))
    }
}

impl<T: DeserializeOwned> FromValue for Json<T> {
    fn from_value(value: Bytes, format: Format) -> Result<Self, ValueError> {
        expect_format(Format::Json, format)?;
        serde_json::from_slice(&value)
            .map(Json)
            .map_err(|e| ValueError::Decode(e.to_string()))
    }
}

impl<T: Serialize> ToValue for MsgPack<T> {
    fn to_value(&self) -> Result<Encoded<'_>, ValueError> {
        let bytes =
            rmp_serde::to_vec_named(&self.0).map_err(|e| ValueError::Encode(e.to_string()))?;
        Ok(Encoded::owned(bytes).with_format(Format::MessagePack))
    }
}

impl<T: DeserializeOwned> FromValue for MsgPack<T> {
    fn from_value(value: Bytes, format: Format) -> Result<Self, ValueError> {
        expect_format(Format::MessagePack, format)?;
        rmp_serde::from_slice(&value)
            .map(MsgPack)
            .map_err(|e| ValueError::Decode(e.to_string()))
    }
}
