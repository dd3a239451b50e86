//! `nn::Tokenizer::from_json` against the `tokenizers` crate it wraps (Hugging Face's own
//! Rust implementation, the reference): for a few hundred tokenizer.json texts made from a
//! fixed seed (BPE with and without merges, byte-level or not, with added, unknown,
//! byte-fallback and multi-character tokens, an empty vocabulary; WordLevel, WordPiece,
//! Unigram) and broken variants of them (cut texts, fields of the wrong type or removed,
//! stray characters), we accept a file exactly when the reference loads it without
//! panicking, except the files listed in [`OnPurpose`], which the reference loads but would
//! run wrongly. A refusal is an error naming the file, never a panic. Where both load, a
//! few texts encode to the same ids.

use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use tensor::Rng;
use tokenizers::models::ModelWrapper;
use tokenizers::Model;

const CASES: usize = 600;
const SEED: u64 = 20_251_207;

/// Files the reference loads that we refuse on purpose, each with the words our error
/// must hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum OnPurpose {
    /// A model (BPE, WordPiece, WordLevel) names an `unk_token` its vocabulary lacks: the
    /// reference loads it, then fails to encode any text with a symbol outside the
    /// vocabulary (`MissingUnkToken`, `UnkTokenOutOfVocabulary`) instead of using it.
    UnknownTokenMissing,
    /// A BPE model without merges (and without `ignore_merges`) whose vocabulary holds a
    /// token that only a merge makes: the merges were lost, and the reference silently
    /// splits every word into characters (`bpe_without_merges_tokenizes_differently`).
    MergesLost,
}

impl OnPurpose {
    fn words(self) -> &'static str {
        match self {
            OnPurpose::UnknownTokenMissing => "is not in the vocabulary",
            OnPurpose::MergesLost => "\"merges\" is empty",
        }
    }
}

/// Why we refuse a file the reference loaded as `t`, if we do: the rules of [`OnPurpose`],
/// written from their definition (not from nn's code).
fn on_purpose(t: &tokenizers::Tokenizer, json: &Value) -> Option<OnPurpose> {
    let model = &json["model"];
    let unk = model["unk_token"].as_str();
    let names_unk = match t.get_model() {
        ModelWrapper::BPE(_) | ModelWrapper::WordPiece(_) | ModelWrapper::WordLevel(_) => true,
        ModelWrapper::Unigram(_) => false,
    };
    if names_unk && unk.is_some_and(|u| t.get_model().token_to_id(u).is_none()) {
        return Some(OnPurpose::UnknownTokenMissing);
    }
    let ModelWrapper::BPE(bpe) = t.get_model() else { return None };
    let merges = model["merges"].as_array().expect("a loaded BPE model has merges");
    let no_merges = merges.iter().all(|m| m.as_str().is_some_and(|s| s.starts_with("#version")));
    if !no_merges || bpe.ignore_merges {
        return None;
    }
    let vocab = bpe.get_vocab();
    let prefix = bpe.continuing_subword_prefix.clone().unwrap_or_default();
    let suffix = bpe.end_of_word_suffix.clone().unwrap_or_default();
    let added: Vec<String> =
        t.get_added_tokens_decoder().into_values().map(|a| a.content).collect();
    let lost = vocab.keys().any(|tok| {
        // made without merges: one character (with the prefix and suffix a word's
        // characters get), the unknown token, a byte-fallback token, an added token
        let bare = tok.strip_prefix(prefix.as_str()).unwrap_or(tok);
        let bare = bare.strip_suffix(suffix.as_str()).unwrap_or(bare);
        let byte = bpe.byte_fallback && (0..=255u8).any(|b| *tok == format!("<0x{b:02X}>"));
        let made = bare.chars().count() == 1
            || byte
            || bpe.unk_token.as_deref() == Some(tok.as_str())
            || added.contains(tok);
        // made by a merge of two tokens of the vocabulary
        let merged = (1..tok.len()).filter(|&k| tok.is_char_boundary(k)).any(|k| {
            vocab.contains_key(&tok[..k]) && vocab.contains_key(&format!("{prefix}{}", &tok[k..]))
        });
        !made && merged
    });
    lost.then_some(OnPurpose::MergesLost)
}

// ---------------------------------------------------------------------------------------
// Generated tokenizer.json texts.

fn pick<T: Clone>(rng: &mut Rng, items: &[T]) -> T {
    items[rng.below(items.len())].clone()
}

