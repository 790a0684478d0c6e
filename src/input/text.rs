//! Reading text: a file or standard input, decoded strictly so that a binary or Latin-1 file gets
//! one clear message instead of a confusing syntax error from the server. A UTF-8 byte-order mark
//! at the start is dropped: it is not part of the text.

use std::io::Read;
use std::path::Path;

use super::InputError;

/// Read a text file (SQL, or a saved EXPLAIN document).
pub fn read_file(path: &Path) -> Result<String, InputError> {
    let bytes = std::fs::read(path).map_err(|e| unreadable(path, &e))?;
    decode(bytes, &path.display().to_string())
}

/// Read all of standard input as text.
pub fn read_stdin() -> Result<String, InputError> {
    let mut bytes = Vec::new();
    std::io::stdin()
        .read_to_end(&mut bytes)
        .map_err(InputError::Stdin)?;
    decode(bytes, "<stdin>")
}

/// `cannot read PATH: REASON`, the reason in words rather than an OS error number.
pub(super) fn unreadable(path: &Path, e: &std::io::Error) -> InputError {
    InputError::Unreadable {
        path: path.display().to_string(),
        reason: io_reason(e),
    }
}

/// An I/O error in words rather than an OS error number.
pub(super) fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".to_owned(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        std::io::ErrorKind::IsADirectory => "is a directory".to_owned(),
        _ => e.to_string(),
    }
}

/// The UTF-8 byte-order mark some Windows editors write at the start of a file.
const BOM: &[u8] = "\u{feff}".as_bytes();

/// UTF-8 text without NUL bytes, a leading byte-order mark removed; `name` says whose bytes these
/// are in the message (offsets count from the start of the file, mark included).
pub(super) fn decode(mut bytes: Vec<u8>, name: &str) -> Result<String, InputError> {
    let skipped = if bytes.starts_with(BOM) {
        // In place: a large file is not copied.
        bytes.drain(..BOM.len());
        BOM.len()
    } else {
        0
    };
    if let Some(offset) = bytes.iter().position(|b| *b == 0) {
        return Err(InputError::Binary {
            name: name.to_owned(),
            offset: skipped + offset,
        });
    }
    String::from_utf8(bytes).map_err(|e| InputError::NotUtf8 {
        name: name.to_owned(),
        offset: skipped + e.utf8_error().valid_up_to(),
    })
}
