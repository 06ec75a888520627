//! A small deterministic generator (a 64-bit LCG): the same seed gives the
//! same draws on every machine. For the demo data, property tests and
//! benchmarks; never for anything secret.

pub struct Dice(pub u64);

impl Dice {
    /// A number in `0..n` (0 when `n` is 0).
    pub fn next(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) % n.max(1) as u64) as usize
    }

    /// Shuffles in place (Fisher–Yates).
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.next(i + 1));
        }
    }
}