fn chance(rng: &mut Rng, p: f64) -> bool {
    rng.uniform() < p
}

/// GPT-2's byte-level alphabet: the character each byte is written as.
fn byte_level_alphabet() -> Vec<char> {
    let printable = |b: u32| {
        (b'!' as u32..=b'~' as u32).contains(&b)
            || (0xA1..=0xAC).contains(&b)
            || (0xAE..=0xFF).contains(&b)
    };
    let mut extra = 0;
    (0..256u32)
        .map(|b| {
            if printable(b) {
                char::from_u32(b).unwrap()
            } else {
                extra += 1;
                char::from_u32(255 + extra).unwrap()
            }
        })
        .collect()
}

/// A vocabulary in insertion order (ids 0, 1, ...), each token once.
#[derive(Default)]
struct Vocab(Vec<String>);

impl Vocab {
    fn add(&mut self, t: impl Into<String>) {
        let t = t.into();
        if !self.0.contains(&t) {
            self.0.push(t);
        }
    }
    fn to_json(&self) -> Value {
        Value::Object(self.0.iter().enumerate().map(|(i, t)| (t.clone(), json!(i))).collect())
    }
}

/// Special tokens a file may hold in its vocabulary and list as added tokens.
const SPECIALS: [&str; 4] = ["<s>", "</s>", "<|endoftext|>", "[SEP]"];

/// What a generated model leaves to the rest of the file.
struct GenModel {
    json: Value,
    /// Tokens of the vocabulary that may be listed as added tokens.
    specials: Vec<String>,
    byte_level: bool,
}

fn bpe(rng: &mut Rng) -> GenModel {
    let byte_level = chance(rng, 0.3);
    let prefix = (!byte_level && chance(rng, 0.25)).then_some("##");
    let suffix = (!byte_level && chance(rng, 0.2)).then_some("</w>");
    let alphabet: Vec<char> = if byte_level {
        byte_level_alphabet()
    } else {
        "abcdeéßx ".chars().filter(|_| chance(rng, 0.8)).collect()
    };
    let mut v = Vocab::default();
    for c in &alphabet {
        v.add(c.to_string());
        if let Some(p) = prefix {
            v.add(format!("{p}{c}"));
        }
        if let Some(s) = suffix {
            v.add(format!("{c}{s}"));
            v.add(format!("{}{c}{s}", prefix.unwrap_or("")));
        }
    }
    // Merges over what is there: `a` with a token `b` that continues a word.
    let mut merges: Vec<(String, String)> = vec![];
    for _ in 0..rng.below(10) {
        if v.0.is_empty() {
            break;
        }
        let a = pick(rng, &v.0);
        let b = pick(rng, &v.0);
        let plen = prefix.map_or(0, str::len);
        if suffix.is_some_and(|s| a.ends_with(s))
            || prefix.is_some_and(|p| !b.starts_with(p))
            || merges.iter().any(|(x, y)| *x == a && *y == b)
        {
            continue;
        }
        v.add(format!("{a}{}", &b[plen..]));
        merges.push((a, b));
    }
    let mut specials = vec![];
    for s in SPECIALS {
        if chance(rng, 0.3) {
            v.add(s);
            specials.push(s.to_string());
        }
    }
    let byte_fallback = chance(rng, 0.15);
    if byte_fallback {
        for b in 0..=255u8 {
            v.add(format!("<0x{b:02X}>"));
        }
    }
    let unk = match rng.below(4) {
        0 => {
            v.add("<unk>");
            json!("<unk>")
        }
        1 => json!("<oov>"), // not in the vocabulary
        _ => Value::Null,
    };
    if chance(rng, 0.05) {
        v.0.clear();
        merges.clear();
        specials.clear();
    }
    // Merges kept, emptied, dropped or written in the legacy "a b" form.
    let legacy = merges.iter().all(|(a, b)| !a.contains(' ') && !b.contains(' '));
    let merges_json = match rng.below(8) {
        0 | 1 => Some(json!([])),
        2 => None,
        3 if legacy => Some(json!(["#version: 0.2"])),
        4 | 5 if legacy => {
            let mut l: Vec<Value> = merges.iter().map(|(a, b)| json!(format!("{a} {b}"))).collect();
            if chance(rng, 0.3) {
                l.insert(0, json!("#version: 0.2"));
            }
            Some(Value::Array(l))
        }
        _ => Some(json!(merges)),
    };
    let mut m = Map::new();
    if chance(rng, 0.9) {
        m.insert("type".into(), json!("BPE"));
    }
    m.insert("dropout".into(), pick(rng, &[Value::Null, json!(0.0)]));
    m.insert("unk_token".into(), unk);
    m.insert("continuing_subword_prefix".into(), json!(prefix));
    m.insert("end_of_word_suffix".into(), json!(suffix));
    m.insert("fuse_unk".into(), json!(chance(rng, 0.5)));
    m.insert("byte_fallback".into(), json!(byte_fallback));
    if chance(rng, 0.8) {
        m.insert("ignore_merges".into(), json!(chance(rng, 0.3)));
    }
    m.insert("vocab".into(), v.to_json());
    if let Some(mj) = merges_json {
        m.insert("merges".into(), mj);
    }
    GenModel { json: Value::Object(m), specials, byte_level }
}

