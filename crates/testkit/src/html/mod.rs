//! A page as a person (and their browser) reads it: its visible text, title and headings,
//! its fields, forms, buttons and links. Tests ask these questions instead of searching
//! the raw markup, so a change of attribute order or whitespace breaks nothing a person
//! would notice, and a message hidden in an attribute does not count as shown.
//!
//! The reader is hand-written and small: it knows the HTML our templates produce (quoted
//! or bare attributes, void elements, `<script>`/`<style>` bodies, comments), not the
//! whole HTML5 parsing algorithm, and it never fixes up broken markup.

/// One piece of an HTML document, in source order.
#[derive(Debug, Clone, PartialEq)]
enum Token {
    Open {
        name: String,
        attributes: Vec<(String, String)>,
    },
    Close(String),
    /// Text, with its entities already decoded.
    Text(String),
}

/// Elements that never have content or a closing tag (HTML §13.1.2).
const VOID: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track",
    "wbr",
];

/// Elements whose text runs on with the text around them: no space is added at their tags.
const INLINE: &[&str] = &[
    "a", "abbr", "b", "bdi", "bdo", "cite", "code", "data", "dfn", "em", "i", "kbd", "mark", "q",
    "s", "samp", "small", "span", "strong", "sub", "sup", "time", "u", "var",
];

/// Elements whose content is not text on the page.
const UNSEEN: &[&str] = &["head", "script", "style", "template", "title"];

/// A parsed HTML document.
#[derive(Debug, Clone)]
pub struct Html {
    tokens: Vec<Token>,
}

/// An `<input>`, `<textarea>` or `<select>`.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    element: String,
    attributes: Vec<(String, String)>,
    text: String,
}

/// A `<form>` with the fields and buttons inside it.
#[derive(Debug, Clone, PartialEq)]
pub struct Form {
    attributes: Vec<(String, String)>,
    fields: Vec<Field>,
    buttons: Vec<Button>,
}

/// A `<button>`, named by its visible label and, if it has one, its `aria-label`.
#[derive(Debug, Clone, PartialEq)]
pub struct Button {
    label: String,
    attributes: Vec<(String, String)>,
}

/// An `<a>` with its visible text.
#[derive(Debug, Clone, PartialEq)]
pub struct Link {
    text: String,
    attributes: Vec<(String, String)>,
}

impl Html {
    pub fn parse(source: &str) -> Self {
        Self {
            tokens: tokenize(source),
        }
    }

    /// The text a person reads on the page: the body's text without markup, scripts or
    /// styles, entities decoded, whitespace folded to single spaces.
    pub fn text(&self) -> String {
        self.text_of(0, self.tokens.len())
    }

    /// Whether the visible text holds `words` (compared with whitespace folded).
    pub fn has_text(&self, words: &str) -> bool {
        self.text().contains(&fold(words))
    }

    /// Whether `words` appear anywhere a person or their browser reads them: the visible
    /// text, the title, or any attribute's value (a link, a field, a label, a form's action).
    /// For checks that something is nowhere on the page.
    pub fn mentions(&self, words: &str) -> bool {
        self.has_text(words)
            || self.title().is_some_and(|title| title.contains(words))
            || self.tokens.iter().any(|token| match token {
                Token::Open { attributes, .. } => {
                    attributes.iter().any(|(_, value)| value.contains(words))
                }
                _ => false,
            })
    }

    /// The document's `<title>`.
    pub fn title(&self) -> Option<String> {
        self.elements("title")
            .next()
            .map(|(start, end)| fold(&self.raw_text(start, end)))
    }

    /// The first `<h1>`: what the page says it is.
    pub fn heading(&self) -> Option<String> {
        self.elements("h1")
            .next()
            .map(|(start, end)| self.text_of(start, end))
    }

    /// Every heading, `<h1>` to `<h6>`, in order.
    pub fn headings(&self) -> Vec<String> {
        self.ranges(|name| matches!(name, "h1" | "h2" | "h3" | "h4" | "h5" | "h6"))
            .map(|(start, end)| self.text_of(start, end))
            .collect()
    }

