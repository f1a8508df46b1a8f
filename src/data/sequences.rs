//! Synthetic sequence-to-sequence tasks, generated in-process: copy, reverse or sort a string of
//! digits, add two numbers, or spell a number in English words (a toy translation). One small
//! vocabulary serves them all; sources are padded to the longest source and targets (ending in
//! `</s>`) to the longest target. Validation pairs never occur among the training pairs.

use super::{Dataset, Features, Target};
use std::collections::HashSet;

/// Padding (ignored by the loss; 0 in a padding mask).
pub const PAD: usize = 0;
/// Start of the decoder's input.
pub const BOS: usize = 1;
/// End of a target.
pub const EOS: usize = 2;
/// Characters after the three special tokens.
const CHARS: &str = "0123456789+ abcdefghijklmnopqrstuvwxyz";

/// The tasks, by option value.
pub const TASKS: &[&str] = &["reverse", "sort", "copy", "add", "spell"];

/// The vocabulary: `<pad>`, `<s>`, `</s>`, then the characters.
pub fn vocabulary() -> Vec<String> {
    let mut v: Vec<String> = ["<pad>", "<s>", "</s>"].iter().map(|s| (*s).to_owned()).collect();
    v.extend(CHARS.chars().map(|c| c.to_string()));
    v
}

fn token(c: char) -> usize {
    CHARS.find(c).map_or(PAD, |i| i + 3)
}

/// Token ids of a string of the task's characters (`None` names the first it does not have).
pub fn encode(s: &str) -> Result<Vec<usize>, char> {
    s.chars().map(|c| CHARS.find(c).map(|i| i + 3).ok_or(c)).collect()
}

/// The text of token ids up to the first `</s>` (special tokens dropped).
pub fn decode(ids: &[usize]) -> String {
    ids.iter()
        .take_while(|&&t| t != EOS)
        .filter(|&&t| t > EOS)
        .filter_map(|&t| CHARS.chars().nth(t - 3))
        .collect()
}

/// A task's answer for a source string; `None` when the task is unknown or the source malformed.
pub fn answer(task: &str, src: &str) -> Option<String> {
    Some(match task {
        "copy" => src.to_owned(),
        "reverse" => src.chars().rev().collect(),
        "sort" => {
            let mut c: Vec<char> = src.chars().collect();
            c.sort_unstable();
            c.into_iter().collect()
        }
        "add" => {
            let (a, b) = src.split_once('+')?;
            (a.parse::<u64>().ok()? + b.parse::<u64>().ok()?).to_string()
        }
        "spell" => spell(src.parse().ok()?),
        _ => return None,
    })
}

/// A number in English words ("three hundred seven").
pub fn spell(n: u64) -> String {
    const ONES: [&str; 20] = [
        "zero",
        "one",
        "two",
        "three",
        "four",
        "five",
        "six",
        "seven",
        "eight",
        "nine",
        "ten",
        "eleven",
        "twelve",
        "thirteen",
        "fourteen",
        "fifteen",
        "sixteen",
        "seventeen",
        "eighteen",
        "nineteen",
    ];
    const TENS: [&str; 10] = [
        "", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety",
    ];
    fn below_thousand(n: u64, out: &mut Vec<String>) {
        let (h, r) = (n / 100, n % 100);
        if h > 0 {
            out.push(ONES[h as usize].to_owned());
            out.push("hundred".to_owned());
        }
        if r >= 20 {
            out.push(TENS[(r / 10) as usize].to_owned());
            if r % 10 > 0 {
                out.push(ONES[(r % 10) as usize].to_owned());
            }
        } else if r > 0 || h == 0 {
            out.push(ONES[r as usize].to_owned());
        }
    }
    let mut words = Vec::new();
    let (th, rest) = (n / 1000, n % 1000);
    if th > 0 {
        below_thousand(th, &mut words);
        words.push("thousand".to_owned());
        if rest > 0 {
            below_thousand(rest, &mut words);
        }
    } else {
        below_thousand(rest, &mut words);
    }
    words.join(" ")
}

/// A small deterministic generator (the data are the same on every machine).
struct Gen(u64);

impl Gen {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) % n.max(1)
    }

    fn digits(&mut self, len: usize) -> String {
        (0..len).map(|_| char::from(b'0' + self.below(10) as u8)).collect()
    }

    fn number(&mut self, digits: usize) -> u64 {
        let lo = if digits <= 1 { 0 } else { 10u64.pow(digits as u32 - 1) };
        lo + self.below(10u64.pow(digits as u32) - lo)
    }
}

/// One source string of `task` with lengths in `min..=max`.
fn source(task: &str, min: usize, max: usize, g: &mut Gen) -> String {
    let len = min + g.below((max - min + 1) as u64) as usize;
    match task {
        "add" => {
            let half = (max / 2).max(1);
            let (da, db) = (1 + g.below(half as u64) as usize, 1 + g.below(half as u64) as usize);
            format!("{}+{}", g.number(da), g.number(db))
        }
        "spell" => g.number(len.clamp(1, 6)).to_string(),
        _ => g.digits(len),
    }
}

/// `pairs` training pairs and `pairs / 20` (at least 200) validation pairs of `task`, sources of
/// `min_len..=max_len` characters.
pub fn generate(task: &str, min_len: usize, max_len: usize, pairs: usize) -> Result<Dataset, String> {
    if !TASKS.contains(&task) {
        return Err(format!("unknown task '{task}': one of {}", TASKS.join(", ")));
    }
    if min_len == 0 || min_len > max_len {
        return Err(format!(
            "the lengths run from min_length {min_len} to max_length {max_len}: min_length must be at least 1 and at most max_length"
        ));
    }
    let val = (pairs / 20).max(200);
    let mut g = Gen(0x5EC2_5EC5 ^ (pairs as u64) << 8 | 1);
    let mut seen = HashSet::new();
    let mut all = Vec::with_capacity(pairs + val);
    let mut tries = 0usize;
    while all.len() < pairs + val {
        tries += 1;
        let s = source(task, min_len, max_len, &mut g);
        let fresh = seen.insert(s.clone());
        if all.len() >= pairs && !fresh {
            if tries > 50 * (pairs + val) {
                return Err(format!(
                    "the {task} task has too few different sources of length {min_len}–{max_len} to hold out {val} unseen ones — allow longer sequences"
                ));
            }
            continue;
        }
        let t = answer(task, &s).ok_or_else(|| format!("the {task} task cannot answer '{s}'"))?;
        all.push((s, t));
    }
    let s_max = all.iter().map(|(s, _)| s.len()).max().unwrap_or(1);
    let t_max = all.iter().map(|(_, t)| t.len()).max().unwrap_or(1) + 1;
    let mut src = vec![PAD as u8; all.len() * s_max];
    let mut tgt = vec![PAD as u8; all.len() * t_max];
    for (i, (s, t)) in all.iter().enumerate() {
        for (j, c) in s.chars().enumerate() {
            src[i * s_max + j] = token(c) as u8;
        }
        for (j, c) in t.chars().enumerate() {
            tgt[i * t_max + j] = token(c) as u8;
        }
        tgt[i * t_max + t.len()] = EOS as u8;
    }
    Ok(Dataset {
        name: format!("{task} ({min_len}–{max_len} characters)"),
        shape: vec![s_max],
        features: Features::U8(src),
        // One (unused) label per pair: the dataset's length is its label count.
        labels: vec![0; all.len()],
        classes: vocabulary(),
        test_from: Some(pairs),
        target: Target::Sequences { len: t_max, data: tgt },
    })
}