const WORDS: [&str; 8] = ["the", "cat", "sat", "on", "a", "mat", "ab", "é"];

fn word_level(rng: &mut Rng) -> GenModel {
    let mut v = Vocab::default();
    for w in WORDS {
        if chance(rng, 0.7) {
            v.add(w);
        }
    }
    let mut specials = vec![];
    for s in SPECIALS {
        if chance(rng, 0.3) {
            v.add(s);
            specials.push(s.to_string());
        }
    }
    let mut m = Map::new();
    m.insert("type".into(), json!("WordLevel"));
    match rng.below(3) {
        0 => {
            v.add("<unk>");
            m.insert("unk_token".into(), json!("<unk>"));
        }
        1 => {
            m.insert("unk_token".into(), json!("[UNK]")); // maybe not in the vocabulary
        }
        _ => {} // the crate's default, "<unk>"
    }
    if chance(rng, 0.5) {
        v.add("[UNK]");
    }
    m.insert("vocab".into(), v.to_json());
    GenModel { json: Value::Object(m), specials, byte_level: false }
}

fn word_piece(rng: &mut Rng) -> GenModel {
    let mut v = Vocab::default();
    for w in WORDS {
        if chance(rng, 0.7) {
            v.add(w);
        }
    }
    for p in ["##t", "##s", "##at", "##é", "##b"] {
        if chance(rng, 0.6) {
            v.add(p);
        }
    }
    let mut specials = vec![];
    for s in SPECIALS {
        if chance(rng, 0.3) {
            v.add(s);
            specials.push(s.to_string());
        }
    }
    if chance(rng, 0.75) {
        v.add("[UNK]");
    }
    let mut m = Map::new();
    m.insert("type".into(), json!("WordPiece"));
    m.insert("unk_token".into(), json!("[UNK]"));
    m.insert("continuing_subword_prefix".into(), json!("##"));
    m.insert("max_input_chars_per_word".into(), json!(pick(rng, &[100, 3])));
    m.insert("vocab".into(), v.to_json());
    GenModel { json: Value::Object(m), specials, byte_level: false }
}

fn unigram(rng: &mut Rng) -> GenModel {
    let mut pieces = vec![json!(["<unk>", 0.0])];
    for (i, w) in WORDS.iter().chain(["t", "h", "e", "c", "a", "s", "▁"].iter()).enumerate() {
        if chance(rng, 0.8) {
            pieces.push(json!([w, -1.0 - i as f64 * 0.5]));
        }
    }
    let unk_id = pick(rng, &[json!(0), Value::Null, json!(pieces.len() + 3)]);
    let json = json!({"type": "Unigram", "unk_id": unk_id, "vocab": pieces,
                      "byte_fallback": false});
    GenModel { json, specials: vec![], byte_level: false }
}

