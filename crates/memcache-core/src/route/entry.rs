//! Where a client's multi-key requests enter its route, when it has one.

use crate::client::fan_out::Gather;
use crate::client::{CallOptions, Inner};
use crate::error::Result;
use crate::io::runtime::Runtime;
use crate::ops::batched_writes::{KeyResults, Write, WriteKind};
use crate::ops::fetch::Fetch;
use crate::ops::item_map::PartialItems;
use crate::route::call::Call;
use crate::route::many;

impl<R: Runtime> Inner<R> {
    /// [`Inner::retrieve_many`] on the client's pool, or through its route.
    pub(crate) async fn retrieve_routed(
        &self,
        fetch: Fetch,
        keys: &[&[u8]],
        options: CallOptions,
        gather: Gather,
        miss: bool,
    ) -> Result<PartialItems> {
        let Some(routes) = &self.routes else {
            return self.retrieve_many(fetch, keys, options, gather, miss).await;
        };
        let mut call = Call::start(self, options);
        call.miss_on_unavailable = miss;
        many::read(&routes.root, fetch, keys, &call, gather).await
    }

    /// [`Inner::write_many`] on the client's pool, or through its route.
    pub(crate) async fn write_routed(
        &self,
        kind: WriteKind,
        items: &[Write<'_>],
        options: CallOptions,
    ) -> Result<KeyResults> {
        let Some(routes) = &self.routes else {
            return self.write_many(kind, items, options).await;
        };
        let call = Call::start(self, options);
        many::write(&routes.root, kind, items, &call).await
    }
}
