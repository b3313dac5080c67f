//! Lua 5.4's pattern matcher (`lstrlib.c`) ported to Rust, with a step budget.
//!
//! Same grammar, same backtracking order, same error messages as the C
//! matcher, working on bytes. Every [`CHECK_EVERY`] steps (a call of the
//! matcher, a character scanned by a quantifier, `%b` or a back-reference)
//! it calls the `check` closure with the steps done since the last call; an
//! error from it stops the match.
//!
//! The string library's entries built on it (installed by `bounded_lib`):
//! `dispatch` chooses per call between the engine's C function (when
//! [`is_cheap`]) and the bounded path; `replace` is `gsub`'s loop and
//! `gmatch` its iterator, both in Rust on that path.

/// Captures per pattern (`LUA_MAXCAPTURES`).
pub(crate) const MAX_CAPTURES: usize = 32;
/// Nesting of the matcher's recursion (`MAXCCALLS`).
const MAX_DEPTH: usize = 200;
/// Steps between two calls of the check closure.
pub(crate) const CHECK_EVERY: u64 = 4096;
const ESC: u8 = b'%';
const CAP_UNFINISHED: isize = -1;
const CAP_POSITION: isize = -2;

/// Why a match stopped without an answer.
#[derive(Debug)]
pub(crate) enum MatchError<E> {
    /// The pattern is malformed (the C matcher's message; a static text, so
    /// that a C closure may raise it with nothing to drop).
    Pattern(&'static str),
    /// The check closure refused to go on.
    Stopped(E),
}

/// One capture of a successful match.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Capture {
    /// The bytes `start..end` of the subject.
    Span(usize, usize),
    /// A position capture `()`: the 0-based offset.
    Position(usize),
    /// A capture opened and never closed (an error once its value is used).
    Unfinished,
}

/// A successful match: the 0-based span and the captures.
#[cfg(test)]
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Found {
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) captures: Vec<Capture>,
}

/// Searches `pattern` in `subject` from byte `init` (0-based, at most the
/// subject's length), as `string.find` does without the plain path. A
/// leading `^` anchors the search when `anchor` is true (`gmatch` treats it
/// as a literal). A match ending at `skip_end` is passed over (5.4's rule
/// against an empty match right after the previous one; `None` for none).
#[cfg(test)]
pub(crate) fn search<E>(
    subject: &[u8],
    pattern: &[u8],
    init: usize,
    anchor: bool,
    skip_end: Option<usize>,
    check: &mut dyn FnMut(u64) -> Result<(), E>,
) -> Result<Option<Found>, MatchError<E>> {
    let mut searcher = Searcher::new(subject, pattern, anchor, check);
    Ok(searcher.find(init, skip_end)?.map(|(start, end)| Found { start, end, captures: searcher.captures().collect() }))
}

/// Repeated searches of one pattern in one subject (the loops of `gsub` and
/// `gmatch`), with one step count over all of them.
pub(crate) struct Searcher<'a, 'c, E> {
    m: Matcher<'a, 'c, E>,
    anchored: bool,
    /// The span of the pattern's first item (after opening captures) when
    /// that item must match one byte where a match starts (a single-byte
    /// class without `*`, `?` or `-`), and the search is not anchored: start
    /// positions where it cannot match are passed over without a call of
    /// the matcher (each still counts as a step), as the matcher would fail
    /// there on that item.
    first: Option<(usize, usize)>,
}

impl<'a, 'c, E> Searcher<'a, 'c, E> {
    /// A searcher of `pattern` in `subject` (a leading `^` anchors each search when `anchor` is true).
    pub(crate) fn new(
        subject: &'a [u8],
        pattern: &'a [u8],
        anchor: bool,
        check: &'c mut dyn FnMut(u64) -> Result<(), E>,
    ) -> Self {
        let anchored = anchor && pattern.first() == Some(&b'^');
        let pat = if anchored { &pattern[1..] } else { pattern };
        let m =
            Matcher { src: subject, pat, level: 0, caps: [(0, 0); MAX_CAPTURES], depth: MAX_DEPTH, steps: 0, check };
        let first = if anchored { None } else { m.first_single() };
        Searcher { m, anchored, first }
    }

