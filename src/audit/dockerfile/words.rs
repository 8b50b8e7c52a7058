//! Dockerfile words: `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR:+alt}` substitution
//! and the quoting of `ENV`/`ARG` pairs.

use std::collections::BTreeMap;

/// `text` with its variables replaced; the names that had no value, in order.
pub fn expand(text: &str, vars: &BTreeMap<String, String>, escape: char) -> (String, Vec<String>) {
    let mut missing = Vec::new();
    let out = expand_into(text, vars, escape, &mut missing, 0);
    (out, missing)
}

fn expand_into(
    text: &str,
    vars: &BTreeMap<String, String>,
    escape: char,
    missing: &mut Vec<String>,
    depth: usize,
) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == escape && chars.get(i + 1) == Some(&'$') {
            out.push('$');
            i += 2;
            continue;
        }
        if c != '$' {
            out.push(c);
            i += 1;
            continue;
        }
        match chars.get(i + 1) {
            Some('{') => {
                let Some(close) = matching_brace(&chars, i + 2) else {
                    out.extend(&chars[i..]);
                    break;
                };
                let inner: String = chars[i + 2..close].iter().collect();
                out.push_str(&braced(&inner, vars, escape, missing, depth));
                i = close + 1;
            }
            Some(n) if n.is_ascii_alphabetic() || *n == '_' => {
                let start = i + 1;
                let mut j = start;
                while j < chars.len() && (chars[j].is_ascii_alphanumeric() || chars[j] == '_') {
                    j += 1;
                }
                let name: String = chars[start..j].iter().collect();
                match vars.get(&name) {
                    Some(v) => out.push_str(v),
                    None => missing.push(name),
                }
                i = j;
            }
            _ => {
                out.push('$');
                i += 1;
            }
        }
    }
    out
}

fn matching_brace(chars: &[char], from: usize) -> Option<usize> {
    let mut depth = 1;
    for (k, c) in chars.iter().enumerate().skip(from) {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(k);
                }
            }
            _ => {}
        }
    }
    None
}

fn braced(
    inner: &str,
    vars: &BTreeMap<String, String>,
    escape: char,
    missing: &mut Vec<String>,
    depth: usize,
) -> String {
    let name_end = inner
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(inner.len());
    let (name, modifier) = inner.split_at(name_end);
    let value = vars.get(name);
    // Nested words are expanded only as deep as people write them.
    let word = |w: &str, missing: &mut Vec<String>| {
        if depth > 8 {
            w.to_string()
        } else {
            expand_into(w, vars, escape, missing, depth + 1)
        }
    };
    let set_non_empty = value.is_some_and(|v| !v.is_empty());
    if let Some(w) = modifier.strip_prefix(":-") {
        return if set_non_empty {
            value.cloned().unwrap_or_default()
        } else {
            word(w, missing)
        };
    }
    if let Some(w) = modifier.strip_prefix(":+") {
        return if set_non_empty {
            word(w, missing)
        } else {
            String::new()
        };
    }
    if let Some(w) = modifier.strip_prefix('-') {
        return match value {
            Some(v) => v.clone(),
            None => word(w, missing),
        };
    }
    if let Some(w) = modifier.strip_prefix('+') {
        return if value.is_some() {
            word(w, missing)
        } else {
            String::new()
        };
    }
    match value {
        // Pattern removal and replacement (`#`, `%`, `/`) leave a user id as it is.
        Some(v) => v.clone(),
        None => {
            missing.push(name.to_string());
            String::new()
        }
    }
}

/// Splits `a=1 b="two words" c='x'` into words, quotes removed, the escape honoured.
pub fn split_words(text: &str, escape: char) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match quote {
            Some(q) if c == q => quote = None,
            Some('"') if c == escape => {
                if let Some(n) = chars.next() {
                    current.push(n);
                }
            }
            Some(_) => current.push(c),
            None if c == '"' || c == '\'' => {
                quote = Some(c);
                in_word = true;
            }
            None if c == escape => {
                if let Some(n) = chars.next() {
                    current.push(n);
                    in_word = true;
                }
            }
            None if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut current));
                    in_word = false;
                }
            }
            None => {
                current.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(current);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn substitution_forms() {
        let v = vars(&[("UID", "0"), ("EMPTY", ""), ("APP", "app")]);
        let e = |t: &str| expand(t, &v, '\\').0;
        assert_eq!(e("${UID}"), "0");
        assert_eq!(e("$UID:$APP"), "0:app");
        assert_eq!(e("${NOPE:-4242}"), "4242");
        assert_eq!(e("${EMPTY:-4242}"), "4242");
        assert_eq!(e("${EMPTY-4242}"), "");
        assert_eq!(e("${UID:+1000}"), "1000");
        assert_eq!(e("${NOPE:+1000}"), "");
        assert_eq!(e("${NOPE:-${UID}}"), "0");
        assert_eq!(e("\\$UID"), "$UID");
        assert_eq!(expand("${NOPE}", &v, '\\').1, ["NOPE"]);
    }

    #[test]
    fn words_with_quotes() {
        assert_eq!(
            split_words(r#"A=1 B="two words" C='x y' D=a\ b"#, '\\'),
            ["A=1", "B=two words", "C=x y", "D=a b"]
        );
    }
}