    /// Whether the page has at least one element of this kind (`svg`, `script`).
    pub fn has_element(&self, name: &str) -> bool {
        self.elements(name).next().is_some()
    }

    /// The `src` of every `<script>` element, in order (`None` for an inline one).
    pub fn scripts(&self) -> Vec<Option<String>> {
        self.elements("script")
            .map(|(start, _)| self.attribute_at(start, "src").map(str::to_string))
            .collect()
    }

    /// The text of the `<code>` element with this `id` (a backup code, a TOTP key).
    pub fn code(&self, id: &str) -> Option<String> {
        self.elements("code")
            .find(|&(start, _)| self.attribute_at(start, "id") == Some(id))
            .map(|(start, end)| self.text_of(start, end))
    }

    /// The field with this `name`, or else this `id`.
    pub fn field(&self, name_or_id: &str) -> Option<Field> {
        let fields = self.fields_in(0, self.tokens.len());
        let by_name = fields.iter().find(|f| f.name() == Some(name_or_id));
        by_name
            .or_else(|| fields.iter().find(|f| f.id() == Some(name_or_id)))
            .cloned()
    }

    /// Every form, in order.
    pub fn forms(&self) -> Vec<Form> {
        self.elements("form")
            .map(|(start, end)| Form {
                attributes: self.attributes_at(start).to_vec(),
                fields: self.fields_in(start + 1, end),
                buttons: self.buttons_in(start + 1, end),
            })
            .collect()
    }

    /// The first form that posts to `action`.
    pub fn form(&self, action: &str) -> Option<Form> {
        self.forms()
            .into_iter()
            .find(|f| f.action() == Some(action))
    }

    /// The button a person finds by this label (its visible text or its `aria-label`).
    pub fn button(&self, label: &str) -> Option<Button> {
        self.buttons_in(0, self.tokens.len())
            .into_iter()
            .find(|b| b.is_called(label))
    }

    /// The form holding the button labelled `label`, as pressing it would send it.
    pub fn form_of_button(&self, label: &str) -> Option<(Form, Button)> {
        self.forms().into_iter().find_map(|form| {
            let button = form.buttons.iter().find(|b| b.is_called(label))?.clone();
            Some((form, button))
        })
    }

    /// Every link, in order.
    pub fn links(&self) -> Vec<Link> {
        self.elements("a")
            .map(|(start, end)| Link {
                text: self.text_of(start, end),
                attributes: self.attributes_at(start).to_vec(),
            })
            .collect()
    }

    /// The `href` of the link a person finds by this text (or its `aria-label`).
    pub fn link(&self, text: &str) -> Option<String> {
        self.links()
            .into_iter()
            .find(|l| l.text == fold(text) || l.attribute("aria-label") == Some(text))
            .and_then(|l| l.href().map(str::to_string))
    }

    /// The URL of a `<meta http-equiv="refresh">`: where the page goes on its own.
    pub fn refresh_url(&self) -> Option<String> {
        self.elements("meta").find_map(|(start, _)| {
            let equiv = self.attribute_at(start, "http-equiv")?;
            if !equiv.eq_ignore_ascii_case("refresh") {
                return None;
            }
            let content = self.attribute_at(start, "content")?;
            let at = content.to_ascii_lowercase().find("url=")?;
            let url = content[at + 4..]
                .trim()
                .trim_matches(|c| c == '\'' || c == '"');
            Some(url.to_string())
        })
    }

    /// Where a "Returning you to NAME" page continues: its refresh URL, else the link in
    /// `<main>` that goes on (contract: the page continues on its own).
    pub fn continue_url(&self) -> Option<String> {
        let main = self.elements("main").next();
        let links: Vec<String> = self
            .elements("a")
            .filter(|&(start, _)| main.is_none_or(|(from, to)| start > from && start < to))
            .filter_map(|(start, _)| self.attribute_at(start, "href").map(str::to_string))
            .collect();
        self.refresh_url()
            .or_else(|| {
                links
                    .iter()
                    .find(|href| {
                        href.contains("code=") || href.contains("error=") || href.contains("://")
                    })
                    .cloned()
            })
            .or_else(|| links.first().cloned())
    }