    /// Whether the pattern starts with an anchoring `^`.
    pub(crate) fn anchored(&self) -> bool {
        self.anchored
    }

    /// The 0-based span of the first match from `init` (see [`search`]); its
    /// captures are then [`Searcher::captures`].
    pub(crate) fn find(
        &mut self,
        init: usize,
        skip_end: Option<usize>,
    ) -> Result<Option<(usize, usize)>, MatchError<E>> {
        let m = &mut self.m;
        let mut s = init;
        loop {
            if let Some((p, ep)) = self.first {
                // As many calls of the matcher that fail on the first item.
                let from = s;
                s = m.scan(s, p, ep, false);
                if s > from {
                    m.tick((s - from) as u64)?;
                }
                if s >= m.src.len() {
                    return Ok(None); // the first item cannot match at the end either
                }
            }
            m.level = 0;
            m.depth = MAX_DEPTH;
            if let Some(end) = m.do_match(s, 0)?
                && Some(end) != skip_end
            {
                return Ok(Some((s, end)));
            }
            s += 1;
            if self.anchored || s > m.src.len() {
                return Ok(None);
            }
        }
    }

    /// The captures of the last match.
    pub(crate) fn captures(&self) -> impl ExactSizeIterator<Item = Capture> + '_ {
        (0..self.m.level).map(|i| self.m.capture(i))
    }

    /// The number of captures of the last match.
    pub(crate) fn level(&self) -> usize {
        self.m.level
    }

    /// Capture `i` (0-based, below [`Searcher::level`]) of the last match.
    pub(crate) fn capture(&self, i: usize) -> Capture {
        self.m.capture(i)
    }

    /// Steps counted by an earlier searcher and not yet handed to the check
    /// closure (see [`Searcher::pending`]): handed over with this one's.
    pub(crate) fn carry(&mut self, steps: u64) {
        self.m.steps += steps;
    }

    /// The steps not yet handed to the check closure (fewer than
    /// [`CHECK_EVERY`]), for a caller that searches again later.
    pub(crate) fn pending(&self) -> u64 {
        self.m.steps
    }

    /// Hands the steps not yet seen by the check closure to it.
    pub(crate) fn flush(&mut self) -> Result<(), E> {
        let steps = std::mem::take(&mut self.m.steps);
        if steps > 0 { (self.m.check)(steps) } else { Ok(()) }
    }
}

/// Does `pattern` use any of the characters that make `string.find` match a
/// pattern (without them it searches the text plainly)?
pub(crate) fn has_specials(pattern: &[u8]) -> bool {
    pattern.iter().any(|c| b"^$*+?.([%-".contains(c))
}

/// Searches the bytes of `needle` in `subject` from `init` (0-based), as
/// `string.find` with `plain`: the 0-based start of the first occurrence.
/// Counts one step per byte compared, with the same checks as [`search`].
pub(crate) fn plain_search<E>(
    subject: &[u8],
    needle: &[u8],
    init: usize,
    check: &mut dyn FnMut(u64) -> Result<(), E>,
) -> Result<Option<usize>, E> {
    let Some(last) = subject.len().checked_sub(needle.len()) else { return Ok(None) };
    let mut steps = 0u64;
    for start in init..=last {
        if subject[start..start + needle.len()] == *needle {
            return Ok(Some(start));
        }
        steps += needle.len() as u64 + 1;
        if steps >= CHECK_EVERY {
            check(std::mem::take(&mut steps))?;
        }
    }
    Ok(None)
}

/// Is the C matcher cheap with `pattern` on a subject of `len` bytes? Its
/// worst case grows like `m * n^(q+1) * 2^o` steps for a subject of length
/// `n`, a pattern of length `m`, `q` unbounded repetitions (`*`, `+`, `-`,
/// `%b`, back-references) and `o` optional items (`?`); cheap means at most
/// `budget`. One pass over the pattern and at most `q + 1` products.
pub(crate) fn is_cheap(pattern: &[u8], len: usize, budget: f64) -> bool {
    let (m, q, o) = shape(pattern);
    let n = len as f64;
    let mut cost = m * 2f64.powi(o.min(1000));
    for _ in 0..=q {
        cost *= n;
        if cost > budget {
            return false;
        }
    }
    cost <= budget
}

