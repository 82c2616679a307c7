//! Random inputs for the fuzzer: text of every kind of character, JSON values, identity settings, and JWT headers and claims, each with what it must give.

use pg_test::rng::Rng;

/// Random text: valid UTF-8, never NUL, from every kind of character, with
/// an occasional huge one (up to ~1 MB).
pub fn random_text(rng: &mut Rng, allow_huge: bool) -> String {
    let len = match rng.below(100) {
        0..=29 => rng.below(8),
        30..=69 => rng.range(8, 64),
        70..=89 => rng.range(64, 1024),
        90..=97 => rng.range(1024, 16 * 1024),
        _ if allow_huge => rng.range(64 * 1024, 1024 * 1024),
        _ => rng.range(1024, 4096),
    };
    let mut s = String::with_capacity(len);
    // Huge strings repeat a random block so that they are cheap to make.
    let block = len.min(4096);
    while s.len() < block {
        s.push(random_char(rng));
    }
    while s.len() < len {
        let take = (len - s.len()).min(block);
        let cut = (0..=take).rev().find(|&i| s.is_char_boundary(i)).unwrap();
        let chunk = s[..cut].to_string();
        if chunk.is_empty() {
            break;
        }
        s.push_str(&chunk);
    }
    s
}

fn random_char(rng: &mut Rng) -> char {
    const SPECIAL: &[char] = &[
        '"',
        '\\',
        '{',
        '}',
        '[',
        ']',
        ':',
        ',',
        '\'',
        '$',
        '%',
        ' ',
        '\t',
        '\n',
        '\r',
        '.',
        '-',
        '=',
        '/',
        '+',
        '\u{feff}',
        '\u{202e}',
        '\u{0300}',
        '\u{fffd}',
        '\u{ffff}',
        '\u{2028}',
        '\u{00a0}',
        '\u{3000}',
        '\u{1f600}',
        '\u{10ffff}',
    ];
    let pick = |rng: &mut Rng, lo: u32, hi: u32| -> char {
        loop {
            let c = lo + (rng.next_u64() % (hi - lo + 1) as u64) as u32;
            if let Some(ch) = char::from_u32(c) {
                if ch != '\0' {
                    return ch;
                }
            }
        }
    };
    match rng.below(10) {
        0..=3 => pick(rng, 0x20, 0x7e),
        4 => pick(rng, 0x01, 0x1f),
        5 => pick(rng, 0x80, 0xff),
        6 => pick(rng, 0x100, 0xffff),
        7 => pick(rng, 0x10000, 0x10ffff),
        _ => *rng.pick(SPECIAL),
    }
}

/// `s` as a JSON string literal.
pub fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

pub fn json_number(rng: &mut Rng) -> String {
    match rng.below(8) {
        0 => format!("{}", rng.next_u64() as i64),
        1 => "1e999999".into(),
        2 => "-0".into(),
        3 => "123456789012345678901234567890123456789".into(),
        4 => format!("{}.{}", rng.below(1000), rng.next_u64()),
        5 => "-1e-999999".into(),
        6 => format!("{}", rng.below(10)),
        _ => "0.0000000000000000000000000000001".into(),
    }
}

pub fn json_value(rng: &mut Rng, depth: usize) -> String {
    match rng.below(if depth > 3 { 4 } else { 7 }) {
        0 => "null".into(),
        1 => if rng.chance(50) { "true" } else { "false" }.into(),
        2 => json_number(rng),
        3 => json_string(&random_text(rng, false)),
        4 => {
            let n = rng.below(4);
            let items: Vec<String> = (0..n).map(|_| json_value(rng, depth + 1)).collect();
            format!("[{}]", items.join(","))
        }
        _ => {
            let n = rng.below(4);
            let items: Vec<String> = (0..n)
                .map(|_| {
                    let k = json_string(&random_text(rng, false));
                    format!("{k}:{}", json_value(rng, depth + 1))
                })
                .collect();
            format!("{{{}}}", items.join(","))
        }
    }
}

