//! Lesson Markdown to ratatui lines at a given width (pulldown-cmark).
//!
//! Written here rather than taken from tui-markdown: prose must wrap to the pane while
//! code blocks must not (a wrapped shell command reads as two commands), and syntax
//! highlighting (syntect) would cost start-up time and memory the lab's targets do not
//! allow. Code lines wider than the pane end in `…`; scrolling sideways is not needed
//! for the lessons' commands, which are kept short.

use pulldown_cmark::{CodeBlockKind, Event, HeadingLevel, Options, Parser, Tag, TagEnd};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};

use super::theme::Theme;

/// One piece of inline text with its style, before wrapping.
#[derive(Debug, Clone)]
struct Piece {
    text: String,
    style: Style,
}

#[derive(Default)]
struct State {
    lines: Vec<Line<'static>>,
    inline: Vec<Piece>,
    styles: Vec<Style>,
    /// Indent prefix of the current block (list items, quotes).
    prefixes: Vec<String>,
    lists: Vec<Option<u64>>,
    links: Vec<String>,
    in_code: Option<String>,
    code: String,
    heading: Option<HeadingLevel>,
    pending_item: Option<String>,
}

pub fn render(markdown: &str, width: u16, theme: &Theme) -> Vec<Line<'static>> {
    let width = width.max(10) as usize;
    let mut st = State::default();
    let options = Options::ENABLE_STRIKETHROUGH;
    for event in Parser::new_ext(markdown, options) {
        match event {
            Event::Start(tag) => start(&mut st, tag, width, theme),
            Event::End(tag) => end(&mut st, tag, width, theme),
            Event::Text(t) => {
                if st.in_code.is_some() {
                    st.code.push_str(&t);
                } else {
                    let style = current(&st);
                    st.inline.push(Piece {
                        text: t.to_string(),
                        style,
                    });
                }
            }
            Event::Code(t) => {
                let style = current(&st).patch(theme.code());
                st.inline.push(Piece {
                    text: format!("`{t}`"),
                    style,
                });
            }
            Event::SoftBreak => st.inline.push(Piece {
                text: " ".into(),
                style: current(&st),
            }),
            Event::HardBreak => flush(&mut st, width),
            Event::Rule => {
                flush(&mut st, width);
                st.lines
                    .push(Line::styled("─".repeat(width.min(60)), theme.dim()));
            }
            _ => {}
        }
    }
    flush(&mut st, width);
    while st.lines.last().is_some_and(|l| l.width() == 0) {
        st.lines.pop();
    }
    st.lines
}

fn current(st: &State) -> Style {
    st.styles.iter().fold(Style::new(), |acc, s| acc.patch(*s))
}

fn blank(st: &mut State) {
    if st.lines.last().is_some_and(|l| l.width() > 0) {
        st.lines.push(Line::default());
    }
}

fn start(st: &mut State, tag: Tag, width: usize, theme: &Theme) {
    match tag {
        Tag::Heading { level, .. } => {
            blank(st);
            st.heading = Some(level);
            st.styles.push(theme.heading());
        }
        Tag::Paragraph if st.pending_item.is_none() && st.lists.is_empty() => blank(st),
        Tag::Emphasis => st.styles.push(Style::new().add_modifier(Modifier::ITALIC)),
        Tag::Strong => st.styles.push(Style::new().add_modifier(Modifier::BOLD)),
        Tag::Strikethrough => st
            .styles
            .push(Style::new().add_modifier(Modifier::CROSSED_OUT)),
        Tag::Link { dest_url, .. } => {
            st.links.push(dest_url.to_string());
            st.styles.push(theme.link());
        }
        Tag::BlockQuote(_) => {
            blank(st);
            st.prefixes.push("│ ".into());
            st.styles.push(theme.quote());
        }
        Tag::CodeBlock(kind) => {
            blank(st);
            let lang = match kind {
                CodeBlockKind::Fenced(l) => l.to_string(),
                CodeBlockKind::Indented => String::new(),
            };
            st.in_code = Some(lang);
            st.code.clear();
        }
        Tag::List(first) => {
            if st.lists.is_empty() {
                blank(st);
            } else {
                // The parent item's own text ends where its nested list begins.
                flush(st, width);
            }
            st.lists.push(first);
        }
        Tag::Item => {
            let depth = st.lists.len().saturating_sub(1);
            let marker = match st.lists.last_mut() {
                Some(Some(n)) => {
                    let m = format!("{n}. ");
                    *n += 1;
                    m
                }
                _ => "• ".to_string(),
            };
            st.pending_item = Some(format!("{}{marker}", "  ".repeat(depth)));
        }
        _ => {}
    }
}