/// The longest subject for which [`is_cheap`] holds (up to rounding).
#[cfg(test)]
pub(crate) fn max_cheap_len(pattern: &[u8], budget: f64) -> f64 {
    let (m, q, o) = shape(pattern);
    (budget / m / 2f64.powi(o.min(1000))).max(0.0).powf(1.0 / f64::from(q + 1))
}

/// The pattern's length (at least 1), unbounded repetitions and `?` items.
fn shape(pattern: &[u8]) -> (f64, i32, i32) {
    let (mut q, mut o, mut p) = (0i32, 0i32, 0usize);
    while p < pattern.len() {
        match pattern[p] {
            ESC => {
                if let Some(b'b' | b'1'..=b'9') = pattern.get(p + 1) {
                    q += 1;
                }
                p += 2;
                continue;
            }
            b'[' => {
                // Skip the set (as `classEnd`); a malformed one fails fast anyway.
                p += 1;
                if pattern.get(p) == Some(&b'^') {
                    p += 1;
                }
                loop {
                    match pattern.get(p) {
                        None => break,
                        Some(&ESC) => p += 2,
                        Some(_) => p += 1,
                    }
                    if pattern.get(p).is_none_or(|&c| c == b']') {
                        break;
                    }
                }
                p += 1;
                continue;
            }
            b'*' | b'+' | b'-' => q += 1,
            b'?' => o += 1,
            _ => {}
        }
        p += 1;
    }
    (pattern.len().max(1) as f64, q, o)
}

struct Matcher<'a, 'c, E> {
    src: &'a [u8],
    pat: &'a [u8],
    level: usize,
    /// Start and length (or `CAP_*`) of each capture.
    caps: [(usize, isize); MAX_CAPTURES],
    depth: usize,
    steps: u64,
    check: &'c mut dyn FnMut(u64) -> Result<(), E>,
}

type Step<E> = Result<Option<usize>, MatchError<E>>;

fn malformed<E>(message: &'static str) -> MatchError<E> {
    MatchError::Pattern(message)
}

/// "invalid capture index %N" for N in 0..=9 (the C matcher's message).
pub(crate) fn invalid_capture_index(n: usize) -> &'static str {
    const MESSAGES: [&str; 10] = [
        "invalid capture index %0",
        "invalid capture index %1",
        "invalid capture index %2",
        "invalid capture index %3",
        "invalid capture index %4",
        "invalid capture index %5",
        "invalid capture index %6",
        "invalid capture index %7",
        "invalid capture index %8",
        "invalid capture index %9",
    ];
    MESSAGES.get(n).copied().unwrap_or("invalid capture index")
}

impl<E> Matcher<'_, '_, E> {
    /// The pattern byte at `p`, 0 past the end (C reads the terminator).
    #[inline]
    fn pat_at(&self, p: usize) -> u8 {
        self.pat.get(p).copied().unwrap_or(0)
    }

    #[inline]
    fn tick(&mut self, n: u64) -> Result<(), MatchError<E>> {
        self.steps += n;
        if self.steps >= CHECK_EVERY {
            let steps = std::mem::take(&mut self.steps);
            (self.check)(steps).map_err(MatchError::Stopped)?;
        }
        Ok(())
    }

    fn capture(&self, i: usize) -> Capture {
        let (start, len) = self.caps[i];
        match len {
            CAP_POSITION => Capture::Position(start),
            CAP_UNFINISHED => Capture::Unfinished,
            len => Capture::Span(start, start + len as usize),
        }
    }

    /// The end of the single-character class starting at `p`.
    fn class_end(&self, mut p: usize) -> Result<usize, MatchError<E>> {
        let c = self.pat_at(p);
        p += 1;
        match c {
            ESC => {
                if p >= self.pat.len() {
                    return Err(malformed("malformed pattern (ends with '%')"));
                }
                Ok(p + 1)
            }
            b'[' => {
                if self.pat_at(p) == b'^' {
                    p += 1;
                }
                loop {
                    if p >= self.pat.len() {
                        return Err(malformed("malformed pattern (missing ']')"));
                    }
                    let c = self.pat[p];
                    p += 1;
                    if c == ESC && p < self.pat.len() {
                        p += 1;
                    }
                    if self.pat_at(p) == b']' {
                        return Ok(p + 1);
                    }
                }
            }
            _ => Ok(p),
        }
    }

