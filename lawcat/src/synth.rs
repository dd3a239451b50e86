//! Text generators for evaluation and for the built-in training data, and the small
//! word-level tokenizer of the built-in demo teacher.
//!
//! * passkey retrieval in the landmark-attention format (`docs/LAWCAT.md`, "Evaluation"),
//!   assembled on token ids: intro, filler cut at the depth, needle, rest of the filler,
//!   question;
//! * S-NIAH needles (RULER wording; 7-digit values or UUIDs);
//! * bAbI-style "two/three supporting facts" stories from our own simulator of people
//!   moving and carrying objects.

use nn::Tokenizer;
use tensor::{Result, Rng};

pub const INTRO: &str = "There is an important info hidden inside a lot of irrelevant text. Find \
                         it and memorize them. I will quiz you about the important information \
                         there.\n";
pub const FILLER: &str =
    "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again. ";
pub const QUESTION: &str = "\nWhat is the pass key? The pass key is";

pub fn needle(key: u32) -> String {
    format!(" The pass key is {key}. Remember it. {key} is the pass key. ")
}

/// A random 5-digit pass key.
pub fn passkey(rng: &mut Rng) -> u32 {
    rng.range(10000, 99999) as u32
}

/// Token ids of a passkey prompt of exactly `len` tokens (when `len` leaves room for the
/// intro, needle and question) with the needle at `depth` (0 = start, 1 = end) of the
/// filler: `intro + filler[..cut] + needle + filler[cut..] + question`.
pub fn passkey_prompt(tok: &Tokenizer, len: usize, depth: f64, key: u32) -> Result<Vec<u32>> {
    let head = tok.encode(INTRO, false)?;
    let nd = tok.encode(&needle(key), false)?;
    let q = tok.encode(QUESTION, false)?;
    let fill = tok.encode(FILLER, false)?;
    Ok(assemble(&head, &fill, &nd, &q, len, depth))
}

/// `head + hay[..cut] + needle + hay[cut..] + question` with the haystack the repeated
/// `fill` cut to the token budget left by the other parts.
pub fn assemble(
    head: &[u32],
    fill: &[u32],
    needle: &[u32],
    question: &[u32],
    len: usize,
    depth: f64,
) -> Vec<u32> {
    let budget = len.saturating_sub(head.len() + needle.len() + question.len());
    let hay: Vec<u32> = fill.iter().copied().cycle().take(budget).collect();
    let cut = (hay.len() as f64 * depth.clamp(0.0, 1.0)) as usize;
    let mut ids = head.to_vec();
    ids.extend(&hay[..cut]);
    ids.extend(needle);
    ids.extend(&hay[cut..]);
    ids.extend(question);
    ids
}

/// A passkey example of about `len` tokens, built like an evaluation prompt (random depth,
/// random key), followed by the answer `" {key}."`.
pub fn passkey_example(tok: &Tokenizer, len: usize, rng: &mut Rng) -> Result<Vec<u32>> {
    let key = passkey(rng);
    let answer = tok.encode(&format!(" {key}."), false)?;
    let mut ids = passkey_prompt(tok, len.saturating_sub(answer.len()), rng.uniform(), key)?;
    ids.extend(answer);
    Ok(ids)
}

/// A passkey document as text: the prompt text followed by the answer.
pub fn passkey_document(rng: &mut Rng, filler_sentences: usize) -> String {
    let key = passkey(rng);
    let depth = rng.uniform();
    let cut = (filler_sentences as f64 * depth) as usize;
    let fill: Vec<&str> = FILLER.split_inclusive(". ").collect();
    let mut s = INTRO.to_string();
    for i in 0..cut {
        s.push_str(fill[i % fill.len()]);
    }
    s.push_str(needle(key).trim_start());
    for i in cut..filler_sentences {
        s.push_str(fill[i % fill.len()]);
    }
    s.push_str(QUESTION);
    s.push_str(&format!(" {key}."));
    s
}

pub const NIAH_INTRO: &str = "Some special magic numbers are hidden within the following text. \
                              Make sure to memorize it. I will quiz you about the numbers \
                              afterwards.\n";
const ADJECTIVES: &[&str] = &[
    "fierce", "quiet", "silver", "hollow", "bright", "ancient", "gentle", "bitter", "rapid",
    "humble", "crimson", "frozen",
];
const NOUNS: &[&str] = &[
    "flour", "harbor", "lantern", "meadow", "comet", "violin", "garden", "anchor", "pepper",
    "castle", "river", "window",
];