/// What an identity input must give.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Want {
    /// That user (canonical text).
    User(String),
    /// Nobody (NULL).
    Nobody,
    /// 22P02.
    Invalid,
    /// Either success (any user or nobody) or 22P02.
    Any,
    /// That user or 22P02 (a parser may or may not limit nesting it skips).
    UserOrInvalid(String),
}

/// A subject in a random spelling, and the user it must name.
pub fn random_subject(rng: &mut Rng) -> (String, Want) {
    let u = rng.uuid();
    match rng.below(12) {
        0 => (u.clone(), Want::User(u)),
        1 => (u.to_uppercase(), Want::User(u)),
        2 => (format!("{{{u}}}"), Want::User(u)),
        3 => (format!("urn:uuid:{u}"), Want::User(u)),
        4 => (u.replace('-', ""), Want::User(u)),
        5 => (format!("  {u}\t\n"), Want::User(u)),
        6 => (" \t ".into(), Want::Nobody),
        7 => (u[..35].to_string(), Want::Invalid),
        8 => (format!("{u}x"), Want::Invalid),
        9 => (u.replace('-', "_"), Want::Invalid),
        // Random text: a blank one is nobody, anything else is probably
        // invalid but may happen to be a UUID; any documented outcome.
        _ => (random_text(rng, true), Want::Any),
    }
}

/// A request.jwt.claims value and what it must give.
pub fn random_claims(rng: &mut Rng) -> (String, Want) {
    let u = rng.uuid();
    match rng.below(16) {
        0 => (
            format!("{{\"sub\":\"{u}\",\"role\":\"authenticated\"}}"),
            Want::User(u),
        ),
        1 => {
            let (sub, want) = random_subject(rng);
            (format!("{{\"sub\":{}}}", json_string(&sub)), want)
        }
        2 => (
            rng.pick(&["{}", "{\"role\":\"anon\"}", "{\"sub\":null}", "  {}  "])
                .to_string(),
            Want::Nobody,
        ),
        3 => (format!("{{\"sub\":{}}}", json_number(rng)), Want::Invalid),
        4 => (
            format!(
                "{{\"sub\":{}}}",
                rng.pick(&["true", "[]", "{}", "[\"x\"]", "{\"sub\":\"x\"}"])
            ),
            Want::Invalid,
        ),
        5 => {
            // Deep nesting in a claim nobody reads (up to 400,000 levels).
            let depth = *rng.pick(&[1usize, 10, 100, 127, 129, 1000, 100_000, 400_000]);
            let nest = "[".repeat(depth) + &"]".repeat(depth);
            let want = if depth <= 120 {
                Want::User(u.clone())
            } else {
                Want::UserOrInvalid(u.clone())
            };
            (format!("{{\"extra\":{nest},\"sub\":\"{u}\"}}"), want)
        }
        6 => {
            let depth = *rng.pick(&[200usize, 5000, 300_000]);
            ("{\"sub\":".to_string() + &"{".repeat(depth), Want::Invalid)
        }
        7 => (random_text(rng, true), Want::Any),
        8 => (
            rng.pick(&[
                "{\"sub\":\"",
                "{\"sub\" \"x\"}",
                "{'sub':'x'}",
                "{\"sub\":\"x\"} trailing",
                "/* c */ {\"sub\":\"x\"}",
                "\u{feff}{}",
                "{\"sub\":\"\\ud800\"}",
                "{\"sub\":\"\\u0000\"}",
                "{\"sub\":\"\\q\"}",
                "nul",
                "\"just a string\"",
            ])
            .to_string(),
            Want::Invalid,
        ),
        9 => (
            format!("{{\"sub\":\"{u}\",\"sub\":\"{}\"}}", rng.uuid()),
            Want::Invalid,
        ),
        10 => {
            let pad = random_text(rng, true);
            (
                format!("{{\"pad\":{},\"sub\":\"{u}\"}}", json_string(&pad)),
                Want::User(u),
            )
        }
        11 => {
            // The subject spelled with JSON escapes.
            let escaped: String = u.chars().map(|c| format!("\\u{:04x}", c as u32)).collect();
            (format!("{{\"sub\":\"{escaped}\"}}"), Want::User(u))
        }
        12 => (format!("[\"{u}\"]"), Want::Any),
        13 => (json_number(rng), Want::Invalid),
        14 => (
            format!("{{\"sub\":\"{u}\",\"x\":{}}}", json_value(rng, 0)),
            Want::User(u),
        ),
        _ => (json_value(rng, 0), Want::Any),
    }
}

