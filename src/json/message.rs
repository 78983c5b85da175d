//! V8's `JSON.parse` error messages, rebuilt for a [`Fault`].
//!
//! The message is built as UTF-16, because V8's own can hold lone
//! surrogates (the unexpected character, or context cut through a
//! surrogate pair). Wording follows V8's message templates; Node 22 and
//! later add ` (line L column C)` after `at position N`, which
//! [`set_line_column`] switches on (the façade asks the running
//! `JSON.parse` once). Messages that name no position in V8 (an unexpected
//! token, the end of input) get ` at position N` appended: ours always name
//! it, and every error has `position`. V8 11 (Node 20) also words one error
//! differently (a later key without its `:`), switched by
//! [`set_dialect`].

use super::scan::{ErrorKind, Fault};
use super::text::{decode_utf16, is_continuation, utf16_len};
use std::sync::atomic::{AtomicBool, Ordering};

static LINE_COLUMN: AtomicBool = AtomicBool::new(false);
static LATER_COLON_IS_TOKEN: AtomicBool = AtomicBool::new(false);

/// How the running V8 words its messages: `line_column`, whether positions
/// are followed by `(line L column C)` (V8 >= 12); `later_colon_is_token`,
/// whether a later key without `:` is reported as an unexpected token
/// (V8 11) rather than "Expected ':' after property name".
pub fn set_dialect(line_column: bool, later_colon_is_token: bool) {
    LINE_COLUMN.store(line_column, Ordering::Relaxed);
    LATER_COLON_IS_TOKEN.store(later_colon_is_token, Ordering::Relaxed);
}

/// V8's `kMaxContextCharacters` and `kMinOriginalSourceLengthForContext`.
const CONTEXT: usize = 10;
const MIN_LENGTH_FOR_CONTEXT: usize = 21;

/// A syntax error ready for JS: the message (UTF-16) and the position (a
/// UTF-16 offset, as `JSON.parse` counts).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Described {
    pub message: Vec<u16>,
    pub position: usize,
}

impl Described {
    pub fn into_error(self) -> crate::Error {
        crate::Error::JsonSyntax {
            message: String::from_utf16_lossy(&self.message),
            position: self.position,
            message_utf16: Some(self.message),
        }
    }
}

/// The source text seen as UTF-16, whatever its units.
pub trait View {
    /// UTF-16 offset of a position in the source's units.
    fn position(&self, at: usize) -> usize;
    /// UTF-16 length of the whole text.
    fn len16(&self) -> usize;
    /// UTF-16 units `from..to` around source position `at` whose UTF-16
    /// offset is `p`: `from <= p <= to`, clamped to the text.
    fn window(&self, at: usize, p: usize, from: usize, to: usize) -> Vec<u16>;
    /// `(line, column)` of `at`, by V8's `CalculateFileLocation`.
    fn line_column(&self, at: usize) -> (usize, usize);
}

impl View for [u16] {
    fn position(&self, at: usize) -> usize {
        at
    }

    fn len16(&self) -> usize {
        self.len()
    }

    fn window(&self, _at: usize, _p: usize, from: usize, to: usize) -> Vec<u16> {
        self[from.min(self.len())..to.min(self.len())].to_vec()
    }

    fn line_column(&self, at: usize) -> (usize, usize) {
        line_column(&self[..at.min(self.len())], <[u16]>::len)
    }
}

impl View for [u8] {
    fn position(&self, at: usize) -> usize {
        utf16_len(&self[..at.min(self.len())])
    }

    fn len16(&self) -> usize {
        utf16_len(self)
    }

    fn window(&self, at: usize, p: usize, from: usize, to: usize) -> Vec<u16> {
        // Errors sit right after an ASCII byte (or at 0 / the end), so the
        // text splits there exactly. Backwards: each UTF-16 unit takes at
        // most 3 bytes in the worst case that matters (4 bytes give 2
        // units), so 4 bytes per unit (+3 to reach a sequence start) is
        // enough; forwards the same, and a sequence cut at the window's end
        // only changes units past the ones kept.
        let at = at.min(self.len());
        let want_before = p - from.min(p);
        let mut start = at.saturating_sub(4 * want_before + 4);
        while start > 0 && is_continuation(self[start]) {
            start -= 1;
        }
        let before = decode_utf16(&self[start..at]);
        let keep_before = &before[before.len() - want_before.min(before.len())..];
        let want_after = to.saturating_sub(p);
        let end = (at + 4 * want_after + 4).min(self.len());
        let after = decode_utf16(&self[at..end]);
        let mut out = keep_before.to_vec();
        out.extend_from_slice(&after[..want_after.min(after.len())]);
        out
    }