/// A whole tokenizer.json around one of the models.
fn tokenizer_json(rng: &mut Rng) -> Value {
    let model = match rng.below(10) {
        0..=5 => bpe(rng),
        6 => word_level(rng),
        7 => word_piece(rng),
        _ => unigram(rng),
    };
    let mut added = vec![];
    for s in &model.specials {
        if chance(rng, 0.7) {
            let id = model.json["vocab"][s].as_u64().unwrap();
            added.push(added_token(rng, id as usize, s));
        }
    }
    if chance(rng, 0.3) {
        // an added token outside the model's vocabulary
        let id = model.json["vocab"].as_object().map_or(0, |v| v.len());
        added.push(added_token(rng, id, "<extra>"));
    }
    let byte_level = json!({"type": "ByteLevel", "add_prefix_space": false,
                            "trim_offsets": true, "use_regex": true});
    let (pre, decoder) = if model.byte_level {
        (byte_level.clone(), byte_level.clone())
    } else {
        let pre = pick(
            rng,
            &[
                Value::Null,
                json!({"type": "Whitespace"}),
                json!({"type": "WhitespaceSplit"}),
                json!({"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always",
                       "split": true}),
            ],
        );
        let dec = pick(
            rng,
            &[
                Value::Null,
                json!({"type": "BPEDecoder", "suffix": "</w>"}),
                json!({"type": "WordPiece", "prefix": "##", "cleanup": true}),
            ],
        );
        (pre, dec)
    };
    let normalizer =
        pick(rng, &[Value::Null, json!({"type": "Lowercase"}), json!({"type": "NFC"})]);
    let post = match model.specials.first() {
        Some(s) if chance(rng, 0.5) => {
            let id = model.json["vocab"][s].as_u64().unwrap();
            json!({"type": "TemplateProcessing",
                   "single": [{"SpecialToken": {"id": s, "type_id": 0}},
                              {"Sequence": {"id": "A", "type_id": 0}}],
                   "pair": [{"Sequence": {"id": "A", "type_id": 0}},
                            {"Sequence": {"id": "B", "type_id": 1}}],
                   "special_tokens": {s.as_str(): {"id": s, "ids": [id], "tokens": [s]}}})
        }
        _ if model.byte_level && chance(rng, 0.5) => byte_level,
        _ => Value::Null,
    };
    let mut top = Map::new();
    if chance(rng, 0.9) {
        top.insert("version".into(), json!("1.0"));
    }
    top.insert("truncation".into(), Value::Null);
    top.insert("padding".into(), Value::Null);
    top.insert("added_tokens".into(), Value::Array(added));
    top.insert("normalizer".into(), normalizer);
    top.insert("pre_tokenizer".into(), pre);
    top.insert("post_processor".into(), post);
    top.insert("decoder".into(), decoder);
    top.insert("model".into(), model.json);
    Value::Object(top)
}

fn added_token(rng: &mut Rng, id: usize, content: &str) -> Value {
    json!({"id": id, "content": content, "single_word": false, "lstrip": false,
           "rstrip": false, "normalized": chance(rng, 0.3), "special": chance(rng, 0.7)})
}

// ---------------------------------------------------------------------------------------
// Broken variants.

/// Values of every JSON kind, for fields of the wrong type.
fn odd_value(rng: &mut Rng) -> Value {
    pick(
        rng,
        &[
            Value::Null,
            json!(true),
            json!(7),
            json!(-1),
            json!(4_294_967_296u64),
            json!(1.5),
            json!("x"),
            json!("ByteLevel"),
            json!([]),
            json!(["a"]),
            json!(["a", "b"]),
            json!({}),
            json!({"type": "ByteLevel"}),
            json!({"type": "Nope"}),
        ],
    )
}

/// One JSON node (a top-level field, a model field, an entry of the vocabulary, merges or
/// added tokens) replaced by a value of another kind, or removed.
fn break_node(rng: &mut Rng, doc: &mut Value) {
    let remove = chance(rng, 0.3);
    let target: &mut Value = match rng.below(5) {
        0 => doc,
        1 | 2 => &mut doc["model"],
        3 => match rng.below(3) {
            0 => &mut doc["model"]["vocab"],
            1 => &mut doc["model"]["merges"],
            _ => &mut doc["added_tokens"],
        },
        _ => {
            let list = &mut doc["added_tokens"];
            match list.as_array().map_or(0, Vec::len) {
                0 => &mut doc["model"],
                n => &mut list[rng.below(n)],
            }
        }
    };
    match target {
        Value::Object(m) if !m.is_empty() => {
            let keys: Vec<String> = m.keys().cloned().collect();
            let k = pick(rng, &keys);
            if remove {
                m.remove(&k);
            } else {
                m.insert(k, odd_value(rng));
            }
        }
        Value::Array(l) if !l.is_empty() => {
            let i = rng.below(l.len());
            if remove {
                l.remove(i);
            } else {
                l[i] = odd_value(rng);
            }
        }
        other => *other = odd_value(rng),
    }
}