pub fn lenient(want: Want) -> Want {
    match want {
        Want::User(u) => Want::UserOrInvalid(u),
        other => other,
    }
}

pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A token (header.payload, signature decided by the caller) and what
/// authenticate() must give if it is correctly signed.
pub fn random_token_parts(rng: &mut Rng) -> (String, String, Want) {
    let kids = [
        "k-hs256",
        "k-hs512",
        "k-ed",
        "k-es",
        "k-bad-pem",
        "k-inactive",
        "k-missing",
    ];
    let algs = [
        "HS256", "HS384", "HS512", "EdDSA", "ES256", "RS256", "PS512", "none", "", "hs256",
    ];
    let mut header = vec![];
    if rng.chance(90) {
        let alg = *rng.pick(&algs);
        header.push(format!("\"alg\":{}", json_string(alg)));
    }
    if rng.chance(85) {
        let kid = match rng.below(10) {
            0 => random_text(rng, false),
            1 => "x".repeat(rng.range(1000, 70_000)),
            2 => "\u{0}".into(),
            _ => rng.pick(&kids).to_string(),
        };
        header.push(format!("\"kid\":{}", json_string(&kid)));
    }
    if rng.chance(50) {
        header.push("\"typ\":\"JWT\"".into());
    }
    if rng.chance(10) {
        header.push(format!("\"x\":{}", json_value(rng, 0)));
    }
    let header = format!("{{{}}}", header.join(","));
    let u = rng.uuid();
    let now = now_secs();
    let mut claims = vec![];
    let mut want = Want::User(u.clone());
    match rng.below(8) {
        0 => {
            claims.push(format!("\"sub\":{}", json_value(rng, 0)));
            want = Want::Any;
        }
        1 => want = Want::Invalid, // no sub
        _ => claims.push(format!("\"sub\":\"{u}\"")),
    }
    match rng.below(8) {
        0 => want = Want::Invalid, // no exp
        1 => {
            claims.push(format!("\"exp\":{}", now - 3600));
            want = Want::Invalid;
        }
        2 => {
            claims.push(format!("\"exp\":{}", json_value(rng, 0)));
            want = Want::Any;
        }
        3 => {
            claims.push(format!("\"exp\":{}", json_number(rng)));
            want = Want::Any;
        }
        _ => claims.push(format!("\"exp\":{}", now + 3600)),
    }
    match rng.below(8) {
        0 => {
            claims.push(format!("\"nbf\":{}", now + 3600));
            want = Want::Invalid;
        }
        1 => {
            claims.push(format!("\"nbf\":{}", json_value(rng, 0)));
            want = Want::Any;
        }
        2 => claims.push(format!("\"nbf\":{}", now - 3600)),
        _ => {}
    }
    // Odd aud/iss values (no key here requires them) may be ignored or make
    // the token malformed: both are acceptable, never another user.
    if rng.chance(15) {
        claims.push(format!("\"aud\":{}", json_value(rng, 0)));
        want = lenient(want);
    }
    if rng.chance(15) {
        claims.push(format!("\"iss\":{}", json_value(rng, 0)));
        want = lenient(want);
    }
    if rng.chance(5) {
        claims.push(format!("\"pad\":{}", json_string(&random_text(rng, true))));
    }
    let payload = format!("{{{}}}", claims.join(","));
    (header, payload, want)
}
