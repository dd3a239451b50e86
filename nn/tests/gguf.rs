//! GGUF: block decoders against llama.cpp's Python implementation, and clear errors for
//! broken files.

use nn::gguf::quant::dequantize;
use nn::gguf::{GgmlType, GgufFile};
use tensor::{DType, Device, Rng, Tensor};

fn tmp(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("lawcat-gguf-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d.join(name)
}

#[test]
fn block_decoders_match_llama_cpp() {
    let data: serde_json::Value =
        serde_json::from_str(include_str!("data/ggml_blocks.json")).unwrap();
    let kinds = [
        ("Q4_0", GgmlType::Q4_0),
        ("Q4_1", GgmlType::Q4_1),
        ("Q5_0", GgmlType::Q5_0),
        ("Q5_1", GgmlType::Q5_1),
        ("Q8_0", GgmlType::Q8_0),
        ("Q2_K", GgmlType::Q2K),
        ("Q3_K", GgmlType::Q3K),
        ("Q4_K", GgmlType::Q4K),
        ("Q5_K", GgmlType::Q5K),
        ("Q6_K", GgmlType::Q6K),
    ];
    for (name, kind) in kinds {
        let hex = data[name]["bytes"].as_str().unwrap();
        let bytes: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        let want: Vec<f32> = data[name]["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap() as f32)
            .collect();
        let got = dequantize(kind, &bytes, want.len()).unwrap();
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            // gguf-py computes in f32 too, but may associate the scale products differently.
            assert!((g - w).abs() <= 1e-6 * w.abs().max(1e-3), "{name}[{i}]: {g} vs {w}");
        }
    }
    assert!(dequantize(GgmlType::Q4_0, &[0u8; 17], 32).is_err());
}

/// A GGUF file with the given metadata bytes and one tensor of `kind` (ggml type number).
fn gguf_bytes(kind: u32, data: &[u8], magic: &[u8; 4]) -> Vec<u8> {
    let mut b = vec![];
    b.extend(magic);
    b.extend(3u32.to_le_bytes());
    b.extend(1u64.to_le_bytes()); // tensors
    b.extend(1u64.to_le_bytes()); // metadata
    let key = "general.architecture";
    b.extend((key.len() as u64).to_le_bytes());
    b.extend(key.as_bytes());
    b.extend(8u32.to_le_bytes());
    b.extend(5u64.to_le_bytes());
    b.extend(b"llama");
    let name = "token_embd.weight";
    b.extend((name.len() as u64).to_le_bytes());
    b.extend(name.as_bytes());
    b.extend(2u32.to_le_bytes());
    b.extend(32u64.to_le_bytes());
    b.extend(1u64.to_le_bytes());
    b.extend(kind.to_le_bytes());
    b.extend(0u64.to_le_bytes());
    while b.len() % 32 != 0 {
        b.push(0);
    }
    b.extend(data);
    b
}

#[test]
fn a_small_hand_written_file_reads_back() {
    let vals: Vec<f32> = (0..32).map(|i| i as f32 * 0.5).collect();
    let data: Vec<u8> = vals.iter().flat_map(|v| v.to_le_bytes()).collect();
    let p = tmp("ok.gguf");
    std::fs::write(&p, gguf_bytes(0, &data, b"GGUF")).unwrap();
    let g = GgufFile::open(&p).unwrap();
    assert_eq!(g.get("general.architecture").unwrap().as_str(), Some("llama"));
    let t = g.tensor("token_embd.weight").unwrap();
    assert_eq!(t.dims(), &[1, 32]);
    assert_eq!(t.to_vec::<f32>().unwrap(), vals);
}

#[test]
fn broken_files_are_clear_errors() {
    let data = vec![0u8; 128];
    let p = tmp("magic.gguf");
    std::fs::write(&p, gguf_bytes(0, &data, b"GGUX")).unwrap();
    let e = GgufFile::open(&p).err().unwrap().to_string();
    assert!(e.contains("magic.gguf") && e.contains("not a GGUF file"), "{e}");

    let p = tmp("quant.gguf");
    std::fs::write(&p, gguf_bytes(19, &data, b"GGUF")).unwrap();
    let e = GgufFile::open(&p).err().unwrap().to_string();
    assert!(
        e.contains("quant.gguf") && e.contains("ggml type 19") && e.contains("token_embd.weight"),
        "{e}"
    );

    let p = tmp("short.gguf");
    let full = gguf_bytes(0, &data, b"GGUF");
    std::fs::write(&p, &full[..full.len() - 100]).unwrap();
    let e = GgufFile::open(&p).err().unwrap().to_string();
    assert!(e.contains("short.gguf") && e.contains("truncated"), "{e}");

    let p = tmp("header.gguf");
    std::fs::write(&p, &full[..40]).unwrap();
    let e = GgufFile::open(&p).err().unwrap().to_string();
    assert!(e.contains("header.gguf") && e.contains("truncated"), "{e}");

    // A GGUF that is not a Llama model cannot be converted.
    let p = tmp("notllama.gguf");
    let mut b = gguf_bytes(0, &data, b"GGUF");
    let at = b.windows(5).position(|w| w == b"llama").unwrap();
    b[at..at + 5].copy_from_slice(b"gemma");
    std::fs::write(&p, &b).unwrap();
    let e = nn::load_model(&p).err().unwrap().to_string();
    assert!(e.contains("notllama.gguf") && e.contains("gemma"), "{e}");
}

#[test]
fn unpermute_inverts_llama_cpp_permute() {
    // llama.cpp's converter: reshape [heads, 2, d/2, in], swap axes 1 and 2.
    let (heads, d, inp) = (3, 8, 5);
    let w =
        Tensor::randn([heads * d, inp], 1.0, DType::F32, &Device::Cpu, &mut Rng::new(1)).unwrap();
    let permuted = w
        .reshape([heads, 2, d / 2, inp])
        .unwrap()
        .transpose(1, 2)
        .unwrap()
        .contiguous()
        .unwrap()
        .reshape([heads * d, inp])
        .unwrap();
    let back = nn::gguf::convert::unpermute_qk(&permuted, heads).unwrap();
    assert_eq!(back.to_vec::<f32>().unwrap(), w.to_vec::<f32>().unwrap());
    assert_eq!(
        nn::gguf::convert::hf_name("blk.7.attn_k.weight").unwrap(),
        "model.layers.7.self_attn.k_proj.weight"
    );
    assert_eq!(
        nn::gguf::convert::hf_name("blk.0.ffn_norm.weight").unwrap(),
        "model.layers.0.post_attention_layernorm.weight"
    );
    assert!(nn::gguf::convert::hf_name("rope_freqs.weight").is_none());
}