fn end(st: &mut State, tag: TagEnd, width: usize, theme: &Theme) {
    match tag {
        TagEnd::Heading(_) => {
            let level = st.heading.take();
            if level == Some(HeadingLevel::H1) {
                for p in &mut st.inline {
                    p.text = p.text.to_uppercase();
                }
            }
            flush(st, width);
            st.styles.pop();
            if level == Some(HeadingLevel::H1) {
                st.lines
                    .push(Line::styled("═".repeat(width.min(60)), theme.heading()));
            }
        }
        TagEnd::Paragraph => flush(st, width),
        TagEnd::Emphasis | TagEnd::Strong | TagEnd::Strikethrough => {
            st.styles.pop();
        }
        TagEnd::Link => {
            st.styles.pop();
            if let Some(url) = st.links.pop() {
                let style = current(st).patch(theme.dim());
                st.inline.push(Piece {
                    text: format!(" ({url})"),
                    style,
                });
            }
        }
        TagEnd::BlockQuote(_) => {
            flush(st, width);
            st.prefixes.pop();
            st.styles.pop();
        }
        TagEnd::CodeBlock => {
            let lang = st.in_code.take().unwrap_or_default();
            let prefix: String = st.prefixes.concat();
            let label = if lang.is_empty() {
                "code".to_string()
            } else {
                lang
            };
            let inner = width.saturating_sub(prefix.chars().count() + 2).max(4);
            st.lines.push(Line::from(vec![
                Span::raw(prefix.clone()),
                Span::styled(format!("┌─ {label} "), theme.dim()),
            ]));
            for raw in st.code.trim_end_matches('\n').lines() {
                let text = raw.replace('\t', "    ");
                let shown = if text.chars().count() > inner {
                    let cut: String = text.chars().take(inner.saturating_sub(1)).collect();
                    format!("{cut}…")
                } else {
                    text
                };
                st.lines.push(Line::from(vec![
                    Span::raw(prefix.clone()),
                    Span::styled("│ ", theme.dim()),
                    Span::styled(shown, theme.code_block()),
                ]));
            }
            st.lines.push(Line::from(vec![
                Span::raw(prefix),
                Span::styled("└─", theme.dim()),
            ]));
        }
        TagEnd::List(_) => {
            flush(st, width);
            st.lists.pop();
        }
        TagEnd::Item => flush(st, width),
        _ => {}
    }
}

