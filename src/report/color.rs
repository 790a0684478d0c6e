//! ANSI colour for the text renderers; nothing is painted when colour is off (NO_COLOR, pipes).

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Paint {
    Plain,
    Bold,
    Dim,
    Red,
    BoldRed,
    Green,
    BoldGreen,
    Yellow,
}

pub(crate) fn paint(text: &str, color: bool, paint: Paint) -> String {
    if !color {
        return text.to_owned();
    }
    let code = match paint {
        Paint::Plain => return text.to_owned(),
        Paint::Bold => "1",
        Paint::Dim => "2",
        Paint::Red => "31",
        Paint::BoldRed => "1;31",
        Paint::Green => "32",
        Paint::BoldGreen => "1;32",
        Paint::Yellow => "33",
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}
