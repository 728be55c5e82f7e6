//! Reading the text a character at a time. Words are read in two modes: a subject or keyword
//! stops at operator characters (`attribute:stack==prod` is three tokens), an argument only at
//! white space, brackets, commas, `&&` and `||` (so `=~ t2.*|m5.*` is one pattern). Anything
//! else goes in quotes: `'...'` or `"..."`, with `\\`, `\'` and `\"` as escapes.

/// Characters that end a subject or keyword.
const SUBJECT_STOP: &[char] = &[
    '(', ')', '[', ']', ',', '=', '!', '<', '>', '~', '&', '|', '\'', '"',
];

/// Characters that end a bare argument.
const VALUE_STOP: &[char] = &['(', ')', '[', ']', ',', '\'', '"'];

#[derive(Debug)]
pub(crate) struct Lexer {
    chars: Vec<char>,
    pub(crate) pos: usize,
}

/// A quoted string that does not end.
#[derive(Debug)]
pub(crate) struct Unterminated;

impl Lexer {
    pub(crate) fn new(text: &str) -> Lexer {
        Lexer {
            chars: text.chars().collect(),
            pos: 0,
        }
    }

    /// Skips white space and returns the position of the next token.
    pub(crate) fn skip_ws(&mut self) -> usize {
        while self.chars.get(self.pos).is_some_and(|c| c.is_whitespace()) {
            self.pos += 1;
        }
        self.pos
    }

    pub(crate) fn at_end(&mut self) -> bool {
        self.skip_ws();
        self.pos >= self.chars.len()
    }

    pub(crate) fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    /// Consumes `s` if the input continues with it.
    pub(crate) fn eat(&mut self, s: &str) -> bool {
        let n = s.chars().count();
        if self.pos + n <= self.chars.len()
            && self.chars[self.pos..self.pos + n]
                .iter()
                .copied()
                .eq(s.chars())
        {
            self.pos += n;
            true
        } else {
            false
        }
    }

    /// Consumes the keyword `word` (any case) if it stands alone here: not followed by more
    /// word characters.
    pub(crate) fn eat_keyword(&mut self, word: &str) -> bool {
        let start = self.pos;
        let w = self.subject_word();
        if w.eq_ignore_ascii_case(word) {
            true
        } else {
            self.pos = start;
            false
        }
    }

    /// A run of characters up to white space or an operator character.
    pub(crate) fn subject_word(&mut self) -> String {
        let start = self.pos;
        while let Some(c) = self.peek() {
            if c.is_whitespace() || SUBJECT_STOP.contains(&c) {
                break;
            }
            self.pos += 1;
        }
        self.chars[start..self.pos].iter().collect()
    }

    /// An argument: a quoted string, or a bare run of characters. `Ok(None)` when there is
    /// none here.
    pub(crate) fn value(&mut self) -> Result<Option<String>, Unterminated> {
        match self.peek() {
            Some(q @ ('\'' | '"')) => {
                self.pos += 1;
                let mut out = String::new();
                loop {
                    match self.peek() {
                        None => return Err(Unterminated),
                        Some(c) if c == q => {
                            self.pos += 1;
                            return Ok(Some(out));
                        }
                        Some('\\') => {
                            self.pos += 1;
                            match self.peek() {
                                Some(e @ ('\\' | '\'' | '"')) => {
                                    out.push(e);
                                    self.pos += 1;
                                }
                                // Other escapes belong to the pattern: `\d` stays `\d`.
                                _ => out.push('\\'),
                            }
                        }
                        Some(c) => {
                            out.push(c);
                            self.pos += 1;
                        }
                    }
                }
            }
            _ => {
                let start = self.pos;
                while let Some(c) = self.peek() {
                    if c.is_whitespace() || VALUE_STOP.contains(&c) {
                        break;
                    }
                    if (c == '&' || c == '|') && self.chars.get(self.pos + 1) == Some(&c) {
                        break;
                    }
                    self.pos += 1;
                }
                if start == self.pos {
                    Ok(None)
                } else {
                    Ok(Some(self.chars[start..self.pos].iter().collect()))
                }
            }
        }
    }
}

/// `text` as an argument the lexer reads back to `text`: bare when it can be, quoted
/// otherwise.
pub(crate) fn quoted(text: &str) -> String {
    let bare = !text.is_empty()
        && !text
            .chars()
            .any(|c| c.is_whitespace() || VALUE_STOP.contains(&c) || c == '\\')
        && !text.contains("&&")
        && !text.contains("||");
    if bare {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}
