//! [`FnSignature`]: the Lua parameter and return types of a host function,
//! derived from its Rust argument and result types when it is registered.
//!
//! mlua converts arguments through `FromLuaMulti` and results through
//! `IntoLuaMulti`; neither trait says which Lua type it accepts, so the types
//! are read from [`std::any::type_name`] of the argument tuple and the result:
//! `(String, Option<i64>)` becomes the parameters `string, integer?`. Rust types
//! that have no plain Lua counterpart (user data, custom `FromLua` types) are
//! `any`, which is never wrong, only less precise.

/// The Lua view of a host function's Rust signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct FnSignature {
    /// One Lua type per parameter (`integer`, `string?`, `number[]`...).
    pub(crate) params: Vec<String>,
    /// The element type of a trailing variadic parameter (`Variadic<T>`, `MultiValue`).
    pub(crate) variadic: Option<String>,
    /// One Lua type per result.
    pub(crate) returns: Vec<String>,
    /// Parameter names and a description, if the host gave them
    /// ([`LuaChainBuilder::document_fn`](crate::LuaChainBuilder::document_fn)).
    pub(crate) names: Vec<String>,
    /// What the function does.
    pub(crate) description: Option<String>,
}

impl FnSignature {
    /// The signature of a function taking `A` and returning `R`.
    pub(crate) fn of<A: ?Sized, R: ?Sized>() -> Self {
        let (params, variadic) = split_variadic(values(&parse(std::any::type_name::<A>())));
        let (returns, _) = split_variadic(values(&parse(std::any::type_name::<R>())));
        FnSignature { params, variadic, returns, names: Vec::new(), description: None }
    }
}

/// A parsed Rust type name: a path with generic arguments, a tuple or an array.
#[derive(Debug, PartialEq)]
enum RustType {
    /// `alloc::vec::Vec<i64>`: the last path segment and the arguments.
    Path(String, Vec<RustType>),
    /// `(A, B)`, `()`.
    Tuple(Vec<RustType>),
    /// `[T; N]` or `[T]`.
    Array(Box<RustType>),
}

/// The Lua values a type converts to or from: a tuple is several, `()` none.
fn values(ty: &RustType) -> Vec<(String, bool)> {
    match ty {
        RustType::Tuple(items) => items.iter().map(|t| (lua_type(t), is_variadic(t))).collect(),
        other => vec![(lua_type(other), is_variadic(other))],
    }
}

fn split_variadic(mut values: Vec<(String, bool)>) -> (Vec<String>, Option<String>) {
    let variadic = match values.last() {
        Some((ty, true)) => {
            let ty = ty.clone();
            values.pop();
            Some(ty)
        }
        _ => None,
    };
    (values.into_iter().map(|(t, _)| t).collect(), variadic)
}

fn is_variadic(ty: &RustType) -> bool {
    matches!(ty, RustType::Path(name, _) if name == "Variadic" || name == "MultiValue")
}

/// The Lua annotation type of one Rust type.
fn lua_type(ty: &RustType) -> String {
    match ty {
        RustType::Tuple(items) if items.is_empty() => "nil".to_owned(),
        RustType::Tuple(_) => "any".to_owned(),
        RustType::Array(item) => format!("{}[]", element(item)),
        RustType::Path(name, args) => match (name.as_str(), args.as_slice()) {
            ("String" | "str" | "BString" | "BorrowedStr" | "char" | "OsString" | "PathBuf" | "CString", _) => {
                "string".to_owned()
            }
            (
                "i8" | "i16" | "i32" | "i64" | "i128" | "isize" | "u8" | "u16" | "u32" | "u64" | "u128" | "usize"
                | "Integer",
                _,
            ) => "integer".to_owned(),
            ("f32" | "f64" | "Number", _) => "number".to_owned(),
            ("bool", _) => "boolean".to_owned(),
            ("Option", [inner]) => {
                let inner = lua_type(inner);
                if inner.ends_with('?') || inner == "any" { inner } else { format!("{inner}?") }
            }
            ("Vec" | "VecDeque", [inner]) => format!("{}[]", element(inner)),
            ("Box" | "Rc" | "Arc", [inner]) => lua_type(inner),
            ("HashMap" | "BTreeMap" | "IndexMap", [k, v, ..]) => format!("table<{}, {}>", lua_type(k), lua_type(v)),
            ("HashSet" | "BTreeSet" | "IndexSet", [k, ..]) => format!("table<{}, boolean>", lua_type(k)),
            ("Table", _) => "table".to_owned(),
            ("Function", _) => "function".to_owned(),
            ("Thread", _) => "thread".to_owned(),
            ("AnyUserData" | "LightUserData", _) => "userdata".to_owned(),
            ("Either", [a, b]) => format!("{}|{}", lua_type(a), lua_type(b)),
            ("Variadic", [inner]) => lua_type(inner),
            ("Result", [ok, ..]) => lua_type(ok),
            _ => "any".to_owned(),
        },
    }
}