/// Wraps the pending inline pieces into lines, word by word, with the block's prefix.
fn flush(st: &mut State, width: usize) {
    let item = st.pending_item.take();
    if st.inline.is_empty() {
        if let Some(marker) = item {
            // An item whose text comes in a nested paragraph: keep the marker for it.
            st.pending_item = Some(marker);
        }
        return;
    }
    let base: String = st.prefixes.concat();
    let first_prefix = format!("{base}{}", item.clone().unwrap_or_default());
    let rest_prefix = format!(
        "{base}{}",
        " ".repeat(item.as_ref().map_or(0, |m| m.chars().count()))
    );
    let quote_style = if st.prefixes.is_empty() {
        Style::new()
    } else {
        Style::new().add_modifier(Modifier::DIM)
    };
    // Words are runs of non-space text; one word may mix styles (`(` then `code`).
    let mut words: Vec<Vec<(String, Style)>> = Vec::new();
    let mut word: Vec<(String, Style)> = Vec::new();
    for piece in st.inline.drain(..) {
        let mut fragment = String::new();
        for ch in piece.text.chars() {
            if ch == ' ' {
                if !fragment.is_empty() {
                    word.push((std::mem::take(&mut fragment), piece.style));
                }
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
            } else {
                fragment.push(ch);
            }
        }
        if !fragment.is_empty() {
            word.push((fragment, piece.style));
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    let mut line: Vec<Span<'static>> = vec![Span::styled(first_prefix.clone(), quote_style)];
    let mut used = first_prefix.chars().count();
    let mut at_start = true;
    for word in words {
        let len: usize = word.iter().map(|(t, _)| t.chars().count()).sum();
        if !at_start && used + 1 + len > width {
            st.lines.push(Line::from(std::mem::take(&mut line)));
            line.push(Span::styled(rest_prefix.clone(), quote_style));
            used = rest_prefix.chars().count();
            at_start = true;
        }
        if !at_start {
            line.push(Span::raw(" "));
            used += 1;
        }
        for (text, style) in word {
            // A fragment longer than a whole line is split rather than overflowing.
            let mut rest = text;
            while used + rest.chars().count() > width && used < width {
                let take = width - used;
                let head: String = rest.chars().take(take).collect();
                rest = rest.chars().skip(take).collect();
                line.push(Span::styled(head, style));
                st.lines.push(Line::from(std::mem::take(&mut line)));
                line.push(Span::styled(rest_prefix.clone(), quote_style));
                used = rest_prefix.chars().count();
            }
            used += rest.chars().count();
            line.push(Span::styled(rest, style));
        }
        at_start = false;
    }
    st.lines.push(Line::from(line));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(lines: &[Line]) -> Vec<String> {
        lines
            .iter()
            .map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect())
            .collect()
    }

    const THEME: Theme = Theme { color: false };

    #[test]
    fn prose_wraps_to_the_width_and_code_does_not() {
        let md = "Some words that will certainly need wrapping at twenty.\n\n```bash\ndocker run --rm --user 4242 ubuntu id\n```\n";
        let lines = plain(&render(md, 20, &THEME));
        assert!(lines.iter().all(|l| l.chars().count() <= 20), "{lines:#?}");
        assert_eq!(lines[0], "Some words that will");
        assert!(lines.contains(&"┌─ bash ".to_string()), "{lines:#?}");
        assert!(
            lines.contains(&"│ docker run --rm -…".to_string()),
            "code is cut, not wrapped: {lines:#?}"
        );
    }

    #[test]
    fn headings_lists_quotes_links_and_inline_code() {
        let md = "# Title\n\n## Part\n\n- one `id`\n- two\n  - nested\n\n1. first\n2. second\n\n> quoted\n\nSee [docs](https://example.org/x).\n";
        let lines = plain(&render(md, 60, &THEME));
        assert_eq!(lines[0], "TITLE");
        assert!(lines[1].starts_with("═══"));
        assert!(lines.contains(&"Part".to_string()));
        assert!(lines.contains(&"• one `id`".to_string()), "{lines:#?}");
        assert!(lines.contains(&"2. second".to_string()), "{lines:#?}");
        assert!(lines.contains(&"• two".to_string()), "{lines:#?}");
        assert!(lines.contains(&"  • nested".to_string()), "{lines:#?}");
        assert!(lines.contains(&"│ quoted".to_string()), "{lines:#?}");
        assert!(
            lines.contains(&"See docs (https://example.org/x).".to_string()),
            "{lines:#?}"
        );
    }

    #[test]
    fn every_lesson_renders_within_80_columns() {
        let files = crate::lesson::LabFiles::embedded();
        for lesson in files.lessons().unwrap() {
            for line in render(&lesson.markdown, 50, &THEME) {
                assert!(line.width() <= 50, "{}: {:?}", lesson.id, line);
            }
        }
    }
}
