//! GGUF files written from a description, for tests that need well-formed files and
//! files broken in one exact way (a dim, an offset, a type, a metadata value), and for
//! the fuzz harness's seed. [`GgufSpec::small_llama`] is a 2-layer Llama (hidden 256, so
//! the K-quants fit) with every tensor type the reader knows and a byte-level BPE
//! tokenizer; its weights are deterministic bytes with small f16 scales (finite values,
//! meaningless model).

use tensor::Rng;

/// A metadata value (the GGUF value types the tests need).
#[derive(Clone, Debug)]
pub enum Meta {
    U32(u32),
    U64(u64),
    F32(f32),
    Str(String),
    Strs(Vec<String>),
    I32s(Vec<i32>),
}

/// One entry of the tensor table.
#[derive(Clone, Debug)]
pub struct TensorSpec {
    pub name: String,
    /// ggml order (fastest first).
    pub dims: Vec<u64>,
    pub ty: u32,
    /// The offset written into the table (default: where the data really is).
    pub offset: Option<u64>,
    /// Bytes of data actually written (default: what dims and type say, 0 when that
    /// overflows).
    pub data_len: Option<usize>,
}

#[derive(Clone, Debug)]
pub struct GgufSpec {
    pub metadata: Vec<(String, Meta)>,
    pub tensors: Vec<TensorSpec>,
}

/// GPT-2's byte-level alphabet: the character each byte is written as.
pub fn byte_level_alphabet() -> Vec<char> {
    let printable = |b: u32| {
        (b'!' as u32..=b'~' as u32).contains(&b)
            || (0xA1..=0xAC).contains(&b)
            || (0xAE..=0xFF).contains(&b)
    };
    let mut extra = 0;
    (0..256u32)
        .map(|b| {
            if printable(b) {
                char::from_u32(b).expect("a Latin-1 char")
            } else {
                extra += 1;
                char::from_u32(255 + extra).expect("a char")
            }
        })
        .collect()
}

/// (values per block, bytes per block) of a ggml type number; `None` when unknown.
fn block(ty: u32) -> Option<(u64, u64)> {
    nn::gguf::GgmlType::from_u32(ty).map(|k| {
        let (a, b) = k.block();
        (a as u64, b as u64)
    })
}

