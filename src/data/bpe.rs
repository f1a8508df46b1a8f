//! Byte-pair encoding trained in-process (Sennrich et al. 2016, GPT-2's pre-splitting): the text
//! is cut into chunks — a run of letters or digits with the space before it, or one other
//! character — and, starting from the characters, the most frequent adjacent pair within chunks
//! is merged into a new token until the vocabulary has the size asked for. Deterministic (ties go
//! to the pair with the smallest ids).

use std::collections::HashMap;

/// Learned merges over a base of characters.
#[derive(Clone, Debug, PartialEq)]
pub struct Bpe {
    /// `(left, right)` token ids merged into token `base + i`, in the order learned.
    pub merges: Vec<(usize, usize)>,
    /// The text of every token: the characters first, then one per merge.
    pub pieces: Vec<String>,
}

/// The chunks of a text (merges never cross them).
pub fn chunks(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut prev_word = false;
    let mut iter = text.char_indices().peekable();
    while let Some((i, c)) = iter.next() {
        let word = c.is_alphanumeric();
        if word {
            if !prev_word {
                // A word starts: keep one space right before it with it.
                let glued = i > start && text[start..i].ends_with(' ') && i - start == 1;
                if !glued && i > start {
                    out.push(&text[start..i]);
                    start = i;
                }
            }
        } else {
            if i > start {
                out.push(&text[start..i]);
            }
            start = i;
            // A space waits to see whether a word follows; anything else is a chunk alone.
            if c != ' ' || !iter.peek().is_some_and(|(_, n)| n.is_alphanumeric()) {
                out.push(&text[i..i + c.len_utf8()]);
                start = i + c.len_utf8();
            }
        }
        prev_word = word;
    }
    if start < text.len() {
        out.push(&text[start..]);
    }
    out
}

impl Bpe {
    /// Learns merges on `text` over the characters `chars` (sorted, every character of `text`)
    /// until there are `vocab_size` tokens or no pair occurs twice.
    pub fn train(text: &str, chars: &[char], vocab_size: usize) -> Bpe {
        let id = |c: char| chars.binary_search(&c).unwrap_or(0);
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for c in chunks(text) {
            *counts.entry(c).or_default() += 1;
        }
        let mut words: Vec<(Vec<usize>, usize)> = counts
            .into_iter()
            .map(|(w, n)| (w.chars().map(id).collect(), n))
            .collect();
        words.sort();
        let mut pieces: Vec<String> = chars.iter().map(|c| c.to_string()).collect();
        let mut merges = Vec::new();
        while pieces.len() < vocab_size {
            let mut pairs: HashMap<(usize, usize), usize> = HashMap::new();
            for (w, n) in &words {
                for p in w.windows(2) {
                    *pairs.entry((p[0], p[1])).or_default() += n;
                }
            }
            let Some((&best, &n)) = pairs.iter().max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0))) else {
                break;
            };
            if n < 2 {
                break;
            }
            let new = pieces.len();
            pieces.push(format!("{}{}", pieces[best.0], pieces[best.1]));
            merges.push(best);
            for (w, _) in &mut words {
                merge(w, best, new);
            }
        }
        Bpe { merges, pieces }
    }

    /// Token ids of one chunk's characters (as ids), merges applied in the order learned.
    pub fn encode_chunk(&self, mut ids: Vec<usize>, base: usize) -> Vec<usize> {
        for (i, &pair) in self.merges.iter().enumerate() {
            if ids.len() < 2 {
                break;
            }
            merge(&mut ids, pair, base + i);
        }
        ids
    }
}

/// Replaces every `pair` in `w` by `new`, left to right.
fn merge(w: &mut Vec<usize>, pair: (usize, usize), new: usize) {
    if w.len() < 2 {
        return;
    }
    let mut out = Vec::with_capacity(w.len());
    let mut i = 0;
    while i < w.len() {
        if i + 1 < w.len() && (w[i], w[i + 1]) == pair {
            out.push(new);
            i += 2;
        } else {
            out.push(w[i]);
            i += 1;
        }
    }
    *w = out;
}
