use proptest::prelude::*;

use super::*;

/// Results as `string.find` gives them, rendered as strings, or the error.
fn rust_find(subject: &[u8], pattern: &[u8], init: usize) -> Result<Vec<String>, String> {
    let mut never = |_| Ok::<(), ()>(());
    match search(subject, pattern, init, true, None, &mut never) {
        Ok(None) => Ok(vec!["nil".to_owned()]),
        Ok(Some(found)) => {
            let mut out = vec![(found.start + 1).to_string(), found.end.to_string()];
            for capture in found.captures {
                out.push(match capture {
                    Capture::Span(a, b) => String::from_utf8_lossy(&subject[a..b]).into_owned(),
                    Capture::Position(p) => (p + 1).to_string(),
                    Capture::Unfinished => return Err("unfinished capture".to_owned()),
                });
            }
            Ok(out)
        }
        Err(MatchError::Pattern(message))
            if cfg!(feature = "luajit") && message.starts_with("invalid capture index") =>
        {
            Err("invalid capture index %N".to_owned())
        }
        Err(MatchError::Pattern(message)) => Err(message.to_owned()),
        Err(MatchError::Stopped(())) => unreachable!("never stops"),
    }
}

fn c_find(lua: &mlua::Lua, subject: &[u8], pattern: &[u8], init: usize) -> Result<Vec<String>, String> {
    let f: mlua::Function = lua
        .load(
            r#"local s, p, init = ...
            local r = table.pack(pcall(string.find, s, p, init))
            if not r[1] then return false, r[2] end
            local out = {}
            for i = 2, r.n do out[#out + 1] = tostring(r[i]) end
            return true, out"#,
        )
        .into_function()
        .expect("compiles");
    let (ok, value): (bool, mlua::Value) = f
        .call((lua.create_string(subject).unwrap(), lua.create_string(pattern).unwrap(), init as i64 + 1))
        .expect("runs");
    if ok {
        let t = value.as_table().expect("table");
        Ok(t.sequence_values::<String>().map(|v| v.expect("string")).collect())
    } else {
        Err(engine_message(value.to_string().expect("message")))
    }
}

/// LuaJIT says "invalid capture index" without the number; the port keeps 5.4's message.
fn engine_message(message: String) -> String {
    if cfg!(feature = "luajit") && message == "invalid capture index" {
        return "invalid capture index %N".to_owned();
    }
    if cfg!(feature = "luajit") && message == "unbalanced pattern" {
        return "malformed pattern (missing arguments to '%b')".to_owned();
    }
    message
}

use super::has_specials as special;

#[test]
fn matches_like_lua_on_examples() {
    let lua = mlua::Lua::new();
    let cases: &[(&str, &str)] = &[
        ("hello world", "o w"),
        ("hello world", "(h)(e)(l)"),
        ("hello world", "^(%w+)"),
        ("key = value", "(%w+)%s*=%s*(%w+)"),
        ("  trim  ", "^%s*(.-)%s*$"),
        ("THE (quick) fox", "%((%a+)%)"),
        ("f(a(b)c)d", "%b()"),
        ("THE (quick) fox", "%f[%a]%a+"),
        ("abcabc", "(abc)%1"),
        ("abc", "()b()"),
        ("a.b-c", "[%.%-]"),
        ("x]y", "[]]"),
        ("a^b", "[%^]"),
        ("abc", "[^a]+"),
        ("hello", "l?lo"),
        ("hello", "x*"),
        ("hello", "$"),
        ("a$b", "$b"),
        ("aaa", "a-$"),
        ("0x1F", "%x+$"),
        ("\x0b", "%s"),
        ("abc", "%"),
        ("abc", "[a"),
        ("abc", "[a%"),
        ("abc", "%f"),
        ("abc", "(a"),
        ("abc", "a)"),
        ("abc", "%1"),
        ("abc", "%0"),
        ("abc", "(a)%2"),
        ("abc", "%b"),
        ("abc", "%ba"),
        ("(((", &"(".repeat(40)),
        ("a", &"a?".repeat(250)),
    ];
    for (subject, pattern) in cases {
        if !special(pattern.as_bytes()) {
            continue;
        }
        for init in 0..=subject.len() {
            assert_eq!(
                rust_find(subject.as_bytes(), pattern.as_bytes(), init),
                c_find(&lua, subject.as_bytes(), pattern.as_bytes(), init),
                "{subject:?} {pattern:?} from {init}"
            );
        }
    }
}

#[test]
fn the_check_closure_sees_the_steps_and_stops_the_match() {
    let subject = "a".repeat(5000);
    let mut seen = 0u64;
    let mut check = |steps: u64| {
        seen += steps;
        if seen > 1_000_000 { Err("stop") } else { Ok(()) }
    };
    let result = search(subject.as_bytes(), b".-.-.-.-b", 0, true, None, &mut check);
    assert!(matches!(result, Err(MatchError::Stopped("stop"))), "{result:?}");
    assert!(seen > 1_000_000 && seen < 1_000_000 + 2 * CHECK_EVERY, "{seen}");
}

#[test]
fn skip_end_passes_over_a_match_ending_there() {
    let mut never = |_| Ok::<(), ()>(());
    let found = search(b"ab", b"a*", 1, true, Some(1), &mut never).unwrap().unwrap();
    assert_eq!((found.start, found.end), (2, 2));
    let gmatch_like = search(b"^a", b"^a", 0, false, None, &mut never).unwrap().unwrap();
    assert_eq!((gmatch_like.start, gmatch_like.end), (0, 2));
}

#[test]
fn the_cost_bound_grows_with_repetitions() {
    let budget = 1e6;
    assert!((max_cheap_len(b"abc", budget) - budget / 3.0).abs() < 1.0);
    let one = max_cheap_len(b"a*", budget);
    assert!((one - (budget / 2.0).sqrt()).abs() < 1.0, "{one}");
    assert!(max_cheap_len(b".-.-.-.-b", budget) < 11.0);
    // Quantifier characters inside sets and escapes do not count.
    assert_eq!(max_cheap_len(b"[*+-]%-", budget), budget / 7.0);
    assert!(max_cheap_len(b"a?a?a?a?a?a?a?a?a?a?a?a?a?a?a?a?a?a?a?a?", budget) < 1.0);
    assert!(max_cheap_len(b"%b()", budget) < 1000.0);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]
    #[test]
    fn matches_like_the_c_matcher(
        subject in proptest::collection::vec(prop::sample::select(b"ab()[]%-x ".to_vec()), 0..12),
        pattern in proptest::collection::vec(
            prop::sample::select(vec![
                "a", "b", "x", ".", "%a", "%A", "%s", "%w", "%d", "%", "%%", "%(", "(", ")", "()",
                "[", "]", "^", "$", "*", "+", "-", "?", "%1", "%2", "%b()", "%f[%a]", "%f[ab]",
                "[ab]", "[^a]", "[a-x]", "[%a-]", "%]",
            ]),
            0..8,
        ),
        init in 0usize..13,
    ) {
        let lua = mlua::Lua::new();
        let pattern = pattern.concat();
        prop_assume!(special(pattern.as_bytes()));
        let init = init.min(subject.len());
        prop_assert_eq!(
            rust_find(&subject, pattern.as_bytes(), init),
            c_find(&lua, &subject, pattern.as_bytes(), init)
        );
    }
}