/// A RULER-style key, e.g. "quiet-lantern".
pub fn niah_key(rng: &mut Rng) -> String {
    format!("{}-{}", ADJECTIVES[rng.below(ADJECTIVES.len())], NOUNS[rng.below(NOUNS.len())])
}

/// A 7-digit value (S-NIAH-1/2) or a UUID (S-NIAH-3).
pub fn niah_value(rng: &mut Rng, uuid: bool) -> String {
    if uuid {
        let h = |n: usize, rng: &mut Rng| {
            (0..n).map(|_| char::from_digit(rng.below(16) as u32, 16).unwrap()).collect::<String>()
        };
        format!("{}-{}-{}-{}-{}", h(8, rng), h(4, rng), h(4, rng), h(4, rng), h(12, rng))
    } else {
        rng.range(1_000_000, 9_999_999).to_string()
    }
}

pub fn niah_needle(key: &str, value: &str) -> String {
    format!(" One of the special magic numbers for {key} is: {value}. ")
}

pub fn niah_question(key: &str) -> String {
    format!(
        "\nWhat is the special magic number for {key} mentioned in the provided text? The special \
         magic number for {key} mentioned in the provided text is"
    )
}

/// Token ids of an S-NIAH prompt of `len` tokens over the haystack tokens `fill`, with the
/// needle "`key` is `value`" at `depth`: `intro + hay + needle + hay + question`.
pub fn niah_prompt(
    tok: &Tokenizer,
    fill: &[u32],
    key: &str,
    value: &str,
    len: usize,
    depth: f64,
) -> Result<Vec<u32>> {
    let head = tok.encode(NIAH_INTRO, false)?;
    let nd = tok.encode(&niah_needle(key, value), false)?;
    let q = tok.encode(&niah_question(key), false)?;
    Ok(assemble(&head, fill, &nd, &q, len, depth))
}

/// People, places and objects of the bAbI-style world.
const PEOPLE: &[&str] = &["Mary", "John", "Sandra", "Daniel"];
const PLACES: &[&str] = &["kitchen", "garden", "hallway", "bathroom", "office", "bedroom"];
const OBJECTS: &[&str] = &["football", "apple", "milk"];

/// A story and its question: `facts` in order, the `question`, the one-word `answer`, and
/// the prefix the answer follows in the prompt.
#[derive(Clone, Debug)]
pub struct Story {
    pub facts: Vec<String>,
    pub question: String,
    pub answer: String,
    pub answer_prefix: String,
}

