//! The store's commit thread (D119): journal commits run here, one after another, off
//! the runtime's threads.
//!
//! A commit is an fsync of the `.part`, then the record written to a temporary file,
//! synced, renamed, and the directory synced: three waits on the disk. On the connection's
//! task they held the platform's runtime thread (a `perf trace` of one 256 MiB upload on
//! one core: 200 fsyncs, 236 ms of a 1.6 s transfer). `tokio::task::block_in_place`
//! moved them off it, but hands the runtime to a fresh thread each time, and the buffers
//! allocated there stay in that thread's malloc arena (peak memory of ten 128 MiB uploads
//! 183 MiB instead of 95). One fixed thread, started on first use and living as long as
//! the process, keeps both: the runtime never waits on the disk, and there is one arena.
//!
//! Order is kept per transfer by [`super::journal::TransferJournal`] (at most one commit
//! of a transfer in flight, and every other journal operation waits for it) and within
//! a commit by the job itself (the data's fsync before the record that names it).

use std::sync::mpsc;
use std::sync::OnceLock;

/// A commit to run.
pub(crate) type Job = Box<dyn FnOnce() + Send>;

static COMMITS: OnceLock<Option<mpsc::Sender<Job>>> = OnceLock::new();

/// Runs `job` on the commit thread, in the order given. Gives it back when there is no
/// such thread (it could not be started, or a job panicked and took it down): the caller
/// runs it itself.
pub(crate) fn run(job: Job) -> Result<(), Job> {
    let sender = COMMITS.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("vstream-commit".into())
            .spawn(move || {
                for job in rx {
                    job();
                }
            })
            .ok()
            .map(|_| tx)
    });
    match sender {
        Some(tx) => tx.send(job).map_err(|e| e.0),
        None => Err(job),
    }
}
