//! Handing the symbolizer what an image index holds.

use std::path::PathBuf;

use super::{DebugCache, ImageIndex};
use crate::{DebugInfoFinder, DebugRequest};

/// A [`DebugInfoFinder`] over the debug files one image holds.
#[derive(Clone, Debug)]
pub struct LayerFinder {
    cache: DebugCache,
    index: ImageIndex,
}

impl LayerFinder {
    /// A finder over `index`, whose objects are in `cache`.
    pub fn new(cache: DebugCache, index: ImageIndex) -> Self {
        LayerFinder { cache, index }
    }
}

impl DebugInfoFinder for LayerFinder {
    fn find_debug_file(&self, request: &DebugRequest<'_>) -> Option<PathBuf> {
        self.index.object(&self.cache, request.build_id)
    }

    /// Only whole binaries: a debug-only file has no code to map offsets in.
    fn find_binary(&self, request: &DebugRequest<'_>) -> Option<PathBuf> {
        let object = self.index.objects.get(&super::hex(request.build_id))?;
        object.code.then(|| self.cache.object_path(request.build_id))
    }
}