/// The text cut at a character boundary, or a stray character inserted.
fn break_text(rng: &mut Rng, text: &str) -> String {
    let mut at = rng.below(text.len() + 1);
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    if chance(rng, 0.6) {
        text[..at].to_string()
    } else {
        let stray = pick(rng, &['\u{1}', '"', ',', '}', '\\', '[']);
        format!("{}{stray}{}", &text[..at], &text[at..])
    }
}

// ---------------------------------------------------------------------------------------

const TEXTS: [&str; 7] = [
    "",
    "ab abc aab",
    "the cat sat on a mat",
    "The Cat  é ß x<s>y",
    "hello <|endoftext|> world [SEP]",
    "abcde edcba <unk> <extra>",
    "12 ☃ \u{1}\n\t",
];

/// What the reference made of a text: the tokenizer, an error, or a panic.
enum Reference {
    Loaded(Box<tokenizers::Tokenizer>),
    Refused(String),
    Panicked,
}

fn reference(text: &str) -> Reference {
    match catch_unwind(|| text.parse::<tokenizers::Tokenizer>()) {
        Ok(Ok(t)) => Reference::Loaded(Box::new(t)),
        Ok(Err(e)) => Reference::Refused(e.to_string()),
        Err(_) => Reference::Panicked,
    }
}

#[test]
fn from_json_accepts_exactly_what_the_reference_loads() {
    let mut rng = Rng::new(SEED);
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    let mut failures: Vec<String> = vec![];
    for case in 0..CASES {
        let mut doc = tokenizer_json(&mut rng);
        let what = match rng.below(10) {
            0..=5 => "whole",
            6 | 7 => {
                break_node(&mut rng, &mut doc);
                "node broken"
            }
            _ => "text broken",
        };
        let mut text = doc.to_string();
        if what == "text broken" {
            text = break_text(&mut rng, &text);
        }
        let name = format!("case-{case}.json");
        let ours =
            catch_unwind(AssertUnwindSafe(|| nn::Tokenizer::from_json(&text, Path::new(&name))));
        let Ok(ours) = ours else {
            failures.push(format!("{name}: from_json panicked\n{text}"));
            continue;
        };
        let mut fail = |m: String| {
            let shown: String = text.chars().take(1500).collect();
            failures.push(format!("{name} ({what}): {m}\n  text: {shown}"));
        };
        let model = doc["model"]["type"].as_str().unwrap_or("untyped").to_string();
        match (reference(&text), ours) {
            (Reference::Loaded(t), Ok(ours)) => {
                if let Some(p) = on_purpose(&t, &doc) {
                    fail(format!("accepted, but should be refused on purpose ({p:?})"));
                    continue;
                }
                *counts.entry(format!("both load ({model})")).or_default() += 1;
                if bpe_without_merges_holding_multi_char_tokens(&t, &doc) {
                    *counts
                        .entry("both load: BPE, no merges, multi-char tokens".into())
                        .or_default() += 1;
                }
                for s in TEXTS {
                    for special in [false, true] {
                        let want = t.encode(s, special).map(|e| e.get_ids().to_vec());
                        let got = ours.encode(s, special);
                        match (&want, &got) {
                            (Ok(a), Ok(b)) if a == b => {}
                            (Err(_), Err(_)) => {}
                            _ => fail(format!(
                                "{s:?} (special {special}): reference {want:?}, ours {got:?}"
                            )),
                        }
                    }
                }
            }
            (Reference::Loaded(t), Err(e)) => {
                let e = e.to_string();
                match on_purpose(&t, &doc) {
                    Some(p) if e.contains(&name) && e.contains(p.words()) => {
                        *counts.entry(format!("refused on purpose: {p:?}")).or_default() += 1;
                    }
                    Some(p) => {
                        fail(format!("refused on purpose ({p:?}) with the wrong error: {e}"))
                    }
                    None => fail(format!("the reference loads it, we refuse it: {e}")),
                }
            }
            (Reference::Refused(r), Ok(_)) => {
                fail(format!("the reference refuses it ({r}), we accept it"))
            }
            (Reference::Panicked, Ok(_)) => fail("the reference panics on it, we accept it".into()),
            (r, Err(e)) => {
                let e = e.to_string();
                if !e.contains(&name) {
                    fail(format!("the error does not name the file: {e}"));
                }
                let how = if matches!(r, Reference::Panicked) { "panics" } else { "errs" };
                *counts.entry(format!("both refuse (reference {how})")).or_default() += 1;
            }
        }
    }
    let report: Vec<String> = counts.iter().map(|(k, n)| format!("  {k}: {n}")).collect();
    println!("{CASES} cases:\n{}", report.join("\n"));
    assert!(
        failures.is_empty(),
        "{} of {CASES} cases differ:\n{}\n\ncounts:\n{}",
        failures.len(),
        failures.iter().take(8).cloned().collect::<Vec<_>>().join("\n\n"),
        report.join("\n")
    );
    // The generator reaches every kind of case, so none of the checks above is idle.
    for (kind, min) in [
        ("both load (BPE)", 50),
        ("both load (WordLevel)", 5),
        ("both load (WordPiece)", 5),
        ("both load (Unigram)", 5),
        ("both load: BPE, no merges, multi-char tokens", 10),
        ("both refuse (reference errs)", 50),
        ("both refuse (reference panics)", 1),
        ("refused on purpose: UnknownTokenMissing", 5),
        ("refused on purpose: MergesLost", 5),
    ] {
        let n = counts.get(kind).copied().unwrap_or(0);
        assert!(
            n >= min,
            "only {n} cases of {kind:?} (at least {min} wanted):\n{}",
            report.join("\n")
        );
    }
}

