//! Character vocabulary and a corpus encoded as compact ids.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Errors reading or encoding a corpus.
#[derive(Debug, thiserror::Error)]
pub enum CorpusError {
    /// The file could not be read.
    #[error("cannot read corpus {path}: {source}")]
    Io {
        /// The corpus file.
        path: PathBuf,
        /// The operating-system error.
        source: std::io::Error,
    },
    /// The file is not UTF-8.
    #[error(
        "corpus {path} is not valid UTF-8: invalid byte sequence at byte offset {offset} (line {line})"
    )]
    NotUtf8 {
        /// The corpus file.
        path: PathBuf,
        /// Offset of the first invalid byte.
        offset: usize,
        /// Line of the first invalid byte (1-based).
        line: usize,
    },
    /// The file is empty.
    #[error("corpus {path} is empty")]
    Empty {
        /// The corpus file.
        path: PathBuf,
    },
    /// More distinct characters than ids can hold.
    #[error("{what} has {count} distinct characters; at most 65536 are supported")]
    VocabTooLarge {
        /// The text (its file, when it has one).
        what: String,
        /// Its distinct characters.
        count: usize,
    },
    /// Text holds characters the vocabulary lacks.
    #[error("{what} has characters outside the vocabulary: {chars}")]
    UnknownChars {
        /// What was being encoded.
        what: String,
        /// The unknown characters, quoted.
        chars: String,
    },
}

/// The character vocabulary: the sorted set of characters of a corpus; id = position.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vocab {
    chars: Vec<char>,
    #[serde(skip)]
    index: HashMap<char, u16>,
}

impl Vocab {
    /// The vocabulary of `text`: every character found, sorted by code point.
    pub fn from_text(text: &str) -> Result<Self, CorpusError> {
        // A table for ASCII and a set for the rest: `collect()` into a BTreeSet would first
        // gather every character of the text in a Vec (4 bytes each) and sort it.
        let mut ascii = [false; 128];
        let mut other = BTreeSet::new();
        for c in text.chars() {
            match ascii.get_mut(c as usize) {
                Some(seen) => *seen = true,
                None => {
                    other.insert(c);
                }
            }
        }
        let chars = (0u8..128)
            .filter(|&b| ascii[b as usize])
            .map(char::from)
            .chain(other)
            .collect();
        Self::from_chars(chars)
    }

    /// A vocabulary from its characters in id order.
    pub fn from_chars(chars: Vec<char>) -> Result<Self, CorpusError> {
        if chars.len() > u16::MAX as usize + 1 {
            return Err(CorpusError::VocabTooLarge {
                what: "the text".into(),
                count: chars.len(),
            });
        }
        let index = chars
            .iter()
            .enumerate()
            .map(|(i, c)| (*c, i as u16))
            .collect();
        Ok(Self { chars, index })
    }

    /// Number of characters `V`.
    pub fn len(&self) -> usize {
        self.chars.len()
    }

    /// Whether the vocabulary is empty.
    pub fn is_empty(&self) -> bool {
        self.chars.is_empty()
    }

    /// The characters in id order.
    pub fn chars(&self) -> &[char] {
        &self.chars
    }

    /// The id of `c`.
    pub fn id(&self, c: char) -> Option<u16> {
        self.index.get(&c).copied()
    }

    /// The character of `id`.
    pub fn char(&self, id: usize) -> char {
        self.chars[id]
    }

    /// Encodes `text`; `what` names it in the error that lists unknown characters.
    pub fn encode(&self, text: &str, what: &str) -> Result<Vec<u16>, CorpusError> {
        let mut ids = Vec::with_capacity(text.len());
        let mut unknown = BTreeSet::new();
        for c in text.chars() {
            match self.id(c) {
                Some(id) => ids.push(id),
                None => {
                    unknown.insert(c);
                }
            }
        }
        if unknown.is_empty() {
            Ok(ids)
        } else {
            Err(CorpusError::UnknownChars {
                what: what.to_string(),
                chars: unknown
                    .iter()
                    .map(|c| format!("{c:?}"))
                    .collect::<Vec<_>>()
                    .join(" "),
            })
        }
    }

