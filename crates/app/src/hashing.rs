//! The password-hashing pool (DESIGN.md §5). Argon2id is the one deliberately slow thing;
//! it runs on its own threads, as many as there are cores, with a bounded queue in front.
//! When the queue is full the caller gets `Busy` at once (the web answers 503 with
//! Retry-After) instead of piling up work until memory runs out. Code checks, session
//! checks and page views never wait behind it: they run on the async runtime.

use gatehouse_core::password::{
    hash_password, verify_password_in, HashingFailed, HashingMemory, PasswordHashString,
};
use gatehouse_core::Password;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// A job gets the worker's reusable Argon2 memory, allocated when a job first needs it.
type Job = Box<dyn FnOnce(&mut WorkerMemory) + Send + 'static>;

/// A worker's Argon2 memory: none until a check needs it, and none again after a quiet
/// spell (`KEEP_MEMORY_WHILE_QUIET`).
#[derive(Default)]
struct WorkerMemory(Option<HashingMemory>);

impl WorkerMemory {
    fn get(&mut self) -> &mut HashingMemory {
        self.0.get_or_insert_with(HashingMemory::new)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HashingError {
    #[error("the password hashing queue is full")]
    Busy,
    #[error("the password hashing pool has stopped")]
    Stopped,
    #[error(transparent)]
    Failed(#[from] HashingFailed),
}

#[derive(Clone)]
pub struct HashingPool {
    queue: SyncSender<Job>,
    /// How long one hash takes here, in microseconds: a moving average of the jobs run.
    /// A refused guess waits this long instead of hashing (S55), so it answers in the
    /// time a real check takes (S46) and costs no CPU.
    typical_micros: Arc<AtomicU64>,
}

impl std::fmt::Debug for HashingPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HashingPool")
    }
}

impl HashingPool {
    /// `workers` threads (the core count) behind a queue of `queue_len` waiting jobs.
    pub fn start(workers: usize, queue_len: usize) -> std::io::Result<Self> {
        let (queue, jobs) = sync_channel::<Job>(queue_len);
        let jobs = Arc::new(Mutex::new(jobs));
        let idle: Arc<IdleBuffers> = Arc::default();
        for n in 0..workers.max(1) {
            let (jobs, idle) = (Arc::clone(&jobs), Arc::clone(&idle));
            std::thread::Builder::new()
                .name(format!("argon2-{n}"))
                .spawn(move || run_worker(&jobs, &idle))?;
        }
        Ok(Self {
            queue,
            typical_micros: Arc::new(AtomicU64::new(0)),
        })
    }

    /// Times one hash in the background, so that `typical_check_time` is known before the
    /// first real check: a server that just restarted may refuse guesses (its budgets are
    /// in the database) before it has checked any.
    pub fn calibrate(&self) {
        let pool = self.clone();
        tokio::spawn(async move {
            let random = gatehouse_core::Token::generate();
            // A hash, on memory of its own that is freed when it ends: an idle server keeps
            // no buffer for it.
            if let Ok(password) = Password::parse(random.as_str()) {
                let _ = pool
                    .run_counted(None, move |_| hash_password(&password))
                    .await;
            }
        });
    }

    /// How long a real password check takes on this machine now (S55).
    pub fn typical_check_time(&self) -> Duration {
        Duration::from_micros(self.typical_micros.load(Ordering::Relaxed))
    }

    async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce(&mut WorkerMemory) -> T + Send + 'static,
    ) -> Result<T, HashingError> {
        self.run_counted(Some(crate::metrics::QueuedHash::enter()), job)
            .await
    }

