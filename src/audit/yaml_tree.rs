//! A YAML stream as a tree whose every node knows its line, read the way the Kubernetes
//! API reads manifests (YAML 1.1 booleans such as `yes` and `on`, merge keys), with
//! limits on alias expansion and nesting so that a YAML bomb is refused, not expanded.

use std::collections::HashMap;

use serde_saphyr::granit_parser::{Event, Parser, ScalarStyle};

use crate::yaml::{ALIAS_BUDGET, MAX_DEPTH};

#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Null,
    Bool(bool),
    Int(i64),
    Str(String),
    Seq(Vec<Marked>),
    Map(Vec<(Marked, Marked)>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Marked {
    pub node: Node,
    /// 1-based.
    pub line: usize,
    pub column: usize,
}

impl Marked {
    /// The key and value for `key`, when this is a mapping that has it (the last one
    /// wins, as the API server reads duplicates).
    fn entry(&self, key: &str) -> Option<&(Marked, Marked)> {
        match &self.node {
            Node::Map(pairs) => pairs
                .iter()
                .rev()
                .find(|(k, _)| matches!(&k.node, Node::Str(s) if s == key)),
            _ => None,
        }
    }

    /// The value under `key`, when this is a mapping that has it.
    pub fn get(&self, key: &str) -> Option<&Marked> {
        self.entry(key).map(|(_, v)| v)
    }

    /// The mark of `key` itself, for findings about the key's line.
    pub fn key_mark(&self, key: &str) -> Option<&Marked> {
        self.entry(key).map(|(k, _)| k)
    }

    pub fn str(&self) -> Option<&str> {
        match &self.node {
            Node::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn bool(&self) -> Option<bool> {
        match &self.node {
            Node::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn int(&self) -> Option<i64> {
        match &self.node {
            Node::Int(i) => Some(*i),
            _ => None,
        }
    }

    pub fn seq(&self) -> &[Marked] {
        match &self.node {
            Node::Seq(items) => items,
            _ => &[],
        }
    }

    /// The last line this node's subtree reaches.
    pub fn last_line(&self) -> usize {
        let inner = match &self.node {
            Node::Seq(items) => items.iter().map(Marked::last_line).max(),
            Node::Map(pairs) => pairs.iter().map(|(_, v)| v.last_line()).max(),
            _ => None,
        };
        inner.unwrap_or(self.line).max(self.line)
    }

    fn size(&self) -> usize {
        1 + match &self.node {
            Node::Seq(items) => items.iter().map(Marked::size).sum(),
            Node::Map(pairs) => pairs.iter().map(|(k, v)| k.size() + v.size()).sum(),
            _ => 0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct YamlProblem {
    pub line: usize,
    pub message: String,
}

enum Frame {
    Seq(Vec<Marked>, usize, usize, usize),
    Map(Vec<(Marked, Marked)>, Option<Marked>, usize, usize, usize),
}

/// Every document of the stream, empty ones left out.
pub fn parse_stream(text: &str) -> Result<Vec<Marked>, YamlProblem> {
    let mut parser = Parser::new_from_str(text);
    let mut documents = Vec::new();
    let mut stack: Vec<Frame> = Vec::new();
    let mut anchors: HashMap<usize, Marked> = HashMap::new();
    let mut budget = ALIAS_BUDGET;
    loop {
        let (event, span) = match parser.next_event() {
            None => break,
            Some(Err(e)) => {
                return Err(YamlProblem {
                    line: e.marker().line().max(1),
                    message: e.info(),
                })
            }
            Some(Ok(next)) => next,
        };
        let (line, column) = (span.start.line().max(1), span.start.col() + 1);
        let done = match event {
            Event::StreamEnd => break,
            Event::DocumentStart(..) => {
                anchors.clear();
                None
            }
            Event::StreamStart | Event::DocumentEnd => None,
            Event::Alias(id) => {
                let Some(target) = anchors.get(&id) else {
                    return Err(YamlProblem {
                        line,
                        message: "alias to an unknown anchor".into(),
                    });
                };
                let size = target.size();
                if size > budget {
                    return Err(YamlProblem {
                        line,
                        message: format!("aliases expand to more than {ALIAS_BUDGET} nodes: refused as a YAML bomb"),
                    });
                }
                budget -= size;
                let mut copy = target.clone();
                copy.line = line;
                copy.column = column;
                Some((copy, 0))
            }
            Event::UnresolvedAlias(_) => {
                return Err(YamlProblem {
                    line,
                    message: "alias to an unknown anchor".into(),
                })
            }
            Event::Scalar(value, style, anchor, _tag) => Some((
                Marked {
                    node: scalar(value.into_owned(), style),
                    line,
                    column,
                },
                anchor,
            )),
            Event::SequenceStart(_, anchor, _) | Event::MappingStart(_, anchor, _) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(YamlProblem {
                        line,
                        message: format!("nested deeper than {MAX_DEPTH} levels: not a manifest"),
                    });
                }
                stack.push(match event {
                    Event::SequenceStart(..) => Frame::Seq(Vec::new(), anchor, line, column),
                    _ => Frame::Map(Vec::new(), None, anchor, line, column),
                });
                None
            }
            Event::SequenceEnd | Event::MappingEnd => match stack.pop() {
                Some(Frame::Seq(items, anchor, line, column)) => Some((
                    Marked {
                        node: Node::Seq(items),
                        line,
                        column,
                    },
                    anchor,
                )),
                Some(Frame::Map(pairs, _, anchor, line, column)) => Some((
                    Marked {
                        node: Node::Map(merge_keys(pairs)),
                        line,
                        column,
                    },
                    anchor,
                )),
                None => None,
            },
            // Comments and anchor names are presentation, not data.
            _ => None,
        };
        let Some((node, anchor)) = done else { continue };
        if anchor != 0 {
            anchors.insert(anchor, node.clone());
        }
        match stack.last_mut() {
            None => {
                if node.node != Node::Null {
                    documents.push(node);
                }
            }
            Some(Frame::Seq(items, ..)) => items.push(node),
            Some(Frame::Map(pairs, pending, ..)) => match pending.take() {
                None => *pending = Some(node),
                Some(key) => pairs.push((key, node)),
            },
        }
    }
    Ok(documents)
}

/// `<<: *base` merges the base's keys where the mapping has none of its own.
fn merge_keys(pairs: Vec<(Marked, Marked)>) -> Vec<(Marked, Marked)> {
    if !pairs.iter().any(|(k, _)| k.str() == Some("<<")) {
        return pairs;
    }
    let (merges, mut own): (Vec<_>, Vec<_>) =
        pairs.into_iter().partition(|(k, _)| k.str() == Some("<<"));
    for (_, value) in merges {
        let sources = match value.node {
            Node::Map(p) => vec![p],
            Node::Seq(items) => items
                .into_iter()
                .filter_map(|m| match m.node {
                    Node::Map(p) => Some(p),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        };
        for source in sources {
            for (k, v) in source {
                if !own.iter().any(|(o, _)| o.node == k.node) {
                    own.push((k, v));
                }
            }
        }
    }
    own
}

/// A scalar as Kubernetes' YAML reader types it: plain `yes`/`on`/`true` are booleans,
/// plain numbers are numbers, anything quoted is a string.
fn scalar(value: String, style: ScalarStyle) -> Node {
    if style != ScalarStyle::Plain {
        return Node::Str(value);
    }
    match value.as_str() {
        "" | "~" | "null" | "Null" | "NULL" => return Node::Null,
        "y" | "Y" | "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => {
            return Node::Bool(true)
        }
        "n" | "N" | "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => {
            return Node::Bool(false)
        }
        _ => {}
    }
    let digits = value.strip_prefix(['+', '-']).unwrap_or(&value);
    let parsed = if let Some(hex) = digits.strip_prefix("0x") {
        i64::from_str_radix(hex, 16).ok()
    } else if digits.len() > 1
        && digits.starts_with('0')
        && digits.bytes().all(|b| b.is_ascii_digit())
    {
        i64::from_str_radix(&digits[1..], 8).ok()
    } else if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        digits.parse().ok()
    } else {
        None
    };
    match parsed {
        Some(n) if value.starts_with('-') => Node::Int(-n),
        Some(n) => Node::Int(n),
        None => Node::Str(value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_types_and_documents() {
        let docs = parse_stream("---\na: yes\nb: \"yes\"\n---\n---\nc:\n  - 0\n  - x\n").unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0].get("a").unwrap().bool(), Some(true));
        assert_eq!(docs[0].get("b").unwrap().str(), Some("yes"));
        assert_eq!(docs[0].get("b").unwrap().line, 3);
        let c = docs[1].get("c").unwrap();
        assert_eq!(c.seq()[0].int(), Some(0));
        assert_eq!(c.seq()[1].line, 8);
        assert_eq!(docs[1].key_mark("c").unwrap().line, 6);
    }

    #[test]
    fn merge_keys_and_aliases() {
        let docs = parse_stream("base: &b {runAsUser: 0, x: 1}\nc:\n  <<: *b\n  x: 2\n").unwrap();
        let c = docs[0].get("c").unwrap();
        assert_eq!(c.get("runAsUser").unwrap().int(), Some(0));
        assert_eq!(c.get("x").unwrap().int(), Some(2));
    }

    #[test]
    fn a_yaml_bomb_is_refused() {
        let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for (prev, next) in ["a", "b", "c", "d", "e", "f", "g", "h"]
            .windows(2)
            .map(|w| (w[0], w[1]))
        {
            bomb.push_str(&format!("{next}: &{next} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"));
        }
        let e = parse_stream(&bomb).unwrap_err();
        assert!(e.message.contains("YAML bomb"), "{e}");
    }

    #[test]
    fn deep_nesting_is_refused_not_a_stack_overflow() {
        let deep = "[".repeat(100_000);
        assert!(parse_stream(&deep).is_err());
    }

    #[test]
    fn syntax_errors_have_a_line() {
        let e = parse_stream("a: 1\nb: [\n").unwrap_err();
        assert!(e.line >= 2, "{e}");
    }
}
