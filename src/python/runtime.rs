//! Blocking on Rust futures from Python: one tokio runtime for the process, the GIL
//! released while waiting, and Ctrl-C honoured within a tenth of a second.

use std::future::Future;
use std::time::Duration;

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;

const SIGNAL_CHECK_INTERVAL: Duration = Duration::from_millis(100);

pub fn runtime() -> &'static tokio::runtime::Runtime {
    pyo3_async_runtimes::tokio::get_runtime()
}

/// Run `future` on the shared runtime and wait for it without holding the GIL. A pending
/// KeyboardInterrupt (or any signal handler error) cancels the task and is raised.
pub fn wait_for<T, F>(py: Python<'_>, future: F) -> PyResult<T>
where
    T: Send + 'static,
    F: Future<Output = T> + Send + 'static,
{
    wait_for_ticking(py, future, |_| Ok(()))
}

/// [`wait_for`], calling `tick` with the GIL held every tenth of a second and once at the
/// end (progress bars are drawn from the waiting thread, never from the runtime's).
pub fn wait_for_ticking<T, F>(py: Python<'_>, future: F, mut tick: impl FnMut(Python<'_>) -> PyResult<()>) -> PyResult<T>
where
    T: Send + 'static,
    F: Future<Output = T> + Send + 'static,
{
    let runtime = runtime();
    let mut task = runtime.spawn(future);
    loop {
        let finished = py.detach(|| {
            runtime.block_on(async { tokio::time::timeout(SIGNAL_CHECK_INTERVAL, &mut task).await })
        });
        match finished {
            Ok(joined) => {
                tick(py)?;
                return joined.map_err(|e| PyRuntimeError::new_err(format!("jhe's background task failed: {e}")));
            }
            Err(_still_running) => {
                if let Err(interrupt) = py.check_signals().and_then(|()| tick(py)) {
                    task.abort();
                    return Err(interrupt);
                }
            }
        }
    }
}
