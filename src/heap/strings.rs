//! The strings a snapshot ends with, as kept: one byte buffer and the end
//! of each string in it (no allocation per string).
#![forbid(unsafe_code)]

/// Strings kept from the `strings` section: each whole, or its first
/// `SHOWN` (`parse.rs`) bytes.
#[derive(Default)]
pub struct Strings {
    bytes: Vec<u8>,
    ends: Vec<usize>,
}

impl Strings {
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// String `i` (lossy UTF-8), or "" past the end.
    pub fn get(&self, i: u32) -> std::borrow::Cow<'_, str> {
        let i = i as usize;
        if i >= self.ends.len() {
            return "".into();
        }
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        String::from_utf8_lossy(&self.bytes[start..self.ends[i]])
    }

    pub fn push(&mut self, s: &[u8]) {
        self.bytes.extend_from_slice(s);
        self.ends.push(self.bytes.len());
    }
}