    /// The start and end of the first pattern item after any opening
    /// captures `(` (at most [`MAX_CAPTURES`]: more raise an error at every
    /// position) if it is a single-byte class that must match (see
    /// [`Searcher`]'s `first`); `None` for any other start (position
    /// captures, anchors, `%b`, `%f`, back-references, `*`/`?`/`-`, a
    /// malformed class: the matcher handles those).
    fn first_single(&self) -> Option<(usize, usize)> {
        let mut p = 0;
        while self.pat_at(p) == b'(' && self.pat_at(p + 1) != b')' {
            p += 1;
        }
        if p > MAX_CAPTURES {
            return None;
        }
        match (self.pat.get(p)?, self.pat.get(p + 1)) {
            (b'(' | b')' | b'$', _) => return None,
            (&ESC, Some(b'b' | b'f' | b'0'..=b'9')) => return None,
            _ => {}
        }
        let ep = self.class_end(p).ok()?;
        (!matches!(self.pat_at(ep), b'*' | b'?' | b'-')).then_some((p, ep))
    }

    /// The first position from `from` where the single-byte class at
    /// `p..ep` matches (`matching` false) or stops matching (`matching`
    /// true); the subject's length if none. One dispatch on the class, then
    /// a tight loop.
    #[inline]
    fn scan(&self, from: usize, p: usize, ep: usize, matching: bool) -> usize {
        let rest = self.src.get(from..).unwrap_or_default();
        let found = match self.pat[p] {
            b'.' => Some(if matching { rest.len() } else { 0 }),
            ESC => {
                let cl = self.pat_at(p + 1);
                match class_mask(cl) {
                    Some((mask, negated)) => {
                        rest.iter().position(|&c| ((CTYPE[usize::from(c)] & mask != 0) != negated) != matching)
                    }
                    None => rest.iter().position(|&c| (c == cl) != matching),
                }
            }
            b'[' => rest.iter().position(|&c| self.bracket_class(c, p, ep - 1) != matching),
            pc => rest.iter().position(|&c| (c == pc) != matching),
        };
        from + found.unwrap_or(rest.len())
    }

    /// Does byte `c` belong to the set `[...]` between `p` (the `[`) and `ec` (its `]`)?
    fn bracket_class(&self, c: u8, mut p: usize, ec: usize) -> bool {
        let mut sig = true;
        if self.pat_at(p + 1) == b'^' {
            sig = false;
            p += 1;
        }
        loop {
            p += 1;
            if p >= ec {
                return !sig;
            }
            let pc = self.pat[p];
            if pc == ESC {
                p += 1;
                if class(c, self.pat_at(p)) {
                    return sig;
                }
            } else if self.pat_at(p + 1) == b'-' && p + 2 < ec {
                p += 2;
                if pc <= c && c <= self.pat[p] {
                    return sig;
                }
            } else if pc == c {
                return sig;
            }
        }
    }

    #[inline]
    fn single(&self, s: usize, p: usize, ep: usize) -> bool {
        let Some(&c) = self.src.get(s) else { return false };
        match self.pat[p] {
            b'.' => true,
            ESC => class(c, self.pat_at(p + 1)),
            b'[' => self.bracket_class(c, p, ep - 1),
            pc => pc == c,
        }
    }

