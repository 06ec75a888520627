//! What the engine benchmarks share: timing a closure several times.

use std::time::{Duration, Instant};

/// The median of `runs` timings of `f`, after one untimed run.
pub fn median(runs: usize, mut f: impl FnMut()) -> Duration {
    f();
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    times.sort();
    times[runs / 2]
}