#[test]
fn plain_search_finds_the_first_occurrence_and_charges_its_work() {
    let mut never = |_| Ok::<(), ()>(());
    assert_eq!(plain_search(b"a.b.c", b".c", 0, &mut never), Ok(Some(3)));
    assert_eq!(plain_search(b"abc", b"", 3, &mut never), Ok(Some(3)));
    assert_eq!(plain_search(b"abc", b"abcd", 0, &mut never), Ok(None));
    let subject = "a".repeat(100_000);
    let mut seen = 0;
    let mut count = |steps| {
        seen += steps;
        Ok::<(), ()>(())
    };
    assert_eq!(
        plain_search(subject.as_bytes(), &[b'a'; 100].iter().chain(b"b").copied().collect::<Vec<_>>(), 0, &mut count),
        Ok(None)
    );
    assert!(seen > 9_000_000, "{seen}");
}

/// The searcher passes over start positions where the first item (after
/// opening captures) cannot match; answers, errors and counted steps stay
/// the matcher's.
#[test]
fn the_first_item_shortcut_answers_as_the_c_matcher() {
    let lua = mlua::Lua::new();
    let many = format!("{}a{}", "(".repeat(MAX_CAPTURES + 1), ")".repeat(MAX_CAPTURES + 1));
    let exact = format!("{}a{}", "(".repeat(MAX_CAPTURES), ")".repeat(MAX_CAPTURES));
    let patterns = [
        "%a+",
        "(%w+)=(%w+)",
        "((%d))",
        "[ab]c",
        "[^ ]+",
        ".x",
        "x",
        "(x",
        "x(",
        "%zx",
        "%z",
        "%Z+",
        "[%z]",
        "%.",
        "()x",
        "(()x)",
        "%",
        "[x",
        "(%",
        "$x",
        "x$",
        "%f[x]x",
        "%bxy",
        &many,
        &exact,
    ];
    for subject in ["", "  x", "yyyy", "ab ac zx", "k=v; k2=v2", "1(2)", "a.b", "$x", "a\0zx\0"] {
        for pattern in patterns {
            for init in 0..=subject.len() {
                assert_eq!(
                    rust_find(subject.as_bytes(), pattern.as_bytes(), init),
                    c_find(&lua, subject.as_bytes(), pattern.as_bytes(), init),
                    "{subject:?} {pattern:?} {init}"
                );
            }
        }
    }
    // Passed-over positions count: one step each (a search of 100,000
    // spaces for `x` counts at least as many steps).
    let subject = " ".repeat(100_000);
    let mut seen = 0;
    let mut count = |steps| {
        seen += steps;
        Ok::<(), ()>(())
    };
    let mut searcher = Searcher::new(subject.as_bytes(), b"x", true, &mut count);
    assert!(matches!(searcher.find(0, None), Ok(None)));
    searcher.flush().expect("counts");
    assert!(seen >= 100_000, "{seen}");
}
