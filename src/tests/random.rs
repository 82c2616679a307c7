//! A small seeded generator for property tests (xorshift64*: reproducible,
//! not cryptographic).

pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }

    pub fn bytes16(&mut self) -> [u8; 16] {
        let (a, b) = (self.next().to_le_bytes(), self.next().to_le_bytes());
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&a);
        out[8..].copy_from_slice(&b);
        out
    }

    /// Random text up to `max` chars: ASCII, punctuation, multi-byte, controls.
    pub fn text(&mut self, max: usize) -> String {
        let len = self.below(max + 1);
        (0..len)
            .map(|_| match self.below(6) {
                0 => char::from_u32(0x20 + self.below(0x5f) as u32).unwrap_or('x'),
                1 => ['{', '}', '"', ':', ',', '[', ']', '.', '-', '\\'][self.below(10)],
                2 => char::from_u32(1 + self.below(0x1f) as u32).unwrap_or(' '),
                3 => char::from_u32(0xa0 + self.below(0x2000) as u32).unwrap_or('é'),
                4 => char::from_u32(0x1F600 + self.below(0x40) as u32).unwrap_or('😀'),
                _ => char::from_digit(self.below(16) as u32, 16).unwrap_or('0'),
            })
            .collect()
    }

    pub fn base64(&mut self, max: usize) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let len = self.below(max + 1);
        (0..len)
            .map(|_| ALPHABET[self.below(ALPHABET.len())] as char)
            .collect()
    }

    /// A random JSON value of limited depth.
    pub fn json(&mut self, depth: usize) -> String {
        match if depth == 0 {
            self.below(4)
        } else {
            self.below(6)
        } {
            0 => "null".into(),
            1 => format!("{}", self.next() as i64),
            2 => serde_json::Value::String(self.text(20)).to_string(),
            3 => ["true", "false"][self.below(2)].into(),
            4 => {
                let n = self.below(4);
                let items: Vec<String> = (0..n).map(|_| self.json(depth - 1)).collect();
                format!("[{}]", items.join(","))
            }
            _ => {
                let n = self.below(4);
                let items: Vec<String> = (0..n)
                    .map(|_| {
                        format!(
                            "{}:{}",
                            serde_json::Value::String(self.text(8)),
                            self.json(depth - 1)
                        )
                    })
                    .collect();
                format!("{{{}}}", items.join(","))
            }
        }
    }
}
