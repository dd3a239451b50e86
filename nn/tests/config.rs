//! config.json in both styles, and the errors for configs we cannot run.

use nn::{LlamaConfig, RopeScaling};
use std::path::Path;

const OLD_STYLE: &str = r#"{
  "architectures": ["LlamaForCausalLM"], "model_type": "llama",
  "hidden_size": 2048, "intermediate_size": 8192, "num_hidden_layers": 16,
  "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 64,
  "vocab_size": 128256, "rms_norm_eps": 1e-05, "hidden_act": "silu",
  "max_position_embeddings": 131072, "tie_word_embeddings": true,
  "bos_token_id": 128000, "eos_token_id": [128001, 128008, 128009],
  "torch_dtype": "bfloat16", "rope_theta": 500000.0,
  "rope_scaling": {"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                   "original_max_position_embeddings": 8192, "rope_type": "llama3"}
}"#;

const NEW_STYLE: &str = r#"{
  "architectures": ["LlamaForCausalLM"], "model_type": "llama",
  "hidden_size": 576, "intermediate_size": 1536, "num_hidden_layers": 30,
  "num_attention_heads": 9, "num_key_value_heads": 3,
  "vocab_size": 49152, "rms_norm_eps": 1e-05, "tie_word_embeddings": true,
  "dtype": "float32", "eos_token_id": 2,
  "rope_parameters": {"rope_type": "default", "rope_theta": 100000.0}
}"#;

fn parse(s: &str) -> tensor::Result<LlamaConfig> {
    LlamaConfig::from_json_str(s, Path::new("test/config.json"))
}

#[test]
fn both_styles_parse() {
    let a = parse(OLD_STYLE).unwrap();
    assert_eq!(a.head_dim, 64);
    assert_eq!(a.dtype, tensor::DType::BF16);
    assert_eq!(a.eos_token_ids, vec![128001, 128008, 128009]);
    assert_eq!(
        a.rope_scaling,
        RopeScaling::Llama3 {
            factor: 32.0,
            low_freq_factor: 1.0,
            high_freq_factor: 4.0,
            original_max_position_embeddings: 8192
        }
    );
    assert_eq!(a.num_parameters(), 1_235_814_400); // Llama-3.2-1B
    let b = parse(NEW_STYLE).unwrap();
    assert_eq!(b.head_dim, 64); // derived: 576 / 9
    assert_eq!(b.rope_theta, 100000.0);
    assert_eq!(b.rope_scaling, RopeScaling::Default);
    assert_eq!(b.num_parameters(), 134_515_008); // SmolLM2-135M

    // and back: our own writing parses to the same config
    assert_eq!(parse(&a.to_json()).unwrap(), a);
    let nested =
        NEW_STYLE.replace(r#""rope_type": "default""#, r#""rope_type": "llama3", "factor": 8.0"#);
    assert!(matches!(
        parse(&nested).unwrap().rope_scaling,
        RopeScaling::Llama3 { factor, .. } if factor == 8.0
    ));
}

#[test]
fn bad_configs_are_clear_errors() {
    let e = |s: String| parse(&s).unwrap_err().to_string();
    let msg = e(OLD_STYLE.replace(r#""num_key_value_heads": 8"#, r#""num_key_value_heads": 5"#));
    assert!(
        msg.contains("test/config.json") && msg.contains("multiple of num_key_value_heads (5)"),
        "{msg}"
    );
    let msg = e(OLD_STYLE
        .replace(r#""num_attention_heads": 32"#, r#""num_attention_heads": 30"#)
        .replace(r#""head_dim": 64, "#, ""));
    assert!(msg.contains("num_key_value_heads") || msg.contains("divisible"), "{msg}");
    let msg = e(OLD_STYLE.replace(r#""vocab_size": 128256,"#, ""));
    assert!(msg.contains("missing key \"vocab_size\""), "{msg}");
    let msg = e(OLD_STYLE.replace(r#""rope_type": "llama3""#, r#""rope_type": "yarn""#));
    assert!(msg.contains("unsupported rope_type \"yarn\""), "{msg}");
    let msg = e(NEW_STYLE.replace(r#""rope_type": "default""#, r#""rope_type": "dynamic""#));
    assert!(msg.contains("\"dynamic\""), "{msg}");
    let msg = e(OLD_STYLE
        .replace(r#""model_type": "llama""#, r#""model_type": "gpt2""#)
        .replace("LlamaForCausalLM", "GPT2LMHeadModel"));
    assert!(msg.contains("not a Llama model"), "{msg}");
    let msg = e(OLD_STYLE.replace(r#""hidden_size": 2048"#, r#""hidden_size": "big""#));
    assert!(msg.contains("hidden_size"), "{msg}");
    assert!(e("{ not json".to_string()).contains("not valid JSON"));
    let missing = LlamaConfig::from_file("/nonexistent/config.json").unwrap_err().to_string();
    assert!(missing.contains("/nonexistent/config.json"));
}
