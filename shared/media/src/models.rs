//! The models the analysis pass runs, each ONNX session built once and reused: a pool hands a
//! model to one analysis at a time (the speech detector keeps per-stream state) and takes it
//! back when that analysis ends, so concurrent analyses each get their own and later ones reuse
//! them.

use std::sync::{Arc, Mutex};

use mvidarr_ml::nsfw::NudeNet;
use mvidarr_ml::ocr::{Ocr, OcrOptions, SideLimit};
use mvidarr_ml::vad::Vad;

/// Models built on first use and kept for the life of the process.
pub struct Pool<T> {
    make: fn() -> Result<T, String>,
    free: Mutex<Vec<T>>,
}

impl<T> Pool<T> {
    pub fn new(make: fn() -> Result<T, String>) -> Arc<Self> {
        Arc::new(Self {
            make,
            free: Mutex::new(Vec::new()),
        })
    }

    /// A model for one analysis: a free one, or a new one if all are in use.
    pub fn take(self: &Arc<Self>) -> Result<Pooled<T>, String> {
        let free = self.free.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let model = match free {
            Some(model) => model,
            None => (self.make)()?,
        };
        Ok(Pooled {
            pool: Arc::clone(self),
            model: Some(model),
        })
    }
}

/// A model on loan; it goes back to its pool when dropped.
pub struct Pooled<T> {
    pool: Arc<Pool<T>>,
    model: Option<T>,
}

impl<T> std::ops::Deref for Pooled<T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.model.as_ref().expect("present until dropped")
    }
}

impl<T> std::ops::DerefMut for Pooled<T> {
    fn deref_mut(&mut self) -> &mut T {
        self.model.as_mut().expect("present until dropped")
    }
}

impl<T> Drop for Pooled<T> {
    fn drop(&mut self) {
        if let Some(model) = self.model.take() {
            self.pool
                .free
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(model);
        }
    }
}

/// Every model the pass uses. Cheap to create: nothing loads until an analysis needs it.
pub struct Models {
    pub vad: Arc<Pool<Vad>>,
    pub nudenet: Arc<Pool<NudeNet>>,
    pub ocr: Arc<Pool<Ocr>>,
}

impl std::fmt::Debug for Models {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Models").finish_non_exhaustive()
    }
}

impl Default for Models {
    fn default() -> Self {
        Self {
            vad: Pool::new(|| Vad::new().map_err(|e| e.to_string())),
            nudenet: Pool::new(|| NudeNet::new().map_err(|e| e.to_string())),
            // PaddleOCR's own detection size (longer side ≤ 960): a quarter of RapidOCR's
            // cost on 1080p, and it reads the test strings as well (shared/ml/tests/ocr.rs).
            ocr: Pool::new(|| {
                Ocr::with_options(OcrOptions {
                    det_side: SideLimit::Max(960),
                    ..OcrOptions::default()
                })
                .map_err(|e| e.to_string())
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    static MADE: AtomicU32 = AtomicU32::new(0);

    #[test]
    fn models_are_made_once_per_concurrent_use_and_reused() {
        let pool: Arc<Pool<u32>> = Pool::new(|| Ok(MADE.fetch_add(1, Ordering::SeqCst)));
        {
            let a = pool.take().unwrap();
            let b = pool.take().unwrap();
            assert_ne!(*a, *b);
        }
        let c = pool.take().unwrap();
        let d = pool.take().unwrap();
        let e = pool.take().unwrap();
        assert_eq!(MADE.load(Ordering::SeqCst), 3, "two reused, one new");
        drop((c, d, e));
        let failing: Arc<Pool<u32>> = Pool::new(|| Err("model missing".into()));
        assert_eq!(failing.take().err().as_deref(), Some("model missing"));
    }
}