    /// The token ranges `(open, close)` of every element called `name`: the open tag's
    /// index and the index of its closing tag (or of the end, for void or unclosed ones).
    fn elements<'a>(&'a self, name: &'a str) -> impl Iterator<Item = (usize, usize)> + 'a {
        self.ranges(move |n| n == name)
    }

    fn ranges<'a>(
        &'a self,
        wanted: impl Fn(&str) -> bool + 'a,
    ) -> impl Iterator<Item = (usize, usize)> + 'a {
        self.tokens
            .iter()
            .enumerate()
            .filter_map(move |(at, token)| match token {
                Token::Open { name, .. } if wanted(name) => Some((at, self.close_of(at, name))),
                _ => None,
            })
    }

    fn close_of(&self, open: usize, name: &str) -> usize {
        if VOID.contains(&name) {
            return open + 1;
        }
        let mut depth = 0usize;
        for (at, token) in self.tokens.iter().enumerate().skip(open + 1) {
            match token {
                Token::Open { name: n, .. } if n == name => depth += 1,
                Token::Close(n) if n == name => {
                    if depth == 0 {
                        return at;
                    }
                    depth -= 1;
                }
                _ => {}
            }
        }
        self.tokens.len()
    }

    fn attributes_at(&self, at: usize) -> &[(String, String)] {
        match self.tokens.get(at) {
            Some(Token::Open { attributes, .. }) => attributes,
            _ => &[],
        }
    }

    fn attribute_at(&self, at: usize, name: &str) -> Option<&str> {
        lookup(self.attributes_at(at), name)
    }

    /// All text between two tokens, unseen elements included (for `<title>`, `<textarea>`).
    fn raw_text(&self, start: usize, end: usize) -> String {
        self.tokens[start..end.min(self.tokens.len())]
            .iter()
            .filter_map(|token| match token {
                Token::Text(text) => Some(text.as_str()),
                _ => None,
            })
            .collect()
    }

    /// The visible text between two tokens, folded.
    fn text_of(&self, start: usize, end: usize) -> String {
        let mut text = String::new();
        let mut unseen = 0usize;
        for token in &self.tokens[start..end.min(self.tokens.len())] {
            match token {
                Token::Open { name, .. } => {
                    if UNSEEN.contains(&name.as_str()) {
                        unseen += 1;
                    }
                    if !INLINE.contains(&name.as_str()) {
                        text.push(' ');
                    }
                }
                Token::Close(name) => {
                    if UNSEEN.contains(&name.as_str()) {
                        unseen = unseen.saturating_sub(1);
                    }
                    if !INLINE.contains(&name.as_str()) {
                        text.push(' ');
                    }
                }
                Token::Text(words) if unseen == 0 => text.push_str(words),
                Token::Text(_) => {}
            }
        }
        fold(&text)
    }

    fn fields_in(&self, start: usize, end: usize) -> Vec<Field> {
        self.ranges(|name| matches!(name, "input" | "textarea" | "select"))
            .filter(|&(at, _)| (start..end).contains(&at))
            .map(|(at, close)| {
                let element = match &self.tokens[at] {
                    Token::Open { name, .. } => name.clone(),
                    _ => String::new(),
                };
                Field {
                    element,
                    attributes: self.attributes_at(at).to_vec(),
                    text: self.raw_text(at + 1, close),
                }
            })
            .collect()
    }

    fn buttons_in(&self, start: usize, end: usize) -> Vec<Button> {
        self.elements("button")
            .filter(|&(at, _)| (start..end).contains(&at))
            .map(|(at, close)| Button {
                label: self.text_of(at + 1, close),
                attributes: self.attributes_at(at).to_vec(),
            })
            .collect()
    }
}

