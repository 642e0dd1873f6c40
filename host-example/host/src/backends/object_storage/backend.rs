//! An [`ObjectUrl`] as a [`Backend`]: what `--storage s3://…`, `gs://…` and `az://…`
//! open.

use std::sync::Arc;

use super::{ObjectStorage, ObjectUrl};
use crate::backends::Backend;
use crate::backends::logs::Logs;
use crate::{BoxFuture, DynStorage, StorageError};

impl Backend for ObjectUrl {
    fn open(&self) -> BoxFuture<'_, Result<Box<dyn DynStorage>, StorageError>> {
        Box::pin(async move {
            let storage = ObjectStorage::open(self.clone(), &[]).await?;
            Ok(Box::new(storage) as Box<dyn DynStorage>)
        })
    }

    /// No probe: it writes.
    fn open_read_only(&self) -> BoxFuture<'_, Result<Box<dyn DynStorage>, StorageError>> {
        Box::pin(async move {
            let storage = ObjectStorage::open_read_only(self.clone(), &[])?;
            Ok(Box::new(storage) as Box<dyn DynStorage>)
        })
    }

    fn for_tenant(&self, id: &str) -> Arc<dyn Backend> {
        Arc::new(ObjectUrl {
            prefix: self.object_key(id),
            ..self.clone()
        })
    }

    fn describe(&self, key: &str) -> String {
        self.display_key(key)
    }

    fn logs(&self) -> Option<Arc<dyn Logs>> {
        None
    }
}