impl GgufSpec {
    /// The small Llama described in the module doc: vocabulary 300 (256 bytes, 42 merged
    /// letter pairs, `<s>`, `</s>`).
    pub fn small_llama() -> GgufSpec {
        let (hidden, ffn, heads, kv_heads, vocab) = (256u64, 256u64, 4u64, 2u64, 300usize);
        let mut tokens: Vec<String> = byte_level_alphabet().iter().map(|c| c.to_string()).collect();
        let mut merges = vec![];
        let letters: Vec<char> = ('a'..='z').collect();
        let mut i = 0;
        while tokens.len() < vocab - 2 {
            let (a, b) = (letters[(i / 26) % 26], letters[i % 26]);
            i += 1;
            let t = format!("{a}{b}");
            if !tokens.contains(&t) {
                tokens.push(t);
                merges.push(format!("{a} {b}"));
            }
        }
        tokens.push("<s>".into());
        tokens.push("</s>".into());
        let types: Vec<i32> = (0..vocab).map(|i| if i >= vocab - 2 { 3 } else { 1 }).collect();
        let t = |name: String, dims: Vec<u64>, ty: u32| TensorSpec {
            name,
            dims,
            ty,
            offset: None,
            data_len: None,
        };
        let mut tensors = vec![
            t("token_embd.weight".into(), vec![hidden, vocab as u64], 1),
            t("output_norm.weight".into(), vec![hidden], 0),
            t("output.weight".into(), vec![hidden, vocab as u64], 3),
        ];
        let hd = hidden / heads;
        for l in 0..2 {
            let p = |n: &str| format!("blk.{l}.{n}.weight");
            tensors.extend([
                t(p("attn_norm"), vec![hidden], 0),
                t(p("attn_q"), vec![hidden, hidden], 12),
                t(p("attn_k"), vec![hidden, kv_heads * hd], 13),
                t(p("attn_v"), vec![hidden, kv_heads * hd], 14),
                t(p("attn_output"), vec![hidden, hidden], 11),
                t(p("ffn_norm"), vec![hidden], 0),
                t(p("ffn_gate"), vec![hidden, ffn], 10),
                t(p("ffn_up"), vec![hidden, ffn], 8),
                t(p("ffn_down"), vec![ffn, hidden], if l == 0 { 2 } else { 30 }),
            ]);
        }
        let m = |k: &str, v: Meta| (k.to_string(), v);
        let metadata = vec![
            m("general.architecture", Meta::Str("llama".into())),
            m("general.alignment", Meta::U32(32)),
            m("llama.block_count", Meta::U32(2)),
            m("llama.context_length", Meta::U32(512)),
            m("llama.embedding_length", Meta::U32(hidden as u32)),
            m("llama.feed_forward_length", Meta::U32(ffn as u32)),
            m("llama.attention.head_count", Meta::U32(heads as u32)),
            m("llama.attention.head_count_kv", Meta::U32(kv_heads as u32)),
            m("llama.rope.freq_base", Meta::F32(10000.0)),
            m("llama.attention.layer_norm_rms_epsilon", Meta::F32(1e-5)),
            m("llama.vocab_size", Meta::U32(vocab as u32)),
            m("tokenizer.ggml.model", Meta::Str("gpt2".into())),
            m("tokenizer.ggml.pre", Meta::Str("smollm".into())),
            m("tokenizer.ggml.tokens", Meta::Strs(tokens)),
            m("tokenizer.ggml.token_type", Meta::I32s(types)),
            m("tokenizer.ggml.merges", Meta::Strs(merges)),
            m("tokenizer.ggml.bos_token_id", Meta::U32(vocab as u32 - 2)),
            m("tokenizer.ggml.eos_token_id", Meta::U32(vocab as u32 - 1)),
            m("general.name", Meta::Str("test model".into())),
            m("general.quantization_version", Meta::U32(2)),
        ];
        GgufSpec { metadata, tensors }
    }

    /// Sets (or adds) a metadata value.
    pub fn set(&mut self, key: &str, v: Meta) -> &mut Self {
        match self.metadata.iter_mut().find(|(k, _)| k == key) {
            Some(e) => e.1 = v,
            None => self.metadata.push((key.to_string(), v)),
        }
        self
    }
    pub fn remove(&mut self, key: &str) -> &mut Self {
        self.metadata.retain(|(k, _)| k != key);
        self
    }
    pub fn tensor(&mut self, name: &str) -> &mut TensorSpec {
        self.tensors
            .iter_mut()
            .find(|t| t.name == name)
            .unwrap_or_else(|| panic!("no tensor {name} in the spec"))
    }