/// A bAbI "two supporting facts" (QA2: where is the object?) or "three supporting facts"
/// (QA3: where was the object before the place it is now?) story, simulated: people move
/// between places and pick up or drop objects; an object carried is where its carrier is.
pub fn babi_story(rng: &mut Rng, three_facts: bool) -> Story {
    loop {
        let mut person_at: Vec<Option<usize>> = vec![None; PEOPLE.len()];
        let mut object_holder: Vec<Option<usize>> = vec![None; OBJECTS.len()];
        let mut object_at: Vec<Option<usize>> = vec![None; OBJECTS.len()];
        let mut history: Vec<Vec<usize>> = vec![vec![]; OBJECTS.len()];
        let mut facts = vec![];
        let n = 8 + rng.below(8);
        for _ in 0..n {
            let p = rng.below(PEOPLE.len());
            let r = rng.below(10);
            if r < 6 || person_at[p].is_none() {
                let l = rng.below(PLACES.len());
                let verb = ["went to", "journeyed to", "travelled to", "moved to"][rng.below(4)];
                facts.push(format!("{} {verb} the {}.", PEOPLE[p], PLACES[l]));
                person_at[p] = Some(l);
                for o in 0..OBJECTS.len() {
                    if object_holder[o] == Some(p) {
                        object_at[o] = Some(l);
                        if history[o].last() != Some(&l) {
                            history[o].push(l);
                        }
                    }
                }
            } else if let Some(o) = (0..OBJECTS.len()).find(|&o| object_holder[o] == Some(p)) {
                let verb = ["dropped", "discarded", "put down"][rng.below(3)];
                facts.push(format!("{} {verb} the {}.", PEOPLE[p], OBJECTS[o]));
                object_holder[o] = None;
            } else {
                let free: Vec<usize> = (0..OBJECTS.len())
                    .filter(|&o| {
                        object_holder[o].is_none()
                            && (object_at[o].is_none() || object_at[o] == person_at[p])
                    })
                    .collect();
                if free.is_empty() {
                    continue;
                }
                let o = free[rng.below(free.len())];
                let verb = ["picked up", "got", "grabbed"][rng.below(3)];
                facts.push(format!("{} {verb} the {}.", PEOPLE[p], OBJECTS[o]));
                object_holder[o] = Some(p);
                let l = person_at[p].expect("checked above");
                object_at[o] = Some(l);
                if history[o].last() != Some(&l) {
                    history[o].push(l);
                }
            }
        }
        // A question about an object that has been somewhere (QA3: at least two places).
        let need = if three_facts { 2 } else { 1 };
        let cands: Vec<usize> = (0..OBJECTS.len()).filter(|&o| history[o].len() >= need).collect();
        if cands.is_empty() {
            continue;
        }
        let o = cands[rng.below(cands.len())];
        let obj = OBJECTS[o];
        return if three_facts {
            let h = &history[o];
            let (before, now) = (h[h.len() - 2], h[h.len() - 1]);
            Story {
                facts,
                question: format!("Where was the {obj} before the {}?", PLACES[now]),
                answer: PLACES[before].to_string(),
                answer_prefix: format!("Before the {}, the {obj} was in the", PLACES[now]),
            }
        } else {
            Story {
                facts,
                question: format!("Where is the {obj}?"),
                answer: PLACES[object_at[o].expect("has history")].to_string(),
                answer_prefix: format!("The {obj} is in the"),
            }
        };
    }
}

pub const BABI_INTRO: &str = "I will give you context with the facts about positions of different \
                              persons hidden in some random text and a question. You need to \
                              answer the question based only on the information from the facts.\n";

/// The words of the demo world (passkey prompts): the built-in tokenizer's vocabulary.
fn demo_words() -> Vec<String> {
    let text = format!("{INTRO} {FILLER} {QUESTION} {}", needle(12345));
    let mut words: Vec<String> = vec![];
    for w in
        text.split(|c: char| c.is_whitespace() || c.is_ascii_punctuation() || c.is_ascii_digit())
    {
        if !w.is_empty() && !words.iter().any(|x| x == w) {
            words.push(w.to_string());
        }
    }
    words
}

/// The built-in demo tokenizer: one token per word of the demo world (with a `▁` marking
/// a leading space, SentencePiece style), single digits, punctuation and newline; text
/// round-trips through encode and decode.
pub fn demo_tokenizer() -> Result<Tokenizer> {
    let mut vocab: Vec<String> = ["<unk>", "<s>", "</s>", "▁", "\n", ".", "?", ",", ":", "-"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    vocab.extend((0..10).map(|d| d.to_string()));
    for w in demo_words() {
        vocab.push(w.clone());
        vocab.push(format!("▁{w}"));
    }
    let vocab_json: serde_json::Map<String, serde_json::Value> =
        vocab.iter().enumerate().map(|(i, w)| (w.clone(), serde_json::json!(i))).collect();
    let doc = serde_json::json!({
        "version": "1.0", "truncation": null, "padding": null, "normalizer": null,
        "added_tokens": [
            {"id": 0, "content": "<unk>", "single_word": false, "lstrip": false, "rstrip": false,
             "normalized": false, "special": true},
            {"id": 1, "content": "<s>", "single_word": false, "lstrip": false, "rstrip": false,
             "normalized": false, "special": true},
            {"id": 2, "content": "</s>", "single_word": false, "lstrip": false, "rstrip": false,
             "normalized": false, "special": true}
        ],
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"String": "\n"}, "behavior": "Isolated", "invert": false},
            {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "never", "split": true},
            {"type": "Punctuation", "behavior": "Isolated"},
            {"type": "Digits", "individual_digits": true}
        ]},
        "post_processor": null,
        "decoder": {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "never",
                    "split": true},
        "model": {"type": "WordLevel", "vocab": vocab_json, "unk_token": "<unk>"}
    });
    Tokenizer::from_json(&doc.to_string(), std::path::Path::new("<built-in demo tokenizer>"))
}