    fn line_column(&self, at: usize) -> (usize, usize) {
        line_column(&self[..at.min(self.len())], utf16_len)
    }
}

/// V8's `CalculateFileLocation` over the text before the error; line
/// breaks are ASCII, so bytes and UTF-16 units find the same ones.
fn line_column<C: Copy + Into<u32>>(before: &[C], len16: impl Fn(&[C]) -> usize) -> (usize, usize) {
    let (cr, lf) = (b'\r' as u32, b'\n' as u32);
    let mut line = 1;
    let mut last_break = 0;
    let mut i = 0;
    let end = before.len();
    while i < end {
        let c: u32 = before[i].into();
        if c == cr && i + 1 < end && before[i + 1].into() == lf {
            i += 1;
        }
        let c: u32 = before[i].into();
        if c == cr || c == lf {
            line += 1;
            last_break = i + 1;
        }
        i += 1;
    }
    (line, 1 + len16(&before[last_break..]))
}

fn push_str(out: &mut Vec<u16>, s: &str) {
    out.extend(s.encode_utf16());
}

fn push_position(
    out: &mut Vec<u16>,
    position: usize,
    line_column: impl FnOnce() -> (usize, usize),
) {
    push_str(out, &position.to_string());
    if LINE_COLUMN.load(Ordering::Relaxed) {
        let (line, column) = line_column();
        push_str(out, &format!(" (line {line} column {column})"));
    }
}

