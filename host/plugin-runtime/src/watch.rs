//! Watching the drop-in folder with notify.

use notify::{RecursiveMode, Watcher};
use std::path::Path;
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::Duration;

/// Reports changes of a plugins folder; the owner then calls [`crate::PluginSet::sync_dir`].
pub struct DirWatcher {
    _watcher: notify::RecommendedWatcher,
    rx: Receiver<notify::Result<notify::Event>>,
}

impl DirWatcher {
    /// Watches `dir` (not recursively).
    pub fn new(dir: &Path) -> notify::Result<Self> {
        let (tx, rx) = channel();
        let mut w = notify::recommended_watcher(move |ev| {
            let _ = tx.send(ev);
        })?;
        w.watch(dir, RecursiveMode::NonRecursive)?;
        Ok(DirWatcher { _watcher: w, rx })
    }

    /// Whether anything changed since the last call (does not wait).
    pub fn changed(&self) -> bool {
        let mut any = false;
        while let Ok(ev) = self.rx.try_recv() {
            any |= relevant(ev);
        }
        any
    }

    /// Waits up to `timeout` for a change, then lets a burst of writes settle for `settle`
    /// (a file copied in arrives in several events).
    pub fn wait(&self, timeout: Duration, settle: Duration) -> bool {
        match self.rx.recv_timeout(timeout) {
            Ok(ev) => {
                let mut any = relevant(ev);
                std::thread::sleep(settle);
                any |= self.changed();
                any
            }
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => false,
        }
    }
}

fn relevant(ev: notify::Result<notify::Event>) -> bool {
    match ev {
        Ok(e) => !matches!(e.kind, notify::EventKind::Access(_)),
        Err(e) => {
            log::warn!("plugins folder watch: {e}");
            true
        }
    }
}