/// A loaded BPE model without merges whose vocabulary holds a token of several
/// characters (`<unk>`, `<s>`, `##a`, `<0x41>` ...): the files the old check refused.
fn bpe_without_merges_holding_multi_char_tokens(t: &tokenizers::Tokenizer, doc: &Value) -> bool {
    let ModelWrapper::BPE(bpe) = t.get_model() else { return false };
    let merges = doc["model"]["merges"].as_array().map_or(0, |m| {
        m.iter().filter(|m| !m.as_str().is_some_and(|s| s.starts_with("#version"))).count()
    });
    merges == 0 && bpe.get_vocab().keys().any(|t| t.chars().count() > 1)
}

/// Why [`OnPurpose::MergesLost`] is refused: the reference loads the file and silently
/// tokenizes without the merged token.
#[test]
fn bpe_without_merges_tokenizes_differently() {
    let file = |merges: Value| {
        json!({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": merges}})
            .to_string()
    };
    let ids = |text: &str| {
        let t: tokenizers::Tokenizer = text.parse().unwrap();
        t.encode("ab", false).unwrap().get_ids().to_vec()
    };
    assert_eq!(ids(&file(json!([["a", "b"]]))), [2]);
    assert_eq!(ids(&file(json!([]))), [0, 1]);
    let e = nn::Tokenizer::from_json(&file(json!([])), Path::new("lost.json")).err().unwrap();
    assert!(e.to_string().contains("lost.json") && e.to_string().contains("\"ab\""), "{e}");
    // Multi-character tokens a BPE model makes without merges are no reason to refuse.
    let ok = json!({"model": {"type": "BPE", "unk_token": "<unk>", "byte_fallback": true,
        "continuing_subword_prefix": "##", "merges": [],
        "vocab": {"<unk>": 0, "a": 1, "##a": 2, "<0x41>": 3, "<s>": 4}},
        "added_tokens": [{"id": 4, "content": "<s>", "single_word": false, "lstrip": false,
                          "rstrip": false, "normalized": false, "special": true}]});
    nn::Tokenizer::from_json(&ok.to_string(), Path::new("ok.json")).unwrap();
}

/// Merges the crate panics on (rather than returning an error) are refused before it sees
/// them, with the merge named.
#[test]
fn merges_the_crate_panics_on_are_errors() {
    for (prefix, vocab, merge, words) in [
        // the merged token is longer than any token of the vocabulary
        (Value::Null, json!({"a": 0, "b": 1}), json!(["a", "b"]), "\"ab\", which is not in"),
        // the second token is shorter than the continuing_subword_prefix
        (json!("##"), json!({"a": 0, "b": 1, "ab": 2}), json!(["a", "b"]), "shorter than"),
    ] {
        let text = json!({"model": {"type": "BPE", "continuing_subword_prefix": prefix,
                                    "vocab": vocab, "merges": [merge]}})
        .to_string();
        assert!(matches!(reference(&text), Reference::Panicked), "{text}");
        let e = nn::Tokenizer::from_json(&text, Path::new("panics.json")).err().unwrap();
        let e = e.to_string();
        assert!(e.contains("panics.json") && e.contains("merges[0]") && e.contains(words), "{e}");
    }
}
