//! A few connections working through one list together: each takes the next item when it is
//! free, so a slow statement does not hold up the others. Used to record baselines with `--jobs`
//! connections.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use futures_util::future::join_all;

use super::{ConnectionSettings, Error, Runner};

/// Run `work` on every item over `first` and up to `size - 1` more connections opened with
/// `settings` (never more connections than items), and return the results in the items' order.
/// After an error no connection takes another item; the first failing connection's error is
/// returned. The extra connections are closed on return; `first` stays the caller's.
pub async fn run_pooled<T, R, E, W>(
    first: &mut Runner,
    settings: &ConnectionSettings,
    size: usize,
    items: &[T],
    work: W,
) -> Result<Vec<R>, E>
where
    W: AsyncFn(&mut Runner, &T) -> Result<R, E>,
    E: From<Error>,
{
    let size = size.clamp(1, items.len().max(1));
    let mut others = Vec::with_capacity(size - 1);
    for _ in 1..size {
        others.push(Runner::connect(settings).await?);
    }
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let worker = async |runner: &mut Runner| -> Result<Vec<(usize, R)>, E> {
        let mut done = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            let slot = next.fetch_add(1, Ordering::Relaxed);
            let Some(item) = items.get(slot) else {
                break;
            };
            match work(runner, item).await {
                Ok(result) => done.push((slot, result)),
                Err(e) => {
                    stop.store(true, Ordering::Relaxed);
                    return Err(e);
                }
            }
        }
        Ok(done)
    };
    let finished = join_all(std::iter::once(first).chain(others.iter_mut()).map(worker)).await;
    let mut slots: Vec<Option<R>> = std::iter::repeat_with(|| None).take(items.len()).collect();
    for outcome in finished {
        for (slot, result) in outcome? {
            slots[slot] = Some(result);
        }
    }
    Ok(slots.into_iter().flatten().collect())
}