impl Field {
    pub fn name(&self) -> Option<&str> {
        self.attribute("name")
    }

    pub fn id(&self) -> Option<&str> {
        self.attribute("id")
    }

    /// The `type` of an input (`text` when absent, as browsers take it), or `textarea`,
    /// `select`.
    pub fn kind(&self) -> &str {
        match self.element.as_str() {
            "input" => self.attribute("type").unwrap_or("text"),
            other => other,
        }
    }

    /// What the field holds when the page opens: an input's `value`, a textarea's text.
    pub fn value(&self) -> String {
        match self.element.as_str() {
            "textarea" => self.text.clone(),
            _ => self.attribute("value").unwrap_or_default().to_string(),
        }
    }

    /// The `autocomplete` token that tells password managers what the field is (S5).
    pub fn autocomplete(&self) -> Option<&str> {
        self.attribute("autocomplete")
    }

    pub fn attribute(&self, name: &str) -> Option<&str> {
        lookup(&self.attributes, name)
    }
}

impl Form {
    pub fn action(&self) -> Option<&str> {
        lookup(&self.attributes, "action")
    }

    /// The form's method, lower case (`get` when absent, as browsers take it).
    pub fn method(&self) -> String {
        lookup(&self.attributes, "method")
            .unwrap_or("get")
            .to_ascii_lowercase()
    }

    pub fn fields(&self) -> &[Field] {
        &self.fields
    }

    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name() == Some(name))
    }

    pub fn buttons(&self) -> &[Button] {
        &self.buttons
    }

    /// The value of the hidden field `name` (the CSRF token included).
    pub fn hidden(&self, name: &str) -> Option<String> {
        self.fields
            .iter()
            .find(|f| f.kind() == "hidden" && f.name() == Some(name))
            .map(Field::value)
    }

    /// The hidden fields as name/value pairs, besides `csrf`, which the testkit browser
    /// adds from its cookie.
    pub fn hidden_fields(&self) -> Vec<(String, String)> {
        self.fields
            .iter()
            .filter(|f| f.kind() == "hidden")
            .filter_map(|f| Some((f.name()?.to_string(), f.value())))
            .filter(|(name, _)| name != "csrf")
            .collect()
    }

    /// What pressing `button` sends (besides `csrf`): the hidden fields, then the
    /// button's own name and value if it has a name.
    pub fn submission(&self, button: &Button) -> Vec<(String, String)> {
        let mut fields = self.hidden_fields();
        if let Some(name) = button.attribute("name") {
            let value = button.attribute("value").unwrap_or_default();
            fields.push((name.to_string(), value.to_string()));
        }
        fields
    }
}

impl Button {
    /// The visible label.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// What a screen reader announces: the `aria-label` if there is one, else the label.
    pub fn accessible_name(&self) -> &str {
        self.attribute("aria-label").unwrap_or(&self.label)
    }

    pub fn attribute(&self, name: &str) -> Option<&str> {
        lookup(&self.attributes, name)
    }

    fn is_called(&self, label: &str) -> bool {
        let label = fold(label);
        self.label == label || fold(self.accessible_name()) == label
    }
}

impl Link {
    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn href(&self) -> Option<&str> {
        self.attribute("href")
    }

    pub fn attribute(&self, name: &str) -> Option<&str> {
        lookup(&self.attributes, name)
    }
}

fn lookup<'a>(attributes: &'a [(String, String)], name: &str) -> Option<&'a str> {
    attributes
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, value)| value.as_str())
}

