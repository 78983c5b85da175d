//! Unit tests of the scanner: what it accepts and rejects (V8's errors at V8's positions), deep nesting, cancelling.

use super::*;
use crate::json::plan::{NullSink, VecSink};

fn check(text: &str) -> Result<(), Stop> {
    let cancel = AtomicBool::new(false);
    let units: Vec<u16> = text.encode_utf16().collect();
    let (_, r16) = Scanner::new(Whole::new(&units, &cancel), NullSink, 8).run();
    let (_, r8) = Scanner::new(Whole::new(text.as_bytes(), &cancel), NullSink, 8).run();
    // ASCII texts: byte and unit positions agree.
    if text.is_ascii() {
        assert_eq!(r16, r8, "{text:?}");
    }
    r16
}

fn err(kind: ErrorKind, at: usize) -> Result<(), Stop> {
    Err(Stop::Syntax(Fault { kind, at }))
}

#[test]
fn accepts_what_json_parse_accepts() {
    for ok in [
        "0",
        "-0",
        " 1.5e+10 ",
        "-0.0E-0",
        "\"\"",
        "\"\\u00e9\\ud800\\n\\/\"",
        "[]",
        "{}",
        "[1,[2,[3,{}]],{\"a\":{\"b\":[]}}]",
        "{\"a\":1,\"a\":2,\"__proto__\":{}}",
        "\t\r\n true",
        "null",
        "\"é😀\"",
    ] {
        assert_eq!(check(ok), Ok(()), "{ok:?}");
    }
}

#[test]
fn rejects_like_v8_with_its_positions() {
    use ErrorKind::*;
    // Each expectation was read off Node 20's JSON.parse message.
    let cases: &[(&str, ErrorKind, usize)] = &[
        ("", UnexpectedToken, 0),
        ("[", UnexpectedToken, 1),
        ("{", ExpectedPropNameOrRBrace, 1),
        ("[1", ExpectedCommaOrRBrack, 2),
        ("{\"a\":1", ExpectedCommaOrRBrace, 6),
        ("{\"a\"", ExpectedColon, 4),
        ("{\"a\":", UnexpectedToken, 5),
        ("{\"a\":1,}", ExpectedDoubleQuotedPropertyName, 7),
        ("[1,]", UnexpectedToken, 3),
        ("[1 2]", ExpectedCommaOrRBrack, 3),
        ("tru", UnexpectedToken, 3),
        ("trux", UnexpectedToken, 3),
        ("-", NoNumberAfterMinusSign, 1),
        ("-01", UnexpectedToken, 2),
        ("1.", UnterminatedFractionalNumber, 2),
        ("1.e", UnterminatedFractionalNumber, 2),
        ("1e+", ExponentPartMissingNumber, 3),
        ("\"abc", UnterminatedString, 4),
        ("\"a\\", UnexpectedToken, 3),
        ("\"a\\x\"", BadEscapedCharacter, 3),
        ("\"a\\u12\"", BadUnicodeEscape, 6),
        ("\"\u{1}\"", BadControlCharacter, 1),
        ("1 2", NonWhitespaceAfter, 2),
        ("0-", NonWhitespaceAfter, 1),
        ("[-]", NoNumberAfterMinusSign, 2),
        ("{\"a\" 1}", ExpectedColon, 5),
    ];
    for &(text, kind, at) in cases {
        assert_eq!(check(text), err(kind, at), "{text:?}");
    }
    // Non-ASCII after a backslash: Latin-1 is a bad escape, above is a token.
    assert_eq!(check("\"\\é\""), err(BadEscapedCharacter, 2));
    assert_eq!(check("\"\\Ā\""), err(UnexpectedToken, 2));
    // UTF-16 units whose low byte is JSON syntax are just characters.
    for (text, at) in [
        ("[\u{120}1]", 1),
        ("\u{10A}1", 0),
        ("[1\u{12C}2]", 2),
        ("{\"a\"\u{13A}1}", 4),
    ] {
        assert!(check(text).is_err(), "{text:?}");
        let units: Vec<u16> = text.encode_utf16().collect();
        let cancel = AtomicBool::new(false);
        let (_, r) = Scanner::new(Whole::new(&units, &cancel), NullSink, 8).run();
        match r {
            Err(Stop::Syntax(f)) => assert_eq!(f.at, at, "{text:?}"),
            other => panic!("{text:?}: {other:?}"),
        }
    }
}

#[test]
fn deep_nesting_uses_no_recursion() {
    let depth = 1_000_000;
    let text = "[".repeat(depth) + &"]".repeat(depth);
    let cancel = AtomicBool::new(false);
    let (sink, r) = Scanner::new(
        Whole::new(text.as_bytes(), &cancel),
        VecSink::default(),
        65536,
    )
    .run();
    assert_eq!(r, Ok(()));
    let opens = sink
        .ops
        .chunks(4)
        .filter(|op| op[0] == plan::ARRAY_OPEN)
        .count();
    // Every level whose text is longer than a slice is built by the main thread.
    assert_eq!(opens, depth - 65536 / 2);
    let broken = "[".repeat(depth) + &"]".repeat(depth - 1);
    let (_, r) = Scanner::new(Whole::new(broken.as_bytes(), &cancel), NullSink, 64).run();
    assert_eq!(r, err(ErrorKind::ExpectedCommaOrRBrack, 2 * depth - 1));
}

#[test]
fn cancels() {
    let cancel = AtomicBool::new(true);
    let text = "[1]";
    let (_, r) = Scanner::new(Whole::new(text.as_bytes(), &cancel), NullSink, 8).run();
    assert_eq!(r, Err(Stop::Cancelled));
}