/// A type used as a list element (`(integer|string)[]` needs parentheses).
fn element(ty: &RustType) -> String {
    let t = lua_type(ty);
    if t.contains('|') || t.ends_with('?') { format!("({t})") } else { t }
}

/// Parses a `std::any::type_name` string; anything unexpected becomes `any`.
fn parse(name: &str) -> RustType {
    let mut parser = Parser { chars: name.chars().collect(), pos: 0 };
    parser.ty().unwrap_or(RustType::Path("?".to_owned(), Vec::new()))
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn skip_spaces(&mut self) {
        while self.peek() == Some(' ') {
            self.pos += 1;
        }
    }

    fn eat(&mut self, c: char) -> bool {
        self.skip_spaces();
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn ty(&mut self) -> Option<RustType> {
        self.skip_spaces();
        while self.eat('&') {
            if self.peek() == Some('\'') {
                while self.peek().is_some_and(|c| c != ' ') {
                    self.pos += 1;
                }
            }
            self.skip_spaces();
            if self.chars[self.pos..].starts_with(&['m', 'u', 't', ' ']) {
                self.pos += 4;
            }
        }
        if self.eat('(') {
            let mut items = Vec::new();
            while !self.eat(')') {
                items.push(self.ty()?);
                self.eat(',');
                if self.pos >= self.chars.len() {
                    return None;
                }
            }
            return Some(RustType::Tuple(items));
        }
        if self.eat('[') {
            let item = self.ty()?;
            while self.peek().is_some_and(|c| c != ']') {
                self.pos += 1;
            }
            self.eat(']');
            return Some(RustType::Array(Box::new(item)));
        }
        let mut segment = String::new();
        loop {
            match self.peek() {
                Some(c) if c.is_alphanumeric() || c == '_' => {
                    segment.push(c);
                    self.pos += 1;
                }
                Some(':') => {
                    self.pos += 1;
                    if self.peek() == Some(':') {
                        self.pos += 1;
                    }
                    segment.clear();
                }
                _ => break,
            }
        }
        if segment.is_empty() {
            return None;
        }
        let mut args = Vec::new();
        if self.eat('<') {
            while !self.eat('>') {
                if self.peek() == Some('\'') {
                    // a lifetime argument
                    while self.peek().is_some_and(|c| c != ',' && c != '>') {
                        self.pos += 1;
                    }
                } else {
                    args.push(self.ty()?);
                }
                self.eat(',');
                if self.pos >= self.chars.len() {
                    return None;
                }
            }
        }
        Some(RustType::Path(segment, args))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn sig<A, R>() -> (Vec<String>, Option<String>, Vec<String>) {
        let s = FnSignature::of::<A, R>();
        (s.params, s.variadic, s.returns)
    }

    #[test]
    fn rust_types_become_lua_types() {
        assert_eq!(sig::<String, i64>(), (vec!["string".into()], None, vec!["integer".into()]));
        assert_eq!(
            sig::<(String, Option<f64>, bool), ()>(),
            (vec!["string".into(), "number?".into(), "boolean".into()], None, vec![])
        );
        assert_eq!(
            sig::<(Vec<u8>, HashMap<String, Vec<Option<i32>>>), (mlua::Table, mlua::Function)>(),
            (
                vec!["integer[]".into(), "table<string, (integer?)[]>".into()],
                None,
                vec!["table".into(), "function".into()]
            )
        );
        assert_eq!(
            sig::<(String, mlua::Variadic<i64>), Option<String>>(),
            (vec!["string".into()], Some("integer".into()), vec!["string?".into()])
        );
        assert_eq!(sig::<mlua::MultiValue, mlua::Value>(), (vec![], Some("any".into()), vec!["any".into()]));
        assert_eq!(sig::<[f32; 3], mlua::Result<bool>>(), (vec!["number[]".into()], None, vec!["boolean".into()]));
        struct Custom;
        assert_eq!(sig::<Custom, Option<Custom>>(), (vec!["any".into()], None, vec!["any".into()]));
        assert_eq!(parse("&'static str"), RustType::Path("str".into(), vec![]));
    }
}
