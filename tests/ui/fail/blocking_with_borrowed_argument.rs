#[pooled::pooled(blocking)]
fn checksum(data: &[u8]) -> u64 {
    data.iter().map(|&b| u64::from(b)).sum()
}

struct Hasher;

impl Hasher {
    #[pooled::pooled(blocking)]
    fn hash(&self, data: Vec<u8>) -> u64 {
        data.len() as u64
    }
}

fn main() {}
