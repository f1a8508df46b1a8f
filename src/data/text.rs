//! Text for language models, read as characters: the built-in novel (Jane Austen's *Pride and
//! Prejudice*, public domain, from Debian's `r-cran-janeaustenr`) and a user's `.txt` file. The
//! first 90 % trains, the last 10 % validates (a contiguous split: no window straddles both).

use super::{Dataset, Features, Target};
use std::path::Path;

/// The built-in novel, gzip-compressed (685 KB of ASCII text).
const PRIDE_AND_PREJUDICE: &[u8] = include_bytes!("files/pride_and_prejudice.txt.gz");

/// A vocabulary: each distinct character of the corpus, sorted (a token is an index), and,
/// when byte-pair encoding was trained, the merged tokens after them.
#[derive(Clone, Debug, PartialEq)]
pub struct CharVocab {
    /// The characters, by token id.
    pub chars: Vec<char>,
    /// Learned merges (None: one token per character).
    pub bpe: Option<super::bpe::Bpe>,
}

impl CharVocab {
    /// A character vocabulary.
    pub fn new(chars: Vec<char>) -> Self {
        CharVocab { chars, bpe: None }
    }

    /// Tokens in the vocabulary.
    pub fn len(&self) -> usize {
        self.bpe.as_ref().map_or(self.chars.len(), |b| b.pieces.len())
    }

    /// True when there are no tokens.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The token of one character, if it has one.
    pub fn id_of(&self, c: char) -> Option<usize> {
        self.chars.binary_search(&c).ok()
    }

    /// The text of one token.
    pub fn piece(&self, id: usize) -> Option<String> {
        match &self.bpe {
            Some(b) => b.pieces.get(id).cloned(),
            None => self.chars.get(id).map(|c| c.to_string()),
        }
    }

    /// Token ids of `text`; an error names the first character the vocabulary does not have.
    pub fn encode(&self, text: &str) -> Result<Vec<usize>, String> {
        let ids = self.encode_chars(text)?;
        let Some(bpe) = &self.bpe else {
            return Ok(ids);
        };
        let mut cache: std::collections::HashMap<&str, Vec<usize>> = std::collections::HashMap::new();
        let mut out = Vec::with_capacity(ids.len() / 2);
        for chunk in super::bpe::chunks(text) {
            let enc = cache.entry(chunk).or_insert_with(|| {
                let c: Vec<usize> = chunk
                    .chars()
                    .filter_map(|c| self.chars.binary_search(&c).ok())
                    .collect();
                bpe.encode_chunk(c, self.chars.len())
            });
            out.extend_from_slice(enc);
        }
        Ok(out)
    }

    /// Character ids of `text`.
    fn encode_chars(&self, text: &str) -> Result<Vec<usize>, String> {
        text.chars()
            .enumerate()
            .map(|(i, c)| {
                self.chars.binary_search(&c).map_err(|_| {
                    format!(
                        "the prompt's character {:?} (position {}) never occurs in the training text — its {} characters are: {}",
                        c,
                        i + 1,
                        self.chars.len(),
                        self.chars.iter().filter(|c| !c.is_control()).collect::<String>()
                    )
                })
            })
            .collect()
    }

    /// The text of token ids (unknown ids become '?').
    pub fn decode(&self, ids: &[usize]) -> String {
        ids.iter()
            .map(|&i| self.piece(i).unwrap_or_else(|| "?".to_owned()))
            .collect()
    }
}

/// A corpus as token ids with its vocabulary and the split.
#[derive(Clone, Debug)]
pub struct Corpus {
    /// Token ids of the whole text.
    pub tokens: Vec<usize>,
    /// The vocabulary.
    pub vocab: CharVocab,
    /// Tokens before this index train; the rest validate.
    pub train_end: usize,
}

impl Corpus {
    /// Reads a corpus back from the dataset a text source loaded.
    pub fn from_dataset(ds: &Dataset) -> Result<Corpus, String> {
        let Features::U8(ids) = &ds.features else {
            return Err(format!("'{}' is not a text source", ds.name));
        };
        if ds.shape.len() != 1 || ds.classes.is_empty() || ds.classes.iter().any(|c| c.chars().count() != 1) {
            return Err(format!("'{}' is not a text source", ds.name));
        }
        let chars: Vec<char> = ds.classes.iter().filter_map(|c| c.chars().next()).collect();
        let tokens: Vec<usize> = ids.iter().map(|&i| usize::from(i)).collect();
        let train_end = tokens.len() * 9 / 10;
        Ok(Corpus {
            tokens,
            vocab: CharVocab::new(chars),
            train_end,
        })
    }

    /// The same text in byte-pair tokens learned on the training part, `vocab_size` tokens in all
    /// (the characters included; at least them).
    pub fn with_bpe(&self, vocab_size: usize) -> Result<Corpus, String> {
        let train = self.vocab.decode(&self.tokens[..self.train_end]);
        let val = self.vocab.decode(&self.tokens[self.train_end..]);
        let bpe = super::bpe::Bpe::train(&train, &self.vocab.chars, vocab_size.max(self.vocab.chars.len()));
        let vocab = CharVocab {
            chars: self.vocab.chars.clone(),
            bpe: Some(bpe),
        };
        let mut tokens = vocab.encode(&train)?;
        let train_end = tokens.len();
        tokens.extend(vocab.encode(&val)?);
        Ok(Corpus {
            tokens,
            vocab,
            train_end,
        })
    }
}

/// Text → a dataset of character ids (shape `[length]`, the vocabulary as class names).
pub fn from_text(name: &str, text: &str) -> Result<Dataset, String> {
    if text.trim().is_empty() {
        return Err(format!("{name} has no text in it"));
    }
    let mut chars: Vec<char> = text.chars().collect();
    chars.sort_unstable();
    chars.dedup();
    if chars.len() > 256 {
        return Err(format!(
            "{name} uses {} different characters; the character tokenizer takes at most 256",
            chars.len()
        ));
    }
    let vocab = CharVocab::new(chars);
    let ids = vocab.encode(text)?;
    if ids.len() < 1_000 {
        return Err(format!(
            "{name} has {} characters; a language model needs at least 1 000 to train and validate on",
            ids.len()
        ));
    }
    Ok(Dataset {
        name: name.to_owned(),
        shape: vec![ids.len()],
        features: Features::U8(ids.iter().map(|&i| i as u8).collect()),
        labels: Vec::new(),
        classes: vocab.chars.iter().map(|c| c.to_string()).collect(),
        test_from: None,
        target: Target::Classes,
    })
}

/// The built-in novel.
pub fn austen() -> Result<Dataset, String> {
    use std::io::Read;
    let mut text = String::new();
    flate2::read::GzDecoder::new(PRIDE_AND_PREJUDICE)
        .read_to_string(&mut text)
        .map_err(|e| format!("the built-in text is damaged: {e}"))?;
    from_text("Pride and Prejudice", &text)
}

/// A user's text file: UTF-8 text (an error says where a binary or empty file fails).
pub fn file(path: &Path) -> Result<Dataset, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if let Some(at) = bytes.iter().position(|&b| b == 0) {
        return Err(format!(
            "{} looks binary (byte {} is 0), not text — give a UTF-8 .txt file",
            path.display(),
            at
        ));
    }
    let text = String::from_utf8(bytes).map_err(|e| {
        format!(
            "{} is not UTF-8 text (byte {} is not part of a character) — save it as UTF-8",
            path.display(),
            e.utf8_error().valid_up_to()
        )
    })?;
    from_text(&path.display().to_string(), &text)
}
