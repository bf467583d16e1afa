//! Kernel strings (process and interface names): inline, escaped once.

/// Bytes of a kernel string: a process name (TASK_COMM_LEN) or an
/// interface name (IFNAMSIZ), NUL-padded.
pub const KERNEL_STR_LEN: usize = 16;

/// A kernel string as shown: printable ASCII, anything else escaped as
/// `\xNN` (process names are chosen by the process, so they are
/// untrusted). At most four bytes for each of the kernel's sixteen, so it
/// is kept inline: decoding a record allocates nothing for its process and
/// interface names.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KernelStr {
    /// ASCII, then zeros (which keeps the derived comparisons right).
    bytes: [u8; 4 * KERNEL_STR_LEN],
    len: u8,
}

impl KernelStr {
    pub fn as_str(&self) -> &str {
        let bytes = &self.bytes[..usize::from(self.len)];
        debug_assert!(bytes.is_ascii());
        // SAFETY: only `push` writes the bytes, and it writes ASCII only
        // (printable bytes, and \xNN for the others), which is UTF-8.
        // Checking again cost as much as the rest of writing both names
        // into a JSON line.
        unsafe { std::str::from_utf8_unchecked(bytes) }
    }

    /// Appends `b`, escaped if need be; false when there is no room left.
    fn push(&mut self, b: u8) -> bool {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let at = usize::from(self.len);
        if (0x20..0x7f).contains(&b) && b != b'\\' {
            let Some(room) = self.bytes.get_mut(at) else {
                return false;
            };
            *room = b;
            self.len += 1;
        } else {
            let Some(room) = self.bytes.get_mut(at..at + 4) else {
                return false;
            };
            room.copy_from_slice(&[
                b'\\',
                b'x',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 0xf)],
            ]);
            self.len += 4;
        }
        true
    }
}

impl Default for KernelStr {
    fn default() -> KernelStr {
        KernelStr {
            bytes: [0; 4 * KERNEL_STR_LEN],
            len: 0,
        }
    }
}

/// Escapes the bytes of `s` the way a kernel string's are, as many as fit
/// (sixteen at least): for tests and fixtures, which write names as text.
impl From<&str> for KernelStr {
    fn from(s: &str) -> KernelStr {
        let mut k = KernelStr::default();
        for &b in s.as_bytes() {
            if !k.push(b) {
                break;
            }
        }
        k
    }
}

impl std::ops::Deref for KernelStr {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq<&str> for KernelStr {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl std::fmt::Display for KernelStr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self.as_str(), f)
    }
}

impl std::fmt::Debug for KernelStr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

/// A NUL-terminated kernel string, escaped (see [`KernelStr`]). Inlined:
/// out of line, its result is built on the stack and copied out, which
/// costs decoding more than the escaping does.
#[inline(always)]
pub fn kernel_str(raw: &[i8; KERNEL_STR_LEN]) -> KernelStr {
    let mut s = KernelStr::default();
    for &c in raw {
        if c == 0 {
            break;
        }
        let fits = s.push(c as u8);
        debug_assert!(fits, "four bytes for each of sixteen");
    }
    s
}