    fn do_match(&mut self, mut s: usize, mut p: usize) -> Step<E> {
        if self.depth == 0 {
            return Err(malformed("pattern too complex"));
        }
        self.depth -= 1;
        self.tick(1)?;
        let result = loop {
            if p == self.pat.len() {
                break Some(s);
            }
            match self.pat[p] {
                b'(' => {
                    break if self.pat_at(p + 1) == b')' {
                        self.start_capture(s, p + 2, CAP_POSITION)?
                    } else {
                        self.start_capture(s, p + 1, CAP_UNFINISHED)?
                    };
                }
                b')' => break self.end_capture(s, p + 1)?,
                b'$' if p + 1 == self.pat.len() => break (s == self.src.len()).then_some(s),
                ESC if self.pat_at(p + 1) == b'b' => match self.balance(s, p + 2)? {
                    Some(e) => {
                        s = e;
                        p += 4;
                    }
                    None => break None,
                },
                ESC if self.pat_at(p + 1) == b'f' => {
                    p += 2;
                    if self.pat_at(p) != b'[' {
                        return Err(malformed("missing '[' after '%f' in pattern"));
                    }
                    let ep = self.class_end(p)?;
                    let previous = if s == 0 { 0 } else { self.src[s - 1] };
                    let current = self.src.get(s).copied().unwrap_or(0);
                    if !self.bracket_class(previous, p, ep - 1) && self.bracket_class(current, p, ep - 1) {
                        p = ep;
                    } else {
                        break None;
                    }
                }
                ESC if self.pat_at(p + 1).is_ascii_digit() => match self.match_capture(s, self.pat_at(p + 1))? {
                    Some(e) => {
                        s = e;
                        p += 2;
                    }
                    None => break None,
                },
                _ => {
                    let ep = self.class_end(p)?;
                    let suffix = self.pat_at(ep);
                    if !self.single(s, p, ep) {
                        if matches!(suffix, b'*' | b'?' | b'-') {
                            p = ep + 1;
                            continue;
                        }
                        break None;
                    }
                    match suffix {
                        b'?' => match self.do_match(s + 1, ep + 1)? {
                            Some(res) => break Some(res),
                            None => p = ep + 1,
                        },
                        b'+' => break self.max_expand(s + 1, p, ep)?,
                        b'*' => break self.max_expand(s, p, ep)?,
                        b'-' => break self.min_expand(s, p, ep)?,
                        _ => {
                            s += 1;
                            p = ep;
                        }
                    }
                }
            }
        };
        self.depth += 1;
        Ok(result)
    }

    fn max_expand(&mut self, s: usize, p: usize, ep: usize) -> Step<E> {
        let mut i = self.scan(s, p, ep, true).max(s) - s;
        self.tick(i as u64)?;
        loop {
            if let Some(res) = self.do_match(s + i, ep + 1)? {
                return Ok(Some(res));
            }
            if i == 0 {
                return Ok(None);
            }
            i -= 1;
        }
    }

    fn min_expand(&mut self, mut s: usize, p: usize, ep: usize) -> Step<E> {
        loop {
            if let Some(res) = self.do_match(s, ep + 1)? {
                return Ok(Some(res));
            }
            if !self.single(s, p, ep) {
                return Ok(None);
            }
            s += 1;
        }
    }

    fn start_capture(&mut self, s: usize, p: usize, what: isize) -> Step<E> {
        if self.level >= MAX_CAPTURES {
            return Err(malformed("too many captures"));
        }
        self.caps[self.level] = (s, what);
        self.level += 1;
        let res = self.do_match(s, p)?;
        if res.is_none() {
            self.level -= 1;
        }
        Ok(res)
    }

    fn end_capture(&mut self, s: usize, p: usize) -> Step<E> {
        let Some(l) = (0..self.level).rev().find(|&l| self.caps[l].1 == CAP_UNFINISHED) else {
            return Err(malformed("invalid pattern capture"));
        };
        self.caps[l].1 = (s - self.caps[l].0) as isize;
        let res = self.do_match(s, p)?;
        if res.is_none() {
            self.caps[l].1 = CAP_UNFINISHED;
        }
        Ok(res)
    }

    fn balance(&mut self, s: usize, p: usize) -> Step<E> {
        if p + 1 >= self.pat.len() {
            return Err(malformed("malformed pattern (missing arguments to '%b')"));
        }
        let (open, close) = (self.pat[p], self.pat[p + 1]);
        if self.src.get(s) != Some(&open) {
            return Ok(None);
        }
        let mut depth = 1usize;
        for (i, &c) in self.src.iter().enumerate().skip(s + 1) {
            if c == close {
                depth -= 1;
                if depth == 0 {
                    self.tick((i - s) as u64)?;
                    return Ok(Some(i + 1));
                }
            } else if c == open {
                depth += 1;
            }
        }
        self.tick((self.src.len() - s) as u64)?;
        Ok(None)
    }