/// V8's message for `fault` in `text`.
pub fn describe<V: View + ?Sized>(text: &V, fault: Fault) -> Described {
    use ErrorKind::*;
    let p = text.position(fault.at);
    let mut out = Vec::new();
    let kind = match fault.kind {
        ExpectedColonAfterLaterKey if LATER_COLON_IS_TOKEN.load(Ordering::Relaxed) => {
            UnexpectedToken
        }
        ExpectedColonAfterLaterKey => ExpectedColon,
        kind => kind,
    };
    let positioned = match kind {
        NonWhitespaceAfter => Some("Unexpected non-whitespace character after JSON"),
        ExpectedPropNameOrRBrace => Some("Expected property name or '}' in JSON"),
        ExpectedCommaOrRBrace => Some("Expected ',' or '}' after property value in JSON"),
        ExpectedCommaOrRBrack => Some("Expected ',' or ']' after array element in JSON"),
        ExpectedColon | ExpectedColonAfterLaterKey => {
            Some("Expected ':' after property name in JSON")
        }
        ExpectedDoubleQuotedPropertyName => Some("Expected double-quoted property name in JSON"),
        UnterminatedString => Some("Unterminated string in JSON"),
        BadControlCharacter => Some("Bad control character in string literal in JSON"),
        BadEscapedCharacter => Some("Bad escaped character in JSON"),
        BadUnicodeEscape => Some("Bad Unicode escape in JSON"),
        NoNumberAfterMinusSign => Some("No number after minus sign in JSON"),
        UnterminatedFractionalNumber => Some("Unterminated fractional number in JSON"),
        ExponentPartMissingNumber => Some("Exponent part is missing a number in JSON"),
        UnexpectedToken => None,
    };
    let token = if positioned.is_none() {
        text.window(fault.at, p, p, p + 1).first().copied()
    } else {
        None
    };
    let line_column = || text.line_column(fault.at);
    match (positioned, token) {
        (Some(what), _) => {
            push_str(&mut out, what);
            push_str(&mut out, " at position ");
            push_position(&mut out, p, line_column);
            return Described {
                message: out,
                position: p,
            };
        }
        (None, None) => push_str(&mut out, "Unexpected end of JSON input"),
        (None, Some(0x22)) => {
            push_str(&mut out, "Unexpected string in JSON at position ");
            push_position(&mut out, p, line_column);
            return Described {
                message: out,
                position: p,
            };
        }
        (None, Some(c)) if c == b'-' as u16 || (b'0' as u16..=b'9' as u16).contains(&c) => {
            push_str(&mut out, "Unexpected number in JSON at position ");
            push_position(&mut out, p, line_column);
            return Described {
                message: out,
                position: p,
            };
        }
        (None, Some(c)) => {
            let len = text.len16();
            let whole = if len <= 15 {
                text.window(fault.at, p, 0, len)
            } else {
                Vec::new()
            };
            let special = ["[object Object]", "undefined", "Infinity", "NaN"]
                .iter()
                .any(|s| s.encode_utf16().eq(whole.iter().copied()));
            if special {
                out.push(b'"' as u16);
                out.extend_from_slice(&whole);
                push_str(&mut out, "\" is not valid JSON");
            } else {
                push_str(&mut out, "Unexpected token '");
                out.push(c);
                push_str(&mut out, "', ");
                if len < MIN_LENGTH_FOR_CONTEXT {
                    out.push(b'"' as u16);
                    out.extend(text.window(fault.at, p, 0, len));
                    push_str(&mut out, "\" is not valid JSON");
                } else if p < CONTEXT {
                    out.push(b'"' as u16);
                    out.extend(text.window(fault.at, p, 0, p + CONTEXT));
                    push_str(&mut out, "\"... is not valid JSON");
                } else if p < len - CONTEXT {
                    push_str(&mut out, "...\"");
                    out.extend(text.window(fault.at, p, p - CONTEXT, p + CONTEXT));
                    push_str(&mut out, "\"... is not valid JSON");
                } else {
                    push_str(&mut out, "...\"");
                    out.extend(text.window(fault.at, p, p - CONTEXT, len));
                    push_str(&mut out, "\" is not valid JSON");
                }
            }
        }
    }
    // V8 names no position here; ours do.
    push_str(&mut out, " at position ");
    push_position(&mut out, p, line_column);
    Described {
        message: out,
        position: p,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg16(text: &str, kind: ErrorKind, at: usize) -> String {
        let units: Vec<u16> = text.encode_utf16().collect();
        let d = describe(units.as_slice(), Fault { kind, at });
        if text.is_ascii() {
            assert_eq!(d, describe(text.as_bytes(), Fault { kind, at }), "{text:?}");
        }
        String::from_utf16(&d.message).unwrap()
    }

    #[test]
    fn messages_follow_v8_templates() {
        use ErrorKind::*;
        // Node 20's messages, plus " at position N" where V8 names none.
        assert_eq!(
            msg16("[1,]", UnexpectedToken, 3),
            "Unexpected token ']', \"[1,]\" is not valid JSON at position 3"
        );
        assert_eq!(
            msg16("tru", UnexpectedToken, 3),
            "Unexpected end of JSON input at position 3"
        );
        assert_eq!(
            msg16("tr\"", UnexpectedToken, 2),
            "Unexpected string in JSON at position 2"
        );
        assert_eq!(
            msg16("-01", UnexpectedToken, 2),
            "Unexpected number in JSON at position 2"
        );
        assert_eq!(
            msg16("NaN", UnexpectedToken, 0),
            "\"NaN\" is not valid JSON at position 0"
        );
        assert_eq!(
            msg16(
                "[1,2,3,4,5,6,7,8,9,10,x,11,12,13,14,15,16,17]",
                UnexpectedToken,
                22
            ),
            "Unexpected token 'x', ...\",7,8,9,10,x,11,12,13\"... is not valid JSON at position 22"
        );
        assert_eq!(
            msg16(&"a".repeat(35), UnexpectedToken, 0),
            "Unexpected token 'a', \"aaaaaaaaaa\"... is not valid JSON at position 0"
        );
        assert_eq!(
            msg16("{", ExpectedPropNameOrRBrace, 1),
            "Expected property name or '}' in JSON at position 1"
        );
    }

    #[test]
    fn byte_positions_become_utf16_positions() {
        // "é😀" is 2 + 4 bytes but 1 + 2 UTF-16 units: byte 10 is unit 7.
        let text = "[\"é😀\",x]";
        let d = describe(
            text.as_bytes(),
            Fault {
                kind: ErrorKind::UnexpectedToken,
                at: 10,
            },
        );
        assert_eq!(d.position, 7);
        assert_eq!(
            String::from_utf16(&d.message).unwrap(),
            "Unexpected token 'x', \"[\"é😀\",x]\" is not valid JSON at position 7"
        );
        // Invalid UTF-8 counts one unit per replacement, like Buffer#toString.
        let bytes = [b'[', 0xE2, 0x82, b']'];
        let d = describe(
            &bytes[..],
            Fault {
                kind: ErrorKind::UnexpectedToken,
                at: 1,
            },
        );
        assert_eq!(d.position, 1);
        assert_eq!(
            String::from_utf16(&d.message).unwrap(),
            "Unexpected token '\u{FFFD}', \"[\u{FFFD}]\" is not valid JSON at position 1"
        );
    }
}
