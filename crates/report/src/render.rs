//! The template environment: templates are files under `templates/`, embedded at build time,
//! so a binary renders reports without finding files at run time.

use std::sync::OnceLock;

use minijinja::{AutoEscape, Environment, Value};
use serde::Serialize;

use crate::error::RenderError;

const TEMPLATES: &[(&str, &str)] = &[
    ("completion.md", include_str!("../templates/completion.md")),
    (
        "completion.html",
        include_str!("../templates/completion.html"),
    ),
    ("verdict.md", include_str!("../templates/verdict.md")),
    ("verdict.html", include_str!("../templates/verdict.html")),
    ("svg.html", include_str!("../templates/svg.html")),
    ("style.css", include_str!("../templates/style.css")),
];

/// A Markdown table cell: no line break, no column break, no raw HTML from the log.
fn md_cell(text: &str) -> String {
    text.replace('\r', "")
        .replace('\n', " ")
        .replace('|', "\\|")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// HTML escaping of text from the log: `& < > " '`, nothing else (minijinja's own escaping also
/// rewrites `/`, which makes every phase name unreadable in the source).
fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

fn escape_filter(value: Value) -> Value {
    if value.is_safe() {
        value
    } else {
        Value::from_safe_string(html_escape(&value.to_string()))
    }
}

fn environment() -> Result<&'static Environment<'static>, RenderError> {
    static ENV: OnceLock<Result<Environment<'static>, (&'static str, String)>> = OnceLock::new();
    let built = ENV.get_or_init(|| {
        let mut env = Environment::new();
        // `.html` escapes everything that comes from the log; `.md` escapes through `cell`.
        env.set_auto_escape_callback(|name| {
            if name.ends_with(".html") {
                AutoEscape::Html
            } else {
                AutoEscape::None
            }
        });
        let syntax = minijinja::syntax::SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .keep_trailing_newline(true)
            .build()
            .map_err(|e| ("syntax", e.to_string()))?;
        env.set_syntax(syntax);
        env.add_filter("cell", |v: Value| md_cell(&v.to_string()));
        env.add_filter("e", escape_filter);
        env.add_filter("escape", escape_filter);
        env.set_formatter(|out, state, value| {
            let plain = value.is_safe() || value.is_undefined() || value.is_none();
            if matches!(state.auto_escape(), AutoEscape::Html) && !plain {
                out.write_str(&html_escape(&value.to_string()))
                    .map_err(|_| minijinja::Error::from(minijinja::ErrorKind::WriteFailure))
            } else {
                minijinja::escape_formatter(out, state, value)
            }
        });
        for (name, source) in TEMPLATES {
            env.add_template(name, source)
                .map_err(|e| (*name, e.to_string()))?;
        }
        Ok(env)
    });
    match built {
        Ok(env) => Ok(env),
        Err((name, message)) => Err(RenderError {
            template: name,
            source: minijinja::Error::new(minijinja::ErrorKind::SyntaxError, message.clone()),
        }),
    }
}

pub(crate) fn render(
    template: &'static str,
    context: impl Serialize,
) -> Result<String, RenderError> {
    let env = environment()?;
    let wrap = |source| RenderError { template, source };
    let t = env.get_template(template).map_err(wrap)?;
    t.render(minijinja::value::Serde(context)).map_err(wrap)
}
