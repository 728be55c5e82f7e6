//! A recording fake of [`TaskNetwork`] for unit tests of the task engine.

use std::path::PathBuf;
use std::sync::Mutex;

use crate::{Attachment, Mode, NetError, TaskNetwork};

/// Records every call; `setup` hands out a path that does not exist.
#[derive(Debug, Default)]
pub struct FakeNetwork {
    pub calls: Mutex<Vec<String>>,
}

impl TaskNetwork for FakeNetwork {
    fn setup(&self, task_id: &str, mode: Mode) -> Result<Attachment, NetError> {
        self.calls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(format!("setup {task_id} {mode:?}"));
        Ok(match mode {
            Mode::Host => Attachment::Host,
            Mode::None => Attachment::Namespace(PathBuf::from(format!("/fake/netns/{task_id}"))),
        })
    }
    fn teardown(&self, task_id: &str) -> Result<(), NetError> {
        self.calls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(format!("teardown {task_id}"));
        Ok(())
    }
}