    /// Serialises the vocabulary as JSON (`{"chars": [...]}`).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a vocabulary serialises")
    }

    /// Reads a vocabulary written by [`Vocab::to_json`].
    pub fn from_json(text: &str) -> Result<Self, String> {
        let v: Vocab = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let mut seen = std::collections::HashSet::new();
        if let Some(c) = v.chars.iter().find(|c| !seen.insert(**c)) {
            return Err(format!("character {c:?} is listed twice"));
        }
        Self::from_chars(v.chars).map_err(|e| e.to_string())
    }

    /// CRC-32 of the characters in id order: the same for the same vocabulary, different when
    /// characters are added, removed or reordered (which would silently remap every id).
    pub fn fingerprint(&self) -> u32 {
        let text: String = self.chars.iter().collect();
        crc32fast::hash(text.as_bytes())
    }
}

/// A text corpus as ids, split into training and validation parts (the validation part is the
/// end of the text, as in nanoGPT).
#[derive(Clone, Debug)]
pub struct Corpus {
    /// The vocabulary.
    pub vocab: Vocab,
    /// Training ids.
    pub train: Vec<u16>,
    /// Validation ids.
    pub valid: Vec<u16>,
    /// CRC-32 of the whole text (UTF-8): whether a run's corpus is still the one it trained on.
    pub fingerprint: u32,
}

/// Reads a UTF-8 file, with errors that name the file (and the first invalid byte).
pub fn read_text(path: &Path) -> Result<String, CorpusError> {
    let bytes = std::fs::read(path).map_err(|source| CorpusError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    String::from_utf8(bytes).map_err(|e| {
        let offset = e.utf8_error().valid_up_to();
        let line = 1 + e.as_bytes()[..offset]
            .iter()
            .filter(|b| **b == b'\n')
            .count();
        CorpusError::NotUtf8 {
            path: path.to_path_buf(),
            offset,
            line,
        }
    })
}

impl Corpus {
    /// Reads `path`, builds the vocabulary from it (or uses `vocab`) and splits off the last
    /// `validation_fraction` of the text for validation.
    pub fn load(
        path: &Path,
        validation_fraction: f64,
        vocab: Option<Vocab>,
    ) -> Result<Self, CorpusError> {
        let text = read_text(path)?;
        if text.is_empty() {
            return Err(CorpusError::Empty {
                path: path.to_path_buf(),
            });
        }
        let vocab = match vocab {
            Some(v) => v,
            None => Vocab::from_text(&text).map_err(|e| match e {
                CorpusError::VocabTooLarge { count, .. } => CorpusError::VocabTooLarge {
                    what: format!("corpus {}", path.display()),
                    count,
                },
                other => other,
            })?,
        };
        let ids = vocab.encode(&text, &path.display().to_string())?;
        let fingerprint = crc32fast::hash(text.as_bytes());
        // The text goes before the split copies the validation part: at most the file plus two
        // bytes per character are held at once.
        drop(text);
        Ok(Self::split(vocab, ids, validation_fraction, fingerprint))
    }

    fn split(vocab: Vocab, mut ids: Vec<u16>, validation_fraction: f64, fingerprint: u32) -> Self {
        let split = ((ids.len() as f64) * (1.0 - validation_fraction)).round() as usize;
        let valid = ids.split_off(split.min(ids.len()));
        Self {
            vocab,
            train: ids,
            valid,
            fingerprint,
        }
    }

    /// Like [`Corpus::load`], from text in memory; `what` names it in errors.
    pub fn from_text(
        text: &str,
        validation_fraction: f64,
        vocab: Option<Vocab>,
        what: &str,
    ) -> Result<Self, CorpusError> {
        let vocab = match vocab {
            Some(v) => v,
            None => Vocab::from_text(text)?,
        };
        let ids = vocab.encode(text, what)?;
        let fingerprint = crc32fast::hash(text.as_bytes());
        Ok(Self::split(vocab, ids, validation_fraction, fingerprint))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vocab_is_sorted_and_round_trips() {
        let v = Vocab::from_text("hello world").unwrap();
        assert_eq!(v.chars(), &[' ', 'd', 'e', 'h', 'l', 'o', 'r', 'w']);
        assert_eq!(Vocab::from_json(&v.to_json()).unwrap(), v);
        assert_eq!(v.encode("old", "t").unwrap(), vec![5, 4, 1]);
    }

    #[test]
    fn unknown_chars_are_listed() {
        let v = Vocab::from_text("abc").unwrap();
        let err = v.encode("abxyx", "the prime").unwrap_err().to_string();
        assert!(
            err.contains("the prime") && err.contains("'x' 'y'"),
            "{err}"
        );
    }

    #[test]
    fn split_takes_the_end_for_validation() {
        let c = Corpus::from_text("abcdefghij", 0.2, None, "t").unwrap();
        assert_eq!(c.train.len(), 8);
        assert_eq!(c.valid, vec![8, 9]);
    }
}