fn fold(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn tokenize(source: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut rest = source;
    while !rest.is_empty() {
        let Some(lt) = rest.find('<') else {
            tokens.push(Token::Text(html_unescape(rest)));
            break;
        };
        if lt > 0 {
            tokens.push(Token::Text(html_unescape(&rest[..lt])));
        }
        rest = &rest[lt..];
        if let Some(comment) = rest.strip_prefix("<!--") {
            rest = comment.find("-->").map_or("", |end| &comment[end + 3..]);
        } else if rest.starts_with("<!") || rest.starts_with("<?") {
            rest = rest.find('>').map_or("", |end| &rest[end + 1..]);
        } else if let Some(close) = rest.strip_prefix("</") {
            let end = close.find('>').unwrap_or(close.len());
            tokens.push(Token::Close(close[..end].trim().to_ascii_lowercase()));
            rest = close.get(end + 1..).unwrap_or("");
        } else if rest[1..].starts_with(|c: char| c.is_ascii_alphabetic()) {
            let (name, attributes, after) = open_tag(&rest[1..]);
            rest = after;
            // Script and style bodies are raw text up to their closing tag.
            if name == "script" || name == "style" {
                let closing = format!("</{name}");
                let end = rest
                    .to_ascii_lowercase()
                    .find(&closing)
                    .unwrap_or(rest.len());
                tokens.push(Token::Open { name, attributes });
                if end > 0 {
                    tokens.push(Token::Text(rest[..end].to_string()));
                }
                rest = &rest[end..];
            } else {
                tokens.push(Token::Open { name, attributes });
            }
        } else {
            // A `<` that starts no tag is text.
            tokens.push(Token::Text("<".to_string()));
            rest = &rest[1..];
        }
    }
    tokens
}

/// Reads `name attr="v" attr2=v2 bare>` after a `<`; returns the rest after the `>`.
fn open_tag(source: &str) -> (String, Vec<(String, String)>, &str) {
    let name_end = source
        .find(|c: char| c.is_ascii_whitespace() || c == '>' || c == '/')
        .unwrap_or(source.len());
    let name = source[..name_end].to_ascii_lowercase();
    let mut attributes = Vec::new();
    let mut rest = &source[name_end..];
    loop {
        rest = rest.trim_start_matches(|c: char| c.is_ascii_whitespace() || c == '/');
        if rest.is_empty() {
            return (name, attributes, rest);
        }
        if let Some(after) = rest.strip_prefix('>') {
            return (name, attributes, after);
        }
        let key_end = rest
            .find(|c: char| c.is_ascii_whitespace() || c == '=' || c == '>' || c == '/')
            .unwrap_or(rest.len())
            .max(1);
        let key = rest[..key_end].to_ascii_lowercase();
        rest = rest[key_end..].trim_start();
        let Some(after_equals) = rest.strip_prefix('=') else {
            attributes.push((key, String::new()));
            continue;
        };
        let value_source = after_equals.trim_start();
        let (value, after) = match value_source.chars().next() {
            Some(quote @ ('"' | '\'')) => {
                let inner = &value_source[1..];
                let end = inner.find(quote).unwrap_or(inner.len());
                (&inner[..end], inner.get(end + 1..).unwrap_or(""))
            }
            _ => {
                let end = value_source
                    .find(|c: char| c.is_ascii_whitespace() || c == '>')
                    .unwrap_or(value_source.len());
                (&value_source[..end], &value_source[end..])
            }
        };
        attributes.push((key, html_unescape(value)));
        rest = after;
    }
}

/// Undoes HTML escaping (`&amp;`, `&quot;`, `&#x27;`, `&#39;`, `&nbsp;`, …); an `&` that
/// starts no known entity stays as it is.
pub fn html_unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find('&') {
        out.push_str(&rest[..start]);
        let tail = &rest[start..];
        let Some(end) = tail.find(';').filter(|&e| e <= 10) else {
            out.push('&');
            rest = &tail[1..];
            continue;
        };
        let entity = &tail[1..end];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            "nbsp" => Some('\u{a0}'),
            _ => entity
                .strip_prefix("#x")
                .or_else(|| entity.strip_prefix("#X"))
                .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                .or_else(|| {
                    entity
                        .strip_prefix('#')
                        .and_then(|dec| dec.parse::<u32>().ok())
                })
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &tail[end + 1..];
            }
            None => {
                out.push('&');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests;