    /// `queued` is the queue-depth gauge's share of this job; `None` for the calibration,
    /// which runs before the metrics recorder exists (its rise would be lost and its fall
    /// counted).
    async fn run_counted<T: Send + 'static>(
        &self,
        queued: Option<crate::metrics::QueuedHash>,
        job: impl FnOnce(&mut WorkerMemory) -> T + Send + 'static,
    ) -> Result<T, HashingError> {
        let (done, result) = oneshot::channel();
        let typical = Arc::clone(&self.typical_micros);
        let wrapped: Job = Box::new(move |memory| {
            drop(queued);
            let started = Instant::now();
            let outcome = job(memory);
            remember_duration(&typical, started.elapsed());
            // The receiver may have gone (client disconnected); nothing to do then.
            let _ = done.send(outcome);
        });
        match self.queue.try_send(wrapped) {
            Ok(()) => result.await.map_err(|_| HashingError::Stopped),
            Err(TrySendError::Full(_)) => {
                crate::metrics::hash_rejected();
                Err(HashingError::Busy)
            }
            Err(TrySendError::Disconnected(_)) => Err(HashingError::Stopped),
        }
    }

    pub async fn hash(&self, password: Password) -> Result<PasswordHashString, HashingError> {
        Ok(self.run(move |_| hash_password(&password)).await??)
    }

    pub async fn verify(
        &self,
        password: Password,
        stored: PasswordHashString,
    ) -> Result<bool, HashingError> {
        self.run(move |memory| verify_password_in(&password, &stored, memory.get()))
            .await
    }
}

/// Folds one job's time into the moving average (weight 1/8: a few jobs follow a change of
/// load or parameters; one slow job does not).
fn remember_duration(typical: &AtomicU64, took: Duration) {
    let took = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
    let _ = typical.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |old| {
        Some(if old == 0 {
            took
        } else {
            old - old / 8 + took / 8
        })
    });
}

/// How long a worker keeps its Argon2 memory without a job. While people sign in the
/// buffer is reused (allocating and faulting in 19 MiB per check costs CPU, and freed
/// buffers pile up in the allocator's arenas); after a quiet spell it goes back to the
/// system, so an idle server stays small. The peak is bounded either way: one buffer per
/// worker.
const KEEP_MEMORY_WHILE_QUIET: Duration = Duration::from_secs(30);

/// The Argon2 buffers not in use right now, shared by the workers: a job takes one (or
/// makes one) and puts it back. At most one per worker exists, so the peak is bounded.
type IdleBuffers = Mutex<Vec<HashingMemory>>;

fn run_worker(jobs: &Mutex<Receiver<Job>>, idle: &IdleBuffers) {
    loop {
        // Only the worker holding the queue waits on it; the others wait for the lock. So
        // whoever sees the quiet spell end gives back every idle buffer, not just its own.
        let job = match jobs.lock() {
            Ok(receiver) => receiver.recv_timeout(KEEP_MEMORY_WHILE_QUIET),
            Err(_) => return,
        };
        match job {
            Ok(job) => {
                let mut memory = WorkerMemory(idle.lock().ok().and_then(|mut free| free.pop()));
                job(&mut memory);
                if let (Some(buffer), Ok(mut free)) = (memory.0, idle.lock()) {
                    free.push(buffer);
                }
            }
            Err(RecvTimeoutError::Timeout) => {
                if let Ok(mut free) = idle.lock() {
                    free.clear();
                }
            }
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_and_verifies_off_the_runtime() {
        let pool = HashingPool::start(1, 4).unwrap();
        let password = Password::parse("correct horse battery").unwrap();
        let hash = pool.hash(password.clone()).await.unwrap();
        assert!(pool.verify(password, hash.clone()).await.unwrap());
        let wrong = Password::parse("incorrect horse battery").unwrap();
        assert!(!pool.verify(wrong, hash).await.unwrap());
    }

    #[tokio::test]
    async fn it_knows_how_long_a_check_takes_once_it_has_hashed() {
        let pool = HashingPool::start(1, 4).unwrap();
        assert_eq!(pool.typical_check_time(), Duration::ZERO);
        let password = Password::parse("correct horse battery").unwrap();
        let started = Instant::now();
        pool.hash(password).await.unwrap();
        let typical = pool.typical_check_time();
        assert!(typical > Duration::ZERO && typical <= started.elapsed());
    }

    #[tokio::test]
    async fn a_full_queue_answers_busy_instead_of_queueing_forever() {
        let pool = HashingPool::start(1, 1).unwrap();
        let password = Password::parse("correct horse battery").unwrap();
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let (pool, password) = (pool.clone(), password.clone());
                tokio::spawn(async move { pool.hash(password).await })
            })
            .collect();
        let mut busy = 0;
        let mut done = 0;
        for task in tasks {
            match task.await.unwrap() {
                Ok(_) => done += 1,
                Err(HashingError::Busy) => busy += 1,
                Err(other) => panic!("unexpected {other}"),
            }
        }
        assert!(busy >= 1, "some requests must be turned away");
        assert!(done >= 1, "the pool must still work");
    }
}