    /// The file's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b: Vec<u8> = b"GGUF".to_vec();
        let u32 = |b: &mut Vec<u8>, v: u32| b.extend(v.to_le_bytes());
        let u64 = |b: &mut Vec<u8>, v: u64| b.extend(v.to_le_bytes());
        let str = |b: &mut Vec<u8>, s: &str| {
            b.extend((s.len() as u64).to_le_bytes());
            b.extend(s.as_bytes());
        };
        u32(&mut b, 3);
        u64(&mut b, self.tensors.len() as u64);
        u64(&mut b, self.metadata.len() as u64);
        for (k, v) in &self.metadata {
            str(&mut b, k);
            match v {
                Meta::U32(x) => {
                    u32(&mut b, 4);
                    u32(&mut b, *x);
                }
                Meta::U64(x) => {
                    u32(&mut b, 10);
                    u64(&mut b, *x);
                }
                Meta::F32(x) => {
                    u32(&mut b, 6);
                    u32(&mut b, x.to_bits());
                }
                Meta::Str(s) => {
                    u32(&mut b, 8);
                    str(&mut b, s);
                }
                Meta::Strs(list) => {
                    u32(&mut b, 9);
                    u32(&mut b, 8);
                    u64(&mut b, list.len() as u64);
                    for s in list {
                        str(&mut b, s);
                    }
                }
                Meta::I32s(list) => {
                    u32(&mut b, 9);
                    u32(&mut b, 5);
                    u64(&mut b, list.len() as u64);
                    for x in list {
                        u32(&mut b, *x as u32);
                    }
                }
            }
        }
        let lens: Vec<usize> = self
            .tensors
            .iter()
            .map(|t| {
                t.data_len.unwrap_or_else(|| {
                    let n = t.dims.iter().try_fold(1u64, |a, &d| a.checked_mul(d));
                    match (n, block(t.ty)) {
                        (Some(n), Some((bs, bb))) => {
                            (n / bs).checked_mul(bb).filter(|&x| x < 1 << 30).unwrap_or(0) as usize
                        }
                        _ => 0,
                    }
                })
            })
            .collect();
        let mut at = 0u64;
        for (t, len) in self.tensors.iter().zip(&lens) {
            str(&mut b, &t.name);
            u32(&mut b, t.dims.len() as u32);
            for d in &t.dims {
                u64(&mut b, *d);
            }
            u32(&mut b, t.ty);
            u64(&mut b, t.offset.unwrap_or(at));
            at += (*len as u64).div_ceil(32) * 32;
        }
        while b.len() % 32 != 0 {
            b.push(0);
        }
        let mut rng = Rng::new(5);
        for (i, len) in lens.iter().enumerate() {
            // byte pairs with a small high byte: any f16/bf16/f32 read from them is finite
            b.extend((0..*len).map(|j| {
                if j % 2 == 1 {
                    rng.below(0x3c) as u8
                } else {
                    rng.below(256) as u8
                }
            }));
            if i + 1 < lens.len() {
                while b.len() % 32 != 0 {
                    b.push(0);
                }
            }
        }
        b
    }
}

/// (offset, width) of every integer field of a GGUF header (counts, lengths, value types,
/// dims, tensor types and offsets; of long arrays, the first few elements), and where the
/// header ends; walked as the reader walks it. For a well-formed file only.
pub fn header_fields(b: &[u8]) -> (Vec<(usize, usize)>, usize) {
    fn u64_at(b: &[u8], p: usize) -> u64 {
        u64::from_le_bytes(b[p..p + 8].try_into().expect("8 bytes"))
    }
    fn u32_at(b: &[u8], p: usize) -> u32 {
        u32::from_le_bytes(b[p..p + 4].try_into().expect("4 bytes"))
    }
    fn value(b: &[u8], pos: &mut usize, ty: u32, fields: &mut Vec<(usize, usize)>, record: bool) {
        match ty {
            0 | 1 | 7 => *pos += 1,
            2 | 3 => *pos += 2,
            4..=6 => {
                if record {
                    fields.push((*pos, 4));
                }
                *pos += 4
            }
            8 => {
                if record {
                    fields.push((*pos, 8));
                }
                *pos += 8 + u64_at(b, *pos) as usize
            }
            9 => {
                let et = u32_at(b, *pos);
                fields.push((*pos, 4));
                fields.push((*pos + 4, 8));
                let n = u64_at(b, *pos + 4);
                *pos += 12;
                for i in 0..n {
                    value(b, pos, et, fields, i < 4);
                }
            }
            _ => *pos += 8,
        }
    }
    let mut fields = vec![(4, 4), (8, 8), (16, 8)];
    let (nt, nkv) = (u64_at(b, 8), u64_at(b, 16));
    let mut pos = 24;
    for _ in 0..nkv {
        fields.push((pos, 8));
        pos += 8 + u64_at(b, pos) as usize;
        let ty = u32_at(b, pos);
        fields.push((pos, 4));
        pos += 4;
        value(b, &mut pos, ty, &mut fields, true);
    }
    for _ in 0..nt {
        fields.push((pos, 8));
        pos += 8 + u64_at(b, pos) as usize;
        let nd = u32_at(b, pos) as usize;
        fields.push((pos, 4));
        pos += 4;
        for _ in 0..nd {
            fields.push((pos, 8));
            pos += 8;
        }
        fields.push((pos, 4));
        fields.push((pos + 4, 8));
        pos += 12;
    }
    (fields, pos)
}
