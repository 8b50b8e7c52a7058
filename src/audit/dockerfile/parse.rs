//! Dockerfile syntax as BuildKit reads it: parser directives (`# escape=`), line
//! continuations with comments between them, heredocs (`<<EOF`, `<<-EOF`, quoted), exec
//! (JSON) and shell forms, `--flag=value` options. No semantics here.

const INSTRUCTIONS: &[&str] = &[
    "ADD",
    "ARG",
    "CMD",
    "COPY",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "FROM",
    "HEALTHCHECK",
    "LABEL",
    "MAINTAINER",
    "ONBUILD",
    "RUN",
    "SHELL",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Args {
    /// `["a", "b"]`
    Exec(Vec<String>),
    /// Everything after the keyword and flags, continuations joined.
    Shell(String),
}

impl Args {
    /// The arguments as one text, for rules that look for commands in them.
    pub fn text(&self) -> String {
        match self {
            Args::Exec(v) => v.join(" "),
            Args::Shell(s) => s.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    pub name: String,
    pub body: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
    /// Upper case.
    pub keyword: String,
    /// 1-based line where the instruction starts.
    pub line: usize,
    /// 1-based column of the keyword.
    pub column: usize,
    /// `--name=value` options before the arguments; a bare `--name` has an empty value.
    pub flags: Vec<(String, String)>,
    pub args: Args,
    pub heredocs: Vec<Heredoc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    pub escape: char,
    pub instructions: Vec<Instruction>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

fn error(line: usize, message: impl Into<String>) -> ParseError {
    ParseError {
        line,
        message: message.into(),
    }
}

pub fn parse(text: &str) -> Result<Dockerfile, ParseError> {
    let lines: Vec<&str> = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    let (escape, mut i) = directives(&lines)?;
    let mut instructions = Vec::new();
    while i < lines.len() {
        let trimmed = lines[i].trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            i += 1;
            continue;
        }
        let start = i;
        let column = lines[i].len() - trimmed.len() + 1;
        let mut logical = String::new();
        loop {
            let line = lines[i].trim_end();
            match line.strip_suffix(escape) {
                Some(head) => {
                    logical.push_str(head);
                    i += 1;
                    // Comments and blank lines inside a continuation are dropped.
                    while i < lines.len() && {
                        let t = lines[i].trim_start();
                        t.is_empty() || t.starts_with('#')
                    } {
                        i += 1;
                    }
                    if i >= lines.len() {
                        break;
                    }
                }
                None => {
                    logical.push_str(line);
                    i += 1;
                    break;
                }
            }
        }
        let mut instruction = instruction(&logical, start + 1, column)?;
        if matches!(instruction.keyword.as_str(), "RUN" | "COPY" | "ADD") {
            if let Args::Shell(s) = &instruction.args {
                for (name, strip_tabs) in heredoc_markers(s) {
                    let (body, next) = heredoc_body(&lines, i, &name, strip_tabs)
                        .ok_or_else(|| {
                            error(
                                start + 1,
                                format!("heredoc `<<{name}` is never terminated: end it with a line holding only `{name}`"),
                            )
                        })?;
                    instruction.heredocs.push(Heredoc { name, body });
                    i = next;
                }
            }
        }
        instructions.push(instruction);
    }
    Ok(Dockerfile {
        escape,
        instructions,
    })
}

/// The parser directives at the top of the file: the escape character and where the
/// instructions start.
fn directives(lines: &[&str]) -> Result<(char, usize), ParseError> {
    let mut escape = '\\';
    let mut seen = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(body) = line.trim().strip_prefix('#') else {
            return Ok((escape, i));
        };
        let Some((key, value)) = body.split_once('=') else {
            return Ok((escape, i));
        };
        let key = key.trim().to_ascii_lowercase();
        if !matches!(key.as_str(), "escape" | "syntax" | "check") || key.contains(' ') {
            return Ok((escape, i));
        }
        if seen.contains(&key) {
            return Err(error(
                i + 1,
                format!("the `{key}` directive is given twice"),
            ));
        }
        if key == "escape" {
            escape = match value.trim() {
                "\\" => '\\',
                "`" => '`',
                other => {
                    return Err(error(
                        i + 1,
                        format!("invalid escape character `{other}`: use \\ or `"),
                    ))
                }
            };
        }
        seen.push(key);
    }
    Ok((escape, lines.len()))
}

fn instruction(logical: &str, line: usize, column: usize) -> Result<Instruction, ParseError> {
    let logical = logical.trim();
    let (word, rest) = match logical.find(char::is_whitespace) {
        Some(n) => (&logical[..n], logical[n..].trim_start()),
        None => (logical, ""),
    };
    let keyword = word.to_ascii_uppercase();
    if !INSTRUCTIONS.contains(&keyword.as_str()) {
        let shown: String = word.chars().take(40).collect();
        return Err(error(
            line,
            format!("unknown instruction `{shown}` (is this a Dockerfile?)"),
        ));
    }
    let mut rest = rest;
    let mut flags = Vec::new();
    if matches!(
        keyword.as_str(),
        "FROM" | "RUN" | "COPY" | "ADD" | "HEALTHCHECK"
    ) {
        while let Some(flag) = rest.strip_prefix("--") {
            let end = flag.find(char::is_whitespace).unwrap_or(flag.len());
            let (name, value) = match flag[..end].split_once('=') {
                Some((n, v)) => (n.to_string(), v.to_string()),
                None => (flag[..end].to_string(), String::new()),
            };
            flags.push((name, value));
            rest = flag[end..].trim_start();
        }
    }
    let args = if rest.starts_with('[') {
        match serde_json::from_str::<Vec<String>>(rest) {
            Ok(v) => Args::Exec(v),
            Err(_) => Args::Shell(rest.to_string()),
        }
    } else {
        Args::Shell(rest.to_string())
    };
    Ok(Instruction {
        keyword,
        line,
        column,
        flags,
        args,
        heredocs: Vec::new(),
    })
}

/// `<<EOF`, `<<-EOF`, `<<"EOF"`, `<<'EOF'` in the order they appear; `-` strips tabs.
fn heredoc_markers(s: &str) -> Vec<(String, bool)> {
    let bytes = s.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    while i + 2 < bytes.len() {
        if &bytes[i..i + 2] != b"<<" {
            i += 1;
            continue;
        }
        if bytes.get(i + 2) == Some(&b'<') {
            // A here-string (`<<<`), not a heredoc.
            i += 3;
            continue;
        }
        let mut j = i + 2;
        let strip = bytes.get(j) == Some(&b'-');
        if strip {
            j += 1;
        }
        let quote = match bytes.get(j) {
            Some(q @ (b'"' | b'\'')) => {
                j += 1;
                Some(*q)
            }
            _ => None,
        };
        let start = j;
        while j < bytes.len() && (bytes[j].is_ascii_alphanumeric() || bytes[j] == b'_') {
            j += 1;
        }
        let name_ok = j > start && !bytes[start].is_ascii_digit();
        let quote_ok = quote.is_none_or(|q| bytes.get(j) == Some(&q));
        if name_ok && quote_ok {
            found.push((s[start..j].to_string(), strip));
            j += usize::from(quote.is_some());
        }
        i = j.max(i + 2);
    }
    found
}

/// The heredoc's lines from `from` up to its terminator, and the line after it.
fn heredoc_body(
    lines: &[&str],
    from: usize,
    name: &str,
    strip_tabs: bool,
) -> Option<(String, usize)> {
    let mut body = String::new();
    for (offset, line) in lines[from.min(lines.len())..].iter().enumerate() {
        let line = if strip_tabs {
            line.trim_start_matches('\t')
        } else {
            line
        };
        if line == name {
            return Some((body, from + offset + 1));
        }
        body.push_str(line);
        body.push('\n');
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keywords(d: &Dockerfile) -> Vec<(&str, usize)> {
        d.instructions
            .iter()
            .map(|i| (i.keyword.as_str(), i.line))
            .collect()
    }

    #[test]
    fn continuations_skip_comments_and_keep_the_first_line() {
        let d = parse("FROM x\nRUN a \\\n# note\n\n  && b\nUSER 4242\n").unwrap();
        assert_eq!(keywords(&d), [("FROM", 1), ("RUN", 2), ("USER", 6)]);
        assert_eq!(d.instructions[1].args, Args::Shell("a   && b".into()));
    }

    #[test]
    fn escape_directive_changes_the_continuation() {
        let d = parse("# escape=`\nFROM x\nRUN dir c:\\ `\n  && echo\nUSER 1\n").unwrap();
        assert_eq!(d.escape, '`');
        assert_eq!(keywords(&d), [("FROM", 2), ("RUN", 3), ("USER", 5)]);
        assert!(d.instructions[1].args.text().contains("c:\\"));
    }

    #[test]
    fn a_directive_after_a_comment_is_a_comment() {
        let d = parse("# hello\n# escape=`\nFROM x\nRUN a \\\n b\n").unwrap();
        assert_eq!(d.escape, '\\');
        assert_eq!(d.instructions.len(), 2);
    }

    #[test]
    fn heredocs_are_bodies_not_instructions() {
        let text = "FROM x\nRUN <<EOF bash\nUSER root\nchmod u+s /bin/x\nEOF\nRUN <<-'A' cat <<B\n\tone\n\tA\ntwo\nB\nUSER 4242\n";
        let d = parse(text).unwrap();
        assert_eq!(
            keywords(&d),
            [("FROM", 1), ("RUN", 2), ("RUN", 6), ("USER", 11)]
        );
        assert_eq!(
            d.instructions[1].heredocs[0].body,
            "USER root\nchmod u+s /bin/x\n"
        );
        assert_eq!(d.instructions[2].heredocs.len(), 2);
        assert_eq!(d.instructions[2].heredocs[0].body, "one\n");
    }

    #[test]
    fn unterminated_heredoc_names_its_line() {
        let e = parse("FROM x\n\nRUN <<EOF\necho\n").unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.message.contains("EOF"), "{e}");
    }

    #[test]
    fn exec_form_and_flags() {
        let d = parse("FROM --platform=linux/amd64 x AS b\nCOPY --from=b --chown=1:0 a b\nCMD [\"a\", \"b c\"]\n").unwrap();
        assert_eq!(
            d.instructions[0].flags,
            [("platform".into(), "linux/amd64".into())]
        );
        assert_eq!(d.instructions[0].args, Args::Shell("x AS b".into()));
        assert_eq!(d.instructions[1].flags.len(), 2);
        assert_eq!(
            d.instructions[2].args,
            Args::Exec(vec!["a".into(), "b c".into()])
        );
    }

    #[test]
    fn unknown_instruction_is_an_error_with_its_line() {
        let e = parse("FROM x\n\nBOGUS y\n").unwrap_err();
        assert_eq!(e.line, 3);
    }

    #[test]
    fn crlf_and_lowercase() {
        let d = parse("from x\r\nuser 4242\r\n").unwrap();
        assert_eq!(keywords(&d), [("FROM", 1), ("USER", 2)]);
        assert_eq!(d.instructions[1].args, Args::Shell("4242".into()));
    }

    #[test]
    fn heredoc_markers_ignore_here_strings() {
        assert_eq!(heredoc_markers("cat <<<x"), vec![]);
        assert_eq!(
            heredoc_markers("a <<\"E1\" b <<-F"),
            vec![("E1".into(), false), ("F".into(), true)]
        );
        assert_eq!(heredoc_markers("echo $((1<<2))"), vec![]);
    }
}
