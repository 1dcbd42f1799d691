//! A seeded generator (splitmix64) and the distributions the model needs:
//! uniform, lognormal (Box–Muller) and exponential. No `rand` crate: the
//! simulation must be bit-for-bit reproducible from its seed.

/// A splitmix64 generator.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed`, on an independent `stream` (arrivals and
    /// service times draw from different streams, so every contender sees the
    /// same arrivals for a seed).
    pub fn new(seed: u64, stream: u64) -> Rng {
        let mut rng = Rng(seed
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .wrapping_add(stream.wrapping_mul(0xD1B5_4A32_D192_ED03)));
        rng.next_u64();
        rng
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in the open interval (0, 1).
    pub fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    /// Standard normal (Box–Muller; one of the pair is discarded, simply).
    pub fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }

    /// Lognormal with the given `mean` and log-space standard deviation `sigma`.
    pub fn lognormal(&mut self, mean: f64, sigma: f64) -> f64 {
        let mu = mean.ln() - sigma * sigma / 2.0;
        (mu + sigma * self.normal()).exp()
    }

    /// Exponential with the given `rate` (mean `1 / rate`).
    pub fn exponential(&mut self, rate: f64) -> f64 {
        -self.uniform().ln() / rate
    }
}

#[cfg(test)]
mod tests {
    use super::Rng;

    #[test]
    fn lognormal_has_the_requested_mean_and_is_reproducible() {
        let mut a = Rng::new(7, 2);
        let mut b = Rng::new(7, 2);
        let n = 200_000;
        let mut sum = 0.0;
        for _ in 0..n {
            let x = a.lognormal(0.05, 0.5);
            assert_eq!(x, b.lognormal(0.05, 0.5));
            sum += x;
        }
        let mean = sum / f64::from(n);
        assert!((mean - 0.05).abs() < 0.0005, "mean {mean}");
    }

    #[test]
    fn streams_differ() {
        assert_ne!(Rng::new(1, 1).next_u64(), Rng::new(1, 2).next_u64());
    }
}