    fn match_capture(&mut self, s: usize, digit: u8) -> Step<E> {
        let l = i32::from(digit) - i32::from(b'1');
        if l < 0 || l as usize >= self.level || self.caps[l as usize].1 == CAP_UNFINISHED {
            return Err(malformed(invalid_capture_index((l + 1) as usize)));
        }
        let (start, len) = self.caps[l as usize];
        if len < 0 {
            return Ok(None); // a position capture never matches (C compares a huge length)
        }
        let len = len as usize;
        self.tick(len as u64)?;
        if self.src.len() - s >= len && self.src[start..start + len] == self.src[s..s + len] {
            Ok(Some(s + len))
        } else {
            Ok(None)
        }
    }
}

/// `match_class` in the C locale.
#[inline]
fn class(c: u8, cl: u8) -> bool {
    match class_mask(cl) {
        Some((mask, negated)) => (CTYPE[usize::from(c)] & mask != 0) != negated,
        None => cl == c,
    }
}

/// The bit of each class letter in [`CTYPE`], and whether the class is
/// negated (an upper-case letter); `None` for a byte that is no class.
#[inline]
fn class_mask(cl: u8) -> Option<(u16, bool)> {
    let bit = match cl.to_ascii_lowercase() {
        b'a' => ALPHA,
        b'c' => CNTRL,
        b'd' => DIGIT,
        b'g' => GRAPH,
        b'l' => LOWER,
        b'p' => PUNCT,
        b's' => SPACE,
        b'u' => UPPER,
        b'w' => ALNUM,
        b'x' => XDIGIT,
        b'z' => ZERO, // deprecated in 5.2, still in 5.4 and 5.1
        _ => return None,
    };
    Some((bit, cl.is_ascii_uppercase()))
}

const ALPHA: u16 = 1;
const CNTRL: u16 = 2;
const DIGIT: u16 = 4;
const GRAPH: u16 = 8;
const LOWER: u16 = 16;
const PUNCT: u16 = 32;
const SPACE: u16 = 64;
const UPPER: u16 = 128;
const ALNUM: u16 = 256;
const XDIGIT: u16 = 512;
const ZERO: u16 = 1024;

/// The classes of every byte (the C locale's `isalpha` & co.).
static CTYPE: [u16; 256] = {
    let mut table = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        let c = i as u8;
        let mut bits = 0;
        if c.is_ascii_alphabetic() {
            bits |= ALPHA;
        }
        if c.is_ascii_control() {
            bits |= CNTRL;
        }
        if c.is_ascii_digit() {
            bits |= DIGIT;
        }
        if c.is_ascii_graphic() {
            bits |= GRAPH;
        }
        if c.is_ascii_lowercase() {
            bits |= LOWER;
        }
        if c.is_ascii_punctuation() {
            bits |= PUNCT;
        }
        if matches!(c, b' ' | b'\t'..=b'\r') {
            bits |= SPACE;
        }
        if c.is_ascii_uppercase() {
            bits |= UPPER;
        }
        if c.is_ascii_alphanumeric() {
            bits |= ALNUM;
        }
        if c.is_ascii_hexdigit() {
            bits |= XDIGIT;
        }
        if c == 0 {
            bits |= ZERO;
        }
        table[i] = bits;
        i += 1;
    }
    table
};

#[cfg(any(feature = "lua54", feature = "lua55"))]
mod bounded;
mod bridged;
mod dispatch;
mod gmatch;
mod replace;

#[cfg(any(feature = "lua54", feature = "lua55"))]
pub(crate) use dispatch::install_c_dispatch;
#[cfg(any(test, not(any(feature = "lua54", feature = "lua55"))))]
pub(crate) use dispatch::{Shape, install_dispatch};
#[cfg(any(test, not(any(feature = "lua54", feature = "lua55"))))]
pub(crate) use gmatch::gmatch_function;
#[cfg(any(test, not(any(feature = "lua54", feature = "lua55"))))]
pub(crate) use replace::gsub_function;

#[cfg(test)]
mod tests;
